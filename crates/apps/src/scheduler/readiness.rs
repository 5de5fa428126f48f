//! Readiness checks (Marathon's `readinessChecks`): whether the instances
//! a deployment starts are ready for traffic, so that a rolling upgrade
//! stops old instances only for new ones that are ready.
//!
//! Which instances ([`Gate`]): those a running deployment of the app
//! started — of the app's current config version and staged at or after
//! the deployment began. Every other instance (old versions, instances
//! replaced outside a deployment, those already running when a scale
//! began) is ready without a check, as in Marathon, which runs readiness
//! checks only inside deployments. When the app has health checks, an
//! instance is checked once it is healthy (Marathon's order).
//!
//! Each check of such an instance runs every `intervalSeconds`, the first
//! at once, within `timeoutSeconds`: a GET of
//! `<protocol>://<agent ip>:<port><path>`, the port being the instance's
//! host port whose `portDefinitions[].name` is `portName`. HTTP checks run
//! from the leader (redirects are not followed), HTTPS ones on the
//! instance's agent with curl (`agent_check`). A check is ready when the
//! answer's status is in `httpStatusCodesForReady` (default `[200]`); an
//! instance is ready when all its checks are. Once ready, always ready: a
//! ready check is not run again (Marathon stops checking).
//!
//! While the deployment runs the results show in `readinessCheckResults`
//! (`embed=apps.readiness`): `{name, taskId, ready, lastResponse}`, with
//! `lastResponse` only under `preserveLastResponse` ([`results`]).
//!
//! Invariants:
//! - [`ReadinessBook`] is leader memory, reset on a new term with the rest
//!   of the scheduler's book: after a failover the instances a running
//!   deployment started are checked again (ready ones answer ready again).
//! - Deciding is pure ([`ReadinessBook`], [`Gate`], [`probe`], [`due`],
//!   [`results`]): time is an argument. [`run`] is the thin shell, never
//!   more than [`MAX_IN_FLIGHT`] checks at once; a check never overlaps
//!   itself (its next run starts no earlier than the longer of its interval
//!   and its timeout after the previous one started).
//! - It launches and kills nothing: the planner reads each instance's
//!   `ready` (`instances`) and decides.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use corral_api::native::AgentCheck;
use corral_core::app::{
    tasks_of, App, AppId, AppSpec, DeploymentChange, HealthProtocol, ReadinessCheck,
};
use corral_core::{State, Task, TaskId, TaskState};
use corral_master::context::now_ms;
use tokio::task::JoinSet;

use super::agent_check::{self, root_cause, Asker, CURL_MISSING_READINESS};
use super::health::{self, host_port, HealthBook};
use super::launch::VERSION_ENV;
use super::version_text;
use crate::AppsCtx;

/// How often the checker looks for checks that are due.
pub const TICK: Duration = Duration::from_secs(1);
/// The most readiness checks running at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// The longest body kept from an answer, in bytes.
pub const BODY_BYTES: usize = 64 * 1024;
/// Marathon's default `httpStatusCodesForReady`.
const DEFAULT_READY_CODES: &[u16] = &[200];

/// An answer to a readiness check (Marathon's `lastResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// One check's state for one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReadiness {
    /// An answer's status was one for ready. Never goes back.
    pub ready: bool,
    /// The latest answer (none after a failure to get one).
    pub last_response: Option<HttpResponse>,
    /// Why the latest run got no answer.
    pub last_error: Option<String>,
    /// When the latest result came.
    pub last_result_ms: Option<u64>,
    /// When its latest run started (for scheduling the next).
    pub last_started_ms: Option<u64>,
}

/// Readiness by instance (task) and check index. Leader memory.
#[derive(Debug, Default)]
pub struct ReadinessBook {
    tasks: HashMap<TaskId, BTreeMap<usize, CheckReadiness>>,
}

impl ReadinessBook {
    fn get(&self, task: &TaskId, index: usize) -> Option<&CheckReadiness> {
        self.tasks.get(task)?.get(&index)
    }

    fn entry(&mut self, task: &TaskId, index: usize) -> &mut CheckReadiness {
        self.tasks
            .entry(task.clone())
            .or_default()
            .entry(index)
            .or_default()
    }

