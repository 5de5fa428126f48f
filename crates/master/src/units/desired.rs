//! What each machine must run: from the replicated state and the units'
//! requirements, the engine's placement input and every machine's complete
//! desired set of units (the body of `PUT /v1/agent/units`). Pure.
//!
//! A unit placed on a machine (or global and fitting it) with desired state
//! `loaded` or `launched` is in that machine's set; everything else is not,
//! so the agent stops and removes it. The name specifiers `%n %N %p %P %i
//! %I` are expanded here; the machine ones (`%H %m %b`) by the agent.
//!
//! Cost: the engine runs this every round over every unit, so a set is
//! first computed as references into the state ([`sets`]) and compared by
//! [`digest_of`]; only a set that is sent is copied into its wire form
//! ([`run`]).

use std::collections::{BTreeMap, HashMap};

use corral_api::units::{UnitOption as WireOption, UnitRun, UnitTarget};
use corral_core::state::units::{DesiredState, Unit};
use corral_core::unit::{self, Machine, Placed, Requirements, Specifiers, UnitName};
use corral_core::{AgentStatus, MachineId, State};

/// Requirements of every unit, parsed once per (name, hash): leader memory
/// so 20,000 units are not re-parsed on every round (hashed by name: it is
/// looked up for every unit on every round).
#[derive(Default)]
pub struct RequirementCache {
    by_unit: HashMap<UnitName, (String, Result<Requirements, String>)>,
}

impl RequirementCache {
    /// The unit's requirements (or why its file has none).
    pub fn get(&mut self, u: &Unit) -> &Result<Requirements, String> {
        let fresh = self.by_unit.get(&u.name).is_some_and(|(h, _)| *h == u.hash);
        if !fresh {
            let parsed = unit::UnitFile::from_options(u.options.clone())
                .map_err(|e| e.to_string())
                .and_then(|f| Requirements::of(&u.name, &f).map_err(|e| e.to_string()));
            self.by_unit
                .insert(u.name.clone(), (u.hash.clone(), parsed));
        }
        &self.by_unit[&u.name].1
    }

    /// Forgets units that no longer exist. Only looked for when it holds
    /// more units than the state: a destroyed unit's entry is found once
    /// any unit is added (or it stays, harmless, until then).
    pub fn retain(&mut self, state: &State) {
        if self.by_unit.len() > state.units.len() {
            self.by_unit.retain(|n, _| state.units.contains_key(n));
        }
    }
}

/// Machines that can take units: admitted and reachable, with their
/// metadata (the agents' attributes).
pub fn live_machines(state: &State) -> Vec<Machine> {
    state
        .agents
        .values()
        .filter(|a| a.status == AgentStatus::Active)
        .map(|a| Machine {
            id: a.info.id.clone(),
            metadata: a.info.attributes.clone(),
        })
        .collect()
}

/// Units that want a machine from the engine: not a template, not global,
/// desired loaded or launched, with valid requirements.
pub fn wanting(state: &State, reqs: &mut RequirementCache) -> Vec<Placed> {
    state
        .units
        .values()
        .filter(|u| !u.global && u.desired != DesiredState::Inactive && !u.name.is_template())
        .filter_map(|u| {
            reqs.get(u).as_ref().ok().map(|req| Placed {
                name: u.name.clone(),
                req: req.clone(),
            })
        })
        .collect()
}

/// Current placements.
pub fn placed(state: &State) -> BTreeMap<UnitName, MachineId> {
    state
        .units
        .values()
        .filter_map(|u| u.machine.clone().map(|m| (u.name.clone(), m)))
        .collect()
}

/// One unit of a machine's set, and what the machine must do with it.
pub type Slot<'a> = (&'a Unit, UnitTarget);

