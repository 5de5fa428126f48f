//! Everything the log store and the state machine persist survives closing
//! and reopening the same dir.

use corral_core::{Command, Request, Response};
use corral_store::openraft::storage::{RaftLogStorage, RaftStateMachine};
use corral_store::openraft::testing::log_id;
use corral_store::openraft::{
    Entry, EntryPayload, LogState, Membership, RaftLogReader, RaftSnapshotBuilder,
    StoredMembership, Vote,
};
use corral_store::{LogStore, StateMachineStore, TypeConfig};

fn set(term: u64, index: u64, key: &str) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, 1, index),
        payload: EntryPayload::Normal(vec![Request {
            now_ms: 1000 + index,
            command: Command::KvSet {
                key: key.into(),
                value: format!("v{index}"),
                ttl_ms: None,
            },
        }]),
    }
}

fn must_open_log(dir: &std::path::Path) -> LogStore {
    LogStore::open(&dir.join("raft.redb")).unwrap_or_else(|e| panic!("open log store: {e}"))
}

#[tokio::test]
async fn log_vote_and_committed_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");

    eprintln!("--- write entries 0..=9, a vote and a committed id; purge up to 2, truncate from 8");
    {
        let mut log = must_open_log(dir.path());
        let membership = Entry::<TypeConfig> {
            log_id: log_id(1, 1, 0),
            payload: EntryPayload::Membership(Membership::new(vec![[1u64].into()], None)),
        };
        log.append_and_wait(vec![membership]).await.expect("append");
        log.append_and_wait((1..=9).map(|i| set(1, i, &format!("/k/{i}"))).collect())
            .await
            .expect("append");
        log.save_vote(&Vote::new_committed(1, 1))
            .await
            .expect("save vote");
        log.save_committed(Some(log_id(1, 1, 6)))
            .await
            .expect("save committed");
        log.purge(log_id(1, 1, 2)).await.expect("purge");
        log.truncate(log_id(1, 1, 8)).await.expect("truncate");
        // Dropping the store flushes what is queued and closes the database.
    }

    eprintln!("--- reopen: all there");
    let mut log = must_open_log(dir.path());
    assert_eq!(
        log.get_log_state().await.expect("log state"),
        LogState {
            last_purged_log_id: Some(log_id(1, 1, 2)),
            last_log_id: Some(log_id(1, 1, 7))
        }
    );
    assert_eq!(
        log.read_vote().await.expect("vote"),
        Some(Vote::new_committed(1, 1))
    );
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(1, 1, 6))
    );
    let entries = log.try_get_log_entries(0..).await.expect("entries");
    let want: Vec<_> = (3..=7).map(|i| set(1, i, &format!("/k/{i}"))).collect();
    assert_eq!(entries, want);

    eprintln!("--- append after reopen, close explicitly, reopen again");
    log.append_and_wait(vec![set(2, 8, "/k/8")])
        .await
        .expect("append");
    log.close().await;
    drop(log);
    let mut log = must_open_log(dir.path());
    let last = log.get_log_state().await.expect("log state").last_log_id;
    assert_eq!(last, Some(log_id(2, 1, 8)));
}

/// A committed id queued last (nothing after it to ride along with) is
/// still written when the store closes.
#[tokio::test]
async fn a_lone_committed_id_is_written_on_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = must_open_log(dir.path());
        log.append_and_wait((1..=3).map(|i| set(1, i, &format!("/k/{i}"))).collect())
            .await
            .expect("append");
        log.save_committed(Some(log_id(1, 1, 3)))
            .await
            .expect("save committed");
    }
    let mut log = must_open_log(dir.path());
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(1, 1, 3))
    );
}

#[tokio::test]
async fn snapshot_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let membership = Membership::new(vec![[1u64, 2].into()], None);

    eprintln!("--- apply a membership and two writes, build a snapshot");
    let built = {
        let mut sm = StateMachineStore::open(dir.path()).expect("open state machine");
        let responses = sm
            .apply(vec![
                Entry {
                    log_id: log_id(1, 1, 1),
                    payload: EntryPayload::Membership(membership.clone()),
                },
                set(1, 2, "/a"),
                set(1, 3, "/b"),
            ])
            .await
            .expect("apply");
        assert_eq!(responses[0], vec![], "a membership entry answers nothing");
        // Revisions count requests, not log entries.
        assert_eq!(
            responses[2],
            vec![Response::KvSet {
                revision: 2,
                prev: None
            }]
        );
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build snapshot");
        assert_eq!(snap.meta.last_log_id, Some(log_id(1, 1, 3)));
        snap.meta
    };

    eprintln!("--- reopen: state, applied id, membership and current snapshot are back");
    let mut sm = StateMachineStore::open(dir.path()).expect("reopen state machine");
    let (applied, got_membership) = sm.applied_state().await.expect("applied state");
    assert_eq!(applied, Some(log_id(1, 1, 3)));
    assert_eq!(
        got_membership,
        StoredMembership::new(Some(log_id(1, 1, 1)), membership)
    );
    let keys = sm.read(|s| {
        s.kv.iter()
            .map(|(k, e)| format!("{k}={}@{}", e.value, e.mod_revision))
            .collect::<Vec<_>>()
    });
    assert_eq!(keys, ["/a=v2@1", "/b=v3@2"]);
    let current = sm
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .expect("a snapshot");
    assert_eq!(current.meta, built);
}

#[tokio::test]
async fn corrupt_log_is_reported_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("raft.redb");
    std::fs::write(&path, b"not a redb file at all").expect("write junk");
    let err = match LogStore::open(&path) {
        Ok(_) => panic!("opened a junk file"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&path.display().to_string()),
        "error does not name the file: {err}"
    );
}

#[tokio::test]
async fn a_dir_is_open_once_until_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || corral_store::StoreConfig {
        id: 1,
        dir: dir.path().join("store"),
        ..Default::default()
    };

    eprintln!("--- a second open of a dir in use fails, naming the database file");
    let first = corral_store::Store::open(cfg()).await.expect("first open");
    assert!(first.is_fresh().await);
    let err = match corral_store::Store::open(cfg()).await {
        Ok(_) => panic!("opened a dir that is in use"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("raft.redb"),
        "error does not name the file: {err}"
    );

    eprintln!("--- after shutdown the dir opens again");
    first.shutdown().await;
    let again = corral_store::Store::open(cfg())
        .await
        .expect("open after shutdown");
    again.shutdown().await;
}
