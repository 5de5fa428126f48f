//! App-scheduler benchmarks (issue 4): how fast the Marathon-compatible
//! API on :8080 gets apps RUNNING, scales them and lists them, measured on
//! the wire as a Marathon client sees it.
//!
//! - **Scale** ([`scale::measure`]): a 3-server cluster plus
//!   `corral sim-agents` (1,000 simulated agents that report RUNNING at
//!   once and run nothing); one app of 10,000 instances is POSTed, then
//!   PUT to 0 instances, then back to 10,000. Each change is timed from
//!   the request to every instance RUNNING (or none left) and to its
//!   deployment gone from `/v2/deployments`.
//! - **Launch** ([`launch::measure`]): a 3-machine real cluster; an app of
//!   one `sleep 300` instance is POSTed, `GET /v2/apps/{id}` polled every
//!   5 ms until `tasksRunning` is 1 (and on until its deployment is
//!   done), then the app is DELETEd and its task awaited gone; one sample
//!   at a time.
//! - **Listing** ([`listing::measure`]): simulated agents again, 1,000
//!   apps × 10 instances created, then `GET /v2/apps?embed=apps.tasks`
//!   timed on the leader's :8080 and through a follower's proxy.
//!
//! Invariants:
//! - Prints figures and asserts no timing: a missed target is a line of
//!   the report, not a failure.
//! - Bounded: every wait polls against a deadline (the [`Plan`]'s
//!   bounds), every request has a timeout, and the bench binary caps the
//!   whole run ([`Plan::cap`]).
//! - Every process started here (clusters, `corral sim-agents`) is
//!   SIGKILLed on drop; only 127.0.0.0/8 is ever a target. App instances
//!   on simulated agents are held there by a constraint, so no real
//!   machine starts 10,000 processes.
//! - The figures live in [`AppsReport`], filled in as they are measured,
//!   so a run stopped early still reports what it had; [`render`] is pure.
//!
//! The flows are in `scale`, `launch` and `listing`; `marathon` is the
//! :8080 client; simulated agents, CPU readings and the latency summary
//! come from [`crate::tasks`].

mod launch;
mod listing;
mod marathon;
mod render;
mod scale;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use corral_testkit::{Cluster, ClusterSpec};
use tokio::time::Instant;

pub use marathon::{AppsApi, Counts};
pub use render::render;

use crate::process;
use crate::tasks::cpu::{CpuUse, CpuWatch};
use crate::tasks::{wait_active, SimAgents, SimSpec, SIM_ATTRIBUTE};

/// Resources of one instance on a simulated agent.
pub const SIM_CPUS: f64 = 0.01;
pub const SIM_MEM_MB: f64 = 1.0;
/// What each simulated agent offers: room for far more than its share.
pub const AGENT_CPUS: f64 = 16.0;
pub const AGENT_MEM_MB: u64 = 16_384;
/// The constraint that keeps an app on simulated agents.
pub const SIMULATED_ONLY: [&str; 3] = [SIM_ATTRIBUTE, "IS", "true"];
/// The targets.
pub const SCALE_TARGET: Duration = Duration::from_secs(5);
pub const LAUNCH_TARGET_MS: f64 = 200.0;
pub const LIST_TARGET_MS: f64 = 50.0;
/// How often a long wait says on stderr how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Where each measurement's simulated agents live (test clusters use
/// 127.20-219.x.x; 1,000 agents take 4 of the third octet's values).
const SCALE_FIRST_IP: &str = "127.250.0.1";
const LIST_FIRST_IP: &str = "127.250.16.1";

/// What to measure, and how long each wait may take.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    /// Simulated agents of the scale measurement, and its app's instances.
    pub agents: u32,
    pub instances: u64,
    /// Launch samples.
    pub samples: usize,
    /// Simulated agents of the listing, its apps and instances per app.
    pub list_agents: u32,
    pub list_apps: u64,
    pub list_instances: u64,
    /// Timed GETs of the listing, per server asked.
    pub gets: usize,
    /// How often a scale change is polled.
    pub poll: Duration,
    /// Bound on the cluster electing and every agent registering.
    pub register_within: Duration,
    /// Bound on one scale change settling.
    pub settle_within: Duration,
    /// Bound on the listing's apps being created, and on them all RUNNING.
    pub list_settle_within: Duration,
    /// Bound on one launch sample (RUNNING, then gone).
    pub sample_within: Duration,
    /// The whole run stops after this, printing what it has.
    pub cap: Duration,
    /// `BENCH_ONLY=scale|launch|listing`: only that measurement runs.
    pub only: Option<String>,
}

