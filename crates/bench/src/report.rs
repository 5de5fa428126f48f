//! The figures of one bench run and their plain-text tables. Rendering is
//! pure (reports in, text out); only [`machine_header`] reads the machine.

use std::path::Path;
use std::time::Duration;

use crate::driver::{percentile, Stats};

/// One write level of one system.
#[derive(Debug, Clone)]
pub struct Level {
    pub clients: usize,
    pub result: Result<Stats, String>,
    /// Leader term before and after the level, when they could be read.
    pub term_before: Option<u64>,
    pub term_after: Option<u64>,
    /// CPU time all members spent during the level (user + system), in
    /// seconds, when it could be read: what a write costs the servers,
    /// steadier than writes/s on a shared 2-core machine.
    pub member_cpu_secs: Option<f64>,
}

impl Level {
    /// Whether an election fired during the level, in words.
    pub fn elections(&self) -> String {
        match (self.term_before, self.term_after) {
            (Some(a), Some(b)) if a == b => format!("none (term {a})"),
            (Some(a), Some(b)) => format!("YES (term {a} -> {b})"),
            _ => "unknown (term unreadable)".to_string(),
        }
    }

    /// Members' CPU milliseconds per 1,000 acknowledged writes, in words.
    pub fn cpu_per_1k(&self) -> String {
        match (&self.result, self.member_cpu_secs) {
            (Ok(s), Some(cpu)) if s.ops > 0 => {
                format!("{:.0}", cpu * 1000.0 * 1000.0 / s.ops as f64)
            }
            _ => "-".into(),
        }
    }

    /// One progress line.
    pub fn describe(&self) -> String {
        match &self.result {
            Ok(s) => format!(
                "{} clients: {:.0} writes/s, p50 {:.2} ms, p99 {:.2} ms, {} ok, {} errors{}; server CPU {} ms per 1,000 writes; elections: {}",
                self.clients,
                s.ops_per_sec,
                s.p50_ms,
                s.p99_ms,
                s.ops,
                s.errors,
                s.first_error.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default(),
                self.cpu_per_1k(),
                self.elections()
            ),
            Err(e) => format!("{} clients: FAILED: {e}", self.clients),
        }
    }
}

/// Everything measured for one system.
#[derive(Debug, Clone, Default)]
pub struct SystemReport {
    /// Name and version.
    pub label: String,
    /// Why the system was skipped or stopped early, if it was.
    pub note: Option<String>,
    /// Corral only: processes started → leader + all agents registered.
    pub bring_up: Vec<Duration>,
    pub rss_mib: Vec<f64>,
    pub levels: Vec<Level>,
    pub failovers: Vec<Duration>,
    pub failover_errors: Vec<String>,
}

