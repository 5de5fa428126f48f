//! Snapshots end to end: a busy single-node cluster snapshots and purges its
//! log, a new server catches up by a snapshot sent over HTTP in chunks, and a
//! restarted server recovers from its snapshot plus its log.

mod common;

use std::time::Duration;

use common::*;
use tokio::task::JoinSet;

const WRITES: usize = 1300;
/// One write at a time, so each is its own log entry (concurrent writes
/// would be batched into few entries and never reach a snapshot).
const IN_FLIGHT: usize = 1;
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_server_catches_up_by_snapshot_and_restart_recovers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = |id: u64| tmp.path().join(format!("node-{id}"));
    let cfg = |id: u64| corral_store::StoreConfig {
        snapshot_every: 100,
        ..config(id, dir(id))
    };

    eprintln!("--- a one-node cluster");
    let one = start(cfg(1)).await;
    one.store
        .initialize(members(&[&one]))
        .await
        .expect("initialize");
    must_agree_on_leader(&[&one], WAIT).await;

    eprintln!("--- {WRITES} writes, {IN_FLIGHT} in flight");
    let started = std::time::Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..WRITES {
        if tasks.len() >= IN_FLIGHT {
            tasks.join_next().await.expect("a task").expect("task ok");
        }
        let store = one.store.clone();
        tasks.spawn(async move {
            store
                .write(set(&format!("/k/{i:05}"), &i.to_string()), i as u64)
                .await
                .unwrap_or_else(|e| panic!("write {i}: {e}"));
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task ok");
    }
    assert_eq!(one.store.read(|s| s.kv.len()), WRITES);
    eprintln!("writes took {:?}", started.elapsed());

    eprintln!("--- the log is snapshotted and purged");
    let mut metrics = one.store.metrics();
    let purged = until("a snapshot past 1000 logs and a purge", WAIT, || {
        let m = metrics.borrow_and_update();
        m.purged
            .filter(|p| p.index > 0 && m.snapshot.is_some())
            .map(|p| p.index)
    })
    .await;
    eprintln!("purged up to {purged}");
    assert!(one.dir.join("snapshot.json").exists());

    eprintln!("--- add a fresh server: the purged log forces a snapshot transfer");
    let two = start(cfg(2)).await;
    one.store
        .add_server(2, two.server_node())
        .await
        .expect("add_server 2");
    let want = one.store.read(|s| s.clone());
    must_converge(&[&one, &two], &want, WAIT).await;
    eprintln!("caught up after {:?}", started.elapsed());
    let two_snapshot = two.store.metrics().borrow().snapshot;
    assert!(
        two_snapshot.is_some_and(|s| s.index >= purged),
        "node 2 has a snapshot covering the purged logs"
    );
    assert!(two.dir.join("snapshot.json").exists());

    eprintln!("--- one more write, then restart node 2 from its dir");
    one.store
        .write(set("/after", "x"), 9_999)
        .await
        .expect("write /after");
    let want = one.store.read(|s| s.clone());
    must_converge(&[&one, &two], &want, WAIT).await;
    let (id, addr, _) = two.stop().await;
    let two = restart(cfg(id), addr).await;
    let voters: Vec<_> = two
        .store
        .members()
        .into_iter()
        .map(|(id, _, voter)| (id, voter))
        .collect();
    assert_eq!(
        voters,
        [(1, true), (2, true)],
        "membership is known as soon as open returns"
    );
    // Its own snapshot and log bring it back; the leader brings the rest.
    must_converge(&[&one, &two], &want, WAIT).await;

    two.stop().await;
    one.stop().await;
}
