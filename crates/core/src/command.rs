//! The commands written to the Raft log, and what applying one answers.
//!
//! This is a persistent format: every entry ever committed must still decode
//! and apply the same way. Append new variants at the end; never renumber,
//! rename or repurpose one.

use serde::{Deserialize, Serialize};

use crate::app::{AppId, AppSpec};
use crate::framework::{FrameworkId, FrameworkInfo};
use crate::kv::KvEntry;
use crate::machine::{AgentRegistration, MachineId};
use crate::state::units::{DesiredState, UnitRuntime};
use crate::task::{StatusRecord, TaskId, TaskSpec};
use crate::unit::{UnitName, UnitOption};
use std::collections::BTreeMap;

/// One log entry's payload: a command plus the facts apply may not look up
/// itself. `now_ms` is the proposing leader's wall clock in ms since the Unix
/// epoch; apply uses it instead of reading a clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub now_ms: u64,
    pub command: Command,
}

/// Everything that changes the replicated state. One doc line per variant
/// says when it is legal; [`crate::State::apply`] handles each in one match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Admit an agent, or re-admit a known one (re-registration after an agent
    /// restart, a leader change or a stretch of unreachability). Always legal.
    RegisterAgent(AgentRegistration),
    /// The leader stopped hearing an agent's heartbeats. Legal for an admitted
    /// agent; a no-op when it is already unreachable or unknown.
    MarkAgentUnreachable { id: MachineId, reason: String },
    /// An operator removed a machine. Legal for an admitted agent.
    RemoveAgent { id: MachineId },
    /// Create or overwrite a key; with `ttl_ms` it expires `ttl_ms` after
    /// `now_ms`. Key and value must have passed [`crate::kv::validate_key`].
    KvSet {
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    },
    /// Delete a key. Legal whether or not it exists.
    KvDelete { key: String },
    /// The leader saw these keys' TTLs run out. Each key is removed only if it
    /// still expires at or before `now_ms` (it may have been refreshed since).
    KvExpire { keys: Vec<String> },
    /// A framework subscribed: new (an `id` the leader just assigned) or back
    /// (a known id; its info is replaced). Refused for a removed framework.
    RegisterFramework {
        id: FrameworkId,
        info: FrameworkInfo,
    },
    /// A framework was torn down or stayed away past its failover timeout.
    /// Legal for an active framework; its tasks stay until their agents
    /// report them ended (the leader kills them).
    RemoveFramework { id: FrameworkId, reason: String },
    /// The leader accepted an offer: these tasks are assigned to `agent` in
    /// state STAGING. Refused whole if the framework or the agent is not
    /// active, or any task id is already known (a task never runs twice).
    LaunchTasks {
        framework: FrameworkId,
        agent: MachineId,
        tasks: Vec<TaskSpec>,
    },
    /// A task's state was reported: by its agent (`from_agent`), or by the
    /// master for a task it gave up on (LOST, DROPPED). A report from another
    /// agent is refused; repeats and anything after a terminal state change
    /// nothing.
    UpdateTask {
        id: TaskId,
        from_agent: Option<MachineId>,
        status: StatusRecord,
    },
    /// A framework acknowledged a task's status (the status's revision, from
    /// its UPDATE's uuid). Clears the task's pending acknowledgement when it
    /// names the latest status; an older or repeated one changes nothing.
    /// Refused for a task of another framework or an unknown task.
    AcknowledgeTask {
        framework: FrameworkId,
        id: TaskId,
        revision: u64,
    },
    /// Create or change an app: `spec` becomes its definition, at a new
    /// version, and deployment `deployment` moves its instances there. A
    /// change of anything but `instances` is a new configuration (instances
    /// are replaced); otherwise it is a scale. Refused with `Locked` while
    /// another deployment holds the app, unless `force` (that deployment is
    /// then dropped).
    PutApp {
        /// Boxed: an app definition is far larger than any other command.
        spec: Box<AppSpec>,
        deployment: String,
        force: bool,
    },
    /// Replace every instance of an app: a new configuration version with
    /// the same definition. Locks as `PutApp`. Refused for an unknown app.
    RestartApp {
        id: AppId,
        deployment: String,
        force: bool,
    },
    /// Remove an app; deployment `deployment` stops its instances. Locks as
    /// `PutApp`. Refused for an unknown app.
    DeleteApp {
        id: AppId,
        deployment: String,
        force: bool,
    },
    /// A deployment finished (the scheduler saw every instance where it
    /// should be) or was cancelled. Refused for an unknown deployment.
    EndDeployment { id: String, outcome: String },
    /// Create or replace a unit (fleet's submit/PUT): its file as options,
    /// and its desired state. An instance (`web@1.service`) with no options
    /// takes its template's. Refused for a file that does not parse or
    /// whose [X-Fleet] rules are invalid, and for a template that is not
    /// `inactive`. Replacing keeps the unit's placement.
    PutUnit {
        name: UnitName,
        options: Vec<UnitOption>,
        desired: DesiredState,
    },
    /// Change a unit's desired state (load, start, stop, unload). Refused for
    /// an unknown unit and for a template beyond `inactive`; `inactive`
    /// also drops its placement.
    SetUnitDesired {
        name: UnitName,
        desired: DesiredState,
    },
    /// Remove a unit (fleet's destroy). Refused for an unknown unit.
    DestroyUnit { name: UnitName },
    /// The unit engine's plan (leader only): units placed on machines and
    /// units that lose their machine. Stale entries (unit gone, inactive or
    /// global, machine unknown) are skipped.
    PlaceUnits {
        assign: Vec<(UnitName, MachineId)>,
        unassign: Vec<UnitName>,
    },
    /// A machine's unit runner reports every unit it has; replaces what
    /// that machine reported before. Refused for an unknown machine.
    ReportUnits {
        machine: MachineId,
        units: BTreeMap<UnitName, UnitRuntime>,
    },
}

