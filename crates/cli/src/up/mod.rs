//! `corral up [-d] [--config PATH] [--timeout SECS]`: the flow that starts the
//! local cluster described by corral.toml — one `corral node` process per
//! machine, each in its own session with its own data directory and log —
//! shows progress while it forms, prints where everything is, and then either
//! waits for Ctrl-C (foreground) or leaves it running (`-d`). This file owns
//! the arguments, the errors and the order of the steps; it never spawns,
//! signals or polls a process itself (that is `spawn.rs` and `cluster.rs`)
//! and never words what the user reads beyond one-line notices (that is
//! `progress.rs`).
//!
//! Programmatic use (benchmarks, tests): [`start`] returns a [`Cluster`] once it
//! is ready, with the bring-up time in [`Cluster::ready_in`];
//! [`measure_bring_up`] starts, times and stops one.
//!
//! Invariants:
//! - `up` never starts a second cluster over a running one from the same
//!   data_dir, and never signals a process it did not start itself.
//! - Every wait has a deadline; every failure says which machine and where its
//!   log is. On failure, the processes already started are stopped again.
//! - Decisions (the plan) come from [`crate::config::plan`]; this module only
//!   carries them out.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::cluster_file::{ClusterFile, ClusterMachine};
use crate::config::Config;
use crate::{default_config_path, CliError, CliResult};

mod cluster;
mod progress;
mod spawn;

pub use cluster::{Cluster, StopReason, STOP_GRACE};
pub use progress::{log_tail, program_name, registered_agents, summary, Progress};
pub use spawn::choose_addressing;

use cluster::Signals;

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Return once the cluster is ready and leave it running (stop it with `corral down`).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// The cluster's config file (a missing file means all defaults).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Seconds to wait for a leader and every agent before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

/// Why `up` failed.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// A cluster from the same data_dir is still running (exit 2).
    #[error(
        "a cluster from {} is still running ({running}); stop it with `corral down` first",
        data_dir.display()
    )]
    AlreadyRunning { data_dir: PathBuf, running: String },
    /// The plan cannot work (ports collide in fallback addressing) (exit 2).
    #[error("{0}")]
    BadPlan(String),
    /// Something else listens on an address a machine needs.
    #[error("{addr} is already in use (it would be {machine}'s {what} port); stop whatever listens there or change [ports] in corral.toml")]
    PortInUse {
        addr: String,
        machine: String,
        what: &'static str,
    },
    /// An address cannot be bound for another reason.
    #[error("cannot listen on {addr} ({machine}'s {what} port): {reason}")]
    CannotBind {
        addr: String,
        machine: String,
        what: &'static str,
        reason: String,
    },
    /// Preparing the data directory, a log or cluster.json failed.
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    /// The node process could not be started.
    #[error("cannot start {machine} ({exe}): {reason}")]
    Spawn {
        machine: String,
        exe: String,
        reason: String,
    },
    /// A node process exited before the cluster was ready; `tail` holds the
    /// last lines of its log.
    #[error("{machine} exited during start-up ({status}); see {}", log.display())]
    NodeExited {
        machine: String,
        status: String,
        log: PathBuf,
        tail: Vec<String>,
    },
    /// The cluster did not form in time.
    #[error("the cluster did not form within {secs}s: {missing}; logs: {logs}")]
    Timeout {
        secs: u64,
        missing: String,
        logs: String,
    },
    /// The Ctrl-C/SIGTERM handlers could not be installed.
    #[error("cannot handle Ctrl-C/SIGTERM: {0}")]
    Signals(String),
    /// Ctrl-C or SIGTERM arrived before the cluster was ready.
    #[error("interrupted before the cluster was ready; stopped the machines again")]
    Interrupted,
}

impl From<UpError> for CliError {
    fn from(e: UpError) -> Self {
        match e {
            UpError::AlreadyRunning { .. } | UpError::BadPlan(_) => CliError::Usage(e.to_string()),
            other => CliError::Failed(other.into()),
        }
    }
}

/// How to start a cluster programmatically.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub config: Config,
    /// The `corral` binary to run as `<exe> node ...`.
    pub exe: PathBuf,
    /// Deadline for a leader and every agent.
    pub timeout: Duration,
    /// Stop and fail on Ctrl-C/SIGTERM while forming (the CLI does; library
    /// callers usually leave signals alone).
    pub handle_signals: bool,
    /// Record this process in cluster.json as the foreground `up`.
    pub foreground: bool,
}

impl UpOptions {
    /// Options for `config`, running the current executable.
    pub fn new(config: Config) -> std::io::Result<UpOptions> {
        Ok(UpOptions {
            config,
            exe: std::env::current_exe()?,
            timeout: Duration::from_secs(60),
            handle_signals: false,
            foreground: false,
        })
    }
}

