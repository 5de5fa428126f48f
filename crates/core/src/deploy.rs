//! The deployment planner: what to launch and what to kill next so that one
//! app runs `instances` copies of its target version, rolled the way
//! Marathon's `upgradeStrategy` asks. Also the launch backoff after failures
//! (Marathon's `backoffSeconds`, `backoffFactor`, `maxLaunchDelaySeconds`)
//! and the deployment steps `/v2/deployments` reports.
//!
//! Invariants:
//! - Pure: no IO, no clock, no randomness, no async. The app scheduler calls
//!   [`plan`] every leader tick with the app's live instances and carries out
//!   the [`Plan`]; the planner keeps no memory between calls, so a new leader
//!   continues a deployment from what is running.
//! - A plan never launches past `instances + floor(instances ×
//!   maxOverCapacity)` live instances (Killing ones count until they are
//!   gone), never kills an instance that is already Killing, and never
//!   stops an old instance that is up while that would leave fewer than
//!   `ceil(instances × minimumHealthCapacity)` up — except the one
//!   documented deadlock rule (see [`plan`]).
//! - A plan that neither launches nor kills and is not done says why in
//!   `waiting`, one human sentence.

use serde::{Deserialize, Serialize};

use crate::task::TaskId;

/// Which instances go first when an app has too many (Marathon's
/// `killSelection`). It is serialized by variant name inside the replicated
/// app spec (`app.rs`): never rename or remove a variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KillSelection {
    /// The most recently staged first (Marathon's default): the old, proven
    /// instances stay.
    #[default]
    YoungestFirst,
    /// The longest-running first.
    OldestFirst,
}

/// Where a live instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Assigned to an agent, not started yet (TASK_STAGING).
    Staging,
    /// Its agent is starting it (TASK_STARTING).
    Starting,
    /// Running (TASK_RUNNING).
    Running,
    /// A kill was sent and it has not ended yet (TASK_KILLING, or killed by
    /// the scheduler and not yet terminal). It still takes capacity.
    Killing,
}

/// What the app should run.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The app config version instances should run.
    pub version: String,
    pub instances: u32,
    /// `upgradeStrategy.minimumHealthCapacity`, 0..=1 (clamped; NaN counts
    /// as Marathon's default, 1).
    pub min_health_capacity: f64,
    /// `upgradeStrategy.maximumOverCapacity`, 0..=1 (clamped; NaN counts as
    /// Marathon's default, 1).
    pub max_over_capacity: f64,
    pub kill_selection: KillSelection,
    /// The app has health checks: a new instance is up only once healthy.
    pub health_checked: bool,
    /// The app has readiness checks: a new instance is up only once ready.
    pub readiness_checked: bool,
}

/// Slack for the float products below: `10 × 0.3` is `3.0000000000000004`,
/// which must keep 3 instances up, not 4.
const FRACTION_EPSILON: f64 = 1e-9;

impl Target {
    /// A target with Marathon's defaults: `minimumHealthCapacity` and
    /// `maximumOverCapacity` 1, youngest first, no checks.
    pub fn new(version: impl Into<String>, instances: u32) -> Target {
        Target {
            version: version.into(),
            instances,
            min_health_capacity: 1.0,
            max_over_capacity: 1.0,
            kill_selection: KillSelection::YoungestFirst,
            health_checked: false,
            readiness_checked: false,
        }
    }

    /// `ceil(instances × minimumHealthCapacity)`: how many instances must
    /// stay up while old ones are stopped.
    pub fn min_up(&self) -> u32 {
        let wanted = f64::from(self.instances) * fraction(self.min_health_capacity);
        // Float to int casts saturate; the product is within 0..=instances.
        ((wanted - FRACTION_EPSILON).ceil().max(0.0) as u32).min(self.instances)
    }

    /// `instances + floor(instances × maximumOverCapacity)`: the most live
    /// instances (Killing ones included) a plan may lead to.
    pub fn max_live(&self) -> u32 {
        let extra = f64::from(self.instances) * fraction(self.max_over_capacity);
        let extra = ((extra + FRACTION_EPSILON).floor() as u32).min(self.instances);
        self.instances.saturating_add(extra)
    }
}

/// A capacity fraction as the planner uses it: clamped to 0..=1, NaN as 1.
fn fraction(x: f64) -> f64 {
    if x.is_nan() {
        1.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// One live (non-terminal) instance of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub task: TaskId,
    /// The app config version it was launched with.
    pub version: String,
    pub phase: Phase,
    /// The latest health check result; `None` until there is one.
    pub healthy: Option<bool>,
    /// The readiness check passed (only looked at for new instances).
    pub ready: bool,
    pub staged_at_ms: u64,
}

/// Why the planner kills an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KillReason {
    /// The app runs more instances of its target version than it should.
    ScaleDown,
    /// It runs a version other than the target's; a rolling upgrade or
    /// restart replaces it.
    Upgrade,
    /// The app is being removed ([`stop_all`]).
    Stop,
}

impl KillReason {
    /// A short name for logs and plan listings.
    pub fn as_str(self) -> &'static str {
        match self {
            KillReason::ScaleDown => "scale-down",
            KillReason::Upgrade => "upgrade",
            KillReason::Stop => "stop",
        }
    }
}

/// What to do next for one app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// New instances of the target version to launch now.
    pub launch: u32,
    /// Instances to kill now, in the order chosen.
    pub kill: Vec<(TaskId, KillReason)>,
    /// The app runs what it should: nothing left to do.
    pub done: bool,
    /// Why nothing can be done right now; set exactly when the plan neither
    /// launches nor kills and is not done.
    pub waiting: Option<String>,
}

/// Why a new instance is not up yet, in the order the waiting sentence
/// lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NotUp {
    Starting,
    NoHealthResult,
    Unhealthy,
    NotReady,
}

impl NotUp {
    fn describe(self) -> &'static str {
        match self {
            NotUp::Starting => "starting",
            NotUp::NoHealthResult => "without a health result yet",
            NotUp::Unhealthy => "unhealthy",
            NotUp::NotReady => "not ready",
        }
    }
}