/// Every live machine's desired set, by machine, as references into the
/// state (nothing is copied; [`run`] makes the wire form of a set that is
/// sent).
pub fn sets<'a>(
    state: &'a State,
    reqs: &mut RequirementCache,
) -> BTreeMap<MachineId, Vec<Slot<'a>>> {
    let machines = live_machines(state);
    // Only global units need the others' placements and requirements.
    let (placed, others) = if state.units.values().any(|u| u.global) {
        (placed(state), wanting(state, reqs))
    } else {
        Default::default()
    };
    let mut out: BTreeMap<MachineId, Vec<Slot<'a>>> = machines
        .iter()
        .map(|m| (m.id.clone(), Vec::new()))
        .collect();
    for u in state.units.values() {
        let target = match u.desired {
            DesiredState::Inactive => continue,
            DesiredState::Loaded => UnitTarget::Loaded,
            DesiredState::Launched => UnitTarget::Launched,
        };
        if u.name.is_template() {
            continue;
        }
        let on: Vec<MachineId> = if u.global {
            match reqs.get(u) {
                Ok(req) => unit::global_targets_with(&u.name, req, &machines, &others, &placed),
                Err(_) => continue,
            }
        } else {
            u.machine.iter().cloned().collect()
        };
        for m in on {
            if let Some(set) = out.get_mut(&m) {
                set.push((u, target));
            }
        }
    }
    out
}

/// Every live machine's desired set, by machine, in its wire form.
pub fn per_machine(
    state: &State,
    reqs: &mut RequirementCache,
) -> BTreeMap<MachineId, Vec<UnitRun>> {
    sets(state, reqs)
        .into_iter()
        .map(|(m, set)| (m, set.into_iter().map(|(u, t)| run(u, t)).collect()))
        .collect()
}

/// The unit as its machine's runner gets it.
pub fn run(u: &Unit, target: UnitTarget) -> UnitRun {
    let s = Specifiers {
        name: &u.name,
        hostname: None,
        machine_id: None,
        boot_id: None,
    };
    UnitRun {
        name: u.name.to_string(),
        hash: u.hash.clone(),
        options: u
            .options
            .iter()
            .map(|o| WireOption {
                section: o.section.clone(),
                name: o.name.clone(),
                value: unit::expand(&o.value, &s),
            })
            .collect(),
        target,
    }
}

/// A digest of a desired set, to push it only when it changed.
pub fn digest(units: &[UnitRun]) -> String {
    digest_parts(units.iter().map(|u| (u.name.as_str(), &u.hash, u.target)))
}

