//! `corral sim-agents` (issue 3): simulated agents register with a real
//! cluster like any machine, are offered to frameworks, report a launched
//! task RUNNING and a killed one KILLED, and fence older leaders as the
//! real agent does.

use std::path::Path;
use std::time::Duration;

use corral_bench::tasks::{active_agents, wait_active, SimAgents, SimSpec, SIM_ATTRIBUTE};
use corral_testkit::scheduler::{call, next_offers, next_update, subscribe, subscribed, task_info};
use corral_testkit::{phase, Cluster, ClusterSpec};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_agents_register_launch_and_kill_issue_3() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;

    phase("20 simulated agents register through the servers");
    // A block of 127.251.x.y of this test process's own (test clusters use
    // 127.20-219.x.x, the benchmark 127.250.x.y).
    let first_ip = format!("127.251.{}.1", std::process::id() % 250);
    let spec = SimSpec {
        count: 20,
        first_ip: first_ip.clone(),
        cpus: 4.0,
        mem_mb: 4096,
        heartbeat_ms: 200,
    };
    let mut sim = SimAgents::start(
        Path::new(BIN),
        &c.server_endpoints(),
        &spec,
        &c.dir.path().join("sim-agents.log"),
    )
    .expect("corral sim-agents starts");
    wait_active(&c, &mut sim, 23, 20, T)
        .await
        .expect("23 agents listed");
    assert_eq!(active_agents(&c).await.unwrap(), (23, 20));

    phase("a simulated agent answers /health and refuses an older epoch");
    let agent = format!("http://{first_ip}:5051");
    let r = c.http.get(format!("{agent}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let stale = json!({"epoch": 0, "leader_id": 9, "command": {"type": "ping"}});
    let r = c
        .http
        .post(format!("{agent}/v1/agent/command"))
        .json(&stale)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "epoch 0 is older than the leader's");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "stale_epoch", "{body}");

    phase("a framework launches a task on a simulated agent's offer: TASK_RUNNING");
    let (mut s, fw) = subscribed(subscribe(&c, leader, None).await).await;
    let offers = next_offers(&mut s, 23).await;
    let offer = offers
        .iter()
        .find(|o| {
            o["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["name"] == SIM_ATTRIBUTE)
        })
        .expect("an offer of a simulated agent")
        .clone();
    let block = format!("{}.", first_ip.rsplit_once('.').unwrap().0);
    assert!(
        offer["hostname"].as_str().unwrap().starts_with(&block),
        "the offer names the simulated agent's own address: {offer}"
    );
    let launch = json!({"type": "ACCEPT", "framework_id": {"value": fw}, "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task_info("sim-1", &offer["agent_id"], "sleep 3600")]}}]
    }});
    assert_eq!(call(&c, leader, Some(&s.stream_id), launch).await.0, 202);
    let running = next_update(&mut s, "sim-1", "TASK_RUNNING").await;
    assert_eq!(running["agent_id"], offer["agent_id"], "{running}");
    assert_eq!(running["source"], "SOURCE_AGENT", "{running}");

    phase("KILL: TASK_KILLED from the simulated agent");
    let kill = json!({"type": "KILL", "framework_id": {"value": fw}, "kill": {"task_id": {"value": "sim-1"}}});
    assert_eq!(call(&c, leader, Some(&s.stream_id), kill).await.0, 202);
    let killed = next_update(&mut s, "sim-1", "TASK_KILLED").await;
    assert_eq!(killed["source"], "SOURCE_AGENT", "{killed}");
    sim.check_alive().expect("corral sim-agents still runs");
}