impl Plan {
    /// 10,000 instances on 1,000 agents; 20 launches; 1,000 apps × 10
    /// listed 50 times per server.
    pub fn full() -> Plan {
        Plan {
            quick: false,
            agents: 1000,
            instances: 10_000,
            samples: 20,
            list_agents: 1000,
            list_apps: 1000,
            list_instances: 10,
            gets: 50,
            poll: Duration::from_millis(25),
            register_within: Duration::from_secs(120),
            // Far past the 5 s target, and short enough that all three
            // measurements fit in the cap even when every wait runs out.
            settle_within: Duration::from_secs(90),
            list_settle_within: Duration::from_secs(300),
            sample_within: Duration::from_secs(30),
            cap: Duration::from_secs(600),
            only: None,
        }
    }

    /// A smoke run: 1,000 instances on 100 agents; 5 launches; 100 apps
    /// × 10 listed 10 times per server.
    pub fn quick() -> Plan {
        Plan {
            quick: true,
            agents: 100,
            instances: 1000,
            samples: 5,
            list_agents: 100,
            list_apps: 100,
            gets: 10,
            ..Plan::full()
        }
    }

    /// `quick()` when `BENCH_QUICK=1`, else `full()`.
    pub fn from_env() -> Plan {
        let plan = match std::env::var("BENCH_QUICK").as_deref() {
            Ok("1") => Plan::quick(),
            _ => Plan::full(),
        };
        Plan {
            only: std::env::var("BENCH_ONLY")
                .ok()
                .filter(|o| !o.is_empty())
                .map(|o| o.to_lowercase()),
            ..plan
        }
    }

    /// Whether measurement `m` runs in this plan.
    fn runs(&self, m: Measurement) -> bool {
        self.only
            .as_deref()
            .is_none_or(|o| format!("{m:?}").to_lowercase() == o)
    }
}

/// One change of the scale app, from its request until it settled.
#[derive(Debug, Clone, Default)]
pub struct Settle {
    /// What was asked (`POST 10000 instances`).
    pub label: String,
    /// Request sent → its answer.
    pub answered: Option<Duration>,
    /// Request sent → `tasksRunning` at the target (for 0: no live task).
    pub reached: Option<Duration>,
    /// Request sent → its deployment gone from `/v2/deployments`.
    pub deployed: Option<Duration>,
    /// CPU used from the request until it settled (or the wait ended).
    pub cpu: CpuUse,
    /// What the last poll saw.
    pub last: String,
}

/// The scale figures.
#[derive(Debug, Clone, Default)]
pub struct Scale {
    pub agents: u32,
    /// `corral sim-agents` started → every one listed active.
    pub registered_in: Option<Duration>,
    /// POST, PUT 0, PUT back, as far as they got.
    pub steps: Vec<Settle>,
    /// The Raft term before the POST and after the last change.
    pub terms: (Option<u64>, Option<u64>),
    pub leader_rss_mib: Option<f64>,
    pub note: Option<String>,
}

/// The launch samples.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// POST sent → `tasksRunning` 1.
    pub running: Vec<Duration>,
    /// POST sent → its 201 answer.
    pub answered: Vec<Duration>,
    /// POST sent → the app's deployment done.
    pub deployed: Vec<Duration>,
    /// DELETE sent → its deployment gone (the task ended).
    pub gone: Vec<Duration>,
    /// Samples that did not reach RUNNING, and why.
    pub failures: Vec<String>,
    pub note: Option<String>,
}

/// The listing figures.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub agents: u32,
    /// Apps created (201).
    pub created: u64,
    /// First POST → last 201.
    pub created_in: Option<Duration>,
    /// First POST → every instance RUNNING and no deployment left.
    pub settled_in: Option<Duration>,
    /// Why the GETs ran before everything was RUNNING, if they did.
    pub short: Option<String>,
    /// Request → last byte, on the leader and through a follower.
    pub leader: Vec<Duration>,
    pub follower: Vec<Duration>,
    /// The answer: bytes, apps, tasks embedded.
    pub answer: Option<(usize, usize, usize)>,
    /// CPU used over all the GETs.
    pub cpu: CpuUse,
    pub leader_rss_mib: Option<f64>,
    pub note: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct AppsReport {
    pub plan: Plan,
    pub scale: Scale,
    pub launch: Launch,
    pub listing: Listing,
}