/// [`digest`] of a set as [`sets`] gives it (the same text), without
/// making its wire form.
pub fn digest_of(set: &[Slot<'_>]) -> String {
    digest_parts(set.iter().map(|(u, t)| (u.name.as_str(), &u.hash, *t)))
}

fn digest_parts<'a>(units: impl Iterator<Item = (&'a str, &'a String, UnitTarget)>) -> String {
    let mut parts: Vec<String> = units
        .map(|(name, hash, target)| {
            let t = match target {
                UnitTarget::Loaded => "l",
                UnitTarget::Launched => "L",
            };
            format!("{name}={hash}:{t}")
        })
        .collect();
    parts.sort();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::machine::{AgentRegistration, Resources};
    use corral_core::unit::UnitFile;
    use corral_core::{Command, Request};

    fn state(units: &[(&str, &str, DesiredState)], placements: &[(&str, u8)]) -> State {
        let mut s = State::default();
        let mut apply = |command| {
            s.apply(&Request { now_ms: 1, command });
        };
        for n in 1..=3u8 {
            apply(Command::RegisterAgent(AgentRegistration {
                id: MachineId(format!("m{n}")),
                hostname: format!("m{n}"),
                ip: format!("127.0.0.{n}"),
                agent_port: 5051,
                resources: Resources::default(),
                attributes: [(
                    "disk".to_string(),
                    if n == 3 { "ssd" } else { "hdd" }.to_string(),
                )]
                .into(),
                server_id: None,
                version: "0".into(),
            }));
        }
        for (name, text, desired) in units {
            apply(Command::PutUnit {
                name: UnitName::parse(name).unwrap(),
                options: UnitFile::parse(text).unwrap().options().to_vec(),
                desired: *desired,
            });
        }
        for (name, n) in placements {
            apply(Command::PlaceUnits {
                assign: vec![(UnitName::parse(name).unwrap(), MachineId(format!("m{n}")))],
                unassign: vec![],
            });
        }
        s
    }

    /// Each machine's set as `m1: a.service=L b.service=l`.
    fn check(s: &State, expected: &str) {
        let sets = per_machine(s, &mut RequirementCache::default());
        let got: Vec<String> = sets
            .iter()
            .map(|(m, units)| {
                let mut names: Vec<String> = units
                    .iter()
                    .map(|u| {
                        let t = if u.target == UnitTarget::Launched {
                            "L"
                        } else {
                            "l"
                        };
                        format!("{}={t}", u.name)
                    })
                    .collect();
                names.sort();
                format!("{m}: {}", names.join(" ")).trim_end().to_string()
            })
            .collect();
        assert_eq!(got.join("\n"), expected.trim());
    }

    const SVC: &str = "[Service]\nExecStart=/bin/echo %n %p %i %H\n";

    #[test]
    fn a_machine_gets_what_is_placed_on_it_and_the_globals_that_fit_it() {
        let global_ssd =
            "[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nMachineMetadata=disk=ssd\n";
        let global_all =
            "[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\nConflicts=a.service\n";
        let s = state(
            &[
                ("a.service", SVC, DesiredState::Launched),
                ("b.service", SVC, DesiredState::Loaded),
                ("c.service", SVC, DesiredState::Inactive),
                ("g.service", global_ssd, DesiredState::Launched),
                ("h.service", global_all, DesiredState::Launched),
            ],
            &[("a.service", 1), ("b.service", 2), ("c.service", 2)],
        );
        check(
            &s,
            "m1: a.service=L\n\
             m2: b.service=l h.service=L\n\
             m3: g.service=L h.service=L",
        );
    }

    #[test]
    fn name_specifiers_are_expanded_and_machine_ones_left_to_the_agent() {
        let s = state(&[("web@.service", SVC, DesiredState::Inactive)], &[]);
        let web = s
            .units
            .get(&UnitName::parse("web@.service").unwrap())
            .unwrap()
            .clone();
        let inst = corral_core::state::units::Unit {
            name: UnitName::parse("web@7.service").unwrap(),
            ..web
        };
        let r = run(&inst, UnitTarget::Launched);
        assert_eq!(r.options[0].value, "/bin/echo web@7.service web 7 %H");
        assert_eq!(
            digest(std::slice::from_ref(&r)),
            format!("web@7.service={}:L", r.hash)
        );
    }

    #[test]
    fn a_set_has_the_same_digest_before_and_after_its_wire_form() {
        let s = state(
            &[
                ("a.service", SVC, DesiredState::Launched),
                ("b.service", SVC, DesiredState::Loaded),
                ("c.service", SVC, DesiredState::Launched),
            ],
            &[("a.service", 1), ("b.service", 1), ("c.service", 2)],
        );
        let mut reqs = RequirementCache::default();
        let wire = per_machine(&s, &mut reqs);
        let sets = sets(&s, &mut reqs);
        assert_eq!(sets.len(), 3);
        for (m, set) in &sets {
            let mut units = wire[m].clone();
            units.reverse();
            assert_eq!(digest_of(set), digest(&units), "{m}");
        }
        assert_ne!(digest_of(&sets[&MachineId("m1".into())]), digest_of(&[]));
    }

    #[test]
    fn requirements_of_destroyed_units_are_forgotten() {
        let mut s = state(
            &[
                ("a.service", SVC, DesiredState::Launched),
                ("b.service", SVC, DesiredState::Launched),
            ],
            &[],
        );
        let mut reqs = RequirementCache::default();
        assert_eq!(wanting(&s, &mut reqs).len(), 2);
        s.apply(&Request {
            now_ms: 1,
            command: Command::DestroyUnit {
                name: UnitName::parse("a.service").unwrap(),
            },
        });
        reqs.retain(&s);
        assert_eq!(reqs.by_unit.len(), 1);
        assert_eq!(wanting(&s, &mut reqs).len(), 1);
    }
}
