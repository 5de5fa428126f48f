//! Which offers take an app's next instances: resources (cpus, mem, disk,
//! host ports), constraints, and spread — each instance goes to the
//! fitting agent with the fewest instances of the app. Pure.

use std::collections::{BTreeMap, HashMap};

use corral_core::app::AppSpec;
use corral_core::constraint::{check_all, Site};
use corral_core::resources::subtract_ranges;
use corral_core::{MachineId, Resources};

/// What is left of one offer while a round places instances on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub offer_id: String,
    pub agent: MachineId,
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
    pub free: Resources,
}

/// Where an app's instance runs (for constraints and spread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub hostname: String,
    pub attributes: BTreeMap<String, String>,
}

/// One instance placed: on `slots[slot]`, with these host ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub slot: usize,
    pub ports: Vec<u16>,
}

/// What one instance takes (ports apart).
pub fn needs(spec: &AppSpec) -> Resources {
    Resources {
        cpus: spec.cpus,
        mem_mb: spec.mem_mb.ceil() as u64,
        disk_mb: spec.disk_mb.ceil() as u64,
        ports: Vec::new(),
    }
}

/// Places up to `count` instances of `spec` on `slots` (taking what they
/// use out of them), given the hosts of its live instances. Returns fewer
/// when the offers run out; the caller asks `constraint::explain` why.
pub fn place(spec: &AppSpec, count: u32, slots: &mut [Slot], live: &[Host]) -> Vec<Placement> {
    let need = needs(spec);
    let constrained = !spec.constraints.is_empty();
    // Placed hosts matter only to constraints that count instances.
    let counting = spec.constraints.iter().any(|c| c.needs_placed());
    // Instances per host, for spread; the hosts themselves only matter to
    // constraints (kept only then: 10,000 instances must stay cheap).
    let mut per_host: HashMap<String, usize> = HashMap::new();
    for h in live {
        *per_host.entry(h.hostname.clone()).or_default() += 1;
    }
    let mut hosts: Vec<Host> = if constrained {
        live.to_vec()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for _ in 0..count {
        let mut best: Option<(usize, usize, Vec<u16>)> = None;
        {
            let sites: Vec<Site> = if constrained {
                slots
                    .iter()
                    .map(|s| Site {
                        hostname: &s.hostname,
                        attributes: &s.attributes,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let placed: Vec<Site> = hosts
                .iter()
                .map(|h| Site {
                    hostname: &h.hostname,
                    attributes: &h.attributes,
                })
                .collect();
            for (i, slot) in slots.iter().enumerate() {
                if !fits(&slot.free, &need) {
                    continue;
                }
                let here = per_host.get(&slot.hostname).copied().unwrap_or(0);
                if best.as_ref().is_some_and(|(_, n, _)| here >= *n) {
                    continue;
                }
                let Some(ports) = pick_ports(spec, &slot.free.ports) else {
                    continue;
                };
                if constrained && check_all(&spec.constraints, &sites[i], &placed, &sites).is_err()
                {
                    continue;
                }
                best = Some((i, here, ports));
                if here == 0 {
                    break; // nobody beats an empty host
                }
            }
        }
        let Some((i, _, ports)) = best else { break };
        let slot = &mut slots[i];
        slot.free.cpus -= need.cpus;
        slot.free.mem_mb -= need.mem_mb;
        slot.free.disk_mb -= need.disk_mb;
        if !ports.is_empty() {
            let taken: Vec<(u16, u16)> = ports.iter().map(|p| (*p, *p)).collect();
            slot.free.ports = subtract_ranges(&slot.free.ports, &taken);
        }
        *per_host.entry(slot.hostname.clone()).or_default() += 1;
        if counting {
            hosts.push(Host {
                hostname: slot.hostname.clone(),
                attributes: slot.attributes.clone(),
            });
        }
        out.push(Placement { slot: i, ports });
    }
    out
}

fn fits(free: &Resources, need: &Resources) -> bool {
    free.cpus + 1e-9 >= need.cpus && free.mem_mb >= need.mem_mb && free.disk_mb >= need.disk_mb
}

/// The host ports an instance gets from `free` ranges: the lowest free
/// ones, one per port definition; with `requirePorts`, exactly the
/// defined ones (all must be free).
fn pick_ports(spec: &AppSpec, free: &[(u16, u16)]) -> Option<Vec<u16>> {
    let is_free = |p: u16| free.iter().any(|(lo, hi)| *lo <= p && p <= *hi);
    if spec.require_ports {
        let want: Vec<u16> = spec.port_definitions.iter().map(|d| d.port).collect();
        return want.iter().all(|p| *p != 0 && is_free(*p)).then_some(want);
    }
    let n = spec.port_definitions.len();
    let mut out = Vec::with_capacity(n);
    for (lo, hi) in free {
        for p in *lo..=*hi {
            if out.len() == n {
                return Some(out);
            }
            out.push(p);
        }
    }
    (out.len() == n).then_some(out)
}

#[cfg(test)]
mod tests {
    use corral_core::app::{AppId, PortDefinition};
    use corral_core::constraint::parse;

    use super::*;

    fn spec(constraints: &[&[&str]], ports: usize) -> AppSpec {
        let mut s = crate::scheduler::tests_support::spec();
        s.id = AppId::parse("/web").unwrap();
        s.constraints = constraints
            .iter()
            .map(|c| parse(&c.iter().map(|x| x.to_string()).collect::<Vec<_>>()).unwrap())
            .collect();
        s.port_definitions = (0..ports)
            .map(|_| PortDefinition {
                port: 0,
                protocol: "tcp".into(),
                name: None,
                labels: BTreeMap::new(),
            })
            .collect();
        s
    }

    fn slot(host: &str, rack: &str, cpus: f64, ports: (u16, u16)) -> Slot {
        Slot {
            offer_id: format!("o-{host}"),
            agent: MachineId(host.into()),
            hostname: host.into(),
            attributes: [("rack".to_string(), rack.to_string())].into(),
            free: Resources {
                cpus,
                mem_mb: 1000,
                disk_mb: 0,
                ports: vec![ports],
            },
        }
    }

    fn hosts_of(slots: &[Slot], p: &[Placement]) -> Vec<String> {
        p.iter().map(|x| slots[x.slot].hostname.clone()).collect()
    }

    #[test]
    fn spreads_and_respects_resources_ports_and_constraints() {
        // (constraints, ports, instances, live hosts) → hosts chosen
        type Case<'a> = (
            &'a [&'a [&'a str]],
            usize,
            u32,
            &'a [&'a str],
            &'a [&'a str],
        );
        let cases: [Case; 6] = [
            // Spread: one per host, then around again.
            (&[], 0, 4, &[], &["a", "b", "c", "a"]),
            // Fewest instances of the app first.
            (&[], 0, 2, &["a", "a", "b"], &["c", "b"]),
            // UNIQUE hostname: at most one each; the fourth does not fit.
            (&[&["hostname", "UNIQUE"]], 0, 4, &[], &["a", "b", "c"]),
            // CLUSTER rack r1 (a, b).
            (&[&["rack", "CLUSTER", "r1"]], 0, 3, &[], &["a", "b", "a"]),
            // Two ports each: b has only one free; c fits once (0.5 cpus).
            (&[], 2, 2, &[], &["a", "c"]),
            // cpus: c has 0.5 only (fits once).
            (&[&["hostname", "LIKE", "c"]], 0, 2, &[], &["c"]),
        ];
        for (i, (cs, ports, n, live, want)) in cases.into_iter().enumerate() {
            let mut slots = vec![
                slot("a", "r1", 4.0, (31000, 31009)),
                slot("b", "r1", 4.0, (31000, 31000)),
                slot("c", "r2", 0.5, (31000, 31001)),
            ];
            if ports == 2 {
                slots[1].free.ports = vec![(31000, 31000)];
            }
            let live: Vec<Host> = live
                .iter()
                .map(|h| Host {
                    hostname: h.to_string(),
                    attributes: [(
                        "rack".to_string(),
                        if *h == "c" { "r2" } else { "r1" }.to_string(),
                    )]
                    .into(),
                })
                .collect();
            let p = place(&spec(cs, ports), n, &mut slots, &live);
            assert_eq!(hosts_of(&slots, &p), want.to_vec(), "case {i}");
        }
    }

    #[test]
    fn takes_what_it_places() {
        let mut slots = vec![slot("a", "r1", 1.0, (31000, 31003))];
        let p = place(&spec(&[], 2), 3, &mut slots, &[]);
        assert_eq!(p.len(), 2, "1 cpu fits two 0.5-cpu instances");
        assert_eq!(p[0].ports, vec![31000, 31001]);
        assert_eq!(p[1].ports, vec![31002, 31003]);
        assert!(slots[0].free.cpus.abs() < 1e-9);
        assert_eq!(slots[0].free.mem_mb, 800);
        assert!(slots[0].free.ports.is_empty());

        let mut required = spec(&[], 0);
        required.require_ports = true;
        required.port_definitions = vec![PortDefinition {
            port: 31002,
            protocol: "tcp".into(),
            name: None,
            labels: BTreeMap::new(),
        }];
        let mut slots = vec![
            slot("a", "r1", 4.0, (31000, 31001)),
            slot("b", "r1", 4.0, (31000, 31005)),
        ];
        let p = place(&required, 2, &mut slots, &[]);
        assert_eq!(hosts_of(&slots, &p), ["b"], "only b has 31002, once");
        assert_eq!(p[0].ports, vec![31002]);
    }
}
