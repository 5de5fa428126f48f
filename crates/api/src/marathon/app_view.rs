//! An app as Marathon's `GET /v2/apps[/{id}]` shows it ([`AppView`]), and
//! the `embed=` parameters that choose what comes with it ([`Embed`]).
//!
//! Invariant: [`AppView`] serialises only keys marathon-python 0.13.0's
//! `MarathonApp` accepts — never `tty`, `check`, `resourceLimits`,
//! `executorResources` and the like — and timestamps end in `Z`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use corral_core::app::{App, AppId, AppSpec, HealthProtocol, KillSelection};
use corral_core::task::Task;

use super::error::DeploymentRef;
use super::task::TaskView;
use super::time::iso8601;

/// The app JSON. Field names are Marathon's (`mem`, not `memMb`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub gpus: u32,
    pub instances: u32,
    /// Always `""`: the command executor.
    pub executor: String,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Marathon's `[field, OPERATOR, value?]` lists.
    pub constraints: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_resource_roles: Vec<String>,
    /// The deprecated form of `portDefinitions` (their port numbers), which
    /// older tools still read.
    pub ports: Vec<u16>,
    pub port_definitions: Vec<PortDefinitionView>,
    pub require_ports: bool,
    pub health_checks: Vec<HealthCheckView>,
    pub readiness_checks: Vec<ReadinessCheckView>,
    pub dependencies: Vec<String>,
    pub upgrade_strategy: UpgradeStrategyView,
    pub backoff_seconds: f64,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: f64,
    pub fetch: Vec<FetchView>,
    /// `YOUNGEST_FIRST` or `OLDEST_FIRST`.
    pub kill_selection: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<u32>,
    pub version: String,
    pub version_info: VersionInfo,
    // What `embed` chose (absent keys otherwise, as in Marathon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_staged: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_running: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_healthy: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_unhealthy: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<Vec<DeploymentRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task_failure: Option<LastTaskFailure>,
    /// With `embed=...readiness`: the readiness check results of the
    /// instances the app's running deployment started (`[]` without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_check_results: Option<Vec<ReadinessCheckResultView>>,
    /// With `embed=app.waiting` (corral's own; Marathon has no such key,
    /// so marathon-python, which never asks for it, never sees it): why
    /// the app's next instances have no place, while they have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<WaitingView>,
}

/// Why an app waits for a place (`embed=app.waiting`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingView {
    /// How many instances wait.
    pub count: u32,
    /// Since when (ISO-8601).
    pub since: String,
    /// The reason, per agent class ("3 agents lack 0.5 cpus, ..."); absent
    /// while no offer has been looked at for it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One readiness check's result for one instance (Marathon's
/// `ReadinessCheckResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheckResultView {
    /// The check's `name`.
    pub name: String,
    pub task_id: String,
    pub ready: bool,
    /// The latest answer, only with `preserveLastResponse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_response: Option<HttpResponseView>,
}

