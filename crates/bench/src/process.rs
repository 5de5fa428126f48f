//! Child processes of the peers under test: finding their binaries,
//! starting them with output to a log file, SIGKILLing them, and reading
//! their resident memory. Owns no policy about when any of that happens.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// The first executable called `name` on `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Starts `cmd` with stdin closed and stdout/stderr appended to `log`.
pub fn spawn_logged(mut cmd: Command, log: &Path) -> Result<Child> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("open log {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    cmd.spawn()
        .with_context(|| format!("start {:?}", cmd.get_program()))
}

/// SIGKILLs and reaps `child`, if there is one.
pub fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Resident set size of `pid` in MiB, from `/proc/PID/status` `VmRSS`.
pub fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    parse_vm_rss_kib(&status)
        .map(|kib| kib as f64 / 1024.0)
        .with_context(|| format!("no VmRSS line for pid {pid}"))
}

fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last `n` lines of a log file, for error messages.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn vm_rss() {
        let status = "Name:\tetcd\nVmPeak:\t  900 kB\nVmRSS:\t   27648 kB\nThreads:\t12\n";
        assert_eq!(super::parse_vm_rss_kib(status), Some(27648));
        assert_eq!(super::parse_vm_rss_kib("Name:\tzombie\n"), None);
    }

    #[test]
    fn own_rss_is_readable() {
        let mib = super::rss_mib(std::process::id()).unwrap();
        assert!(mib > 0.5, "{mib}");
    }
}
