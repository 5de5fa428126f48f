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

/// CPU time (user + system, all threads) `pids` have used so far, in
/// seconds; `None` when one of them cannot be read (it exited).
pub fn cpu_secs_of(pids: &[u32]) -> Option<f64> {
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_cpu_ticks(&stat)
        })
        .sum::<Option<u64>>()
        .map(|ticks| ticks as f64 / CLOCK_TICKS_PER_SEC)
}

/// `USER_HZ`, the unit of `/proc/PID/stat` times: 100 on every Linux
/// architecture the project runs on.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// utime + stime from a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, utime 14, stime 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
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
    fn cpu_ticks() {
        // A name with a space and a parenthesis must not shift the fields.
        let stat = "42 (tokio (rt) w) S 1 42 42 0 -1 4194304 100 0 0 0 250 31 0 0 20 0 8 0";
        assert_eq!(super::parse_cpu_ticks(stat), Some(281));
        assert_eq!(super::parse_cpu_ticks("42 (x) S 1"), None);
        assert!(super::cpu_secs_of(&[std::process::id()]).is_some());
    }

    #[test]
    fn own_rss_is_readable() {
        let mib = super::rss_mib(std::process::id()).unwrap();
        assert!(mib > 0.5, "{mib}");
    }
}
