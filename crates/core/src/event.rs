//! What changed when a command applied. The store's shell publishes these to
//! watchers (`corral kv watch`); apply only returns them.

use serde::{Deserialize, Serialize};

use crate::app::AppId;
use crate::framework::FrameworkId;
use crate::kv::KvEntry;
use crate::machine::MachineId;
use crate::task::{TaskId, TaskState};
use crate::unit::UnitName;

/// One observable change, in log order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A key was created or overwritten.
    KvPut { key: String, entry: KvEntry },
    /// A key was deleted (`expired` when its TTL ran out).
    KvDelete {
        key: String,
        revision: u64,
        expired: bool,
    },
    /// An agent was admitted for the first time.
    AgentAdmitted { id: MachineId },
    /// A known agent registered again.
    AgentReregistered { id: MachineId },
    /// An agent stopped heartbeating.
    AgentUnreachable { id: MachineId },
    /// An agent was removed.
    AgentRemoved { id: MachineId },
    /// A framework was registered or re-registered.
    FrameworkRegistered { id: FrameworkId },
    /// A framework was removed.
    FrameworkRemoved { id: FrameworkId },
    /// A task was assigned to an agent (the leader now sends it there).
    TaskLaunched {
        id: TaskId,
        framework: FrameworkId,
        agent: MachineId,
    },
    /// A task's state changed (the framework is told).
    TaskUpdated {
        id: TaskId,
        framework: FrameworkId,
        state: TaskState,
    },
    /// An app was created, changed or removed.
    AppChanged { id: AppId, removed: bool },
    /// A deployment started.
    DeploymentStarted { id: String, apps: Vec<AppId> },
    /// A deployment ended (`outcome`: finished, cancelled, replaced by a forced one).
    DeploymentEnded { id: String, outcome: String },
    /// A unit was submitted, changed (file, desired state, placement) or
    /// destroyed (`removed`).
    UnitChanged { name: UnitName, removed: bool },
    /// A machine reported its units' states (and they differ from before).
    UnitStatesReported { machine: MachineId },
}

impl Event {
    /// The key this event is about, if it is a kv event.
    pub fn kv_key(&self) -> Option<&str> {
        match self {
            Event::KvPut { key, .. } | Event::KvDelete { key, .. } => Some(key),
            _ => None,
        }
    }
}
