//! corral's HTTP wire types and client.
//!
//! - [`native`]: corral's own API (`/v1/...`), used by the CLI and agents.
//! - [`mesos`]: Mesos-compatible shapes (`/master/state`, `/metrics/snapshot`).
//! - [`client`]: an HTTP client that finds the leader and follows redirects.
//! - [`zk`]: ZooKeeper's wire protocol, for the leader-detection endpoint.
//!
//! Invariants: wire shapes live here and are converted by hand from the core
//! types; the core never sees a field name of an old API.

pub mod base64;
pub mod client;
pub mod mesos;
pub mod mesos_operator;
pub mod mesos_v1;
pub mod native;
pub mod zk;

pub use client::{Client, ClientError};