/// Why a new instance (at the target version) is not up, if it is not. A
/// new instance is up once proven: Running, healthy if the app has health
/// checks, ready if it has readiness checks.
fn new_not_up(target: &Target, i: &Instance) -> Option<NotUp> {
    match i.phase {
        // Killing instances are set aside before anyone asks.
        Phase::Staging | Phase::Starting | Phase::Killing => Some(NotUp::Starting),
        Phase::Running if target.health_checked && i.healthy.is_none() => {
            Some(NotUp::NoHealthResult)
        }
        Phase::Running if target.health_checked && i.healthy == Some(false) => {
            Some(NotUp::Unhealthy)
        }
        Phase::Running if target.readiness_checked && !i.ready => Some(NotUp::NotReady),
        Phase::Running => None,
    }
}

/// An old instance is up unless shown otherwise: Running and, with health
/// checks, not reported unhealthy. Readiness is not asked of it (Marathon
/// runs readiness checks only for the instances a deployment starts), and a
/// missing health result — after a leader change, or when its version had no
/// health check — does not make it fair game.
fn old_is_up(target: &Target, i: &Instance) -> bool {
    i.phase == Phase::Running && !(target.health_checked && i.healthy == Some(false))
}

/// Sorts kill candidates: those not up first, then by `selection`
/// (youngest = highest `staged_at_ms`), then by task id.
fn sort_for_kill(list: &mut [&Instance], selection: KillSelection, up: impl Fn(&Instance) -> bool) {
    list.sort_by(|a, b| {
        up(a)
            .cmp(&up(b))
            .then_with(|| match selection {
                KillSelection::YoungestFirst => b.staged_at_ms.cmp(&a.staged_at_ms),
                KillSelection::OldestFirst => a.staged_at_ms.cmp(&b.staged_at_ms),
            })
            .then_with(|| a.task.cmp(&b.task))
    });
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The next step towards `target` for an app whose live instances are
/// `instances`.
///
/// New instances run `target.version`, old ones anything else. In one call:
/// 1. New instances beyond `target.instances` are killed (`ScaleDown`), not
///    up first, then by `kill_selection`. Scaling down is not held back by
///    `minimumHealthCapacity`, as in Marathon.
/// 2. Old instances are killed (`Upgrade`), not up first, then by
///    `kill_selection`. One that is not up may always go (that cannot lower
///    the up count); one that is up only while the up count stays at least
///    [`Target::min_up`] after it.
/// 3. New instances are launched up to `target.instances`, as far as
///    [`Target::max_live`] allows counting every live instance, including
///    those being killed and those killed in this very plan.
/// 4. **Deadlock rule.** When `min_up >= max_live` (e.g.
///    `minimumHealthCapacity` 1 with `maximumOverCapacity` 0) no old instance
///    could ever be stopped and no new one ever launched. Then, once nothing
///    is in flight (nothing launched, killed or being killed, every new
///    instance up), one old instance is killed, taking the app one instance
///    below `min_up` until its replacement is up. This is what Marathon does
///    for resident apps; for others Marathon instead goes one instance over
///    `maximumOverCapacity`. We keep the capacity bound, which the
///    operator may have sized the cluster by.
///
/// The deployment is done when exactly `target.instances` new instances are
/// live, all up, and nothing else is (not even an instance being killed).
pub fn plan(target: &Target, instances: &[Instance]) -> Plan {
    let n = target.instances as usize;
    let min_up = target.min_up() as usize;
    let max_live = target.max_live() as usize;

    let killing = instances
        .iter()
        .filter(|i| i.phase == Phase::Killing)
        .count();
    let (mut new, mut old): (Vec<&Instance>, Vec<&Instance>) = instances
        .iter()
        .filter(|i| i.phase != Phase::Killing)
        .partition(|i| i.version == target.version);
    let new_up = |i: &Instance| new_not_up(target, i).is_none();
    let old_up = |i: &Instance| old_is_up(target, i);

    if killing == 0 && old.is_empty() && new.len() == n && new.iter().all(|i| new_up(i)) {
        return Plan {
            done: true,
            ..Plan::default()
        };
    }

    let mut kill = Vec::new();

    // 1. Scale down the target version.
    let excess = new.len().saturating_sub(n);
    if excess > 0 {
        sort_for_kill(&mut new, target.kill_selection, new_up);
        for i in new.drain(..excess) {
            kill.push((i.task.clone(), KillReason::ScaleDown));
        }
    }

    // 2. Stop old instances as far as the minimum up allows.
    let mut up =
        new.iter().filter(|i| new_up(i)).count() + old.iter().filter(|i| old_up(i)).count();
    sort_for_kill(&mut old, target.kill_selection, old_up);
    let mut kept_old = 0;
    for i in &old {
        if !old_up(i) {
            kill.push((i.task.clone(), KillReason::Upgrade));
        } else if up > min_up {
            kill.push((i.task.clone(), KillReason::Upgrade));
            up -= 1;
        } else {
            kept_old += 1;
        }
    }

    // 3. Launch within the capacity bound.
    let want = n.saturating_sub(new.len());
    let launch = want.min(max_live.saturating_sub(instances.len()));

    let pending: Vec<NotUp> = new.iter().filter_map(|i| new_not_up(target, i)).collect();

    // 4. The deadlock rule.
    if launch == 0 && kill.is_empty() && killing == 0 && pending.is_empty() && min_up >= max_live {
        if let Some(i) = old.first() {
            kill.push((i.task.clone(), KillReason::Upgrade));
        }
    }

    let waiting = (launch == 0 && kill.is_empty())
        .then(|| explain(target, &pending, new.len(), kept_old, killing, want));
    Plan {
        launch: launch as u32,
        kill,
        done: false,
        waiting,
    }
}

/// The waiting sentence of a plan that can do nothing now.
fn explain(
    target: &Target,
    pending: &[NotUp],
    new: usize,
    old: usize,
    killing: usize,
    want: usize,
) -> String {
    let mut clauses = Vec::new();
    if !pending.is_empty() {
        let mut kinds: Vec<NotUp> = pending.to_vec();
        kinds.sort();
        kinds.dedup();
        let verb = if kinds == [NotUp::Starting] {
            "to start running"
        } else if kinds
            .iter()
            .all(|k| matches!(k, NotUp::NoHealthResult | NotUp::Unhealthy))
        {
            "to become healthy"
        } else if kinds == [NotUp::NotReady] {
            "to become ready"
        } else {
            "to come up"
        };
        let who = if pending.len() == new {
            count(new, "new instance", "new instances")
        } else {
            format!("{} of {new} new instances", pending.len())
        };
        let mut clause = format!("{who} {verb}");
        if kinds.len() > 1 {
            let parts: Vec<String> = kinds
                .iter()
                .map(|k| {
                    format!(
                        "{} {}",
                        pending.iter().filter(|p| *p == k).count(),
                        k.describe()
                    )
                })
                .collect();
            clause.push_str(&format!(" ({})", parts.join(", ")));
        }
        if old > 0 {
            clause.push_str(&format!(
                " before stopping more old ones (minimumHealthCapacity {:?} keeps {} of {} instances up)",
                fraction(target.min_health_capacity),
                target.min_up(),
                target.instances
            ));
        }
        clauses.push(clause);
    }
    if killing > 0 {
        let mut clause = format!(
            "{} being killed to stop",
            count(killing, "instance", "instances")
        );
        if want > 0 {
            clause.push_str(&format!(
                " before launching {want} more (maximumOverCapacity {:?} allows {} live instances)",
                fraction(target.max_over_capacity),
                target.max_live()
            ));
        }
        clauses.push(clause);
    }
    if clauses.is_empty() {
        // Not reachable by the rules of `plan`; kept so that a stalled plan
        // always says something a human can act on.
        return format!(
            "waiting with {new} new and {old} old instances and nothing in flight \
             (minimumHealthCapacity {:?}, maximumOverCapacity {:?})",
            fraction(target.min_health_capacity),
            fraction(target.max_over_capacity)
        );
    }
    format!("waiting for {}", clauses.join(", and for "))
}

/// Stops the app (removal): kills every live instance that is not already
/// being killed, in task id order; done once none is live.
pub fn stop_all(instances: &[Instance]) -> Plan {
    let mut kill: Vec<(TaskId, KillReason)> = instances
        .iter()
        .filter(|i| i.phase != Phase::Killing)
        .map(|i| (i.task.clone(), KillReason::Stop))
        .collect();
    kill.sort_by(|a, b| a.0.cmp(&b.0));
    let done = instances.is_empty();
    let waiting = (!done && kill.is_empty()).then(|| {
        format!(
            "waiting for {} being killed to stop",
            count(instances.len(), "instance", "instances")
        )
    });
    Plan {
        launch: 0,
        kill,
        done,
        waiting,
    }
}

/// The delay before the next launch after `failures` failed launches in a
/// row: `backoff_seconds × backoff_factor^(failures − 1)`, capped at
/// `max_launch_delay_seconds`, in milliseconds (rounded). No failures, no
/// delay. Bad inputs do not panic or overflow: a NaN or negative
/// `backoff_seconds` or `max_launch_delay_seconds` counts as 0, a factor
/// below 1 or NaN as 1, and a delay too large for `u64` saturates.
pub fn launch_delay_ms(
    backoff_seconds: f64,
    backoff_factor: f64,
    max_launch_delay_seconds: f64,
    failures: u32,
) -> u64 {
    // False for NaN as well as for zero and below.
    let positive = |x: f64| x > 0.0;
    if failures == 0 || !positive(backoff_seconds) || !positive(max_launch_delay_seconds) {
        return 0;
    }
    let factor = if backoff_factor >= 1.0 {
        backoff_factor
    } else {
        1.0
    };
    // base > 0 and factor^k >= 1 (infinity at worst), so never NaN.
    let seconds =
        (backoff_seconds * factor.powf(f64::from(failures - 1))).min(max_launch_delay_seconds);
    // Float to int casts saturate, so infinity becomes u64::MAX.
    (seconds * 1000.0).round() as u64
}

/// An app's launch backoff settings (Marathon's app fields).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BackoffStrategy {
    pub backoff_seconds: f64,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: f64,
}

