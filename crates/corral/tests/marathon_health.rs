//! Marathon health checks (issue 4) on a real 3-server cluster's :8080:
//! an app whose instances serve `/health` (200 until a flag file exists,
//! 500 while it does) finishes its deployment only once both instances
//! are healthy; with the flag the failures show, and the instances are
//! killed and replaced (not counted as task failures); without it the
//! replacements become healthy.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

/// A tiny HTTP server on `$HOST:$PORT0`: every GET answers 500 while the
/// file `$FLAG` exists, 200 otherwise.
const SERVER: &str = r#"exec python3 -c 'import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500 if os.path.exists(os.environ["FLAG"]) else 200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT0"])), H).serve_forever()'"#;

async fn get(c: &Cluster, url: &str) -> Result<Value, String> {
    let r = c.http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

fn task_ids(app: &Value) -> BTreeSet<String> {
    app["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

/// Every task is RUNNING and its one health check's latest result passed.
fn all_alive(app: &Value) -> bool {
    let tasks = app["tasks"].as_array().cloned().unwrap_or_default();
    !tasks.is_empty()
        && tasks.iter().all(|t| {
            t["state"] == "TASK_RUNNING"
                && t["healthCheckResults"]
                    .as_array()
                    .is_some_and(|r| r.len() == 1 && r[0]["alive"] == true)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_instances_are_killed_and_replaced_issue_4() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let base = format!("http://{}:8080", c.machines[leader].ip);
    let app_url = format!("{base}/v2/apps/probed?embed=app.tasks&embed=app.counts");
    let flag = c.dir.path().join("fail-health");

    phase("create /probed: 2 instances, an HTTP health check on /health");
    let app = json!({
        "id": "/probed",
        "cmd": SERVER,
        "instances": 2,
        "cpus": 0.1,
        "mem": 32,
        "env": {"FLAG": flag.to_str().unwrap()},
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{
            "protocol": "HTTP", "path": "/health", "portIndex": 0,
            "gracePeriodSeconds": 2, "intervalSeconds": 1, "timeoutSeconds": 1,
            "maxConsecutiveFailures": 2
        }]
    });
    let r = c
        .http
        .post(format!("{base}/v2/apps"))
        .json(&app)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    phase("the deployment ends only once both instances are healthy");
    let first = wait_for("the deployment of /probed to finish", T, || async {
        let a = get(&c, &app_url).await?["app"].clone();
        let deployments = a["deployments"].as_array().map_or(0, Vec::len);
        if deployments > 0 {
            return Err(format!("still deploying: {a}"));
        }
        Ok(a)
    })
    .await;
    assert_eq!(first["tasksHealthy"], 2, "{first}");
    assert_eq!(first["tasksUnhealthy"], 0, "{first}");
    assert!(all_alive(&first), "every instance alive: {first}");
    let originals = task_ids(&first);
    assert_eq!(originals.len(), 2, "{first}");

    phase("with the flag /health answers 500: the failure shows");
    std::fs::write(&flag, "").unwrap();
    let failing = wait_for("a failing health check to show", T, || async {
        let a = get(&c, &app_url).await?["app"].clone();
        let shown = a["tasks"].as_array().into_iter().flatten().any(|t| {
            t["healthCheckResults"][0]["lastFailureCause"]
                .as_str()
                .is_some_and(|s| s.contains("answered HTTP 500"))
        });
        if shown && a["tasksUnhealthy"].as_u64() >= Some(1) {
            Ok(a)
        } else {
            Err(a.to_string())
        }
    })
    .await;
    assert!(
        failing["tasksHealthy"].as_u64() < Some(2),
        "an instance is no longer healthy: {failing}"
    );

    phase("the unhealthy instances are killed and replaced with new tasks");
    wait_for("both instances to be replaced", T, || async {
        let tasks = get(&c, &format!("{base}/v2/apps/probed/tasks")).await?;
        let ids = task_ids(&tasks);
        if ids.len() >= 2 && ids.is_disjoint(&originals) {
            Ok(())
        } else {
            Err(format!("tasks {ids:?}, originals {originals:?}"))
        }
    })
    .await;
    assert!(
        c.log_tail(leader, 400)
            .contains("killing an unhealthy instance"),
        "the leader logs why it kills:\n{}",
        c.log_tail(leader, 40)
    );

    phase("without the flag the replacements become healthy; no kill counted as a failure");
    std::fs::remove_file(&flag).unwrap();
    let healthy = wait_for("2 healthy replacements", T, || async {
        let a = get(&c, &app_url).await?["app"].clone();
        let ids = task_ids(&a);
        if a["tasksHealthy"] == 2 && all_alive(&a) && ids.is_disjoint(&originals) {
            Ok(a)
        } else {
            Err(a.to_string())
        }
    })
    .await;
    assert_eq!(task_ids(&healthy).len(), 2, "{healthy}");
    assert!(
        healthy.get("lastTaskFailure").is_none_or(Value::is_null),
        "kills for health are not task failures: {healthy}"
    );
}
