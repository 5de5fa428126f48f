//! corral's master: the HTTP API on :5050 of every server, and the loops the
//! leader runs (agent liveness, kv TTL expiry).
//!
//! Invariants:
//! - Writes go through the store on the leader; a follower answers 307 to the
//!   leader (503 with a JSON error while no leader is known).
//! - Heartbeats live in the leader's memory ([`liveness`]); only transitions
//!   (admitted, unreachable) are committed.
//! - Decisions are pure functions of (state, liveness, now): see
//!   [`liveness::Liveness::overdue`] and `State::expired_keys`; this crate's
//!   shells only feed them time and carry out what they return.

pub mod agent_link;
pub mod context;
pub mod error;
pub mod leader_loop;
pub mod liveness;
pub mod redirect;
pub mod routes;
pub mod scheduler;
pub mod units;
pub mod view;
pub mod zk;

pub use context::{MasterConfig, MasterCtx};
pub use routes::router;