    /// When check `index` of `task` is next due: the longer of its
    /// interval and its timeout after its previous run started; `None`:
    /// never run, due now. Never again once ready.
    pub fn next_at_ms(&self, task: &TaskId, index: usize, check: &ReadinessCheck) -> Option<u64> {
        let c = self.get(task, index)?;
        if c.ready {
            return Some(u64::MAX);
        }
        let period = u64::from(check.interval_seconds.max(check.timeout_seconds).max(1)) * 1000;
        Some(c.last_started_ms? + period)
    }

    /// A run of check `index` of `task` started at `now_ms`.
    pub fn started(&mut self, task: &TaskId, index: usize, now_ms: u64) {
        self.entry(task, index).last_started_ms = Some(now_ms);
    }

    /// A result of check `index` of `task` at `now_ms`: ready when the
    /// answer's status is one of `ready_codes`. A ready check stays ready
    /// (a late answer changes nothing).
    pub fn record(
        &mut self,
        task: &TaskId,
        index: usize,
        ready_codes: &[u16],
        result: Result<HttpResponse, String>,
        now_ms: u64,
    ) {
        let c = self.entry(task, index);
        if c.ready {
            return;
        }
        c.last_result_ms = Some(now_ms);
        match result {
            Ok(r) => {
                c.ready = ready_codes.contains(&r.status);
                c.last_response = Some(r);
                c.last_error = None;
            }
            Err(why) => {
                c.last_response = None;
                c.last_error = Some(why);
            }
        }
    }

    /// Whether all `checks` checks of `task` are ready.
    pub fn ready(&self, task: &TaskId, checks: usize) -> bool {
        (0..checks).all(|i| self.get(task, i).is_some_and(|c| c.ready))
    }

    /// The checks of `task` that have a result, by index.
    pub fn results(&self, task: &TaskId) -> Vec<(usize, &CheckReadiness)> {
        self.tasks.get(task).map_or_else(Vec::new, |r| {
            r.iter()
                .filter(|(_, c)| c.last_result_ms.is_some())
                .map(|(i, c)| (*i, c))
                .collect()
        })
    }

    /// Forgets every task `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(&TaskId) -> bool) {
        self.tasks.retain(|t, _| keep(t));
    }
}

/// The statuses that mean ready: `httpStatusCodesForReady`, or `[200]`.
pub fn ready_codes(check: &ReadinessCheck) -> &[u16] {
    if check.http_status_codes_for_ready.is_empty() {
        DEFAULT_READY_CODES
    } else {
        &check.http_status_codes_for_ready
    }
}

/// Which of an app's instances must pass its readiness checks now: those
/// of `version` staged since `since_ms` (the start of the deployment
/// changing the app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub version: String,
    pub since_ms: u64,
    /// How many readiness checks the app has.
    pub checks: usize,
}

impl Gate {
    /// The gate of `app`: none without readiness checks or without a
    /// deployment starting instances (none, or a removal).
    pub fn of(s: &State, app: &App) -> Option<Gate> {
        if app.spec.readiness_checks.is_empty() {
            return None;
        }
        let since_ms = s
            .deployments
            .values()
            .filter(|d| d.change != DeploymentChange::Delete && d.apps.contains(&app.spec.id))
            .map(|d| d.started_at_ms)
            .min()?;
        Some(Gate {
            version: version_text(app.config_version_ms),
            since_ms,
            checks: app.spec.readiness_checks.len(),
        })
    }

    /// Whether `t` is an instance this deployment started.
    pub fn applies(&self, t: &Task) -> bool {
        let staged = t.statuses.first().map_or(0, |st| st.at_ms);
        staged >= self.since_ms && t.spec.env.get(VERSION_ENV) == Some(&self.version)
    }
}

/// Whether instance `t` counts as ready: all its checks are, or `gate`
/// does not apply to it.
pub fn is_ready(book: &ReadinessBook, gate: Option<&Gate>, t: &Task) -> bool {
    match gate {
        Some(g) if g.applies(t) => book.ready(&t.spec.id, g.checks),
        _ => true,
    }
}

