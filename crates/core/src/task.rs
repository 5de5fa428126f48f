//! Tasks as the replicated state remembers them: where they were assigned,
//! what they hold, and the states their agent reported. Only the agent's
//! reports move a task's state (the master writes assignments).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::framework::FrameworkId;
use crate::machine::{MachineId, Resources};

/// A task's id (`TaskID.value`), unique in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub String);

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Mesos's task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    Staging,
    Starting,
    Running,
    Killing,
    Finished,
    Failed,
    Killed,
    Error,
    Lost,
    Dropped,
    Unreachable,
    Gone,
}

impl TaskState {
    /// Terminal states never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
        )
    }

    /// Every state, for lookups by name.
    pub const ALL: [TaskState; 12] = [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Error,
        TaskState::Lost,
        TaskState::Dropped,
        TaskState::Unreachable,
        TaskState::Gone,
    ];

    /// The state a Mesos name (`TASK_RUNNING`) stands for.
    pub fn from_mesos_name(name: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.mesos_name() == name)
    }

    /// The Mesos name, e.g. `TASK_RUNNING`.
    pub fn mesos_name(self) -> &'static str {
        match self {
            TaskState::Staging => "TASK_STAGING",
            TaskState::Starting => "TASK_STARTING",
            TaskState::Running => "TASK_RUNNING",
            TaskState::Killing => "TASK_KILLING",
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
            TaskState::Error => "TASK_ERROR",
            TaskState::Lost => "TASK_LOST",
            TaskState::Dropped => "TASK_DROPPED",
            TaskState::Unreachable => "TASK_UNREACHABLE",
            TaskState::Gone => "TASK_GONE",
        }
    }
}

/// What a framework asked to run (validated by the leader before it is
/// written: resources fit the offer, the id is new, the command is set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: TaskId,
    pub name: String,
    pub resources: Resources,
    /// Run with `/bin/sh -c`.
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// One reported state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub state: TaskState,
    pub at_ms: u64,
    /// Mesos's reason code, e.g. `REASON_COMMAND_EXECUTOR_FAILED`.
    pub reason: Option<String>,
    /// For a human: what happened and what to do.
    pub message: Option<String>,
    /// The revision that recorded it (set by apply; whatever a command
    /// carries here is ignored). Frameworks acknowledge a status by it: it
    /// is the `uuid` of its UPDATE ([`status_uuid`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// A task in the replicated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub spec: TaskSpec,
    pub framework: FrameworkId,
    pub agent: MachineId,
    pub state: TaskState,
    /// Every distinct state it went through, oldest first (at most [`MAX_STATUSES`]).
    pub statuses: Vec<StatusRecord>,
    /// The revision of the latest status its framework has not acknowledged
    /// yet; the leader sends that status again until it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unacked: Option<u64>,
}

impl Task {
    /// The latest status, as its framework should see it.
    pub fn latest(&self) -> Option<&StatusRecord> {
        self.statuses.last()
    }
}

/// The 16 bytes a status update's `uuid` stands for: a tag and the
/// revision that recorded the status (unique in the cluster).
pub fn status_uuid(revision: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(STATUS_UUID_TAG);
    b[8..].copy_from_slice(&revision.to_be_bytes());
    b
}

/// The revision a status update's `uuid` bytes carry, if they are ours.
pub fn status_revision(uuid: &[u8]) -> Option<u64> {
    let (tag, rev) = uuid.split_at_checked(8)?;
    if tag != STATUS_UUID_TAG || rev.len() != 8 {
        return None;
    }
    Some(u64::from_be_bytes(rev.try_into().ok()?))
}

const STATUS_UUID_TAG: &[u8; 8] = b"corral\0\x01";

/// Status history kept per task.
pub const MAX_STATUSES: usize = 16;