/// An answer to a readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponseView {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinitionView {
    pub port: u16,
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckView {
    /// `HTTP`, `HTTPS`, `TCP` or `COMMAND` (a `MESOS_*` check reads back
    /// as the protocol it checks with).
    pub protocol: String,
    /// HTTP(S) checks only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Unless `port` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// COMMAND checks only: `{"value": "<shell>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandView>,
    pub grace_period_seconds: u32,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub max_consecutive_failures: u32,
    /// Marathon's fixed 15 (corral does not delay the first check).
    pub delay_seconds: u32,
    pub ignore_http1xx: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandView {
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheckView {
    pub name: String,
    pub protocol: String,
    pub path: String,
    pub port_name: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub http_status_codes_for_ready: Vec<u16>,
    pub preserve_last_response: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategyView {
    pub minimum_health_capacity: f64,
    pub maximum_over_capacity: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchView {
    pub uri: String,
    pub extract: bool,
    pub executable: bool,
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub last_scaling_at: String,
    pub last_config_change_at: String,
}

/// The app's most recent failed task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastTaskFailure {
    pub app_id: String,
    pub host: String,
    pub message: String,
    /// A Mesos state name, e.g. `TASK_FAILED`.
    pub state: String,
    pub task_id: String,
    pub instance_id: String,
    pub slave_id: String,
    pub timestamp: String,
    pub version: String,
}

impl LastTaskFailure {
    /// The failure `task` (of `app`, on `host`, launched for `version_ms`)
    /// ended with: its latest status.
    pub fn of(task: &Task, app: &AppId, host: &str, version_ms: u64) -> LastTaskFailure {
        let last = task.latest();
        LastTaskFailure {
            app_id: app.0.clone(),
            host: host.to_string(),
            message: last
                .and_then(|s| s.message.clone().or_else(|| s.reason.clone()))
                .unwrap_or_default(),
            state: task.state.mesos_name().to_string(),
            task_id: task.spec.id.0.clone(),
            instance_id: task.spec.id.0.clone(),
            slave_id: task.agent.to_string(),
            timestamp: iso8601(last.map_or(0, |s| s.at_ms)),
            version: iso8601(version_ms),
        }
    }
}

/// Task counts by state (`tasksStaged`, `tasksRunning`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub staged: u32,
    pub running: u32,
    pub healthy: u32,
    pub unhealthy: u32,
}

/// What comes with an app (`embed=` values; InfoEmbedResolver's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Embed {
    pub tasks: bool,
    pub counts: bool,
    pub deployments: bool,
    pub readiness: bool,
    pub last_task_failure: bool,
    /// Accepted; corral shows no task statistics yet.
    pub task_stats: bool,
    /// corral's own: why instances wait for a place ([`WaitingView`]).
    pub waiting: bool,
}

impl Embed {
    /// Parses repeated `embed=` values. The prefixes `group.apps.`, `apps.`,
    /// `app.` or none are all accepted; `tasks` also embeds deployments,
    /// the deprecated `failures` means tasks, lastTaskFailure and
    /// deployments. Unknown values are ignored.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Embed {
        let mut e = Embed::default();
        for v in values {
            let name = ["group.apps.", "apps.", "app."]
                .iter()
                .find_map(|p| v.strip_prefix(p))
                .unwrap_or(v);
            match name {
                "tasks" => {
                    e.tasks = true;
                    e.deployments = true;
                }
                "deployments" => e.deployments = true,
                "counts" => e.counts = true,
                "readiness" => e.readiness = true,
                "lastTaskFailure" => e.last_task_failure = true,
                "taskStats" => e.task_stats = true,
                "waiting" => e.waiting = true,
                "failures" => {
                    e.tasks = true;
                    e.last_task_failure = true;
                    e.deployments = true;
                }
                _ => {}
            }
        }
        e
    }

    /// `GET /v2/apps`: counts and deployments always, plus what was asked.
    pub fn for_list<'a>(values: impl IntoIterator<Item = &'a str>) -> Embed {
        Embed {
            counts: true,
            deployments: true,
            ..Embed::parse(values)
        }
    }

    /// `GET /v2/apps/{id}` (and the body of `POST /v2/apps`): tasks, counts,
    /// deployments and lastTaskFailure always, plus what was asked.
    pub fn for_app<'a>(values: impl IntoIterator<Item = &'a str>) -> Embed {
        Embed {
            tasks: true,
            counts: true,
            deployments: true,
            last_task_failure: true,
            ..Embed::parse(values)
        }
    }
}