/// Whether task `id` is live and gated (its results are worth keeping).
fn gated(s: &State, id: &TaskId) -> bool {
    let Some(t) = s.tasks.get(id).filter(|t| !t.state.is_terminal()) else {
        return false;
    };
    AppId::of_task(id)
        .and_then(|a| s.apps.get(&a))
        .and_then(|app| Gate::of(s, app))
        .is_some_and(|g| g.applies(t))
}

/// What running one readiness check means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// GET this URL from the leader.
    Http { url: String },
    /// The agent at `agent` (`ip:port`) GETs this URL with curl.
    Https { agent: String, url: String },
    /// It cannot run: why.
    Broken(String),
}

/// The probe for `check` of an instance of `spec` at `site`.
pub fn probe(check: &ReadinessCheck, spec: &AppSpec, site: health::Site<'_>) -> Probe {
    let Some(index) = spec
        .port_definitions
        .iter()
        .position(|d| d.name.as_deref() == Some(check.port_name.as_str()))
    else {
        return Probe::Broken(format!(
            "no port definition is named {:?}; name one in portDefinitions",
            check.port_name
        ));
    };
    let Some(port) = site.ports.get(index) else {
        return Probe::Broken(format!(
            "the instance has no host port for {:?} (portDefinitions index {index}, it has {})",
            check.port_name,
            site.ports.len()
        ));
    };
    let slash = if check.path.starts_with('/') { "" } else { "/" };
    let addr = host_port(site.ip, *port);
    match check.protocol {
        HealthProtocol::Http => Probe::Http {
            url: format!("http://{addr}{slash}{}", check.path),
        },
        HealthProtocol::Https => Probe::Https {
            agent: host_port(site.ip, site.agent_port),
            url: format!("https://{addr}{slash}{}", check.path),
        },
        HealthProtocol::Tcp | HealthProtocol::Command => {
            Probe::Broken("readiness checks are HTTP or HTTPS; change the protocol".to_string())
        }
    }
}

/// One check to run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub task: TaskId,
    pub index: usize,
    pub probe: Probe,
    pub timeout: Duration,
    pub ready_codes: Vec<u16>,
    /// Since when it has been due (the most overdue run first).
    pub since_ms: u64,
}

