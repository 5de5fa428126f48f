//! The store's error enums: opening a store ([`StoreError`]) and writing
//! through it ([`WriteError`]).
//!
//! Owns: the error types and their messages. Never decides retries itself: a
//! [`WriteError`] says whether the caller should go elsewhere, retry, or give
//! up, and the caller acts.

use std::path::PathBuf;

use crate::types::ServerNode;

/// Why a store could not be opened, initialized or kept running. Every
/// variant names the file or setting involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("create store dir", "read snapshot", ...).
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The redb database failed.
    #[error("raft log database {}: {what}: {source}", path.display())]
    Db {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    /// A file holds data this version cannot decode.
    #[error("{} is corrupt or from an unknown version: {what}; restore it from a backup or remove the server's data dir and re-add it to the cluster", path.display())]
    Corrupt { path: PathBuf, what: String },
    /// A [`crate::StoreConfig`] setting is invalid.
    #[error("invalid store config: {field}: {reason}")]
    Config {
        /// The offending `StoreConfig` field.
        field: &'static str,
        reason: String,
    },
    /// `initialize` was refused (e.g. this server is not among the members).
    #[error("cannot initialize the cluster: {0}")]
    Initialize(String),
    /// The Raft node stopped or failed.
    #[error("raft node failed: {0}")]
    Raft(String),
}

/// Errors of a write (and of the other leader-only calls). "Go to the leader"
/// and "retry later" are kept apart from "fatal".
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// This server is not the leader. Redirect to `leader.api_addr`, or answer
    /// 503 when no leader is known (an election is under way).
    #[error("this server is not the leader; leader is {leader:?}")]
    NotLeader { leader: Option<(u64, ServerNode)> },
    /// The operation did not finish in time (typically the quorum is lost).
    /// The outcome of a timed-out write is unknown; retrying may apply it twice.
    #[error(
        "{what} did not finish within {after_ms} ms (quorum lost?); outcome unknown, retry later"
    )]
    Timeout { what: &'static str, after_ms: u64 },
    /// The cluster cannot do this right now (no quorum, a membership change in
    /// progress); retry later.
    #[error("unavailable: {0}; retry later")]
    Unavailable(String),
    /// The store stopped or its storage failed; this server cannot serve writes.
    #[error("fatal store error: {0}")]
    Fatal(String),
}

impl WriteError {
    /// True when the same call may succeed later on this or another server.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, WriteError::Fatal(_))
    }
}
