//! Marathon's COMMAND and HTTPS health checks and its readiness checks
//! (issue 4) on a real 3-server cluster's :8080:
//! - a COMMAND check runs on the task's agent, in its sandbox with its
//!   environment: it passes until the test creates a marker file, then the
//!   instance is killed and replaced;
//! - an HTTPS check (the agent's curl, certificate not verified) makes an
//!   instance serving TLS with a self-signed certificate healthy;
//! - readiness gates a rolling upgrade: while the new version's readiness
//!   path answers 503 the deployment waits and the old instances keep
//!   running; once it answers 200 the deployment finishes.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(45);

/// An HTTPS server on `$HOST:$PORT0` with the certificate `$CERT` and key
/// `$KEY`: every GET answers 200.
const HTTPS_SERVER: &str = r#"exec python3 -c 'import http.server, os, ssl
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
s = http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT0"])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.environ["CERT"], os.environ["KEY"])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()'"#;

/// An HTTP server on `$HOST:$PORT0`: `/ready` answers 503 "warming up N"
/// (N counting its readiness requests) while `$READY_FILE` is set and
/// does not exist, 200 "ready" otherwise; every other path 200 "ok".
const READY_SERVER: &str = r#"exec python3 -c 'import http.server, os
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code, body = 200, "ok"
        if self.path == "/ready":
            n[0] += 1
            f = os.environ.get("READY_FILE")
            if f and not os.path.exists(f):
                code, body = 503, "warming up %d" % n[0]
            else:
                body = "ready"
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
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

async fn must_send(req: reqwest::RequestBuilder, want: u16) -> Value {
    let r = req.send().await.expect("the Marathon API answers");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "{body}");
    body
}

fn tasks(app: &Value) -> Vec<Value> {
    app["tasks"].as_array().cloned().unwrap_or_default()
}

fn task_ids(app: &Value) -> BTreeSet<String> {
    tasks(app)
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect()
}

fn deploying(app: &Value) -> bool {
    app["deployments"].as_array().is_some_and(|d| !d.is_empty())
}

/// Every task is RUNNING and its one health check's latest result passed.
fn all_alive(app: &Value) -> bool {
    let tasks = tasks(app);
    !tasks.is_empty()
        && tasks.iter().all(|t| {
            t["state"] == "TASK_RUNNING"
                && t["healthCheckResults"]
                    .as_array()
                    .is_some_and(|r| r.len() == 1 && r[0]["alive"] == true)
        })
}

