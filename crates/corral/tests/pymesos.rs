//! An unmodified pymesos framework (examples/pymesos/run_tasks.py, PyPI
//! pymesos 0.3.15 installed by scripts/install-test-deps) against a real
//! 3-server cluster, pointed at a follower: it is redirected to the leader,
//! gets offers from every agent, runs 30 short tasks spread over all of
//! them plus one that fails, and tears down.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use corral_testkit::{phase, run_python, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pymesos/run_tasks.py")
}

fn must_have_pymesos() {
    let ok = Command::new("python3")
        .args(["-c", "import pymesos, addict"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "python3 with pymesos 0.3.15 is required: run scripts/install-test-deps (scripts/test does)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_runs_tasks_on_every_agent() {
    must_have_pymesos();
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();

    phase("run the example framework through a follower");
    let master = c.machines[follower].api_addr();
    let args: Vec<String> = ["--master", &master, "--tasks", "30", "--timeout", "60"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let stdout = run_python(&example(), &args, 120, "the example framework").await;
    assert!(stdout.contains("tasks ended: 31 of 31"), "{stdout}");
    assert!(
        stdout.contains("agents used: 3"),
        "tasks spread over every agent:\n{stdout}"
    );
    assert!(
        stdout.contains("fail-0: TASK_FAILED (Command exited with status 7)"),
        "{stdout}"
    );
    assert!(stdout.contains("all tasks ended as expected"), "{stdout}");

    phase("/master/state: the framework tore itself down; its tasks are kept as completed");
    let state: serde_json::Value = c.get_json(&c.api_url(leader, "/master/state")).await;
    let active: Vec<&str> = state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        active,
        ["marathon"],
        "only the built-in app scheduler: {state}"
    );
    let done = &state["completed_frameworks"][0];
    assert_eq!(done["name"], "corral-pymesos-example");
    let tasks = done["completed_tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 31);
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t["state"] == "TASK_FINISHED")
            .count(),
        30
    );
    let agents: std::collections::BTreeSet<&str> = tasks
        .iter()
        .map(|t| t["slave_id"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 3);

    phase("/master/frameworks, /master/tasks and /master/slaves agree; followers redirect them");
    let get = |i: usize, path: &str| {
        let (http, url) = (c.http.clone(), c.api_url(i, path));
        async move { http.get(url).send().await.unwrap() }
    };
    let fws: serde_json::Value = get(leader, "/master/frameworks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        fws["completed_frameworks"][0]["name"],
        "corral-pymesos-example"
    );
    let all: serde_json::Value = get(leader, "/master/tasks").await.json().await.unwrap();
    assert_eq!(all["tasks"].as_array().unwrap().len(), 31);
    let sl: serde_json::Value = get(leader, "/master/slaves").await.json().await.unwrap();
    assert_eq!(sl["slaves"].as_array().unwrap().len(), 3);
    for path in ["/master/frameworks", "/master/tasks", "/master/slaves"] {
        assert_eq!(
            get(follower, path).await.status(),
            307,
            "{path} on a follower"
        );
    }

    phase("corral tasks lists them; corral task log fetches a task's stdout from its agent");
    let ep = c.server_endpoints().join(",");
    let corral = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("CORRAL_ENDPOINT", &ep)
            .output()
            .unwrap()
    };
    let out = corral(&["tasks", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 31);
    let text = String::from_utf8_lossy(&corral(&["tasks"]).stdout).to_string();
    assert!(
        text.starts_with("TASK")
            && text.contains("TASK_FINISHED")
            && text.contains("corral-pymesos-example"),
        "{text}"
    );
    let out = corral(&["task", "log", "ok-3"]);
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && log.contains("task 3"),
        "{log} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        corral(&["task", "log", "nope"]).status.code(),
        Some(2),
        "an unknown task is bad input"
    );
}
