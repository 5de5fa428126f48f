//! What every request handler and leader loop shares: the store, this
//! server's identity, the leader's liveness table and the wall clock.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use corral_store::Store;

use crate::liveness::Liveness;

/// This server's master settings.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub server_id: u64,
    /// Machine name (shown as hostname).
    pub name: String,
    pub ip: String,
    pub master_port: u16,
    /// Agents' heartbeat interval.
    pub heartbeat_ms: u64,
    /// Missed heartbeats before an agent is marked unreachable.
    pub max_missed_heartbeats: u32,
    /// Seconds between HEARTBEAT events on a quiet scheduler stream (Mesos: 15).
    pub scheduler_heartbeat_secs: f64,
    /// First wait before an unacknowledged status update is sent again; it
    /// doubles per try (Mesos: 10 s).
    pub status_retry_ms: u64,
}

impl MasterConfig {
    /// `ip:port` of this master's API.
    pub fn api_addr(&self) -> String {
        format!("{}:{}", self.ip, self.master_port)
    }

    /// How long an agent may stay silent before it is marked unreachable.
    pub fn agent_timeout_ms(&self) -> u64 {
        self.heartbeat_ms * u64::from(self.max_missed_heartbeats.max(1))
    }
}

/// Shared by handlers and loops.
pub struct MasterCtx {
    pub cfg: MasterConfig,
    pub store: Store,
    pub started_at_ms: u64,
    /// Heartbeats seen by this server while it leads (empty on followers).
    pub liveness: Mutex<Liveness>,
    /// When this server last became leader, if it leads.
    pub elected_at_ms: Mutex<Option<u64>>,
    /// Subscribed scheduler streams (leader memory).
    pub streams: crate::scheduler::Streams,
    /// Outstanding offers, decline filters, suppression (leader memory).
    pub offers: Mutex<crate::scheduler::offers::OfferBook>,
    /// For commands to agents.
    pub http: reqwest::Client,
    /// Since when frameworks have been without a stream (leader memory).
    pub disconnected: Mutex<crate::scheduler::failover::Disconnected>,
    /// When pending status updates were last sent (leader memory).
    pub redelivery: Mutex<crate::scheduler::redelivery::Redelivery>,
    /// The unit engine's memory (leader only).
    pub units: Mutex<crate::units::UnitBook>,
}

impl MasterCtx {
    pub fn new(cfg: MasterConfig, store: Store) -> Arc<MasterCtx> {
        let now = now_ms();
        let redelivery = crate::scheduler::redelivery::Redelivery::new(cfg.status_retry_ms);
        Arc::new(MasterCtx {
            cfg,
            store,
            started_at_ms: now,
            liveness: Mutex::new(Liveness::new(0, now)),
            elected_at_ms: Mutex::new(None),
            streams: crate::scheduler::Streams::default(),
            offers: Mutex::new(Default::default()),
            http: reqwest::Client::new(),
            disconnected: Mutex::new(Default::default()),
            redelivery: Mutex::new(redelivery),
            units: Mutex::new(Default::default()),
        })
    }

    pub fn offers(&self) -> std::sync::MutexGuard<'_, crate::scheduler::offers::OfferBook> {
        self.offers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn redelivery(
        &self,
    ) -> std::sync::MutexGuard<'_, crate::scheduler::redelivery::Redelivery> {
        self.redelivery.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn units(&self) -> std::sync::MutexGuard<'_, crate::units::UnitBook> {
        self.units.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn liveness(&self) -> std::sync::MutexGuard<'_, Liveness> {
        self.liveness.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Wall-clock time in ms since the Unix epoch. The only clock the master
/// reads; the value travels into commands as `now_ms`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
