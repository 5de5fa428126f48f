//! `corral up [-d] [--config PATH] [--timeout SECS]`: starts the local cluster
//! described by corral.toml — one `corral node` process per machine, each in
//! its own session with its own data directory and log — shows progress while
//! it forms, prints where everything is, and then either waits for Ctrl-C
//! (foreground) or leaves it running (`-d`).
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
//! - Decisions (the plan) come from [`crate::config::plan`]; this file only
//!   carries them out.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corral_api::native::ClusterView;
use corral_api::Client;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;

use crate::cluster_file::{ClusterFile, ClusterMachine};
use crate::config::{check_plan, plan, Config, MachinePlan};
use crate::{default_config_path, CliError, CliResult};

/// How often `up` asks the servers how far the cluster got.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// After this long with no news, `up` says what it is still waiting for.
const QUIET_FOR: Duration = Duration::from_secs(5);
/// How long a node gets to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Log lines shown when a node dies.
const TAIL_LINES: usize = 20;

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

/// What happens while a cluster forms, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The configured addresses cannot be bound; every machine uses 127.0.0.1
    /// with port offsets instead.
    Fallback { reason: String },
    /// A cluster.json whose processes are all gone was removed.
    StaleClusterFile { path: PathBuf },
    /// All node processes are running.
    Started { processes: usize },
    /// A (new) leader is known.
    Leader {
        machine: String,
        addr: String,
        term: u64,
    },
    /// The number of registered, active agents changed.
    Agents { registered: usize, total: usize },
    /// Nothing changed for a while; this is what is missing.
    Waiting { missing: String },
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Fallback { reason } => {
                write!(f, "{reason}; using 127.0.0.1 with port offsets")
            }
            Progress::StaleClusterFile { path } => {
                write!(
                    f,
                    "removed stale {} (its processes are gone)",
                    path.display()
                )
            }
            Progress::Started { processes } => {
                write!(f, "{processes}/{processes} processes started")
            }
            Progress::Leader {
                machine,
                addr,
                term,
            } => {
                write!(f, "leader elected: {machine} ({addr}), term {term}")
            }
            Progress::Agents { registered, total } => {
                write!(f, "agents registered: {registered}/{total}")
            }
            Progress::Waiting { missing } => write!(f, "still waiting: {missing}"),
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
            &cluster.data_dir
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
    let stopped = cluster.stop().await;
    if why != StopReason::StoppedElsewhere {
        for s in &stopped {
            eprintln!("corral: {s}");
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
    let mut cluster = Cluster {
        plan: machines,
        fallback: fallback.is_some(),
        data_dir: data_dir.clone(),
        started_at_ms,
        ready_in: Duration::ZERO,
        view: empty_view(),
        children: Vec::new(),
        signals,
        detached: false,
    };
    for m in &cluster.plan {
        let (child, log_from) = spawn(&opts.exe, m)?;
        cluster.children.push(Node {
            name: m.name.clone(),
            child,
            log: m.log_path(),
            log_from,
            exited: None,
        });
    }
    let file = ClusterFile {
        data_dir: data_dir.clone(),
        started_at_ms,
        fallback: cluster.fallback,
        up_pid: opts.foreground.then(std::process::id),
        machines: cluster
            .plan
            .iter()
            .zip(&cluster.children)
            .map(|(m, n)| ClusterMachine::new(m, n.child.id()))
            .collect(),
    };
    file.write().map_err(io(&record))?;
    progress(&Progress::Started {
        processes: cluster.children.len(),
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

/// Picks normal or fallback addressing and checks every port is free.
/// Returns the plan and, in fallback, why.
pub fn choose_addressing(config: &Config) -> Result<(Vec<MachinePlan>, Option<String>), UpError> {
    let normal = plan(config, false);
    let mut fallback = None;
    let mut tried = BTreeSet::new();
    for m in &normal {
        if !tried.insert(m.ip) {
            continue;
        }
        let (what, ip, port) = m.listens()[0];
        match TcpListener::bind((ip, port)) {
            Ok(l) => drop(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(UpError::PortInUse {
                    addr: format!("{ip}:{port}"),
                    machine: m.name.clone(),
                    what,
                })
            }
            Err(e) => {
                fallback = Some(format!("{ip} cannot be bound ({e})"));
                break;
            }
        }
    }
    let chosen = if fallback.is_some() {
        plan(config, true)
    } else {
        normal
    };
    check_plan(&chosen).map_err(UpError::BadPlan)?;
    for m in &chosen {
        for (what, ip, port) in m.listens() {
            probe(ip, port).map_err(|e| {
                let addr = format!("{ip}:{port}");
                let machine = m.name.clone();
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    UpError::PortInUse {
                        addr,
                        machine,
                        what,
                    }
                } else {
                    UpError::CannotBind {
                        addr,
                        machine,
                        what,
                        reason: e.to_string(),
                    }
                }
            })?;
        }
    }
    Ok((chosen, fallback))
}

fn probe(ip: Ipv4Addr, port: u16) -> std::io::Result<()> {
    TcpListener::bind((ip, port)).map(drop)
}

/// Starts `<exe> node ...` for `m` in a session of its own, output appended
/// to its log. Returns the child and the log's length before this run.
fn spawn(exe: &Path, m: &MachinePlan) -> Result<(Child, u64), UpError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| UpError::Io {
            path,
            reason: e.to_string(),
        }
    };
    std::fs::create_dir_all(&m.data_dir).map_err(io(&m.data_dir))?;
    let log_path = m.log_path();
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(&log_path))?;
    let log_from = log.metadata().map_err(io(&log_path))?.len();
    writeln!(
        log,
        "--- corral up, {} ms since the epoch: {} {}",
        now_ms(),
        exe.display(),
        m.command_line()
    )
    .map_err(io(&log_path))?;
    let log_err = log.try_clone().map_err(io(&log_path))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(&m.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe and touches no memory of this process;
    // it is all the child does between fork and exec. A session of its own
    // keeps terminal signals (Ctrl-C, hangup) away from the node: `up` stops
    // its machines itself, and `up -d` leaves them running.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| UpError::Spawn {
        machine: m.name.clone(),
        exe: exe.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok((child, log_from))
}

/// A running local cluster started by [`start`]. Dropping it without
/// [`Cluster::stop`] or [`Cluster::detach`] kills its processes (SIGKILL).
#[derive(Debug)]
pub struct Cluster {
    pub plan: Vec<MachinePlan>,
    /// True when the machines share 127.0.0.1 with port offsets.
    pub fallback: bool,
    pub data_dir: PathBuf,
    /// When the processes were started, ms since the epoch.
    pub started_at_ms: u64,
    /// From the first spawn to ready (leader known, every agent active).
    pub ready_in: Duration,
    /// The cluster as the servers described it when it became ready.
    pub view: ClusterView,
    children: Vec<Node>,
    /// Ctrl-C/SIGTERM, when the caller asked `up` to handle them.
    signals: Option<Signals>,
    detached: bool,
}

#[derive(Debug)]
struct Node {
    name: String,
    child: Child,
    log: PathBuf,
    /// Where this run's part of the log starts.
    log_from: u64,
    /// Set once the process has been reaped.
    exited: Option<std::process::ExitStatus>,
}

/// A node process that has exited.
struct Exited {
    name: String,
    status: String,
    log: PathBuf,
    log_from: u64,
}

/// Why the foreground `up` stops waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C (`SIGINT`) or `SIGTERM`.
    Signal(&'static str),
    /// Every node exited and cluster.json is gone: `corral down` did it.
    StoppedElsewhere,
    /// Every node exited on its own.
    AllExited,
}

impl Cluster {
    /// Server master API endpoints (`ip:port`).
    pub fn endpoints(&self) -> Vec<String> {
        self.plan
            .iter()
            .filter(|m| m.is_server())
            .map(|m| m.master_addr())
            .collect()
    }

    /// Pids of the node processes, in machine order.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|n| n.child.id()).collect()
    }

    /// Leaves the processes running (`up -d`); `corral down` stops them.
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// Polls the servers until ready; fails early when a node exits, on a
    /// signal, or at the deadline.
    async fn wait_ready(
        &mut self,
        timeout: Duration,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<ClusterView, UpError> {
        let client = Client::with_timeout(self.endpoints(), Duration::from_secs(1));
        let deadline = Instant::now() + timeout;
        let mut last_leader: Option<(u64, u64)> = None;
        let mut last_agents = 0usize;
        let mut last_news = Instant::now();
        let mut last_error = String::from("no answer yet");
        let mut last_view: Option<ClusterView> = None;
        let total = self.plan.len();
        loop {
            if let Some(gone) = self.reap().into_iter().next() {
                return Err(UpError::NodeExited {
                    machine: gone.name,
                    status: gone.status,
                    tail: log_tail(&gone.log, gone.log_from, TAIL_LINES),
                    log: gone.log,
                });
            }
            match tokio::time::timeout(Duration::from_secs(2), client.cluster()).await {
                Ok(Ok(view)) => {
                    if let Some(l) = &view.leader {
                        if last_leader != Some((l.id, view.term)) {
                            last_leader = Some((l.id, view.term));
                            last_news = Instant::now();
                            let machine = self
                                .plan
                                .iter()
                                .find(|m| m.server_id == Some(l.id))
                                .map_or_else(|| format!("server {}", l.id), |m| m.name.clone());
                            progress(&Progress::Leader {
                                machine,
                                addr: l.api_addr.clone(),
                                term: view.term,
                            });
                        }
                    }
                    let registered = registered_agents(&self.plan, &view, self.started_at_ms);
                    if registered != last_agents {
                        last_agents = registered;
                        last_news = Instant::now();
                        progress(&Progress::Agents { registered, total });
                    }
                    if view.leader.is_some() && registered == total {
                        return Ok(view);
                    }
                    last_view = Some(view);
                }
                Ok(Err(corral_api::ClientError::Unreachable { last, .. })) => last_error = last,
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = "the servers did not answer within 2s".to_string(),
            }
            let now = Instant::now();
            if now >= deadline || now.duration_since(last_news) >= QUIET_FOR {
                let what = missing(
                    &self.plan,
                    last_view.as_ref(),
                    self.started_at_ms,
                    &last_error,
                );
                if now >= deadline {
                    return Err(UpError::Timeout {
                        secs: timeout.as_secs(),
                        missing: what,
                        logs: self
                            .data_dir
                            .join("mN")
                            .join("node.log")
                            .display()
                            .to_string(),
                    });
                }
                last_news = now;
                progress(&Progress::Waiting { missing: what });
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY.min(deadline - now)) => {}
                _ = Signals::recv(&mut self.signals) => return Err(UpError::Interrupted),
            }
        }
    }

    /// Waits (foreground `up`) for Ctrl-C or SIGTERM, reporting machines that
    /// exit on their own meanwhile.
    pub async fn wait_for_stop(&mut self) -> StopReason {
        if self.signals.is_none() {
            self.signals = Signals::new().ok();
        }
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                name = Signals::recv(&mut self.signals) => return StopReason::Signal(name),
                _ = tick.tick() => {}
            }
            for gone in self.reap() {
                if !crate::cluster_file::path(&self.data_dir).exists() {
                    continue;
                }
                eprintln!(
                    "corral: {} exited ({}); last lines of {}:",
                    gone.name,
                    gone.status,
                    gone.log.display()
                );
                for line in log_tail(&gone.log, gone.log_from, TAIL_LINES) {
                    eprintln!("    {line}");
                }
            }
            if self.children.iter().all(|n| n.exited.is_some()) {
                return if crate::cluster_file::path(&self.data_dir).exists() {
                    StopReason::AllExited
                } else {
                    StopReason::StoppedElsewhere
                };
            }
        }
    }

    /// Reaps exited children; returns those newly gone.
    fn reap(&mut self) -> Vec<Exited> {
        let mut gone = Vec::new();
        for n in self.children.iter_mut().filter(|n| n.exited.is_none()) {
            if let Ok(Some(status)) = n.child.try_wait() {
                n.exited = Some(status);
                gone.push(Exited {
                    name: n.name.clone(),
                    status: status.to_string(),
                    log: n.log.clone(),
                    log_from: n.log_from,
                });
            }
        }
        gone
    }

    /// Stops every machine: SIGTERM, up to [`STOP_GRACE`] to exit, then
    /// SIGKILL; removes cluster.json. Returns one line per machine.
    pub async fn stop(mut self) -> Vec<String> {
        self.detached = true; // Drop has nothing left to do.
        let mut lines = Vec::new();
        self.reap();
        for n in self.children.iter().filter(|n| n.exited.is_none()) {
            signal_child(&n.child, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && self.children.iter().any(|n| n.exited.is_none()) {
            tokio::time::sleep(Duration::from_millis(25)).await;
            self.reap();
        }
        for n in self.children.iter_mut() {
            let pid = n.child.id();
            match n.exited {
                Some(status) => lines.push(format!("stopped {} (pid {pid}, {status})", n.name)),
                None => {
                    let _ = n.child.kill();
                    let _ = n.child.wait();
                    lines.push(format!(
                        "killed {} (pid {pid}): still running {}s after SIGTERM",
                        n.name,
                        STOP_GRACE.as_secs()
                    ));
                }
            }
        }
        let _ = ClusterFile::remove(&self.data_dir);
        lines
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        for n in self.children.iter_mut().filter(|n| n.exited.is_none()) {
            let _ = n.child.kill();
            let _ = n.child.wait();
        }
        let _ = ClusterFile::remove(&self.data_dir);
    }
}

fn signal_child(child: &Child, sig: libc::c_int) {
    // The child is not reaped yet, so its pid cannot have been reused.
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Ctrl-C and SIGTERM as one stream.
#[derive(Debug)]
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn new() -> Result<Signals, UpError> {
        let err = |e: std::io::Error| UpError::Signals(e.to_string());
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(err)?,
            term: signal(SignalKind::terminate()).map_err(err)?,
        })
    }

    /// The next signal's name; never resolves when `signals` is `None`.
    async fn recv(signals: &mut Option<Signals>) -> &'static str {
        match signals {
            Some(s) => tokio::select! {
                _ = s.int.recv() => "interrupted",
                _ = s.term.recv() => "terminated",
            },
            None => std::future::pending().await,
        }
    }
}

