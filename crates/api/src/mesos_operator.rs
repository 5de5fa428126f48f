//! The Mesos v1 operator API's JSON (`POST /api/v1`, and
//! `/api/v1/operator` as pymesos calls it): one call in, one synchronous
//! answer out, `{"type":"GET_X","get_x":{...}}`. Field names are Mesos's
//! (`master.proto`, protobuf JSON, snake_case); the pieces shared with the
//! scheduler API (ids, resources, attributes, framework and master info,
//! task statuses) are [`crate::mesos_v1`]'s. The master converts core state
//! into these by hand.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::mesos::Version;
use crate::mesos_v1::{Attribute, FrameworkInfo, Id, MasterInfo, Resource, TaskStatus};

/// Every call type of a Mesos 1.x master (`master.proto`, `Call.Type`).
/// Any other name is not a call; corral answers the `GET_*` reads below
/// and refuses the rest as not implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallType {
    /// Served: the master answers, so it is healthy.
    GetHealth,
    /// Not served.
    GetFlags,
    /// Served: the version `/version` reports.
    GetVersion,
    /// Not served (`/metrics/snapshot` has the figures).
    GetMetrics,
    /// Not served.
    GetLoggingLevel,
    /// Not served.
    SetLoggingLevel,
    /// Not served (the agents serve `/files/*`).
    ListFiles,
    /// Not served (the agents serve `/files/*`).
    ReadFile,
    /// Served: tasks, executors, frameworks and agents in one answer.
    GetState,
    /// Served: every admitted agent.
    GetAgents,
    /// Served: every framework, connected or removed.
    GetFrameworks,
    /// Served: always empty (command tasks have no executors).
    GetExecutors,
    /// Not served.
    GetOperations,
    /// Served: every task, live and completed.
    GetTasks,
    /// Not served.
    GetRoles,
    /// Not served.
    GetWeights,
    /// Not served.
    UpdateWeights,
    /// Served: the leading master.
    GetMaster,
    /// Not served (the operator event stream).
    Subscribe,
    /// Not served.
    ReserveResources,
    /// Not served.
    UnreserveResources,
    /// Not served.
    CreateVolumes,
    /// Not served.
    DestroyVolumes,
    /// Not served.
    GrowVolume,
    /// Not served.
    ShrinkVolume,
    /// Not served.
    GetMaintenanceStatus,
    /// Not served.
    GetMaintenanceSchedule,
    /// Not served.
    UpdateMaintenanceSchedule,
    /// Not served.
    StartMaintenance,
    /// Not served.
    StopMaintenance,
    /// Not served.
    DrainAgent,
    /// Not served.
    DeactivateAgent,
    /// Not served.
    ReactivateAgent,
    /// Not served.
    GetQuota,
    /// Not served.
    UpdateQuota,
    /// Not served.
    SetQuota,
    /// Not served.
    RemoveQuota,
    /// Not served (`/master/teardown` is).
    Teardown,
    /// Not served.
    MarkAgentGone,
}

impl CallType {
    /// The Mesos name, e.g. `GET_QUOTA`.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// An operator `Call`. Only `type` is read: the calls corral serves take
/// no payload, and the payloads of the others are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    #[serde(rename = "type")]
    pub kind: CallType,
}

/// An operator `Response`: the call's type plus its lower-case payload key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Response {
    GetHealth { get_health: GetHealth },
    GetVersion { get_version: GetVersion },
    GetMaster { get_master: GetMaster },
    GetAgents { get_agents: GetAgents },
    GetFrameworks { get_frameworks: GetFrameworks },
    GetExecutors { get_executors: GetExecutors },
    GetTasks { get_tasks: GetTasks },
    GetState { get_state: GetState },
}

/// `Response.get_health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetHealth {
    pub healthy: bool,
}

/// `Response.get_version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetVersion {
    pub version_info: Version,
}

/// `Response.get_master`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetMaster {
    pub master_info: MasterInfo,
}

