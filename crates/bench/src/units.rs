//! Unit benchmarks (issue 5, fleet's role): how fast the unit engine gets
//! template instances placed and active/running, measured on the wire as
//! `corral`'s CLI sees it (`POST /v1/units` in batches, `GET /v1/units`).
//!
//! - **Real** ([`real::measure`]): a 3-machine real cluster; the template
//!   `bench@.service` (`ExecStart=/bin/sleep 3600`, no `[X-Fleet]` rule) is
//!   submitted, then `plan.real_units` instances POSTed with desired
//!   `launched` in batches of `submit::BATCH`, [`Plan::in_flight`]
//!   requests at a time. Timed from the first POST to every instance placed, and to every one reported
//!   active/running by its machine. Then every instance is DELETEd and
//!   timed until the machines list none of them (their own
//!   `GET /v1/agent/units`) and the leader holds no report of them.
//! - **Sim** ([`sim::measure`]): a 3-server cluster plus `corral sim-agents`
//!   (`plan.sim_machines` simulated machines that answer a unit set with
//!   every launched unit active/running and report it, running nothing);
//!   `plan.sim_units` instances of a template held on simulated machines by
//!   `MachineMetadata=simulated=true`, submitted the same way and timed
//!   until every one has a machine (placement) and is reported active.
//!
//! Invariants:
//! - Prints figures and asserts no timing: a missed target is a line of
//!   the report, not a failure.
//! - Bounded: at most `real_units` + `sim_units` units are ever submitted,
//!   every wait polls against a deadline (the [`Plan`]'s bounds), every
//!   request has a timeout, and the bench binary caps the whole run
//!   ([`Plan::cap`]).
//! - Every process started here is SIGKILLed when its measurement ends,
//!   however it ends: clusters and `corral sim-agents` on drop, and the
//!   real machines' unit supervisors and `sleep`s, which live in sessions
//!   of their own and outlive their node by design, by [`reaper`] once the
//!   nodes are dead. Only 127.0.0.0/8 is ever a target.
//! - The figures live in [`UnitsReport`], filled in as they are measured,
//!   so a run stopped early still reports what it had; [`render`] is pure.
//!
//! The flows are in `real` and `sim`; `api` is the unit API client and its
//! pure readers, `submit` sends the PUTs and DELETEs, `reaper` finds and
//! kills unit processes, `render` writes the report.

mod api;
mod real;
pub mod reaper;
mod render;
mod sim;
mod submit;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

pub use api::{tally, Tally, UnitsApi};
pub use render::render;

use crate::tasks::cpu::CpuUse;

/// The template every instance comes from.
pub const TEMPLATE: &str = "bench@.service";
/// The target, for both measurements.
pub const TARGET: Duration = Duration::from_secs(10);
/// How often a long wait says on stderr how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What to measure, and how long each wait may take.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    /// Which measurements run (`BENCH_ONLY=real` or `sim` picks one).
    pub run_real: bool,
    pub run_sim: bool,
    /// Instances on the real cluster.
    pub real_units: u64,
    /// Simulated machines, and the instances placed on them.
    pub sim_machines: u32,
    pub sim_units: u64,
    /// PUTs (and DELETEs) in flight at once.
    pub in_flight: usize,
    /// How often the last PUTs' instances are probed on the real cluster,
    /// and with the simulated machines (see [`settle`]).
    pub real_poll: Duration,
    pub sim_poll: Duration,
    /// Bound on the cluster electing and every agent registering.
    pub register_within: Duration,
    /// Bound on submitting every instance.
    pub submit_within: Duration,
    /// Bound on every instance placed and active, from the first PUT.
    pub settle_within: Duration,
    /// Bound on every instance gone, from the first DELETE.
    pub stop_within: Duration,
    /// The whole run stops after this, printing what it has.
    pub cap: Duration,
}

impl Plan {
    /// 1,000 instances on 3 real machines; 20,000 on 500 simulated ones.
    pub fn full() -> Plan {
        Plan {
            quick: false,
            run_real: true,
            run_sim: true,
            real_units: 1000,
            sim_machines: 500,
            sim_units: 20_000,
            in_flight: 16,
            real_poll: Duration::from_millis(100),
            sim_poll: Duration::from_millis(250),
            register_within: Duration::from_secs(120),
            submit_within: Duration::from_secs(180),
            // Far past the 10 s target, short enough that both
            // measurements fit in the cap even when every wait runs out.
            settle_within: Duration::from_secs(150),
            stop_within: Duration::from_secs(90),
            cap: Duration::from_secs(600),
        }
    }

