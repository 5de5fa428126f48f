//! The health checker: Marathon's `healthChecks`, run by the leader
//! against every RUNNING instance of an app that has them.
//!
//! Each check of an instance runs every `intervalSeconds`, the first at
//! once after the instance reports RUNNING, and has `timeoutSeconds` to
//! answer. HTTP checks GET `http://<agent ip>:<port><path>` and pass on
//! 200–399 (redirects are not followed; with `ignoreHttp1xx` a 1xx answer
//! is no result at all); TCP checks pass once a connection is made. The
//! port is `port` if given, else the instance's host port at `portIndex`
//! (the order of `PORT0..`). An instance is healthy when the latest result
//! of every check of its version passed. One whose check fails
//! `maxConsecutiveFailures` times in a row (0: never) is killed and
//! replaced; failures while it is inside its `gracePeriodSeconds`
//! (counted from RUNNING) do not count, and the grace period also ends
//! at the check's first success, as in Marathon. Those failures are still
//! shown (`consecutiveFailures`, `lastFailureCause`), so a user sees why
//! an instance does not become healthy.
//!
//! COMMAND and HTTPS (and MESOS_HTTPS) checks run on the instance's own
//! agent, as Mesos's executor runs them (`agent_check`): a COMMAND check
//! is `/bin/sh -c <command>` in the task's sandbox with the task's
//! environment, its process group killed at `timeoutSeconds`, and passes
//! on exit 0 (the cause of a failure names the exit code and the last
//! line of output); an HTTPS check is the agent's
//! `curl -k ... https://<agent ip>:<port><path>` (certificates are not
//! verified, as in Marathon) and passes on 200–399 like HTTP.
//!
//! Limitations, by design of this corral:
//! - HTTPS checks need `curl` on the agent (corral is built without TLS);
//!   without it they fail with the cause [`CURL_MISSING`].
//! - `delaySeconds` and `ipProtocol` are not used; a `timeoutSeconds` of
//!   0 counts as 1.
//! - A check the agent cannot be asked to run (agent unreachable, or too
//!   old to run checks) fails, with the agent named in the cause.
//! - Kills are not rate-limited: a leader whose own network fails sees
//!   every check fail at once and kills what they name (marathon#3317
//!   asked for a limit or for replacing before killing).
//!
//! Invariants:
//! - [`HealthBook`] is leader memory (reset on a new term with the rest of
//!   the scheduler's book); after a failover instances have no result until
//!   their next check, which the planner treats as "not known unhealthy"
//!   for old instances and "not yet healthy" for new ones.
//! - Deciding is pure ([`HealthBook`], [`due`], [`probe`], [`http_verdict`]):
//!   time is an argument. [`run`] is the thin shell that carries checks
//!   out, never more than [`MAX_IN_FLIGHT`] at once, so a large app cannot
//!   overload the leader (on an overloaded Marathon host checks failed
//!   together and every instance was killed, marathon#3317); a check's
//!   timeout runs from its start, not from when it was due. A check never
//!   overlaps itself: its next run starts no earlier than the longer of
//!   its interval and its timeout after the previous one started.
//! - The checker kills nothing itself: the scheduler's reconcile asks
//!   [`unhealthy`] and kills through its own path.
//! - What an agent's answer means is decided here, purely
//!   (`agent_check::command_verdict`, `agent_check::https_verdict`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use corral_api::marathon::time::parse_iso8601;
use corral_api::native::AgentCheck;
use corral_core::app::{App, AppId, HealthCheck, HealthProtocol};
use corral_core::{FrameworkId, State, Task, TaskId, TaskState};
use corral_master::context::now_ms;
use tokio::task::JoinSet;

pub use super::agent_check::CURL_MISSING;
use super::agent_check::{self, root_cause, Asker};
use super::launch::VERSION_ENV;
use crate::AppsCtx;

/// How often the checker looks for checks that are due.
pub const TICK: Duration = Duration::from_secs(1);
/// The most checks running at once; the rest wait for a slot, the most
/// overdue first.
pub const MAX_IN_FLIGHT: usize = 64;

/// One check's results for one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckHealth {
    /// The latest result passed.
    pub alive: bool,
    /// Failures since the latest success (all of them, shown to users).
    pub consecutive_failures: u32,
    /// Those of them after the grace period: these lead to a kill.
    pub counted_failures: u32,
    pub first_success_ms: Option<u64>,
    pub last_success_ms: Option<u64>,
    pub last_failure_ms: Option<u64>,
    pub last_failure_cause: Option<String>,
    /// When its latest run started (for scheduling the next).
    pub last_started_ms: Option<u64>,
}