/// Waits until the app's deployment is over and its `n` instances are
/// healthy; returns the app.
async fn must_settle_healthy(c: &Cluster, app_url: &str, n: usize) -> Value {
    wait_for(
        "the deployment to finish with healthy instances",
        T,
        || async {
            let a = get(c, app_url).await?["app"].clone();
            if !deploying(&a) && tasks(&a).len() == n && all_alive(&a) {
                Ok(a)
            } else {
                Err(a.to_string())
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_checks_run_on_the_agent_issue_4() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let base = format!("http://{}:8080", c.machines[leader].ip);
    let app_url = format!("{base}/v2/apps/commanded?embed=app.tasks");
    let marker = c.dir.path().join("sick");

    phase("create /commanded: a COMMAND check that passes while no marker exists");
    // It runs in the task's sandbox with the task's environment: $MARKER
    // is the app's, $MESOS_SANDBOX the sandbox's, and the working directory
    // must be the sandbox.
    let check = r#"echo "checking $MARKER"; test "$(pwd -P)" = "$(cd "$MESOS_SANDBOX" && pwd -P)" && test ! -e "$MARKER""#;
    let app = json!({
        "id": "/commanded",
        "cmd": "sleep 600",
        "instances": 1,
        "cpus": 0.1,
        "mem": 32,
        "env": {"MARKER": marker.to_str().unwrap()},
        "healthChecks": [{
            "protocol": "COMMAND", "command": {"value": check},
            "gracePeriodSeconds": 1, "intervalSeconds": 1, "timeoutSeconds": 5,
            "maxConsecutiveFailures": 3
        }]
    });
    must_send(c.http.post(format!("{base}/v2/apps")).json(&app), 201).await;
    let first = must_settle_healthy(&c, &app_url, 1).await;
    let original = task_ids(&first);

    phase("with the marker the check fails: exit status and last output show");
    std::fs::write(&marker, "").unwrap();
    let failing = wait_for("the failing COMMAND check to show", T, || async {
        let a = get(&c, &app_url).await?["app"].clone();
        let cause = tasks(&a)
            .iter()
            .filter_map(|t| t["healthCheckResults"][0]["lastFailureCause"].as_str())
            .map(str::to_string)
            .next();
        match cause {
            Some(cause) if cause.contains("exited with status 1") => Ok(cause),
            _ => Err(a.to_string()),
        }
    })
    .await;
    assert!(
        failing.contains(&format!("checking {}", marker.display())),
        "the cause quotes the last line of output: {failing}"
    );

    phase("the unhealthy instance is killed and replaced by a new task");
    wait_for("a replacement task", T, || async {
        let a = get(&c, &format!("{base}/v2/apps/commanded/tasks")).await?;
        let ids = task_ids(&a);
        if !ids.is_empty() && ids.is_disjoint(&original) {
            Ok(())
        } else {
            Err(format!("tasks {ids:?}, original {original:?}"))
        }
    })
    .await;
    assert!(
        c.log_tail(leader, 400)
            .contains("killing an unhealthy instance"),
        "the leader logs why it kills:\n{}",
        c.log_tail(leader, 40)
    );

    phase("without the marker the replacement becomes healthy");
    std::fs::remove_file(&marker).unwrap();
    let healed = must_settle_healthy(&c, &app_url, 1).await;
    assert!(task_ids(&healed).is_disjoint(&original), "{healed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_checks_run_on_the_agent_issue_4() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let base = format!("http://{}:8080", c.machines[leader].ip);
    let app_url = format!("{base}/v2/apps/tls?embed=app.tasks");

    phase("make a self-signed certificate with openssl");
    let (cert, key) = (c.dir.path().join("cert.pem"), c.dir.path().join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=corral-test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (the test needs the openssl CLI)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    phase("create /tls: a TLS server with an HTTPS health check");
    let app = json!({
        "id": "/tls",
        "cmd": HTTPS_SERVER,
        "instances": 2,
        "cpus": 0.1,
        "mem": 32,
        "env": {"CERT": cert.to_str().unwrap(), "KEY": key.to_str().unwrap()},
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{
            "protocol": "HTTPS", "path": "/health", "portIndex": 0,
            "gracePeriodSeconds": 5, "intervalSeconds": 1, "timeoutSeconds": 2,
            "maxConsecutiveFailures": 3
        }]
    });
    must_send(c.http.post(format!("{base}/v2/apps")).json(&app), 201).await;

    phase("both instances become healthy and the deployment finishes");
    let healthy = must_settle_healthy(&c, &app_url, 2).await;
    for t in tasks(&healthy) {
        let r = &t["healthCheckResults"][0];
        assert_eq!(r["alive"], true, "{t}");
        assert_eq!(r["consecutiveFailures"], 0, "{t}");
    }
}

/// The v2 instances' readiness results: (task id, ready, lastResponse).
fn readiness(app: &Value) -> Vec<(String, bool, Value)> {
    app["readinessCheckResults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["taskId"].as_str().unwrap_or("").to_string(),
                r["ready"] == true,
                r["lastResponse"].clone(),
            )
        })
        .collect()
}

/// The N of a "warming up N" body.
fn warmups(response: &Value) -> u64 {
    response["body"]
        .as_str()
        .and_then(|b| b.strip_prefix("warming up "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_gates_a_rolling_upgrade_issue_4() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let base = format!("http://{}:8080", c.machines[leader].ip);
    let app_url = format!("{base}/v2/apps/gated?embed=app.tasks&embed=app.readiness");
    let ready_file = c.dir.path().join("v2-ready");

    phase("create /gated v1: 2 instances, health and readiness checks (ready at once)");
    let app = json!({
        "id": "/gated",
        "cmd": READY_SERVER,
        "instances": 2,
        "cpus": 0.1,
        "mem": 32,
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [{
            "protocol": "HTTP", "path": "/health", "portIndex": 0,
            "gracePeriodSeconds": 5, "intervalSeconds": 1, "timeoutSeconds": 1,
            "maxConsecutiveFailures": 3
        }],
        "readinessChecks": [{
            "name": "warm", "protocol": "HTTP", "path": "/ready", "portName": "http",
            "intervalSeconds": 1, "timeoutSeconds": 1,
            "httpStatusCodesForReady": [200], "preserveLastResponse": true
        }],
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    });
    must_send(c.http.post(format!("{base}/v2/apps")).json(&app), 201).await;
    let v1 = must_settle_healthy(&c, &app_url, 2).await;
    let old = task_ids(&v1);
    assert_eq!(
        v1["readinessCheckResults"],
        json!([]),
        "no deployment, no results: {v1}"
    );

    phase("update to v2, whose /ready answers 503 until a marker file exists");
    must_send(
        c.http
            .put(format!("{base}/v2/apps/gated"))
            .json(&json!({"env": {"READY_FILE": ready_file.to_str().unwrap()}})),
        200,
    )
    .await;

    phase("while v2 is not ready: the deployment waits, the old instances keep running");
    // Each v2 instance answered "not ready" at least 3 times: the
    // deployment had time to go wrong and did not.
    let waiting = wait_for("v2 instances checked and not ready", T, || async {
        let a = get(&c, &app_url).await?["app"].clone();
        let results = readiness(&a);
        let new: BTreeSet<String> = task_ids(&a).difference(&old).cloned().collect();
        let settled = new.len() == 2
            && results.len() == 2
            && results.iter().all(|(task, ready, last)| {
                new.contains(task) && !ready && last["status"] == 503 && warmups(last) >= 3
            });
        if settled {
            Ok(a)
        } else {
            Err(a.to_string())
        }
    })
    .await;
    assert!(deploying(&waiting), "the deployment waits: {waiting}");
    let running_old: BTreeSet<String> = tasks(&waiting)
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .filter(|id| old.contains(id))
        .collect();
    assert_eq!(
        running_old, old,
        "minimumHealthCapacity 1 keeps both old instances: {waiting}"
    );
    let deployments = get(&c, &format!("{base}/v2/deployments")).await.unwrap();
    assert!(
        deployments
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["affectedApps"] == json!(["/gated"]))),
        "/v2/deployments lists it: {deployments}"
    );
    let last = &waiting["readinessCheckResults"][0];
    assert_eq!(last["name"], "warm", "{last}");
    assert_eq!(last["lastResponse"]["contentType"], "text/plain", "{last}");

    phase("with the marker v2 becomes ready: the deployment finishes, only v2 remains");
    std::fs::write(&ready_file, "").unwrap();
    let done = wait_for("the upgrade to finish", T, || async {
        let a = get(&c, &app_url).await?["app"].clone();
        let ids = task_ids(&a);
        if !deploying(&a) && ids.len() == 2 && ids.is_disjoint(&old) && all_alive(&a) {
            Ok(a)
        } else {
            Err(a.to_string())
        }
    })
    .await;
    assert_eq!(
        done["readinessCheckResults"],
        json!([]),
        "the deployment is over: {done}"
    );
    let version = done["versionInfo"]["lastConfigChangeAt"].clone();
    assert!(
        tasks(&done).iter().all(|t| t["version"] == version),
        "only v2 instances: {done}"
    );
    wait_for("/v2/deployments to be empty", T, || async {
        let d = get(&c, &format!("{base}/v2/deployments")).await?;
        if d.as_array().is_some_and(Vec::is_empty) {
            Ok(())
        } else {
            Err(d.to_string())
        }
    })
    .await;
}