/// Mesos's `TimeInfo`: nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeInfo {
    pub nanoseconds: i64,
}

impl TimeInfo {
    /// From milliseconds since the epoch.
    pub fn from_ms(ms: u64) -> TimeInfo {
        TimeInfo {
            nanoseconds: i64::try_from(ms)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000),
        }
    }
}

/// `AgentInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub id: Id,
    pub hostname: String,
    pub port: u16,
    pub resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
}

/// `Response.GetAgents.Agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub agent_info: AgentInfo,
    pub active: bool,
    pub version: String,
    /// `slave(1)@ip:port`.
    pub pid: String,
    pub registered_time: TimeInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    pub total_resources: Vec<Resource>,
    pub allocated_resources: Vec<Resource>,
    pub offered_resources: Vec<Resource>,
}

/// `Response.get_agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetAgents {
    pub agents: Vec<Agent>,
    /// Agents known from the registry but not re-registered; always empty
    /// (the replicated state knows every admitted agent).
    pub recovered_agents: Vec<AgentInfo>,
}

/// `Response.GetFrameworks.Framework`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Framework {
    pub framework_info: FrameworkInfo,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    pub registered_time: TimeInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unregistered_time: Option<TimeInfo>,
    pub allocated_resources: Vec<Resource>,
    pub offered_resources: Vec<Resource>,
}

/// `Response.get_frameworks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetFrameworks {
    pub frameworks: Vec<Framework>,
    /// Torn down or timed out, kept as history.
    pub completed_frameworks: Vec<Framework>,
}

/// `Task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub name: String,
    pub task_id: Id,
    pub framework_id: Id,
    pub agent_id: Id,
    /// `TASK_RUNNING`, ...
    pub state: String,
    pub resources: Vec<Resource>,
    /// Every state it went through, oldest first.
    pub statuses: Vec<TaskStatus>,
}

/// `Response.get_tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetTasks {
    /// Always empty: a task is recorded when it is launched.
    pub pending_tasks: Vec<Task>,
    /// Live tasks (not terminal, not unreachable).
    pub tasks: Vec<Task>,
    /// Tasks whose agent is unreachable (`TASK_UNREACHABLE`).
    pub unreachable_tasks: Vec<Task>,
    /// Tasks in a terminal state.
    pub completed_tasks: Vec<Task>,
    /// Always empty: every task's framework is known.
    pub orphan_tasks: Vec<Task>,
}

/// `Response.get_executors`: always empty, as command tasks run without
/// executors here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GetExecutors {
    pub executors: Vec<Value>,
    pub completed_executors: Vec<Value>,
}

/// `Response.get_state`: the four documents above in one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetState {
    pub get_tasks: GetTasks,
    pub get_executors: GetExecutors,
    pub get_frameworks: GetFrameworks,
    pub get_agents: GetAgents,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_responses_on_the_wire() {
        let c: Call = serde_json::from_str(r#"{"type":"GET_STATE"}"#).unwrap();
        assert_eq!(c.kind, CallType::GetState);
        // Payloads of calls not served are ignored, not refused.
        let c: Call = serde_json::from_str(
            r#"{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":5}}}"#,
        )
        .unwrap();
        assert_eq!(c.kind.name(), "GET_METRICS");
        for bad in [r#"{"type":"NOPE"}"#, r#"{}"#, r#"{"type":3}"#, "nope"] {
            assert!(serde_json::from_str::<Call>(bad).is_err(), "{bad}");
        }
        let r = Response::GetHealth {
            get_health: GetHealth { healthy: true },
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"GET_HEALTH","get_health":{"healthy":true}}"#
        );
        let r = Response::GetExecutors {
            get_executors: GetExecutors::default(),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"type": "GET_EXECUTORS",
                "get_executors": {"executors": [], "completed_executors": []}})
        );
        assert_eq!(TimeInfo::from_ms(1_500).nanoseconds, 1_500_000_000);
    }
}