    /// A smoke run: 100 instances on 3 real machines; 2,000 on 50
    /// simulated ones.
    pub fn quick() -> Plan {
        Plan {
            quick: true,
            real_units: 100,
            sim_machines: 50,
            sim_units: 2000,
            submit_within: Duration::from_secs(60),
            settle_within: Duration::from_secs(60),
            stop_within: Duration::from_secs(60),
            cap: Duration::from_secs(300),
            ..Plan::full()
        }
    }

    /// `quick()` when `BENCH_QUICK=1`, else `full()`; `BENCH_ONLY=real`
    /// or `BENCH_ONLY=sim` runs one measurement.
    pub fn from_env() -> Plan {
        let mut plan = match std::env::var("BENCH_QUICK").as_deref() {
            Ok("1") => Plan::quick(),
            _ => Plan::full(),
        };
        match std::env::var("BENCH_ONLY").as_deref() {
            Ok("real") => plan.run_sim = false,
            Ok("sim") => plan.run_real = false,
            _ => {}
        }
        plan
    }
}

/// Sending every PUT (or DELETE).
#[derive(Debug, Clone, Default)]
pub struct Sent {
    /// Requests answered with success.
    pub ok: u64,
    /// First request sent → last one answered.
    pub took: Option<Duration>,
    /// Requests that failed, and the first failure.
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Sent {
    /// Successful requests per second, when they all finished.
    pub fn rate(&self) -> Option<f64> {
        self.took
            .filter(|d| !d.is_zero())
            .map(|d| self.ok as f64 / d.as_secs_f64())
    }
}

/// Instances submitted until placed and active.
#[derive(Debug, Clone, Default)]
pub struct Settle {
    pub submitted: Sent,
    /// First PUT → every instance has a machine.
    pub placed: Option<Duration>,
    /// First PUT → every instance reported active/running by its machine.
    pub active: Option<Duration>,
    /// Last PUT answered → every instance placed (the engine's lag).
    pub placed_after_last: Option<Duration>,
    /// CPU used from the first PUT until settled (or the wait ended).
    pub cpu: CpuUse,
    /// How long each `GET /v1/units` poll took.
    pub gets: Vec<Duration>,
    /// What the last poll saw.
    pub last: String,
}

/// The real cluster's figures.
#[derive(Debug, Clone, Default)]
pub struct Real {
    pub settle: Settle,
    pub destroyed: Sent,
    /// First DELETE → no machine lists an instance (`GET /v1/agent/units`).
    pub machines_clear: Option<Duration>,
    /// First DELETE → the leader holds no report of one (`/fleet/v1/state`).
    pub reports_clear: Option<Duration>,
    /// Unit supervisors and their processes still alive after that.
    pub processes_left: Option<usize>,
    /// What the last poll of the destroy saw.
    pub stop_last: String,
    pub leader_rss_mib: Option<f64>,
    pub note: Option<String>,
}

/// The simulated machines' figures.
#[derive(Debug, Clone, Default)]
pub struct Sim {
    pub machines: u32,
    /// `corral sim-agents` started → every one listed active.
    pub registered_in: Option<Duration>,
    pub settle: Settle,
    /// The Raft term before the first PUT and after the wait.
    pub terms: (Option<u64>, Option<u64>),
    pub leader_rss_mib: Option<f64>,
    pub note: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct UnitsReport {
    pub plan: Plan,
    pub real: Real,
    pub sim: Sim,
}

impl UnitsReport {
    pub fn new(plan: Plan) -> UnitsReport {
        UnitsReport {
            plan,
            real: Real::default(),
            sim: Sim::default(),
        }
    }