impl CheckHealth {
    fn has_result(&self) -> bool {
        self.last_success_ms.is_some() || self.last_failure_ms.is_some()
    }
}

/// Health results by instance (task) and check index. Leader memory.
#[derive(Debug, Default)]
pub struct HealthBook {
    tasks: HashMap<TaskId, BTreeMap<usize, CheckHealth>>,
}

impl HealthBook {
    /// When check `index` of `task` is next due: the longer of its
    /// interval and its timeout after its previous run started (so that
    /// run has ended); `None`: never run, due now.
    fn next_at_ms(&self, task: &TaskId, index: usize, check: &HealthCheck) -> Option<u64> {
        let started = self.tasks.get(task)?.get(&index)?.last_started_ms?;
        let period = u64::from(check.interval_seconds.max(check.timeout_seconds)) * 1000;
        Some(started + period)
    }

    /// A run of check `index` of `task` started at `now_ms`.
    pub fn started(&mut self, task: &TaskId, index: usize, now_ms: u64) {
        self.entry(task, index).last_started_ms = Some(now_ms);
    }

    /// A result of check `index` of `task` at `now_ms`. A failure counts
    /// towards a kill only from `grace_ends_ms` on, or once the check has
    /// passed before.
    pub fn record(
        &mut self,
        task: &TaskId,
        index: usize,
        grace_ends_ms: u64,
        result: Result<(), String>,
        now_ms: u64,
    ) {
        let h = self.entry(task, index);
        match result {
            Ok(()) => {
                h.alive = true;
                h.consecutive_failures = 0;
                h.counted_failures = 0;
                h.first_success_ms.get_or_insert(now_ms);
                h.last_success_ms = Some(now_ms);
            }
            Err(cause) => {
                let counts = now_ms >= grace_ends_ms || h.first_success_ms.is_some();
                h.alive = false;
                h.consecutive_failures = h.consecutive_failures.saturating_add(1);
                if counts {
                    h.counted_failures = h.counted_failures.saturating_add(1);
                }
                h.last_failure_ms = Some(now_ms);
                h.last_failure_cause = Some(cause);
            }
        }
    }

    fn entry(&mut self, task: &TaskId, index: usize) -> &mut CheckHealth {
        self.tasks
            .entry(task.clone())
            .or_default()
            .entry(index)
            .or_default()
    }

    /// Whether `task`, whose version has `checks` health checks, is
    /// healthy: `Some(false)` once a check's latest result failed,
    /// `Some(true)` once every check's latest result passed, `None` before
    /// that (no result yet for some check).
    pub fn healthy(&self, task: &TaskId, checks: usize) -> Option<bool> {
        let results = self.tasks.get(task)?;
        let known: Vec<&CheckHealth> = (0..checks)
            .filter_map(|i| results.get(&i))
            .filter(|h| h.has_result())
            .collect();
        if known.iter().any(|h| !h.alive) {
            Some(false)
        } else if checks > 0 && known.len() == checks {
            Some(true)
        } else {
            None
        }
    }

    /// The results of `task`'s checks that have any, by check index.
    pub fn results(&self, task: &TaskId) -> Vec<(usize, &CheckHealth)> {
        self.tasks.get(task).map_or_else(Vec::new, |r| {
            r.iter()
                .filter(|(_, h)| h.has_result())
                .map(|(i, h)| (*i, h))
                .collect()
        })
    }

    /// Why `task` should be killed, if it should: one of its `checks`
    /// failed `maxConsecutiveFailures` (> 0) times in a row after its grace
    /// period (Marathon's `unhealthy_task_kill_event`).
    pub fn to_kill(&self, checks: &[HealthCheck], task: &TaskId) -> Option<String> {
        let results = self.tasks.get(task)?;
        checks.iter().enumerate().find_map(|(i, c)| {
            let h = results.get(&i)?;
            (c.max_consecutive_failures > 0 && h.counted_failures >= c.max_consecutive_failures)
                .then(|| {
                    format!(
                        "health check {i} ({}) failed {} times in a row after its {} s grace \
                         period (maxConsecutiveFailures {}); last: {}",
                        describe(c),
                        h.counted_failures,
                        c.grace_period_seconds,
                        c.max_consecutive_failures,
                        h.last_failure_cause.as_deref().unwrap_or("no cause")
                    )
                })
        })
    }

    pub fn forget(&mut self, task: &TaskId) {
        self.tasks.remove(task);
    }

    /// Forgets every task `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(&TaskId) -> bool) {
        self.tasks.retain(|t, _| keep(t));
    }
}