/// `corral up`.
pub fn run(args: UpArgs) -> CliResult {
    let config_path = args.config.clone().unwrap_or_else(default_config_path);
    let config = Config::load(&config_path).map_err(|e| CliError::usage(e.to_string()))?;
    for w in config.warnings() {
        eprintln!("corral: {w}");
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot find the corral binary: {e}")))?;
    let opts = UpOptions {
        config,
        exe,
        timeout: Duration::from_secs(args.timeout),
        handle_signals: true,
        foreground: !args.detach,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    rt.block_on(run_async(opts, args.detach))
}

async fn run_async(opts: UpOptions, detach: bool) -> CliResult {
    let t0 = Instant::now();
    let mut show = |p: &Progress| match p {
        Progress::Fallback { .. } | Progress::StaleClusterFile { .. } => eprintln!("corral: {p}"),
        _ => eprintln!("[{:.1}s] {p}", t0.elapsed().as_secs_f64()),
    };
    let mut cluster = match start(&opts, &mut show).await {
        Ok(c) => c,
        Err(e) => {
            if let UpError::NodeExited { machine, tail, .. } = &e {
                eprintln!("--- last lines of {machine}'s log:");
                for line in tail {
                    eprintln!("    {line}");
                }
            }
            return Err(e.into());
        }
    };
    print!(
        "{}",
        summary(
            &cluster.plan,
            &cluster.view,
            cluster.ready_in,
            &cluster.data_dir,
            &program_name(&opts.exe),
        )
    );
    if detach {
        cluster.detach();
        println!("running in the background; stop it with `corral down`");
        return Ok(());
    }
    println!("running in the foreground; Ctrl-C stops every machine");
    let why = cluster.wait_for_stop().await;
    match why {
        StopReason::Signal(name) => {
            eprintln!("corral: {name}: stopping {} machines", cluster.plan.len())
        }
        StopReason::StoppedElsewhere => {
            eprintln!("corral: the cluster was stopped (corral down)");
        }
        StopReason::AllExited => {}
    }
    let machine_dirs: Vec<std::path::PathBuf> =
        cluster.plan.iter().map(|m| m.data_dir.clone()).collect();
    let stopped = cluster.stop().await;
    if why != StopReason::StoppedElsewhere {
        for s in &stopped {
            eprintln!("corral: {s}");
        }
        // As `corral down` does: the machines' tasks and units go too.
        let workloads: Vec<crate::workloads::Workload> = machine_dirs
            .iter()
            .flat_map(|d| crate::workloads::find(d))
            .collect();
        if !workloads.is_empty() {
            let (_, killed) = crate::workloads::stop(&workloads, crate::workloads::GRACE).await;
            eprintln!(
                "corral: stopped {} tasks and units{}",
                workloads.len(),
                if killed > 0 {
                    format!(" ({killed} killed)")
                } else {
                    String::new()
                }
            );
        }
    }
    match why {
        StopReason::AllExited => Err(CliError::Failed(anyhow::anyhow!(
            "every machine has exited; see the logs in {}",
            opts.config.data_dir.join("mN/node.log").display()
        ))),
        _ => Ok(()),
    }
}

/// Starts the cluster `opts` describes and returns once a leader is known and
/// every machine's agent is registered and active (or fails, after stopping
/// whatever it started). `progress` hears about each step.
pub async fn start(
    opts: &UpOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Cluster, UpError> {
    let config = &opts.config;
    let data_dir = config.data_dir.clone();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| UpError::Io {
            path,
            reason: e.to_string(),
        }
    };
    std::fs::create_dir_all(&data_dir).map_err(io(&data_dir))?;

    // 1. Refuse to start over a running cluster; clear a stale record
    //    (one whose processes are all gone, or one that is not readable JSON).
    let record = crate::cluster_file::path(&data_dir);
    let stale = match ClusterFile::read(&data_dir) {
        Ok(None) => false,
        Ok(Some(file)) => {
            let running = file.running();
            if !running.is_empty() {
                let running = running
                    .iter()
                    .map(|m| format!("{} pid {}", m.name, m.pid))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(UpError::AlreadyRunning { data_dir, running });
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => true,
        Err(e) => return Err(io(&record)(e)),
    };
    if stale {
        ClusterFile::remove(&data_dir).map_err(io(&record))?;
        progress(&Progress::StaleClusterFile {
            path: record.clone(),
        });
    }

    // 2. Addressing: the configured IPs, or 127.0.0.1 with port offsets.
    let (machines, fallback) = choose_addressing(config)?;
    if let Some(reason) = &fallback {
        progress(&Progress::Fallback {
            reason: reason.clone(),
        });
    }

    // 3. Spawn.
    let signals = if opts.handle_signals {
        Some(Signals::new()?)
    } else {
        None
    };
    let t0 = Instant::now();
    let started_at_ms = now_ms();
    let mut cluster = Cluster::new(
        machines,
        fallback.is_some(),
        data_dir.clone(),
        started_at_ms,
        signals,
    );
    cluster.spawn_nodes(&opts.exe)?;
    let pids = cluster.pids();
    let file = ClusterFile {
        data_dir: data_dir.clone(),
        started_at_ms,
        fallback: cluster.fallback,
        up_pid: opts.foreground.then(std::process::id),
        machines: cluster
            .plan
            .iter()
            .zip(&pids)
            .map(|(m, &pid)| ClusterMachine::new(m, pid))
            .collect(),
    };
    file.write().map_err(io(&record))?;
    progress(&Progress::Started {
        processes: pids.len(),
    });

    // 4. Wait until it has formed.
    match cluster.wait_ready(opts.timeout, progress).await {
        Ok(view) => {
            cluster.view = view;
            cluster.ready_in = t0.elapsed();
            Ok(cluster)
        }
        Err(e) => {
            cluster.stop().await;
            Err(e)
        }
    }
}

/// Starts the cluster, returns how long it took to be ready (leader elected
/// and every agent registered), and stops it again.
pub async fn measure_bring_up(opts: &UpOptions) -> Result<Duration, UpError> {
    let cluster = start(opts, &mut |_| {}).await?;
    let took = cluster.ready_in;
    cluster.stop().await;
    Ok(took)
}

/// Wall-clock ms since the epoch (what cluster.json and the logs record).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
