//! The openraft type configuration and the node record kept in membership.
//!
//! Owns: [`TypeConfig`] (what the log carries and what apply answers) and
//! [`ServerNode`] (how peers and clients reach a server). Never does IO.
//!
//! `ServerNode` is stored in membership log entries and snapshots, so it is a
//! persistent format: fields may be added with `#[serde(default)]`, never
//! renamed.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// The Raft node record stored in membership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerNode {
    /// Where the peer RPCs are served (`peer_router`), e.g. `127.0.0.101:2380`.
    pub raft_addr: String,
    /// Where the server's client API listens, e.g. `127.0.0.101:5050`; the
    /// address a follower redirects clients to.
    pub api_addr: String,
}

openraft::declare_raft_types!(
    /// corral's Raft types: a log entry carries a batch of
    /// [`corral_core::Request`]s (the proposals that queued up while the
    /// previous entry was being written) and applying it answers one
    /// [`corral_core::Response`] per request, in order.
    pub TypeConfig:
        D = Vec<corral_core::Request>,
        R = Vec<corral_core::Response>,
        NodeId = u64,
        Node = ServerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The running Raft node.
pub type Raft = openraft::Raft<TypeConfig>;

/// One log entry.
pub type Entry = openraft::Entry<TypeConfig>;

/// Log ids, votes and the other openraft values this crate stores, with
/// corral's type parameters filled in.
pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type StoredMembership = openraft::StoredMembership<u64, ServerNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<u64, ServerNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type StorageError = openraft::StorageError<u64>;