/// A check in a few words, for kill reasons.
fn describe(c: &HealthCheck) -> String {
    let port = match c.port {
        Some(p) => format!("port {p}"),
        None => format!("portIndex {}", c.port_index),
    };
    match c.protocol {
        HealthProtocol::Http => format!("HTTP {} on {port}", c.path),
        HealthProtocol::Https => format!("HTTPS {} on {port}", c.path),
        HealthProtocol::Tcp => format!("TCP on {port}"),
        HealthProtocol::Command => "COMMAND".to_string(),
    }
}

/// When failures of `check` start to count for an instance that started
/// RUNNING at `started_at_ms`.
pub fn grace_ends_ms(check: &HealthCheck, started_at_ms: u64) -> u64 {
    started_at_ms + u64::from(check.grace_period_seconds) * 1000
}

/// When the task first reported RUNNING.
pub fn started_at_ms(t: &Task) -> Option<u64> {
    t.statuses
        .iter()
        .find(|s| s.state == TaskState::Running)
        .map(|s| s.at_ms)
}

/// The health checks of the version `task` runs: the app's definition in
/// force at that version. None when that version is no longer kept.
pub fn checks_of<'a>(app: &'a App, task: &Task) -> &'a [HealthCheck] {
    // Most apps never had a check: no need to read the task's version.
    if app.spec.health_checks.is_empty()
        && app
            .versions
            .iter()
            .all(|(_, spec)| spec.health_checks.is_empty())
    {
        return &[];
    }
    let version = task
        .spec
        .env
        .get(VERSION_ENV)
        .and_then(|v| parse_iso8601(v).ok())
        .unwrap_or(0);
    checks_at(app, version)
}

/// The health checks of `app`'s definition in force at `version_ms`.
pub fn checks_at(app: &App, version_ms: u64) -> &[HealthCheck] {
    if version_ms >= app.version_ms {
        return &app.spec.health_checks;
    }
    app.versions
        .iter()
        .rev()
        .find(|(v, _)| *v <= version_ms)
        .map_or(&[], |(_, spec)| &spec.health_checks)
}

/// The task's host ports in the order of `PORT0..` (as the API lists them).
pub fn host_ports(t: &Task) -> Vec<u16> {
    t.spec
        .resources
        .ports
        .iter()
        .flat_map(|(a, b)| *a..=*b)
        .collect()
}

/// What running one check means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// GET this URL from the leader.
    Http { url: String, ignore_1xx: bool },
    /// Open a TCP connection to this address from the leader.
    Tcp { addr: String },
    /// The agent at `agent` (`ip:port`) runs `command` in `task`'s sandbox.
    Command {
        agent: String,
        task: TaskId,
        command: String,
    },
    /// The agent at `agent` GETs this `https://` URL with curl.
    Https {
        agent: String,
        url: String,
        ignore_1xx: bool,
    },
    /// The result is known without running anything.
    Known(Result<(), String>),
}

/// Where an instance runs: its task, its agent's IP and API port, and its
/// host ports in the order of `PORT0..`.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub task: &'a TaskId,
    pub ip: &'a str,
    pub agent_port: u16,
    pub ports: &'a [u16],
}

/// `ip:port`, bracketed for IPv6.
pub fn host_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The host port `check` names: `port` if given, else the instance's host
/// port at `portIndex`.
fn port_of(check: &HealthCheck, ports: &[u16]) -> Result<u16, String> {
    match check.port {
        Some(p) => Ok(p),
        None => ports.get(check.port_index).copied().ok_or_else(|| {
            format!(
                "the instance has no host port at portIndex {} (it has {})",
                check.port_index,
                ports.len()
            )
        }),
    }
}

/// The probe for `check` of the instance at `site`.
pub fn probe(check: &HealthCheck, site: Site<'_>) -> Probe {
    let agent = host_port(site.ip, site.agent_port);
    let https = match check.protocol {
        HealthProtocol::Command => {
            return match check.command.as_deref().map(str::trim) {
                Some(c) if !c.is_empty() => Probe::Command {
                    agent,
                    task: site.task.clone(),
                    command: c.to_string(),
                },
                _ => Probe::Known(Err(
                    "the COMMAND health check has no command; give command.value".to_string(),
                )),
            }
        }
        HealthProtocol::Tcp => {
            return match port_of(check, site.ports) {
                Ok(port) => Probe::Tcp {
                    addr: host_port(site.ip, port),
                },
                Err(why) => Probe::Known(Err(why)),
            }
        }
        HealthProtocol::Http => false,
        HealthProtocol::Https => true,
    };
    let port = match port_of(check, site.ports) {
        Ok(port) => port,
        Err(why) => return Probe::Known(Err(why)),
    };
    let slash = if check.path.starts_with('/') { "" } else { "/" };
    let scheme = if https { "https" } else { "http" };
    let url = format!(
        "{scheme}://{}{slash}{}",
        host_port(site.ip, port),
        check.path
    );
    let ignore_1xx = check.ignore_http1xx;
    if https {
        Probe::Https {
            agent,
            url,
            ignore_1xx,
        }
    } else {
        Probe::Http { url, ignore_1xx }
    }
}