impl AppsReport {
    pub fn new(plan: Plan) -> AppsReport {
        AppsReport {
            plan,
            scale: Scale::default(),
            launch: Launch::default(),
            listing: Listing::default(),
        }
    }

    /// True when a measurement stopped early or came up short.
    pub fn failed(&self) -> bool {
        let (s, l, g) = (&self.scale, &self.launch, &self.listing);
        let scale = s.note.is_some()
            || s.steps.len() < 3
            || s.steps
                .iter()
                .any(|x| x.deployed.is_none() || x.reached.is_none());
        let launch = l.note.is_some() || l.running.len() < self.plan.samples;
        let listing = g.note.is_some()
            || g.short.is_some()
            || g.leader.len() < self.plan.gets
            || g.follower.len() < self.plan.gets;
        (scale && self.plan.runs(Measurement::Scale))
            || (launch && self.plan.runs(Measurement::Launch))
            || (listing && self.plan.runs(Measurement::Listing))
    }
}

/// Shared report, filled in as figures come.
pub type Shared = Arc<Mutex<AppsReport>>;

/// Changes the shared report (a panic elsewhere does not lose it).
fn update<T>(rep: &Shared, change: impl FnOnce(&mut AppsReport) -> T) -> T {
    let mut guard = match rep.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    change(&mut guard)
}

/// The measurements, in the order they run.
#[derive(Debug, Clone, Copy)]
enum Measurement {
    Scale,
    Launch,
    Listing,
}

/// Runs the three measurements one after the other, each in a task of
/// its own: a panic in one (the test kit's `must_*` helpers panic on a
/// timeout) leaves the others' figures, and its error or panic becomes
/// its note.
pub async fn run(bin: PathBuf, plan: Plan, rep: Shared) {
    // `BENCH_ONLY=scale|launch|listing` runs one measurement.
    let only = std::env::var("BENCH_ONLY")
        .unwrap_or_default()
        .to_lowercase();
    for m in [
        Measurement::Scale,
        Measurement::Launch,
        Measurement::Listing,
    ] {
        if !only.is_empty() && format!("{m:?}").to_lowercase() != only {
            continue;
        }
        eprintln!("\n--- {m:?}");
        let (b, p, r) = (bin.clone(), plan.clone(), rep.clone());
        let handle = match m {
            Measurement::Scale => tokio::spawn(scale::measure(b, p, r)),
            Measurement::Launch => tokio::spawn(launch::measure(b, p, r)),
            Measurement::Listing => tokio::spawn(listing::measure(b, p, r)),
        };
        let note = match handle.await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("FAILED: {e:#}"),
            Err(e) if e.is_panic() => "ABORTED: panicked (see the message and logs above)".into(),
            Err(e) => format!("ABORTED: {e}"),
        };
        eprintln!("{m:?}: {note}");
        update(&rep, |r| {
            let slot = match m {
                Measurement::Scale => &mut r.scale.note,
                Measurement::Launch => &mut r.launch.note,
                Measurement::Listing => &mut r.listing.note,
            };
            *slot = Some(note);
        });
    }
}

/// A 3-server cluster with simulated agents registered, for the scale and
/// listing measurements.
struct SimCluster {
    c: Cluster,
    sim: SimAgents,
    leader: usize,
    /// `corral sim-agents` started → every one listed active.
    registered_in: Duration,
}