    /// True when a measurement stopped early or came up short.
    pub fn failed(&self) -> bool {
        let (r, s) = (&self.real, &self.sim);
        let settled =
            |x: &Settle, n: u64| x.submitted.ok == n && x.placed.is_some() && x.active.is_some();
        let real = r.note.is_some()
            || !settled(&r.settle, self.plan.real_units)
            || r.machines_clear.is_none()
            || r.reports_clear.is_none()
            || r.processes_left != Some(0);
        let sim = s.note.is_some() || !settled(&s.settle, self.plan.sim_units);
        (self.plan.run_real && real) || (self.plan.run_sim && sim)
    }
}

/// Shared report, filled in as figures come.
pub type Shared = Arc<Mutex<UnitsReport>>;

/// Changes the shared report (a panic elsewhere does not lose it).
fn update<T>(rep: &Shared, change: impl FnOnce(&mut UnitsReport) -> T) -> T {
    let mut guard = match rep.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    change(&mut guard)
}

/// The measurements, in the order they run.
#[derive(Debug, Clone, Copy)]
enum Measurement {
    Real,
    Sim,
}

/// Runs the two measurements one after the other, each in a task of its
/// own: a panic in one (the test kit's `must_*` helpers panic on a
/// timeout) leaves the other's figures, and its error or panic becomes
/// its note.
pub async fn run(bin: PathBuf, plan: Plan, rep: Shared) {
    for m in [Measurement::Real, Measurement::Sim] {
        let wanted = match m {
            Measurement::Real => plan.run_real,
            Measurement::Sim => plan.run_sim,
        };
        if !wanted {
            continue;
        }
        eprintln!("\n--- {m:?}");
        let (b, p, r) = (bin.clone(), plan.clone(), rep.clone());
        let handle = match m {
            Measurement::Real => tokio::spawn(real::measure(b, p, r)),
            Measurement::Sim => tokio::spawn(sim::measure(b, p, r)),
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
                Measurement::Real => &mut r.real.note,
                Measurement::Sim => &mut r.sim.note,
            };
            *slot = Some(note);
        });
    }
}

/// The instance names: `bench@1.service` … `bench@{n}.service`.
pub fn instances(n: u64) -> Vec<String> {
    let prefix = TEMPLATE.trim_end_matches(".service");
    (1..=n).map(|i| format!("{prefix}{i}.service")).collect()
}

/// What [`settle`] waits for, and how often it looks.
struct Wait<'a> {
    /// Instances, in the order their PUTs were sent.
    names: &'a [String],
    /// How often the last PUTs' instances are probed.
    poll: Duration,
    /// The first PUT: every figure is counted from it.
    since: Instant,
    deadline: Instant,
    /// `real` or `sim`, for progress lines.
    what: &'static str,
}

/// The time until the next full listing may start, after one that took
/// `took`: at least `poll`, and [`LISTING_SPACING`] times `took`, so the
/// bench's own listings (which hold the leader's state for as long as they
/// take) use at most a quarter of its time.
pub fn listing_gap(poll: Duration, took: Duration) -> Duration {
    poll.max(took * LISTING_SPACING)
}

/// A full `GET /v1/units` is at most this many times its own duration apart.
const LISTING_SPACING: u32 = 3;

/// Waits until every instance is placed and reported active/running,
/// filling in `s`. Every `w.poll` it asks for the instances of the last
/// PUTs sent (`GET /v1/units/{name}`, cheap); a full listing
/// (`GET /v1/units`, which costs the leader time in proportion to units ×
/// machines) runs when they say a milestone may have been reached, and
/// otherwise every [`listing_gap`]. A milestone's time is the start of the
/// first full listing that shows it, so it is never early; it is late by
/// up to one probe, or one gap when the probes missed it. The engine's lag
/// is counted from the last PUT answered (`s.submitted.took` after
/// `w.since`). Past `w.deadline` it fails saying what it saw last.
async fn settle(api: &UnitsApi, w: &Wait<'_>, s: &mut Settle) -> anyhow::Result<()> {
    let want = w.names.len() as u64;
    let probes = &w.names[w.names.len().saturating_sub(PROBES)..];
    let mut progress = Instant::now();
    let mut next_listing = Instant::now();
    loop {
        if Instant::now() > w.deadline {
            anyhow::bail!(
                "{}: not all {want} instances placed and active by the deadline; last seen: {}",
                w.what,
                s.last
            );
        }
        let (placed, active) = probe(api, probes).await;
        let milestone = (placed && s.placed.is_none()) || (active && s.active.is_none());
        if milestone || Instant::now() >= next_listing {
            let asked = Instant::now();
            let at = w.since.elapsed();
            let list = api.list().await;
            let took = asked.elapsed();
            s.gets.push(took);
            next_listing = Instant::now() + listing_gap(w.poll, took);
            match list {
                Ok(list) => {
                    let t = tally(&list);
                    s.last = t.describe(want);
                    if s.placed.is_none() && t.placed >= want {
                        s.placed = Some(at);
                        s.placed_after_last = s.submitted.took.map(|d| at.saturating_sub(d));
                        eprintln!(
                            "{}: all {want} placed after {:.2} s",
                            w.what,
                            at.as_secs_f64()
                        );
                    }
                    if s.active.is_none() && t.active >= want {
                        s.active = Some(at);
                        eprintln!(
                            "{}: all {want} active/running after {:.2} s",
                            w.what,
                            at.as_secs_f64()
                        );
                    }
                }
                Err(e) => s.last = format!("{e:#}"),
            }
        }
        if s.placed.is_some() && s.active.is_some() {
            return Ok(());
        }
        if progress.elapsed() >= PROGRESS_EVERY {
            eprintln!("{}: {}", w.what, s.last);
            progress = Instant::now();
        }
        tokio::time::sleep(w.poll).await;
    }
}

