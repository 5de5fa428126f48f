//! The launch measurement: on a 3-machine real cluster, an app of one
//! `sleep 300` instance at a time, POST → `tasksRunning` 1 (polled every
//! [`POLL`]) and its deployment done, then DELETE → its task gone.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use corral_testkit::{Cluster, ClusterSpec};
use tokio::time::Instant;

use super::marathon::{app_request, deployments_of, AppsApi};
use super::{update, Plan, Shared};
use crate::tasks::pause;

/// How often the app (then the deployments) is polled.
const POLL: Duration = Duration::from_millis(5);
/// Failed samples in a row before the measurement gives up.
const MAX_FAILED_IN_A_ROW: usize = 3;

pub async fn measure(bin: PathBuf, plan: Plan, rep: Shared) -> Result<()> {
    let c = Cluster::start(&bin, ClusterSpec::default());
    let leader = c.must_leader(plan.register_within).await;
    c.must_all_agents_registered(plan.register_within).await;
    let api = AppsApi::new(&c.machines[leader].ip)?;
    let outcome = samples(&api, &plan, &rep).await;
    if outcome.is_err() {
        super::dump_logs(&c);
    }
    outcome
}

/// Takes samples until `plan.samples` reached RUNNING.
async fn samples(api: &AppsApi, plan: &Plan, rep: &Shared) -> Result<()> {
    let mut failed_in_a_row = 0;
    for i in 0.. {
        if update(rep, |r| r.launch.running.len()) >= plan.samples {
            break;
        }
        let id = format!("/bench-launch/s{i}");
        match sample(api, plan, rep, &id, i).await {
            Ok(()) => failed_in_a_row = 0,
            Err(e) => {
                eprintln!("launch: {id}: {e:#}");
                update(rep, |r| r.launch.failures.push(format!("{id}: {e:#}")));
                failed_in_a_row += 1;
                if failed_in_a_row >= MAX_FAILED_IN_A_ROW {
                    bail!("{failed_in_a_row} samples in a row failed; the last: {e:#}");
                }
            }
        }
    }
    Ok(())
}

/// One sample: POST, RUNNING awaited, DELETE, gone awaited. Each request
/// waits a pause first, spread over the samples, so they do not all fall
/// at one point of the scheduler's 100 ms round.
async fn sample(api: &AppsApi, plan: &Plan, rep: &Shared, id: &str, i: usize) -> Result<()> {
    let deadline = Instant::now() + plan.sample_within;
    let app = app_request(id, 1, "sleep 300", 0.1, 16.0, false);
    tokio::time::sleep(pause(i, 0.0)).await;
    let sent = Instant::now();
    api.create(&app).await?;
    let answered = sent.elapsed();
    let running = loop {
        let seen = api.app(id).await?;
        if seen["tasksRunning"] == 1 {
            break sent.elapsed();
        }
        if Instant::now() > deadline {
            // Gone anyway, so the next sample has the machines to itself.
            let _ = api.delete(id).await;
            bail!(
                "not RUNNING within {:?}; last seen: {} running, {} staged, tasks {}",
                plan.sample_within,
                seen["tasksRunning"],
                seen["tasksStaged"],
                seen["tasks"]
            );
        }
        tokio::time::sleep(POLL).await;
    };
    // A DELETE before the deployment ends is refused (409, locked), as
    // Marathon does: wait for it, and time that too.
    let deployed = loop {
        if api.app(id).await?["deployments"]
            .as_array()
            .is_some_and(Vec::is_empty)
        {
            break sent.elapsed();
        }
        if Instant::now() > deadline {
            bail!("its deployment not done within {:?}", plan.sample_within);
        }
        tokio::time::sleep(POLL).await;
    };
    update(rep, |r| {
        r.launch.running.push(running);
        r.launch.answered.push(answered);
        r.launch.deployed.push(deployed);
    });

    tokio::time::sleep(pause(i, 0.5)).await;
    let sent = Instant::now();
    let deployment = api.delete(id).await?;
    let gone = loop {
        let moving = deployments_of(&api.deployments().await?, None);
        if !moving.contains(&deployment) {
            break sent.elapsed();
        }
        if Instant::now() > deadline {
            bail!(
                "its task not gone within {:?} of the POST (deployment {deployment} still listed)",
                plan.sample_within
            );
        }
        tokio::time::sleep(POLL).await;
    };
    update(rep, |r| r.launch.gone.push(gone));
    eprintln!(
        "launch: sample {}/{}: RUNNING after {:.1} ms (201 after {:.1} ms, deployment done after {:.1} ms); DELETE -> gone after {:.1} ms",
        update(rep, |r| r.launch.running.len()),
        plan.samples,
        running.as_secs_f64() * 1e3,
        answered.as_secs_f64() * 1e3,
        deployed.as_secs_f64() * 1e3,
        gone.as_secs_f64() * 1e3
    );
    Ok(())
}
