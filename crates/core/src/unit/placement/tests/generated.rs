//! Generated clusters: every rule still holds after planning, after
//! planning again, and after losing machines; and the scale test, which
//! prints how long 20,000 units on 500 machines take.

use std::collections::BTreeMap;

use super::{after, assert_stable, run, Case};
use crate::machine::MachineId;
use crate::unit::fleet::Requirements;
use crate::unit::glob::Glob;
use crate::unit::name::UnitName;
use crate::unit::placement::{plan, Machine, Placed, Plan};

/// A tiny xorshift generator: tests get varied input without randomness.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A cluster of `machines` machines (4 regions, some with ssd) and
/// `units` units: template instances spread by Conflicts, units pinned by
/// metadata, followers (MachineOf), replacers and plain units.
fn generated(seed: u64, machines: usize, units: usize) -> Case {
    let mut rng = XorShift(seed);
    let machines: Vec<Machine> = (0..machines)
        .map(|i| {
            let mut metadata = BTreeMap::new();
            metadata.insert("region".to_owned(), format!("r{}", i % 4));
            if i % 3 == 0 {
                metadata.insert("disk".to_owned(), "ssd".to_owned());
            }
            Machine {
                id: MachineId(format!("{i:08x}{:024x}", i * 7919)),
                metadata,
            }
        })
        .collect();
    let mut out: Vec<Placed> = Vec::with_capacity(units);
    let name = |s: String| UnitName::parse(&s).unwrap();
    let mut i = 0;
    while out.len() < units {
        let req = match i % 10 {
            0..=4 => {
                // 50 instances per template.
                let t = i / 50;
                let n = name(format!("app{t}@{i}.service"));
                out.push(Placed {
                    req: Requirements {
                        conflicts: vec![format!("app{t}@*.service")],
                        ..Default::default()
                    },
                    name: n,
                });
                i += 1;
                continue;
            }
            5 | 6 => {
                let mut metadata = BTreeMap::new();
                metadata.insert("region".to_owned(), vec![format!("r{}", rng.below(4))]);
                if rng.below(4) == 0 {
                    metadata.insert("disk".to_owned(), vec!["ssd".to_owned()]);
                }
                Requirements {
                    metadata,
                    ..Default::default()
                }
            }
            7 if i > 10 => Requirements {
                machine_of: vec![out[rng.below(out.len())].name.clone()],
                ..Default::default()
            },
            8 if i > 10 && rng.below(8) == 0 => Requirements {
                replaces: vec![format!("plain{}.service", rng.below(i))],
                ..Default::default()
            },
            _ => Requirements::default(),
        };
        out.push(Placed {
            name: name(format!("plain{i}.service")),
            req,
        });
        i += 1;
    }
    Case {
        units: out,
        machines,
        current: BTreeMap::new(),
    }
}

#[test]
fn generated_clusters_keep_every_rule() {
    for seed in 1..=20u64 {
        let mut case = generated(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 12, 300);
        let first = run(&case);
        case.current = after(&case, &first);
        assert_stable(&case.current, &run(&case));
        // Lose a third of the machines: `run` checks nobody stays on them.
        let mut i = 0;
        case.machines.retain(|_| {
            i += 1;
            i % 3 != 1
        });
        run(&case);
    }
}

/// 20,000 units on 500 machines. Prints how long planning takes; asserts
/// only what the plan must be. Run it in release mode for a real figure:
/// `cargo test -p corral-core --release unit::placement -- --nocapture`.
#[test]
fn scale_20000_units_on_500_machines() {
    let mut case = generated(42, 500, 20_000);
    let start = std::time::Instant::now();
    let first = plan(&case.units, &case.machines, &case.current);
    let fresh = start.elapsed();
    verify_fast(&case, &first);

    case.current = after(&case, &first);
    let start = std::time::Instant::now();
    let again = plan(&case.units, &case.machines, &case.current);
    let steady = start.elapsed();
    assert_stable(&case.current, &again);

    case.machines.truncate(450);
    let start = std::time::Instant::now();
    let after_loss = plan(&case.units, &case.machines, &case.current);
    let loss = start.elapsed();
    verify_fast(&case, &after_loss);

    println!(
        "placement of {} units on 500 machines: fresh {fresh:?} ({} placed, {} unplaceable), \
         unchanged {steady:?}, after losing 50 machines {loss:?} ({} moved)",
        case.units.len(),
        first.assign.len(),
        first.unplaceable.len(),
        after_loss.assign.len(),
    );

    // The worst case for explaining: 10,000 instances that conflict with
    // each other on 500 machines, so 9,500 are tried everywhere and get a
    // sentence each.
    let crowded: Vec<Placed> = (0..20_000)
        .map(|i| {
            if i % 2 == 0 {
                Placed {
                    name: UnitName::parse(&format!("web@{i}.service")).unwrap(),
                    req: Requirements {
                        conflicts: vec!["web@*.service".into()],
                        ..Default::default()
                    },
                }
            } else {
                Placed {
                    name: UnitName::parse(&format!("plain{i}.service")).unwrap(),
                    req: Requirements::default(),
                }
            }
        })
        .collect();
    let machines = generated(42, 500, 0).machines;
    let start = std::time::Instant::now();
    let crowded_plan = plan(&crowded, &machines, &BTreeMap::new());
    let took = start.elapsed();
    assert_eq!(crowded_plan.unplaceable.len(), 9_500);
    let why = crowded_plan.unplaceable.values().next().unwrap();
    assert!(
        why.ends_with(": 500 machines have a unit matching Conflicts=web@*.service (e.g. 00000000... has web@0.service)"),
        "{why}"
    );
    println!(
        "placement of 10,000 conflicting instances and 10,000 others on 500 machines: {took:?}"
    );
}

/// `verify` without its quadratic parts: conflicts per machine only.
fn verify_fast(case: &Case, plan: &Plan) {
    let placed = after(case, plan);
    let reqs: BTreeMap<&UnitName, &Requirements> =
        case.units.iter().map(|p| (&p.name, &p.req)).collect();
    let mut on: BTreeMap<&MachineId, Vec<&UnitName>> = BTreeMap::new();
    for (n, m) in &placed {
        on.entry(m).or_default().push(n);
    }
    for p in &case.units {
        assert_ne!(
            placed.contains_key(&p.name),
            plan.unplaceable.contains_key(&p.name),
            "{}",
            p.name
        );
    }
    for units in on.values() {
        for a in units {
            for pat in &reqs[a].conflicts {
                let g = Glob::new(pat).unwrap();
                for b in units {
                    assert!(a == b || !g.matches(b.as_str()), "{a} conflicts with {b}");
                }
            }
            for t in &reqs[a].machine_of {
                assert_eq!(placed.get(t), placed.get(*a), "{a} follows {t}");
            }
        }
    }
}
