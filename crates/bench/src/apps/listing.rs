//! The listing measurement: `plan.list_apps` apps of `plan.list_instances`
//! instances each on simulated agents, then `GET /v2/apps?embed=apps.tasks`
//! timed on the leader's :8080 and through a follower's.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::marathon::{app_request, deployments_of, embedded_tasks, running_total, AppsApi};
use super::{
    update, Plan, Shared, SimCluster, LIST_FIRST_IP, PROGRESS_EVERY, SIM_CPUS, SIM_MEM_MB,
};

/// The apps' group: `/bench-list/a0000`, ...
const GROUP: &str = "/bench-list/";
/// The listing each GET asks for.
pub const LISTING: &str = "/v2/apps?embed=apps.tasks";
/// POSTs in flight while the apps are created.
pub const CREATES_IN_FLIGHT: usize = 16;
/// How often the apps are polled until all are RUNNING.
const POLL: Duration = Duration::from_millis(250);

pub async fn measure(bin: PathBuf, plan: Plan, rep: Shared) -> Result<()> {
    let sc = SimCluster::start(&bin, plan.list_agents, LIST_FIRST_IP, &plan).await?;
    update(&rep, |r| r.listing.agents = plan.list_agents);
    let outcome = async {
        let api = sc.api()?;
        create_all(&api, &plan, &rep).await?;
        await_running(&api, &plan, &rep).await;
        gets(&sc, &plan, &rep).await
    }
    .await;
    let rss = sc.leader_rss_mib();
    update(&rep, |r| r.listing.leader_rss_mib = rss);
    if outcome.is_err() {
        sc.dump_logs();
    }
    outcome
}

/// Creates every app, [`CREATES_IN_FLIGHT`] POSTs at a time.
async fn create_all(api: &AppsApi, plan: &Plan, rep: &Shared) -> Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..CREATES_IN_FLIGHT {
        let (api, next, rep) = (api.clone(), next.clone(), rep.clone());
        let (apps, instances) = (plan.list_apps, plan.list_instances);
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= apps {
                    return Ok::<(), anyhow::Error>(());
                }
                let id = format!("{GROUP}a{i:04}");
                let app = app_request(&id, instances, "sleep 3600", SIM_CPUS, SIM_MEM_MB, true);
                api.create(&app).await?;
                update(&rep, |r| r.listing.created += 1);
            }
        });
    }
    let deadline = start + plan.list_settle_within;
    while let Some(done) = tokio::time::timeout_at(deadline, workers.join_next())
        .await
        .map_err(|_| anyhow!("apps not all created within {:?}", plan.list_settle_within))?
    {
        done??;
    }
    let took = start.elapsed();
    update(rep, |r| r.listing.created_in = Some(took));
    eprintln!(
        "listing: {} apps created in {:.1} s",
        plan.list_apps,
        took.as_secs_f64()
    );
    Ok(())
}

/// Waits until every instance is RUNNING and no deployment is left; past
/// `plan.list_settle_within` it notes how far it got (the GETs run anyway).
async fn await_running(api: &AppsApi, plan: &Plan, rep: &Shared) {
    let start = Instant::now();
    let want = plan.list_apps * plan.list_instances;
    let mut last = String::from("nothing yet");
    let mut progress = Instant::now();
    while start.elapsed() < plan.list_settle_within {
        let (apps, deps) = tokio::join!(api.apps_like(GROUP), api.deployments());
        match (apps, deps) {
            (Ok(apps), Ok(deps)) => {
                let (n, running, staged) = running_total(&apps);
                let moving = deployments_of(&deps, None).len();
                if running == want && moving == 0 {
                    // Counted from the first POST.
                    let since =
                        update(rep, |r| r.listing.created_in).unwrap_or_default() + start.elapsed();
                    update(rep, |r| r.listing.settled_in = Some(since));
                    eprintln!("listing: {want} instances RUNNING, no deployment left");
                    return;
                }
                last = format!(
                    "{n} apps, {running} of {want} instances RUNNING, {staged} staged, {moving} deployments"
                );
                if progress.elapsed() >= PROGRESS_EVERY {
                    eprintln!("listing: {last}");
                    progress = Instant::now();
                }
            }
            (Err(e), _) | (_, Err(e)) => last = format!("{e:#}"),
        }
        tokio::time::sleep(POLL).await;
    }
    eprintln!(
        "listing: not settled within {:?}: {last}",
        plan.list_settle_within
    );
    update(rep, |r| {
        r.listing.short = Some(format!(
            "not all RUNNING within {:?} ({last}); the GETs ran anyway",
            plan.list_settle_within
        ))
    });
}

/// `plan.gets` timed GETs on the leader, then as many through a follower.
async fn gets(sc: &SimCluster, plan: &Plan, rep: &Shared) -> Result<()> {
    let follower = (0..sc.c.machines.len())
        .find(|i| *i != sc.leader)
        .ok_or_else(|| anyhow!("no follower"))?;
    let mut watch = sc.cpu_watch();
    watch.start();
    let outcome = async {
        for (server, through_follower) in [(sc.leader, false), (follower, true)] {
            let api = AppsApi::new(&sc.c.machines[server].ip)?;
            for k in 0..plan.gets {
                let (took, body) = api.timed_get(LISTING).await?;
                update(rep, |r| {
                    let l = &mut r.listing;
                    if through_follower {
                        &mut l.follower
                    } else {
                        &mut l.leader
                    }
                    .push(took)
                });
                if k == 0 && !through_follower {
                    let v: Value = serde_json::from_slice(&body)?;
                    let answer = (body.len(), running_total(&v).0, embedded_tasks(&v));
                    update(rep, |r| r.listing.answer = Some(answer));
                }
            }
            eprintln!(
                "listing: {} GETs {LISTING} through {} done",
                plan.gets, sc.c.machines[server].name
            );
        }
        Ok(())
    }
    .await;
    let used = watch.finish();
    update(rep, |r| r.listing.cpu = used);
    outcome
}
