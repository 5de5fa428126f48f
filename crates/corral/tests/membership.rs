//! Cluster sizes and membership through the real binary: a 1-server cluster
//! keeps its state across a restart; a 5-server cluster keeps writing with
//! two servers down; a fresh server joins a running cluster and catches up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_cluster_restarts_with_its_state() {
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 1,
            servers: 1,
            ..Default::default()
        },
    );
    c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let mut want = BTreeMap::new();
    for i in 0..20 {
        c.must_put(&format!("/solo/{i}"), &i.to_string()).await;
        want.insert(format!("/solo/{i}"), i.to_string());
    }
    phase("restart the only server from its data dir (SIGTERM)");
    c.stop(0);
    c.start_machine(0);
    c.must_leader(T).await;
    c.must_hold(0, &want).await;
    phase("and once more with SIGKILL");
    c.kill(0);
    c.start_machine(0);
    c.must_leader(T).await;
    c.must_hold(0, &want).await;
    let view = c.must_all_agents_registered(T).await;
    assert_eq!(view.machines.len(), 1, "the machine is not admitted twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_servers_lose_two_and_a_fresh_one_joins() {
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 5,
            servers: 5,
            ..Default::default()
        },
    );
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let mut want = BTreeMap::new();
    for i in 0..10 {
        c.must_put(&format!("/five/{i}"), "a").await;
        want.insert(format!("/five/{i}"), "a".to_string());
    }

    phase("kill two servers (a minority of five), one of them the leader");
    let other = (0..5).find(|i| *i != leader).unwrap();
    c.kill(leader);
    c.kill(other);
    c.must_leader(T).await;
    for i in 10..20 {
        c.must_put(&format!("/five/{i}"), "b").await;
        want.insert(format!("/five/{i}"), "b".to_string());
    }

    phase("a fresh server joins the running cluster and catches up");
    let seed = (0..5).find(|i| c.machines[*i].is_running()).unwrap();
    let new = c.add_server(6, seed);
    wait_for("server 6 to be a voter", T, || async {
        let v = c.cluster_view(seed).await?;
        match v.servers.iter().find(|s| s.id == 6) {
            Some(s) if s.voter => Ok(()),
            other => Err(format!("server 6: {other:?}")),
        }
    })
    .await;
    c.must_hold(new, &want).await;
    let view = c.must_all_agents_registered(T).await;
    assert_eq!(view.servers.len(), 6);
    assert!(view
        .machines
        .iter()
        .any(|m| m.hostname == "m6" && m.server_id == Some(6)));
}
