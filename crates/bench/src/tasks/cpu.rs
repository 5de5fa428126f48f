//! CPU time of processes and of the whole machine between two moments,
//! from `/proc` (parsing is pure and tested).

/// Clock ticks per second in `/proc` (USER_HZ: 100 on Linux everywhere).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time (user + system ticks) of a process, from `/proc/PID/stat`.
fn parse_process_ticks(stat: &str) -> Option<u64> {
    // The name (field 2) may hold spaces and parentheses: count fields
    // after its closing parenthesis, where field 3 (state) comes first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, iowait, total) ticks of all cores, from `/proc/stat`'s `cpu` line.
fn parse_machine_ticks(stat: &str) -> Option<[u64; 3]> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal
    let (idle, iowait) = (*v.get(3)?, *v.get(4)?);
    let total: u64 = v.iter().sum();
    Some([total - idle - iowait, iowait, total])
}

/// Ticks at one moment: each watched process's (if readable), the machine's.
#[derive(Debug, Clone)]
struct Reading {
    procs: Vec<Option<u64>>,
    machine: Option<[u64; 3]>,
}

/// CPU used between [`CpuWatch::start`] and [`CpuWatch::finish`].
#[derive(Debug, Clone, Default)]
pub struct CpuUse {
    /// Seconds per watched process, by label.
    pub procs: Vec<(String, f64)>,
    /// The machine's (busy %, iowait %) of all cores.
    pub machine: Option<(f64, f64)>,
}

/// CPU used by some processes, and by the machine, between two moments.
#[derive(Debug, Default)]
pub struct CpuWatch {
    /// (label, pid) of each process watched.
    pub procs: Vec<(String, u32)>,
    start: Option<Reading>,
}

impl CpuWatch {
    fn read(&self) -> Reading {
        let procs = self
            .procs
            .iter()
            .map(|(_, pid)| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                parse_process_ticks(&stat)
            })
            .collect();
        let machine = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_machine_ticks(&s));
        Reading { procs, machine }
    }

    pub fn start(&mut self) {
        self.start = Some(self.read());
    }

    /// What was used since [`CpuWatch::start`] (nothing if it never started).
    pub fn finish(&self) -> CpuUse {
        let Some(before) = &self.start else {
            return CpuUse::default();
        };
        let after = self.read();
        let procs = self
            .procs
            .iter()
            .zip(before.procs.iter().zip(&after.procs))
            .filter_map(|((label, _), (a, b))| {
                let ticks = b.as_ref()?.saturating_sub(*a.as_ref()?);
                Some((label.clone(), ticks as f64 / TICKS_PER_SEC))
            })
            .collect();
        let machine = match (before.machine, after.machine) {
            (Some(a), Some(b)) if b[2] > a[2] => {
                let total = (b[2] - a[2]) as f64;
                Some((
                    100.0 * (b[0] - a[0]) as f64 / total,
                    100.0 * (b[1] - a[1]) as f64 / total,
                ))
            }
            _ => None,
        };
        CpuUse { procs, machine }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks() {
        let stat = "4242 (corral node (x)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9";
        assert_eq!(parse_process_ticks(stat), Some(300));
        assert_eq!(parse_process_ticks("4242 (short) S 1"), None);
        let proc_stat = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n";
        assert_eq!(parse_machine_ticks(proc_stat), Some([160, 40, 1000]));
        assert_eq!(parse_machine_ticks("intr 1 2 3"), None);
    }
}