/// A definition with nothing embedded: the bare app of
/// `GET /v2/apps/{id}/versions/{v}`, of deployment plans and of events.
/// Both `versionInfo` times are the version's.
pub fn definition_view(spec: &AppSpec, version_ms: u64) -> AppView {
    AppView {
        id: spec.id.0.clone(),
        cmd: spec.cmd.clone(),
        args: spec.args.clone(),
        user: spec.user.clone(),
        cpus: spec.cpus,
        mem: spec.mem_mb,
        disk: spec.disk_mb,
        gpus: 0,
        instances: spec.instances,
        executor: String::new(),
        env: spec.env.clone(),
        labels: spec.labels.clone(),
        constraints: spec.constraints.iter().map(|c| c.parts()).collect(),
        accepted_resource_roles: spec.accepted_resource_roles.clone(),
        ports: spec.port_definitions.iter().map(|d| d.port).collect(),
        port_definitions: spec
            .port_definitions
            .iter()
            .map(|d| PortDefinitionView {
                port: d.port,
                protocol: d.protocol.clone(),
                name: d.name.clone(),
                labels: d.labels.clone(),
            })
            .collect(),
        require_ports: spec.require_ports,
        health_checks: spec
            .health_checks
            .iter()
            .map(|hc| {
                let http = matches!(hc.protocol, HealthProtocol::Http | HealthProtocol::Https);
                let uses_port = hc.protocol != HealthProtocol::Command;
                HealthCheckView {
                    protocol: protocol_name(&hc.protocol).to_string(),
                    path: http.then(|| hc.path.clone()),
                    port_index: (uses_port && hc.port.is_none()).then_some(hc.port_index),
                    port: hc.port.filter(|_| uses_port),
                    command: hc.command.clone().map(|value| CommandView { value }),
                    grace_period_seconds: hc.grace_period_seconds,
                    interval_seconds: hc.interval_seconds,
                    timeout_seconds: hc.timeout_seconds,
                    max_consecutive_failures: hc.max_consecutive_failures,
                    delay_seconds: 15,
                    ignore_http1xx: hc.ignore_http1xx,
                }
            })
            .collect(),
        readiness_checks: spec
            .readiness_checks
            .iter()
            .map(|rc| ReadinessCheckView {
                name: rc.name.clone(),
                protocol: protocol_name(&rc.protocol).to_string(),
                path: rc.path.clone(),
                port_name: rc.port_name.clone(),
                interval_seconds: rc.interval_seconds,
                timeout_seconds: rc.timeout_seconds,
                http_status_codes_for_ready: rc.http_status_codes_for_ready.clone(),
                preserve_last_response: rc.preserve_last_response,
            })
            .collect(),
        dependencies: spec.dependencies.iter().map(|d| d.0.clone()).collect(),
        upgrade_strategy: UpgradeStrategyView {
            minimum_health_capacity: spec.upgrade_strategy.minimum_health_capacity,
            maximum_over_capacity: spec.upgrade_strategy.maximum_over_capacity,
        },
        backoff_seconds: spec.backoff_seconds,
        backoff_factor: spec.backoff_factor,
        max_launch_delay_seconds: spec.max_launch_delay_seconds,
        fetch: spec
            .fetch
            .iter()
            .map(|f| FetchView {
                uri: f.uri.clone(),
                extract: f.extract,
                executable: f.executable,
                cache: f.cache,
                dest_path: f.dest_path.clone(),
            })
            .collect(),
        kill_selection: match spec.kill_selection {
            KillSelection::YoungestFirst => "YOUNGEST_FIRST",
            KillSelection::OldestFirst => "OLDEST_FIRST",
        }
        .to_string(),
        task_kill_grace_period_seconds: spec.task_kill_grace_period_seconds,
        version: iso8601(version_ms),
        version_info: VersionInfo {
            last_scaling_at: iso8601(version_ms),
            last_config_change_at: iso8601(version_ms),
        },
        tasks_staged: None,
        tasks_running: None,
        tasks_healthy: None,
        tasks_unhealthy: None,
        deployments: None,
        tasks: None,
        last_task_failure: None,
        readiness_check_results: None,
        waiting: None,
    }
}

