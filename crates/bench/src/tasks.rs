//! Task benchmarks (issue 3): how fast the control plane gets tasks to
//! RUNNING, measured on the wire as a framework sees it.
//!
//! - **Throughput** ([`throughput`]): a 3-server cluster plus
//!   `corral sim-agents` ([`SimAgents`]: 1,000 simulated agents that report
//!   RUNNING at once and run nothing), and one framework on the v1
//!   scheduler API that fills every simulated agent's offer with 0.01-cpu
//!   tasks until 100,000 are launched. It counts TASK_RUNNING updates, each
//!   sent by the leader only after the state is committed through Raft.
//!   Each simulated agent offers exactly its share of the tasks' cpus
//!   (1 cpu = 100 tasks), so the tasks spread over every agent.
//! - **Latency** ([`latency`]): a 3-machine real cluster; one `sleep 30`
//!   task at a time on a real agent, ACCEPT sent → TASK_RUNNING received,
//!   then killed (KILL sent → TASK_KILLED received is reported too).
//!
//! Invariants:
//! - Prints figures and asserts no timing: a missed target is a line of
//!   the report, not a failure.
//! - Bounded: every wait has a deadline (the phases' [`Plan`] bounds), and
//!   the bench binary caps the whole run ([`Plan::cap`]).
//! - Every process started here (clusters, `corral sim-agents`) is
//!   SIGKILLed on drop; only 127.0.0.0/8 is ever a target.
//! - The figures live in [`TasksReport`], filled in as they are measured,
//!   so a run stopped early still reports what it had; [`render`] is pure.
//!
//! The flows are here; `agents` runs `corral sim-agents`, `framework` is
//! the scheduler-API client, `cpu` reads CPU time from `/proc`, `render`
//! writes the report.

mod agents;
pub mod cpu;
mod framework;
mod launches;
pub mod render;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use corral_testkit::scheduler::task_info;
use corral_testkit::{Cluster, ClusterSpec};
use serde_json::{json, Value};
use tokio::time::Instant;

pub use agents::{active_agents, wait_active, SimAgents, SimSpec};
use cpu::CpuWatch;
pub use framework::{bench_task, fit, is_simulated, Framework};
pub use launches::Launches;
pub use render::render;

use crate::process;

/// Resources of one throughput task.
pub const TASK_CPUS: f64 = 0.01;
pub const TASK_MEM_MB: f64 = 1.0;
/// The targets.
pub const THROUGHPUT_TARGET: f64 = 5_000.0;
pub const LATENCY_TARGET_MS: f64 = 100.0;
/// Where the simulated agents live (test clusters use 127.20-219.x.x).
pub const SIM_FIRST_IP: &str = "127.250.0.1";
/// The attribute simulated agents register with (`corral_agent::sim`).
pub const SIM_ATTRIBUTE: &str = "simulated";
/// ACCEPT calls in flight at once: enough that offers do not go stale
/// waiting (a framework answers each offer as it comes), few enough to
/// stay well inside the open-file limit.
const ACCEPTS_IN_FLIGHT: usize = 256;
/// Leader changes a framework follows before it gives up.
const MAX_LEADER_CHANGES: u32 = 3;
/// How often progress goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What to measure, and how long each phase may take.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub agents: u32,
    pub tasks: u64,
    pub samples: usize,
    /// Bound on the simulated agents all registering.
    pub register_within: Duration,
    /// Bound on first ACCEPT → last RUNNING.
    pub launch_within: Duration,
    /// Bound on the TEARDOWN call.
    pub teardown_within: Duration,
    /// Bound on one latency sample (running and killed).
    pub sample_within: Duration,
    /// The whole run stops after this, printing what it has.
    pub cap: Duration,
}

impl Plan {
    /// 1,000 simulated agents, 100,000 tasks, 50 latency samples.
    pub fn full() -> Plan {
        Plan {
            quick: false,
            agents: 1000,
            tasks: 100_000,
            samples: 50,
            register_within: Duration::from_secs(120),
            launch_within: Duration::from_secs(300),
            teardown_within: Duration::from_secs(120),
            sample_within: Duration::from_secs(30),
            cap: Duration::from_secs(600),
        }
    }

