//! What the app commands print: the app and deployment tables, one app
//! with its tasks, and `app status`'s facts. Pure: views in, text out.

use corral_api::marathon::app_view::AppView;
use corral_api::marathon::deployment::{ActionKind, DeploymentView};
use corral_api::marathon::queue::QueueItem;
use serde::Serialize;

use crate::output::table;

/// The widest CMD shown in `app list` (longer ones end in `...`).
pub const CMD_WIDTH: usize = 40;

/// `s` cut to `max` characters, the cut marked with `...`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let kept: String = s.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// A deployment id as the app table shows it (like a machine id).
fn short_id(id: &str) -> String {
    format!("{}...", id.chars().take(8).collect::<String>())
}

/// The command an app runs: `cmd`, else its `args`, else `-`.
fn command(a: &AppView) -> String {
    match &a.cmd {
        Some(c) => c.replace('\n', " "),
        None if !a.args.is_empty() => a.args.join(" "),
        None => "-".to_string(),
    }
}

fn count(n: Option<u32>) -> String {
    n.map_or_else(|| "-".to_string(), |n| n.to_string())
}

fn action_name(a: ActionKind) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{a:?}"))
}

/// `corral app list`: `ID INSTANCES RUNNING HEALTHY CPUS MEM DEPLOYMENTS CMD`.
/// HEALTHY is `-` for an app without health checks.
pub fn apps_table(apps: &[AppView]) -> String {
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            let deployments = a.deployments.as_deref().unwrap_or_default();
            vec![
                a.id.clone(),
                a.instances.to_string(),
                count(a.tasks_running),
                if a.health_checks.is_empty() {
                    "-".to_string()
                } else {
                    count(a.tasks_healthy)
                },
                a.cpus.to_string(),
                a.mem.to_string(),
                if deployments.is_empty() {
                    "-".to_string()
                } else {
                    deployments
                        .iter()
                        .map(|d| short_id(&d.id))
                        .collect::<Vec<_>>()
                        .join(",")
                },
                truncate(&command(a), CMD_WIDTH),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "INSTANCES",
            "RUNNING",
            "HEALTHY",
            "CPUS",
            "MEM",
            "DEPLOYMENTS",
            "CMD",
        ],
        &rows,
    )
}

/// `corral app show`: the app's settings, one per line, then its tasks
/// (`TASK HOST PORTS STATE VERSION`).
pub fn app_detail(a: &AppView) -> String {
    let mut out = String::new();
    let mut fact = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    fact("id:", a.id.clone());
    fact("cmd:", command(a));
    fact(
        "instances:",
        format!(
            "{} ({} running, {} staged)",
            a.instances,
            count(a.tasks_running),
            count(a.tasks_staged)
        ),
    );
    fact(
        "resources:",
        format!("{} cpus, {} MB memory, {} MB disk", a.cpus, a.mem, a.disk),
    );
    if !a.constraints.is_empty() {
        let c: Vec<String> = a.constraints.iter().map(|c| c.join(":")).collect();
        fact("constraints:", c.join(", "));
    }
    fact("version:", a.version.clone());
    let deployments = a.deployments.as_deref().unwrap_or_default();
    fact(
        "deployments:",
        if deployments.is_empty() {
            "none".to_string()
        } else {
            deployments
                .iter()
                .map(|d| d.id.clone())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    if let Some(w) = &a.waiting {
        let n = if w.count == 1 {
            "instance"
        } else {
            "instances"
        };
        fact(
            "waiting:",
            match &w.reason {
                Some(why) => format!("{} {n} since {}: {why}", w.count, w.since),
                None => format!("{} {n} since {}; no offer looked at yet", w.count, w.since),
            },
        );
    }
    if let Some(f) = &a.last_task_failure {
        fact("last failure:", failure(f));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = a
        .tasks
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.host.clone(),
                if t.ports.is_empty() {
                    "-".to_string()
                } else {
                    t.ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                },
                t.state.clone(),
                t.version.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["TASK", "HOST", "PORTS", "STATE", "VERSION"],
        &rows,
    ));
    out
}

fn failure(f: &corral_api::marathon::app_view::LastTaskFailure) -> String {
    let mut s = format!("{} {} on {} at {}", f.task_id, f.state, f.host, f.timestamp);
    if !f.message.is_empty() {
        s.push_str(&format!(": {}", f.message.replace('\n', " ")));
    }
    s
}

/// `corral deployments`: `ID APPS ACTIONS STEP` (ACTIONS are the current
/// step's, STEP is `current/total`).
pub fn deployments_table(ds: &[DeploymentView]) -> String {
    let rows: Vec<Vec<String>> = ds
        .iter()
        .map(|d| {
            let mut actions: Vec<String> = d
                .current_actions
                .iter()
                .map(|a| action_name(a.action))
                .collect();
            actions.dedup();
            vec![
                d.id.clone(),
                d.affected_apps.join(","),
                actions.join(","),
                format!("{}/{}", d.current_step, d.total_steps),
            ]
        })
        .collect();
    table(&["ID", "APPS", "ACTIONS", "STEP"], &rows)
}

/// What `corral app status` knows about one app (also its `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub app: AppView,
    /// The deployments changing the app now.
    pub deployments: Vec<DeploymentView>,
    /// The app's launch queue entry, while instances wait for a place.
    pub queue: Option<QueueItem>,
}

