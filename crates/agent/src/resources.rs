//! What the machine offers: detection (cpus, memory, free disk) and parsing
//! of the operator's overrides (`--ports 31000-32000`, `--metadata k=v,…`).
//! Parsers are pure and tested as data.

use std::collections::BTreeMap;
use std::path::Path;

/// Parses `31000-32000[,33000-33100]` into inclusive ranges.
pub fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let lo: u16 = a
            .trim()
            .parse()
            .map_err(|_| format!("port {a:?} in {s:?} is not a number 1-65535"))?;
        let hi: u16 = b
            .trim()
            .parse()
            .map_err(|_| format!("port {b:?} in {s:?} is not a number 1-65535"))?;
        if lo == 0 || lo > hi {
            return Err(format!(
                "port range {part:?} must be LOW-HIGH with 1 <= LOW <= HIGH"
            ));
        }
        out.push((lo, hi));
    }
    Ok(out)
}

/// Parses fleet-style metadata `key=value,key=value`.
pub fn parse_metadata(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("metadata {part:?} must be key=value"))?;
        let k = k.trim();
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "metadata key {k:?} must be letters, digits, '-', '_' or '.'"
            ));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Number of CPUs this process may use.
pub fn detect_cpus() -> f64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0)
}

/// Total memory in MB from /proc/meminfo (0 if unknown).
pub fn detect_mem_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_total_mb(&s))
        .unwrap_or(0)
}

fn mem_total_mb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Free disk space in MB on the filesystem holding `dir` (0 if unknown).
pub fn detect_disk_mb(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 0;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return 0;
    }
    (st.f_bavail as u64).saturating_mul(st.f_frsize as u64) / (1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_ports("31000-32000"), Ok(vec![(31000, 32000)]));
        assert_eq!(
            parse_ports("80, 443,8000-8010"),
            Ok(vec![(80, 80), (443, 443), (8000, 8010)])
        );
        assert_eq!(parse_ports(""), Ok(vec![]));
        assert!(parse_ports("32000-31000").unwrap_err().contains("LOW-HIGH"));
        assert!(parse_ports("0-10").is_err());
        assert!(parse_ports("70000").unwrap_err().contains("not a number"));
        assert!(parse_ports("a-b").is_err());
    }

    #[test]
    fn metadata() {
        assert_eq!(
            parse_metadata("zookeeper=true, mesos-master=true"),
            Ok(BTreeMap::from([
                ("mesos-master".into(), "true".into()),
                ("zookeeper".into(), "true".into())
            ]))
        );
        assert_eq!(parse_metadata(""), Ok(BTreeMap::new()));
        assert!(parse_metadata("novalue").unwrap_err().contains("key=value"));
        assert!(parse_metadata("bad key=1").is_err());
    }

    #[test]
    fn meminfo() {
        assert_eq!(
            mem_total_mb("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            Some(24000)
        );
        assert_eq!(mem_total_mb("nothing"), None);
        assert!(detect_cpus() >= 1.0);
        assert!(detect_disk_mb(Path::new("/")) > 0);
    }
}
