//! Issue 4, point 1: `DELETE /v2/leader` (abdication). The leading server
//! hands leadership to another server and stays up as a follower; its
//! tasks keep running and the new leader's app scheduler carries on.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(40);

async fn get(c: &Cluster, url: &str) -> Result<Value, String> {
    let r = c.http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let body: Value = r.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status} {body}"))
    }
}

/// Ids of the app's tasks once it runs `n` with no deployment.
async fn running(c: &Cluster, i: usize, id: &str, n: u64) -> Result<BTreeSet<String>, String> {
    let url = format!("http://{}:8080/v2/apps{id}", c.machines[i].ip);
    let app = get(c, &url).await?["app"].clone();
    let settled =
        app["tasksRunning"] == n && app["deployments"].as_array().is_some_and(|d| d.is_empty());
    if !settled {
        return Err(app.to_string());
    }
    Ok(app["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_leader_hands_leadership_over_and_kills_nothing_issue_4() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let via = (0..3).find(|i| *i != leader).unwrap();
    let v = format!("http://{}:8080", c.machines[via].ip);

    phase("an app of 3 instances runs");
    let r = c
        .http
        .post(format!("{v}/v2/apps"))
        .json(&json!({"id": "/steady", "cmd": "sleep 600", "instances": 3, "cpus": 0.1, "mem": 16}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let before = wait_for("3 running", T, || running(&c, via, "/steady", 3)).await;
    let old = get(&c, &format!("{v}/v2/leader")).await.unwrap()["leader"].clone();
    assert_eq!(
        old,
        json!(format!("{}:8080", c.machines[leader].ip)),
        "/v2/leader names the Raft leader"
    );

    phase("DELETE /v2/leader through a follower");
    let r = c
        .http
        .delete(format!("{v}/v2/leader"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"message": "Leadership abdicated"}));

    phase("another server leads; the old one is still up, as a follower");
    let new_leader = c.must_leader(T).await;
    assert_ne!(new_leader, leader, "leadership moved");
    assert!(
        c.machines[leader].is_running(),
        "the old leader's process is alive"
    );
    wait_for(
        "every server to name the new leader on :8080",
        T,
        || async {
            for i in 0..3 {
                let l = get(&c, &format!("http://{}:8080/v2/leader", c.machines[i].ip)).await?;
                if l["leader"] != json!(format!("{}:8080", c.machines[new_leader].ip)) {
                    return Err(format!("server {i} says {l}"));
                }
            }
            Ok(())
        },
    )
    .await;

    phase("nothing was killed, and the new leader's scheduler works");
    let after = wait_for("the same 3 running", T, || {
        running(&c, leader, "/steady", 3)
    })
    .await;
    assert_eq!(after, before, "the same tasks run after the handover");
    let r = c
        .http
        .post(format!("http://{}:8080/v2/apps", c.machines[leader].ip))
        .json(&json!({"id": "/after", "cmd": "sleep 600", "instances": 1, "cpus": 0.1, "mem": 16}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    wait_for("the new app runs", T, || running(&c, via, "/after", 1)).await;
    let still = running(&c, via, "/steady", 3).await.unwrap();
    assert_eq!(still, before);
}
