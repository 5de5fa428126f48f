//! Running tasks on this machine. A driver starts a task in a sandbox,
//! reports its state, kills it, and finds its tasks again after an agent
//! restart. [`process::ProcessDriver`] runs shell commands under a
//! per-task supervisor (`corral supervise`); a Docker driver comes later and
//! must pass the same conformance suite (crates/corral/tests/driver.rs).

pub mod files;
pub mod process;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What to run. Stored as `task.json` in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Unique on this machine; also the sandbox directory's name.
    pub id: String,
    /// Run with `/bin/sh -c`.
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// How a task ended. Stored as `exit.json` in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Exit {
    /// The command exited with this status.
    Exited { code: i32 },
    /// The command was ended by this signal (e.g. 15 after a kill).
    Signaled { signal: i32 },
    /// The supervisor could not run the task.
    Failed { message: String },
}

impl Exit {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .unwrap_or_else(|_| b"{\"how\":\"failed\",\"message\":\"unencodable\"}".to_vec())
    }
}

/// A task's state as the driver observes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// The supervisor is starting it.
    Starting,
    /// The task's process group is alive.
    Running { pid: u32 },
    /// It ended; how.
    Finished(Exit),
    /// Neither running nor finished: the supervisor died without a word.
    Lost { reason: String },
}

/// Why a driver call failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(
        "task id {0:?} is not usable as a sandbox name: use letters, digits, '.', '_' and '-'"
    )]
    BadId(String),
    #[error("task {0} already has a sandbox on this machine; task ids must be unique")]
    Duplicate(String),
    #[error("no task {0} on this machine")]
    Unknown(String),
    #[error("{0}")]
    Io(String),
}

/// True if `id` can name a sandbox directory safely.
pub fn valid_task_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}
