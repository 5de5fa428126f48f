//! Frameworks (Mesos schedulers: pymesos programs, the built-in app
//! scheduler) as the replicated state remembers them. Whether a framework
//! is connected right now is leader memory, not state.

use serde::{Deserialize, Serialize};

/// A framework's id (`FrameworkID.value`), assigned by the leader on its
/// first SUBSCRIBE and kept for good.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FrameworkId(pub String);

impl std::fmt::Display for FrameworkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a framework says about itself when it subscribes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FrameworkInfo {
    pub name: String,
    pub user: String,
    /// Roles it consumes resources as (`*` when it names none).
    pub roles: Vec<String>,
    /// How long it may stay away before its tasks are killed and it is removed.
    pub failover_timeout_ms: u64,
    pub hostname: String,
    pub webui_url: String,
    pub principal: Option<String>,
    pub checkpoint: bool,
    pub capabilities: Vec<String>,
}

/// A framework in the replicated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Framework {
    pub id: FrameworkId,
    pub info: FrameworkInfo,
    pub registered_at_ms: u64,
    pub reregistered_at_ms: u64,
    /// Set when it was torn down (or timed out); kept as history.
    pub removed_at_ms: Option<u64>,
    pub removed_reason: Option<String>,
}

impl Framework {
    pub fn is_active(&self) -> bool {
        self.removed_at_ms.is_none()
    }
}