/// How many planned machines have an agent that registered (or re-registered)
/// since this start and is active. Pure.
pub fn registered_agents(plan: &[MachinePlan], view: &ClusterView, since_ms: u64) -> usize {
    plan.iter()
        .filter(|m| {
            crate::status::machine_view(view, &m.name, &m.ip.to_string(), m.ports.agent)
                .is_some_and(|v| {
                    v.status == "active" && v.registered_at_ms.max(v.reregistered_at_ms) >= since_ms
                })
        })
        .count()
}

/// What keeps the cluster from being ready, as one phrase. Pure.
fn missing(
    plan: &[MachinePlan],
    view: Option<&ClusterView>,
    since_ms: u64,
    last_error: &str,
) -> String {
    let Some(view) = view else {
        return format!("no server answered yet ({last_error})");
    };
    let mut parts = Vec::new();
    if view.leader.is_none() {
        parts.push(format!("no leader elected yet (term {})", view.term));
    }
    let waiting: Vec<&str> = plan
        .iter()
        .filter(|m| {
            !crate::status::machine_view(view, &m.name, &m.ip.to_string(), m.ports.agent)
                .is_some_and(|v| {
                    v.status == "active" && v.registered_at_ms.max(v.reregistered_at_ms) >= since_ms
                })
        })
        .map(|m| m.name.as_str())
        .collect();
    if !waiting.is_empty() {
        parts.push(format!(
            "agents registered {}/{} (waiting for {})",
            plan.len() - waiting.len(),
            plan.len(),
            waiting.join(", ")
        ));
    }
    parts.join("; ")
}