/// Bytes of a key's value that weigh one item (see [`Command::weight`]).
const VALUE_BYTES_PER_ITEM: usize = 512;

impl Command {
    /// Roughly how much log space the command takes, in items: one per
    /// task launched, key expired, unit option, placement or unit
    /// reported, per 512 bytes of a value; an app definition counts 4;
    /// anything else 1. The store bounds its log entries and replication
    /// messages by this, so each crosses the network within a heartbeat.
    pub fn weight(&self) -> usize {
        let items = match self {
            Command::KvSet { value, .. } => 1 + value.len() / VALUE_BYTES_PER_ITEM,
            Command::KvExpire { keys } => keys.len(),
            Command::LaunchTasks { tasks, .. } => tasks.len(),
            Command::PutApp { .. } => 4,
            Command::PutUnit { options, .. } => 1 + options.len(),
            Command::PlaceUnits { assign, unassign } => assign.len() + unassign.len(),
            Command::ReportUnits { units, .. } => units.len(),
            Command::RegisterAgent(_)
            | Command::MarkAgentUnreachable { .. }
            | Command::RemoveAgent { .. }
            | Command::KvDelete { .. }
            | Command::RegisterFramework { .. }
            | Command::RemoveFramework { .. }
            | Command::UpdateTask { .. }
            | Command::AcknowledgeTask { .. }
            | Command::RestartApp { .. }
            | Command::DeleteApp { .. }
            | Command::EndDeployment { .. }
            | Command::SetUnitDesired { .. }
            | Command::DestroyUnit { .. } => 1,
        };
        items.max(1)
    }
}

/// What applying a command answers to the client that proposed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Applied; nothing more to say.
    Done,
    /// An agent was admitted (`reregistered` when it was known before).
    AgentRegistered { id: MachineId, reregistered: bool },
    /// A key was written at `revision`; `prev` is what it replaced.
    KvSet {
        revision: u64,
        prev: Option<KvEntry>,
    },
    /// A delete at `revision`; `prev` is `None` when the key did not exist.
    KvDeleted {
        revision: u64,
        prev: Option<KvEntry>,
    },
    /// These keys expired.
    KvExpired { keys: Vec<String> },
    /// The command was legal to log but not to apply; nothing changed.
    Refused { reason: String },
    /// A framework was registered (`reregistered` when it was known).
    FrameworkRegistered { id: FrameworkId, reregistered: bool },
    /// Tasks were assigned.
    TasksLaunched { count: usize },
    /// An app was written at `version_ms`, moved by `deployment`
    /// (`created` for a new app).
    AppWritten {
        deployment: String,
        version_ms: u64,
        created: bool,
    },
    /// The app is held by these deployments; nothing changed.
    Locked { deployments: Vec<String> },
    /// A status was recorded (`changed` false for a repeat or a late report)
    /// at `revision` (when changed), which its framework acknowledges.
    TaskUpdated {
        changed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<u64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        let kv = |len: usize| Command::KvSet {
            key: "/k".into(),
            value: "x".repeat(len),
            ttl_ms: None,
        };
        let launch = |n: usize| Command::LaunchTasks {
            framework: FrameworkId("f".into()),
            agent: MachineId("a".into()),
            tasks: vec![TaskSpec::default(); n],
        };
        let cases = [
            (kv(100), 1),
            (kv(256 * 1024), 513),
            (launch(100), 100),
            (launch(0), 1),
            (Command::KvExpire { keys: vec![] }, 1),
            (Command::KvDelete { key: "/k".into() }, 1),
        ];
        for (command, want) in cases {
            assert_eq!(command.weight(), want, "{command:?}");
        }
    }
}