impl SystemReport {
    pub fn new(label: &str) -> SystemReport {
        SystemReport {
            label: label.to_string(),
            ..Default::default()
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `p50 / p99 / max` of `samples` in ms.
fn spread(samples: &[Duration]) -> Option<(f64, f64, f64)> {
    let mut s = samples.to_vec();
    s.sort_unstable();
    Some((
        ms(percentile(&s, 0.5)?),
        ms(percentile(&s, 0.99)?),
        ms(*s.last()?),
    ))
}

/// `18.2 / 18.0 / 17.9 MiB`.
pub fn mib_list(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".to_string();
    }
    let parts: Vec<String> = values.iter().map(|v| format!("{v:.1}")).collect();
    format!("{} MiB", parts.join(" / "))
}

/// The final tables.
pub fn render(reports: &[SystemReport]) -> String {
    let mut out = String::new();
    let w = reports
        .iter()
        .map(|r| r.label.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let line = |out: &mut String, s: String| {
        out.push_str(s.trim_end());
        out.push('\n');
    };

    line(
        &mut out,
        "== writes: 100-byte values to new keys, closed loop, through the leader, fsync on =="
            .into(),
    );
    line(
        &mut out,
        format!(
            "{:<w$}  {:>7}  {:>9}  {:>8}  {:>8}  {:>6}  {:>12}  elections during load",
            "system", "clients", "writes/s", "p50 ms", "p99 ms", "errors", "CPU ms/1k wr"
        ),
    );
    for r in reports {
        for l in &r.levels {
            match &l.result {
                Ok(s) => line(
                    &mut out,
                    format!(
                        "{:<w$}  {:>7}  {:>9.0}  {:>8.2}  {:>8.2}  {:>6}  {:>12}  {}",
                        r.label,
                        l.clients,
                        s.ops_per_sec,
                        s.p50_ms,
                        s.p99_ms,
                        s.errors,
                        l.cpu_per_1k(),
                        l.elections()
                    ),
                ),
                Err(e) => line(
                    &mut out,
                    format!("{:<w$}  {:>7}  FAILED: {e}", r.label, l.clients),
                ),
            }
        }
    }

    line(&mut out, String::new());
    line(
        &mut out,
        "== leader failover: SIGKILL the leader -> first write acknowledged through a survivor =="
            .into(),
    );
    line(
        &mut out,
        format!(
            "{:<w$}  {:>5}  {:>8}  {:>8}  {:>8}  {:>6}",
            "system", "kills", "p50 ms", "p99 ms", "max ms", "failed"
        ),
    );
    for r in reports
        .iter()
        .filter(|r| !r.failovers.is_empty() || !r.failover_errors.is_empty())
    {
        let n = r.failovers.len() + r.failover_errors.len();
        match spread(&r.failovers) {
            Some((p50, p99, max)) => line(
                &mut out,
                format!(
                    "{:<w$}  {n:>5}  {p50:>8.0}  {p99:>8.0}  {max:>8.0}  {:>6}",
                    r.label,
                    r.failover_errors.len()
                ),
            ),
            None => line(
                &mut out,
                format!(
                    "{:<w$}  {n:>5}  {:>8}  {:>8}  {:>8}  {:>6}",
                    r.label,
                    "-",
                    "-",
                    "-",
                    r.failover_errors.len()
                ),
            ),
        }
    }

    line(&mut out, String::new());
    line(
        &mut out,
        "== idle RSS per member (VmRSS after a few seconds idle) ==".into(),
    );
    for r in reports.iter().filter(|r| !r.rss_mib.is_empty()) {
        line(
            &mut out,
            format!("{:<w$}  {}", r.label, mib_list(&r.rss_mib)),
        );
    }

    let ups: Vec<&SystemReport> = reports.iter().filter(|r| !r.bring_up.is_empty()).collect();
    if !ups.is_empty() {
        line(&mut out, String::new());
        line(
            &mut out,
            "== bring-up: processes started -> leader elected and every agent registered ==".into(),
        );
        for r in ups {
            let all: Vec<String> = r
                .bring_up
                .iter()
                .map(|d| format!("{:.0}", ms(*d)))
                .collect();
            let (p50, _, max) = spread(&r.bring_up).unwrap_or_default();
            line(
                &mut out,
                format!(
                    "{:<w$}  runs {}  p50 {p50:.0} ms  max {max:.0} ms  (each: {} ms)",
                    r.label,
                    r.bring_up.len(),
                    all.join(", ")
                ),
            );
        }
    }

    let notes: Vec<&SystemReport> = reports.iter().filter(|r| r.note.is_some()).collect();
    if !notes.is_empty() {
        line(&mut out, String::new());
        for r in notes {
            line(
                &mut out,
                format!("{}: {}", r.label, r.note.as_deref().unwrap_or_default()),
            );
        }
    }
    out
}

/// Date, CPU, memory, kernel and where the data dirs live (and on what
/// filesystem, since fsync cost depends on it).
pub fn machine_header(data_root: &Path) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let fs = filesystem_of(&mounts, data_root).unwrap_or_else(|| "unknown fs".to_string());
    format!(
        "date {y:04}-{m:02}-{d:02} (UTC) · {model} · {cores} cores · {mem_gib:.0} GiB · Linux {} · data dirs in {} ({fs}) · {}",
        kernel.trim(),
        data_root.display(),
        load_average()
    )
}

/// `load 1/5/15 min: 0.52 0.61 0.70`: other work on the machine skews every
/// figure, so the report says how busy it was.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let parts: Vec<&str> = text.split_whitespace().take(3).collect();
    format!("load 1/5/15 min: {}", parts.join(" "))
}

/// The filesystem type of the longest mount point containing `path`.
fn filesystem_of(mounts: &str, path: &Path) -> Option<String> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, mnt, fstype) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt)
                .then(|| (mnt.len(), fstype.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for (days, want) in [
            (0, (1970, 1, 1)),
            (19_723, (2024, 1, 1)),
            (19_782, (2024, 2, 29)),
            (20_088, (2024, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), want, "day {days}");
        }
    }

    #[test]
    fn filesystem_is_the_longest_mount() {
        let mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\nproc /proc proc rw 0 0\n";
        assert_eq!(
            filesystem_of(mounts, Path::new("/tmp/x")).as_deref(),
            Some("tmpfs")
        );
        assert_eq!(
            filesystem_of(mounts, Path::new("/work/main")).as_deref(),
            Some("ext4")
        );
        assert_eq!(
            filesystem_of(mounts, Path::new("/tmpfoo")).as_deref(),
            Some("ext4")
        );
    }

    fn stats(ops_per_sec: f64, p50_ms: f64, p99_ms: f64) -> Stats {
        Stats {
            ops: 10,
            secs: 1.0,
            ops_per_sec,
            p50_ms,
            p99_ms,
            errors: 0,
            first_error: None,
        }
    }

    #[test]
    fn tables() {
        let ms = Duration::from_millis;
        let corral = SystemReport {
            label: "corral 0.1.0".into(),
            bring_up: vec![ms(900), ms(1100), ms(1000)],
            rss_mib: vec![18.0, 17.5, 17.25],
            levels: vec![
                Level {
                    clients: 1,
                    result: Ok(stats(1000.0, 0.9, 2.5)),
                    term_before: Some(3),
                    term_after: Some(3),
                    member_cpu_secs: Some(0.35),
                },
                Level {
                    clients: 64,
                    result: Err("leader gone".into()),
                    term_before: Some(3),
                    term_after: Some(4),
                    member_cpu_secs: None,
                },
            ],
            failovers: vec![ms(200), ms(300), ms(250)],
            failover_errors: vec!["timeout".into()],
            note: None,
        };
        let zk = SystemReport::new("zookeeper 3.8.0");
        let zk = SystemReport {
            note: Some("SKIPPED: java not on PATH".into()),
            ..zk
        };
        let want = "\
== writes: 100-byte values to new keys, closed loop, through the leader, fsync on ==
system           clients   writes/s    p50 ms    p99 ms  errors  CPU ms/1k wr  elections during load
corral 0.1.0           1       1000      0.90      2.50       0         35000  none (term 3)
corral 0.1.0          64  FAILED: leader gone

== leader failover: SIGKILL the leader -> first write acknowledged through a survivor ==
system           kills    p50 ms    p99 ms    max ms  failed
corral 0.1.0         4       250       300       300       1

== idle RSS per member (VmRSS after a few seconds idle) ==
corral 0.1.0     18.0 / 17.5 / 17.2 MiB

== bring-up: processes started -> leader elected and every agent registered ==
corral 0.1.0     runs 3  p50 1000 ms  max 1100 ms  (each: 900, 1100, 1000 ms)

zookeeper 3.8.0: SKIPPED: java not on PATH
";
        assert_eq!(render(&[corral, zk]), want);
    }

    #[test]
    fn elections_in_words() {
        let l = |a, b| Level {
            clients: 1,
            result: Err(String::new()),
            term_before: a,
            term_after: b,
            member_cpu_secs: None,
        };
        assert_eq!(l(Some(2), Some(2)).elections(), "none (term 2)");
        assert_eq!(l(Some(2), Some(5)).elections(), "YES (term 2 -> 5)");
        assert_eq!(l(None, Some(5)).elections(), "unknown (term unreadable)");
    }
}
