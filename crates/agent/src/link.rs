//! The agent's link to the leading master: register, then heartbeat; when
//! the leader changes, goes away or forgets us, register again. It never
//! gives up: a cluster without a leader is waited out.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use corral_api::native::{HeartbeatRequest, HeartbeatResponse, RegisterResponse};
use corral_api::Client;
use reqwest::Method;

use crate::AgentShared;

/// First retry delay after a failed registration; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub async fn run(shared: Arc<AgentShared>) {
    let hb_every = Duration::from_millis(shared.cfg.heartbeat_ms.max(10));
    let client = Client::with_timeout(
        shared.cfg.servers.clone(),
        hb_every.max(Duration::from_secs(2)),
    );
    let mut backoff = MIN_BACKOFF;
    loop {
        shared.registered.store(false, Ordering::SeqCst);
        let epoch = match register(&shared, &client).await {
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
        shared.registered.store(true, Ordering::SeqCst);
        heartbeat_until_lost(&shared, &client, epoch, hb_every).await;
    }
}

/// Registers through any server; returns the accepted epoch.
async fn register(shared: &AgentShared, client: &Client) -> Result<u64, String> {
    let resp: RegisterResponse = client
        .call(
            Method::POST,
            "/v1/agents/register",
            Some(&shared.registration),
        )
        .await
        .map_err(|e| e.to_string())?;
    shared
        .fence()
        .observe_and_persist(resp.epoch)
        .map_err(|e| e.to_string())?;
    if let Ok(mut l) = shared.leader_id.lock() {
        *l = Some(resp.leader_id);
    }
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
async fn heartbeat_until_lost(shared: &AgentShared, client: &Client, epoch: u64, every: Duration) {
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shared.reregister.notified() => return,
        }
        let body = HeartbeatRequest {
            id: shared.registration.id.0.clone(),
            epoch,
        };
        match client
            .call::<_, HeartbeatResponse>(Method::POST, "/v1/agents/heartbeat", Some(&body))
            .await
        {
            Ok(r) => {
                if let Err(stale) = shared.fence().observe_and_persist(r.epoch) {
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