/// Instances of the last PUTs probed between full listings.
const PROBES: usize = 16;

/// Whether every probed instance is (placed, active/running); a failed
/// request counts as not yet.
async fn probe(api: &UnitsApi, names: &[String]) -> (bool, bool) {
    let (mut placed, mut active) = (true, true);
    for name in names {
        match api.get(name).await {
            Ok(row) => {
                let t = tally(&corral_api::unit_view::UnitList { units: vec![row] });
                placed &= t.placed == 1;
                active &= t.active == 1;
            }
            Err(_) => return (false, false),
        }
    }
    (placed, active)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let (full, quick) = (Plan::full(), Plan::quick());
        assert_eq!(
            (full.real_units, full.sim_machines, full.sim_units),
            (1000, 500, 20_000)
        );
        assert_eq!(
            (quick.real_units, quick.sim_machines, quick.sim_units),
            (100, 50, 2000)
        );
        for p in [full, quick] {
            // Every wait of both measurements fits in the cap.
            let one = p.register_within * 2 + p.submit_within + p.settle_within;
            assert!(one + p.stop_within <= p.cap * 2, "{p:?}");
        }
    }

    #[test]
    fn instance_names() {
        assert_eq!(
            instances(3),
            ["bench@1.service", "bench@2.service", "bench@3.service"]
        );
        assert!(instances(0).is_empty());
    }

    #[test]
    fn an_unfinished_run_fails() {
        let mut r = UnitsReport::new(Plan::quick());
        assert!(r.failed());
        let done = |n| Settle {
            submitted: Sent {
                ok: n,
                took: Some(Duration::from_secs(1)),
                ..Sent::default()
            },
            placed: Some(Duration::from_secs(1)),
            active: Some(Duration::from_secs(2)),
            ..Settle::default()
        };
        r.real.settle = done(100);
        r.real.machines_clear = Some(Duration::from_secs(1));
        r.real.reports_clear = Some(Duration::from_secs(1));
        r.real.processes_left = Some(0);
        r.sim.settle = done(2000);
        assert!(!r.failed());
        r.real.processes_left = Some(3);
        assert!(r.failed());
        r.real.processes_left = Some(0);
        r.sim.settle.active = None;
        assert!(r.failed());
        // A measurement left out does not count.
        r.plan.run_sim = false;
        assert!(!r.failed());
    }

    #[test]
    fn listings_are_spaced_by_their_cost() {
        let ms = Duration::from_millis;
        for (poll, took, want) in [
            (100, 7, 100),
            (100, 40, 120),
            (250, 1600, 4800),
            (250, 0, 250),
        ] {
            assert_eq!(listing_gap(ms(poll), ms(took)), ms(want), "{poll} {took}");
        }
    }

    #[test]
    fn sent_rate() {
        let s = Sent {
            ok: 500,
            took: Some(Duration::from_millis(250)),
            ..Sent::default()
        };
        assert_eq!(s.rate(), Some(2000.0));
        assert_eq!(Sent::default().rate(), None);
    }
}