/// An HTTP check's answer `status` as a result; `None` (no result) for a
/// 1xx with `ignoreHttp1xx`.
pub fn http_verdict(status: u16, ignore_1xx: bool) -> Option<Result<(), String>> {
    match status {
        200..=399 => Some(Ok(())),
        100..=199 if ignore_1xx => None,
        _ => Some(Err(format!("answered HTTP {status}"))),
    }
}

/// One check to run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub task: TaskId,
    pub index: usize,
    pub probe: Probe,
    pub timeout: Duration,
    pub grace_ends_ms: u64,
    /// Since when it has been due (the most overdue run first).
    pub since_ms: u64,
}

/// RUNNING instances of the app scheduler with no kill sent, with their
/// app (one pass over the tasks).
fn checked<'a>(
    s: &'a State,
    killing: &'a HashMap<TaskId, u64>,
    fw: &'a FrameworkId,
) -> impl Iterator<Item = (&'a App, &'a Task)> {
    s.live_of_framework(fw)
        .filter(|t| t.state == TaskState::Running)
        .filter(|t| !killing.contains_key(&t.spec.id))
        .filter_map(|t| Some((s.apps.get(&AppId::of_task(&t.spec.id)?)?, t)))
}

/// Every check due at `now_ms` on RUNNING instances of the app scheduler
/// (those being killed apart), the most overdue first.
pub fn due(s: &State, book: &HealthBook, killing: &HashMap<TaskId, u64>, now_ms: u64) -> Vec<Due> {
    let mut out = Vec::new();
    let fw = super::framework_id();
    for (app, t) in checked(s, killing, &fw) {
        let checks = checks_of(app, t);
        let (Some(agent), Some(started)) = (s.agents.get(&t.agent), started_at_ms(t)) else {
            continue;
        };
        if checks.is_empty() {
            continue;
        }
        let ports = host_ports(t);
        for (i, c) in checks.iter().enumerate() {
            let since = book.next_at_ms(&t.spec.id, i, c).unwrap_or(started);
            if now_ms < since {
                continue;
            }
            out.push(Due {
                task: t.spec.id.clone(),
                index: i,
                probe: probe(
                    c,
                    Site {
                        task: &t.spec.id,
                        ip: &agent.info.ip,
                        agent_port: agent.info.agent_port,
                        ports: &ports,
                    },
                ),
                timeout: Duration::from_secs(u64::from(c.timeout_seconds.max(1))),
                grace_ends_ms: grace_ends_ms(c, started),
                since_ms: since,
            });
        }
    }
    out.sort_by(|a, b| (a.since_ms, &a.task, a.index).cmp(&(b.since_ms, &b.task, b.index)));
    out
}

/// RUNNING instances whose health checks say to kill them, with why.
pub fn unhealthy(
    s: &State,
    book: &HealthBook,
    killing: &HashMap<TaskId, u64>,
) -> Vec<(TaskId, String)> {
    let fw = super::framework_id();
    checked(s, killing, &fw)
        .filter_map(|(app, t)| {
            let why = book.to_kill(checks_of(app, t), &t.spec.id)?;
            Some((t.spec.id.clone(), why))
        })
        .collect()
}

/// A check run's result: `None` when it gives none (an ignored 1xx).
struct Outcome {
    task: TaskId,
    index: usize,
    grace_ends_ms: u64,
    result: Option<Result<(), String>>,
}

/// Runs health checks while this server leads in `term`; the scheduler
/// aborts it when leadership changes (in-flight checks end with it).
pub async fn run(ctx: Arc<AppsCtx>, term: u64) {
    // Not the master's client: that one follows redirects, and Marathon
    // counts a 3xx as healthy without following it.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_else(|_| ctx.master.http.clone());
    let asker = Asker {
        http: ctx.master.http.clone(),
        epoch: term,
        leader_id: ctx.master.store.id(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: JoinSet<Outcome> = JoinSet::new();
    loop {
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok(Outcome { task, index, grace_ends_ms, result: Some(result) }) = done {
                    if let Err(cause) = &result {
                        tracing::debug!(%task, check = index, %cause, "health check failed");
                    }
                    ctx.book().health.record(&task, index, grace_ends_ms, result, now_ms());
                }
            }
            _ = tick.tick() => {
                let master = &ctx.master;
                if !master.store.is_leader() || master.store.term() != term {
                    return;
                }
                let free = MAX_IN_FLIGHT.saturating_sub(running.len());
                let now = now_ms();
                let start = master.store.read(|s| {
                    let mut book = ctx.book();
                    let book = &mut *book;
                    book.health
                        .retain(|t| s.tasks.get(t).is_some_and(|t| !t.state.is_terminal()));
                    let start: Vec<Due> = due(s, &book.health, &book.killing, now)
                        .into_iter()
                        .take(free)
                        .collect();
                    for d in &start {
                        book.health.started(&d.task, d.index, now);
                    }
                    start
                });
                for d in start {
                    running.spawn(check(client.clone(), asker.clone(), d));
                }
            }
        }
    }
}

