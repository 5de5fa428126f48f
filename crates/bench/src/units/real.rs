//! The real measurement: on a 3-machine cluster, `plan.real_units`
//! instances of a `sleep 3600` template PUT with desired `launched`,
//! timed until every one is placed and reported active/running; then all
//! DELETEd, timed until no machine lists one, the leader holds no report
//! of one, and no process of theirs is left.

use std::path::PathBuf;

use anyhow::{bail, Result};
use corral_testkit::{Cluster, ClusterSpec};
use tokio::time::Instant;

use super::submit::{send_all, Op};
use super::{instances, reaper, settle, update, Plan, Settle, Shared, UnitsApi, Wait, TEMPLATE};
use crate::process;
use crate::tasks::cpu::CpuWatch;

/// The template: `sleep` and nothing else, no `[X-Fleet]` rule.
pub const TEMPLATE_TEXT: &str = "\
[Unit]
Description=corral bench unit %i

[Service]
ExecStart=/bin/sleep 3600
";

/// A real cluster whose units die with it: on drop the nodes are killed
/// first (so no agent starts a supervisor again), then every unit
/// supervisor and unit process under their data dirs, then the cluster's
/// temp dir goes.
struct RealCluster {
    c: Option<Cluster>,
    roots: Vec<PathBuf>,
}

impl RealCluster {
    fn c(&self) -> &Cluster {
        self.c.as_ref().expect("the cluster lives until drop")
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        if let Some(mut c) = self.c.take() {
            for i in 0..c.machines.len() {
                c.kill(i);
            }
            let n = reaper::kill_all(&self.roots);
            if n > 0 {
                eprintln!("real: killed {n} unit processes left behind");
            }
        }
    }
}

pub async fn measure(bin: PathBuf, plan: Plan, rep: Shared) -> Result<()> {
    let c = Cluster::start(&bin, ClusterSpec::default());
    let roots = c.machines.iter().map(|m| m.data_dir.clone()).collect();
    let rc = RealCluster { c: Some(c), roots };
    let leader = rc.c().must_leader(plan.register_within).await;
    rc.c()
        .must_all_agents_registered(plan.register_within)
        .await;
    eprintln!("real: cluster up (leader m{})", leader + 1);
    let api = UnitsApi::new(rc.c().server_endpoints());
    let outcome = async {
        start_all(&rc, leader, &api, &plan, &rep).await?;
        destroy_all(&rc, &api, &plan, &rep).await
    }
    .await;
    let rss = rc.c().machines[leader]
        .pid()
        .and_then(|p| process::rss_mib(p).ok());
    update(&rep, |r| r.real.leader_rss_mib = rss);
    if outcome.is_err() {
        for (i, m) in rc.c().machines.iter().enumerate() {
            eprintln!(
                "===== end of {}'s log =====\n{}",
                m.name,
                rc.c().log_tail(i, 30)
            );
        }
    }
    outcome
}

/// The template, then every instance launched and awaited active.
async fn start_all(
    rc: &RealCluster,
    leader: usize,
    api: &UnitsApi,
    plan: &Plan,
    rep: &Shared,
) -> Result<()> {
    api.put(TEMPLATE, Some(TEMPLATE_TEXT), None).await?;
    let n = plan.real_units;
    let mut watch = CpuWatch::default();
    for (i, m) in rc.c().machines.iter().enumerate() {
        let role = if i == leader { "leader" } else { "follower" };
        watch
            .procs
            .extend(m.pid().map(|p| (format!("{role} {}", m.name), p)));
    }
    watch.procs.push(("bench".to_string(), std::process::id()));
    eprintln!(
        "real: POST {n} instances in batches, {} in flight",
        plan.in_flight
    );
    let names = instances(n);
    let mut s = Settle::default();
    watch.start();
    let since = Instant::now();
    s.submitted = send_all(
        api,
        names.clone(),
        Op::Launch,
        plan.in_flight,
        plan.submit_within,
        "real: PUT",
    )
    .await;
    let outcome = if s.submitted.ok < n {
        Err(anyhow::anyhow!(
            "only {} of {n} instances submitted: {}",
            s.submitted.ok,
            s.submitted.first_error.as_deref().unwrap_or("-")
        ))
    } else {
        let w = Wait {
            names: &names,
            poll: plan.real_poll,
            since,
            deadline: since + plan.settle_within,
            what: "real",
        };
        settle(api, &w, &mut s).await
    };
    s.cpu = watch.finish();
    update(rep, |r| r.real.settle = s);
    outcome
}

/// Every instance DELETEd, then awaited gone from the machines, from the
/// leader's reports, and from the process table.
async fn destroy_all(rc: &RealCluster, api: &UnitsApi, plan: &Plan, rep: &Shared) -> Result<()> {
    let n = plan.real_units;
    eprintln!("real: DELETE {n} instances, {} in flight", plan.in_flight);
    let since = Instant::now();
    let deadline = since + plan.stop_within;
    let sent = send_all(
        api,
        instances(n),
        Op::Destroy,
        plan.in_flight,
        plan.stop_within,
        "real: DELETE",
    )
    .await;
    let all_sent = sent.ok == n;
    let first_error = sent.first_error.clone();
    update(rep, |r| r.real.destroyed = sent);
    if !all_sent {
        bail!(
            "not every instance destroyed: {}",
            first_error.as_deref().unwrap_or("-")
        );
    }
    let agents: Vec<String> = rc.c().machines.iter().map(|m| m.agent_addr()).collect();
    let (mut machines_clear, mut reports_clear) = (None, None);
    let mut last = String::from("nothing polled yet");
    while machines_clear.is_none() || reports_clear.is_none() {
        if Instant::now() > deadline {
            update(rep, |r| r.real.stop_last = last.clone());
            bail!(
                "instances not gone within {:?} of the first DELETE; last seen: {last}",
                plan.stop_within
            );
        }
        let mut listed = 0;
        let mut seen = Vec::new();
        for a in &agents {
            match api.on_machine(a).await {
                Ok(k) => listed += k,
                Err(e) => seen.push(format!("{e:#}")),
            }
        }
        let reported = api.reported().await;
        let at = since.elapsed();
        if seen.is_empty() && listed == 0 && machines_clear.is_none() {
            machines_clear = Some(at);
            update(rep, |r| r.real.machines_clear = Some(at));
            eprintln!(
                "real: no machine lists an instance after {:.2} s",
                at.as_secs_f64()
            );
        }
        match reported {
            Ok(0) => {
                if reports_clear.is_none() {
                    reports_clear = Some(at);
                    update(rep, |r| r.real.reports_clear = Some(at));
                    eprintln!(
                        "real: the leader holds no report after {:.2} s",
                        at.as_secs_f64()
                    );
                }
            }
            Ok(k) => seen.push(format!("the leader holds {k} reports")),
            Err(e) => seen.push(format!("{e:#}")),
        }
        last = format!("machines list {listed} instances; {}", seen.join("; "));
        tokio::time::sleep(plan.real_poll).await;
    }
    // The machines say the units are gone; the process table has the last word.
    let left = loop {
        let found = reaper::find(&rc.roots);
        if found.is_empty() || Instant::now() > deadline {
            break found.len();
        }
        tokio::time::sleep(plan.real_poll).await;
    };
    update(rep, |r| r.real.processes_left = Some(left));
    eprintln!("real: {left} unit processes left after the destroy");
    Ok(())
}