    /// A smoke run: 100 agents, 10,000 tasks, 10 samples.
    pub fn quick() -> Plan {
        Plan {
            quick: true,
            agents: 100,
            tasks: 10_000,
            samples: 10,
            ..Plan::full()
        }
    }

    /// `quick()` when `BENCH_QUICK=1`, else `full()`; `BENCH_AGENTS` and
    /// `BENCH_TASKS` change the throughput scale (to see how it moves).
    pub fn from_env() -> Plan {
        let mut plan = if std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") {
            Plan::quick()
        } else {
            Plan::full()
        };
        let number = |name: &str| {
            std::env::var(name)
                .ok()?
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
        };
        if let Some(n) = number("BENCH_AGENTS") {
            plan.agents = n.min(u64::from(u32::MAX)) as u32;
        }
        if let Some(n) = number("BENCH_TASKS") {
            plan.tasks = n;
        }
        plan
    }

    /// Cpus each simulated agent offers: room for exactly its share of the tasks.
    pub fn cpus_per_agent(&self) -> f64 {
        self.tasks.div_ceil(u64::from(self.agents.max(1))) as f64 * TASK_CPUS
    }
}

/// The throughput figures.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    /// Simulated agents started.
    pub agents: u32,
    /// `corral sim-agents` started → every one listed active by the leader.
    pub registered_in: Option<Duration>,
    /// Launches sent (a task launched again counts again).
    pub launched: u64,
    /// Launches of tasks whose earlier launch failed.
    pub relaunched: u64,
    pub running: u64,
    /// Tasks given up on after [`launches::MAX_ATTEMPTS`] failed launches.
    pub failed: u64,
    /// The first failed launch (ACCEPT refused, TASK_ERROR, ...), and why.
    pub first_failure: Option<String>,
    pub accepts: u64,
    /// First ACCEPT → last RUNNING so far.
    pub elapsed: Option<Duration>,
    /// First ACCEPT → each tenth of the tasks RUNNING.
    pub tenths: Vec<Duration>,
    /// CPU seconds each process used from first ACCEPT to last RUNNING.
    pub cpu: Vec<(String, f64)>,
    /// The whole machine meanwhile: (busy %, iowait %) of all cores.
    pub machine: Option<(f64, f64)>,
    /// Times the framework had to follow a new leader.
    pub leader_changes: u32,
    /// The Raft term before the first ACCEPT and after the last RUNNING
    /// (a change means an election during the load).
    pub terms: (Option<u64>, Option<u64>),
    pub leader_rss_mib: Option<f64>,
    pub sim_rss_mib: Option<f64>,
    /// How long the TEARDOWN call took (the leader kills every task first).
    pub teardown: Option<Result<Duration, String>>,
    /// Why it stopped early, if it did.
    pub note: Option<String>,
}

/// The latency samples.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// ACCEPT sent → TASK_RUNNING received.
    pub running: Vec<Duration>,
    /// ACCEPT sent → TASK_STARTING received, for samples that had one.
    pub starting: Vec<Duration>,
    /// ACCEPT sent → its 202 answer.
    pub answered: Vec<Duration>,
    /// KILL sent → TASK_KILLED received.
    pub killed: Vec<Duration>,
    /// Samples whose task did not reach RUNNING, and why.
    pub failures: Vec<String>,
    /// Times the framework had to follow a new leader.
    pub leader_changes: u32,
    pub note: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct TasksReport {
    pub plan: Plan,
    pub throughput: Throughput,
    pub latency: Latency,
}

impl TasksReport {
    pub fn new(plan: Plan) -> TasksReport {
        TasksReport {
            plan,
            throughput: Throughput::default(),
            latency: Latency::default(),
        }
    }

    /// True when a measurement stopped early or lost tasks.
    pub fn failed(&self) -> bool {
        let t = &self.throughput;
        t.note.is_some()
            || t.failed > 0
            || t.running < self.plan.tasks
            || self.latency.note.is_some()
            || self.latency.running.len() < self.plan.samples
    }
}

/// Shared report, filled in as figures come.
pub type Shared = Arc<Mutex<TasksReport>>;

