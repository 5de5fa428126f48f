//! Issue 5, point 6: the PyPI `fleet` client (0.1.3), unchanged, against
//! a real 3-server cluster through a follower's :5050
//! (tests/py/fleet_scenario.py): it reads the discovery document, lists
//! machines, creates a unit that then runs on one of them, reads units and
//! unit states (also filtered by machine and by unit), sets the desired
//! state, gets fleet's error for an unknown unit, and destroys the unit.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use corral_testkit::{phase, run_python, Cluster, ClusterSpec};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_fleet_client_manages_units_through_a_follower_issue_5() {
    let ok = Command::new("python3")
        .args(["-c", "import fleet.v1"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with fleet 0.1.3 is required: run scripts/install-test-deps (scripts/test does)"
    );
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    let view = c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();

    phase("the fleet client's scenario through a follower");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/fleet_scenario.py");
    let endpoint = format!("http://{}", c.machines[follower].api_addr());
    let stdout = run_python(&script, &[endpoint], 180, &c.log_tail(leader, 30)).await;
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    phase("what the client saw");
    let machines = v["machines"].as_array().expect("machines");
    assert_eq!(machines.len(), 3, "{v}");
    for m in machines {
        let id = m["id"].as_str().unwrap();
        assert_eq!(id.len(), 32, "a machine id is 32 hex characters: {id}");
        assert!(
            view.machines.iter().any(|vm| vm.id == id),
            "{id} is a cluster machine"
        );
        assert!(
            m["metadata"]["role"].is_string(),
            "metadata comes along: {m}"
        );
    }
    assert_eq!(v["created"]["name"], "pyfleet.service");
    assert_eq!(v["created"]["desiredState"], "launched");
    assert_eq!(v["got"]["options"], 2, "{v}");
    assert_eq!(v["listed"], serde_json::json!(["pyfleet.service"]));
    let on = v["running_on"].as_str().unwrap();
    assert!(machines.iter().any(|m| m["id"] == on), "{v}");
    assert_eq!(v["hash"].as_str().map(str::len), Some(40), "{v}");
    assert_eq!(v["on_machine"], serde_json::json!(["pyfleet.service"]));
    assert_eq!(v["by_name"], serde_json::json!(["pyfleet.service"]));
    assert_eq!(v["loaded"], "loaded");
    assert_eq!(
        v["missing"], 404,
        "an unknown unit is fleet's 404 error: {v}"
    );
    assert_eq!(v["after"], serde_json::json!([]));
    assert_eq!(v["state_gone"], "yes");
}

/// fleet's status codes and error envelope for bad requests; nothing is
/// written by any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_api_answers_bad_requests_as_fleet_does_issue_5() {
    let c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 1,
            servers: 1,
            ..Default::default()
        },
    );
    c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let base = format!("http://{}/fleet/v1", c.machines[0].api_addr());
    let put = |name: &str, ct: Option<&str>, body: Value| {
        let mut r = c
            .http
            .put(format!("{base}/units/{name}"))
            .body(body.to_string());
        if let Some(ct) = ct {
            r = r.header("Content-Type", ct);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let json = Some("application/json; charset=utf-8");
    let opts =
        serde_json::json!([{"section": "Service", "name": "ExecStart", "value": "/bin/sleep 60"}]);

    phase("bad requests: fleet's codes, fleet's envelope");
    let cases: Vec<(&str, Option<&str>, Value, u16, &str)> = vec![
        (
            "a.service",
            Some("text/plain"),
            serde_json::json!({"desiredState": "launched", "options": opts}),
            415,
            "Content-Type",
        ),
        (
            "a.service",
            json,
            serde_json::json!({"desiredState": "launched"}),
            409,
            "options",
        ),
        (
            "a.service",
            json,
            serde_json::json!({"name": "b.service", "options": opts}),
            400,
            "does not match",
        ),
        ("nodot", json, serde_json::json!({"options": opts}), 400, ""),
        (
            "a.service",
            json,
            serde_json::json!({"desiredState": "running", "options": opts}),
            400,
            "desiredState",
        ),
        (
            "web@.service",
            json,
            serde_json::json!({"desiredState": "launched", "options": opts}),
            400,
            "template",
        ),
        (
            "a.service",
            json,
            serde_json::json!({"options": [{"section": "X-Fleet", "name": "Bogus", "value": "1"}]}),
            400,
            "Bogus",
        ),
    ];
    for (name, ct, body, want, says) in cases {
        let (status, answer) = put(name, ct, body.clone()).await;
        assert_eq!(status, want, "PUT {name} {body}: {answer}");
        assert_eq!(answer["error"]["code"], want, "fleet's envelope: {answer}");
        let msg = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(says),
            "PUT {name}: {msg:?} should mention {says:?}"
        );
    }
    let units: Value = c.get_json(&format!("{base}/units")).await;
    assert_eq!(units["units"], serde_json::json!([]), "nothing was written");

    phase("create 201, set desired 204, missing desiredState 409, delete 204 then 404");
    let (s, _) = put(
        "a.service",
        json,
        serde_json::json!({"desiredState": "inactive", "options": opts}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = put(
        "a.service",
        json,
        serde_json::json!({"desiredState": "loaded"}),
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = put("a.service", json, serde_json::json!({})).await;
    assert_eq!(s, 409);
    let del = |name: &str| c.http.delete(format!("{base}/units/{name}")).send();
    assert_eq!(del("a.service").await.unwrap().status(), 204);
    assert_eq!(del("a.service").await.unwrap().status(), 404);

    phase("pages of 100 with fleet's tokens; a foreign token is refused");
    for i in 0..150 {
        let (s, _) = put(
            &format!("p{i}.service"),
            json,
            serde_json::json!({"desiredState": "inactive", "options": opts}),
        )
        .await;
        assert_eq!(s, 201);
    }
    let first: Value = c.get_json(&format!("{base}/units?alt=json")).await;
    assert_eq!(first["units"].as_array().map(Vec::len), Some(100));
    let token = first["nextPageToken"]
        .as_str()
        .expect("a next page")
        .to_string();
    let second: Value = c
        .get_json(&format!("{base}/units?nextPageToken={token}"))
        .await;
    assert_eq!(second["units"].as_array().map(Vec::len), Some(50));
    assert!(second.get("nextPageToken").is_none(), "{second}");
    let bad = c
        .http
        .get(format!("{base}/units?nextPageToken=bm9wZQ"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let d: Value = c.get_json(&format!("{base}/discovery")).await;
    assert_eq!(d["id"], "fleet:v1");
    let wrong = c.http.post(format!("{base}/units")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);
}
