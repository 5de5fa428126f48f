//! What a local cluster's machines run outside their node processes: tasks
//! under `corral supervise SANDBOX` and units under `corral unit-supervise
//! DIR`. They outlive a node by design (an agent restart kills nothing), so
//! `corral down`, which takes the whole cluster away, stops them itself.
//!
//! Invariants: a recorded pid is signalled only while `/proc/PID/cmdline`
//! still shows that supervisor with that directory (a recycled pid is never
//! touched); a task or unit gets SIGTERM and [`GRACE`] to end (a unit's
//! supervisor runs its `ExecStop=` lines) before SIGKILL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// How long tasks and units get to stop after SIGTERM.
pub const GRACE: Duration = Duration::from_secs(10);

/// One supervised workload found in a machine's data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `task` or `unit`.
    pub kind: &'static str,
    pub dir: PathBuf,
    pub supervisor: u32,
    /// Process groups its commands run in (the task; a unit's main and
    /// control processes).
    pub groups: Vec<u32>,
}

fn pid_in(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 1)
}

/// Every task and unit recorded under `machine_dir` whose supervisor is
/// still running.
pub fn find(machine_dir: &Path) -> Vec<Workload> {
    let mut out = Vec::new();
    let agent = machine_dir.join("agent");
    for (kind, sub) in [("task", "sandboxes"), ("unit", "units")] {
        let Ok(entries) = std::fs::read_dir(agent.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let dir = e.path();
            let Some(supervisor) = pid_in(&dir.join("supervisor.pid")) else {
                continue;
            };
            if !owned(supervisor, &dir) {
                continue;
            }
            let groups = if kind == "task" {
                pid_in(&dir.join("task.pid")).into_iter().collect()
            } else {
                let status: serde_json::Value = std::fs::read(dir.join("status.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                ["main_pid", "control_pid"]
                    .iter()
                    .filter_map(|k| status[*k].as_u64())
                    .filter_map(|p| u32::try_from(p).ok())
                    .filter(|p| *p > 1)
                    .collect()
            };
            out.push(Workload {
                kind,
                dir,
                supervisor,
                groups,
            });
        }
    }
    out
}

/// True while `pid` is a `corral supervise`/`unit-supervise` of `dir`.
fn owned(pid: u32, dir: &Path) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let is_supervisor = args
        .iter()
        .any(|a| *a == b"supervise" || *a == b"unit-supervise");
    let dir = dir.as_os_str().as_encoded_bytes();
    is_supervisor && args.contains(&dir)
}

/// Sends `sig` to process `pid`, or to the process group it leads.
fn send(pid: u32, group: bool, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions; callers pass
        // pids recorded by a supervisor they have just seen alive.
        unsafe {
            libc::kill(if group { -pid } else { pid }, sig);
        }
    }
}

/// Stops `all`: SIGTERM (a task's process group; a unit's supervisor, which
/// stops the unit and exits), then after `grace` SIGKILL whatever is left.
/// Returns how many ended by themselves and how many were killed.
pub async fn stop(all: &[Workload], grace: Duration) -> (usize, usize) {
    for w in all {
        if !owned(w.supervisor, &w.dir) {
            continue;
        }
        if w.kind == "task" {
            w.groups.iter().for_each(|g| send(*g, true, libc::SIGTERM));
        } else {
            send(w.supervisor, false, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    loop {
        let left = all.iter().filter(|w| owned(w.supervisor, &w.dir)).count();
        if left == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut killed = 0;
    for w in all {
        if owned(w.supervisor, &w.dir) {
            killed += 1;
            send(w.supervisor, false, libc::SIGKILL);
            w.groups.iter().for_each(|g| send(*g, true, libc::SIGKILL));
        }
    }
    (all.len() - killed, killed)
}