fn with<T>(rep: &Shared, f: impl FnOnce(&mut TasksReport) -> T) -> T {
    f(&mut rep.lock().unwrap_or_else(|p| p.into_inner()))
}

/// A state a task never leaves.
fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_ERROR"
            | "TASK_FAILED"
            | "TASK_LOST"
            | "TASK_DROPPED"
            | "TASK_GONE"
            | "TASK_UNREACHABLE"
            | "TASK_FINISHED"
            | "TASK_KILLED"
    )
}

/// The throughput measurement, start to end: cluster, simulated agents,
/// one framework launching `plan.tasks`, teardown.
pub async fn throughput(bin: &Path, plan: &Plan, rep: &Shared) -> Result<()> {
    let c = Cluster::start(
        bin,
        ClusterSpec {
            heartbeat_ms: 1000,
            ..Default::default()
        },
    );
    let leader = c.must_leader(plan.register_within).await;
    c.must_all_agents_registered(plan.register_within).await;
    eprintln!(
        "throughput: cluster up; starting {} simulated agents",
        plan.agents
    );
    let spec = SimSpec {
        count: plan.agents,
        first_ip: SIM_FIRST_IP.into(),
        cpus: plan.cpus_per_agent(),
        mem_mb: 262_144,
        heartbeat_ms: 1000,
    };
    let t = Instant::now();
    let mut sim = SimAgents::start(
        bin,
        &c.server_endpoints(),
        &spec,
        &c.dir.path().join("sim-agents.log"),
    )?;
    with(rep, |r| r.throughput.agents = plan.agents);
    let total = c.machines.len() + plan.agents as usize;
    wait_active(
        &c,
        &mut sim,
        total,
        plan.agents as usize,
        plan.register_within,
    )
    .await?;
    let registered_in = t.elapsed();
    with(rep, |r| r.throughput.registered_in = Some(registered_in));
    eprintln!(
        "throughput: {} simulated agents registered in {:.1} s",
        plan.agents,
        registered_in.as_secs_f64()
    );

    let mut watch = CpuWatch::default();
    for (i, m) in c.machines.iter().enumerate() {
        let label = if i == leader { "leader" } else { "follower" };
        watch.procs.extend(m.pid().map(|p| (label.to_string(), p)));
    }
    watch
        .procs
        .extend(sim.pid().map(|p| ("sim-agents".to_string(), p)));
    watch
        .procs
        .push(("framework (bench)".to_string(), std::process::id()));
    let term_before = term(&c).await;
    let mut fw = Framework::subscribe(&c, leader, "corral-bench-tasks", None).await?;
    let outcome = launch_all(&c, &mut fw, plan, rep, &mut watch).await;
    let used = watch.finish();
    let term_after = term(&c).await;
    with(rep, |r| {
        r.throughput.cpu = used.procs;
        r.throughput.machine = used.machine;
        r.throughput.terms = (term_before, term_after);
    });
    if let Some(pid) = c.machines[leader].pid() {
        with(rep, |r| {
            r.throughput.leader_rss_mib = process::rss_mib(pid).ok()
        });
    }
    if let Some(pid) = sim.pid() {
        with(rep, |r| {
            r.throughput.sim_rss_mib = process::rss_mib(pid).ok()
        });
    }
    if let Err(e) = outcome {
        for i in 0..c.machines.len() {
            let m = &c.machines[i];
            eprintln!(
                "===== end of {}'s log ({}) =====\n{}",
                m.name,
                m.ip,
                c.log_tail(i, 30)
            );
        }
        eprintln!(
            "===== end of the sim-agents log =====\n{}",
            process::log_tail(&sim.log, 10)
        );
        return Err(e);
    }

    eprintln!("throughput: TEARDOWN (the leader kills every task first)");
    let teardown = fw.call(fw.body("TEARDOWN", None));
    let took = match tokio::time::timeout(plan.teardown_within, teardown).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(format!("the call failed: {e}")),
        Err(_) => Err(format!("not answered within {:?}", plan.teardown_within)),
    };
    with(rep, |r| r.throughput.teardown = Some(took));
    sim.check_alive()
}