impl Default for BackoffStrategy {
    /// Marathon's defaults: 1 s, × 1.15, at most 3600 s.
    fn default() -> Self {
        BackoffStrategy {
            backoff_seconds: 1.0,
            backoff_factor: 1.15,
            max_launch_delay_seconds: 3600.0,
        }
    }
}

impl BackoffStrategy {
    /// [`launch_delay_ms`] with these settings.
    pub fn delay_ms(&self, failures: u32) -> u64 {
        launch_delay_ms(
            self.backoff_seconds,
            self.backoff_factor,
            self.max_launch_delay_seconds,
            failures,
        )
    }
}

/// One app's launch delay: failures in a row and when the next launch may
/// happen. Feeds `/v2/queue`'s `delay.timeLeftSeconds`; `DELETE
/// /v2/queue/{app}/delay` is [`Backoff::reset`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    failures: u32,
    next_launch_at_ms: u64,
}

impl Backoff {
    /// A launch failed at `now_ms`: the next one waits for the delay of one
    /// more failure, counted from now.
    pub fn on_failure(&mut self, now_ms: u64, strategy: &BackoffStrategy) {
        self.failures = self.failures.saturating_add(1);
        self.next_launch_at_ms = now_ms.saturating_add(strategy.delay_ms(self.failures));
    }

    /// Forgets the failures: the next launch may happen at once.
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// How long launches must still wait at `now_ms` (0: launch now).
    pub fn delay_left_ms(&self, now_ms: u64) -> u64 {
        self.next_launch_at_ms.saturating_sub(now_ms)
    }

    /// Failed launches in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When launches may resume (0 when there is no delay).
    pub fn next_launch_at_ms(&self) -> u64 {
        self.next_launch_at_ms
    }
}

/// What changed about an app, as a deployment sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// The app is new.
    Create,
    /// Only `instances` changed.
    Scale,
    /// Its config changed: every instance is replaced.
    Upgrade,
    /// `POST /v2/apps/{id}/restart`: every instance is replaced, config unchanged.
    Restart,
    /// The app is removed.
    Delete,
}

/// A deployment step's action on an app, as `/v2/deployments` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// First step of a new app: it is registered with no instances.
    StartApplication,
    /// The instance count moves to `instances`.
    ScaleApplication,
    /// Instances are replaced by the new version (rolling).
    RestartApplication,
    /// Every instance is killed and the app removed.
    StopApplication,
}

impl Action {
    /// Marathon's name (`"StartApplication"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::StartApplication => "StartApplication",
            Action::ScaleApplication => "ScaleApplication",
            Action::RestartApplication => "RestartApplication",
            Action::StopApplication => "StopApplication",
        }
    }
}