/// The summary `up` prints once the cluster is ready. Pure.
pub fn summary(
    plan: &[MachinePlan],
    view: &ClusterView,
    ready_in: Duration,
    data_dir: &Path,
) -> String {
    let leader_id = view.leader.as_ref().map(|l| l.id);
    let leader_name = plan
        .iter()
        .find(|m| m.server_id.is_some() && m.server_id == leader_id)
        .map_or("?", |m| m.name.as_str());
    let servers = plan.iter().filter(|m| m.is_server()).count();
    let mut out = format!(
        "corral cluster ready in {:.1}s: {} machines, {} servers, leader {} (term {})\n\n",
        ready_in.as_secs_f64(),
        plan.len(),
        servers,
        leader_name,
        view.term
    );
    let ip_width = plan
        .iter()
        .map(|m| m.ip.to_string().len())
        .max()
        .unwrap_or(0);
    let name_width = plan.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in plan {
        let role = match m.server_id {
            Some(id) if Some(id) == leader_id => "server (leader)",
            Some(_) => "server",
            None => "worker",
        };
        let addrs = if m.is_server() {
            format!(
                "master http://{}:{}  apps http://{}:{}",
                m.ip, m.ports.master, m.ip, m.ports.apps
            )
        } else {
            format!("agent  http://{}:{}", m.ip, m.ports.agent)
        };
        out.push_str(&format!(
            "  {:name_width$}  {:ip_width$}  {role:15}  {addrs}\n",
            m.name,
            m.ip.to_string()
        ));
    }
    let endpoints = plan
        .iter()
        .filter(|m| m.is_server())
        .map(|m| m.master_addr())
        .collect::<Vec<_>>()
        .join(",");
    out.push_str(&format!(
        "\nlogs:  {}\ntry:   corral machines\n       corral kv set /hello world\n       \
         corral status\n       corral down\n       (from another directory: \
         CORRAL_ENDPOINT={endpoints})\n",
        data_dir.join("mN").join("node.log").display()
    ));
    out
}

