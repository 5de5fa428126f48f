//! The PyPI `marathon` client (0.13.0), unchanged, against a real 3-server
//! cluster's :8080 (tests/py/marathon_scenario.py): info, leader and ping
//! through a follower's proxy; create (5 instances spread over every
//! agent), duplicate and invalid creates, scale, kill-and-replace, a
//! rolling upgrade, restart, an unplaceable app queued with its reason,
//! delete. The app scheduler shows up as the `marathon` framework.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use corral_testkit::{phase, run_python, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_python_runs_the_app_lifecycle_through_any_server() {
    let ok = Command::new("python3")
        .args(["-c", "import marathon"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "python3 with marathon 0.13.0 is required: run scripts/install-test-deps (scripts/test does)");
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let url = |i: usize| format!("http://{}:8080", c.machines[i].ip);

    phase("marathon-python scenario through a follower");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/marathon_scenario.py");
    let (f, l) = (url(follower), url(leader));
    let stdout = run_python(&script, &[f, l], 300, &c.log_tail(leader, 30)).await;
    for step in [
        "ok info, leader and ping through a follower",
        "ok create: 201 with the app, a deployment listed",
        "ok 5 instances running on 3 hosts",
        "ok duplicate create: 409",
        "ok invalid app: 422 naming /cpus",
        "ok scale down to 2",
        "ok killed task replaced",
        "ok rolling upgrade to a new command",
        "ok restart replaced every instance",
        "ok unplaceable app queued with its reason",
        "ok delete stops every instance",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }

    phase("the app scheduler is the `marathon` framework in /master/frameworks");
    let fws: serde_json::Value = c.get_json(&c.api_url(leader, "/master/frameworks")).await;
    let names: Vec<&str> = fws["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"marathon"), "{fws}");

    phase("a follower with its leader proxied marks the answer; the leader names itself");
    let r = c
        .http
        .get(format!("{}/v2/apps", url(follower)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().contains_key("x-marathon-via"),
        "{:?}",
        r.headers()
    );
    let r = c
        .http
        .get(format!("{}/v2/apps", url(leader)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-marathon-leader"].to_str().unwrap(),
        url(leader)
    );
}
