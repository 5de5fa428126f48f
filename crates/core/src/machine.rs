//! Machines as the cluster knows them: what an agent reports when it
//! registers, and what the store remembers about it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A machine's stable identity: 32 lowercase hex digits, like fleet's
/// machine-id. Generated once by the agent and kept in its data directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct MachineId(pub String);

impl MachineId {
    /// The first 8 characters followed by `...`, as `fleetctl list-machines` prints.
    pub fn short(&self) -> String {
        let head: String = self.0.chars().take(8).collect();
        format!("{head}...")
    }

    /// True if `s` is 32 lowercase hex digits.
    pub fn is_valid(s: &str) -> bool {
        s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resources a machine offers: scalars plus one port range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Resources {
    pub cpus: f64,
    pub mem_mb: u64,
    pub disk_mb: u64,
    /// Inclusive port ranges, e.g. `[(31000, 32000)]`.
    pub ports: Vec<(u16, u16)>,
}

/// What an agent says about itself when it (re-)registers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRegistration {
    pub id: MachineId,
    pub hostname: String,
    /// The address other machines reach this one on (e.g. `127.0.0.101`).
    pub ip: String,
    /// Port of the agent API (5051 by default).
    pub agent_port: u16,
    pub resources: Resources,
    /// Machine metadata (fleet) = agent attributes (Mesos).
    pub attributes: BTreeMap<String, String>,
    /// The Raft node id when this machine is also a server.
    pub server_id: Option<u64>,
    pub version: String,
}

/// Whether the leader hears from an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentStatus {
    /// Heartbeats arrive.
    Active,
    /// Heartbeats stopped; the machine may come back.
    Unreachable,
}

/// An admitted agent as the replicated state remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub info: AgentRegistration,
    pub status: AgentStatus,
    /// When it was first admitted (ms since the epoch, leader's clock).
    pub registered_at_ms: u64,
    /// When it last registered or re-registered.
    pub reregistered_at_ms: u64,
    /// When it was last marked unreachable, if it is.
    pub unreachable_since_ms: Option<u64>,
    /// Why it was marked unreachable, if it is.
    pub unreachable_reason: Option<String>,
}
