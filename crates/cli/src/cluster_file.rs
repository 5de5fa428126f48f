//! `<data_dir>/cluster.json`: what `corral up` started (one entry per machine:
//! name, address, ports, server id, pid, log), so that `down`, `status` and the
//! client commands can find the local cluster later.
//!
//! Invariants:
//! - The file is written atomically (temporary file + rename): readers never
//!   see half a file.
//! - A pid from the file counts as ours only while `/proc/PID/cmdline` still
//!   reads `... node ... --data-dir <that machine's dir>`: a recycled pid is
//!   never reported alive and never signalled.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, MachinePlan, Ports};

/// The file's name inside `data_dir`.
pub const FILE_NAME: &str = "cluster.json";

/// Where a cluster from `data_dir` is recorded.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The local cluster as `corral up` started it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterFile {
    /// Absolute data directory of the cluster.
    pub data_dir: PathBuf,
    /// When `up` started the processes, ms since the epoch.
    pub started_at_ms: u64,
    /// True when the machines share 127.0.0.1 with port offsets.
    pub fallback: bool,
    /// Pid of the `corral up` that stays in the foreground; `None` with `-d`.
    #[serde(default)]
    pub up_pid: Option<u32>,
    pub machines: Vec<ClusterMachine>,
}

/// One machine's process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterMachine {
    pub name: String,
    pub ip: String,
    pub ports: Ports,
    pub server_id: Option<u64>,
    pub pid: u32,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl ClusterMachine {
    /// The record for a machine of `plan` running as `pid`.
    pub fn new(plan: &MachinePlan, pid: u32) -> ClusterMachine {
        ClusterMachine {
            name: plan.name.clone(),
            ip: plan.ip.to_string(),
            ports: plan.ports,
            server_id: plan.server_id,
            pid,
            data_dir: plan.data_dir.clone(),
            log: plan.log_path(),
        }
    }

    /// `ip:port` of the master API (meaningful for servers).
    pub fn master_addr(&self) -> String {
        format!("{}:{}", self.ip, self.ports.master)
    }

    /// What [`ClusterMachine::pid`] is now.
    pub fn process(&self) -> ProcessState {
        process_state(self.pid, &self.data_dir)
    }

    /// True while the recorded pid is still this machine's `corral node`.
    pub fn is_running(&self) -> bool {
        self.process() == ProcessState::Running
    }
}

impl ClusterFile {
    /// Reads `<data_dir>/cluster.json`; `Ok(None)` when there is none.
    pub fn read(data_dir: &Path) -> std::io::Result<Option<ClusterFile>> {
        let p = path(data_dir);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a cluster file: {e}", p.display()),
            )
        })
    }

    /// Writes `<data_dir>/cluster.json` atomically (temp file, fsync, rename).
    pub fn write(&self) -> std::io::Result<()> {
        let target = path(&self.data_dir);
        let tmp = self
            .data_dir
            .join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let body = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &target)
    }

    /// Removes `<data_dir>/cluster.json` (no error if it is already gone).
    pub fn remove(data_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path(data_dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Machines whose recorded process is still running.
    pub fn running(&self) -> Vec<&ClusterMachine> {
        self.machines.iter().filter(|m| m.is_running()).collect()
    }

    /// `ip:port` of every server's master API, in machine order.
    pub fn server_endpoints(&self) -> Vec<String> {
        self.machines
            .iter()
            .filter(|m| m.server_id.is_some())
            .map(|m| m.master_addr())
            .collect()
    }
}

/// What a recorded pid is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// Alive and still the `corral node` we started.
    Running,
    /// Gone (or a zombie waiting to be reaped).
    Exited,
    /// Alive, but another program now has the pid: never touch it.
    Recycled,
}

/// Looks at `pid` and decides whether it is still the `corral node` that
/// keeps its data in `data_dir`.
pub fn process_state(pid: u32, data_dir: &Path) -> ProcessState {
    if pid == 0 || pid > i32::MAX as u32 {
        return ProcessState::Exited;
    }
    match command_line(pid) {
        None => ProcessState::Exited,
        Some(args) if looks_like_node(&args, data_dir) => ProcessState::Running,
        Some(_) => ProcessState::Recycled,
    }
}

