//! The unit runner (fleet's units on this machine, issue 5): the leader
//! tells the agent the complete set of units this machine must have
//! (`PUT /v1/agent/units`) and the runner makes it so, running each
//! `.service` unit with systemd's semantics under its own detached
//! supervisor (`corral unit-supervise DIR`), so an agent restart stops
//! nothing.
//!
//! Pure parts (no IO, no clock): [`timespan`], [`specifier`],
//! [`exec_line`], [`environment`], [`service`], [`lifecycle`],
//! [`reconcile`]. Shells: [`supervisor`] (one unit's processes),
//! [`journal`] (its log files), [`files`] (its directory), [`credentials`]
//! (User=/Group=), [`manager`] (every unit directory) and [`routes`] (HTTP).
//!
//! Invariants: a unit's state lives in its directory
//! (`<agent dir>/units/<name>/`), written only by its supervisor (and by
//! the manager before a supervisor exists); a supervisor is never the
//! agent's child in the same session; the desired set is fenced by the
//! leader epoch like every other leader message.

pub mod credentials;
pub mod environment;
pub mod exec_line;
pub mod files;
pub mod journal;
pub mod lifecycle;
pub mod manager;
pub mod reconcile;
pub mod routes;
pub mod service;
pub mod specifier;
pub mod supervisor;
pub mod timespan;
