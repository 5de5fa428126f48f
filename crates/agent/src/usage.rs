//! What running tasks use, measured from /proc, whether or not limits are
//! enforced: resident memory and CPU time summed over every process of the
//! task's session except its leader, the task's supervisor (which the agent
//! starts with setsid; the task and all it starts stay in that session
//! unless they call setsid themselves).
//!
//! Parsing and summing are pure ([`parse_stat`], [`task_usage`]);
//! [`processes`] and [`Units::of_host`] are the thin shell that reads /proc
//! and sysconf. Nothing here writes or signals anything.

/// One process, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    pub session: u32,
    /// utime + cutime (children it has waited for, as times(2) counts).
    pub user_ticks: u64,
    /// stime + cstime.
    pub system_ticks: u64,
    /// Resident pages (field 24; the same count as statm's second field).
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself, so the fields are counted
/// from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let pid = text[..open].trim().parse().ok()?;
    // Fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt
    // majflt cmajflt utime stime cutime cstime priority nice num_threads
    // itrealvalue starttime vsize rss ...
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    Some(ProcStat {
        pid,
        session: rest.get(6 - 3)?.parse().ok()?,
        user_ticks: field(14)?.saturating_add(field(16)?),
        system_ticks: field(15)?.saturating_add(field(17)?),
        rss_pages: field(24)?,
    })
}

/// How to turn ticks and pages into seconds and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    pub ticks_per_sec: u64,
    pub page_bytes: u64,
}

impl Units {
    /// This host's clock ticks (`_SC_CLK_TCK`) and page size.
    pub fn of_host() -> Units {
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        Units {
            ticks_per_sec: if ticks > 0 { ticks as u64 } else { 100 },
            page_bytes: if page > 0 { page as u64 } else { 4096 },
        }
    }
}

/// A task's usage at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    pub cpus_user_time_secs: f64,
    pub cpus_system_time_secs: f64,
    pub mem_rss_bytes: u64,
    pub processes: u32,
}

/// The usage of the task whose first process is `pid`: every process in
/// its session but the session's leader. `None` when `pid` is gone.
pub fn task_usage(all: &[ProcStat], pid: u32, units: Units) -> Option<Usage> {
    let session = all.iter().find(|p| p.pid == pid)?.session;
    let (mut user, mut system, mut pages, mut count) = (0u64, 0u64, 0u64, 0u32);
    for p in all
        .iter()
        .filter(|p| p.session == session && p.pid != session)
    {
        user = user.saturating_add(p.user_ticks);
        system = system.saturating_add(p.system_ticks);
        pages = pages.saturating_add(p.rss_pages);
        count += 1;
    }
    let ticks = units.ticks_per_sec.max(1) as f64;
    Some(Usage {
        cpus_user_time_secs: user as f64 / ticks,
        cpus_system_time_secs: system as f64 / ticks,
        mem_rss_bytes: pages.saturating_mul(units.page_bytes),
        processes: count,
    })
}

/// Every process on the host now. Processes that end while we read are
/// skipped.
pub fn processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|text| parse_stat(&text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/<pid>/stat` of a process named `comm`.
    fn stat(pid: u32, comm: &str, session: u32, ticks: [u64; 4], rss: u64) -> String {
        let [utime, stime, cutime, cstime] = ticks;
        format!(
            "{pid} ({comm}) S 1 {pid} {session} 0 -1 4194304 5000 0 0 0 \
             {utime} {stime} {cutime} {cstime} 20 0 1 0 12345 90000000 {rss} \
             18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        )
    }

    #[test]
    fn parses_stat_lines() {
        let cases = [
            ("plain", stat(42, "python3", 7, [150, 20, 3, 1], 19783)),
            ("spaces", stat(42, "my task", 7, [150, 20, 3, 1], 19783)),
            (
                "parentheses",
                stat(42, "a) S 1 2 (b", 7, [150, 20, 3, 1], 19783),
            ),
            ("empty name", stat(42, "", 7, [150, 20, 3, 1], 19783)),
        ];
        let want = ProcStat {
            pid: 42,
            session: 7,
            user_ticks: 153,
            system_ticks: 21,
            rss_pages: 19783,
        };
        for (name, text) in cases {
            assert_eq!(parse_stat(&text), Some(want), "{name}: {text}");
        }
        for bad in [
            "",
            "42",
            "42 (x) S 1 2",
            "x (y) S 1 2 3 4 5 6 7 8 9 10 11 12",
        ] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn sums_the_task_session_without_its_supervisor() {
        let units = Units {
            ticks_per_sec: 100,
            page_bytes: 4096,
        };
        let all: Vec<ProcStat> = [
            // The supervisor leads session 100.
            stat(100, "corral", 100, [900, 900, 0, 0], 1000),
            // The task (sh), its child that moved to a group of its own, and
            // a reaped grandchild's time in the sh's cutime.
            stat(101, "sh", 100, [10, 5, 40, 2], 200),
            stat(102, "python3 (x)", 100, [240, 13, 0, 0], 16384),
            // Another session: its leader is left out too.
            stat(200, "other", 200, [5, 5, 0, 0], 99),
            stat(201, "other", 200, [5, 5, 0, 0], 99),
        ]
        .iter()
        .map(|s| parse_stat(s).unwrap())
        .collect();
        let cases = [
            (
                101,
                Some(Usage {
                    cpus_user_time_secs: 2.9,
                    cpus_system_time_secs: 0.2,
                    mem_rss_bytes: (200 + 16384) * 4096,
                    processes: 2,
                }),
            ),
            (
                201,
                Some(Usage {
                    cpus_user_time_secs: 0.05,
                    cpus_system_time_secs: 0.05,
                    mem_rss_bytes: 99 * 4096,
                    processes: 1,
                }),
            ),
            (999, None),
        ];
        for (pid, want) in cases {
            assert_eq!(task_usage(&all, pid, units), want, "task pid {pid}");
        }
    }

    #[test]
    fn reads_this_host() {
        let units = Units::of_host();
        assert!(units.ticks_per_sec > 0 && units.page_bytes >= 4096);
        let all = processes();
        let me = std::process::id();
        assert!(all.iter().any(|p| p.pid == me), "no /proc/{me}/stat");
    }
}