/// The steps (each a list of actions) Marathon reports for one app's change.
pub fn actions_for(change: Change) -> Vec<Vec<Action>> {
    match change {
        Change::Create => vec![
            vec![Action::StartApplication],
            vec![Action::ScaleApplication],
        ],
        Change::Scale => vec![vec![Action::ScaleApplication]],
        Change::Upgrade | Change::Restart => vec![vec![Action::RestartApplication]],
        Change::Delete => vec![vec![Action::StopApplication]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target: version, instances, minimumHealthCapacity, maximumOverCapacity.
    fn t(version: &str, n: u32, mhc: f64, moc: f64) -> Target {
        Target {
            min_health_capacity: mhc,
            max_over_capacity: moc,
            ..Target::new(version, n)
        }
    }

    trait Tweak {
        fn hc(self) -> Self;
        fn rc(self) -> Self;
        fn oldest(self) -> Self;
    }

    impl Tweak for Target {
        /// With health checks.
        fn hc(mut self) -> Self {
            self.health_checked = true;
            self
        }
        /// With readiness checks.
        fn rc(mut self) -> Self {
            self.readiness_checked = true;
            self
        }
        /// Kill the oldest first.
        fn oldest(mut self) -> Self {
            self.kill_selection = KillSelection::OldestFirst;
            self
        }
    }

    /// Instances as text: `id:version:STATE[@staged]`, separated by spaces.
    /// STATE is the phase — S(taging), T (starting), R(unning), K(illing) —
    /// then `h` (healthy), `u` (unhealthy), `r` (ready). Without `@`, the
    /// n-th instance was staged at 10·n.
    fn insts(text: &str) -> Vec<Instance> {
        text.split_whitespace()
            .enumerate()
            .map(|(pos, tok)| {
                let (tok, staged) = match tok.split_once('@') {
                    Some((tok, at)) => (tok, at.parse().expect("staged_at")),
                    None => (tok, 10 * (pos as u64 + 1)),
                };
                let parts: Vec<&str> = tok.split(':').collect();
                let [id, version, state] = parts[..] else {
                    panic!("bad instance {tok:?}")
                };
                let mut chars = state.chars();
                let phase = match chars.next() {
                    Some('S') => Phase::Staging,
                    Some('T') => Phase::Starting,
                    Some('R') => Phase::Running,
                    Some('K') => Phase::Killing,
                    _ => panic!("bad phase in {tok:?}"),
                };
                let mut i = Instance {
                    task: TaskId(id.into()),
                    version: version.into(),
                    phase,
                    healthy: None,
                    ready: false,
                    staged_at_ms: staged,
                };
                for c in chars {
                    match c {
                        'h' => i.healthy = Some(true),
                        'u' => i.healthy = Some(false),
                        'r' => i.ready = true,
                        _ => panic!("bad flag {c:?} in {tok:?}"),
                    }
                }
                i
            })
            .collect()
    }

    /// A plan as text: `launch 2; kill c(upgrade) b(upgrade)`, `done`, or
    /// `wait: <sentence>`.
    fn render(p: &Plan) -> String {
        let mut parts = Vec::new();
        if p.launch > 0 {
            parts.push(format!("launch {}", p.launch));
        }
        if !p.kill.is_empty() {
            let kills: Vec<String> = p
                .kill
                .iter()
                .map(|(t, r)| format!("{t}({})", r.as_str()))
                .collect();
            parts.push(format!("kill {}", kills.join(" ")));
        }
        if p.done {
            parts.push("done".to_string());
        }
        if let Some(w) = &p.waiting {
            parts.push(format!("wait: {w}"));
        }
        parts.join("; ")
    }

    /// `waiting` is set exactly when the plan is stalled.
    fn assert_waiting_iff_stalled(p: &Plan, context: &str) {
        let stalled = !p.done && p.launch == 0 && p.kill.is_empty();
        assert_eq!(p.waiting.is_some(), stalled, "{context}: {p:?}");
    }

    /// Plans every case and reports every mismatch at once.
    fn check(cases: &[(&str, Target, &str, &str)]) {
        let mut failures = Vec::new();
        for (name, target, instances, want) in cases {
            let p = plan(target, &insts(instances));
            assert_waiting_iff_stalled(&p, name);
            let got = render(&p);
            if got != *want {
                failures.push(format!("{name}\n   want: {want}\n   got:  {got}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    const OLD3: &str = "a:v1:R b:v1:R c:v1:R";
    const OLD4: &str = "a:v1:R b:v1:R c:v1:R d:v1:R";

    #[test]
    fn create_scale_and_replace() {
        check(&[
            ("create launches N", t("v1", 3, 1.0, 1.0), "", "launch 3"),
            (
                "create ignores overcapacity 0",
                t("v1", 3, 1.0, 0.0),
                "",
                "launch 3",
            ),
            (
                "an app of 0 instances is done",
                t("v1", 0, 1.0, 1.0),
                "",
                "done",
            ),
            ("steady state", t("v1", 3, 1.0, 1.0), OLD3, "done"),
            ("scale up", t("v1", 5, 1.0, 0.0), OLD3, "launch 2"),
            (
                "scale up only as far as capacity allows while a kill is in flight",
                t("v1", 5, 1.0, 0.0),
                "a:v1:R b:v1:R c:v1:R d:v1:K",
                "launch 1",
            ),
            (
                "a lost instance is replaced",
                t("v1", 3, 1.0, 0.0),
                "a:v1:R b:v1:R",
                "launch 1",
            ),
            (
                "the replacement waits for the killed one to go (moc 0)",
                t("v1", 3, 1.0, 0.0),
                "a:v1:R b:v1:R c:v1:K",
                "wait: waiting for 1 instance being killed to stop before launching 1 more \
                 (maximumOverCapacity 0.0 allows 3 live instances)",
            ),
            (
                "the replacement does not wait with room to spare (moc 1)",
                t("v1", 3, 1.0, 1.0),
                "a:v1:R b:v1:R c:v1:K",
                "launch 1",
            ),
            (
                "starting instances are waited for",
                t("v1", 2, 1.0, 1.0),
                "a:v1:R b:v1:S",
                "wait: waiting for 1 of 2 new instances to start running",
            ),
        ]);
    }

    #[test]
    fn scale_down_by_kill_selection() {
        let three = "a:v1:R@10 b:v1:R@30 c:v1:R@20";
        let one_starting = "a:v1:R@10 b:v1:S@30 c:v1:R@20";
        check(&[
            (
                "youngest first",
                t("v1", 2, 1.0, 1.0),
                three,
                "kill b(scale-down)",
            ),
            (
                "oldest first",
                t("v1", 2, 1.0, 1.0).oldest(),
                three,
                "kill a(scale-down)",
            ),
            (
                "youngest first, two at once",
                t("v1", 1, 1.0, 1.0),
                three,
                "kill b(scale-down) c(scale-down)",
            ),
            (
                "oldest first, two at once",
                t("v1", 1, 1.0, 1.0).oldest(),
                three,
                "kill a(scale-down) c(scale-down)",
            ),
            (
                "an instance not up goes first, even when youngest-first would keep it",
                t("v1", 2, 1.0, 1.0),
                "a:v1:R@10 b:v1:R@30 c:v1:S@5",
                "kill c(scale-down)",
            ),
            (
                "an instance not up goes first, even when oldest-first would keep it",
                t("v1", 2, 1.0, 1.0).oldest(),
                one_starting,
                "kill b(scale-down)",
            ),
            (
                "unhealthy before healthy",
                t("v1", 1, 1.0, 1.0).hc(),
                "a:v1:Rh@10 b:v1:Ru@5 c:v1:Rh@20",
                "kill b(scale-down) c(scale-down)",
            ),
            (
                "ties by task id",
                t("v1", 1, 1.0, 1.0),
                "b:v1:R@10 a:v1:R@10 c:v1:R@10",
                "kill a(scale-down) b(scale-down)",
            ),
            (
                "scale down is not held back by minimumHealthCapacity",
                t("v1", 1, 1.0, 0.0),
                three,
                "kill b(scale-down) c(scale-down)",
            ),
            (
                "scale to 0 kills all",
                t("v1", 0, 1.0, 1.0),
                "a:v1:R b:v1:S",
                "kill b(scale-down) a(scale-down)",
            ),
            (
                "an instance being killed is not killed again nor counted",
                t("v1", 1, 1.0, 1.0),
                "a:v1:R b:v1:K c:v1:R",
                "kill c(scale-down)",
            ),
            (
                "scaled down: waits for the kills to end",
                t("v1", 2, 1.0, 1.0),
                "a:v1:R b:v1:R c:v1:K",
                "wait: waiting for 1 instance being killed to stop",
            ),
            (
                "scaled to 0: waits for the kills to end",
                t("v1", 0, 1.0, 1.0),
                "a:v1:K b:v1:K",
                "wait: waiting for 2 instances being killed to stop",
            ),
        ]);
    }

    #[test]
    fn rolling_upgrade_first_step() {
        check(&[
            (
                "(1, 1): start all new, stop nothing yet",
                t("v2", 3, 1.0, 1.0),
                OLD3,
                "launch 3",
            ),
            (
                "(1, 1): each new instance up frees one old",
                t("v2", 3, 1.0, 1.0),
                "a:v1:R b:v1:R c:v1:R d:v2:R e:v2:S f:v2:R",
                "kill c(upgrade) b(upgrade)",
            ),
            (
                "(1, 1) oldest first",
                t("v2", 3, 1.0, 1.0).oldest(),
                "a:v1:R b:v1:R c:v1:R d:v2:R e:v2:S f:v2:R",
                "kill a(upgrade) b(upgrade)",
            ),
            (
                "(1, 1): no old left, new not up yet",
                t("v2", 3, 1.0, 1.0),
                "d:v2:R e:v2:T f:v2:S",
                "wait: waiting for 2 of 3 new instances to start running",
            ),
            (
                "(1, 0): the deadlock rule stops one old instance",
                t("v2", 3, 1.0, 0.0),
                OLD3,
                "kill c(upgrade)",
            ),
            (
                "(0.5, 0.5) with 1 instance also deadlocks (min 1 = max 1)",
                t("v2", 1, 0.5, 0.5),
                "a:v1:R",
                "kill a(upgrade)",
            ),
            (
                "(0.5, 0): stop down to half, no room to launch",
                t("v2", 4, 0.5, 0.0),
                OLD4,
                "kill d(upgrade) c(upgrade)",
            ),
            (
                "(0, 0): stop all old at once",
                t("v2", 3, 0.0, 0.0),
                OLD3,
                "kill c(upgrade) b(upgrade) a(upgrade)",
            ),
            (
                "(0, 0): launch once they are gone",
                t("v2", 3, 0.0, 0.0),
                "a:v1:K b:v1:K c:v1:K",
                "wait: waiting for 3 instances being killed to stop before launching 3 more \
                 (maximumOverCapacity 0.0 allows 3 live instances)",
            ),
            (
                "(0, 0): all new at once",
                t("v2", 3, 0.0, 0.0),
                "",
                "launch 3",
            ),
            (
                "(0, 1): everything at once",
                t("v2", 3, 0.0, 1.0),
                OLD3,
                "launch 3; kill c(upgrade) b(upgrade) a(upgrade)",
            ),
            (
                "(0.5, 0.5): launch 2, stop 2",
                t("v2", 4, 0.5, 0.5),
                OLD4,
                "launch 2; kill d(upgrade) c(upgrade)",
            ),
        ]);
    }

    #[test]
    fn rolling_upgrade_deadlock_rule_steps() {
        // (1, 0) with 3 instances, tick by tick: one old instance at a time,
        // each only once the previous replacement is up.
        let target = t("v2", 3, 1.0, 0.0);
        check(&[
            ("1: stop one", target.clone(), OLD3, "kill c(upgrade)"),
            (
                "2: it is still going",
                target.clone(),
                "a:v1:R b:v1:R c:v1:K",
                "wait: waiting for 1 instance being killed to stop before launching 3 more \
                 (maximumOverCapacity 0.0 allows 3 live instances)",
            ),
            ("3: replace it", target.clone(), "a:v1:R b:v1:R", "launch 1"),
            (
                "4: no second kill before the replacement is up",
                target.clone(),
                "a:v1:R b:v1:R d:v2:S",
                "wait: waiting for 1 new instance to start running before stopping more old ones \
                 (minimumHealthCapacity 1.0 keeps 3 of 3 instances up)",
            ),
            (
                "5: up, stop the next",
                target.clone(),
                "a:v1:R b:v1:R d:v2:R@40",
                "kill b(upgrade)",
            ),
            (
                "an old instance not up goes without the rule",
                target.clone(),
                "a:v1:R b:v1:S c:v1:R",
                "kill b(upgrade)",
            ),
        ]);
    }

    #[test]
    fn upgrade_prefers_old_instances_not_up() {
        check(&[
            (
                "a staging old instance goes at once, the running ones stay",
                t("v2", 3, 1.0, 1.0),
                "a:v1:R b:v1:S c:v1:R",
                "launch 3; kill b(upgrade)",
            ),
            (
                "an unhealthy old instance goes first",
                t("v2", 3, 1.0, 1.0).hc(),
                "a:v1:Rh b:v1:Ru c:v1:Rh d:v2:Rh e:v2:Rh f:v2:S",
                "kill b(upgrade) c(upgrade)",
            ),
            (
                "an old instance without a health result (say, after a leader change) is protected",
                t("v2", 3, 1.0, 1.0).hc(),
                OLD3,
                "launch 3",
            ),
            (
                "... and under the deadlock rule only one goes",
                t("v2", 3, 1.0, 0.0).hc(),
                OLD3,
                "kill c(upgrade)",
            ),
            (
                "a config change in the middle of a deployment replaces the half-started version",
                t("v3", 2, 1.0, 0.0),
                "a:v1:R b:v2:S",
                "kill b(upgrade)",
            ),
            (
                "too many new instances and old ones: scale down and upgrade together",
                t("v2", 2, 1.0, 1.0),
                "a:v1:R b:v2:R c:v2:R d:v2:S",
                "kill d(scale-down) a(upgrade)",
            ),
            (
                "an old instance being killed is not killed again but takes capacity",
                t("v2", 3, 0.0, 1.0),
                "a:v1:K b:v1:R c:v1:R",
                "launch 3; kill c(upgrade) b(upgrade)",
            ),
        ]);
    }

    #[test]
    fn health_and_readiness_gate_the_upgrade() {
        check(&[
            (
                "new instances never healthy: wait, stop nothing",
                t("v2", 3, 1.0, 1.0).hc(),
                "a:v1:Rh b:v1:Rh c:v1:Rh d:v2:R e:v2:Ru f:v2:R",
                "wait: waiting for 3 new instances to become healthy (2 without a health result yet, \
                 1 unhealthy) before stopping more old ones (minimumHealthCapacity 1.0 keeps 3 of 3 \
                 instances up)",
            ),
            (
                "healthy new instances free old ones",
                t("v2", 3, 1.0, 1.0).hc(),
                "a:v1:Rh b:v1:Rh c:v1:Rh d:v2:Rh e:v2:Ru f:v2:R",
                "kill c(upgrade)",
            ),
            (
                "no old left, some new not healthy",
                t("v2", 3, 1.0, 1.0).hc(),
                "d:v2:Rh e:v2:Ru f:v2:R",
                "wait: waiting for 2 of 3 new instances to become healthy (1 without a health result \
                 yet, 1 unhealthy)",
            ),
            (
                "healthy but not ready does not count",
                t("v2", 3, 1.0, 1.0).hc().rc(),
                "a:v1:Rh b:v1:Rh c:v1:Rh d:v2:Rh e:v2:Rh f:v2:Rh",
                "wait: waiting for 3 new instances to become ready before stopping more old ones \
                 (minimumHealthCapacity 1.0 keeps 3 of 3 instances up)",
            ),
            (
                "ready new instances free old ones; old ones are not asked to be ready",
                t("v2", 3, 1.0, 1.0).hc().rc(),
                "a:v1:Rh b:v1:Rh c:v1:Rh d:v2:Rh e:v2:Rhr f:v2:Rhr",
                "kill c(upgrade) b(upgrade)",
            ),
            (
                "readiness without health checks",
                t("v2", 1, 1.0, 1.0).rc(),
                "a:v1:R d:v2:R",
                "wait: waiting for 1 new instance to become ready before stopping more old ones \
                 (minimumHealthCapacity 1.0 keeps 1 of 1 instances up)",
            ),
            (
                "mixed reasons",
                t("v2", 3, 1.0, 1.0).hc().rc(),
                "d:v2:S e:v2:Rh f:v2:Rhr",
                "wait: waiting for 2 of 3 new instances to come up (1 starting, 1 not ready)",
            ),
            (
                "both a pending instance and a kill in flight are named",
                t("v2", 3, 1.0, 0.0),
                "a:v1:R b:v1:K d:v2:S",
                "wait: waiting for 1 new instance to start running before stopping more old ones \
                 (minimumHealthCapacity 1.0 keeps 3 of 3 instances up), and for 1 instance being \
                 killed to stop before launching 2 more (maximumOverCapacity 0.0 allows 3 live \
                 instances)",
            ),
        ]);
    }

    #[test]
    fn done_detection() {
        check(&[
            ("all up", t("v2", 2, 1.0, 1.0), "a:v2:R b:v2:R", "done"),
            (
                "all healthy",
                t("v2", 2, 1.0, 1.0).hc(),
                "a:v2:Rh b:v2:Rh",
                "done",
            ),
            (
                "all healthy and ready",
                t("v2", 2, 1.0, 1.0).hc().rc(),
                "a:v2:Rhr b:v2:Rhr",
                "done",
            ),
            (
                "one without a health result",
                t("v2", 2, 1.0, 1.0).hc(),
                "a:v2:Rh b:v2:R",
                "wait: waiting for 1 of 2 new instances to become healthy",
            ),
            (
                "one not ready",
                t("v2", 1, 1.0, 1.0).rc(),
                "a:v2:R",
                "wait: waiting for 1 new instance to become ready",
            ),
            (
                "an old instance still being killed",
                t("v2", 2, 1.0, 1.0),
                "a:v2:R b:v2:R c:v1:K",
                "wait: waiting for 1 instance being killed to stop",
            ),
            (
                "one too few",
                t("v2", 3, 1.0, 1.0),
                "a:v2:R b:v2:R",
                "launch 1",
            ),
            (
                "one too many",
                t("v2", 1, 1.0, 1.0),
                "a:v2:R b:v2:R",
                "kill b(scale-down)",
            ),
            (
                "an old one left",
                t("v2", 1, 1.0, 1.0),
                "a:v2:R b:v1:R",
                "kill b(upgrade)",
            ),
        ]);
    }

    #[test]
    fn stop_all_kills_everything_once() {
        let cases = [
            ("b:v1:R a:v2:S c:v1:K", "kill a(stop) b(stop)"),
            (
                "c:v1:K",
                "wait: waiting for 1 instance being killed to stop",
            ),
            ("", "done"),
        ];
        for (instances, want) in cases {
            let p = stop_all(&insts(instances));
            assert_waiting_iff_stalled(&p, instances);
            assert_eq!(render(&p), want, "{instances}");
        }
    }

    #[test]
    fn capacity_bounds() {
        let min_up = [
            (10, 0.3, 3), // 10 × 0.3 is 3.0000000000000004 in floats
            (10, 0.7, 7),
            (3, 0.5, 2),
            (3, 1.0, 3),
            (3, 0.0, 0),
            (0, 1.0, 0),
            (3, f64::NAN, 3),
            (3, 2.0, 3),
            (3, -1.0, 0),
            (u32::MAX, 1.0, u32::MAX),
        ];
        for (n, mhc, want) in min_up {
            assert_eq!(t("v", n, mhc, 0.0).min_up(), want, "min_up({n}, {mhc})");
        }
        let max_live = [
            (100, 0.29, 129), // 100 × 0.29 is 28.999999999999996 in floats
            (10, 0.7, 17),
            (3, 0.5, 4),
            (3, 0.0, 3),
            (3, 1.0, 6),
            (3, f64::NAN, 6),
            (3, 5.0, 6),
            (3, -1.0, 3),
            (u32::MAX, 1.0, u32::MAX),
        ];
        for (n, moc, want) in max_live {
            assert_eq!(t("v", n, 1.0, moc).max_live(), want, "max_live({n}, {moc})");
        }
    }

    /// A simulated app: each tick it plans, then carries the plan out; an
    /// instance launched in one tick is up `delay` ticks later (or unhealthy
    /// forever when `healthy` is false), and a killed one is gone `delay`
    /// ticks later.
    struct Sim {
        target: Target,
        live: Vec<Instance>,
        healthy: bool,
        delay: u64,
        /// The tick each launched or killed instance changed phase.
        changed: std::collections::HashMap<TaskId, u64>,
        tick: u64,
        launched: u32,
        /// Never fewer up than this, give or take the deadlock rule.
        floor: usize,
    }

    impl Sim {
        /// `old` instances of v1 and `new` of the target version, all up.
        fn new(target: Target, old: u32, new: u32, healthy: bool, delay: u64) -> Sim {
            let mut live = Vec::new();
            for (prefix, version, count) in [("o", "v1", old), ("k", target.version.as_str(), new)]
            {
                for i in 0..count {
                    live.push(Instance {
                        task: TaskId(format!("{prefix}{i}")),
                        version: version.to_string(),
                        phase: Phase::Running,
                        healthy: Some(true),
                        ready: true,
                        staged_at_ms: u64::from(i),
                    });
                }
            }
            let floor = (target.min_up() as usize).min(live.len());
            Sim {
                target,
                live,
                healthy,
                delay,
                changed: Default::default(),
                tick: 0,
                launched: 0,
                floor,
            }
        }

        fn up(&self) -> usize {
            self.live
                .iter()
                .filter(|i| i.phase == Phase::Running && i.healthy == Some(true) && i.ready)
                .count()
        }

        fn show(&self) -> String {
            let state: Vec<String> = self
                .live
                .iter()
                .map(|i| format!("{}:{}:{:?}:{:?}", i.task, i.version, i.phase, i.healthy))
                .collect();
            format!("{:?} tick {}: {}", self.target, self.tick, state.join(" "))
        }

        /// One tick; returns the plan it carried out after checking the
        /// invariants around it.
        fn step(&mut self) -> Plan {
            self.tick += 1;
            let settled = |i: &Instance| self.changed[&i.task] + self.delay <= self.tick;
            self.live
                .retain(|i| i.phase != Phase::Killing || !settled(i));
            for i in &mut self.live {
                if i.phase == Phase::Staging && self.changed[&i.task] + self.delay <= self.tick {
                    i.phase = Phase::Running;
                    i.healthy = Some(self.healthy);
                    i.ready = true;
                }
            }
            let p = plan(&self.target, &self.live);
            let ctx = self.show();
            assert_waiting_iff_stalled(&p, &ctx);
            let max_live = self.target.max_live() as usize;
            let min_up = self.target.min_up() as usize;
            // The deadlock rule may take one instance below the minimum.
            let slack = usize::from(min_up >= max_live);

            if p.done {
                assert_eq!(self.live.len(), self.target.instances as usize, "{ctx}");
                assert_eq!(self.up(), self.live.len(), "{ctx}");
                assert!(
                    self.live.iter().all(|i| i.version == self.target.version),
                    "{ctx}"
                );
                return p;
            }
            if p.launch == 0 && p.kill.is_empty() && self.healthy {
                // Nothing in flight would be a stall forever.
                assert!(
                    self.live
                        .iter()
                        .any(|i| i.phase == Phase::Killing || i.phase == Phase::Staging),
                    "{ctx}: stalled with nothing in flight: {p:?}"
                );
            }
            if p.launch > 0 {
                assert!(
                    self.live.len() + p.launch as usize <= max_live,
                    "{ctx}: {p:?}"
                );
            }
            let live_before = self.live.len();
            let up_before = self.up();
            for (task, _) in &p.kill {
                let i = self.live.iter_mut().find(|i| &i.task == task);
                let i = i.unwrap_or_else(|| panic!("{ctx}: kills unknown {task}"));
                assert_ne!(i.phase, Phase::Killing, "{ctx}: kills {task} twice");
                i.phase = Phase::Killing;
                self.changed.insert(task.clone(), self.tick);
            }
            for _ in 0..p.launch {
                self.launched += 1;
                self.changed
                    .insert(TaskId(format!("n{}", self.launched)), self.tick);
                self.live.push(Instance {
                    task: TaskId(format!("n{}", self.launched)),
                    version: self.target.version.clone(),
                    phase: Phase::Staging,
                    healthy: None,
                    ready: false,
                    staged_at_ms: 1000 + self.tick,
                });
            }
            let up_after = self.up();
            assert!(self.live.len() <= live_before.max(max_live), "{ctx}: {p:?}");
            assert!(
                up_after + slack >= self.floor,
                "{ctx}: {p:?} leaves {up_after} up"
            );
            if up_after < up_before {
                assert!(
                    up_after + slack >= min_up,
                    "{ctx}: {p:?} leaves {up_after} up"
                );
            }
            if up_after < min_up && up_after < up_before {
                assert_eq!(
                    up_before - up_after,
                    1,
                    "{ctx}: deadlock rule kills one: {p:?}"
                );
            }
            p
        }
    }

    #[test]
    fn simulated_deployments_keep_the_bounds_and_finish() {
        let mut runs = 0;
        for n in [0, 1, 2, 3, 4, 5, 8] {
            for old in [0, 1, 2, 3, 5, 7] {
                for new in [0, 1, 3] {
                    for mhc in [0.0, 0.25, 0.5, 0.75, 1.0] {
                        for moc in [0.0, 0.25, 0.5, 1.0] {
                            for (hc, oldest) in [(false, false), (true, true)] {
                                let mut target = t("v2", n, mhc, moc);
                                target.health_checked = hc;
                                target.readiness_checked = hc;
                                if oldest {
                                    target = target.oldest();
                                }
                                for delay in [1, 2] {
                                    // At worst (the deadlock rule) one old
                                    // instance goes per kill and start; the
                                    // bound is tight (+1 fails for 0 → 0).
                                    let bound = delay * (2 * u64::from(n.max(old)) + 2);
                                    let mut sim = Sim::new(target.clone(), old, new, true, delay);
                                    while !sim.step().done {
                                        assert!(
                                            sim.tick < bound,
                                            "not done within {bound} ticks: {}",
                                            sim.show()
                                        );
                                    }
                                    runs += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(runs, 7 * 6 * 3 * 5 * 4 * 2 * 2);
    }

    #[test]
    fn simulated_upgrade_with_the_deadlock_rule_takes_one_at_a_time() {
        let mut sim = Sim::new(t("v2", 3, 1.0, 0.0), 3, 0, true, 1);
        let mut plans = Vec::new();
        loop {
            let p = sim.step();
            plans.push(
                render(&p)
                    .split(" (")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            );
            if p.done {
                break;
            }
        }
        assert_eq!(
            plans,
            [
                "kill o2(upgrade)",
                "launch 1",
                "kill o1(upgrade)",
                "launch 1",
                "kill o0(upgrade)",
                "launch 1",
                "done",
            ]
        );
    }

    #[test]
    fn simulated_upgrade_to_an_app_that_never_becomes_healthy_stops_nothing_more() {
        // (mhc, moc, instances, old instances left standing)
        let cases = [
            (1.0, 1.0, 3, 3),
            (1.0, 0.0, 3, 2),
            (0.5, 0.0, 4, 2),
            (0.5, 1.0, 4, 2),
        ];
        for (mhc, moc, n, old_left) in cases {
            let mut sim = Sim::new(t("v2", n, mhc, moc).hc(), n, 0, false, 1);
            for _ in 0..5 {
                sim.step();
            }
            for _ in 0..10 {
                let p = sim.step();
                let ctx = sim.show();
                assert_eq!((p.launch, p.kill.len(), p.done), (0, 0, false), "{ctx}");
                let waiting = p.waiting.unwrap_or_default();
                assert!(
                    waiting.contains("to become healthy before stopping more old ones"),
                    "{ctx}: {waiting}"
                );
            }
            let old = sim.live.iter().filter(|i| i.version == "v1").count();
            assert_eq!(old, old_left, "{}", sim.show());
        }
    }

    #[test]
    fn launch_delay() {
        let inf = f64::INFINITY;
        let nan = f64::NAN;
        // (backoffSeconds, backoffFactor, maxLaunchDelaySeconds, failures, ms)
        let cases = [
            (1.0, 1.15, 3600.0, 0, 0),
            (1.0, 1.15, 3600.0, 1, 1000),
            (1.0, 1.15, 3600.0, 2, 1150),
            (1.0, 2.0, 3600.0, 3, 4000),
            (0.5, 1.5, 3600.0, 3, 1125),
            (1.0, 2.0, 60.0, 10, 60_000),
            (1.0, 2.0, 3600.0, u32::MAX, 3_600_000),
            (10.0, 0.5, 3600.0, 5, 10_000),
            (10.0, nan, 3600.0, 5, 10_000),
            (10.0, -3.0, 3600.0, 5, 10_000),
            (nan, 2.0, 3600.0, 5, 0),
            (-1.0, 2.0, 3600.0, 5, 0),
            (0.0, inf, 3600.0, 5, 0),
            (1.0, 2.0, nan, 5, 0),
            (1.0, 2.0, -5.0, 5, 0),
            (inf, 1.15, 3600.0, 1, 3_600_000),
            (1.0, inf, 3600.0, 1, 1000),
            (1.0, inf, 3600.0, 2, 3_600_000),
            (1.0, 2.0, inf, u32::MAX, u64::MAX),
            (1e300, 1e300, 1e300, 7, u64::MAX),
        ];
        for (secs, factor, max, failures, want) in cases {
            assert_eq!(
                launch_delay_ms(secs, factor, max, failures),
                want,
                "launch_delay_ms({secs}, {factor}, {max}, {failures})"
            );
        }
    }

    #[test]
    fn backoff_counts_failures_and_resets() {
        let strategy = BackoffStrategy::default();
        let mut b = Backoff::default();
        assert_eq!(b.delay_left_ms(0), 0);
        b.on_failure(10_000, &strategy);
        assert_eq!((b.failures(), b.next_launch_at_ms()), (1, 11_000));
        assert_eq!(b.delay_left_ms(10_400), 600);
        assert_eq!(b.delay_left_ms(11_000), 0);
        assert_eq!(b.delay_left_ms(99_000), 0);
        b.on_failure(20_000, &strategy);
        assert_eq!((b.failures(), b.next_launch_at_ms()), (2, 21_150));
        b.reset();
        assert_eq!((b.failures(), b.delay_left_ms(20_000)), (0, 0));
        // No overflow at the ends of time.
        let huge = BackoffStrategy {
            max_launch_delay_seconds: f64::INFINITY,
            backoff_factor: 10.0,
            ..strategy
        };
        for _ in 0..400 {
            b.on_failure(u64::MAX - 10, &huge);
        }
        assert_eq!((b.failures(), b.next_launch_at_ms()), (400, u64::MAX));
    }

    #[test]
    fn deployment_steps() {
        let cases = [
            (Change::Create, "StartApplication | ScaleApplication"),
            (Change::Scale, "ScaleApplication"),
            (Change::Upgrade, "RestartApplication"),
            (Change::Restart, "RestartApplication"),
            (Change::Delete, "StopApplication"),
        ];
        for (change, want) in cases {
            let steps: Vec<String> = actions_for(change)
                .iter()
                .map(|step| step.iter().map(Action::name).collect::<Vec<_>>().join(","))
                .collect();
            assert_eq!(steps.join(" | "), want, "{change:?}");
        }
    }
}