impl AppStatus {
    /// Picks `app`'s deployments and queue entry out of the cluster's.
    pub fn of(app: AppView, deployments: Vec<DeploymentView>, queue: Vec<QueueItem>) -> AppStatus {
        let deployments = deployments
            .into_iter()
            .filter(|d| d.affected_apps.contains(&app.id))
            .collect();
        let queue = queue.into_iter().find(|q| q.app.id == app.id);
        AppStatus {
            app,
            deployments,
            queue,
        }
    }

    /// One line per fact: running/wanted, each deployment with its steps,
    /// why instances wait and for how long, the last failure.
    pub fn lines(&self) -> Vec<String> {
        let a = &self.app;
        let mut out = vec![format!("app: {}", a.id)];
        let staged = a.tasks_staged.unwrap_or(0);
        out.push(format!(
            "running: {}/{}{}",
            count(a.tasks_running),
            a.instances,
            if staged > 0 {
                format!(" ({staged} staging)")
            } else {
                String::new()
            }
        ));
        if self.deployments.is_empty() {
            out.push("deployment: none".to_string());
        }
        for d in &self.deployments {
            let steps: Vec<String> = d
                .steps
                .iter()
                .map(|s| {
                    let mut names: Vec<String> =
                        s.actions.iter().map(|a| action_name(a.action)).collect();
                    names.dedup();
                    names.join("+")
                })
                .collect();
            let now: Vec<String> = d
                .current_actions
                .iter()
                .map(|c| format!("{} {}", action_name(c.action), c.app))
                .collect();
            out.push(format!(
                "deployment: {} step {}/{}: {} (steps: {})",
                d.id,
                d.current_step,
                d.total_steps,
                now.join(", "),
                steps.join(" → ")
            ));
        }
        if let Some(q) = &self.queue {
            let n = q.count;
            let what = format!("{n} instance{} to launch", if n == 1 { "" } else { "s" });
            out.push(match &q.processed_offers_summary.waiting_reason {
                Some(why) => format!("waiting: {what}: {why}"),
                None => format!("waiting: {what}; no offer has been looked at for it yet"),
            });
            out.push(if q.delay.overdue {
                "backoff: none, may launch now".to_string()
            } else {
                format!(
                    "backoff: {} s left before the next launch (after failures)",
                    q.delay.time_left_seconds
                )
            });
        }
        if let Some(f) = &a.last_task_failure {
            out.push(format!("last failure: {}", failure(f)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An app as `GET /v2/apps` shows it, with `over` merged in.
    fn app(over: serde_json::Value) -> AppView {
        let mut v = json!({
            "id": "/sleepy", "cmd": "sleep 600", "args": [], "cpus": 0.1, "mem": 32.0,
            "disk": 0.0, "gpus": 0, "instances": 3, "executor": "", "env": {}, "labels": {},
            "constraints": [], "ports": [], "portDefinitions": [], "requirePorts": false,
            "healthChecks": [], "readinessChecks": [], "dependencies": [],
            "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
            "backoffSeconds": 1.0, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 3600.0,
            "fetch": [], "killSelection": "YOUNGEST_FIRST", "version": "2026-01-02T03:04:05.678Z",
            "versionInfo": {"lastScalingAt": "2026-01-02T03:04:05.678Z",
                            "lastConfigChangeAt": "2026-01-02T03:04:05.678Z"},
            "tasksStaged": 0, "tasksRunning": 3, "tasksHealthy": 0, "tasksUnhealthy": 0,
            "deployments": []
        });
        for (k, val) in over.as_object().unwrap() {
            v[k] = val.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn deployment(over: serde_json::Value) -> DeploymentView {
        let mut v = json!({
            "id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43", "version": "2026-01-02T03:04:05.678Z",
            "affectedApps": ["/sleepy"], "affectedPods": [],
            "steps": [{"actions": [{"action": "StartApplication", "app": "/sleepy"}]},
                      {"actions": [{"action": "ScaleApplication", "app": "/sleepy"}]}],
            "currentActions": [{"action": "ScaleApplication", "app": "/sleepy", "readinessCheckResults": []}],
            "currentStep": 2, "totalSteps": 2
        });
        for (k, val) in over.as_object().unwrap() {
            v[k] = val.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn queued(reason: Option<&str>, delay: serde_json::Value) -> QueueItem {
        let mut summary = json!({"processedOffersCount": 0, "unusedOffersCount": 0,
                                 "rejectSummaryLastOffers": []});
        if let Some(r) = reason {
            summary["waitingReason"] = json!(r);
        }
        serde_json::from_value(json!({
            "app": serde_json::to_value(app(json!({"id": "/huge", "cpus": 500.0, "instances": 1}))).unwrap(),
            "count": 1, "delay": delay, "since": "2026-01-02T03:04:05.678Z",
            "processedOffersSummary": summary
        }))
        .unwrap()
    }

    #[test]
    fn truncation() {
        let cases = [
            ("sleep 600", 40, "sleep 600"),
            ("abcdefghij", 10, "abcdefghij"),
            ("abcdefghijk", 10, "abcdefg..."),
            ("ééééé", 4, "é..."),
        ];
        for (s, max, want) in cases {
            assert_eq!(truncate(s, max), want, "{s:?} {max}");
        }
    }

    #[test]
    fn the_app_table() {
        let long = "python3 -m http.server $PORT0 --bind 0.0.0.0 --directory /srv/www";
        let apps = [
            app(json!({"deployments": [{"id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}]})),
            app(
                json!({"id": "/shop/web", "cmd": long, "instances": 1, "cpus": 1.0, "mem": 128.0,
                       "tasksRunning": 1, "tasksHealthy": 1,
                       "healthChecks": [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 300,
                           "intervalSeconds": 60, "timeoutSeconds": 20, "maxConsecutiveFailures": 3,
                           "delaySeconds": 15, "ignoreHttp1xx": false}]}),
            ),
            app(json!({"id": "/args", "cmd": null, "args": ["sleep", "1"], "tasksRunning": null})),
        ];
        assert_eq!(
            apps_table(&apps),
            "\
ID          INSTANCES   RUNNING   HEALTHY   CPUS   MEM   DEPLOYMENTS   CMD
/sleepy     3           3         -         0.1    32    5ed4c0c5...   sleep 600
/shop/web   1           1         1         1      128   -             python3 -m http.server $PORT0 --bind ...
/args       3           -         -         0.1    32    -             sleep 1
"
        );
    }

    #[test]
    fn one_app_with_its_tasks() {
        let a = app(json!({
            "instances": 2, "tasksRunning": 1, "tasksStaged": 1,
            "constraints": [["hostname", "UNIQUE"]],
            "tasks": [
                {"id": "sleepy.0f3a", "appId": "/sleepy", "host": "127.0.0.101", "slaveId": "m1",
                 "state": "TASK_RUNNING", "stagedAt": "2026-01-02T03:04:06.000Z",
                 "version": "2026-01-02T03:04:05.678Z", "ports": [31000, 31001], "servicePorts": [],
                 "ipAddresses": []},
                {"id": "sleepy.9c1e", "appId": "/sleepy", "host": "127.0.0.102", "slaveId": "m2",
                 "state": "TASK_STAGING", "stagedAt": "2026-01-02T03:04:06.000Z",
                 "version": "2026-01-02T03:04:05.678Z", "ports": [], "servicePorts": [],
                 "ipAddresses": []}
            ],
            "lastTaskFailure": {"appId": "/sleepy", "host": "127.0.0.103", "message": "exited 7",
                "state": "TASK_FAILED", "taskId": "sleepy.77aa", "instanceId": "sleepy.77aa",
                "slaveId": "m3", "timestamp": "2026-01-02T03:04:07.000Z",
                "version": "2026-01-02T03:04:05.678Z"}
        }));
        assert_eq!(
            app_detail(&a),
            "\
id:           /sleepy
cmd:          sleep 600
instances:    2 (1 running, 1 staged)
resources:    0.1 cpus, 32 MB memory, 0 MB disk
constraints:  hostname:UNIQUE
version:      2026-01-02T03:04:05.678Z
deployments:  none
last failure: sleepy.77aa TASK_FAILED on 127.0.0.103 at 2026-01-02T03:04:07.000Z: exited 7

TASK          HOST          PORTS         STATE          VERSION
sleepy.0f3a   127.0.0.101   31000,31001   TASK_RUNNING   2026-01-02T03:04:05.678Z
sleepy.9c1e   127.0.0.102   -             TASK_STAGING   2026-01-02T03:04:05.678Z
"
        );
    }

    #[test]
    fn the_deployment_table() {
        let ds = [
            deployment(json!({})),
            deployment(json!({
                "id": "d-2", "affectedApps": ["/a", "/b"],
                "steps": [{"actions": [{"action": "RestartApplication", "app": "/a"},
                                       {"action": "RestartApplication", "app": "/b"}]}],
                "currentActions": [{"action": "RestartApplication", "app": "/a", "readinessCheckResults": []},
                                   {"action": "RestartApplication", "app": "/b", "readinessCheckResults": []}],
                "currentStep": 1, "totalSteps": 1
            })),
        ];
        assert_eq!(
            deployments_table(&ds),
            "\
ID                                     APPS      ACTIONS              STEP
5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43   /sleepy   ScaleApplication     2/2
d-2                                    /a,/b     RestartApplication   1/1
"
        );
        assert_eq!(deployments_table(&[]), "ID   APPS   ACTIONS   STEP\n");
    }

    /// `(app, deployments, queue, the lines of app status)`.
    #[test]
    fn status_facts() {
        let reason = "3 agents lack 499 cpus (largest free: 1.9)";
        let cases: Vec<(AppView, Vec<DeploymentView>, Vec<QueueItem>, &str)> = vec![
            (
                app(json!({"instances": 1, "tasksRunning": 1})),
                vec![deployment(json!({"affectedApps": ["/other"]}))],
                vec![],
                "app: /sleepy\nrunning: 1/1\ndeployment: none",
            ),
            (
                app(json!({"tasksRunning": 1, "tasksStaged": 2})),
                vec![deployment(json!({}))],
                vec![],
                "app: /sleepy\nrunning: 1/3 (2 staging)\n\
                 deployment: 5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43 step 2/2: ScaleApplication /sleepy \
                 (steps: StartApplication → ScaleApplication)",
            ),
            (
                app(json!({"id": "/huge", "cpus": 500.0, "instances": 1, "tasksRunning": 0})),
                vec![],
                vec![
                    queued(Some(reason), json!({"timeLeftSeconds": 0, "overdue": true})),
                ],
                "app: /huge\nrunning: 0/1\ndeployment: none\n\
                 waiting: 1 instance to launch: 3 agents lack 499 cpus (largest free: 1.9)\n\
                 backoff: none, may launch now",
            ),
            (
                app(json!({"id": "/huge", "instances": 1, "tasksRunning": 0,
                    "lastTaskFailure": {"appId": "/huge", "host": "h1", "message": "",
                        "state": "TASK_FAILED", "taskId": "huge.1", "instanceId": "huge.1",
                        "slaveId": "m1", "timestamp": "2026-01-02T03:04:07.000Z",
                        "version": "2026-01-02T03:04:05.678Z"}})),
                vec![],
                vec![queued(None, json!({"timeLeftSeconds": 12, "overdue": false}))],
                "app: /huge\nrunning: 0/1\ndeployment: none\n\
                 waiting: 1 instance to launch; no offer has been looked at for it yet\n\
                 backoff: 12 s left before the next launch (after failures)\n\
                 last failure: huge.1 TASK_FAILED on h1 at 2026-01-02T03:04:07.000Z",
            ),
        ];
        for (a, ds, q, want) in cases {
            let id = a.id.clone();
            let got = AppStatus::of(a, ds, q).lines().join("\n");
            assert_eq!(got, want, "{id}");
        }
    }
}
