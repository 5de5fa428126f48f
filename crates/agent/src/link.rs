//! The agent's link to the leading master: register, then heartbeat; when
//! the leader changes, goes away or forgets us, register again. It never
//! gives up: a cluster without a leader is waited out.
//!
//! The loop ([`keep_linked`]) needs only what [`Linked`] gives, so the real
//! agent and the simulated ones of [`crate::sim`] run the same code.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use corral_api::native::{HeartbeatRequest, HeartbeatResponse, RegisterResponse};
use corral_api::Client;
use corral_core::AgentRegistration;
use reqwest::Method;
use tokio::sync::Notify;

use crate::fence::Fence;
use crate::AgentShared;

/// First retry delay after a failed registration; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the link loop reads and records: the real agent's [`AgentShared`],
/// or one simulated agent.
pub trait Linked: Send + Sync {
    /// What it registers with the leader.
    fn registration(&self) -> &AgentRegistration;
    /// The highest leader epoch seen.
    fn fence(&self) -> MutexGuard<'_, Fence>;
    /// Records the leader that accepted the last registration.
    fn set_leader(&self, leader_id: u64);
    /// Whether the agent counts as registered right now.
    fn set_registered(&self, registered: bool);
    /// Notified to register again at once.
    fn reregister(&self) -> &Notify;
}

impl Linked for AgentShared {
    fn registration(&self) -> &AgentRegistration {
        &self.registration
    }
    fn fence(&self) -> MutexGuard<'_, Fence> {
        AgentShared::fence(self)
    }
    fn set_leader(&self, leader_id: u64) {
        if let Ok(mut l) = self.leader_id.lock() {
            *l = Some(leader_id);
        }
    }
    fn set_registered(&self, registered: bool) {
        self.registered.store(registered, Ordering::SeqCst);
    }
    fn reregister(&self) -> &Notify {
        &self.reregister
    }
}

/// The heartbeat interval for a configured `heartbeat_ms`.
pub fn heartbeat_every(heartbeat_ms: u64) -> Duration {
    Duration::from_millis(heartbeat_ms.max(10))
}

/// The client a link talks through: no request outlives a heartbeat
/// interval by much (at least 2 s).
pub fn client(servers: Vec<String>, every: Duration) -> Client {
    Client::with_timeout(servers, every.max(Duration::from_secs(2)))
}

/// The real agent's link.
pub async fn run(shared: Arc<AgentShared>) {
    let every = heartbeat_every(shared.cfg.heartbeat_ms);
    let client = client(shared.cfg.servers.clone(), every);
    keep_linked(&*shared, &client, every).await
}

/// Registers `agent` through `client` and keeps it registered, heartbeating
/// `every`; runs until the task is dropped.
pub async fn keep_linked<A: Linked + ?Sized>(agent: &A, client: &Client, every: Duration) {
    let mut backoff = MIN_BACKOFF;
    loop {
        agent.set_registered(false);
        let epoch = match register(agent, client).await {
            Ok(epoch) => {
                backoff = MIN_BACKOFF;
                epoch
            }
            Err(e) => {
                tracing::debug!(error = %e, "registration failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        agent.set_registered(true);
        heartbeat_until_lost(agent, client, epoch, every).await;
    }
}

/// Registers through any server; returns the accepted epoch.
async fn register<A: Linked + ?Sized>(agent: &A, client: &Client) -> Result<u64, String> {
    let resp: RegisterResponse = client
        .call(
            Method::POST,
            "/v1/agents/register",
            Some(agent.registration()),
        )
        .await
        .map_err(|e| e.to_string())?;
    agent
        .fence()
        .observe_and_persist(resp.epoch)
        .map_err(|e| e.to_string())?;
    agent.set_leader(resp.leader_id);
    tracing::info!(
        leader = resp.leader_id,
        epoch = resp.epoch,
        reregistered = resp.reregistered,
        "registered with the leading master"
    );
    Ok(resp.epoch)
}

/// Heartbeats until the leader no longer counts us (new epoch, restart,
/// unreachable) or stops answering, or someone asks for re-registration.
async fn heartbeat_until_lost<A: Linked + ?Sized>(
    agent: &A,
    client: &Client,
    epoch: u64,
    every: Duration,
) {
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = agent.reregister().notified() => return,
        }
        let body = HeartbeatRequest {
            id: agent.registration().id.0.clone(),
            epoch,
        };
        match client
            .call::<_, HeartbeatResponse>(Method::POST, "/v1/agents/heartbeat", Some(&body))
            .await
        {
            Ok(r) => {
                if let Err(stale) = agent.fence().observe_and_persist(r.epoch) {
                    // A deposed leader answered: ignore it, find the real one.
                    tracing::warn!(%stale, "ignoring a heartbeat answer from a stale leader");
                    failures += 1;
                } else if r.admitted && r.epoch == epoch {
                    failures = 0;
                } else {
                    tracing::info!(
                        epoch = r.epoch,
                        "leader changed or lost track of this agent; re-registering"
                    );
                    return;
                }
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(error = %e, failures, "heartbeat failed");
            }
        }
        if failures >= 2 {
            return;
        }
    }
}