/// The app with what `embed` asks for: `tasks` (all of them), `counts`,
/// the ids of the `deployments` changing it, and its last task failure.
/// `readinessCheckResults` comes as `[]`; [`with_readiness`] fills it.
pub fn app_view(
    app: &App,
    embed: &Embed,
    tasks: Vec<TaskView>,
    counts: Counts,
    deployments: Vec<String>,
    last_failure: Option<LastTaskFailure>,
) -> AppView {
    let mut v = definition_view(&app.spec, app.version_ms);
    v.version_info = VersionInfo {
        last_scaling_at: iso8601(app.scaled_at_ms),
        last_config_change_at: iso8601(app.config_version_ms),
    };
    if embed.counts {
        v.tasks_staged = Some(counts.staged);
        v.tasks_running = Some(counts.running);
        v.tasks_healthy = Some(counts.healthy);
        v.tasks_unhealthy = Some(counts.unhealthy);
    }
    if embed.deployments {
        v.deployments = Some(
            deployments
                .into_iter()
                .map(|id| DeploymentRef { id })
                .collect(),
        );
    }
    if embed.tasks {
        v.tasks = Some(tasks);
    }
    if embed.last_task_failure {
        v.last_task_failure = last_failure;
    }
    if embed.readiness {
        v.readiness_check_results = Some(Vec::new());
    }
    v
}

/// `v` with `results` as its `readinessCheckResults`, if `embed` asks for
/// them.
pub fn with_readiness(
    mut v: AppView,
    embed: &Embed,
    results: Vec<ReadinessCheckResultView>,
) -> AppView {
    if embed.readiness {
        v.readiness_check_results = Some(results);
    }
    v
}

/// Adds `waiting` when `embed` asks for it and instances wait.
pub fn with_waiting(mut v: AppView, embed: &Embed, waiting: Option<WaitingView>) -> AppView {
    if embed.waiting {
        v.waiting = waiting;
    }
    v
}