/// Runs one check within its timeout: HTTP and TCP from here, COMMAND
/// and HTTPS on the instance's agent.
async fn check(client: reqwest::Client, asker: Asker, d: Due) -> Outcome {
    let secs = d.timeout.as_secs();
    let timeout_ms = d.timeout.as_millis() as u64;
    let result = match d.probe {
        Probe::Known(r) => Some(r),
        Probe::Http { url, ignore_1xx } => {
            match tokio::time::timeout(d.timeout, client.get(&url).send()).await {
                Err(_) => Some(Err(format!("GET {url}: no answer within {secs} s"))),
                Ok(Err(e)) => Some(Err(format!("GET {url}: {}", root_cause(&e)))),
                Ok(Ok(resp)) => http_verdict(resp.status().as_u16(), ignore_1xx)
                    .map(|r| r.map_err(|why| format!("GET {url}: {why}"))),
            }
        }
        Probe::Tcp { addr } => {
            match tokio::time::timeout(d.timeout, tokio::net::TcpStream::connect(&addr)).await {
                Err(_) => Some(Err(format!("TCP {addr}: no connection within {secs} s"))),
                Ok(Err(e)) => Some(Err(format!("TCP {addr}: {e}"))),
                Ok(Ok(_)) => Some(Ok(())),
            }
        }
        Probe::Command {
            agent,
            task,
            command,
        } => {
            let ask = AgentCheck::Command {
                task_id: task.0.clone(),
                command: command.clone(),
                timeout_ms,
            };
            let answer = asker.ask(&agent, ask).await;
            Some(agent_check::command_verdict(&command, &answer))
        }
        Probe::Https {
            agent,
            url,
            ignore_1xx,
        } => {
            let ask = AgentCheck::Https {
                url: url.clone(),
                timeout_ms,
                keep_body: false,
            };
            let answer = asker.ask(&agent, ask).await;
            agent_check::https_verdict(&url, ignore_1xx, &answer)
        }
    };
    Outcome {
        task: d.task,
        index: d.index,
        grace_ends_ms: d.grace_ends_ms,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(protocol: HealthProtocol, grace: u32, max: u32) -> HealthCheck {
        HealthCheck {
            protocol,
            path: "/health".into(),
            port_index: 0,
            port: None,
            command: None,
            grace_period_seconds: grace,
            interval_seconds: 1,
            timeout_seconds: 1,
            max_consecutive_failures: max,
            ignore_http1xx: false,
        }
    }

    /// A step: at this second, check 0 or 1 passed (`+`) or failed (`-`).
    type Step = (u64, usize, char);

    /// Runs `steps` for one task (RUNNING at 0, grace 10 s for both
    /// checks, `max` failures) and returns (healthy, consecutive failures
    /// of check 0, killed).
    fn run_steps(checks: usize, max: u32, steps: &[Step]) -> (Option<bool>, u32, bool) {
        let task = TaskId("web.1".into());
        let specs: Vec<HealthCheck> = (0..checks)
            .map(|_| check(HealthProtocol::Http, 10, max))
            .collect();
        let mut book = HealthBook::default();
        for (at_s, i, r) in steps {
            let result = if *r == '+' {
                Ok(())
            } else {
                Err("answered HTTP 500".to_string())
            };
            book.record(&task, *i, grace_ends_ms(&specs[*i], 0), result, at_s * 1000);
        }
        let consecutive = book
            .results(&task)
            .iter()
            .find(|(i, _)| *i == 0)
            .map_or(0, |(_, h)| h.consecutive_failures);
        (
            book.healthy(&task, checks),
            consecutive,
            book.to_kill(&specs, &task).is_some(),
        )
    }

    #[test]
    fn health_and_kills_follow_results_and_the_grace_period() {
        // (checks, maxConsecutiveFailures, steps) → (healthy, consecutive, killed)
        type Case = (usize, u32, &'static [Step], (Option<bool>, u32, bool));
        let cases: &[Case] = &[
            // No result yet: not known.
            (1, 3, &[], (None, 0, false)),
            (1, 3, &[(1, 0, '+')], (Some(true), 0, false)),
            // Two checks: one passed, the other has no result yet.
            (2, 3, &[(1, 0, '+')], (None, 0, false)),
            (2, 3, &[(1, 0, '+'), (1, 1, '+')], (Some(true), 0, false)),
            (2, 3, &[(1, 0, '+'), (1, 1, '-')], (Some(false), 0, false)),
            // Failures inside the grace period show but do not count.
            (
                1,
                3,
                &[(1, 0, '-'), (2, 0, '-'), (3, 0, '-'), (4, 0, '-')],
                (Some(false), 4, false),
            ),
            // Two inside it, three after: killed.
            (
                1,
                3,
                &[
                    (8, 0, '-'),
                    (9, 0, '-'),
                    (10, 0, '-'),
                    (11, 0, '-'),
                    (12, 0, '-'),
                ],
                (Some(false), 5, true),
            ),
            // Two after it: not yet.
            (1, 3, &[(10, 0, '-'), (11, 0, '-')], (Some(false), 2, false)),
            // A first success ends the grace period early.
            (
                1,
                3,
                &[(1, 0, '+'), (2, 0, '-'), (3, 0, '-'), (4, 0, '-')],
                (Some(false), 3, true),
            ),
            // A success in between starts the count again.
            (
                1,
                3,
                &[
                    (10, 0, '-'),
                    (11, 0, '-'),
                    (12, 0, '+'),
                    (13, 0, '-'),
                    (14, 0, '-'),
                ],
                (Some(false), 2, false),
            ),
            // maxConsecutiveFailures 0: never killed.
            (
                1,
                0,
                &[(20, 0, '-'), (21, 0, '-'), (22, 0, '-'), (23, 0, '-')],
                (Some(false), 4, false),
            ),
            // The second check's failures kill as well.
            (
                2,
                2,
                &[(11, 0, '+'), (11, 1, '-'), (12, 1, '-')],
                (Some(false), 0, true),
            ),
            // Back to healthy after failing.
            (1, 3, &[(11, 0, '-'), (12, 0, '+')], (Some(true), 0, false)),
        ];
        for (n, (checks, max, steps, want)) in cases.iter().enumerate() {
            assert_eq!(
                run_steps(*checks, *max, steps),
                *want,
                "case {n}: {steps:?}"
            );
        }
    }

    #[test]
    fn results_keep_times_and_the_cause() {
        let task = TaskId("web.1".into());
        let c = check(HealthProtocol::Http, 0, 2);
        let mut book = HealthBook::default();
        book.record(&task, 0, 0, Ok(()), 1000);
        book.record(&task, 0, 0, Ok(()), 2000);
        book.record(&task, 0, 0, Err("GET x: answered HTTP 500".into()), 3000);
        let r = book.results(&task);
        assert_eq!(
            r,
            vec![(
                0,
                &CheckHealth {
                    alive: false,
                    consecutive_failures: 1,
                    counted_failures: 1,
                    first_success_ms: Some(1000),
                    last_success_ms: Some(2000),
                    last_failure_ms: Some(3000),
                    last_failure_cause: Some("GET x: answered HTTP 500".into()),
                    last_started_ms: None,
                }
            )]
        );
        book.record(&task, 0, 0, Err("GET x: answered HTTP 503".into()), 4000);
        assert_eq!(
            book.to_kill(std::slice::from_ref(&c), &task).as_deref(),
            Some(
                "health check 0 (HTTP /health on portIndex 0) failed 2 times in a row after \
                 its 0 s grace period (maxConsecutiveFailures 2); last: GET x: answered HTTP 503"
            )
        );
        book.forget(&task);
        assert_eq!(book.healthy(&task, 1), None);
        assert!(book.results(&task).is_empty());
        assert_eq!(book.to_kill(&[c], &task), None);
    }

    #[test]
    fn a_check_is_due_after_its_interval_and_never_overlaps_itself() {
        let task = TaskId("web.1".into());
        // (interval, timeout, started at, now) → due
        let cases = [
            (5, 2, None, 0, true),
            (5, 2, Some(1000), 5999, false),
            (5, 2, Some(1000), 6000, true),
            // The timeout is longer than the interval: wait for it.
            (5, 10, Some(1000), 6000, false),
            (5, 10, Some(1000), 11_000, true),
        ];
        for (n, (interval, timeout, started, now, want)) in cases.into_iter().enumerate() {
            let mut c = check(HealthProtocol::Tcp, 0, 3);
            c.interval_seconds = interval;
            c.timeout_seconds = timeout;
            let mut book = HealthBook::default();
            if let Some(at) = started {
                book.started(&task, 0, at);
            }
            let due = book.next_at_ms(&task, 0, &c).is_none_or(|at| now >= at);
            assert_eq!(due, want, "case {n}");
        }
    }

    #[test]
    fn probes() {
        let http = check(HealthProtocol::Http, 0, 3);
        let cases: Vec<(HealthCheck, &str, &[u16], Probe)> = vec![
            (
                http.clone(),
                "10.0.0.1",
                &[31000, 31001],
                Probe::Http {
                    url: "http://10.0.0.1:31000/health".into(),
                    ignore_1xx: false,
                },
            ),
            (
                HealthCheck {
                    port_index: 1,
                    path: "ok".into(),
                    ignore_http1xx: true,
                    ..http.clone()
                },
                "::1",
                &[31000, 31001],
                Probe::Http {
                    url: "http://[::1]:31001/ok".into(),
                    ignore_1xx: true,
                },
            ),
            (
                HealthCheck {
                    port: Some(8080),
                    port_index: 5,
                    ..check(HealthProtocol::Tcp, 0, 3)
                },
                "10.0.0.1",
                &[],
                Probe::Tcp {
                    addr: "10.0.0.1:8080".into(),
                },
            ),
            (
                HealthCheck {
                    port_index: 2,
                    ..http.clone()
                },
                "10.0.0.1",
                &[31000],
                Probe::Known(Err(
                    "the instance has no host port at portIndex 2 (it has 1)".into(),
                )),
            ),
            (
                check(HealthProtocol::Https, 0, 3),
                "10.0.0.1",
                &[31000],
                Probe::Https {
                    agent: "10.0.0.1:5051".into(),
                    url: "https://10.0.0.1:31000/health".into(),
                    ignore_1xx: false,
                },
            ),
            (
                HealthCheck {
                    port: Some(8443),
                    ..check(HealthProtocol::Https, 0, 3)
                },
                "::1",
                &[],
                Probe::Https {
                    agent: "[::1]:5051".into(),
                    url: "https://[::1]:8443/health".into(),
                    ignore_1xx: false,
                },
            ),
            (
                HealthCheck {
                    command: Some("test ! -e $MESOS_SANDBOX/sick".into()),
                    ..check(HealthProtocol::Command, 0, 3)
                },
                "10.0.0.1",
                &[],
                Probe::Command {
                    agent: "10.0.0.1:5051".into(),
                    task: TaskId("web.1".into()),
                    command: "test ! -e $MESOS_SANDBOX/sick".into(),
                },
            ),
            (
                check(HealthProtocol::Command, 0, 3),
                "10.0.0.1",
                &[],
                Probe::Known(Err(
                    "the COMMAND health check has no command; give command.value".into(),
                )),
            ),
        ];
        let task = TaskId("web.1".into());
        for (n, (c, ip, ports, want)) in cases.into_iter().enumerate() {
            let site = Site {
                task: &task,
                ip,
                agent_port: 5051,
                ports,
            };
            assert_eq!(probe(&c, site), want, "case {n}");
        }
    }

    #[test]
    fn http_statuses() {
        // (status, ignoreHttp1xx) → result
        let ok = Some(Ok(()));
        let cases = [
            (200, false, ok.clone()),
            (302, false, ok.clone()),
            (399, false, ok),
            (400, false, Some(Err("answered HTTP 400".to_string()))),
            (500, false, Some(Err("answered HTTP 500".to_string()))),
            (101, true, None),
            (101, false, Some(Err("answered HTTP 101".to_string()))),
        ];
        for (status, ignore, want) in cases {
            assert_eq!(http_verdict(status, ignore), want, "{status} {ignore}");
        }
    }

    #[test]
    fn an_instance_is_checked_with_its_own_versions_checks() {
        let mut v1 = crate::scheduler::tests_support::spec();
        v1.id = AppId::parse("/web").unwrap();
        let mut v2 = v1.clone();
        v2.health_checks = vec![check(HealthProtocol::Http, 0, 3)];
        let mut v3 = v2.clone();
        v3.instances = 5; // a scale: same checks
        let app = App {
            spec: v3,
            version_ms: 3000,
            config_version_ms: 2000,
            scaled_at_ms: 3000,
            versions: vec![(1000, v1), (2000, v2)],
        };
        // version → number of checks
        for (version, want) in [
            (500, 0),
            (1000, 0),
            (1500, 0),
            (2000, 1),
            (3000, 1),
            (4000, 1),
        ] {
            assert_eq!(checks_at(&app, version).len(), want, "version {version}");
        }
    }

    /// A state with agent m1 (10.0.0.1) and app /web (one HTTP check,
    /// interval 5 s, no grace, 2 failures kill) at version 1000, and tasks
    /// (suffix, framework is ours, state, RUNNING at).
    fn state(tasks: &[(&str, bool, TaskState, u64)]) -> State {
        use corral_core::{Agent, AgentRegistration, AgentStatus, MachineId, Resources};
        use corral_core::{FrameworkId, StatusRecord, TaskSpec};
        let mut s = State::default();
        let m1 = MachineId("m1".into());
        s.agents.insert(
            m1.clone(),
            Agent {
                info: AgentRegistration {
                    id: m1.clone(),
                    hostname: "node-1".into(),
                    ip: "10.0.0.1".into(),
                    agent_port: 5051,
                    resources: Resources::default(),
                    attributes: Default::default(),
                    server_id: None,
                    version: String::new(),
                },
                status: AgentStatus::Active,
                registered_at_ms: 0,
                reregistered_at_ms: 0,
                unreachable_since_ms: None,
                unreachable_reason: None,
            },
        );
        let mut spec = crate::scheduler::tests_support::spec();
        spec.health_checks = vec![HealthCheck {
            interval_seconds: 5,
            ..check(HealthProtocol::Http, 0, 2)
        }];
        let id = spec.id.clone();
        s.apps.insert(
            id.clone(),
            App {
                spec,
                version_ms: 1000,
                config_version_ms: 1000,
                scaled_at_ms: 1000,
                versions: vec![],
            },
        );
        for (suffix, ours, state, at) in tasks {
            let status = |state, at_ms| StatusRecord {
                state,
                at_ms,
                reason: None,
                message: None,
                revision: None,
            };
            let task = id.task_id(suffix);
            s.tasks.insert(
                task.clone(),
                Task {
                    spec: TaskSpec {
                        id: task,
                        name: "web".into(),
                        resources: Resources {
                            ports: vec![(31000, 31000)],
                            ..Resources::default()
                        },
                        command: "serve".into(),
                        env: [(VERSION_ENV.to_string(), crate::time::iso(1000))].into(),
                        ..Default::default()
                    },
                    framework: FrameworkId(
                        if *ours {
                            crate::scheduler::FRAMEWORK_ID
                        } else {
                            "other"
                        }
                        .into(),
                    ),
                    agent: m1.clone(),
                    state: *state,
                    statuses: vec![status(TaskState::Staging, 500), status(*state, *at)],
                    unacked: None,
                },
            );
        }
        s
    }

    #[test]
    fn running_instances_are_checked_when_due_and_killed_when_unhealthy() {
        let s = state(&[
            ("a", true, TaskState::Running, 2000),
            ("b", true, TaskState::Staging, 500),
            ("c", true, TaskState::Running, 1500),
            ("d", false, TaskState::Running, 1500),
        ]);
        let (a, c) = (TaskId("web.a".into()), TaskId("web.c".into()));
        let killing: HashMap<TaskId, u64> = [(c.clone(), 1600)].into();
        let mut book = HealthBook::default();
        let names = |d: &[Due]| -> Vec<(String, u64)> {
            d.iter().map(|d| (d.task.0.clone(), d.since_ms)).collect()
        };

        // Only a: b is not running, c is being killed, d is not ours.
        let now = due(&s, &book, &killing, 2000);
        assert_eq!(names(&now), [("web.a".to_string(), 2000)]);
        assert_eq!(
            now[0].probe,
            Probe::Http {
                url: "http://10.0.0.1:31000/health".into(),
                ignore_1xx: false
            }
        );
        assert_eq!(
            (now[0].grace_ends_ms, now[0].timeout),
            (2000, Duration::from_secs(1))
        );

        book.started(&a, 0, 2000);
        assert!(due(&s, &book, &killing, 6999).is_empty(), "interval 5 s");
        assert_eq!(
            names(&due(&s, &book, &killing, 7000)),
            [("web.a".to_string(), 7000)]
        );
        // Without the kill c is checked too, the most overdue first.
        assert_eq!(
            names(&due(&s, &book, &HashMap::new(), 8000)),
            [("web.c".to_string(), 1500), ("web.a".to_string(), 7000)]
        );

        book.record(&a, 0, 2000, Err("answered HTTP 500".into()), 2100);
        assert!(
            unhealthy(&s, &book, &killing).is_empty(),
            "one failure of 2"
        );
        book.record(&a, 0, 2000, Err("answered HTTP 500".into()), 7100);
        let kill = unhealthy(&s, &book, &killing);
        assert_eq!(kill.len(), 1);
        assert_eq!(kill[0].0, a);
        // Once the kill is sent, it is not named again.
        let killing: HashMap<TaskId, u64> = [(a.clone(), 7200)].into();
        assert!(unhealthy(&s, &book, &killing).is_empty());
    }
}
