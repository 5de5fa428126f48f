//! corral's HTTP wire types and client.
//!
//! - [`native`]: corral's own API (`/v1/...`), used by the CLI and agents.
//! - [`mesos`]: Mesos-compatible shapes (`/master/state`, `/metrics/snapshot`).
//! - [`mesos_v1`]: the v1 scheduler API (calls, events, RecordIO framing).
//! - [`mesos_operator`]: the v1 operator API (`/api/v1` GET_* calls).
//! - [`marathon`]: Marathon's REST API v2 (apps, tasks, deployments, queue,
//!   info, errors, events) as the `marathon` Python client parses it.
//! - [`fleet`]: fleet's API v1 (units, unit states, machines, the discovery
//!   document the Python `fleet` client reads).
//! - [`unit_view`]: corral's own view of units (`/v1/units`), for the CLI.
//! - [`client`]: an HTTP client that finds the leader and follows redirects.
//! - [`listener`]: the listening sockets of corral's HTTP servers (backlog).
//! - [`zk`]: ZooKeeper's wire protocol, for the leader-detection endpoint.
//! - [`base64`]: bytes fields in Mesos's JSON (status update uuids).
//! - [`units`]: fleet units between the leader and an agent's unit runner.
//!
//! Invariants: wire shapes live here and are converted by hand from the core
//! types; the core never sees a field name of an old API.

pub mod base64;
pub mod client;
pub mod fleet;
pub mod listener;
pub mod marathon;
pub mod mesos;
pub mod mesos_operator;
pub mod mesos_v1;
pub mod native;
pub mod unit_view;
pub mod units;
pub mod zk;

pub use client::{Client, ClientError};
