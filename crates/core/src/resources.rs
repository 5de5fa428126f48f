//! Resource arithmetic: adding, subtracting and comparing the bundles an
//! agent offers (cpus, mem, disk as scalars; ports as ranges). Pure.

use crate::machine::Resources;

/// Merges overlapping and adjacent inclusive ranges; the result is sorted.
pub fn normalize_ranges(ranges: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = ranges.iter().copied().filter(|(a, b)| a <= b).collect();
    v.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Ports in `a` that are not in `b`.
pub fn subtract_ranges(a: &[(u16, u16)], b: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    for &(lo, hi) in &normalize_ranges(a) {
        let mut pieces = vec![(u32::from(lo), u32::from(hi))];
        for &(blo, bhi) in &normalize_ranges(b) {
            let (blo, bhi) = (u32::from(blo), u32::from(bhi));
            pieces = pieces
                .into_iter()
                .flat_map(|(plo, phi)| {
                    let mut keep = Vec::new();
                    if bhi < plo || blo > phi {
                        keep.push((plo, phi));
                    } else {
                        if blo > plo {
                            keep.push((plo, blo - 1));
                        }
                        if bhi < phi {
                            keep.push((bhi + 1, phi));
                        }
                    }
                    keep
                })
                .collect();
        }
        out.extend(pieces.into_iter().map(|(a, b)| (a as u16, b as u16)));
    }
    out
}

/// How many ports the ranges hold.
pub fn count_ports(ranges: &[(u16, u16)]) -> u64 {
    normalize_ranges(ranges)
        .iter()
        .map(|(a, b)| u64::from(b - a) + 1)
        .sum()
}

/// A small tolerance for comparing fractional cpus.
const EPSILON: f64 = 1e-9;

impl Resources {
    /// True when nothing is left to offer.
    pub fn is_empty(&self) -> bool {
        self.cpus <= EPSILON
            && self.mem_mb == 0
            && self.disk_mb == 0
            && count_ports(&self.ports) == 0
    }

    /// True when `other` fits inside `self` (every scalar and every port).
    pub fn contains(&self, other: &Resources) -> bool {
        self.cpus + EPSILON >= other.cpus
            && self.mem_mb >= other.mem_mb
            && self.disk_mb >= other.disk_mb
            && subtract_ranges(&other.ports, &self.ports).is_empty()
    }

    /// `self + other`.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut ports = self.ports.clone();
        ports.extend_from_slice(&other.ports);
        Resources {
            cpus: self.cpus + other.cpus,
            mem_mb: self.mem_mb + other.mem_mb,
            disk_mb: self.disk_mb + other.disk_mb,
            ports: normalize_ranges(&ports),
        }
    }

    /// `self - other`, never below zero.
    pub fn minus(&self, other: &Resources) -> Resources {
        Resources {
            cpus: (self.cpus - other.cpus).max(0.0),
            mem_mb: self.mem_mb.saturating_sub(other.mem_mb),
            disk_mb: self.disk_mb.saturating_sub(other.disk_mb),
            ports: subtract_ranges(&self.ports, &other.ports),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cpus: f64, mem: u64, disk: u64, ports: &[(u16, u16)]) -> Resources {
        Resources {
            cpus,
            mem_mb: mem,
            disk_mb: disk,
            ports: ports.to_vec(),
        }
    }

    #[test]
    fn ranges() {
        type Ranges = &'static [(u16, u16)];
        let cases: &[(Ranges, Ranges, Ranges)] = &[
            (&[(31000, 32000)], &[(31000, 31000)], &[(31001, 32000)]),
            (
                &[(31000, 32000)],
                &[(31500, 31600)],
                &[(31000, 31499), (31601, 32000)],
            ),
            (&[(31000, 32000)], &[(30000, 40000)], &[]),
            (&[(1, 5), (10, 12)], &[(5, 10)], &[(1, 4), (11, 12)]),
            (&[(65535, 65535)], &[(1, 2)], &[(65535, 65535)]),
            (&[], &[(1, 2)], &[]),
        ];
        for (a, b, want) in cases {
            assert_eq!(subtract_ranges(a, b), want.to_vec(), "{a:?} - {b:?}");
        }
        assert_eq!(
            normalize_ranges(&[(5, 6), (1, 4), (8, 9), (9, 12)]),
            [(1, 6), (8, 12)]
        );
        assert_eq!(count_ports(&[(31000, 32000), (31000, 31010)]), 1001);
    }

    #[test]
    fn arithmetic() {
        let agent = r(2.0, 1024, 4096, &[(31000, 32000)]);
        let task = r(0.5, 128, 0, &[(31000, 31001)]);
        assert!(agent.contains(&task));
        assert!(!task.contains(&agent));
        let left = agent.minus(&task);
        assert_eq!(left, r(1.5, 896, 4096, &[(31002, 32000)]));
        assert_eq!(left.plus(&task), agent);
        assert!(
            !left.contains(&r(0.1, 0, 0, &[(31000, 31000)])),
            "a used port is not free"
        );
        assert!(r(0.0, 0, 0, &[]).is_empty());
        assert!(!r(0.0, 0, 0, &[(1, 1)]).is_empty());
        // Fractional cpus add up without drifting past what the agent has.
        let tenth = r(0.1, 0, 0, &[]);
        let mut used = Resources::default();
        for _ in 0..10 {
            used = used.plus(&tenth);
        }
        assert!(r(1.0, 0, 0, &[]).contains(&used));
    }
}
