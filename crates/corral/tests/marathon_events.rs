//! Issue 4: Marathon's `/v2/events` and `/v2/groups` on a real 3-server
//! cluster, every request through a follower (its leader proxy streams the
//! events). With reqwest: an app's life as events (attached,
//! deployment_info, TASK_RUNNING updates, deployment_success,
//! app_terminated_event), an `event_type=` filter and light plans, group
//! errors (404, a dependency cycle refused). Then the PyPI `marathon`
//! client (tests/py/marathon_events.py): `event_stream()` parsing every
//! event while a group of two dependent apps is created, read, scaled
//! and deleted. Last, the leader is killed: the proxied stream ends, and
//! a new one through the same server reaches the new leader's events.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use corral_testkit::{phase, run_python, wait_for, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

/// One open `/v2/events` stream: its events (type and JSON) in order.
struct Sse {
    rx: mpsc::UnboundedReceiver<(String, Value)>,
    seen: Vec<(String, Value)>,
}

impl Sse {
    /// Opens the stream; asserts it is an event stream (and, `proxied`,
    /// that it came through a follower's leader proxy).
    async fn open(url: &str, proxied: bool) -> Sse {
        // No overall timeout: the stream stays open.
        let resp = reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(resp.status(), 200, "GET {url}");
        let h = resp.headers();
        assert_eq!(h["content-type"], "text/event-stream", "{h:?}");
        if proxied {
            assert!(
                h.contains_key("x-marathon-via"),
                "through the follower's proxy: {h:?}"
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut body = resp.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    let mut ty = None;
                    let mut data = None;
                    for line in frame.lines() {
                        if let Some(t) = line.strip_prefix("event: ") {
                            ty = Some(t.to_string());
                        } else if let Some(d) = line.strip_prefix("data: ") {
                            data = Some(serde_json::from_str::<Value>(d).expect("data is JSON"));
                        }
                    }
                    if let (Some(ty), Some(data)) = (ty, data) {
                        assert_eq!(data["eventType"], ty.as_str(), "{frame}");
                        assert!(data["timestamp"].is_string(), "{frame}");
                        if tx.send((ty, data)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Sse {
            rx,
            seen: Vec::new(),
        }
    }

    /// Reads events until one of type `ty` that `pred` accepts; panics
    /// after `T` naming what it saw.
    async fn until(&mut self, ty: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((t, data))) => {
                    self.seen.push((t.clone(), data.clone()));
                    if t == ty && pred(&data) {
                        return data;
                    }
                }
                Ok(None) => panic!("the stream ended before {ty}; seen {:?}", self.types()),
                Err(_) => panic!("no {ty} within {T:?}; seen {:?}", self.types()),
            }
        }
    }

    /// Waits for the stream to end (its events read on the way).
    async fn ended(&mut self) {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(ev)) => self.seen.push(ev),
                Ok(None) => return,
                Err(_) => panic!(
                    "the stream did not end within {T:?}; seen {:?}",
                    self.types()
                ),
            }
        }
    }

    fn types(&self) -> Vec<&str> {
        self.seen.iter().map(|(t, _)| t.as_str()).collect()
    }
}