/// The leader's term (the Raft term) right now, if a leader answers.
async fn term(c: &Cluster) -> Option<u64> {
    let leader = c.leader_index().await.ok()?;
    c.cluster_view(leader).await.ok().map(|v| v.term)
}

/// Accepts every simulated agent's offer, filled with tasks, until
/// `plan.tasks` are RUNNING; a task that fails to start (its ACCEPT
/// refused, TASK_ERROR, ...) is launched again on a later offer, as a
/// framework would ([`Launches`]).
async fn launch_all(
    c: &Cluster,
    fw: &mut Framework,
    plan: &Plan,
    rep: &Shared,
    watch: &mut CpuWatch,
) -> Result<()> {
    let limit = Arc::new(tokio::sync::Semaphore::new(ACCEPTS_IN_FLIGHT));
    // Dropped (so aborted) when the measurement ends, however it ends.
    let mut calls = tokio::task::JoinSet::new();
    let (failed_tx, mut failed_rx) =
        tokio::sync::mpsc::unbounded_channel::<(Vec<String>, String)>();
    let mut tasks = Launches::new(plan.tasks);
    let mut first_accept: Option<Instant> = None;
    // Until the first ACCEPT the wait is for offers; then for the tasks.
    let mut deadline = Instant::now() + plan.register_within;
    let mut progress = (Instant::now(), 0u64);
    let note = |rep: &Shared, tasks: &Launches, why: Option<String>| {
        with(rep, |r| {
            let t = &mut r.throughput;
            (t.launched, t.relaunched, t.failed) =
                (tasks.launched, tasks.relaunched, tasks.gave_up);
            if let Some(why) = why {
                t.first_failure.get_or_insert(why);
            }
        })
    };
    while !tasks.done() {
        let ev = tokio::select! {
            ev = fw.next(deadline) => match ev {
                Ok(ev) => ev,
                Err(e) if fw.ended && with(rep, |r| r.throughput.leader_changes) < MAX_LEADER_CHANGES => {
                    // Follow the new leader; what was committed meanwhile
                    // comes back through RECONCILE.
                    eprintln!("throughput: {e:#}; subscribing to the new leader");
                    with(rep, |r| r.throughput.leader_changes += 1);
                    fw.follow_leader(c, "corral-bench-tasks", plan.register_within).await?;
                    let reconcile = json!({"tasks": []});
                    drop(fw.call(fw.body("RECONCILE", Some(("reconcile", reconcile)))));
                    continue;
                }
                Err(e) => return Err(e.context(format!("{} of {} tasks RUNNING", tasks.running, plan.tasks))),
            },
            Some((ids, why)) = failed_rx.recv() => {
                for id in &ids {
                    tasks.fail(id);
                }
                note(rep, &tasks, Some(why));
                continue;
            }
        };
        match ev["type"].as_str().unwrap_or_default() {
            "OFFERS" => {
                let mut decline = Vec::new();
                let mut later = Vec::new();
                for offer in ev["offers"]["offers"].as_array().into_iter().flatten() {
                    if !is_simulated(offer) {
                        decline.push(offer["id"].clone());
                        continue;
                    }
                    let ids = tasks.take(fit(offer, TASK_CPUS, TASK_MEM_MB));
                    if ids.is_empty() {
                        // Wanted again if a launch fails.
                        later.push(offer["id"].clone());
                        continue;
                    }
                    let infos: Vec<Value> = ids
                        .iter()
                        .map(|id| bench_task(id, &offer["agent_id"]))
                        .collect();
                    let accept = json!({"offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}]});
                    let accept = fw.body("ACCEPT", Some(("accept", accept)));
                    if first_accept.is_none() {
                        watch.start();
                        first_accept = Some(Instant::now());
                        deadline = Instant::now() + plan.launch_within;
                    }
                    with(rep, |r| r.throughput.accepts += 1);
                    note(rep, &tasks, None);
                    let (permit, call, failed_tx) = (
                        limit.clone().acquire_owned(),
                        fw.send(accept),
                        failed_tx.clone(),
                    );
                    calls.spawn(async move {
                        let _permit = permit.await;
                        if let Err(e) = call.await {
                            let _ = failed_tx.send((ids, format!("ACCEPT: {e}")));
                        }
                    });
                }
                for (ids, refuse_seconds) in [(decline, 3600), (later, 1)] {
                    if !ids.is_empty() {
                        let body = json!({"offer_ids": ids, "filters": {"refuse_seconds": refuse_seconds}});
                        drop(fw.call(fw.body("DECLINE", Some(("decline", body)))));
                    }
                }
            }
            "UPDATE" => {
                let status = &ev["update"]["status"];
                fw.acknowledge(status);
                let state = status["state"].as_str().unwrap_or_default();
                let id = status["task_id"]["value"].as_str().unwrap_or_default();
                if state == "TASK_RUNNING" {
                    if tasks.run(id) {
                        let since = first_accept.map(|t| t.elapsed()).unwrap_or_default();
                        let running = tasks.running;
                        with(rep, |r| {
                            let t = &mut r.throughput;
                            t.running = running;
                            t.elapsed = Some(since);
                            if running * 10 >= plan.tasks * (t.tenths.len() as u64 + 1) {
                                t.tenths.push(since);
                            }
                        });
                    }
                } else if is_terminal(state) && tasks.fail(id) {
                    let why = format!(
                        "{id}: {state} {}",
                        status["message"].as_str().unwrap_or_default()
                    );
                    note(rep, &tasks, Some(why));
                }
            }
            "ERROR" => bail!("the master sent ERROR: {}", ev["error"]["message"]),
            _ => {}
        }
        if progress.0.elapsed() >= PROGRESS_EVERY {
            let secs = progress.0.elapsed().as_secs_f64();
            let rate = (tasks.running - progress.1) as f64 / secs;
            eprintln!(
                "throughput: launches {} ({} again), RUNNING {} ({rate:.0}/s over the last {secs:.0} s), given up {}",
                tasks.launched, tasks.relaunched, tasks.running, tasks.gave_up
            );
            progress = (Instant::now(), tasks.running);
        }
    }
    eprintln!(
        "throughput: launches {} ({} again), RUNNING {}, given up {}",
        tasks.launched, tasks.relaunched, tasks.running, tasks.gave_up
    );
    Ok(())
}

/// The latency measurement: a 3-machine real cluster, one `sleep 30` task
/// at a time on a real agent, `plan.samples` times.
pub async fn latency(bin: &Path, plan: &Plan, rep: &Shared) -> Result<()> {
    let c = Cluster::start(bin, ClusterSpec::default());
    let leader = c.must_leader(plan.register_within).await;
    c.must_all_agents_registered(plan.register_within).await;
    let name = "corral-bench-latency";
    let mut fw = Framework::subscribe(&c, leader, name, None).await?;
    let mut offers: Vec<Value> = Vec::new();
    let mut i = 0;
    while with(rep, |r| r.latency.running.len()) < plan.samples {
        match sample(&mut fw, i, plan, rep, &mut offers).await {
            Ok(()) => {}
            // A framework follows the new leader; the sample in flight is lost.
            Err(e) if fw.ended && with(rep, |r| r.latency.leader_changes) < MAX_LEADER_CHANGES => {
                eprintln!("latency: {e:#}; subscribing to the new leader");
                with(rep, |r| {
                    r.latency.leader_changes += 1;
                    r.latency.failures.push(format!("latency-{i}: {e:#}"));
                });
                fw.follow_leader(&c, name, plan.register_within).await?;
                offers.clear();
            }
            Err(e) => return Err(e),
        }
        i += 1;
    }
    Ok(())
}

/// One latency sample: `latency-{i}` launched on the first offer at hand,
/// RUNNING awaited, then killed and TASK_KILLED awaited.
async fn sample(
    fw: &mut Framework,
    i: usize,
    plan: &Plan,
    rep: &Shared,
    offers: &mut Vec<Value>,
) -> Result<()> {
    let deadline = Instant::now() + plan.sample_within;
    let id = format!("latency-{i}");
    while offers.is_empty() {
        let ev = fw.next(deadline).await.context("waiting for an offer")?;
        take_offers(&ev, offers);
    }
    let offer = offers.remove(0);
    // The rest of the offer comes back in the next round: no filter.
    let accept = fw.body("ACCEPT", Some(("accept", json!({
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task_info(&id, &offer["agent_id"], "sleep 30")]}}],
        "filters": {"refuse_seconds": 0}
    }))));
    tokio::time::sleep(pause(i, 0.0)).await;
    let sent = Instant::now();
    let answered = fw.call(accept);
    let running = ["TASK_STARTING", "TASK_RUNNING"];
    let mut state = wait_task(fw, &id, &running, offers, deadline).await?;
    if state == "TASK_STARTING" {
        with(rep, |r| r.latency.starting.push(sent.elapsed()));
        state = wait_task(fw, &id, &running[1..], offers, deadline).await?;
    }
    let to_running = sent.elapsed();
    let answer = answered.await?;
    if state != "TASK_RUNNING" {
        with(rep, |r| r.latency.failures.push(format!("{id}: {state}")));
        return Ok(());
    }
    let answer = answer.map_err(|e| anyhow!("ACCEPT: {e}"))?;
    with(rep, |r| {
        r.latency.running.push(to_running);
        r.latency.answered.push(answer);
    });
    let kill = json!({"task_id": {"value": id}, "agent_id": offer["agent_id"]});
    let kill = fw.body("KILL", Some(("kill", kill)));
    tokio::time::sleep(pause(i, 0.5)).await;
    let sent = Instant::now();
    let killed = fw.call(kill);
    let state = wait_task(fw, &id, &[], offers, deadline).await?;
    let to_killed = sent.elapsed();
    killed.await?.map_err(|e| anyhow!("KILL: {e}"))?;
    if state == "TASK_KILLED" {
        with(rep, |r| r.latency.killed.push(to_killed));
    }
    eprintln!(
        "latency: sample {}/{}: RUNNING after {:.1} ms (ACCEPT answered after {:.1} ms), {state} after {:.1} ms",
        i + 1,
        plan.samples,
        to_running.as_secs_f64() * 1e3,
        answer.as_secs_f64() * 1e3,
        to_killed.as_secs_f64() * 1e3
    );
    Ok(())
}