/// Every readiness check due at `now_ms`: of the gated instances that are
/// RUNNING, not being killed, healthy if the app has health checks, and
/// not ready yet; the most overdue first.
pub fn due(
    s: &State,
    book: &ReadinessBook,
    health_book: &HealthBook,
    killing: &HashMap<TaskId, u64>,
    now_ms: u64,
) -> Vec<Due> {
    let fw = super::framework_id();
    let mut out = Vec::new();
    for app in s.apps.values() {
        let Some(gate) = Gate::of(s, app) else {
            continue;
        };
        let live = tasks_of(&s.tasks, &app.spec.id).filter(|t| {
            t.framework == fw
                && t.state == TaskState::Running
                && !killing.contains_key(&t.spec.id)
                && gate.applies(t)
        });
        for t in live {
            let (Some(agent), Some(running)) = (s.agents.get(&t.agent), health::started_at_ms(t))
            else {
                continue;
            };
            let health_checks = health::checks_of(app, t).len();
            if health_checks > 0 && health_book.healthy(&t.spec.id, health_checks) != Some(true) {
                continue;
            }
            let ports = health::host_ports(t);
            let site = health::Site {
                task: &t.spec.id,
                ip: &agent.info.ip,
                agent_port: agent.info.agent_port,
                ports: &ports,
            };
            for (i, c) in app.spec.readiness_checks.iter().enumerate() {
                let since = book.next_at_ms(&t.spec.id, i, c).unwrap_or(running);
                if now_ms < since {
                    continue;
                }
                out.push(Due {
                    task: t.spec.id.clone(),
                    index: i,
                    probe: probe(c, &app.spec, site),
                    timeout: Duration::from_secs(u64::from(c.timeout_seconds.max(1))),
                    ready_codes: ready_codes(c).to_vec(),
                    since_ms: since,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.since_ms, &a.task, a.index).cmp(&(b.since_ms, &b.task, b.index)));
    out
}

/// One row of `readinessCheckResults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    /// The check's `name`.
    pub name: String,
    pub task: TaskId,
    pub ready: bool,
    /// Only with `preserveLastResponse`.
    pub last_response: Option<HttpResponse>,
}

/// The results of `app`'s readiness checks on the instances its running
/// deployment started, by task and check; empty without a deployment.
pub fn results(s: &State, book: &ReadinessBook, app: &App) -> Vec<ResultRow> {
    let Some(gate) = Gate::of(s, app) else {
        return Vec::new();
    };
    let fw = super::framework_id();
    let mut out = Vec::new();
    let live = tasks_of(&s.tasks, &app.spec.id)
        .filter(|t| t.framework == fw && !t.state.is_terminal() && gate.applies(t));
    for t in live {
        for (i, c) in book.results(&t.spec.id) {
            let Some(check) = app.spec.readiness_checks.get(i) else {
                continue;
            };
            out.push(ResultRow {
                name: check.name.clone(),
                task: t.spec.id.clone(),
                ready: c.ready,
                last_response: c
                    .last_response
                    .clone()
                    .filter(|_| check.preserve_last_response),
            });
        }
    }
    out
}

/// A check run's result.
struct Outcome {
    task: TaskId,
    index: usize,
    ready_codes: Vec<u16>,
    result: Result<HttpResponse, String>,
}

/// Runs readiness checks while this server leads in `term`; the scheduler
/// aborts it when leadership changes (in-flight checks end with it).
pub async fn run(ctx: Arc<AppsCtx>, term: u64) {
    // Not the master's client: that one follows redirects, and Marathon
    // takes a 3xx as the answer.
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
                if let Ok(o) = done {
                    match &o.result {
                        Ok(r) => tracing::debug!(task = %o.task, check = o.index, status = r.status, "readiness check answered"),
                        Err(why) => tracing::debug!(task = %o.task, check = o.index, %why, "readiness check failed"),
                    }
                    ctx.book().readiness.record(&o.task, o.index, &o.ready_codes, o.result, now_ms());
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
                    book.readiness.retain(|t| gated(s, t));
                    let start: Vec<Due> = due(s, &book.readiness, &book.health, &book.killing, now)
                        .into_iter()
                        .take(free)
                        .collect();
                    for d in &start {
                        book.readiness.started(&d.task, d.index, now);
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

/// Runs one readiness check within its timeout.
async fn check(client: reqwest::Client, asker: Asker, d: Due) -> Outcome {
    let result = match d.probe {
        Probe::Broken(why) => Err(why),
        Probe::Http { url } => get(&client, &url, d.timeout).await,
        Probe::Https { agent, url } => {
            let ask = AgentCheck::Https {
                url: url.clone(),
                timeout_ms: d.timeout.as_millis() as u64,
                keep_body: true,
            };
            let answer = asker.ask(&agent, ask).await;
            agent_check::https_response(&url, &answer, CURL_MISSING_READINESS)
        }
    };
    Outcome {
        task: d.task,
        index: d.index,
        ready_codes: d.ready_codes,
        result,
    }
}

/// GETs `url` from here within `timeout`: its status, content type and
/// body (at most [`BODY_BYTES`]).
async fn get(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let fetch = async {
        let mut resp = client.get(url).send().await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            let room = BODY_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= BODY_BYTES {
                break;
            }
        }
        Ok::<_, reqwest::Error>(HttpResponse {
            status,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    match tokio::time::timeout(timeout, fetch).await {
        Err(_) => Err(format!(
            "GET {url}: no answer within {} s",
            timeout.as_secs()
        )),
        Ok(Err(e)) => Err(format!("GET {url}: {}", root_cause(&e))),
        Ok(Ok(r)) => Ok(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::app::{Deployment, HealthCheck, PortDefinition};
    use corral_core::{Agent, AgentRegistration, AgentStatus, FrameworkId, MachineId};
    use corral_core::{Resources, StatusRecord, TaskSpec};

    fn rc(interval: u32, timeout: u32, codes: &[u16]) -> ReadinessCheck {
        ReadinessCheck {
            name: "readinessCheck".into(),
            protocol: HealthProtocol::Http,
            path: "/ready".into(),
            port_name: "http".into(),
            interval_seconds: interval,
            timeout_seconds: timeout,
            http_status_codes_for_ready: codes.to_vec(),
            preserve_last_response: false,
        }
    }

    fn answer(status: u16) -> Result<HttpResponse, String> {
        Ok(HttpResponse {
            status,
            content_type: "text/plain".into(),
            body: String::new(),
        })
    }

    /// A result at a second: a status, or `0` for no answer.
    type Step = (u64, u16);

    /// Runs `steps` on check 0 of one task; returns (ready, when next due).
    fn run_steps(check: &ReadinessCheck, steps: &[Step]) -> (bool, Option<u64>) {
        let task = TaskId("web.1".into());
        let mut book = ReadinessBook::default();
        for (at_s, status) in steps {
            book.started(&task, 0, at_s * 1000);
            let result = if *status == 0 {
                Err("GET x: Connection refused".into())
            } else {
                answer(*status)
            };
            book.record(&task, 0, ready_codes(check), result, at_s * 1000 + 10);
        }
        (book.ready(&task, 1), book.next_at_ms(&task, 0, check))
    }

    #[test]
    fn readiness_follows_status_codes_latches_and_sets_the_next_run() {
        // (interval, timeout, codes, steps) → (ready, next due at ms)
        type Case = (
            u32,
            u32,
            &'static [u16],
            &'static [Step],
            (bool, Option<u64>),
        );
        let cases: &[Case] = &[
            // Never run: not ready, due at once.
            (5, 2, &[], &[], (false, None)),
            // The default is [200].
            (5, 2, &[], &[(1, 200)], (true, Some(u64::MAX))),
            (5, 2, &[], &[(1, 204)], (false, Some(6000))),
            (5, 2, &[200, 204], &[(1, 204)], (true, Some(u64::MAX))),
            (5, 2, &[], &[(1, 503)], (false, Some(6000))),
            // No answer: not ready, tried again after the interval.
            (5, 2, &[], &[(1, 0)], (false, Some(6000))),
            // The timeout is longer than the interval: wait for it.
            (1, 10, &[], &[(1, 503)], (false, Some(11_000))),
            // Once ready, always ready: a later 503 or failure changes nothing.
            (
                1,
                1,
                &[],
                &[(1, 503), (2, 200), (3, 503), (4, 0)],
                (true, Some(u64::MAX)),
            ),
            // Ready only at the third try.
            (
                1,
                1,
                &[],
                &[(1, 0), (2, 503), (3, 200)],
                (true, Some(u64::MAX)),
            ),
        ];
        for (n, (interval, timeout, codes, steps, want)) in cases.iter().enumerate() {
            let check = rc(*interval, *timeout, codes);
            assert_eq!(run_steps(&check, steps), *want, "case {n}: {steps:?}");
        }
    }

    #[test]
    fn an_instance_is_ready_when_every_check_is() {
        let task = TaskId("web.1".into());
        let mut book = ReadinessBook::default();
        assert!(book.ready(&task, 0), "no checks: ready");
        assert!(!book.ready(&task, 2));
        book.record(&task, 0, &[200], answer(200), 1000);
        assert!(!book.ready(&task, 2), "one of two");
        book.record(&task, 1, &[200], answer(503), 1000);
        assert!(!book.ready(&task, 2));
        book.record(&task, 1, &[200], answer(200), 2000);
        assert!(book.ready(&task, 2));
        // The last answer stays, the error is cleared by an answer.
        let r = book.results(&task);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].1.last_response.as_ref().map(|r| r.status), Some(200));
        book.retain(|_| false);
        assert!(book.results(&task).is_empty());
    }

    fn spec() -> AppSpec {
        let mut spec = crate::scheduler::tests_support::spec();
        spec.port_definitions = vec![
            PortDefinition {
                port: 0,
                protocol: "tcp".into(),
                name: Some("admin".into()),
                labels: BTreeMap::new(),
            },
            PortDefinition {
                port: 0,
                protocol: "tcp".into(),
                name: Some("http".into()),
                labels: BTreeMap::new(),
            },
        ];
        spec.readiness_checks = vec![rc(1, 1, &[])];
        spec
    }

    #[test]
    fn probes_use_the_named_port() {
        let task = TaskId("web.1".into());
        let site = |ports: &'static [u16]| health::Site {
            task: &task,
            ip: "10.0.0.1",
            agent_port: 5051,
            ports,
        };
        let https = ReadinessCheck {
            protocol: HealthProtocol::Https,
            path: "ready".into(),
            ..rc(1, 1, &[])
        };
        let cases: Vec<(ReadinessCheck, &'static [u16], Probe)> = vec![
            (
                rc(1, 1, &[]),
                &[31000, 31001],
                Probe::Http {
                    url: "http://10.0.0.1:31001/ready".into(),
                },
            ),
            (
                https,
                &[31000, 31001],
                Probe::Https {
                    agent: "10.0.0.1:5051".into(),
                    url: "https://10.0.0.1:31001/ready".into(),
                },
            ),
            (
                ReadinessCheck {
                    port_name: "metrics".into(),
                    ..rc(1, 1, &[])
                },
                &[31000, 31001],
                Probe::Broken(
                    "no port definition is named \"metrics\"; name one in portDefinitions".into(),
                ),
            ),
            (
                rc(1, 1, &[]),
                &[31000],
                Probe::Broken(
                    "the instance has no host port for \"http\" (portDefinitions index 1, it has 1)"
                        .into(),
                ),
            ),
        ];
        for (n, (c, ports, want)) in cases.into_iter().enumerate() {
            assert_eq!(probe(&c, &spec(), site(ports)), want, "case {n}");
        }
    }

    /// A state with agent m1 (10.0.0.1), app /web at config version 2000
    /// (one readiness check on port "http"; `health`: one health check),
    /// a deployment started at `deploy_at` (if any), and tasks (suffix,
    /// version ms, state, staged at).
    fn state(health: bool, deploy_at: Option<u64>, tasks: &[(&str, u64, TaskState, u64)]) -> State {
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
        let mut spec = spec();
        if health {
            spec.health_checks = vec![HealthCheck {
                protocol: HealthProtocol::Tcp,
                path: String::new(),
                port_index: 0,
                port: None,
                command: None,
                grace_period_seconds: 0,
                interval_seconds: 1,
                timeout_seconds: 1,
                max_consecutive_failures: 3,
                ignore_http1xx: false,
            }];
        }
        let id = spec.id.clone();
        s.apps.insert(
            id.clone(),
            App {
                spec,
                version_ms: 2000,
                config_version_ms: 2000,
                scaled_at_ms: 2000,
                versions: vec![],
            },
        );
        if let Some(at) = deploy_at {
            s.deployments.insert(
                "d1".into(),
                Deployment {
                    id: "d1".into(),
                    version_ms: at,
                    apps: vec![id.clone()],
                    change: DeploymentChange::Upgrade,
                    started_at_ms: at,
                },
            );
        }
        for (suffix, version, state, staged) in tasks {
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
                            ports: vec![(31000, 31001)],
                            ..Resources::default()
                        },
                        command: "serve".into(),
                        env: [(VERSION_ENV.to_string(), crate::time::iso(*version))].into(),
                        ..Default::default()
                    },
                    framework: FrameworkId(crate::scheduler::FRAMEWORK_ID.into()),
                    agent: m1.clone(),
                    state: *state,
                    statuses: vec![
                        status(TaskState::Staging, *staged),
                        status(*state, staged + 100),
                    ],
                    unacked: None,
                },
            );
        }
        s
    }

    fn names(d: &[Due]) -> Vec<&str> {
        d.iter().map(|d| d.task.0.as_str()).collect()
    }

    #[test]
    fn only_the_instances_a_deployment_starts_are_checked() {
        let tasks = [
            // Old version: never checked.
            ("old", 1000, TaskState::Running, 1500),
            // New version, started by the deployment (at 2000).
            ("new", 2000, TaskState::Running, 2100),
            ("staging", 2000, TaskState::Staging, 2200),
            // New version, running before the deployment (a scale).
            ("before", 2000, TaskState::Running, 1900),
        ];
        let none = HashMap::new();
        let health = HealthBook::default();
        let mut book = ReadinessBook::default();

        let s = state(false, None, &tasks);
        assert!(
            due(&s, &book, &health, &none, 5000).is_empty(),
            "no deployment"
        );
        let app = &s.apps[&AppId::parse("/web").unwrap()];
        assert_eq!(Gate::of(&s, app), None);

        let s = state(false, Some(2000), &tasks);
        let app = &s.apps[&AppId::parse("/web").unwrap()];
        let gate = Gate::of(&s, app).unwrap();
        let ready_of = |book: &ReadinessBook, suffix: &str| {
            is_ready(book, Some(&gate), &s.tasks[&app.spec.id.task_id(suffix)])
        };
        let now = due(&s, &book, &health, &none, 2200);
        assert_eq!(names(&now), ["web.new"]);
        assert_eq!(
            (now[0].since_ms, &now[0].probe, &now[0].ready_codes),
            (
                2200,
                &Probe::Http {
                    url: "http://10.0.0.1:31001/ready".into()
                },
                &vec![200]
            )
        );
        assert!(!ready_of(&book, "new") && !ready_of(&book, "staging"));
        assert!(ready_of(&book, "old") && ready_of(&book, "before"));

        // Not again within its interval; being killed: not at all.
        book.started(&TaskId("web.new".into()), 0, 2200);
        book.record(&TaskId("web.new".into()), 0, &[200], answer(503), 2300);
        assert!(due(&s, &book, &health, &none, 3199).is_empty());
        assert_eq!(names(&due(&s, &book, &health, &none, 3200)), ["web.new"]);
        let killing: HashMap<TaskId, u64> = [(TaskId("web.new".into()), 3000)].into();
        assert!(due(&s, &book, &health, &killing, 3200).is_empty());

        // The shown result, with and without preserveLastResponse.
        let rows = results(&s, &book, app);
        assert_eq!(
            rows,
            [ResultRow {
                name: "readinessCheck".into(),
                task: TaskId("web.new".into()),
                ready: false,
                last_response: None,
            }]
        );
        let mut s2 = s.clone();
        let a2 = s2.apps.get_mut(&app.spec.id).unwrap();
        a2.spec.readiness_checks[0].preserve_last_response = true;
        let a2 = a2.clone();
        assert_eq!(
            results(&s2, &book, &a2)[0].last_response,
            Some(HttpResponse {
                status: 503,
                content_type: "text/plain".into(),
                body: String::new()
            })
        );

        // Ready: never due again, and counts as ready.
        book.record(&TaskId("web.new".into()), 0, &[200], answer(200), 3300);
        assert!(due(&s, &book, &health, &none, 100_000).is_empty());
        assert!(ready_of(&book, "new"));
        assert!(results(&s, &book, app)[0].ready);

        // The deployment ended: no results shown, the book keeps nothing.
        let done = state(false, None, &tasks);
        assert!(results(&done, &book, &done.apps[&app.spec.id]).is_empty());
        book.retain(|t| gated(&done, t));
        assert!(book.results(&TaskId("web.new".into())).is_empty());
    }

    #[test]
    fn with_health_checks_an_instance_is_checked_once_healthy() {
        let s = state(true, Some(2000), &[("new", 2000, TaskState::Running, 2100)]);
        let task = TaskId("web.new".into());
        let none = HashMap::new();
        let book = ReadinessBook::default();
        let mut health = HealthBook::default();
        assert!(
            due(&s, &book, &health, &none, 3000).is_empty(),
            "no health result"
        );
        health.record(&task, 0, 0, Err("refused".into()), 2500);
        assert!(due(&s, &book, &health, &none, 3000).is_empty(), "unhealthy");
        health.record(&task, 0, 0, Ok(()), 2600);
        assert_eq!(names(&due(&s, &book, &health, &none, 3000)), ["web.new"]);
    }
}
