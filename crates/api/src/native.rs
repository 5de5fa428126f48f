//! corral's own JSON API (`/v1/...` on :5050 of every server).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An error body: a stable `code`, a human `message` saying what to do, and
/// the offending `field` when one is to blame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// One server (Raft member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    pub id: u64,
    /// `host:port` of the master API.
    pub api_addr: String,
    pub raft_addr: String,
    pub voter: bool,
    pub leader: bool,
}

/// A machine's resources as offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcesView {
    pub cpus: f64,
    pub mem_mb: u64,
    pub disk_mb: u64,
    /// Port ranges as `31000-32000[,…]`.
    pub ports: String,
}

/// One machine (every machine runs an agent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineView {
    pub id: String,
    pub hostname: String,
    pub ip: String,
    pub agent_port: u16,
    pub metadata: BTreeMap<String, String>,
    /// Raft id when the machine is a server.
    pub server_id: Option<u64>,
    /// True when this machine's server leads.
    pub leader: bool,
    /// `active` or `unreachable`.
    pub status: String,
    pub resources: ResourcesView,
    pub registered_at_ms: u64,
    pub reregistered_at_ms: u64,
    pub unreachable_since_ms: Option<u64>,
    pub unreachable_reason: Option<String>,
    pub version: String,
}

/// `GET /v1/cluster`: who leads, the servers and the machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The server answering.
    pub answered_by: u64,
    pub leader: Option<ServerView>,
    /// Current Raft term (the fencing epoch).
    pub term: u64,
    /// Last applied log index on the answering server.
    pub revision: u64,
    pub servers: Vec<ServerView>,
    pub machines: Vec<MachineView>,
}

/// `PUT /v1/kv/KEY` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvPutBody {
    pub value: String,
    /// Seconds until the key expires; absent = never.
    #[serde(default)]
    pub ttl: Option<u64>,
}

/// One key as returned by get/list/set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvNode {
    pub key: String,
    pub value: String,
    pub create_revision: u64,
    pub mod_revision: u64,
    /// Expiry in ms since the epoch (leader's clock), if the key has a TTL.
    pub expires_at_ms: Option<u64>,
}

/// `GET /v1/kv?prefix=P`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvList {
    pub revision: u64,
    pub nodes: Vec<KvNode>,
}

/// Answer to a set or delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvWriteResult {
    pub revision: u64,
    pub prev: Option<KvNode>,
}

/// One line of `GET /v1/watch?prefix=P` (newline-delimited JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    pub revision: u64,
    /// `put`, `delete` or `expire`.
    pub action: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `POST /v1/agents/register` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// The leader's term: the fencing epoch the agent must record.
    pub epoch: u64,
    pub leader_id: u64,
    pub reregistered: bool,
    /// How often the leader expects heartbeats.
    pub heartbeat_interval_ms: u64,
}

/// `POST /v1/agents/heartbeat` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub id: String,
    /// The epoch the agent registered under.
    pub epoch: u64,
}

/// `POST /v1/agents/heartbeat` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub epoch: u64,
    /// False when the leader does not count the agent as admitted and active
    /// under this epoch: the agent must register again.
    pub admitted: bool,
}

/// `POST /v1/servers/join` body: a fresh server asks to become a voter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub id: u64,
    pub raft_addr: String,
    pub api_addr: String,
}

/// A message from the leading master to an agent (`POST /v1/agent/command`
/// on :5051). Every one carries the sender's epoch; agents refuse older ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCommandEnvelope {
    pub epoch: u64,
    pub leader_id: u64,
    pub command: AgentCommand,
}

/// What a leader can tell an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentCommand {
    /// Check the agent listens and accepts this leader; changes nothing.
    Ping,
    /// Register again with the leader (e.g. the leader lost track of it).
    Reregister,
    /// Start these tasks (each refused if its id already ran on this
    /// machine). One command for all the tasks of one ACCEPT: a launch of
    /// thousands is one call per agent, not one per task.
    LaunchTasks { tasks: Vec<TaskLaunch> },
    /// Stop these tasks: SIGTERM, then SIGKILL after `grace_ms` (each
    /// refused if it is unknown here).
    KillTasks { ids: Vec<String>, grace_ms: u64 },
}

/// A task to run on an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskLaunch {
    pub id: String,
    /// Run with `/bin/sh -c`.
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// CPU shares the task may use (cgroups v2 `cpu.max`); 0 = no limit.
    #[serde(default)]
    pub cpus: f64,
    /// Memory in MB (MiB, as Mesos counts) the task may use; 0 = no limit.
    #[serde(default)]
    pub mem_mb: u64,
    /// Fetched into the sandbox, in order, before the command starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<FetchUri>,
    /// Run as this user (the agent must run as root to switch); none: as
    /// the agent's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `cpus` is never NaN: JSON cannot carry one, so equality is total here,
/// and the commands holding a launch keep their `Eq`.
impl Eq for TaskLaunch {}

