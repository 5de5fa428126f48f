//! The snapshot format and its file, `<dir>/snapshot.json`.
//!
//! Owns: what a snapshot contains (`{format, last_applied, membership,
//! state}` as JSON), its id, and writing it crash-safely (tmp file, fsync,
//! rename, fsync the dir). Never decides when to snapshot (openraft's policy
//! does) and never touches the live state (the state machine does).
//!
//! The bytes of the file are exactly the bytes sent to followers. A snapshot
//! is a function of its `last_applied` log id (apply is deterministic), so its
//! id is derived from that log id and is the same on every server.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use corral_core::State;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::types::{LogId, SnapshotMeta, StoredMembership};

/// Snapshot format version written in every snapshot.
pub const SNAPSHOT_FORMAT: u32 = 1;

const FILE: &str = "snapshot.json";
const TMP_FILE: &str = "snapshot.json.tmp";

/// A snapshot as decoded from its bytes.
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotData {
    pub format: u32,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub state: State,
}

/// A snapshot to encode, borrowing the live state (no copy).
#[derive(Serialize)]
pub(crate) struct SnapshotRef<'a> {
    pub format: u32,
    pub last_applied: &'a Option<LogId>,
    pub membership: &'a StoredMembership,
    pub state: &'a State,
}

impl SnapshotRef<'_> {
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl SnapshotData {
    /// Decodes snapshot bytes; `path` names where they came from in errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<SnapshotData, StoreError> {
        let data: SnapshotData =
            serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                what: format!("snapshot: {e}"),
            })?;
        if data.format != SNAPSHOT_FORMAT {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                what: format!(
                    "snapshot format {} (this version reads {SNAPSHOT_FORMAT})",
                    data.format
                ),
            });
        }
        Ok(data)
    }

    pub fn meta(&self) -> SnapshotMeta {
        meta(self.last_applied, self.membership.clone())
    }
}

/// The meta of the snapshot taken at `last_applied`.
pub(crate) fn meta(last_applied: Option<LogId>, membership: StoredMembership) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: last_applied,
        last_membership: membership,
        snapshot_id: snapshot_id(last_applied),
    }
}

/// The id of the snapshot at `last_applied`: same log id, same content.
pub(crate) fn snapshot_id(last_applied: Option<LogId>) -> String {
    match last_applied {
        Some(l) => format!("snap-{l}"),
        None => "snap-empty".into(),
    }
}

/// The snapshot file of a store dir.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Removes a tmp file left by a crash in the middle of [`write`].
pub(crate) fn remove_unfinished(dir: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(TMP_FILE);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {
            tracing::warn!("removed unfinished snapshot {}", tmp.display());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io {
            what: "remove unfinished snapshot",
            path: tmp,
            source: e,
        }),
    }
}

/// Reads the snapshot file, `None` if there is none.
pub(crate) fn read(dir: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let path = path(dir);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io {
            what: "read snapshot",
            path,
            source: e,
        }),
    }
}

/// Replaces the snapshot file with `bytes`, crash-safely: after a crash the
/// file is either the old snapshot or the new one, whole.
pub(crate) fn write(dir: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(TMP_FILE);
    let io_err = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { what, path, source }
    };
    let mut f = File::create(&tmp).map_err(io_err("create snapshot", &tmp))?;
    f.write_all(bytes).map_err(io_err("write snapshot", &tmp))?;
    f.sync_all().map_err(io_err("fsync snapshot", &tmp))?;
    drop(f);
    let dest = path(dir);
    std::fs::rename(&tmp, &dest).map_err(io_err("rename snapshot into place", &dest))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync store dir", dir))?;
    Ok(())
}
