//! Units (fleet's role) in the replicated state: each unit's file, its
//! desired state and, for a unit that is not global, the machine the
//! engine placed it on; and what each machine's unit runner reports.
//!
//! Invariants:
//! - What should be (file, desired state, placement) changes only through
//!   `PutUnit`, `SetUnitDesired`, `DestroyUnit` and `PlaceUnits`; what is
//!   (systemd-style states) only through `ReportUnits` from the machine
//!   itself.
//! - A template (`web@.service`) is only ever `inactive`; an instance
//!   submitted without options takes its template's.
//! - Global units are never placed here: where they run is derived from
//!   the machines (`unit::global_targets`), so a machine joining costs no
//!   write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::State;
use crate::command::Response;
use crate::event::Event;
use crate::machine::MachineId;
use crate::unit::{Requirements, UnitFile, UnitName, UnitOption};

/// fleet's desired states (`fleetctl submit`/`load`/`start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Known, not placed (submit, unload).
    Inactive,
    /// Placed and loaded, not started (load, stop).
    Loaded,
    /// Placed and started (start).
    Launched,
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Inactive => "inactive",
            DesiredState::Loaded => "loaded",
            DesiredState::Launched => "launched",
        }
    }

    pub fn parse(s: &str) -> Option<DesiredState> {
        match s {
            "inactive" => Some(DesiredState::Inactive),
            "loaded" => Some(DesiredState::Loaded),
            "launched" => Some(DesiredState::Launched),
            _ => None,
        }
    }
}

/// One unit as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub name: UnitName,
    /// The unit file, option by option (fleet's form).
    pub options: Vec<UnitOption>,
    /// SHA-1 of the unit file text, 40 hex characters.
    pub hash: String,
    pub desired: DesiredState,
    /// `Global=true`: runs on every machine that fits; never placed.
    pub global: bool,
    /// Where the engine placed it (non-global units only).
    pub machine: Option<MachineId>,
    pub created_ms: u64,
    /// Revision of the last change to file, desired state or placement.
    pub revision: u64,
}

/// A unit as a machine's runner reports it (systemd's vocabulary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRuntime {
    /// Hash of the file the machine runs.
    pub hash: String,
    /// `loaded`, `not-found`, `error`.
    pub load: String,
    /// `active`, `inactive`, `failed`, `activating`, `deactivating`.
    pub active: String,
    /// `running`, `dead`, `exited`, `start-pre`, `auto-restart`, ...
    pub sub: String,
    pub since_ms: u64,
    #[serde(default)]
    pub main_pid: Option<u32>,
    /// Why it failed (`exit-code`, a load error), if it did.
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub restarts: u32,
}

impl State {
    /// The file a unit `name` would run with `options`: its own, or its
    /// template's when it has none. Errors name what is wrong.
    pub fn unit_file_for(
        &self,
        name: &UnitName,
        options: &[UnitOption],
    ) -> Result<(Vec<UnitOption>, UnitFile), String> {
        let options = if options.is_empty() {
            match name.template().and_then(|t| self.units.get(&t)) {
                Some(t) => t.options.clone(),
                None => {
                    return Err(format!(
                        "unit {name} has no options and no template to take them from; submit its unit file{}",
                        name.template()
                            .map(|t| format!(" or the template {t}"))
                            .unwrap_or_default()
                    ))
                }
            }
        } else {
            options.to_vec()
        };
        let file =
            UnitFile::from_options(options.clone()).map_err(|e| format!("unit {name}: {e}"))?;
        Ok((options, file))
    }

