//! fleet's units on the wire between the leader and an agent (issue 5):
//! the leader tells each agent the complete set of units it must have
//! (`PUT /v1/agent/units`, [`UnitsDesired`]) and the agent answers with
//! what systemd would say about each ([`UnitStatus`]).
//!
//! Options travel as fleet's `(section, name, value)` triples; the leader
//! has already expanded the specifiers `%n %N %p %i %I`, the agent expands
//! the machine's own (`%H %m %b`). Nothing here decides anything.

use serde::{Deserialize, Serialize};

/// One `Name=Value` line of a unit file, under its `[Section]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitOption {
    pub section: String,
    pub name: String,
    pub value: String,
}

impl UnitOption {
    pub fn new(section: &str, name: &str, value: &str) -> UnitOption {
        UnitOption {
            section: section.to_string(),
            name: name.to_string(),
            value: value.to_string(),
        }
    }
}

/// What the agent must do with a unit it has: fleet's desired states on a
/// machine (`inactive` units are not sent at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitTarget {
    /// Installed on the machine and supervised, but not started.
    Loaded,
    /// Installed and started.
    Launched,
}

/// One unit the machine must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRun {
    /// The full unit name, e.g. `web@1.service`.
    pub name: String,
    /// The unit file's hash as the leader computed it; a different hash
    /// means a different unit file (the agent replaces the unit).
    pub hash: String,
    pub options: Vec<UnitOption>,
    pub target: UnitTarget,
}

/// `PUT /v1/agent/units`: the COMPLETE set of units this machine must have,
/// from the leader of `epoch` (refused with 409 when an agent has seen a
/// newer epoch). Units the agent has but which are not listed are removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitsDesired {
    pub epoch: u64,
    pub units: Vec<UnitRun>,
}

/// A unit's state on its machine, in systemd's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitStatus {
    pub name: String,
    pub hash: String,
    /// `loaded`, `not-found` or `error` (the unit cannot run here; its
    /// journal says why).
    pub load_state: String,
    /// `active`, `reloading`, `inactive`, `failed`, `activating` or
    /// `deactivating`.
    pub active_state: String,
    /// `running`, `dead`, `start-pre`, `start`, `start-post`, `stop`,
    /// `stop-post`, `failed`, `auto-restart` or `exited`.
    pub sub_state: String,
    /// The main process while there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
    /// When the unit entered its current state (ms since the Unix epoch).
    pub since_ms: u64,
    /// systemd's `Result=` of the last run: `success`, `exit-code`,
    /// `signal`, `core-dump`, `timeout`, `start-limit-hit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Automatic restarts since the unit was last started on purpose.
    pub restarts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let d = UnitsDesired {
            epoch: 3,
            units: vec![UnitRun {
                name: "web@1.service".into(),
                hash: "ab12".into(),
                options: vec![UnitOption::new("Service", "ExecStart", "/bin/true")],
                target: UnitTarget::Launched,
            }],
        };
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"epoch":3,"units":[{"name":"web@1.service","hash":"ab12","options":[{"section":"Service","name":"ExecStart","value":"/bin/true"}],"target":"launched"}]}"#
        );
        assert_eq!(serde_json::from_str::<UnitsDesired>(&json).unwrap(), d);
        assert_eq!(
            serde_json::from_str::<UnitTarget>(r#""loaded""#).unwrap(),
            UnitTarget::Loaded
        );
    }
}