fn protocol_name(p: &HealthProtocol) -> &'static str {
    match p {
        HealthProtocol::Http => "HTTP",
        HealthProtocol::Https => "HTTPS",
        HealthProtocol::Tcp => "TCP",
        HealthProtocol::Command => "COMMAND",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marathon::app::{to_spec, AppRequest};
    use crate::marathon::task::tests::task;
    use crate::marathon::task::{task_view, TaskFacts};
    use crate::marathon::whitelist;
    use corral_core::task::TaskState;
    use serde_json::{json, Value};

    /// A definition using every field corral keeps.
    pub(crate) fn full_spec() -> AppSpec {
        let body = json!({
            "id": "/shop/web", "cmd": "web --port $PORT0", "user": "www",
            "cpus": 0.5, "mem": 64, "disk": 1, "instances": 2,
            "env": {"MODE": "prod"}, "labels": {"team": "shop"},
            "constraints": [["hostname", "UNIQUE"], ["rack", "LIKE", "r[12]"]],
            "acceptedResourceRoles": ["*"],
            "portDefinitions": [{"port": 0, "name": "http", "labels": {"vip": "web"}}, {"port": 9000, "protocol": "udp"}],
            "healthChecks": [
                {"protocol": "HTTP", "path": "/health"},
                {"protocol": "TCP", "port": 9000},
                {"protocol": "COMMAND", "command": {"value": "true"}}
            ],
            "readinessChecks": [{"portName": "http"}],
            "dependencies": ["db"],
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
            "fetch": [{"uri": "https://example.com/web.tgz", "destPath": "web.tgz"}],
            "taskKillGracePeriodSeconds": 5, "killSelection": "OLDEST_FIRST"
        });
        to_spec(&serde_json::from_value(body).unwrap(), None, false).unwrap()
    }

    fn app() -> App {
        App {
            spec: full_spec(),
            version_ms: 3000,
            config_version_ms: 2000,
            scaled_at_ms: 3000,
            versions: Vec::new(),
        }
    }

    fn tasks(app: &App) -> Vec<TaskView> {
        let t = task(&[(TaskState::Staging, 2100), (TaskState::Running, 2200)]);
        vec![task_view(
            TaskFacts {
                task: &t,
                app: &app.spec.id,
                hostname: "node-1",
                ip: "127.0.0.101",
                ports: &[31000, 31001],
                service_ports: &[],
                version_ms: 2000,
            },
            None,
        )]
    }

    fn failure(app: &App) -> LastTaskFailure {
        let mut t = task(&[(TaskState::Staging, 100), (TaskState::Failed, 150)]);
        t.statuses[1].message = Some("Command exited with status 7".into());
        LastTaskFailure::of(&t, &app.spec.id, "node-2", 1000)
    }

    #[test]
    fn embed_values() {
        let cases: Vec<(&[&str], Embed)> = vec![
            (&[], Embed::default()),
            (
                &["app.tasks"],
                Embed {
                    tasks: true,
                    deployments: true,
                    ..Embed::default()
                },
            ),
            (
                &[
                    "apps.counts",
                    "group.apps.readiness",
                    "lastTaskFailure",
                    "app.taskStats",
                ],
                Embed {
                    counts: true,
                    readiness: true,
                    last_task_failure: true,
                    task_stats: true,
                    ..Embed::default()
                },
            ),
            (
                &["app.failures"],
                Embed {
                    tasks: true,
                    last_task_failure: true,
                    deployments: true,
                    ..Embed::default()
                },
            ),
            (
                &["app.deployments", "bogus", "app.", "group.groups"],
                Embed {
                    deployments: true,
                    ..Embed::default()
                },
            ),
        ];
        for (values, want) in cases {
            assert_eq!(Embed::parse(values.iter().copied()), want, "{values:?}");
        }
        assert_eq!(
            Embed::for_list([]),
            Embed {
                counts: true,
                deployments: true,
                ..Embed::default()
            }
        );
        let single = Embed::for_app(["app.readiness"]);
        assert!(
            single.tasks
                && single.counts
                && single.deployments
                && single.last_task_failure
                && single.readiness
        );
    }

    #[test]
    fn the_app_of_get_v2_apps_id() {
        let app = app();
        let embed = Embed::for_app([]);
        let counts = Counts {
            staged: 0,
            running: 1,
            healthy: 1,
            unhealthy: 0,
        };
        let view = app_view(
            &app,
            &embed,
            tasks(&app),
            counts,
            vec!["d-1".into()],
            Some(failure(&app)),
        );
        let mut got = serde_json::to_value(&view).unwrap();
        whitelist::check(&got, &whitelist::APP, "app");
        let tasks = got.as_object_mut().unwrap().remove("tasks").unwrap();
        assert_eq!(tasks[0]["id"], "shop_web.7d1e");
        // As text: the json! macro would recurse too deep for this object.
        let want: Value = serde_json::from_str(
            r#"{
            "id": "/shop/web", "cmd": "web --port $PORT0", "args": [], "user": "www",
            "cpus": 0.5, "mem": 64.0, "disk": 1.0, "gpus": 0, "instances": 2, "executor": "",
            "env": {"MODE": "prod"}, "labels": {"team": "shop"},
            "constraints": [["hostname", "UNIQUE"], ["rack", "LIKE", "r[12]"]],
            "acceptedResourceRoles": ["*"],
            "ports": [0, 9000],
            "portDefinitions": [
                {"port": 0, "protocol": "tcp", "name": "http", "labels": {"vip": "web"}},
                {"port": 9000, "protocol": "udp", "labels": {}}
            ],
            "requirePorts": false,
            "healthChecks": [
                {"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 300,
                 "intervalSeconds": 60, "timeoutSeconds": 20, "maxConsecutiveFailures": 3,
                 "delaySeconds": 15, "ignoreHttp1xx": false},
                {"protocol": "TCP", "port": 9000, "gracePeriodSeconds": 300,
                 "intervalSeconds": 60, "timeoutSeconds": 20, "maxConsecutiveFailures": 3,
                 "delaySeconds": 15, "ignoreHttp1xx": false},
                {"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 300,
                 "intervalSeconds": 60, "timeoutSeconds": 20, "maxConsecutiveFailures": 3,
                 "delaySeconds": 15, "ignoreHttp1xx": false}
            ],
            "readinessChecks": [{"name": "readinessCheck", "protocol": "HTTP", "path": "/", "portName": "http",
                                 "intervalSeconds": 30, "timeoutSeconds": 10,
                                 "httpStatusCodesForReady": [200], "preserveLastResponse": false}],
            "dependencies": ["/shop/db"],
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
            "backoffSeconds": 1.0, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 3600.0,
            "fetch": [{"uri": "https://example.com/web.tgz", "extract": true, "executable": false,
                       "cache": false, "destPath": "web.tgz"}],
            "killSelection": "OLDEST_FIRST", "taskKillGracePeriodSeconds": 5,
            "version": "1970-01-01T00:00:03.000Z",
            "versionInfo": {"lastScalingAt": "1970-01-01T00:00:03.000Z",
                            "lastConfigChangeAt": "1970-01-01T00:00:02.000Z"},
            "tasksStaged": 0, "tasksRunning": 1, "tasksHealthy": 1, "tasksUnhealthy": 0,
            "deployments": [{"id": "d-1"}],
            "lastTaskFailure": {
                "appId": "/shop/web", "host": "node-2", "message": "Command exited with status 7",
                "state": "TASK_FAILED", "taskId": "shop_web.7d1e", "instanceId": "shop_web.7d1e",
                "slaveId": "m1", "timestamp": "1970-01-01T00:00:00.150Z",
                "version": "1970-01-01T00:00:01.000Z"
            }
        }"#,
        )
        .unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn embedded_keys_follow_embed() {
        let app = app();
        let keys = |embed: Embed| -> Vec<String> {
            let v = app_view(&app, &embed, tasks(&app), Counts::default(), vec![], None);
            let got = serde_json::to_value(v).unwrap();
            whitelist::check(&got, &whitelist::APP, "app");
            let optional = [
                "tasks",
                "tasksStaged",
                "tasksRunning",
                "tasksHealthy",
                "tasksUnhealthy",
                "deployments",
                "lastTaskFailure",
                "readinessCheckResults",
            ];
            optional
                .iter()
                .filter(|k| got.get(**k).is_some())
                .map(|k| k.to_string())
                .collect()
        };
        assert_eq!(keys(Embed::default()), Vec::<String>::new());
        assert_eq!(
            keys(Embed::for_list([])),
            [
                "tasksStaged",
                "tasksRunning",
                "tasksHealthy",
                "tasksUnhealthy",
                "deployments"
            ]
        );
        // No failure yet: the key stays absent even when embedded.
        assert_eq!(
            keys(Embed::for_app(["app.readiness"])),
            [
                "tasks",
                "tasksStaged",
                "tasksRunning",
                "tasksHealthy",
                "tasksUnhealthy",
                "deployments",
                "readinessCheckResults"
            ]
        );
    }

    #[test]
    fn readiness_results_in_marathons_shape() {
        let app = app();
        let results = vec![
            ReadinessCheckResultView {
                name: "readinessCheck".into(),
                task_id: "shop_web.1".into(),
                ready: false,
                last_response: Some(HttpResponseView {
                    status: 503,
                    content_type: "text/plain".into(),
                    body: "warming up".into(),
                }),
            },
            ReadinessCheckResultView {
                name: "readinessCheck".into(),
                task_id: "shop_web.2".into(),
                ready: true,
                last_response: None,
            },
        ];
        let view = |embed: Embed| {
            let v = app_view(&app, &embed, vec![], Counts::default(), vec![], None);
            let got = serde_json::to_value(with_readiness(v, &embed, results.clone())).unwrap();
            whitelist::check(&got, &whitelist::APP, "app");
            got.get("readinessCheckResults").cloned()
        };
        assert_eq!(view(Embed::for_list([])), None, "not asked for");
        assert_eq!(
            view(Embed::for_list(["apps.readiness"])),
            Some(json!([
                {"name": "readinessCheck", "taskId": "shop_web.1", "ready": false,
                 "lastResponse": {"status": 503, "contentType": "text/plain", "body": "warming up"}},
                {"name": "readinessCheck", "taskId": "shop_web.2", "ready": true}
            ]))
        );
    }

    #[test]
    fn a_view_sent_back_gives_the_same_definition() {
        let spec = full_spec();
        let mut body: Value = serde_json::to_value(definition_view(&spec, 1000)).unwrap();
        body.as_object_mut().unwrap().remove("version");
        let req: AppRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(to_spec(&req, None, false), Ok(spec.clone()), "{body}");
        assert_eq!(
            to_spec(&req, Some(&spec), true),
            Ok(spec),
            "as a partial update"
        );
    }
}