    pub(super) fn put_unit(
        &mut self,
        name: &UnitName,
        options: &[UnitOption],
        desired: DesiredState,
        now: u64,
        rev: u64,
        events: &mut Vec<Event>,
    ) -> Response {
        if name.is_template() && desired != DesiredState::Inactive {
            return Response::Refused {
                reason: format!(
                    "{name} is a template: it can only be submitted (inactive); start its instances, e.g. {}",
                    name.as_str().replacen("@.", "@1.", 1)
                ),
            };
        }
        let (options, file) = match self.unit_file_for(name, options) {
            Ok(f) => f,
            Err(reason) => return Response::Refused { reason },
        };
        let req = match Requirements::of(name, &file) {
            Ok(r) => r,
            Err(e) => {
                return Response::Refused {
                    reason: format!("unit {name}: {e}"),
                }
            }
        };
        let hash = file.hash();
        let unit = match self.units.remove(name) {
            Some(mut u) => {
                u.options = options;
                u.hash = hash;
                u.desired = desired;
                u.global = req.global;
                if u.global {
                    u.machine = None;
                }
                u.revision = rev;
                u
            }
            None => Unit {
                name: name.clone(),
                options,
                hash,
                desired,
                global: req.global,
                machine: None,
                created_ms: now,
                revision: rev,
            },
        };
        self.units.insert(name.clone(), unit);
        events.push(Event::UnitChanged {
            name: name.clone(),
            removed: false,
        });
        Response::Done
    }

    pub(super) fn set_unit_desired(
        &mut self,
        name: &UnitName,
        desired: DesiredState,
        rev: u64,
        events: &mut Vec<Event>,
    ) -> Response {
        match self.units.get_mut(name) {
            None => Response::Refused {
                reason: format!("unit {name} does not exist; submit it first"),
            },
            Some(u) if name.is_template() && desired != DesiredState::Inactive => {
                Response::Refused {
                    reason: format!(
                        "{} is a template: it can only be inactive; start its instances instead",
                        u.name
                    ),
                }
            }
            Some(u) => {
                if u.desired != desired {
                    u.desired = desired;
                    if desired == DesiredState::Inactive {
                        u.machine = None;
                    }
                    u.revision = rev;
                    events.push(Event::UnitChanged {
                        name: name.clone(),
                        removed: false,
                    });
                }
                Response::Done
            }
        }
    }

    pub(super) fn destroy_unit(&mut self, name: &UnitName, events: &mut Vec<Event>) -> Response {
        match self.units.remove(name) {
            Some(_) => {
                events.push(Event::UnitChanged {
                    name: name.clone(),
                    removed: true,
                });
                Response::Done
            }
            None => Response::Refused {
                reason: format!("unit {name} does not exist"),
            },
        }
    }

    /// The engine's plan. Assignments of units that are gone, inactive,
    /// global, or to machines that are not admitted are skipped (the plan
    /// was made on an older state; the next round corrects it).
    pub(super) fn place_units(
        &mut self,
        assign: &[(UnitName, MachineId)],
        unassign: &[UnitName],
        rev: u64,
        events: &mut Vec<Event>,
    ) -> Response {
        for name in unassign {
            if let Some(u) = self.units.get_mut(name) {
                if u.machine.take().is_some() {
                    u.revision = rev;
                    events.push(Event::UnitChanged {
                        name: name.clone(),
                        removed: false,
                    });
                }
            }
        }
        for (name, machine) in assign {
            if !self.agents.contains_key(machine) {
                continue;
            }
            if let Some(u) = self.units.get_mut(name) {
                if u.global
                    || u.desired == DesiredState::Inactive
                    || u.machine.as_ref() == Some(machine)
                {
                    continue;
                }
                u.machine = Some(machine.clone());
                u.revision = rev;
                events.push(Event::UnitChanged {
                    name: name.clone(),
                    removed: false,
                });
            }
        }
        Response::Done
    }

    /// A machine's full report replaces what it reported before.
    pub(super) fn report_units(
        &mut self,
        machine: &MachineId,
        units: &BTreeMap<UnitName, UnitRuntime>,
        events: &mut Vec<Event>,
    ) -> Response {
        if !self.agents.contains_key(machine) {
            return Response::Refused {
                reason: format!("machine {machine} is not in the cluster"),
            };
        }
        if self.unit_states.get(machine) == Some(units) {
            return Response::Done;
        }
        if units.is_empty() {
            self.unit_states.remove(machine);
        } else {
            self.unit_states.insert(machine.clone(), units.clone());
        }
        events.push(Event::UnitStatesReported {
            machine: machine.clone(),
        });
        Response::Done
    }
}
