//! Issue 4, point 3: the leading server dies in the middle of a rolling
//! upgrade. The new leader resumes the deployment from committed state and
//! finishes it; no instance is lost, none is launched twice, and the app
//! never has more live instances than `maximumOverCapacity` allows.
//!
//! The app is pinned (CLUSTER hostname) to an agent-only machine, so the
//! server that dies takes only the scheduler with it, not instances.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(40);
const APP: &str = "/roller";

async fn app(c: &Cluster, i: usize) -> Result<Value, String> {
    let r = c
        .http
        .get(format!("http://{}:8080/v2/apps{APP}", c.machines[i].ip))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("status {}", r.status()));
    }
    r.json::<Value>()
        .await
        .map(|v| v["app"].clone())
        .map_err(|e| e.to_string())
}

/// The app once it runs 4 instances of `cmd` with no deployment.
async fn settled(c: &Cluster, i: usize, cmd: &str) -> Result<Value, String> {
    let a = app(c, i).await?;
    let ok = a["tasksRunning"] == 4
        && a["deployments"].as_array().is_some_and(|d| d.is_empty())
        && a["cmd"] == cmd
        && a["tasks"].as_array().is_some_and(|t| t.len() == 4);
    if ok {
        Ok(a)
    } else {
        Err(format!("{a}"))
    }
}

/// Live tasks of the app at `version` (ISO), from the master's view.
async fn tasks_by_version(c: &Cluster, i: usize) -> Result<Vec<(String, String, String)>, String> {
    let v: Value = c
        .http
        .get(c.api_url(i, "/master/tasks"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(v["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|t| t["id"].as_str().is_some_and(|id| id.starts_with("roller.")))
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_string(),
                t["state"].as_str().unwrap_or_default().to_string(),
                t["statuses"].to_string(),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_dies_mid_upgrade_and_the_next_one_finishes_it() {
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 4,
            max_missed_heartbeats: 40,
            ..Default::default()
        },
    );
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let worker_ip = c.machines[3].ip.clone();
    let any = (0..3).find(|i| *i != leader).unwrap();

    phase("an app of 4 on the worker, upgraded one instance at a time");
    let body = json!({
        "id": APP, "cmd": "sleep 600", "instances": 4, "cpus": 0.1, "mem": 16,
        "constraints": [["hostname", "CLUSTER", worker_ip]],
        "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.0}
    });
    let r = c
        .http
        .post(format!("http://{}:8080/v2/apps", c.machines[any].ip))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let before = wait_for("4 running", T, || settled(&c, any, "sleep 600")).await;
    let old_ids: BTreeSet<String> = before["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();

    phase("change the command, then SIGKILL the leading server at once");
    let r = c
        .http
        .put(format!("http://{}:8080/v2/apps{APP}", c.machines[any].ip))
        .json(&json!({"cmd": "sleep 601"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // Let the old leader start the rollout (one instance changed over).
    wait_for("the rollout to start", T, || async {
        let ts = tasks_by_version(&c, leader).await?;
        let new = ts.iter().filter(|(id, _, _)| !old_ids.contains(id)).count();
        if new >= 1 {
            Ok(())
        } else {
            Err(format!("{ts:?}"))
        }
    })
    .await;
    c.kill(leader);
    let new_leader = c.must_leader(T).await;
    assert_ne!(new_leader, leader);

    phase("the new leader finishes the deployment");
    let most_live = std::sync::atomic::AtomicUsize::new(0);
    let after = wait_for("the upgrade to finish under the new leader", T, || {
        let (c, most_live) = (&c, &most_live);
        async move {
            let ts = tasks_by_version(c, new_leader).await?;
            let live = ts
                .iter()
                .filter(|(_, s, _)| {
                    matches!(
                        s.as_str(),
                        "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING"
                    )
                })
                .count();
            most_live.fetch_max(live, std::sync::atomic::Ordering::SeqCst);
            settled(c, any, "sleep 601").await
        }
    })
    .await;
    let most_live = most_live.into_inner();
    assert!(
        most_live <= 4,
        "maximumOverCapacity 0 keeps at most 4 live, saw {most_live}"
    );

    phase("nothing lost, nothing launched twice");
    let all = tasks_by_version(&c, new_leader).await.unwrap();
    let new_ids: BTreeSet<&str> = all
        .iter()
        .filter(|(id, _, _)| !old_ids.contains(id))
        .map(|(id, _, _)| id.as_str())
        .collect();
    assert_eq!(
        new_ids.len(),
        4,
        "exactly 4 new instances were ever launched: {all:?}"
    );
    let running: BTreeSet<&str> = after["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(running, new_ids, "the 4 new ones are the ones running");
    for (id, state, _) in &all {
        assert!(
            state != "TASK_LOST" && state != "TASK_FAILED",
            "{id} ended {state}: {all:?}"
        );
        if old_ids.contains(id) {
            assert_eq!(state, "TASK_KILLED", "old instance {id} was replaced");
        }
    }
}
