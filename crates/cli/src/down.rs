//! `corral down [--config PATH] [--purge]`: stops the local cluster recorded in
//! `<data_dir>/cluster.json` (like `vagrant halt`; `--purge` also deletes the
//! machines' data, like `vagrant destroy`).
//!
//! Invariants:
//! - Only pids listed in cluster.json are signalled, and only while
//!   `/proc/PID/cmdline` still shows that machine's `corral node` (checked again
//!   right before SIGKILL): a recycled pid is never killed.
//! - Tasks and units the machines ran (their supervisors outlive a node)
//!   are stopped too, after the nodes (`crate::workloads`).
//! - Data directories are kept unless `--purge`; `--purge` deletes only the
//!   machines' own directories and cluster.json, then `data_dir` if empty.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::cluster_file::{ClusterFile, ClusterMachine, ProcessState};
use crate::config::{plan, Config};
use crate::{default_config_path, CliError, CliResult};

/// How long machines get to exit after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// The cluster's config file (it says where the data directory is).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Also delete every machine's data directory (store, identity, logs).
    #[arg(long)]
    pub purge: bool,
}

/// What happened to one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exited after SIGTERM.
    Stopped { name: String, pid: u32 },
    /// Still running after the grace period; SIGKILLed.
    Killed { name: String, pid: u32 },
    /// Was not running when `down` looked.
    NotRunning { name: String, pid: u32 },
    /// The pid now belongs to another program; left alone.
    Recycled { name: String, pid: u32 },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Stopped { name, pid } => write!(f, "stopped {name} (pid {pid})"),
            Outcome::Killed { name, pid } => write!(
                f,
                "killed {name} (pid {pid}): still running {}s after SIGTERM",
                GRACE.as_secs()
            ),
            Outcome::NotRunning { name, pid } => write!(f, "{name} (pid {pid}) was not running"),
            Outcome::Recycled { name, pid } => write!(
                f,
                "{name} (pid {pid}) is gone; that pid now belongs to another program, left alone"
            ),
        }
    }
}

/// `corral down`.
pub fn run(args: DownArgs) -> CliResult {
    let config_path = args.config.clone().unwrap_or_else(default_config_path);
    let config = Config::load(&config_path).map_err(|e| CliError::usage(e.to_string()))?;
    let data_dir = config.data_dir.clone();
    let file = ClusterFile::read(&data_dir).map_err(|e| {
        CliError::Failed(anyhow::anyhow!(
            "{}: {e}",
            crate::cluster_file::path(&data_dir).display()
        ))
    })?;

    let mut stopped_any = false;
    if let Some(file) = &file {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
        let outcomes = rt.block_on(stop_machines(&file.machines, GRACE));
        for o in &outcomes {
            println!("{o}");
        }
        // Tasks and units outlive their node by design; the cluster is
        // going away, so they go too (after the nodes, which would restart
        // a unit that stopped under them).
        let workloads: Vec<crate::workloads::Workload> = file
            .machines
            .iter()
            .flat_map(|m| crate::workloads::find(&m.data_dir))
            .collect();
        if !workloads.is_empty() {
            let (ended, killed) =
                rt.block_on(crate::workloads::stop(&workloads, crate::workloads::GRACE));
            let units = workloads.iter().filter(|w| w.kind == "unit").count();
            let tasks = workloads.len() - units;
            let plural =
                |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            println!(
                "stopped {} and {}{}",
                plural(tasks, "task"),
                plural(units, "unit"),
                if killed > 0 {
                    format!(
                        " ({killed} killed after {} s, {ended} ended by themselves)",
                        crate::workloads::GRACE.as_secs()
                    )
                } else {
                    String::new()
                }
            );
        }
        stopped_any = outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Stopped { .. } | Outcome::Killed { .. }));
        ClusterFile::remove(&data_dir).map_err(|e| {
            CliError::Failed(anyhow::anyhow!(
                "cannot remove {}: {e}",
                crate::cluster_file::path(&data_dir).display()
            ))
        })?;
    }

    let mut purged = false;
    if args.purge {
        let dirs: Vec<PathBuf> = match &file {
            Some(f) => f.machines.iter().map(|m| m.data_dir.clone()).collect(),
            None => plan(&config, false)
                .into_iter()
                .map(|m| m.data_dir)
                .collect(),
        };
        for dir in purge(&data_dir, &dirs).map_err(CliError::Failed)? {
            println!("deleted {}", dir.display());
            purged = true;
        }
    }

    if !stopped_any && !purged {
        let why = if file.is_some() {
            " (removed a stale cluster.json)"
        } else {
            ""
        };
        return Err(CliError::Failed(anyhow::anyhow!(
            "no cluster is running from {}{why}",
            data_dir.display()
        )));
    }
    if stopped_any && !args.purge {
        println!(
            "data kept in {} (`corral down --purge` deletes it)",
            data_dir.display()
        );
    }
    Ok(())
}

/// SIGTERMs every machine still running, waits up to `grace` for them to
/// exit, SIGKILLs the rest. Never signals a pid that is not that machine's
/// `corral node` any more.
pub async fn stop_machines(machines: &[ClusterMachine], grace: Duration) -> Vec<Outcome> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::new();
    let mut waiting = Vec::new();
    for (i, m) in machines.iter().enumerate() {
        let (name, pid) = (m.name.clone(), m.pid);
        outcomes.push(match m.process() {
            ProcessState::Running => {
                send(m.pid, libc::SIGTERM);
                waiting.push(i);
                None
            }
            ProcessState::Exited => Some(Outcome::NotRunning { name, pid }),
            ProcessState::Recycled => Some(Outcome::Recycled { name, pid }),
        });
    }
    let deadline = Instant::now() + grace;
    while !waiting.is_empty() {
        waiting.retain(|&i| {
            if machines[i].is_running() {
                return true;
            }
            outcomes[i] = Some(Outcome::Stopped {
                name: machines[i].name.clone(),
                pid: machines[i].pid,
            });
            false
        });
        if waiting.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in waiting {
        let m = &machines[i];
        // Checked again: between the last look and now the pid may have gone.
        let outcome = if m.is_running() {
            send(m.pid, libc::SIGKILL);
            Outcome::Killed {
                name: m.name.clone(),
                pid: m.pid,
            }
        } else {
            Outcome::Stopped {
                name: m.name.clone(),
                pid: m.pid,
            }
        };
        outcomes[i] = Some(outcome);
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every machine has an outcome"))
        .collect()
}

fn send(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions; the caller has
        // just checked that `pid` is still the node `up` started.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Deletes the machine directories in `dirs` that exist and lie inside
/// `data_dir`, and `data_dir` itself when nothing else is left in it.
/// Returns what was deleted.
fn purge(data_dir: &Path, dirs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut deleted = Vec::new();
    for dir in dirs {
        if dir.starts_with(data_dir) && dir != data_dir && dir.is_dir() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot delete {}: {e}", dir.display()))?;
            deleted.push(dir.clone());
        }
    }
    if data_dir.is_dir() && std::fs::remove_dir(data_dir).is_ok() {
        deleted.push(data_dir.to_path_buf());
    }
    Ok(deleted)
}