/// Sends a request with a JSON body (or none); answers status, headers' deployment id and body.
async fn call(
    c: &Cluster,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut req = c.http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let dep = resp
        .headers()
        .get("marathon-deployment-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, dep, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_groups_through_a_follower_issue_4() {
    let ok = Command::new("python3")
        .args(["-c", "import marathon"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "python3 with marathon 0.13.0 is required: run scripts/install-test-deps (scripts/test does)");
    let mut c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let f = format!("http://{}:8080", c.machines[follower].ip);

    phase("subscribe to /v2/events through a follower: all, filtered, light");
    let mut all = Sse::open(&format!("{f}/v2/events"), true).await;
    let mut only = Sse::open(
        &format!("{f}/v2/events?event_type=deployment_success"),
        true,
    )
    .await;
    let mut light = Sse::open(
        &format!("{f}/v2/events?event_type=deployment_info&plan-format=light"),
        true,
    )
    .await;
    let attached = all.until("event_stream_attached", |_| true).await;
    assert!(attached["remoteAddress"].is_string(), "{attached}");

    phase("create an app: deployment_info, TASK_RUNNING for each instance, deployment_success");
    let app = json!({"id": "/ev", "cmd": "sleep 3600", "instances": 2, "cpus": 0.1, "mem": 32});
    let (status, dep, body) = call(
        &c,
        reqwest::Method::POST,
        &format!("{f}/v2/apps"),
        Some(app),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let dep = dep.expect("a deployment id header");
    let info = all
        .until("deployment_info", |e| e["plan"]["id"] == dep.as_str())
        .await;
    assert_eq!(info["plan"]["target"]["apps"][0]["id"], "/ev", "{info}");
    assert_eq!(
        info["currentStep"]["actions"][0]["action"],
        "StartApplication"
    );
    let mut running = std::collections::BTreeSet::new();
    while running.len() < 2 {
        let up = all
            .until("status_update_event", |e| {
                e["appId"] == "/ev" && e["taskStatus"] == "TASK_RUNNING"
            })
            .await;
        assert!(
            up["slaveId"].as_str().is_some_and(|s| !s.is_empty()),
            "{up}"
        );
        assert!(!up["ports"].as_array().unwrap().is_empty(), "{up}");
        assert!(up["version"].as_str().unwrap().ends_with('Z'), "{up}");
        running.insert(up["taskId"].as_str().unwrap().to_string());
    }
    let done = all
        .until("deployment_success", |e| e["id"] == dep.as_str())
        .await;
    assert_eq!(done["plan"]["target"]["apps"][0]["instances"], 2, "{done}");

    phase("delete it: app_terminated_event, then deployment_success");
    let (status, dep2, body) = call(
        &c,
        reqwest::Method::DELETE,
        &format!("{f}/v2/apps/ev"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let dep2 = dep2.expect("a deployment id header");
    all.until("app_terminated_event", |e| e["appId"] == "/ev")
        .await;
    all.until("deployment_success", |e| e["id"] == dep2.as_str())
        .await;

    phase("the filtered streams carried only their type");
    only.until("deployment_success", |e| e["id"] == dep.as_str())
        .await;
    only.until("deployment_success", |e| e["id"] == dep2.as_str())
        .await;
    assert!(
        only.types().iter().all(|t| *t == "deployment_success"),
        "{:?}",
        only.types()
    );
    let plan = light
        .until("deployment_info", |e| e["plan"]["id"] == dep.as_str())
        .await;
    assert_eq!(plan["plan"]["target"]["apps"], json!([]), "light: {plan}");
    assert_eq!(plan["plan"]["steps"].as_array().unwrap().len(), 2, "{plan}");
    assert!(
        light.types().iter().all(|t| *t == "deployment_info"),
        "{:?}",
        light.types()
    );

    phase("groups: an unknown one is 404; a dependency cycle is 422 and creates nothing");
    let (status, _, body) = call(
        &c,
        reqwest::Method::GET,
        &format!("{f}/v2/groups/nothing"),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"message": "Group '/nothing' does not exist"}))
    );
    let cyclic = json!({"id": "/loop", "apps": [
        {"id": "a", "cmd": "sleep 3600", "cpus": 0.1, "mem": 32, "dependencies": ["b"]},
        {"id": "b", "cmd": "sleep 3600", "cpus": 0.1, "mem": 32, "dependencies": ["/loop/a"]},
    ]});
    let (status, _, body) = call(
        &c,
        reqwest::Method::POST,
        &format!("{f}/v2/groups"),
        Some(cyclic),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["details"][0]["errors"][0], "dependency cycle: /loop/a → /loop/b → /loop/a",
        "{body}"
    );
    let (_, _, root) = call(&c, reqwest::Method::GET, &format!("{f}/v2/groups"), None).await;
    assert_eq!(root["apps"], json!([]), "{root}");
    assert_eq!(root["groups"], json!([]), "{root}");

    phase(
        "groups: PUT creates and updates apps, POST of an existing group is 409, DELETE empties it",
    );
    let g = |path: &str| format!("{f}/v2/groups{path}");
    let one = |cmd: &str| json!({"apps": [{"id": "one", "cmd": cmd, "cpus": 0.1, "mem": 32, "instances": 0}]});
    let (status, dep, body) =
        call(&c, reqwest::Method::PUT, &g("/solo"), Some(one("sleep 1"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        Some(body["deploymentId"].as_str().unwrap().to_string()),
        dep,
        "{body}"
    );
    let (status, _, body) = call(
        &c,
        reqwest::Method::POST,
        &g(""),
        Some(json!({"id": "solo"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({"message": "Group /solo is already created. Use PUT to change this group."})
        )
    );
    wait_for("solo's first deployment to end", T, || async {
        let (_, _, d) = call(
            &c,
            reqwest::Method::GET,
            &format!("{f}/v2/deployments"),
            None,
        )
        .await;
        if d == json!([]) {
            Ok(())
        } else {
            Err(d.to_string())
        }
    })
    .await;
    let (status, _, body) = call(&c, reqwest::Method::PUT, &g("/solo"), Some(one("sleep 2"))).await;
    assert_eq!(status, 200, "{body}");
    let (_, _, solo) = call(&c, reqwest::Method::GET, &g("/solo"), None).await;
    assert_eq!(solo["apps"][0]["id"], "/solo/one", "{solo}");
    assert_eq!(solo["apps"][0]["cmd"], "sleep 2", "{solo}");
    let (status, _, versions) = call(&c, reqwest::Method::GET, &g("/solo/versions"), None).await;
    assert_eq!(status, 200, "{versions}");
    let versions = versions.as_array().cloned().unwrap_or_default();
    assert_eq!(
        versions.len(),
        2,
        "two app versions make two group versions: {versions:?}"
    );
    assert_eq!(
        versions[0], solo["version"],
        "newest first, the group's own version"
    );
    assert!(versions[0].as_str() > versions[1].as_str(), "{versions:?}");
    let (status, _, _) = call(&c, reqwest::Method::GET, &g("/nothing/versions"), None).await;
    assert_eq!(status, 404);
    let (status, _, body) = call(
        &c,
        reqwest::Method::PUT,
        &g("/solo"),
        Some(json!({"scaleBy": -1})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _, body) = call(
        &c,
        reqwest::Method::PUT,
        &g("/solo"),
        Some(json!({"version": "2015-09-30T09:09:17.614Z"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _, body) = call(&c, reqwest::Method::DELETE, &g("/solo?force=true"), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = call(&c, reqwest::Method::GET, &g("/solo"), None).await;
    assert_eq!(status, 404);

    phase("marathon-python: a group created, read, scaled, deleted; event_stream() parsing it all");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/marathon_events.py");
    let stdout = run_python(
        &script,
        std::slice::from_ref(&f),
        300,
        &c.log_tail(leader, 30),
    )
    .await;
    for step in [
        "ok event_stream() attached through a follower",
        "ok create_group: a deployment result",
        "ok web deployed after db's deployment finished",
        "ok get_group('/shop') lists both apps",
        "ok get_group of an unknown group: 404",
        "ok scale_group('/shop', 2) doubled every app",
        "ok delete_group removed both apps",
        "ok event_stream() parsed",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }

    phase("the reqwest stream saw the group's life too, and is still open");
    all.until("app_terminated_event", |e| e["appId"] == "/shop/web")
        .await;
    wait_for("no app left", T, || async {
        let (_, _, apps) = call(&c, reqwest::Method::GET, &format!("{f}/v2/apps"), None).await;
        if apps["apps"] == json!([]) {
            Ok(())
        } else {
            Err(apps.to_string())
        }
    })
    .await;

    phase("kill the leader: a stream through a follower ends; a new one through it gets the new leader's events");
    let leader = c.must_leader(T).await;
    let via = (0..3).find(|i| *i != leader).unwrap();
    let v = format!("http://{}:8080", c.machines[via].ip);
    let mut before = Sse::open(&format!("{v}/v2/events"), true).await;
    before.until("event_stream_attached", |_| true).await;
    c.kill(leader);
    before.ended().await;
    wait_for("the follower to know a new leader", T, || async {
        let (status, _, body) =
            call(&c, reqwest::Method::GET, &format!("{v}/v2/leader"), None).await;
        if status == 200 {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    // Served by the new leader: proxied unless that is `via` itself.
    let mut again = Sse::open(&format!("{v}/v2/events"), false).await;
    again.until("event_stream_attached", |_| true).await;
    let app = json!({"id": "/after", "cmd": "sleep 3600", "instances": 1, "cpus": 0.1, "mem": 32});
    let (status, dep, body) = call(
        &c,
        reqwest::Method::POST,
        &format!("{v}/v2/apps"),
        Some(app),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let dep = dep.expect("a deployment id header");
    again
        .until("deployment_success", |e| e["id"] == dep.as_str())
        .await;
}
