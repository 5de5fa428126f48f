//! Task resources on a real agent (issue 3): `/state` says whether limits
//! are enforced with cgroups v2 or only measured (decided by the same
//! detection the agent runs, so the test is honest on either host), the
//! launch's limits reach the agent and its sandbox, and
//! `/monitor/statistics` reports each running task's memory and CPU in
//! Mesos's shape, and drops tasks that are no longer running.

use std::path::Path;
use std::time::Duration;

use corral_agent::cgroup::{self, Mode};
use corral_api::native::{AgentCommand, AgentTaskView, TaskLaunch};
use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);
const MIB: u64 = 1024 * 1024;

/// Holds ~64 MiB, burns a little CPU, then idles.
const HOG: &str = r#"python3 -c "b=bytearray(64<<20); import time; [sum(range(10**6)) for _ in range(30)]; time.sleep(60)""#;

/// SIGKILLs a task's process group when the test ends, pass or fail: task
/// supervisors outlive the cluster's node processes by design.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill(2) on the task's process group (pgid = its pid).
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
    }
}

fn launch(id: &str, command: &str, cpus: f64, mem_mb: u64) -> AgentCommand {
    AgentCommand::LaunchTasks {
        tasks: vec![TaskLaunch {
            id: id.into(),
            command: command.into(),
            env: Default::default(),
            cpus,
            mem_mb,
            ..Default::default()
        }],
    }
}

async fn task(c: &Cluster, i: usize, id: &str) -> Result<AgentTaskView, String> {
    let r = c
        .http
        .get(c.agent_url(i, "/v1/agent/tasks"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let all: Vec<AgentTaskView> = r.json().await.map_err(|e| e.to_string())?;
    all.into_iter()
        .find(|t| t.id == id)
        .ok_or(format!("no task {id}"))
}

async fn must_state(c: &Cluster, i: usize, id: &str, want: &str) -> AgentTaskView {
    wait_for(&format!("{id} {want}"), T, || async {
        let t = task(c, i, id).await?;
        if t.state == want {
            Ok(t)
        } else {
            Err(format!("{t:?}"))
        }
    })
    .await
}

/// `/monitor/statistics` (or `.json`) of machine `i`'s agent.
async fn statistics(c: &Cluster, i: usize, path: &str) -> Result<Vec<Value>, String> {
    let r = c
        .http
        .get(c.agent_url(i, path))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("{path}: {}", r.status()));
    }
    r.json().await.map_err(|e| e.to_string())
}

fn entry<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|e| e["executor_id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_measures_task_usage_and_says_how_limits_are_handled_issue_3() {
    let c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 2,
            servers: 1,
            ..Default::default()
        },
    );
    c.must_leader(T).await;
    let view = c.must_all_agents_registered(T).await;
    let worker = 1; // the agent-only machine
    let mut guard = KillOnDrop(None);

    phase("/state says which resource mode is in force, as detection decides on this host");
    let st: Value = c.get_json(&c.agent_url(worker, "/state")).await;
    let mode = st["resource_limits"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!("resource_limits: {mode}");
    match cgroup::detect() {
        Mode::Enforced { .. } => assert!(mode.starts_with("cgroups-v2"), "{st}"),
        Mode::Measured { .. } => assert!(
            mode.starts_with("measured: ") && mode.len() > "measured: ".len(),
            "the mode must give its reason: {st}"
        ),
    }

    phase("launch a task holding 64 MiB with limits cpus 0.5, mem 256 MB");
    let (status, body) = c
        .agent_command(worker, view.term, launch("hog", HOG, 0.5, 256))
        .await;
    assert_eq!(status, 200, "{body}");
    let t = must_state(&c, worker, "hog", "running").await;
    guard.0 = t.pid;

    phase("its sandbox's task.json keeps the limits, for a restarted agent");
    let sandbox = t.sandbox.expect("the agent names the sandbox");
    let url = c.agent_url(
        worker,
        &format!("/files/read?path={sandbox}/task.json&offset=0"),
    );
    let r: Value = c.get_json(&url).await;
    let stored: Value = serde_json::from_str(r["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored["limits"],
        serde_json::json!({"cpus": 0.5, "mem_mb": 256}),
        "{stored}"
    );

    phase("/monitor/statistics reports its memory and CPU with its limits");
    let e = wait_for("hog's usage to show", T, || async {
        let list = statistics(&c, worker, "/monitor/statistics").await?;
        let e = entry(&list, "hog").ok_or(format!("no hog in {list:?}"))?;
        let s = &e["statistics"];
        let rss = s["mem_rss_bytes"].as_u64().unwrap_or(0);
        let user = s["cpus_user_time_secs"].as_f64().unwrap_or(0.0);
        if rss >= 60 * MIB && user > 0.0 {
            Ok(e.clone())
        } else {
            Err(format!("{e}"))
        }
    })
    .await;
    eprintln!("hog: {e}");
    let s = &e["statistics"];
    assert_eq!(s["mem_limit_bytes"], 256 * MIB, "{e}");
    assert_eq!(s["cpus_limit"], 0.5, "{e}");
    assert!(s["processes"].as_u64().unwrap() >= 1, "{e}");
    assert!(s["cpus_system_time_secs"].as_f64().is_some(), "{e}");
    assert!(s["timestamp"].as_f64().unwrap() > 1.0e9, "{e}");
    assert_eq!(e["source"], "hog", "{e}");
    assert_eq!(e["framework_id"], "", "{e}");
    assert!(
        e["executor_name"]
            .as_str()
            .unwrap()
            .starts_with("Command Executor (Task: hog) (Command: sh -c 'python3 -c"),
        "{e}"
    );
    let list = statistics(&c, worker, "/monitor/statistics.json")
        .await
        .unwrap();
    assert!(entry(&list, "hog").is_some(), "{list:?}");

    phase("a finished task is not listed");
    let (status, body) = c
        .agent_command(worker, view.term, launch("brief", "echo done", 0.1, 32))
        .await;
    assert_eq!(status, 200, "{body}");
    must_state(&c, worker, "brief", "finished").await;
    let list = statistics(&c, worker, "/monitor/statistics").await.unwrap();
    assert!(entry(&list, "brief").is_none(), "{list:?}");
    assert!(entry(&list, "hog").is_some(), "{list:?}");

    phase("a bad limit is refused with the field named");
    let (status, body) = c
        .agent_command(worker, view.term, launch("bad", "true", -1.0, 0))
        .await;
    assert_eq!(
        (status, body["refused"][0]["field"].as_str()),
        (200, Some("task.cpus")),
        "{body}"
    );

    phase("kill the task: it leaves the statistics");
    let (status, body) = c
        .agent_command(
            worker,
            view.term,
            AgentCommand::KillTasks {
                ids: vec!["hog".into()],
                grace_ms: 2000,
            },
        )
        .await;
    assert_eq!(status, 200, "{body}");
    must_state(&c, worker, "hog", "finished").await;
    guard.0 = None;
    let list = statistics(&c, worker, "/monitor/statistics").await.unwrap();
    assert!(entry(&list, "hog").is_none(), "{list:?}");
}