/// A pause of 0-250 ms before a call of sample `i`, spread evenly over the
/// samples (golden-ratio steps; `salt` shifts the sequence): each sample
/// is the answer to the previous one's last event, so without it every
/// call would fall at the same point of the agents' periodic work (the
/// reporter's 200 ms tick) and the samples would all measure one phase.
pub fn pause(i: usize, salt: f64) -> Duration {
    let frac = ((i as f64 + salt) * 0.618_033_988_75).fract();
    Duration::from_secs_f64(frac * 0.25)
}

/// Adds an OFFERS event's offers to `offers`; drops rescinded ones.
fn take_offers(ev: &Value, offers: &mut Vec<Value>) {
    match ev["type"].as_str() {
        Some("OFFERS") => offers.extend(
            ev["offers"]["offers"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        ),
        Some("RESCIND") => {
            let gone = &ev["rescind"]["offer_id"];
            offers.retain(|o| &o["id"] != gone);
        }
        _ => {}
    }
}

/// Reads events until task `id` is in one of `want` or has ended; returns
/// that state. Offers seen meanwhile are kept.
async fn wait_task(
    fw: &mut Framework,
    id: &str,
    want: &[&str],
    offers: &mut Vec<Value>,
    deadline: Instant,
) -> Result<String> {
    loop {
        let ev = fw
            .next(deadline)
            .await
            .with_context(|| format!("waiting for task {id}"))?;
        take_offers(&ev, offers);
        if ev["type"] != "UPDATE" {
            continue;
        }
        let status = &ev["update"]["status"];
        fw.acknowledge(status);
        let state = status["state"].as_str().unwrap_or_default();
        if status["task_id"]["value"] == id && (want.contains(&state) || is_terminal(state)) {
            return Ok(state.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        assert_eq!(Plan::full().cpus_per_agent(), 1.0);
        assert_eq!(Plan::quick().cpus_per_agent(), 1.0);
        let pauses: Vec<u128> = (0..5).map(|i| pause(i, 0.0).as_millis()).collect();
        assert_eq!(pauses, [0, 154, 59, 213, 118]);
        assert!((0..1000).all(|i| pause(i, 0.5) < Duration::from_millis(250)));
    }
}
