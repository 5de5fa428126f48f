//! Units, their states and machines as fleet's API v1 and corral's own
//! `/v1/units` show them. Pure: state (and the engine's reasons) in, wire
//! values out.
//!
//! fleet's `currentState` is derived: `inactive` while a unit has no
//! machine (or no report from it), `launched` while its machine reports it
//! active, activating or deactivating, `loaded` otherwise.

use std::collections::BTreeMap;

use corral_api::fleet;
use corral_api::unit_view::{UnitRow, UnitStateRow};
use corral_core::state::units::{Unit, UnitRuntime};
use corral_core::unit::UnitName;
use corral_core::{MachineId, State};

fn ip_of(s: &State, m: &MachineId) -> String {
    s.agents
        .get(m)
        .map(|a| a.info.ip.clone())
        .unwrap_or_default()
}

fn is_up(r: &UnitRuntime) -> bool {
    matches!(
        r.active.as_str(),
        "active" | "activating" | "deactivating" | "reloading"
    )
}

/// What machines report, by unit: built once per answer, so a listing of
/// N units on M machines costs N + (reports), not N × M lookups.
#[derive(Default)]
pub struct Reports<'a> {
    by_unit: BTreeMap<&'a UnitName, Vec<(&'a MachineId, &'a UnitRuntime)>>,
}

impl<'a> Reports<'a> {
    /// Every report in the state.
    pub fn all(s: &'a State) -> Reports<'a> {
        let mut by_unit: BTreeMap<&UnitName, Vec<_>> = BTreeMap::new();
        for (m, units) in &s.unit_states {
            for (name, r) in units {
                by_unit.entry(name).or_default().push((m, r));
            }
        }
        Reports { by_unit }
    }

    /// The reports of one unit only.
    pub fn of(s: &'a State, name: &'a UnitName) -> Reports<'a> {
        let found: Vec<_> = s
            .unit_states
            .iter()
            .filter_map(|(m, units)| units.get(name).map(|r| (m, r)))
            .collect();
        Reports {
            by_unit: BTreeMap::from([(name, found)]),
        }
    }

    /// Each machine's report of `name`.
    pub fn get(&self, name: &UnitName) -> &[(&'a MachineId, &'a UnitRuntime)] {
        self.by_unit
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// fleet's `currentState` of a unit.
pub fn current_state(u: &Unit, reports: &Reports) -> &'static str {
    let mut seen = false;
    for (m, r) in reports.get(&u.name) {
        if !u.global && u.machine.as_ref() != Some(*m) {
            continue;
        }
        if is_up(r) {
            return "launched";
        }
        seen = true;
    }
    if seen {
        "loaded"
    } else {
        "inactive"
    }
}

pub fn fleet_unit(u: &Unit, reports: &Reports) -> fleet::Unit {
    fleet::Unit {
        name: Some(u.name.to_string()),
        options: Some(
            u.options
                .iter()
                .map(|o| fleet::UnitOption {
                    section: o.section.clone(),
                    name: o.name.clone(),
                    value: o.value.clone(),
                })
                .collect(),
        ),
        desired_state: Some(u.desired.as_str().to_string()),
        current_state: Some(current_state(u, reports).to_string()),
        machine_id: u.machine.as_ref().map(|m| m.0.clone()),
    }
}

/// fleet's unit states, optionally only of one machine or one unit, in
/// (unit, machine) order.
pub fn fleet_states(s: &State, machine: Option<&str>, unit: Option<&str>) -> Vec<fleet::UnitState> {
    let mut out = Vec::new();
    for (m, units) in &s.unit_states {
        if machine.is_some_and(|want| want != m.0) {
            continue;
        }
        for (name, r) in units {
            if unit.is_some_and(|want| want != name.as_str()) {
                continue;
            }
            out.push(fleet::UnitState {
                name: name.to_string(),
                hash: r.hash.clone(),
                machine_id: m.0.clone(),
                load_state: r.load.clone(),
                active_state: r.active.clone(),
                sub_state: r.sub.clone(),
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.machine_id).cmp(&(&b.name, &b.machine_id)));
    out
}

pub fn fleet_machines(s: &State) -> Vec<fleet::Machine> {
    s.agents
        .values()
        .filter(|a| a.status == corral_core::AgentStatus::Active)
        .map(|a| fleet::Machine {
            id: a.info.id.0.clone(),
            primary_ip: a.info.ip.clone(),
            metadata: a.info.attributes.clone(),
        })
        .collect()
}

/// corral's view of a unit: fleet's facts plus where it runs, every
/// machine's report and, when it wants a machine and has none, why.
pub fn row(s: &State, u: &Unit, reports: &Reports, why: Option<&String>) -> UnitRow {
    let states: Vec<UnitStateRow> = reports
        .get(&u.name)
        .iter()
        .map(|(m, r)| UnitStateRow {
            machine: m.0.clone(),
            machine_ip: ip_of(s, m),
            agent: s
                .agents
                .get(m)
                .map(|a| format!("{}:{}", a.info.ip, a.info.agent_port))
                .unwrap_or_default(),
            hash: r.hash.clone(),
            load: r.load.clone(),
            active: r.active.clone(),
            sub: r.sub.clone(),
            since_ms: r.since_ms,
            main_pid: r.main_pid,
            result: r.result.clone(),
            restarts: r.restarts,
        })
        .collect();
    let description = u
        .options
        .iter()
        .rev()
        .find(|o| o.section == "Unit" && o.name == "Description")
        .map(|o| o.value.clone());
    UnitRow {
        name: u.name.to_string(),
        hash: u.hash.clone(),
        desired: u.desired.as_str().to_string(),
        current: current_state(u, reports).to_string(),
        global: u.global,
        machine: u.machine.as_ref().map(|m| m.0.clone()),
        machine_ip: u.machine.as_ref().map(|m| ip_of(s, m)),
        why: why.cloned(),
        description,
        states,
    }
}

/// Every unit as a row, by name.
pub fn rows(s: &State, why: &BTreeMap<UnitName, String>) -> Vec<UnitRow> {
    let reports = Reports::all(s);
    s.units
        .values()
        .map(|u| row(s, u, &reports, why.get(&u.name)))
        .collect()
}
