//! Running tasks on this machine. A driver starts a task in a sandbox,
//! reports its state, kills it, and finds its tasks again after an agent
//! restart. [`process::ProcessDriver`] runs shell commands under a
//! per-task supervisor (`corral supervise`), which fetches the task's URIs
//! first (`crate::fetch`) and runs it as the user it names ([`user`]); a
//! Docker driver comes later and must pass the same conformance suite
//! (crates/corral/tests/driver.rs).

pub mod files;
pub mod process;
pub mod user;

use std::collections::BTreeMap;
use std::path::PathBuf;

use corral_api::native::FetchUri;
use serde::{Deserialize, Serialize};

/// What to run. Stored as `task.json` in the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Unique on this machine; also the sandbox directory's name.
    pub id: String,
    /// Run with `/bin/sh -c`.
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Fetched into the sandbox by the supervisor before the command
    /// starts (`crate::fetch`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<FetchUri>,
    /// Run the fetch and the command as this user (`crate::supervise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A task's resource limits; 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU shares.
    #[serde(default)]
    pub cpus: f64,
    /// Memory in MB (MiB, as Mesos counts).
    #[serde(default)]
    pub mem_mb: u64,
}

impl Limits {
    /// The memory limit in bytes (0: none).
    pub fn mem_bytes(&self) -> u64 {
        self.mem_mb.saturating_mul(1024 * 1024)
    }
}

/// What `task.json` holds: the spec, its limits, and where the supervisor
/// enforces them. A `task.json` written before limits existed reads as no
/// limits, not enforced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTask {
    #[serde(flatten)]
    pub spec: TaskSpec,
    #[serde(default)]
    pub limits: Limits,
    /// The cgroup v2 directory under which the supervisor makes the task's
    /// cgroup (see `crate::cgroup`); none: limits are only measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<PathBuf>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_json_keeps_limits_and_reads_old_files() {
        let cases = [
            (
                "before limits existed",
                r#"{"id":"web-1","command":"sleep 1","env":{"A":"1"}}"#,
                Limits::default(),
                None,
            ),
            (
                "limits, measured only",
                r#"{"id":"web-1","command":"sleep 1","env":{"A":"1"},
                    "limits":{"cpus":0.5,"mem_mb":256}}"#,
                Limits {
                    cpus: 0.5,
                    mem_mb: 256,
                },
                None,
            ),
            (
                "limits, enforced",
                r#"{"id":"web-1","command":"sleep 1","env":{"A":"1"},
                    "limits":{"cpus":2.0,"mem_mb":0},"cgroup_parent":"/sys/fs/cgroup/corral"}"#,
                Limits {
                    cpus: 2.0,
                    mem_mb: 0,
                },
                Some(PathBuf::from("/sys/fs/cgroup/corral")),
            ),
        ];
        for (name, json, limits, cgroup_parent) in cases {
            let t: StoredTask = serde_json::from_str(json).expect(name);
            let want = StoredTask {
                spec: TaskSpec {
                    id: "web-1".into(),
                    command: "sleep 1".into(),
                    env: BTreeMap::from([("A".to_string(), "1".to_string())]),
                    ..Default::default()
                },
                limits,
                cgroup_parent,
            };
            assert_eq!(t, want, "{name}");
            let again: StoredTask =
                serde_json::from_slice(&serde_json::to_vec(&t).unwrap()).unwrap();
            assert_eq!(again, want, "{name}: round trip");
            let spec: TaskSpec = serde_json::from_str(json).unwrap();
            assert_eq!(spec, want.spec, "{name}: still a TaskSpec");
        }
        assert_eq!(
            Limits {
                cpus: 0.0,
                mem_mb: 256
            }
            .mem_bytes(),
            256 << 20
        );
    }
}