/// The last `n` lines of a log file written from byte `from` on (reads at
/// most its last 64 KiB).
pub fn log_tail(path: &Path, from: u64, n: usize) -> Vec<String> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return vec![format!("(no log at {})", path.display())];
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024).max(from)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn empty_view() -> ClusterView {
    ClusterView {
        answered_by: 0,
        leader: None,
        term: 0,
        revision: 0,
        servers: Vec::new(),
        machines: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use corral_api::native::{MachineView, ResourcesView, ServerView};

    use super::*;

    fn machine(name: &str, ip: &str, status: &str, registered_at_ms: u64) -> MachineView {
        MachineView {
            id: format!("{name:0>32}"),
            hostname: name.to_string(),
            ip: ip.to_string(),
            agent_port: 5051,
            metadata: BTreeMap::new(),
            server_id: None,
            leader: false,
            status: status.to_string(),
            resources: ResourcesView {
                cpus: 1.0,
                mem_mb: 1,
                disk_mb: 1,
                ports: String::new(),
            },
            registered_at_ms,
            reregistered_at_ms: registered_at_ms,
            unreachable_since_ms: None,
            unreachable_reason: None,
            version: "0.1.0".to_string(),
        }
    }

    fn view(leader: Option<u64>, machines: Vec<MachineView>) -> ClusterView {
        ClusterView {
            answered_by: 1,
            leader: leader.map(|id| ServerView {
                id,
                api_addr: format!("127.0.0.10{id}:5050"),
                raft_addr: format!("127.0.0.10{id}:2380"),
                voter: true,
                leader: true,
            }),
            term: 4,
            revision: 9,
            servers: Vec::new(),
            machines,
        }
    }

    fn four_machines() -> Vec<MachinePlan> {
        plan(&Config::parse("machines = 4").unwrap(), false)
    }

    #[test]
    fn agents_count_only_when_active_and_registered_in_this_run() {
        let plan = four_machines();
        let v = view(
            Some(2),
            vec![
                machine("m1", "127.0.0.101", "active", 1_000),
                machine("m2", "127.0.0.102", "unreachable", 1_000),
                // Registered before this start (a store from an earlier run).
                machine("m3", "127.0.0.103", "active", 999),
                // Matched by address even under another hostname.
                machine("host-4", "127.0.0.104", "active", 1_500),
            ],
        );
        assert_eq!(registered_agents(&plan, &v, 1_000), 2);
        assert_eq!(
            missing(&plan, Some(&v), 1_000, "-"),
            "agents registered 2/4 (waiting for m2, m3)"
        );
        assert_eq!(
            missing(&plan, Some(&view(None, vec![])), 1_000, "-"),
            "no leader elected yet (term 4); agents registered 0/4 (waiting for m1, m2, m3, m4)"
        );
        assert_eq!(
            missing(&plan, None, 1_000, "connection refused"),
            "no server answered yet (connection refused)"
        );
    }

    #[test]
    fn summary_names_the_leader_and_every_address() {
        let plan = plan(&Config::parse("machines = 4").unwrap(), false);
        let text = summary(
            &plan,
            &view(Some(2), vec![]),
            Duration::from_millis(1340),
            Path::new("/d"),
        );
        let expected = "\
corral cluster ready in 1.3s: 4 machines, 3 servers, leader m2 (term 4)

  m1  127.0.0.101  server           master http://127.0.0.101:5050  apps http://127.0.0.101:8080
  m2  127.0.0.102  server (leader)  master http://127.0.0.102:5050  apps http://127.0.0.102:8080
  m3  127.0.0.103  server           master http://127.0.0.103:5050  apps http://127.0.0.103:8080
  m4  127.0.0.104  worker           agent  http://127.0.0.104:5051

logs:  /d/mN/node.log
try:   corral machines
       corral kv set /hello world
       corral status
       corral down
       (from another directory: CORRAL_ENDPOINT=127.0.0.101:5050,127.0.0.102:5050,127.0.0.103:5050)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn progress_lines() {
        let lines: Vec<String> = [
            Progress::Fallback {
                reason: "127.0.0.101 cannot be bound (os error 99)".into(),
            },
            Progress::Started { processes: 3 },
            Progress::Leader {
                machine: "m2".into(),
                addr: "127.0.0.102:5050".into(),
                term: 2,
            },
            Progress::Agents {
                registered: 2,
                total: 3,
            },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            lines,
            [
                "127.0.0.101 cannot be bound (os error 99); using 127.0.0.1 with port offsets",
                "3/3 processes started",
                "leader elected: m2 (127.0.0.102:5050), term 2",
                "agents registered: 2/3",
            ]
        );
    }

    #[test]
    fn log_tail_reads_only_this_run() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        std::fs::write(&log, "old 1\nold 2\n").unwrap();
        let from = std::fs::metadata(&log).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"new 1\nnew 2\nnew 3\n").unwrap();
        assert_eq!(log_tail(&log, from, 2), ["new 2", "new 3"]);
        assert_eq!(log_tail(&log, from, 10), ["new 1", "new 2", "new 3"]);
        assert_eq!(log_tail(&log, 0, 10).len(), 5);
    }
}
