//! A task as Marathon shows it (`/v2/tasks`, `/v2/apps/{id}/tasks`, and an
//! app's `tasks`). Keys are exactly those of Marathon's task JSON that
//! marathon-python 0.13.0 accepts.
//!
//! Invariant: `servicePorts` has at least as many entries as `ports`
//! (marathon-python's `list_endpoints` indexes one by the other).

use serde::{Deserialize, Serialize};

use corral_core::app::AppId;
use corral_core::task::{Task, TaskState};

use super::time::iso8601;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// `<app path with / as _>.<suffix>`, e.g. `shop_web.0f3a…`.
    pub id: String,
    pub app_id: String,
    /// The agent's hostname.
    pub host: String,
    /// The agent's id.
    pub slave_id: String,
    /// A Mesos state name, e.g. `TASK_RUNNING`.
    pub state: String,
    pub staged_at: String,
    /// When it first reported TASK_RUNNING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The app version it runs.
    pub version: String,
    /// Host ports.
    pub ports: Vec<u16>,
    pub service_ports: Vec<u16>,
    pub ip_addresses: Vec<IpAddress>,
    /// Only for apps with health checks: one entry per check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_results: Option<Vec<HealthCheckResult>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    pub ip_address: String,
    /// `IPv4` or `IPv6`.
    pub protocol: String,
}

/// One health check's state for one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckResult {
    pub alive: bool,
    pub consecutive_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_cause: Option<String>,
    pub task_id: String,
    /// Marathon's instance id: corral has one task per instance, so the
    /// task id.
    pub instance_id: String,
}

/// What the view of a task needs beyond the task itself (where it runs
/// and what its app gave it).
#[derive(Debug, Clone, Copy)]
pub struct TaskFacts<'a> {
    pub task: &'a Task,
    pub app: &'a AppId,
    pub hostname: &'a str,
    /// The address the task is reached on (its agent's).
    pub ip: &'a str,
    pub ports: &'a [u16],
    /// The app's service ports; host ports fill in where they are missing.
    pub service_ports: &'a [u16],
    /// The app version the task was launched for.
    pub version_ms: u64,
}

/// The task as Marathon shows it; `health` is `None` for apps without
/// health checks (the key is then absent, as in Marathon).
pub fn task_view(f: TaskFacts<'_>, health: Option<Vec<HealthCheckResult>>) -> TaskView {
    let staged = f.task.statuses.first().map_or(0, |s| s.at_ms);
    let started = f
        .task
        .statuses
        .iter()
        .find(|s| s.state == TaskState::Running)
        .map(|s| iso8601(s.at_ms));
    let mut service_ports = f.service_ports.to_vec();
    if service_ports.len() < f.ports.len() {
        service_ports.extend_from_slice(&f.ports[service_ports.len()..]);
    }
    TaskView {
        id: f.task.spec.id.0.clone(),
        app_id: f.app.0.clone(),
        host: f.hostname.to_string(),
        slave_id: f.task.agent.to_string(),
        state: f.task.state.mesos_name().to_string(),
        staged_at: iso8601(staged),
        started_at: started,
        version: iso8601(f.version_ms),
        ports: f.ports.to_vec(),
        service_ports,
        ip_addresses: vec![IpAddress {
            ip_address: f.ip.to_string(),
            protocol: if f.ip.contains(':') { "IPv6" } else { "IPv4" }.to_string(),
        }],
        health_check_results: health,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::marathon::whitelist;
    use corral_core::framework::FrameworkId;
    use corral_core::machine::{MachineId, Resources};
    use corral_core::task::{StatusRecord, TaskId, TaskSpec};
    use serde_json::json;

    pub(crate) fn task(states: &[(TaskState, u64)]) -> Task {
        let statuses: Vec<StatusRecord> = states
            .iter()
            .map(|(state, at_ms)| StatusRecord {
                state: *state,
                at_ms: *at_ms,
                reason: None,
                message: None,
                revision: None,
            })
            .collect();
        Task {
            spec: TaskSpec {
                id: TaskId("shop_web.7d1e".into()),
                name: "web".into(),
                resources: Resources {
                    cpus: 1.0,
                    mem_mb: 128,
                    disk_mb: 0,
                    ports: vec![(31000, 31001)],
                },
                command: "web".into(),
                env: Default::default(),
                ..Default::default()
            },
            framework: FrameworkId("marathon".into()),
            agent: MachineId("m1".into()),
            state: statuses.last().unwrap().state,
            statuses,
            unacked: None,
        }
    }

    #[test]
    fn a_running_task() {
        let t = task(&[(TaskState::Staging, 1000), (TaskState::Running, 2500)]);
        let app = AppId::parse("/shop/web").unwrap();
        let facts = TaskFacts {
            task: &t,
            app: &app,
            hostname: "node-1",
            ip: "127.0.0.101",
            ports: &[31000, 31001],
            service_ports: &[10000],
            version_ms: 500,
        };
        let health = vec![HealthCheckResult {
            alive: true,
            consecutive_failures: 0,
            first_success: Some(iso8601(3000)),
            last_success: Some(iso8601(4000)),
            last_failure: None,
            last_failure_cause: None,
            task_id: "shop_web.7d1e".into(),
            instance_id: "shop_web.7d1e".into(),
        }];
        let got = serde_json::to_value(task_view(facts, Some(health))).unwrap();
        assert_eq!(
            got,
            json!({
                "id": "shop_web.7d1e", "appId": "/shop/web", "host": "node-1", "slaveId": "m1",
                "state": "TASK_RUNNING",
                "stagedAt": "1970-01-01T00:00:01.000Z", "startedAt": "1970-01-01T00:00:02.500Z",
                "version": "1970-01-01T00:00:00.500Z",
                "ports": [31000, 31001], "servicePorts": [10000, 31001],
                "ipAddresses": [{"ipAddress": "127.0.0.101", "protocol": "IPv4"}],
                "healthCheckResults": [{
                    "alive": true, "consecutiveFailures": 0,
                    "firstSuccess": "1970-01-01T00:00:03.000Z", "lastSuccess": "1970-01-01T00:00:04.000Z",
                    "taskId": "shop_web.7d1e", "instanceId": "shop_web.7d1e"
                }]
            })
        );
        whitelist::check(&got, &whitelist::TASK, "task");
        let back: TaskView = serde_json::from_value(got).unwrap();
        assert_eq!(back.service_ports.len(), 2);
    }

    #[test]
    fn a_staging_task_has_no_start_and_no_health_key() {
        let t = task(&[(TaskState::Staging, 1000)]);
        let app = AppId::parse("/shop/web").unwrap();
        let view = task_view(
            TaskFacts {
                task: &t,
                app: &app,
                hostname: "node-1",
                ip: "::1",
                ports: &[],
                service_ports: &[10000],
                version_ms: 0,
            },
            None,
        );
        let got = serde_json::to_value(&view).unwrap();
        assert_eq!(got.get("startedAt"), None);
        assert_eq!(got.get("healthCheckResults"), None);
        assert_eq!(got["state"], "TASK_STAGING");
        assert_eq!(got["ipAddresses"][0]["protocol"], "IPv6");
        assert_eq!(
            got["servicePorts"],
            json!([10000]),
            "extra service ports stay"
        );
        whitelist::check(&got, &whitelist::TASK, "task");
    }
}
