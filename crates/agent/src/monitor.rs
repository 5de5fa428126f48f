//! `GET /monitor/statistics` (and `/monitor/statistics.json`) on :5051:
//! Mesos's per-executor resource usage, one entry per running task, with
//! the task's limits and what it uses now (measured by [`crate::usage`]).
//! Each task runs under a command executor in Mesos, whose id is the task's
//! id; corral says the same so Mesos tools read it unchanged.
//!
//! The entry is built by the pure [`entry`]; the handler only gathers the
//! running tasks, one /proc scan and the time. Tasks that are not running
//! (starting, finished, lost) are not listed.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::driver::{StoredTask, TaskState};
use crate::usage::{self, Usage};
use crate::AgentShared;

/// One executor's usage, in Mesos's shape.
// Mesos's shape would belong in corral_api::mesos; it lives here until
// that module grows a monitor section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub executor_id: String,
    pub executor_name: String,
    pub framework_id: String,
    pub source: String,
    pub statistics: Statistics,
}

/// Mesos's `ResourceStatistics`, the fields corral measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    pub cpus_user_time_secs: f64,
    pub cpus_system_time_secs: f64,
    /// Absent when the task has no CPU limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_limit: Option<f64>,
    pub mem_rss_bytes: u64,
    /// Absent when the task has no memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    pub processes: u32,
}

/// The name Mesos gives a command executor:
/// `Command Executor (Task: ID) (Command: sh -c 'COMMAND')`, with commands
/// longer than 15 characters cut to 12 and `...`.
pub fn executor_name(id: &str, command: &str) -> String {
    let shown = if command.chars().count() > 15 {
        format!("{}...", command.chars().take(12).collect::<String>())
    } else {
        command.to_string()
    };
    format!("Command Executor (Task: {id}) (Command: sh -c '{shown}')")
}

/// A running task's entry.
pub fn entry(task: &StoredTask, usage: Usage, timestamp: f64) -> Entry {
    let id = &task.spec.id;
    let limits = task.limits;
    Entry {
        executor_id: id.clone(),
        executor_name: executor_name(id, &task.spec.command),
        // A launch does not say its framework; the master knows it.
        framework_id: String::new(),
        source: id.clone(),
        statistics: Statistics {
            timestamp,
            cpus_user_time_secs: usage.cpus_user_time_secs,
            cpus_system_time_secs: usage.cpus_system_time_secs,
            cpus_limit: (limits.cpus > 0.0).then_some(limits.cpus),
            mem_rss_bytes: usage.mem_rss_bytes,
            mem_limit_bytes: (limits.mem_mb > 0).then(|| limits.mem_bytes()),
            processes: usage.processes,
        },
    }
}

/// Every running task's entry, now.
fn collect(s: &AgentShared) -> Vec<Entry> {
    let running: Vec<(String, u32)> = s
        .driver
        .recover()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(id, st)| match st {
            TaskState::Running { pid } => Some((id, pid)),
            _ => None,
        })
        .collect();
    if running.is_empty() {
        return Vec::new();
    }
    let all = usage::processes();
    let units = usage::Units::of_host();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    running
        .into_iter()
        .filter_map(|(id, pid)| {
            let task = s.driver.task(&id).ok()?;
            let used = usage::task_usage(&all, pid, units)?;
            Some(entry(&task, used, timestamp))
        })
        .collect()
}

/// `GET /monitor/statistics`: a JSON array, one entry per running task.
pub async fn statistics(State(s): State<Arc<AgentShared>>) -> Json<Vec<Entry>> {
    // Reading /proc is blocking file IO: keep it off the async workers.
    let list = tokio::task::spawn_blocking(move || collect(&s))
        .await
        .unwrap_or_default();
    Json(list)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::driver::{Limits, TaskSpec};

    #[test]
    fn names_executors_as_mesos_does() {
        let cases = [
            (
                "t1",
                "sleep 60",
                "Command Executor (Task: t1) (Command: sh -c 'sleep 60')",
            ),
            (
                "t2",
                "echo 123456789a",
                "Command Executor (Task: t2) (Command: sh -c 'echo 123456789a')",
            ),
            (
                "t3",
                "python3 -c 'import time'",
                "Command Executor (Task: t3) (Command: sh -c 'python3 -c '...')",
            ),
            (
                "t4",
                "ééééééééééééééééé",
                "Command Executor (Task: t4) (Command: sh -c 'éééééééééééé...')",
            ),
        ];
        for (id, command, want) in cases {
            assert_eq!(executor_name(id, command), want, "{command}");
        }
    }

    #[test]
    fn entries_carry_limits_only_when_set() {
        let task = |cpus, mem_mb| StoredTask {
            spec: TaskSpec {
                id: "web-1".into(),
                command: "sleep 60".into(),
                env: BTreeMap::new(),
                ..Default::default()
            },
            limits: Limits { cpus, mem_mb },
            cgroup_parent: None,
        };
        let used = Usage {
            cpus_user_time_secs: 1.5,
            cpus_system_time_secs: 0.25,
            mem_rss_bytes: 64 << 20,
            processes: 2,
        };
        let cases = [
            (
                task(0.5, 256),
                serde_json::json!({
                    "executor_id": "web-1",
                    "executor_name": "Command Executor (Task: web-1) (Command: sh -c 'sleep 60')",
                    "framework_id": "",
                    "source": "web-1",
                    "statistics": {
                        "timestamp": 1700000000.5,
                        "cpus_user_time_secs": 1.5,
                        "cpus_system_time_secs": 0.25,
                        "cpus_limit": 0.5,
                        "mem_rss_bytes": 67108864,
                        "mem_limit_bytes": 268435456,
                        "processes": 2,
                    },
                }),
            ),
            (
                task(0.0, 0),
                serde_json::json!({
                    "executor_id": "web-1",
                    "executor_name": "Command Executor (Task: web-1) (Command: sh -c 'sleep 60')",
                    "framework_id": "",
                    "source": "web-1",
                    "statistics": {
                        "timestamp": 1700000000.5,
                        "cpus_user_time_secs": 1.5,
                        "cpus_system_time_secs": 0.25,
                        "mem_rss_bytes": 67108864,
                        "processes": 2,
                    },
                }),
            ),
        ];
        for (task, want) in cases {
            let got = serde_json::to_value(entry(&task, used, 1700000000.5)).unwrap();
            assert_eq!(got, want, "{:?}", task.limits);
        }
    }
}
