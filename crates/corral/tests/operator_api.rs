//! The Mesos v1 operator API (`POST /api/v1`, and `/api/v1/operator` as
//! pymesos calls it) on a real 3-server cluster running one framework with
//! a live and a finished task: every served call's shape and values, the
//! same answers on both paths, a follower's 307, the 400/415/406/501
//! refusals, and pymesos 0.3.15's own `MesosOperatorMasterDriver`
//! (crates/corral/tests/py/operator_v1.py) through a follower.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use corral_testkit::scheduler::{call, next_offers, next_update, subscribe, subscribed, task_info};
use corral_testkit::{phase, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

/// POSTs `body` (raw bytes) to `path` on machine `i` as JSON; returns the
/// status, the `Location` header and the body (JSON, or Null when empty).
async fn post_raw(c: &Cluster, i: usize, path: &str, body: &str) -> (u16, String, Value) {
    let r = c
        .http
        .post(c.api_url(i, path))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    };
    (status, location, json)
}

/// An operator call of `kind` at `path` on machine `i`; must answer 200
/// with `{"type": kind, "<kind lower-case>": {...}}`; returns the payload.
async fn must_call(c: &Cluster, i: usize, path: &str, kind: &str) -> Value {
    let (status, _, doc) = post_raw(c, i, path, &json!({ "type": kind }).to_string()).await;
    assert_eq!(status, 200, "{kind} at {path}: {doc}");
    assert_eq!(doc["type"], kind, "{doc}");
    let key = kind.to_lowercase();
    assert!(doc[&key].is_object(), "{kind} without {key:?}: {doc}");
    doc[&key].clone()
}