/// One file an agent fetches into a task's sandbox (checked by the
/// leader: `file://`, an absolute path or `http://`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchUri {
    pub uri: String,
    /// Mode 0755 once fetched.
    #[serde(default)]
    pub executable: bool,
    /// Unpack it into the sandbox if it is an archive the agent knows.
    #[serde(default)]
    pub extract: bool,
    /// Accepted and ignored (no fetcher cache).
    #[serde(default)]
    pub cache: bool,
    /// Its path in the sandbox; none: the URI's last path segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

impl From<&corral_core::task::FetchUri> for FetchUri {
    fn from(f: &corral_core::task::FetchUri) -> FetchUri {
        FetchUri {
            uri: f.uri.clone(),
            executable: f.executable,
            extract: f.extract,
            cache: f.cache,
            output_file: f.output_file.clone(),
        }
    }
}

/// A task as its agent sees it (`GET /v1/agent/tasks` on :5051).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTaskView {
    pub id: String,
    /// `starting`, `running`, `finished` or `lost`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Exit status, when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal that ended it, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The task's sandbox directory on the agent (for `/files/read`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// Agent's answer to a command it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCommandAck {
    /// The highest epoch the agent has seen.
    pub epoch: u64,
    /// The tasks of a launch or kill the agent refused, each with why; the
    /// others were done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<TaskRefusal>,
}

/// One task of a command an agent refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRefusal {
    pub id: String,
    /// Machine-readable: `duplicate_task`, `unknown_task`, `bad_task_id`,
    /// `bad_request`, `driver`.
    pub code: String,
    pub message: String,
    /// The field at fault, e.g. `task.cpus`, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `GET /v1/agent/state` on :5051: what the agent knows about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStateView {
    pub id: String,
    pub hostname: String,
    pub ip: String,
    pub epoch: u64,
    pub leader_id: Option<u64>,
    pub registered: bool,
    pub resources: ResourcesView,
    pub metadata: BTreeMap<String, String>,
}

/// Renders port ranges as `31000-32000,33000-33100`.
pub fn ports_to_string(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One task state an agent reports to the leader (in a [`TaskStatusBatch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusReport {
    pub agent_id: String,
    pub task_id: String,
    /// Mesos state name, e.g. `TASK_RUNNING`.
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /v1/agents/statuses` body: an agent's pending reports in one call
/// (at most [`MAX_STATUS_BATCH`]), in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusBatch {
    pub reports: Vec<TaskStatusReport>,
}

/// Most reports in one [`TaskStatusBatch`].
pub const MAX_STATUS_BATCH: usize = 1000;

/// Answer to a [`TaskStatusBatch`]: `recorded[i]` is true once `reports[i]`
/// is committed (now or before), false when the leader refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusBatchAck {
    pub recorded: Vec<bool>,
}

// ---------------------------------------------------------------------
// Checks run by an agent for the leader (`POST /v1/agent/check` on :5051):
// Marathon's COMMAND and HTTPS health checks and HTTPS readiness checks,
// run on the task's machine as Mesos's executor runs them. The agent
// answers facts ([`AgentCheckResult`]); the leader decides what they mean.
// ---------------------------------------------------------------------

/// `POST /v1/agent/check` body. Carries the leader's epoch like every
/// leader→agent message; an agent refuses older ones (409).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCheckRequest {
    pub epoch: u64,
    pub leader_id: u64,
    pub check: AgentCheck,
}

/// What the agent is asked to run now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentCheck {
    /// `/bin/sh -c command` in task `task_id`'s sandbox with the task's
    /// environment; its whole process group is killed after `timeout_ms`.
    /// Legal for a task with a sandbox on this agent (else 404).
    Command {
        task_id: String,
        command: String,
        timeout_ms: u64,
    },
    /// GET `url` (`https://...`) with `curl -k` (certificates are not
    /// verified, as in Marathon) within `timeout_ms`; with `keep_body`
    /// the answer also carries the content type and body (readiness).
    Https {
        url: String,
        timeout_ms: u64,
        #[serde(default)]
        keep_body: bool,
    },
}

/// What running an [`AgentCheck`] gave: facts, not a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AgentCheckResult {
    /// The command exited with `code`; `last_line` is the last non-empty
    /// line it wrote (stdout and stderr together).
    Exited { code: i32, last_line: String },
    /// The command was ended by `signal`.
    Signaled { signal: i32, last_line: String },
    /// The command ran past its timeout; its process group was killed.
    TimedOut { timeout_ms: u64, last_line: String },
    /// The command could not be started (e.g. the sandbox is gone).
    NotStarted { reason: String },
    /// The HTTPS server answered (`content_type` and `body` only with
    /// `keep_body`).
    HttpAnswer {
        status: u16,
        #[serde(default)]
        content_type: String,
        #[serde(default)]
        body: String,
    },
    /// curl got no answer: its exit code and its error message.
    HttpFailed { curl_exit: i32, message: String },
    /// curl is not installed on the agent.
    CurlMissing,
}
