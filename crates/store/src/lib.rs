//! corral's replicated store: openraft with a redb log, the `corral_core`
//! state machine, and an HTTP peer transport.
//!
//! Code map:
//! - [`types`]: the openraft type config and [`ServerNode`].
//! - [`config`]: [`StoreConfig`] and the openraft config built from it.
//! - [`log_store`]: the durable log and vote (redb, one group-committing writer thread).
//! - [`state_machine`]: applying entries to `corral_core::State`, events, snapshots.
//! - [`snapshot`]: the snapshot format and its crash-safe file.
//! - [`network`] / [`peer_api`]: the peer RPC client and server.
//! - [`store`]: the [`Store`] facade other crates use.
//! - [`batcher`]: queues leader writes and proposes them as batched entries.
//! - [`error`]: [`StoreError`] and [`WriteError`].
//!
//! Invariants:
//! - The store never decides what a command does: `corral_core::State::apply`
//!   does, request by request, with the leader's `now_ms` from each request.
//! - Every log and vote write is on disk (fsynced) before openraft is told so.
//! - The store binds no listener and reads no clock for the state.

pub mod abdicate;
pub mod batcher;
pub mod config;
pub mod error;
pub mod log_store;
pub mod network;
pub mod peer_api;
pub mod snapshot;
pub mod state_machine;
pub mod store;
pub mod types;

pub use openraft;

pub use config::StoreConfig;
pub use error::{StoreError, WriteError};
pub use log_store::LogStore;
pub use state_machine::StateMachineStore;
pub use store::Store;
pub use types::{Raft, ServerNode, TypeConfig};