/// The values of resource list `rs` by name (scalars only).
fn scalars(rs: &Value) -> Vec<(String, f64)> {
    rs.as_array()
        .expect("a resource list")
        .iter()
        .filter(|r| r["type"] == "SCALAR")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["scalar"]["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// Asserts a refusal: `status`, a JSON `ApiError` with `code` naming `field`.
async fn must_refuse(c: &Cluster, i: usize, body: &str, status: u16, code: &str, field: &str) {
    let (got, _, doc) = post_raw(c, i, "/api/v1", body).await;
    assert_eq!(got, status, "{body:?} answered {got}: {doc}");
    assert_eq!(doc["code"], code, "{body:?}: {doc}");
    assert_eq!(doc["field"], field, "{body:?}: {doc}");
    assert!(doc["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_api_answers_like_mesos() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    let view = c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let machine_ids: BTreeSet<String> = view.machines.iter().map(|m| m.id.clone()).collect();
    let ips: BTreeSet<String> = c.machines.iter().map(|m| m.ip.clone()).collect();

    phase("a framework runs `sleep 30` and `true`");
    let (mut s, fw) = subscribed(subscribe(&c, leader, None).await).await;
    let offer = next_offers(&mut s, 1).await.remove(0);
    let agent = offer["agent_id"]["value"].as_str().unwrap().to_string();
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": fw}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
            task_info("sleeper", &offer["agent_id"], "exec sleep 30"),
            task_info("quick", &offer["agent_id"], "true"),
        ]}}]
    }});
    let (status, body, _) = call(&c, leader, Some(&s.stream_id), launch).await;
    assert_eq!(status, 202, "{body}");
    next_update(&mut s, "sleeper", "TASK_RUNNING").await;
    next_update(&mut s, "quick", "TASK_FINISHED").await;

    phase("GET_HEALTH, GET_VERSION, GET_MASTER");
    let (status, _, doc) = post_raw(&c, leader, "/api/v1", r#"{"type":"GET_HEALTH"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        doc,
        json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
    );
    let version: Value = c.get_json(&c.api_url(leader, "/version")).await;
    let v = must_call(&c, leader, "/api/v1", "GET_VERSION").await;
    assert_eq!(v["version_info"]["version"], version["version"], "{v}");
    let m = &must_call(&c, leader, "/api/v1", "GET_MASTER").await["master_info"];
    let ip = &c.machines[leader].ip;
    let api_addr = c.machines[leader].api_addr();
    let port: u16 = api_addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let octets: std::net::Ipv4Addr = ip.parse().unwrap();
    assert_eq!(m["ip"], u32::from_le_bytes(octets.octets()), "{m}");
    assert_eq!(m["port"], port, "{m}");
    assert_eq!(m["pid"], format!("master@{api_addr}"), "{m}");
    assert_eq!(m["hostname"], *ip, "{m}");
    assert_eq!(m["version"], version["version"], "{m}");
    assert_eq!(
        m["address"],
        json!({"hostname": ip, "ip": ip, "port": port}),
        "{m}"
    );

    phase("GET_AGENTS: three agents with their resources; the sleeper's holds its share");
    let agents = must_call(&c, leader, "/api/v1", "GET_AGENTS").await;
    assert_eq!(agents["recovered_agents"], json!([]));
    let list = agents["agents"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{agents}");
    let ids: BTreeSet<String> = list
        .iter()
        .map(|a| a["agent_info"]["id"]["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, machine_ids);
    let hosts: BTreeSet<String> = list
        .iter()
        .map(|a| a["agent_info"]["hostname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts, ips);
    for a in list {
        let info = &a["agent_info"];
        let names: Vec<&str> = info["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["cpus", "mem", "disk", "ports"], "{a}");
        assert_eq!(
            info["resources"][3],
            json!({"name": "ports", "type": "RANGES", "role": "*",
                   "ranges": {"range": [{"begin": 31000, "end": 32000}]}}),
        );
        assert_eq!(a["total_resources"], info["resources"], "{a}");
        assert!(
            info["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "role" && x["text"]["value"] == "server"),
            "{a}"
        );
        assert_eq!(a["active"], true, "{a}");
        assert_eq!(a["version"], version["version"], "{a}");
        let host = info["hostname"].as_str().unwrap();
        assert_eq!(a["pid"], format!("slave(1)@{host}:{}", info["port"]), "{a}");
        assert!(a["registered_time"]["nanoseconds"].as_i64().unwrap() > 1_000_000_000_000_000_000);
        assert_eq!(a["offered_resources"], json!([]));
        let allocated = scalars(&a["allocated_resources"]);
        if info["id"]["value"] == agent.as_str() {
            assert_eq!(
                allocated,
                [("cpus".to_string(), 0.1), ("mem".to_string(), 32.0)],
                "only the sleeper holds resources: {a}"
            );
        } else {
            assert_eq!(allocated, [], "{a}");
        }
    }

    phase("GET_FRAMEWORKS: the framework, active and connected");
    let fws = must_call(&c, leader, "/api/v1", "GET_FRAMEWORKS").await;
    assert_eq!(fws["completed_frameworks"], json!([]));
    // Besides it, only the built-in app scheduler ("marathon") is registered.
    let all = fws["frameworks"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{fws}");
    let f = all
        .iter()
        .find(|f| f["framework_info"]["name"] != "marathon")
        .unwrap();
    assert_eq!(f["framework_info"]["name"], "wire-test", "{f}");
    assert_eq!(f["framework_info"]["user"], "root", "{f}");
    assert_eq!(f["framework_info"]["id"], json!({ "value": fw }), "{f}");
    assert_eq!(f["framework_info"]["failover_timeout"], 100.0, "{f}");
    assert_eq!(
        (&f["active"], &f["connected"], &f["recovered"]),
        (&json!(true), &json!(true), &json!(false))
    );
    assert!(f["registered_time"]["nanoseconds"].as_i64().unwrap() > 1_000_000_000_000_000_000);
    assert_eq!(
        scalars(&f["allocated_resources"]),
        [("cpus".to_string(), 0.1), ("mem".to_string(), 32.0)],
        "{f}"
    );

    phase("GET_TASKS: the sleeper is live, the quick one completed");
    let tasks = must_call(&c, leader, "/api/v1", "GET_TASKS").await;
    for empty in ["pending_tasks", "unreachable_tasks", "orphan_tasks"] {
        assert_eq!(tasks[empty], json!([]), "{empty}: {tasks}");
    }
    assert_eq!(tasks["tasks"].as_array().unwrap().len(), 1, "{tasks}");
    let t = &tasks["tasks"][0];
    assert_eq!(t["task_id"], json!({"value": "sleeper"}), "{t}");
    assert_eq!(t["name"], "sleeper", "{t}");
    assert_eq!(t["state"], "TASK_RUNNING", "{t}");
    assert_eq!(t["agent_id"], json!({ "value": agent }), "{t}");
    assert_eq!(t["framework_id"], json!({ "value": fw }), "{t}");
    assert_eq!(
        scalars(&t["resources"]),
        [("cpus".to_string(), 0.1), ("mem".to_string(), 32.0)]
    );
    let last = t["statuses"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["state"], "TASK_RUNNING", "{t}");
    assert_eq!(last["task_id"], t["task_id"], "{t}");
    assert_eq!(last["agent_id"], t["agent_id"], "{t}");
    assert!(last["timestamp"].as_f64().unwrap() > 1e9, "{t}");
    assert_eq!(
        tasks["completed_tasks"].as_array().unwrap().len(),
        1,
        "{tasks}"
    );
    let done = &tasks["completed_tasks"][0];
    assert_eq!(done["task_id"]["value"], "quick", "{done}");
    assert_eq!(done["state"], "TASK_FINISHED", "{done}");
    assert_eq!(
        done["statuses"].as_array().unwrap().last().unwrap()["state"],
        "TASK_FINISHED"
    );

    phase("GET_EXECUTORS is empty; GET_STATE holds the four documents");
    let executors = must_call(&c, leader, "/api/v1", "GET_EXECUTORS").await;
    assert_eq!(
        executors,
        json!({"executors": [], "completed_executors": []})
    );
    let state = must_call(&c, leader, "/api/v1", "GET_STATE").await;
    assert_eq!(
        state.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["get_agents", "get_executors", "get_frameworks", "get_tasks"]
    );
    assert_eq!(state["get_tasks"], tasks);
    assert_eq!(state["get_executors"], executors);
    assert_eq!(state["get_frameworks"], fws);
    assert_eq!(state["get_agents"], agents);

    phase("/api/v1/operator (pymesos's path) and /master/api/v1 answer the same");
    for path in ["/api/v1/operator", "/master/api/v1"] {
        assert_eq!(
            must_call(&c, leader, path, "GET_STATE").await,
            state,
            "{path}"
        );
        assert_eq!(
            must_call(&c, leader, path, "GET_HEALTH").await,
            json!({"healthy": true})
        );
    }

    phase("/master/state agrees");
    let ms: Value = c.get_json(&c.api_url(leader, "/master/state")).await;
    let slave_ids: BTreeSet<String> = ms["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slave_ids, ids);
    let mf = ms["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == fw.as_str())
        .unwrap();
    assert_eq!(mf["tasks"][0]["id"], "sleeper");
    assert_eq!(mf["completed_tasks"][0]["id"], "quick");

    phase("a follower answers 307 to the leader");
    for path in ["/api/v1", "/api/v1/operator"] {
        let (status, location, _) = post_raw(&c, follower, path, r#"{"type":"GET_STATE"}"#).await;
        assert_eq!(status, 307, "{path} on a follower");
        assert_eq!(location, format!("//{api_addr}{path}"));
    }

    phase("bad calls: 400 naming `type`, 501 for Mesos calls corral does not serve");
    for bad in [
        "{not json",
        "",
        "[]",
        "{}",
        r#"{"type":"NOPE"}"#,
        r#"{"type":7}"#,
    ] {
        must_refuse(&c, leader, bad, 400, "bad_request", "type").await;
    }
    for unserved in [
        "GET_QUOTA",
        "GET_FLAGS",
        "SUBSCRIBE",
        "TEARDOWN",
        "MARK_AGENT_GONE",
    ] {
        let body = json!({ "type": unserved }).to_string();
        must_refuse(&c, leader, &body, 501, "not_implemented", "type").await;
    }
    let r = c
        .http
        .post(c.api_url(leader, "/api/v1"))
        .header("content-type", "text/plain")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = c
        .http
        .post(c.api_url(leader, "/api/v1"))
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "Content-Type is required");
    let r = c
        .http
        .post(c.api_url(leader, "/api/v1"))
        .header("content-type", "application/json")
        .header("accept", "application/x-protobuf")
        .body(r#"{"type":"GET_HEALTH"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let r = c
        .http
        .get(c.api_url(leader, "/api/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "the operator API is POST only");

    phase("pymesos's MesosOperatorMasterDriver, through a follower");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/operator_v1.py");
    let run = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(c.machines[follower].api_addr())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(T, run)
        .await
        .expect("operator_v1.py finished within the deadline")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "operator_v1.py failed (python3 with pymesos 0.3.15 is required: \
         scripts/install-test-deps):\n{stdout}\n{stderr}"
    );
    let summary: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("operator_v1.py printed no JSON summary ({e}): {stdout}"));
    assert_eq!(
        summary["types"],
        json!([
            "GET_HEALTH",
            "GET_VERSION",
            "GET_MASTER",
            "GET_AGENTS",
            "GET_FRAMEWORKS",
            "GET_TASKS",
            "GET_EXECUTORS",
            "GET_STATE"
        ])
    );
    assert_eq!(summary["healthy"], true);
    assert_eq!(summary["version"], version["version"]);
    assert_eq!(
        summary["master"], api_addr,
        "the driver followed the 307 to the leader"
    );
    assert_eq!(summary["agent_hosts"], json!(ips));
    let theirs: Vec<&Value> = summary["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] != "marathon")
        .collect();
    assert_eq!(
        theirs,
        [&json!({"name": "wire-test", "id": fw, "active": true, "connected": true})]
    );
    assert_eq!(
        summary["tasks"],
        json!({"sleeper": ["TASK_RUNNING", agent]})
    );
    assert_eq!(
        summary["completed_tasks"],
        json!({"quick": "TASK_FINISHED"})
    );
    assert_eq!(summary["executors"], 0);
    assert_eq!(
        summary["state_keys"],
        json!(["get_agents", "get_executors", "get_frameworks", "get_tasks"])
    );
    assert_eq!(summary["state_agents"], 3);
    assert!(
        summary["flags"].as_str().unwrap().contains("code=501"),
        "{summary}"
    );
    drop(s);
}