/// True when `args` (argv of a process) is `<exe> node ... --data-dir DIR ...`.
pub fn looks_like_node(args: &[String], data_dir: &Path) -> bool {
    let dir = data_dir.as_os_str().to_string_lossy();
    let joined = format!("--data-dir={dir}");
    args.get(1).is_some_and(|a| a == "node")
        && (args.windows(2).any(|w| w[0] == "--data-dir" && w[1] == dir) || args.contains(&joined))
}

/// argv of a live (non-zombie) process, `None` if there is no such process.
#[cfg(target_os = "linux")]
fn command_line(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ...`: the state follows the last ')'.
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    if matches!(state, 'Z' | 'X' | 'x') {
        return None;
    }
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// argv of a live process via `ps` where there is no /proc (macOS). Arguments
/// are split on spaces, which is enough for `up`'s own command lines.
#[cfg(not(target_os = "linux"))]
fn command_line(pid: u32) -> Option<Vec<String>> {
    let out = std::process::Command::new("ps")
        .args(["-o", "stat=,command=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    let (stat, cmd) = line.split_once(char::is_whitespace)?;
    if stat.starts_with('Z') {
        return None;
    }
    Some(cmd.split_whitespace().map(str::to_string).collect())
}

/// Servers of the cluster `corral up` started from the config at
/// `config_path` (default `./corral.toml`), if one is running.
pub fn local_endpoints(config_path: &Path) -> Option<Vec<String>> {
    let config = Config::load(config_path).ok()?;
    let file = ClusterFile::read(&config.data_dir).ok()??;
    if file.running().is_empty() {
        return None;
    }
    Some(file.server_endpoints())
}

/// The endpoints a client command should use: `explicit` (`--endpoint` or
/// `CORRAL_ENDPOINT`, comma-separated) if given, else the local cluster
/// started by `corral up` from this directory, else `127.0.0.101:5050`.
pub fn resolve_endpoints(explicit: Option<&str>) -> Vec<String> {
    if let Some(list) = explicit {
        let list: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if !list.is_empty() {
            return list;
        }
    }
    local_endpoints(&crate::default_config_path())
        .unwrap_or_else(|| vec!["127.0.0.101:5050".to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plan;

    #[test]
    fn node_command_lines_are_recognised() {
        let args = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        let dir = Path::new("/d/m1");
        assert!(looks_like_node(
            &args("/bin/corral node --name m1 --data-dir /d/m1"),
            dir
        ));
        assert!(looks_like_node(&args("corral node --data-dir=/d/m1"), dir));
        assert!(!looks_like_node(&args("corral node --data-dir /d/m2"), dir));
        assert!(!looks_like_node(&args("corral up --data-dir /d/m1"), dir));
        assert!(!looks_like_node(&args("sleep 100"), dir));
    }

    #[test]
    fn pids_that_are_not_our_node_are_never_running() {
        // This test process is alive but is not a `corral node`.
        let me = std::process::id();
        assert_eq!(
            process_state(me, Path::new("/d/m1")),
            ProcessState::Recycled
        );
        assert_eq!(process_state(0, Path::new("/d/m1")), ProcessState::Exited);
        assert_eq!(
            process_state(u32::MAX, Path::new("/d/m1")),
            ProcessState::Exited
        );
    }

    #[test]
    fn write_read_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let file = ClusterFile {
            data_dir: dir.path().to_path_buf(),
            started_at_ms: 42,
            fallback: false,
            up_pid: Some(7),
            machines: plan(&config, false)
                .iter()
                .map(|m| ClusterMachine::new(m, 0))
                .collect(),
        };
        assert_eq!(ClusterFile::read(dir.path()).unwrap(), None);
        file.write().unwrap();
        let back = ClusterFile::read(dir.path()).unwrap().unwrap();
        assert_eq!(back, file);
        assert_eq!(
            back.server_endpoints(),
            ["127.0.0.101:5050", "127.0.0.102:5050", "127.0.0.103:5050"]
        );
        assert!(back.running().is_empty());
        // Only cluster.json is left: no temporary files.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);
        ClusterFile::remove(dir.path()).unwrap();
        ClusterFile::remove(dir.path()).unwrap();
        assert_eq!(ClusterFile::read(dir.path()).unwrap(), None);
    }
}
