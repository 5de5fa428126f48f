//! The state machine openraft applies committed entries to: `corral_core::State`
//! in memory, plus the last applied log id and membership, and snapshots of them.
//!
//! Owns: applying entries in log order (`State::apply(&request)` for each
//! request of an entry's batch),
//! publishing the events apply returns, building and installing snapshots.
//! Never decides anything itself: what a command does is `corral_core`'s.
//!
//! Invariants:
//! - The state is only persisted through snapshots; on open it is the last
//!   snapshot, and openraft re-applies the log up to the saved committed id.
//! - Events go out while the write lock is held, so a receiver that sees the
//!   event of revision `r` and then reads the state sees at least revision `r`.
//! - Installing a snapshot replaces the state wholesale and publishes no
//!   events: subscribers on a follower that installs one must re-read.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use corral_core::{Event, Request, Response, State};
use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::snapshot::{self, SnapshotData, SnapshotRef, SNAPSHOT_FORMAT};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// How many events a slow subscriber may fall behind before it lags.
const EVENT_CAPACITY: usize = 4096;

/// The state machine handed to openraft; also its own snapshot builder
/// (clones share everything).
#[derive(Clone)]
pub struct StateMachineStore {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    applied: RwLock<Applied>,
    events: broadcast::Sender<(u64, Event)>,
    /// Meta of the snapshot in `snapshot.json`; held while the file is written.
    current: tokio::sync::Mutex<Option<SnapshotMeta>>,
}

/// Everything apply changes.
#[derive(Default)]
struct Applied {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    state: State,
}

impl StateMachineStore {
    /// Opens the state machine of store dir `dir`, starting from its last
    /// snapshot if it has one.
    pub fn open(dir: &Path) -> Result<StateMachineStore, StoreError> {
        snapshot::remove_unfinished(dir)?;
        let (applied, current) = match snapshot::read(dir)? {
            Some(bytes) => {
                let data = SnapshotData::decode(&bytes, &snapshot::path(dir))?;
                let meta = data.meta();
                let applied = Applied {
                    last_applied: data.last_applied,
                    membership: data.membership,
                    state: data.state,
                };
                (applied, Some(meta))
            }
            None => (Applied::default(), None),
        };
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Ok(StateMachineStore {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                applied: RwLock::new(applied),
                events,
                current: tokio::sync::Mutex::new(current),
            }),
        })
    }

    /// Runs `f` on the applied state under a read lock.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.applied().state)
    }

    /// Events applied from now on, with the revision of the request that produced them.
    pub fn subscribe(&self) -> broadcast::Receiver<(u64, Event)> {
        self.shared.events.subscribe()
    }

    // A panic while holding a lock aborts an apply midway; the state machine
    // task stops with it, so serving the state read-only afterwards is fine.
    fn applied(&self) -> RwLockReadGuard<'_, Applied> {
        self.shared
            .applied
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn applied_mut(&self) -> RwLockWriteGuard<'_, Applied> {
        self.shared
            .applied
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Applies entries in order; returns one response batch per entry.
    fn apply_entries(&self, entries: impl Iterator<Item = Entry>) -> Vec<Vec<Response>> {
        let mut applied = self.applied_mut();
        let mut responses = Vec::new();
        for entry in entries {
            applied.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(requests) => requests
                    .iter()
                    .map(|r| apply_request(&mut applied.state, r, &self.shared.events))
                    .collect(),
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), m);
                    Vec::new()
                }
            };
            responses.push(response);
        }
        responses
    }
}

fn apply_request(
    state: &mut State,
    request: &Request,
    events: &broadcast::Sender<(u64, Event)>,
) -> Response {
    let (response, evs) = state.apply(request);
    let revision = state.revision;
    for ev in evs {
        // An error only means nobody is subscribed.
        let _ = events.send((revision, ev));
    }
    response
}

/// Runs blocking file IO off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Raft(format!("snapshot IO task failed: {e}"))))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // Encoded on a blocking thread, not on the Raft runtime: with 100,000
        // tasks the encoding takes a large part of a second, and on the
        // Raft runtime it held one of its two threads while the apply
        // waiting for the lock held the other, so heartbeats stopped and a
        // follower campaigned.
        let shared = self.shared.clone();
        let (bytes, meta) = tokio::task::spawn_blocking(move || {
            let applied = shared.applied.read().unwrap_or_else(|e| e.into_inner());
            let bytes = SnapshotRef {
                format: SNAPSHOT_FORMAT,
                last_applied: &applied.last_applied,
                membership: &applied.membership,
                state: &applied.state,
            }
            .encode()?;
            Ok::<_, serde_json::Error>((
                bytes,
                snapshot::meta(applied.last_applied, applied.membership.clone()),
            ))
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(None, AnyError::error(e.to_string())))?
        .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        let mut current = self.shared.current.lock().await;
        let newer = current
            .as_ref()
            .is_none_or(|c| c.last_log_id < meta.last_log_id);
        let bytes = if newer {
            let dir = self.shared.dir.clone();
            let bytes = blocking(move || snapshot::write(&dir, &bytes).map(|()| bytes))
                .await
                .map_err(|e| {
                    StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
                })?;
            *current = Some(meta.clone());
            tracing::info!(snapshot = %meta, "snapshot written");
            bytes
        } else {
            bytes
        };
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.applied();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Response>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        Ok(self.apply_entries(entries.into_iter()))
    }

    async fn get_snapshot_builder(&mut self) -> StateMachineStore {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let sto_err = |e: &StoreError| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(e))
        };
        let bytes = snapshot.into_inner();
        let source = PathBuf::from(format!(
            "snapshot {} received from the leader",
            meta.snapshot_id
        ));
        let data = SnapshotData::decode(&bytes, &source).map_err(|e| sto_err(&e))?;
        if data.last_applied != meta.last_log_id || data.membership != meta.last_membership {
            let e = StoreError::Corrupt {
                path: source,
                what: format!(
                    "data is at {:?} with membership {:?}, its meta says {:?} with {:?}",
                    data.last_applied, data.membership, meta.last_log_id, meta.last_membership
                ),
            };
            return Err(sto_err(&e).into());
        }

        let mut current = self.shared.current.lock().await;
        let dir = self.shared.dir.clone();
        blocking(move || snapshot::write(&dir, &bytes))
            .await
            .map_err(|e| sto_err(&e))?;
        {
            let mut applied = self.applied_mut();
            *applied = Applied {
                last_applied: data.last_applied,
                membership: data.membership,
                state: data.state,
            };
        }
        *current = Some(meta.clone());
        tracing::info!(snapshot = %meta, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let current = self.shared.current.lock().await;
        let Some(meta) = current.clone() else {
            return Ok(None);
        };
        let dir = self.shared.dir.clone();
        let bytes = blocking(move || {
            snapshot::read(&dir)?.ok_or_else(|| StoreError::Corrupt {
                path: snapshot::path(&dir),
                what: "the snapshot file disappeared".into(),
            })
        })
        .await
        .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e)))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
