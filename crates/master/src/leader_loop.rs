//! The loop every server runs; it acts only while this server leads:
//! - on winning an election, starts a fresh liveness table (every agent gets
//!   a full timeout to find the new leader);
//! - marks agents silent past the timeout unreachable (committed);
//! - expires kv keys whose TTL ran out on this leader's clock (committed);
//! - declares the tasks of machines unreachable for a second timeout LOST
//!   (committed, and told to their frameworks);
//! - runs one allocation round and sends offers (also at once when a
//!   framework revives: [`allocate_now`]);
//! - sends unacknowledged status updates again (`scheduler::redelivery`).
//!
//! What to do is decided by pure functions (`Liveness::overdue`,
//! `State::expired_keys`); this loop only feeds them the time.

use std::sync::Arc;
use std::time::Duration;

use corral_core::Command;

use crate::context::{now_ms, MasterCtx};
use crate::liveness::Liveness;

/// How often the leader checks liveness and TTLs.
pub const TICK: Duration = Duration::from_millis(100);
/// How often the leader looks for status updates to send again.
pub const REDELIVERY_SCAN_MS: u64 = 250;
/// Most keys expired by one command.
pub const EXPIRE_BATCH: usize = 1000;

/// Runs until the process ends.
pub async fn run(ctx: Arc<MasterCtx>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_redelivery = 0;
    loop {
        tick.tick().await;
        if !ctx.store.is_leader() {
            if let Ok(mut e) = ctx.elected_at_ms.lock() {
                *e = None;
            }
            // Frameworks must subscribe to whoever leads now.
            ctx.streams.close_all();
            continue;
        }
        let now = now_ms();
        let term = ctx.store.term();
        {
            let mut l = ctx.liveness();
            if l.term != term {
                *l = Liveness::new(term, now);
                ctx.offers().reset(term);
                if let Ok(mut d) = ctx.disconnected.lock() {
                    d.reset(term);
                }
                ctx.redelivery().reset(term);
                if let Ok(mut e) = ctx.elected_at_ms.lock() {
                    *e = Some(now);
                }
                tracing::info!(term, "leading: agents have a full timeout to re-register");
            }
        }
        let timeout = ctx.cfg.agent_timeout_ms();
        let overdue = ctx
            .store
            .read(|s| ctx.liveness().overdue(s.agents.values(), now, timeout));
        for (id, silent) in overdue {
            let reason = format!(
                "no heartbeat for {:.1} s ({} missed at {} ms intervals)",
                silent as f64 / 1000.0,
                ctx.cfg.max_missed_heartbeats,
                ctx.cfg.heartbeat_ms
            );
            tracing::warn!(agent = %id, %reason, "marking agent unreachable");
            match ctx
                .store
                .write(
                    Command::MarkAgentUnreachable {
                        id: id.clone(),
                        reason,
                    },
                    now,
                )
                .await
            {
                Ok(_) => ctx.liveness().forget(&id),
                Err(e) => tracing::debug!(error = %e, "could not mark agent unreachable"),
            }
        }
        for (task, agent, away) in ctx.store.read(|s| s.tasks_to_declare_lost(now, timeout)) {
            let status = corral_core::StatusRecord {
                state: corral_core::TaskState::Lost,
                at_ms: now,
                reason: Some("REASON_SLAVE_REMOVED".into()),
                message: Some(format!(
                    "machine {agent} has been unreachable for {:.1} s; if it comes back, the task is killed there",
                    away as f64 / 1000.0
                )),
                revision: None,
            };
            crate::scheduler::tasks::record(&ctx, &task, None, status).await;
        }
        expire_frameworks(&ctx, now).await;
        offer_round(&ctx, now);
        if now >= next_redelivery {
            crate::scheduler::tasks::redeliver(&ctx, now);
            next_redelivery = now + REDELIVERY_SCAN_MS;
        }
        let keys = ctx.store.read(|s| s.expired_keys(now, EXPIRE_BATCH));
        if !keys.is_empty() {
            if let Err(e) = ctx.store.write(Command::KvExpire { keys }, now).await {
                tracing::debug!(error = %e, "could not expire keys");
            }
        }
    }
}

/// Unanswered offers come back after this long.
pub const OFFER_TIMEOUT_MS: u64 = 30_000;

/// A framework revived (or wants offers for new work): an allocation round
/// now rather than at the next tick, while this server leads (and has
/// reset its offer book for this term). A round offers only what is not
/// offered already, so one more costs only its time.
pub fn allocate_now(ctx: &MasterCtx) {
    if ctx.store.is_leader() && ctx.liveness().term == ctx.store.term() {
        offer_round(ctx, now_ms());
    }
}

/// One allocation round: rescinds what can no longer stand, sends new
/// offers to subscribed frameworks (decided by `scheduler::offers::round`).
fn offer_round(ctx: &MasterCtx, now: u64) {
    use corral_api::mesos_v1::{self, Event, Id, OffersPayload, RescindPayload};

    let subscribed = ctx.streams.subscribed();
    let (round, offers) = ctx.store.read(|state| {
        let mut book = ctx.offers();
        let round = crate::scheduler::offers::round(
            &mut book,
            state,
            &subscribed,
            &Default::default(),
            now,
            OFFER_TIMEOUT_MS,
        );
        let wire: Vec<(corral_core::FrameworkId, mesos_v1::Offer)> = round
            .offers
            .iter()
            .map(|o| {
                (
                    o.framework.clone(),
                    mesos_v1::offer(o, state.agents.get(&o.agent)),
                )
            })
            .collect();
        (round, wire)
    });
    for o in round.rescinded {
        let _ = ctx.streams.send(
            &o.framework,
            Event::Rescind {
                rescind: RescindPayload {
                    offer_id: Id { value: o.id.0 },
                },
            },
        );
    }
    let mut by_framework: std::collections::BTreeMap<
        corral_core::FrameworkId,
        Vec<mesos_v1::Offer>,
    > = Default::default();
    for (fw, offer) in offers {
        by_framework.entry(fw).or_default().push(offer);
    }
    for (fw, offers) in by_framework {
        tracing::debug!(framework = %fw, n = offers.len(), "sending offers");
        ctx.streams.send(
            &fw,
            Event::Offers {
                offers: OffersPayload { offers },
            },
        );
    }
}

/// Removes frameworks away past their failover timeout and kills their
/// live tasks (decided by `scheduler::failover::expired`).
async fn expire_frameworks(ctx: &MasterCtx, now: u64) {
    let subscribed = ctx.streams.subscribed();
    let expired = ctx.store.read(|s| match ctx.disconnected.lock() {
        Ok(mut d) => crate::scheduler::failover::expired(&mut d, s, &subscribed, now),
        Err(_) => Vec::new(),
    });
    for fw in expired {
        let reason = "its failover timeout expired without a new SUBSCRIBE";
        tracing::warn!(framework = %fw, "removing framework: {reason}");
        let _ = crate::scheduler::tasks::remove_framework(ctx, &fw, reason).await;
    }
}