impl SimCluster {
    /// Starts the cluster, then `count` simulated agents from `first_ip`,
    /// and waits until the leader lists them all.
    async fn start(bin: &Path, count: u32, first_ip: &str, plan: &Plan) -> Result<SimCluster> {
        // Heartbeats once a second: a thousand agents at the test kit's
        // 200 ms would be most of the leader's work.
        let spec = ClusterSpec {
            heartbeat_ms: 1000,
            ..ClusterSpec::default()
        };
        let c = Cluster::start(bin, spec);
        let leader = c.must_leader(plan.register_within).await;
        c.must_all_agents_registered(plan.register_within).await;
        let agents = SimSpec {
            count,
            first_ip: first_ip.to_string(),
            cpus: AGENT_CPUS,
            mem_mb: AGENT_MEM_MB,
            heartbeat_ms: 1000,
        };
        eprintln!(
            "cluster up (leader m{}); {count} simulated agents from {first_ip}",
            leader + 1
        );
        let started = Instant::now();
        let log = c.dir.path().join("sim-agents.log");
        let mut sim = SimAgents::start(bin, &c.server_endpoints(), &agents, &log)?;
        let all = c.machines.len() + count as usize;
        wait_active(&c, &mut sim, all, count as usize, plan.register_within).await?;
        let registered_in = started.elapsed();
        eprintln!(
            "{count} simulated agents active after {:.1} s",
            registered_in.as_secs_f64()
        );
        Ok(SimCluster {
            c,
            sim,
            leader,
            registered_in,
        })
    }

    /// The leader's Marathon API.
    fn api(&self) -> Result<AppsApi> {
        AppsApi::new(&self.c.machines[self.leader].ip)
    }

    /// A CPU watch over the servers, the simulated agents and this bench.
    fn cpu_watch(&self) -> CpuWatch {
        let mut w = cpu_watch(&self.c, self.leader);
        w.procs
            .extend(self.sim.pid().map(|p| ("sim-agents".to_string(), p)));
        w.procs.push(("bench".to_string(), std::process::id()));
        w
    }

    fn leader_rss_mib(&self) -> Option<f64> {
        leader_rss_mib(&self.c, self.leader)
    }

    /// Prints the tails of every log (after a failure).
    fn dump_logs(&self) {
        dump_logs(&self.c);
        eprintln!(
            "===== end of the sim-agents log =====\n{}",
            process::log_tail(&self.sim.log, 10)
        );
    }
}

/// A CPU watch over the machines of `c`, labelled by role.
fn cpu_watch(c: &Cluster, leader: usize) -> CpuWatch {
    let mut w = CpuWatch::default();
    for (i, m) in c.machines.iter().enumerate() {
        let role = if i == leader { "leader" } else { "follower" };
        w.procs
            .extend(m.pid().map(|p| (format!("{role} {}", m.name), p)));
    }
    w
}

fn leader_rss_mib(c: &Cluster, leader: usize) -> Option<f64> {
    c.machines[leader]
        .pid()
        .and_then(|p| process::rss_mib(p).ok())
}

/// The Raft term the leader reports, if one answers.
async fn term(c: &Cluster) -> Option<u64> {
    let i = c.leader_index().await.ok()?;
    Some(c.cluster_view(i).await.ok()?.term)
}

fn dump_logs(c: &Cluster) {
    for (i, m) in c.machines.iter().enumerate() {
        eprintln!("===== end of {}'s log =====\n{}", m.name, c.log_tail(i, 30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let (full, quick) = (Plan::full(), Plan::quick());
        assert_eq!((full.agents, full.instances), (1000, 10_000));
        assert_eq!((quick.agents, quick.instances), (100, 1000));
        assert_eq!(quick.list_instances, 10);
        // Each agent has room for its share of either measurement.
        for p in [full, quick] {
            let share = p.instances.div_ceil(u64::from(p.agents)) as f64;
            assert!(share * SIM_CPUS <= AGENT_CPUS);
            let share = (p.list_apps * p.list_instances).div_ceil(u64::from(p.list_agents)) as f64;
            assert!(share * SIM_CPUS <= AGENT_CPUS && share * SIM_MEM_MB <= AGENT_MEM_MB as f64);
        }
    }

    #[test]
    fn an_unfinished_run_fails() {
        let mut r = AppsReport::new(Plan::quick());
        assert!(r.failed());
        let done = Settle {
            reached: Some(Duration::from_secs(1)),
            deployed: Some(Duration::from_secs(1)),
            ..Settle::default()
        };
        r.scale.steps = vec![done.clone(), done.clone(), done];
        r.launch.running = vec![Duration::from_millis(100); 5];
        r.listing.leader = vec![Duration::from_millis(10); 10];
        r.listing.follower = r.listing.leader.clone();
        assert!(!r.failed());
        r.listing.short = Some("900 of 1000 RUNNING".into());
        assert!(r.failed());
    }
}
