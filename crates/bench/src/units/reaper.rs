//! Finds and kills the processes a real cluster's units left behind. Each
//! unit runs under its own `corral unit-supervise <agent dir>/units/<name>`
//! (started with setsid, so it outlives its node by design), and the
//! unit's processes are that supervisor's children, each in a process
//! group of its own. Killing the nodes stops none of them: after a
//! measurement ends, [`kill_all`] does.
//!
//! A process is ours when it is a supervisor whose directory lies under
//! one of the given data dirs (read from `/proc/PID/cmdline`), or a child
//! of one (`/proc/PID/stat`). Parsing is pure and tested as data; only
//! [`find`] and [`kill_all`] read `/proc` and send signals.

use std::path::{Path, PathBuf};

/// What the supervisors' command line starts with after the binary.
const SUPERVISE: &str = "unit-supervise";

/// A process as `/proc/PID/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ppid: i32,
    pub pgrp: i32,
    /// A zombie: already dead, waiting to be reaped.
    pub zombie: bool,
}

/// Parses `/proc/PID/stat`: the fields after the name in parentheses
/// (which may itself hold spaces and parentheses). Pure.
pub fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some(Stat {
        ppid,
        pgrp,
        zombie: state == "Z",
    })
}

/// True when `cmdline` (NUL-separated, as `/proc/PID/cmdline`) is a unit
/// supervisor of a directory under one of `roots`. Pure.
pub fn supervises_under(cmdline: &[u8], roots: &[PathBuf]) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    match args.as_slice() {
        [_, verb, dir, ..] if *verb == SUPERVISE.as_bytes() => {
            let dir = Path::new(std::str::from_utf8(dir).unwrap_or(""));
            roots.iter().any(|r| dir.starts_with(r))
        }
        _ => false,
    }
}

/// Live processes of the units under `roots`: supervisors, then their
/// children (with their process groups).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub supervisors: Vec<i32>,
    /// (pid, process group) of each child of a supervisor.
    pub children: Vec<(i32, i32)>,
}

impl Found {
    pub fn len(&self) -> usize {
        self.supervisors.len() + self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Picks the units' processes out of `(pid, stat, cmdline)` of every
/// process. Pure.
pub fn pick(procs: &[(i32, Stat, Vec<u8>)], roots: &[PathBuf]) -> Found {
    let own = std::process::id() as i32;
    let ok = |pid: i32, s: &Stat| pid > 1 && pid != own && !s.zombie;
    let supervisors: Vec<i32> = procs
        .iter()
        .filter(|(pid, s, cmd)| ok(*pid, s) && supervises_under(cmd, roots))
        .map(|(pid, _, _)| *pid)
        .collect();
    let children = procs
        .iter()
        .filter(|(pid, s, _)| ok(*pid, s) && supervisors.contains(&s.ppid))
        .map(|(pid, s, _)| (*pid, s.pgrp))
        .collect();
    Found {
        supervisors,
        children,
    }
}

/// Every process now, from `/proc` (processes that end meanwhile are
/// skipped).
fn processes() -> Vec<(i32, Stat, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, parse_stat(&stat)?, cmdline))
        })
        .collect()
}

/// The live processes of the units under `roots` (the machines' data dirs).
pub fn find(roots: &[PathBuf]) -> Found {
    pick(&processes(), roots)
}

/// SIGKILLs every process of the units under `roots`: the supervisors
/// first (so none starts anything again), then each child's process
/// group. Returns how many processes it found.
pub fn kill_all(roots: &[PathBuf]) -> usize {
    let found = find(roots);
    for pid in &found.supervisors {
        // SAFETY: kill(2) on a live unit supervisor of this bench's cluster.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    for (pid, pgrp) in &found.children {
        // SAFETY: kill(2) on a unit's process (and the group it leads),
        // a child of a supervisor of this bench's cluster.
        unsafe {
            if pgrp == pid {
                libc::kill(-pid, libc::SIGKILL);
            }
            libc::kill(*pid, libc::SIGKILL);
        }
    }
    found.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats() {
        let s = |t: &str| parse_stat(t);
        assert_eq!(
            s("4242 (sleep) S 4200 4242 4200 0 -1"),
            Some(Stat {
                ppid: 4200,
                pgrp: 4242,
                zombie: false
            })
        );
        assert_eq!(
            s("7 (a (b) c) Z 1 7 7"),
            Some(Stat {
                ppid: 1,
                pgrp: 7,
                zombie: true
            })
        );
        assert_eq!(s("7 (x) S"), None);
        assert_eq!(s("no parenthesis"), None);
    }

    fn cmd(args: &[&str]) -> Vec<u8> {
        let mut v = args.join("\0").into_bytes();
        v.push(0);
        v
    }

    #[test]
    fn supervisors_under_the_roots() {
        let roots = vec![PathBuf::from("/tmp/corral-test-ab/m1")];
        for (args, want) in [
            (
                vec![
                    "/bin/corral",
                    "unit-supervise",
                    "/tmp/corral-test-ab/m1/agent/units/bench@1.service",
                ],
                true,
            ),
            // Another cluster's.
            (
                vec![
                    "/bin/corral",
                    "unit-supervise",
                    "/tmp/corral-test-cd/m1/agent/units/x.service",
                ],
                false,
            ),
            // A prefix of a path is not a parent.
            (
                vec![
                    "/bin/corral",
                    "unit-supervise",
                    "/tmp/corral-test-ab/m10/agent/units/x.service",
                ],
                false,
            ),
            (
                vec!["/bin/corral", "node", "--data-dir=/tmp/corral-test-ab/m1"],
                false,
            ),
            (vec!["/bin/sleep", "3600"], false),
            (vec![], false),
        ] {
            assert_eq!(supervises_under(&cmd(&args), &roots), want, "{args:?}");
        }
    }

    #[test]
    fn picks_supervisors_and_their_children() {
        let roots = vec![PathBuf::from("/d/m1"), PathBuf::from("/d/m2")];
        let st = |ppid, pgrp, zombie| Stat { ppid, pgrp, zombie };
        let sup = |dir: &str| cmd(&["corral", "unit-supervise", dir]);
        let procs = vec![
            (100, st(1, 100, false), sup("/d/m1/agent/units/a.service")),
            (101, st(100, 101, false), cmd(&["/bin/sleep", "3600"])),
            (200, st(1, 200, false), sup("/d/m2/agent/units/b.service")),
            (201, st(200, 201, true), cmd(&[])),
            (
                300,
                st(1, 300, false),
                sup("/other/m1/agent/units/c.service"),
            ),
            (301, st(300, 301, false), cmd(&["/bin/sleep", "3600"])),
            (400, st(1, 400, false), cmd(&["/bin/sleep", "3600"])),
        ];
        let f = pick(&procs, &roots);
        assert_eq!(f.supervisors, [100, 200]);
        assert_eq!(f.children, [(101, 101)]);
        assert_eq!(f.len(), 3);
        assert!(pick(&procs, &[]).is_empty());
    }
}
