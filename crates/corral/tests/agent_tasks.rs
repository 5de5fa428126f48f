//! Tasks on a real agent: launched and killed only by the current leader's
//! epoch, and still running after the agent's node process is SIGKILLed and
//! restarted (a restarting agent kills nothing).

use std::path::Path;
use std::time::Duration;

use corral_api::native::{AgentCommand, AgentTaskView, TaskLaunch};
use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(20);

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

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only probes for the process.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_survive_agent_restart_and_obey_only_the_current_leader() {
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 4,
            servers: 3,
            ..Default::default()
        },
    );
    c.must_leader(T).await;
    let view = c.must_all_agents_registered(T).await;
    let worker = 3; // the agent-only machine
    let launch = |id: &str, cmd: &str| AgentCommand::LaunchTasks {
        tasks: vec![TaskLaunch {
            id: id.into(),
            command: cmd.into(),
            env: Default::default(),
            cpus: 0.0,
            mem_mb: 0,
            ..Default::default()
        }],
    };

    phase("launch a task with the current epoch");
    let (status, body) = c
        .agent_command(
            worker,
            view.term,
            launch("web-1", "echo started; exec sleep 300"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let pid = wait_for("web-1 running", T, || async {
        let t = task(&c, worker, "web-1").await?;
        t.pid
            .filter(|_| t.state == "running")
            .ok_or(format!("{t:?}"))
    })
    .await;

    phase("its sandbox files are readable through /files; nothing outside is");
    let t = task(&c, worker, "web-1").await.unwrap();
    let sandbox = t.sandbox.expect("the agent names the sandbox");
    let read = |path: String| {
        let url = c.agent_url(worker, &format!("/files/read?path={path}&offset=0"));
        let http = c.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let r = read(format!("{sandbox}/stdout")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["data"],
        "started\n"
    );
    for escape in [
        format!("{sandbox}/../../machine-id"),
        "/etc/passwd".to_string(),
        format!("{sandbox}/%2E%2E/%2E%2E/epoch"),
    ] {
        let r = read(escape.clone()).await;
        assert_eq!(r.status(), 403, "{escape} must be refused");
    }
    let r = c
        .http
        .get(c.agent_url(worker, &format!("/files/browse?path={sandbox}")))
        .send()
        .await
        .unwrap();
    let names: Vec<String> = r
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap()
        .iter()
        .map(|e| {
            e["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        names.contains(&"stdout".to_string()) && names.contains(&"stderr".to_string()),
        "{names:?}"
    );

    phase("the agent's /state is Mesos-shaped, lists the task and says how limits are handled");
    let st: serde_json::Value = c.get_json(&c.agent_url(worker, "/state")).await;
    assert!(st["pid"].as_str().unwrap().starts_with("slave(1)@"), "{st}");
    assert_eq!(st["resources"]["ports"], "[31000-32000]");
    assert!(
        st["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == "web-1" && t["state"] == "running"),
        "{st}"
    );
    assert!(
        st["resource_limits"]
            .as_str()
            .unwrap()
            .split_once(": ")
            .is_some_and(|(m, _)| m == "measured" || m == "cgroups-v2"),
        "{st}"
    );

    phase("bad and duplicate launches are refused with a reason");
    let (status, body) = c
        .agent_command(worker, view.term, launch("web-1", "true"))
        .await;
    assert_eq!(
        (
            status,
            body["refused"][0]["id"].as_str(),
            body["refused"][0]["code"].as_str()
        ),
        (200, Some("web-1"), Some("duplicate_task")),
        "{body}"
    );
    let (status, body) = c
        .agent_command(worker, view.term, launch("../escape", "true"))
        .await;
    assert_eq!(
        (status, body["refused"][0]["field"].as_str()),
        (200, Some("task.id")),
        "{body}"
    );

    phase("SIGKILL the agent's node process: the task keeps running");
    c.kill(worker);
    assert!(alive(pid), "task {pid} died with its agent");
    c.start_machine(worker);
    let t = wait_for("the restarted agent to report web-1", T, || {
        task(&c, worker, "web-1")
    })
    .await;
    assert_eq!(
        (t.state.as_str(), t.pid),
        ("running", Some(pid)),
        "same process, found again: {t:?}"
    );

    phase("a new leader: the old epoch can no longer kill the task");
    let leader = c.must_leader(T).await;
    c.kill(leader);
    c.must_leader(T).await;
    let newer = c.must_all_agents_registered(T).await;
    assert!(newer.term > view.term);
    let (status, body) = c
        .agent_command(
            worker,
            view.term,
            AgentCommand::KillTasks {
                ids: vec!["web-1".into()],
                grace_ms: 1000,
            },
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("stale_epoch")),
        "{body}"
    );
    assert!(alive(pid), "a deposed leader killed a task");

    phase("the current leader's kill ends it with SIGTERM");
    let (status, body) = c
        .agent_command(
            worker,
            newer.term,
            AgentCommand::KillTasks {
                ids: vec!["web-1".into()],
                grace_ms: 5000,
            },
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let t = wait_for("web-1 finished", T, || async {
        let t = task(&c, worker, "web-1").await?;
        if t.state == "finished" {
            Ok(t)
        } else {
            Err(format!("{t:?}"))
        }
    })
    .await;
    assert_eq!(t.signal, Some(15));
    let (status, body) = c
        .agent_command(
            worker,
            newer.term,
            AgentCommand::KillTasks {
                ids: vec!["nope".into()],
                grace_ms: 0,
            },
        )
        .await;
    assert_eq!(
        (status, body["refused"][0]["code"].as_str()),
        (200, Some("unknown_task")),
        "{body}"
    );
}
