//! A 3-node cluster in one process over real HTTP on 127.0.0.1: bootstrap,
//! election, writes, redirection, fail-over, growing to 4 and restarting a
//! server from its dir.

mod common;

use std::time::Duration;

use common::*;
use corral_core::{Event, Response};
use corral_store::WriteError;

const ELECTION: Duration = Duration::from_secs(10);
const CONVERGE: Duration = Duration::from_secs(10);

fn node(nodes: &[Node], id: u64) -> &Node {
    nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_write_fail_over_and_grow() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = |id: u64| tmp.path().join(format!("node-{id}"));

    eprintln!("--- start 3 fresh nodes");
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(start(config(id, dir(id))).await);
    }
    for n in &nodes {
        assert!(n.store.is_fresh().await, "node {} should be fresh", n.id);
    }
    let all = members(&nodes.iter().collect::<Vec<_>>());

    eprintln!("--- initialize on node 1, elect a leader");
    nodes[0]
        .store
        .initialize(all.clone())
        .await
        .expect("initialize");
    let leader_id = must_agree_on_leader(&nodes.iter().collect::<Vec<_>>(), ELECTION).await;
    for n in &nodes {
        assert!(
            !n.store.is_fresh().await,
            "node {} is initialized now",
            n.id
        );
    }
    eprintln!(
        "leader is {leader_id}, term {}",
        node(&nodes, leader_id).store.term()
    );
    // Initializing an initialized node is a no-op.
    nodes[1]
        .store
        .initialize(all.clone())
        .await
        .expect("initialize again is Ok");
    let voters: Vec<_> = nodes[0]
        .store
        .members()
        .into_iter()
        .map(|(id, _, voter)| (id, voter))
        .collect();
    assert_eq!(voters, [(1, true), (2, true), (3, true)]);

    eprintln!("--- write on the leader; all 3 converge; a follower's subscriber sees the event");
    let leader = node(&nodes, leader_id);
    let follower = nodes
        .iter()
        .find(|n| n.id != leader_id)
        .expect("a follower");
    let mut events = follower.store.subscribe();
    let resp = leader
        .store
        .write(set("/a", "1"), 1_000)
        .await
        .expect("write /a");
    let Response::KvSet {
        revision,
        prev: None,
    } = resp
    else {
        panic!("unexpected response {resp:?}")
    };
    let want = leader.store.read(|s| s.clone());
    assert_eq!(want.kv["/a"].mod_revision, revision);
    must_converge(&nodes.iter().collect::<Vec<_>>(), &want, CONVERGE).await;
    let (index, event) = tokio::time::timeout(CONVERGE, events.recv())
        .await
        .expect("event in time")
        .expect("event");
    assert_eq!(index, revision);
    assert!(
        matches!(event, Event::KvPut { ref key, .. } if key == "/a"),
        "got {event:?}"
    );
    leader
        .store
        .linearizable_barrier()
        .await
        .expect("barrier on the leader");

    eprintln!("--- a write or barrier on a follower answers NotLeader with the leader");
    for result in [
        follower
            .store
            .write(set("/b", "x"), 1_000)
            .await
            .map(|_| ()),
        follower.store.linearizable_barrier().await,
    ] {
        match result {
            Err(WriteError::NotLeader {
                leader: Some((id, node)),
            }) => {
                assert_eq!(id, leader_id);
                assert_eq!(node, leader.server_node());
            }
            other => panic!("expected NotLeader with the leader, got {other:?}"),
        }
    }

    eprintln!("--- shut the leader down: a new leader within a few seconds");
    let old_term = leader.store.term();
    let pos = nodes
        .iter()
        .position(|n| n.id == leader_id)
        .expect("leader pos");
    let (old_id, old_addr, old_dir) = nodes.remove(pos).stop().await;
    let new_leader_id = must_agree_on_leader(&nodes.iter().collect::<Vec<_>>(), ELECTION).await;
    assert_ne!(new_leader_id, old_id);
    let new_leader = node(&nodes, new_leader_id);
    assert!(new_leader.store.term() > old_term, "term must grow");

    eprintln!("--- writes work on the new leader");
    new_leader
        .store
        .write(set("/b", "2"), 2_000)
        .await
        .expect("write /b");
    let want = new_leader.store.read(|s| s.clone());
    must_converge(&nodes.iter().collect::<Vec<_>>(), &want, CONVERGE).await;
    assert_eq!(kv(&nodes[0]), ["/a=1", "/b=2"]);

    eprintln!("--- add_server a 4th fresh node: it catches up and becomes a voter");
    let fourth = start(config(4, dir(4))).await;
    assert!(fourth.store.is_fresh().await);
    let new_leader = node(&nodes, new_leader_id);
    new_leader
        .store
        .add_server(4, fourth.server_node())
        .await
        .expect("add_server 4");
    new_leader
        .store
        .add_server(4, fourth.server_node())
        .await
        .expect("add_server 4 again is Ok");
    nodes.push(fourth);
    must_converge(&nodes.iter().collect::<Vec<_>>(), &want, CONVERGE).await;
    let voters: Vec<_> = node(&nodes, new_leader_id)
        .store
        .members()
        .into_iter()
        .map(|(id, _, v)| (id, v))
        .collect();
    assert_eq!(voters, [(1, true), (2, true), (3, true), (4, true)]);

    eprintln!("--- restart the old leader from its dir: it rejoins with its state and catches up");
    let restarted = restart(config(old_id, old_dir), old_addr).await;
    assert!(
        !restarted.store.is_fresh().await,
        "a restarted node is not fresh"
    );
    assert!(
        restarted.store.read(|s| s.kv.contains_key("/a")),
        "state recovered from the local log"
    );
    nodes.push(restarted);
    let leader = node(&nodes, new_leader_id);
    leader
        .store
        .write(set("/c", "3"), 3_000)
        .await
        .expect("write /c");
    let want = leader.store.read(|s| s.clone());
    must_converge(&nodes.iter().collect::<Vec<_>>(), &want, CONVERGE).await;
    assert_eq!(kv(node(&nodes, old_id)), ["/a=1", "/b=2", "/c=3"]);

    for n in nodes {
        n.stop().await;
    }
}

/// Concurrent writes share log entries (proposal batching), and each still
/// gets its own revision and response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_batched_into_few_entries() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let n = start(config(1, tmp.path().join("solo"))).await;
    n.store
        .initialize(members(&[&n]))
        .await
        .expect("initialize");
    must_agree_on_leader(&[&n], ELECTION).await;
    let before = n.store.metrics().borrow().last_log_index.unwrap_or(0);

    eprintln!("--- 500 writes at once");
    let writes: Vec<_> = (0..500)
        .map(|i| {
            let store = n.store.clone();
            tokio::spawn(async move { store.write(set(&format!("/b/{i}"), "v"), 1_000).await })
        })
        .collect();
    let mut revisions = Vec::new();
    for w in writes {
        match w.await.expect("task") {
            Ok(Response::KvSet { revision, .. }) => revisions.push(revision),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 500, "every write has its own revision");
    assert_eq!(n.store.read(|s| s.kv.len()), 500);
    let entries = n.store.metrics().borrow().last_log_index.unwrap_or(0) - before;
    eprintln!("500 writes took {entries} log entries");
    assert!(
        entries < 250,
        "writes were batched: {entries} entries for 500 writes"
    );
}
