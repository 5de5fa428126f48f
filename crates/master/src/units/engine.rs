//! The unit engine's loop: every [`TICK`], while this server leads, place
//! what wants a machine (commit `PlaceUnits`), then push each machine its
//! desired set when it changed (or every [`REPUSH`], in case an agent lost
//! it). Decisions are `corral_core::unit::plan` and [`super::desired`];
//! this file only feeds them and carries out their answers.
//!
//! Cost: a round is over every unit, so a placement round whose inputs
//! ([`fingerprint`]) are those of a round that changed nothing is skipped,
//! and only the sets that are sent are put in their wire form.

use std::sync::Arc;
use std::time::Duration;

use corral_api::units::{UnitRun, UnitsDesired};
use corral_core::{Command, MachineId};

use super::desired;
use crate::context::{now_ms, MasterCtx};

/// How often the engine runs (fleet's engine: every 2 s).
pub const TICK: Duration = Duration::from_millis(250);
/// A machine's set is pushed again this often even when unchanged (ms).
pub const REPUSH: u64 = 15_000;

/// Runs until the process ends.
pub async fn run(ctx: Arc<MasterCtx>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // (term, inputs) of the last placement round that changed nothing.
    let mut settled: Option<(u64, String)> = None;
    loop {
        tick.tick().await;
        if !ctx.store.is_leader() {
            ctx.units().reset(0);
            settled = None;
            continue;
        }
        let term = ctx.store.term();
        ctx.units().reset(term);
        place(&ctx, term, &mut settled).await;
        push(&ctx, term);
    }
}

/// One placement round: commits the plan if it changes anything. Skipped
/// when the inputs are those of the last round of this term that changed
/// nothing (`settled`): the plan, and why units wait, would be the same.
async fn place(ctx: &MasterCtx, term: u64, settled: &mut Option<(u64, String)>) {
    let plan = {
        let mut book = ctx.units();
        let plan = ctx.store.read(|s| {
            let inputs = fingerprint(s);
            if settled.as_ref() == Some(&(term, inputs.clone())) {
                return None;
            }
            book.reqs.retain(s);
            let wanting = desired::wanting(s, &mut book.reqs);
            let machines = desired::live_machines(s);
            let current = desired::placed(s);
            let plan = corral_core::unit::plan(&wanting, &machines, &current);
            *settled = plan.is_empty().then_some((term, inputs));
            Some(plan)
        });
        let Some(plan) = plan else { return };
        book.unplaceable = plan.unplaceable.clone();
        plan
    };
    if plan.assign.is_empty() && plan.unassign.is_empty() {
        return;
    }
    tracing::info!(
        assign = plan.assign.len(),
        unassign = plan.unassign.len(),
        "placing units"
    );
    let cmd = Command::PlaceUnits {
        assign: plan.assign,
        unassign: plan.unassign,
    };
    if let Err(e) = ctx.store.write(cmd, now_ms()).await {
        tracing::warn!("cannot commit a unit placement: {e}");
    }
}

/// Pushes every machine whose set changed (or is due again).
fn push(ctx: &Arc<MasterCtx>, term: u64) {
    let now = now_ms();
    let todo: Vec<(MachineId, String, String, Vec<UnitRun>)> = {
        let mut book = ctx.units();
        let book = &mut *book;
        ctx.store.read(|s| {
            let inputs = fingerprint(s);
            let live = desired::live_machines(s).len();
            let due = book.last_inputs.as_deref() != Some(inputs.as_str())
                || book.pushed.len() < live
                || book
                    .pushed
                    .values()
                    .any(|(_, at)| now.saturating_sub(*at) >= REPUSH);
            if !due {
                return Vec::new();
            }
            book.last_inputs = Some(inputs);
            desired::sets(s, &mut book.reqs)
                .into_iter()
                .filter(|(m, _)| !book.pushing.contains(m))
                .filter_map(|(m, set)| {
                    let d = desired::digest_of(&set);
                    let fresh = book
                        .pushed
                        .get(&m)
                        .is_some_and(|(prev, at)| *prev == d && now.saturating_sub(*at) < REPUSH);
                    let a = s.agents.get(&m).filter(|_| !fresh)?;
                    let units = set.into_iter().map(|(u, t)| desired::run(u, t)).collect();
                    Some((m, format!("{}:{}", a.info.ip, a.info.agent_port), d, units))
                })
                .collect()
        })
    };
    for (machine, addr, d, units) in todo {
        ctx.units().pushing.insert(machine.clone());
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let n = units.len();
            let body = UnitsDesired { epoch: term, units };
            let sent = ctx
                .http
                .put(format!("http://{addr}/v1/agent/units"))
                .timeout(Duration::from_secs(10))
                .json(&body)
                .send()
                .await;
            let status = sent.as_ref().map(|r| r.status());
            let mut book = ctx.units();
            book.pushing.remove(&machine);
            // Rounds while this push was in flight left the machine out:
            // the next round looks at its set again (the one sent may be
            // stale by now).
            book.last_inputs = None;
            match status {
                Ok(st) if st.is_success() => {
                    if book.term == term {
                        book.pushed.insert(machine, (d, now_ms()));
                    }
                }
                Ok(st) => {
                    // Pushed again next round (it is not recorded as done).
                    tracing::warn!(%machine, units = n, status = %st, "machine refused its unit set");
                }
                Err(e) => {
                    tracing::debug!(%machine, "cannot push units: {e}");
                }
            }
        });
    }
}

/// Changes whenever a unit, its placement or the live machines (or their
/// metadata) change: a unit's revision is the log index of its last
/// change, and a destroyed unit lowers the count.
fn fingerprint(s: &corral_core::State) -> String {
    let newest = s.units.values().map(|u| u.revision).max().unwrap_or(0);
    let machines: Vec<String> = desired::live_machines(s)
        .into_iter()
        .map(|m| format!("{}{:?}", m.id.0, m.metadata))
        .collect();
    format!("{}:{newest}:{}", s.units.len(), machines.join(","))
}
