//! corral's agent, on every machine: it finds the leading master, registers
//! the machine (resources, metadata), heartbeats, and serves its own API on
//! :5051.
//!
//! Invariants:
//! - The agent sees the cluster only through HTTP ([`corral_api::Client`]).
//! - Fencing: it records the highest leader epoch (Raft term) it has seen,
//!   on disk, and refuses anything from an older epoch ([`fence`]).
//! - Losing the leader never stops the agent: it keeps trying every server
//!   and re-registers with whichever leads.

pub mod api;
pub mod cgroup;
pub mod check;
pub mod driver;
pub mod fence;
pub mod fetch;
pub mod files;
pub mod identity;
pub mod link;
pub mod monitor;
pub mod reporter;
pub mod resources;
pub mod sim;
pub mod supervise;
pub mod unit_reporter;
pub mod units;
pub mod usage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use corral_core::{AgentRegistration, Resources};
use tokio::sync::Notify;

use crate::fence::Fence;

/// How an agent is set up.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub name: String,
    pub ip: String,
    /// The machine's data directory; the agent keeps its files in `agent/`.
    pub data_dir: PathBuf,
    pub agent_port: u16,
    /// Master API addresses (`ip:port`) to register with.
    pub servers: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// Offered resources (detected or configured).
    pub resources: Resources,
    pub heartbeat_ms: u64,
    pub server_id: Option<u64>,
}

/// Errors starting an agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("agent data in {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Corrupt(String),
    #[error("cannot listen on {addr}: {source}; is another corral node using it?")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// What the agent's tasks share.
pub struct AgentShared {
    pub cfg: AgentConfig,
    pub registration: AgentRegistration,
    pub fence: Mutex<Fence>,
    /// Leader that accepted the last registration.
    pub leader_id: Mutex<Option<u64>>,
    pub registered: AtomicBool,
    /// Wakes the link loop to register again at once.
    pub reregister: Notify,
    /// Runs this machine's tasks.
    pub driver: driver::process::ProcessDriver,
    /// A task was launched or killed: the reporter looks sooner.
    pub activity: Notify,
    /// Whether task limits are enforced (cgroups v2) or only measured;
    /// decided once at start.
    pub resource_mode: cgroup::Mode,
    /// Runs this machine's fleet units (`units/`).
    pub units: Arc<units::manager::Manager>,
}

impl AgentShared {
    pub fn fence(&self) -> std::sync::MutexGuard<'_, Fence> {
        self.fence.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts the agent: identity, API listener, registration loop.
pub async fn start(cfg: AgentConfig) -> Result<Arc<AgentShared>, AgentError> {
    let dir = cfg.data_dir.join("agent");
    std::fs::create_dir_all(&dir).map_err(|source| AgentError::Io {
        path: dir.clone(),
        source,
    })?;
    let id = identity::load_or_create(&dir)?;
    let fence = Fence::load(&dir)?;
    // Tasks run under `corral supervise`: this very binary.
    let exe = std::env::current_exe().map_err(|source| AgentError::Io {
        path: "/proc/self/exe".into(),
        source,
    })?;
    // Units run under `corral unit-supervise`: this binary too.
    let units = units::manager::Manager::open(&dir, exe.clone(), &cfg.name, &id.0)
        .map_err(|e| AgentError::Corrupt(e.to_string()))?;
    let driver = driver::process::ProcessDriver::new(dir.join("sandboxes"), exe)
        .map_err(|e| AgentError::Corrupt(e.to_string()))?;
    match driver.recover() {
        Ok(tasks) if !tasks.is_empty() => {
            let running = tasks
                .iter()
                .filter(|(_, s)| matches!(s, driver::TaskState::Running { .. }))
                .count();
            tracing::info!(
                tasks = tasks.len(),
                running,
                "recovered tasks from their sandboxes"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not scan task sandboxes"),
    }
    let resource_mode = cgroup::detect();
    tracing::info!(mode = %resource_mode.describe(), "task resource limits");
    let registration = AgentRegistration {
        id,
        hostname: cfg.name.clone(),
        ip: cfg.ip.clone(),
        agent_port: cfg.agent_port,
        resources: cfg.resources.clone(),
        attributes: cfg.metadata.clone(),
        server_id: cfg.server_id,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let addr = format!("{}:{}", cfg.ip, cfg.agent_port);
    let listener = corral_api::listener::listen(&addr).map_err(|source| AgentError::Bind {
        addr: addr.clone(),
        source,
    })?;
    let shared = Arc::new(AgentShared {
        cfg,
        registration,
        fence: Mutex::new(fence),
        leader_id: Mutex::new(None),
        registered: AtomicBool::new(false),
        reregister: Notify::new(),
        driver,
        activity: Notify::new(),
        resource_mode,
        units: Arc::new(units),
    });
    let app = api::router(shared.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "agent API stopped");
        }
    });
    tokio::spawn(link::run(shared.clone()));
    tokio::spawn(reporter::run(shared.clone()));
    tokio::spawn(shared.units.clone().run());
    tokio::spawn(unit_reporter::run(shared.clone()));
    tracing::info!(id = %shared.registration.id, %addr, "agent started");
    Ok(shared)
}
