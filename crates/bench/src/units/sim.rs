//! The simulated measurement: a 3-server cluster plus `corral sim-agents`,
//! `plan.sim_units` instances of a template that only simulated machines
//! may take (`MachineMetadata=simulated=true`), PUT with desired
//! `launched` and timed until every one has a machine and is reported
//! active/running. Nothing runs: a simulated machine answers its unit set
//! with every launched unit active/running and reports that to the leader.

use std::path::PathBuf;

use anyhow::Result;
use corral_testkit::{Cluster, ClusterSpec};
use tokio::time::Instant;

use super::submit::{send_all, Op};
use super::{instances, settle, update, Plan, Settle, Shared, UnitsApi, Wait, TEMPLATE};
use crate::process;
use crate::tasks::cpu::CpuWatch;
use crate::tasks::{wait_active, SimAgents, SimSpec, SIM_ATTRIBUTE};

/// Where the simulated machines live (test clusters use 127.20-219.x.x;
/// 500 machines take 2 of the third octet's values).
const FIRST_IP: &str = "127.250.32.1";

/// The template: held on simulated machines, so the three real ones
/// start nothing.
pub fn template_text() -> String {
    format!(
        "\
[Unit]
Description=corral bench unit %i (simulated machines only)

[Service]
ExecStart=/bin/sleep 3600

[X-Fleet]
MachineMetadata={SIM_ATTRIBUTE}=true
"
    )
}

pub async fn measure(bin: PathBuf, plan: Plan, rep: Shared) -> Result<()> {
    // Heartbeats once a second: 500 machines at the test kit's 200 ms
    // would be much of the leader's work.
    let spec = ClusterSpec {
        heartbeat_ms: 1000,
        ..ClusterSpec::default()
    };
    let c = Cluster::start(&bin, spec);
    let leader = c.must_leader(plan.register_within).await;
    c.must_all_agents_registered(plan.register_within).await;
    let count = plan.sim_machines;
    eprintln!(
        "sim: cluster up (leader m{}); {count} simulated machines from {FIRST_IP}",
        leader + 1
    );
    let agents = SimSpec {
        count,
        first_ip: FIRST_IP.to_string(),
        cpus: 1.0,
        mem_mb: 1024,
        heartbeat_ms: 1000,
    };
    let started = Instant::now();
    let log = c.dir.path().join("sim-agents.log");
    let mut sim = SimAgents::start(&bin, &c.server_endpoints(), &agents, &log)?;
    let all = c.machines.len() + count as usize;
    wait_active(&c, &mut sim, all, count as usize, plan.register_within).await?;
    let registered_in = started.elapsed();
    eprintln!(
        "sim: {count} simulated machines active after {:.1} s",
        registered_in.as_secs_f64()
    );
    update(&rep, |r| {
        r.sim.machines = count;
        r.sim.registered_in = Some(registered_in);
    });

    let mut watch = CpuWatch::default();
    for (i, m) in c.machines.iter().enumerate() {
        let role = if i == leader { "leader" } else { "follower" };
        watch
            .procs
            .extend(m.pid().map(|p| (format!("{role} {}", m.name), p)));
    }
    watch
        .procs
        .extend(sim.pid().map(|p| ("sim-agents".to_string(), p)));
    watch.procs.push(("bench".to_string(), std::process::id()));

    let api = UnitsApi::new(c.server_endpoints());
    let before = term(&c).await;
    let outcome = async {
        api.put(TEMPLATE, Some(&template_text()), None).await?;
        let n = plan.sim_units;
        eprintln!(
            "sim: POST {n} instances in batches, {} in flight",
            plan.in_flight
        );
        let names = instances(n);
        let mut s = Settle::default();
        watch.start();
        let since = Instant::now();
        s.submitted = send_all(
            &api,
            names.clone(),
            Op::Launch,
            plan.in_flight,
            plan.submit_within,
            "sim: PUT",
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
                poll: plan.sim_poll,
                since,
                deadline: since + plan.settle_within,
                what: "sim",
            };
            settle(&api, &w, &mut s).await
        };
        s.cpu = watch.finish();
        update(&rep, |r| r.sim.settle = s);
        outcome?;
        sim.check_alive()
    }
    .await;
    let after = term(&c).await;
    let rss = c.machines[leader]
        .pid()
        .and_then(|p| process::rss_mib(p).ok());
    update(&rep, |r| {
        r.sim.terms = (before, after);
        r.sim.leader_rss_mib = rss;
    });
    if outcome.is_err() {
        for (i, m) in c.machines.iter().enumerate() {
            eprintln!("===== end of {}'s log =====\n{}", m.name, c.log_tail(i, 30));
        }
        eprintln!(
            "===== end of the sim-agents log =====\n{}",
            process::log_tail(&sim.log, 10)
        );
    }
    outcome
}

/// The Raft term the leader reports, if one answers.
async fn term(c: &Cluster) -> Option<u64> {
    let i = c.leader_index().await.ok()?;
    Some(c.cluster_view(i).await.ok()?.term)
}
