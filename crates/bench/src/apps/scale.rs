//! The scale measurement: one app of `plan.instances` on simulated agents,
//! POSTed, PUT to 0 instances and PUT back, each change timed until it
//! settled.

use std::path::PathBuf;

use anyhow::{bail, Result};
use tokio::time::Instant;

use super::marathon::{app_request, deployments_of, queue_summary, AppsApi};
use super::{
    update, Plan, Settle, Shared, SimCluster, PROGRESS_EVERY, SCALE_FIRST_IP, SIM_CPUS, SIM_MEM_MB,
};
use crate::tasks::cpu::CpuWatch;

/// The app's id.
const APP: &str = "/bench/scale";

/// One change of the app.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// POST the app with this many instances.
    Create(u64),
    /// PUT its instances to this.
    Scale(u64),
}

impl Change {
    fn target(self) -> u64 {
        match self {
            Change::Create(n) | Change::Scale(n) => n,
        }
    }

    fn label(self) -> String {
        match self {
            Change::Create(n) => format!("POST {n} instances"),
            Change::Scale(n) => format!("PUT instances {n}"),
        }
    }
}

pub async fn measure(bin: PathBuf, plan: Plan, rep: Shared) -> Result<()> {
    let sc = SimCluster::start(&bin, plan.agents, SCALE_FIRST_IP, &plan).await?;
    update(&rep, |r| {
        r.scale.agents = plan.agents;
        r.scale.registered_in = Some(sc.registered_in);
    });
    let outcome = changes(&sc, &plan, &rep).await;
    let rss = sc.leader_rss_mib();
    update(&rep, |r| r.scale.leader_rss_mib = rss);
    if outcome.is_err() {
        sc.dump_logs();
    }
    outcome
}

/// The three changes, one after the other, each awaited settled; the
/// Raft term before and after.
async fn changes(sc: &SimCluster, plan: &Plan, rep: &Shared) -> Result<()> {
    let api = sc.api()?;
    let mut watch = sc.cpu_watch();
    let before = super::term(&sc.c).await;
    let n = plan.instances;
    let outcome = steps(&api, plan, rep, &mut watch, n).await;
    let after = super::term(&sc.c).await;
    update(rep, |r| r.scale.terms = (before, after));
    outcome
}

/// POST `n` instances, PUT 0, PUT `n`; each recorded as it settles.
async fn steps(
    api: &AppsApi,
    plan: &Plan,
    rep: &Shared,
    watch: &mut CpuWatch,
    n: u64,
) -> Result<()> {
    for change in [Change::Create(n), Change::Scale(0), Change::Scale(n)] {
        let mut s = Settle {
            label: change.label(),
            ..Settle::default()
        };
        eprintln!("scale: {}", s.label);
        let outcome = apply(api, plan, change, watch, &mut s).await;
        eprintln!(
            "scale: {}: answered {:?}, reached {:?}, deployment done {:?}; last seen {}",
            s.label, s.answered, s.reached, s.deployed, s.last
        );
        update(rep, |r| r.scale.steps.push(s));
        outcome?;
    }
    Ok(())
}

/// Sends `change`, then polls until the app is at its target and the
/// deployment is gone, filling in `s` as it goes.
async fn apply(
    api: &AppsApi,
    plan: &Plan,
    change: Change,
    watch: &mut CpuWatch,
    s: &mut Settle,
) -> Result<()> {
    watch.start();
    let sent = Instant::now();
    let outcome = async {
        let deployment = match change {
            Change::Create(n) => {
                let app = app_request(APP, n, "sleep 3600", SIM_CPUS, SIM_MEM_MB, true);
                api.create(&app).await?;
                None
            }
            Change::Scale(n) => Some(api.scale(APP, n).await?),
        };
        s.answered = Some(sent.elapsed());
        settle(api, plan, change.target(), deployment.as_deref(), sent, s).await
    }
    .await;
    s.cpu = watch.finish();
    outcome
}

/// Polls every `plan.poll` until the app's instances are at `target`
/// (`tasksRunning`; for 0, no live task listed) and no deployment moves
/// it (or `deployment`, when known, is gone).
async fn settle(
    api: &AppsApi,
    plan: &Plan,
    target: u64,
    deployment: Option<&str>,
    sent: Instant,
    s: &mut Settle,
) -> Result<()> {
    let deadline = sent + plan.settle_within;
    let mut progress = Instant::now();
    while s.reached.is_none() || s.deployed.is_none() {
        if Instant::now() > deadline {
            // Why the scheduler holds back, in its own words.
            let queued = match api.queue().await {
                Ok(q) => queue_summary(&q, APP),
                Err(e) => format!("{e:#}"),
            };
            s.last = format!("{}; {queued}", s.last);
            bail!(
                "{} did not settle within {:?}; last seen: {}",
                s.label,
                plan.settle_within,
                s.last
            );
        }
        tokio::time::sleep(plan.poll).await;
        let (counts, deps) = tokio::join!(api.counts(APP), api.deployments());
        let at = sent.elapsed();
        let (counts, deps) = match (counts, deps) {
            (Ok(c), Ok(d)) => (c, d),
            (Err(e), _) | (_, Err(e)) => {
                s.last = format!("{e:#}");
                continue;
            }
        };
        let moving = deployments_of(&deps, Some(APP));
        let pending = match deployment {
            Some(id) => moving.iter().any(|d| d == id),
            None => !moving.is_empty(),
        };
        s.last = format!(
            "{} running, {} staged; deployments {moving:?}",
            counts.running, counts.staged
        );
        if progress.elapsed() >= PROGRESS_EVERY {
            eprintln!("scale: {}: {}", s.label, s.last);
            progress = Instant::now();
        }
        if s.deployed.is_none() && !pending {
            s.deployed = Some(at);
        }
        if s.reached.is_some() {
            continue;
        }
        let reached = match target {
            // Killed instances leave the counts before they are gone.
            0 if counts.running + counts.staged == 0 => match api.live_tasks(APP).await {
                Ok(live) => live == 0,
                Err(e) => {
                    s.last = format!("{e:#}");
                    false
                }
            },
            0 => false,
            n => counts.running == n,
        };
        if reached {
            s.reached = Some(sent.elapsed());
        }
    }
    Ok(())
}
