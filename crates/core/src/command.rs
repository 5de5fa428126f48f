//! The commands written to the Raft log, and what applying one answers.
//!
//! This is a persistent format: every entry ever committed must still decode
//! and apply the same way. Append new variants at the end; never renumber,
//! rename or repurpose one.

use serde::{Deserialize, Serialize};

use crate::kv::KvEntry;
use crate::machine::{AgentRegistration, MachineId};

/// One log entry's payload: a command plus the facts apply may not look up
/// itself. `now_ms` is the proposing leader's wall clock in ms since the Unix
/// epoch; apply uses it instead of reading a clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub now_ms: u64,
    pub command: Command,
}

/// Everything that changes the replicated state. One doc line per variant
/// says when it is legal; [`crate::State::apply`] handles each in one match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Admit an agent, or re-admit a known one (re-registration after an agent
    /// restart, a leader change or a stretch of unreachability). Always legal.
    RegisterAgent(AgentRegistration),
    /// The leader stopped hearing an agent's heartbeats. Legal for an admitted
    /// agent; a no-op when it is already unreachable or unknown.
    MarkAgentUnreachable { id: MachineId, reason: String },
    /// An operator removed a machine. Legal for an admitted agent.
    RemoveAgent { id: MachineId },
    /// Create or overwrite a key; with `ttl_ms` it expires `ttl_ms` after
    /// `now_ms`. Key and value must have passed [`crate::kv::validate_key`].
    KvSet {
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    },
    /// Delete a key. Legal whether or not it exists.
    KvDelete { key: String },
    /// The leader saw these keys' TTLs run out. Each key is removed only if it
    /// still expires at or before `now_ms` (it may have been refreshed since).
    KvExpire { keys: Vec<String> },
}

/// What applying a command answers to the client that proposed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Applied; nothing more to say.
    Done,
    /// An agent was admitted (`reregistered` when it was known before).
    AgentRegistered { id: MachineId, reregistered: bool },
    /// A key was written at `revision`; `prev` is what it replaced.
    KvSet {
        revision: u64,
        prev: Option<KvEntry>,
    },
    /// A delete at `revision`; `prev` is `None` when the key did not exist.
    KvDeleted {
        revision: u64,
        prev: Option<KvEntry>,
    },
    /// These keys expired.
    KvExpired { keys: Vec<String> },
    /// The command was legal to log but not to apply; nothing changed.
    Refused { reason: String },
}
