//! Simulated agents ("hollow nodes", as Kubernetes calls them), for
//! benchmarks: `corral sim-agents` runs N of them in one process, so the
//! control plane can be measured with more machines than this host could
//! ever run for real.
//!
//! To the leader each one is an agent like any other: its own machine id,
//! its own loopback address with a listener serving `POST /v1/agent/command`
//! (fenced by epoch, as the real agent's) and `/health`, registration and
//! heartbeats through the real link loop ([`link::keep_linked`]), task
//! states through the real reporter call ([`reporter::send_batch`]). It only runs
//! nothing: a launched task is reported TASK_RUNNING at once and a killed
//! one TASK_KILLED; a `PUT /v1/agent/units` is answered with every launched
//! unit active/running ([`unit_states`]), and when that changes what the
//! machine has, the whole set is reported to the leader
//! (`POST /v1/agents/units`, as the real unit reporter does); no process
//! ever starts.
//!
//! Invariants:
//! - No thread per agent: each agent is a listener and four tasks (API,
//!   link, task reports, unit reports) on the shared tokio runtime, and
//!   shares the HTTP clients' connection pools with the others.
//! - Like the real reporter, an agent sends its task reports in order,
//!   what queued up in one call, until the leader has them. Unit reports are whole
//!   sets: only the latest one is sent (a newer set replaces one not yet
//!   delivered), until the leader has it.
//! - Every address is inside 127.0.0.0/8, checked before anything binds.
//! - Nothing is kept on disk: a restarted simulation begins at epoch 0 with
//!   no tasks (machine ids are derived, so the same machines come back).
//! - What a command does is decided by [`decide`], a pure function; the
//!   addresses and ids are pure too. All three are tested as data below.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use corral_api::client::Method;
use corral_api::native::{
    AgentCommand, AgentCommandAck, AgentCommandEnvelope, ApiError, TaskRefusal, TaskStatusReport,
    MAX_STATUS_BATCH,
};
use corral_api::unit_view::UnitsReport;
use corral_api::units::{UnitStatus, UnitTarget, UnitsDesired};
use corral_api::{Client, ClientError};
use corral_core::{AgentRegistration, MachineId, Resources};
use tokio::sync::{mpsc, watch, Notify};

use crate::fence::Fence;
use crate::link::{self, Linked};
use crate::reporter;

/// Where the simulated agents' addresses start by default: test clusters
/// use 127.20-219.x.x, so this never clashes with them.
pub const DEFAULT_FIRST_IP: Ipv4Addr = Ipv4Addr::new(127, 250, 0, 1);
/// The port range each simulated agent offers: a node's default.
pub const PORTS: (u16, u16) = (31000, 32000);
/// How often the simulation prints its status line on stderr.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);
/// The attribute every simulated agent registers with (`simulated=true`),
/// so frameworks and people can tell them from real machines.
pub const SIM_ATTRIBUTE: &str = "simulated";
/// Open files each agent may need: its listener, the leader's connection
/// to it, and some slack for a new leader's.
const FILES_PER_AGENT: u64 = 4;

/// What `corral sim-agents` was asked for.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub count: u32,
    /// Master API addresses (`ip:port`) to register with.
    pub servers: Vec<String>,
    /// Address of agent 0; agent i gets `first_ip + i`.
    pub first_ip: Ipv4Addr,
    /// Agent API port, on every agent's own address.
    pub port: u16,
    /// What each agent offers.
    pub resources: Resources,
    pub heartbeat_ms: u64,
}

/// Why the simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Bad flags (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error("cannot listen on {addr}: {source}; is another simulation or node using it?")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// The `count` consecutive addresses from `first`, all inside 127.0.0.0/8.
pub fn addresses(first: Ipv4Addr, count: u32) -> Result<Vec<Ipv4Addr>, String> {
    if count == 0 {
        return Err("--count must be at least 1".into());
    }
    if first.octets()[0] != 127 {
        return Err(format!(
            "--first-ip {first} is not a loopback address: simulated agents live in 127.0.0.0/8"
        ));
    }
    let start = u32::from(first);
    let last = start
        .checked_add(count - 1)
        .map(Ipv4Addr::from)
        .filter(|a| a.octets()[0] == 127)
        .ok_or_else(|| {
            format!(
                "{count} agents from {first} would leave 127.0.0.0/8; lower --first-ip or --count"
            )
        })?;
    Ok((start..=u32::from(last)).map(Ipv4Addr::from).collect())
}

/// Agent `index`'s machine id, 32 hex digits as [`crate::identity`] makes
/// them: the index (8 digits, so short ids differ), the first address (8),
/// then 16 zeros, which mark the id as simulated. Derived, so a restarted
/// simulation registers the same machines again.
pub fn machine_id(first: Ipv4Addr, index: u32) -> MachineId {
    MachineId(format!("{index:08x}{:08x}{:016x}", u32::from(first), 0))
}

/// What agent `index` (at `ip`) registers.
pub fn registration(cfg: &SimConfig, index: u32, ip: Ipv4Addr) -> AgentRegistration {
    AgentRegistration {
        id: machine_id(cfg.first_ip, index),
        hostname: format!("sim-{}", index + 1),
        ip: ip.to_string(),
        agent_port: cfg.port,
        resources: cfg.resources.clone(),
        attributes: BTreeMap::from([(SIM_ATTRIBUTE.to_string(), "true".to_string())]),
        server_id: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// A simulated task: it "runs" from its launch until it is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    Killed,
}

/// What a simulated agent does with one leader command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Acknowledge only (a ping).
    Ack,
    /// Acknowledge and register again at once (the leader asked).
    Reregister,
    /// Acknowledge, naming the tasks refused, and report the others' new
    /// states to the leader.
    Tasks {
        reports: Vec<(String, &'static str)>,
        refused: Vec<TaskRefusal>,
    },
    /// Refuse with this HTTP status and error, as the real agent would.
    Refuse { status: u16, error: ApiError },
}

fn refusal(status: u16, code: &str, message: String, field: Option<&str>) -> Action {
    Action::Refuse {
        status,
        error: ApiError {
            code: code.to_string(),
            message,
            field: field.map(str::to_string),
        },
    }
}

/// Decides what the command in `env` does to an agent with `fence` and
/// `tasks`: the real agent's rules (refuse an older epoch with 409; in a
/// launch or kill, refuse a task id that already ran here, or a kill of an
/// unknown task, by name in the answer),
/// with no process behind them.
pub fn decide(
    fence: &mut Fence,
    tasks: &mut HashMap<String, Phase>,
    env: AgentCommandEnvelope,
) -> Action {
    if let Err(stale) = fence.observe_and_persist(env.epoch) {
        return refusal(409, "stale_epoch", stale.to_string(), Some("epoch"));
    }
    match env.command {
        AgentCommand::Ping => Action::Ack,
        AgentCommand::Reregister => Action::Reregister,
        AgentCommand::LaunchTasks { tasks: launches } => {
            let mut reports = Vec::new();
            let mut refused = Vec::new();
            for task in launches {
                if tasks.contains_key(&task.id) {
                    refused.push(TaskRefusal {
                        message: format!("task {} already ran on this machine", task.id),
                        id: task.id,
                        code: "duplicate_task".into(),
                        field: Some("task.id".into()),
                    });
                    continue;
                }
                tasks.insert(task.id.clone(), Phase::Running);
                reports.push((task.id, "TASK_RUNNING"));
            }
            Action::Tasks { reports, refused }
        }
        AgentCommand::KillTasks { ids, .. } => {
            let mut reports = Vec::new();
            let mut refused = Vec::new();
            for id in ids {
                match tasks.get_mut(&id) {
                    None => refused.push(TaskRefusal {
                        message: format!("no task {id} on this machine"),
                        id,
                        code: "unknown_task".into(),
                        field: Some("id".into()),
                    }),
                    Some(Phase::Killed) => {}
                    Some(p @ Phase::Running) => {
                        *p = Phase::Killed;
                        reports.push((id, "TASK_KILLED"));
                    }
                }
            }
            Action::Tasks { reports, refused }
        }
    }
}

/// Counters of the whole simulation, for its status line.
#[derive(Debug, Default)]
pub struct Counters {
    pub launched: AtomicU64,
    pub killed: AtomicU64,
    /// Reports the leader recorded.
    pub reported: AtomicU64,
    /// Reports the leader refused (a task it does not know here).
    pub refused: AtomicU64,
    /// Deliveries that failed and were tried again.
    pub retries: AtomicU64,
    /// Unit sets the leader took (`POST /v1/agents/units`).
    pub unit_reports: AtomicU64,
}

/// The status line: `sim-agents: 1000 agents, 998 registered, ...`.
pub fn status_line(agents: usize, registered: usize, c: &Counters) -> String {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (launched, killed) = (get(&c.launched), get(&c.killed));
    let done = get(&c.reported) + get(&c.refused);
    format!(
        "sim-agents: {agents} agents, {registered} registered; tasks launched {launched}, killed {killed}; reports recorded {}, refused {}, pending {}, retries {}; unit sets reported {}",
        get(&c.reported),
        get(&c.refused),
        (launched + killed).saturating_sub(done),
        get(&c.retries),
        get(&c.unit_reports),
    )
}

/// One simulated agent.
pub struct SimAgent {
    registration: AgentRegistration,
    fence: Mutex<Fence>,
    leader_id: Mutex<Option<u64>>,
    registered: AtomicBool,
    reregister: Notify,
    tasks: Mutex<HashMap<String, Phase>>,
    /// This agent's report loop.
    reports: mpsc::UnboundedSender<TaskStatusReport>,
    /// The units this machine has, as last answered; its unit report loop
    /// sends each new set.
    units: watch::Sender<Vec<UnitStatus>>,
    counters: Arc<Counters>,
}

impl Linked for SimAgent {
    fn registration(&self) -> &AgentRegistration {
        &self.registration
    }
    fn fence(&self) -> MutexGuard<'_, Fence> {
        self.fence.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn set_leader(&self, leader_id: u64) {
        *self.leader_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(leader_id);
    }
    fn set_registered(&self, registered: bool) {
        self.registered.store(registered, Ordering::SeqCst);
    }
    fn reregister(&self) -> &Notify {
        &self.reregister
    }
}

impl SimAgent {
    fn report(&self, task: String, state: &'static str) {
        let counter = match state {
            "TASK_KILLED" => &self.counters.killed,
            _ => &self.counters.launched,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let report = TaskStatusReport {
            agent_id: self.registration.id.0.clone(),
            task_id: task,
            state: state.to_string(),
            reason: None,
            message: Some("simulated agent: no process runs".into()),
        };
        // The report loop lives as long as the agent.
        let _ = self.reports.send(report);
    }
}

fn router(agent: Arc<SimAgent>) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/v1/agent/command", post(command))
        .route("/v1/agent/units", axum::routing::put(units))
        .with_state(agent)
}

/// What a simulated agent reports for a desired set of units: every
/// launched unit active/running and every loaded one inactive/dead, at
/// once (nothing runs). A unit in the same state as in `before` keeps its
/// `since_ms`, so an unchanged set reports the same.
pub fn unit_states(desired: &UnitsDesired, now_ms: u64, before: &[UnitStatus]) -> Vec<UnitStatus> {
    let mut out: Vec<UnitStatus> = desired
        .units
        .iter()
        .map(|u| {
            let (active, sub) = match u.target {
                UnitTarget::Launched => ("active", "running"),
                UnitTarget::Loaded => ("inactive", "dead"),
            };
            let since_ms = before
                .iter()
                .find(|b| b.name == u.name && b.hash == u.hash && b.active_state == active)
                .map_or(now_ms, |b| b.since_ms);
            UnitStatus {
                name: u.name.clone(),
                hash: u.hash.clone(),
                load_state: "loaded".into(),
                active_state: active.into(),
                sub_state: sub.into(),
                main_pid: None,
                since_ms,
                result: Some("success".into()),
                restarts: 0,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `PUT /v1/agent/units`: fenced by epoch like a command; answered with
/// [`unit_states`], which the unit report loop sends when they changed.
async fn units(State(a): State<Arc<SimAgent>>, body: Bytes) -> Response {
    let action = match serde_json::from_slice::<UnitsDesired>(&body) {
        Ok(desired) => match Linked::fence(&*a).observe_and_persist(desired.epoch) {
            Ok(()) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let mut states = Vec::new();
                a.units.send_if_modified(|have| {
                    states = unit_states(&desired, now, have);
                    if *have == states {
                        return false;
                    }
                    have.clone_from(&states);
                    true
                });
                return Json(states).into_response();
            }
            Err(stale) => refusal(409, "stale_epoch", stale.to_string(), Some("epoch")),
        },
        Err(e) => refusal(
            400,
            "bad_request",
            format!("invalid desired units: {e}"),
            None,
        ),
    };
    match action {
        Action::Refuse { status, error } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(error)).into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// `POST /v1/agent/command`: answered at once; reports go out behind it.
async fn command(State(a): State<Arc<SimAgent>>, body: Bytes) -> Response {
    let action = match serde_json::from_slice::<AgentCommandEnvelope>(&body) {
        Ok(env) => {
            let mut fence = Linked::fence(&*a);
            let mut tasks = a.tasks.lock().unwrap_or_else(|p| p.into_inner());
            decide(&mut fence, &mut tasks, env)
        }
        Err(e) => refusal(400, "bad_request", format!("invalid command: {e}"), None),
    };
    let mut refused = Vec::new();
    match action {
        Action::Ack => {}
        Action::Reregister => a.reregister.notify_one(),
        Action::Tasks {
            reports,
            refused: r,
        } => {
            for (task, state) in reports {
                a.report(task, state);
            }
            refused = r;
        }
        Action::Refuse { status, error } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, Json(error)).into_response();
        }
    }
    let epoch = Linked::fence(&*a).epoch();
    Json(AgentCommandAck { epoch, refused }).into_response()
}

/// Delivers an agent's reports in order, as the real reporter does: what
/// queued up goes in one call (at most [`MAX_STATUS_BATCH`]), retried
/// while no leader answers, until the leader has it.
async fn report_loop(
    client: Arc<Client>,
    mut rx: mpsc::UnboundedReceiver<TaskStatusReport>,
    counters: Arc<Counters>,
) {
    while let Some(first) = rx.recv().await {
        let mut reports = vec![first];
        while reports.len() < MAX_STATUS_BATCH {
            match rx.try_recv() {
                Ok(r) => reports.push(r),
                Err(_) => break,
            }
        }
        let mut pause = Duration::from_millis(50);
        loop {
            match reporter::send_batch(&client, reports.clone()).await {
                Ok(answers) => {
                    let recorded = answers.iter().filter(|r| **r).count() as u64;
                    counters.reported.fetch_add(recorded, Ordering::Relaxed);
                    counters
                        .refused
                        .fetch_add(reports.len() as u64 - recorded, Ordering::Relaxed);
                    break;
                }
                Err(ClientError::Rejected {
                    status: 400..=499, ..
                }) => {
                    counters
                        .refused
                        .fetch_add(reports.len() as u64, Ordering::Relaxed);
                    break;
                }
                Err(_) => {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// Sends the machine's unit set to the leader each time it changes, until
/// the leader has it (retrying while no leader answers); a newer set
/// replaces one not yet delivered.
async fn unit_report_loop(
    client: Arc<Client>,
    machine: String,
    mut units: watch::Receiver<Vec<UnitStatus>>,
    counters: Arc<Counters>,
) {
    while units.changed().await.is_ok() {
        let report = UnitsReport {
            machine: machine.clone(),
            units: units.borrow_and_update().clone(),
        };
        let mut pause = Duration::from_millis(50);
        loop {
            let sent = client
                .call::<_, serde_json::Value>(Method::POST, "/v1/agents/units", Some(&report))
                .await;
            match sent {
                Ok(_) => {
                    counters.unit_reports.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                // Refused as bad input: sending it again changes nothing.
                Err(ClientError::Rejected {
                    status: 400..=499, ..
                }) => break,
                Err(_) => {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    if units.has_changed().unwrap_or(true) {
                        break;
                    }
                }
            }
        }
    }
}

/// Runs the simulation until SIGTERM or Ctrl-C.
pub fn run(cfg: SimConfig) -> Result<(), SimError> {
    let ips = addresses(cfg.first_ip, cfg.count).map_err(SimError::Usage)?;
    if cfg.servers.iter().all(|s| s.trim().is_empty()) {
        return Err(SimError::Usage(
            "--servers is empty; give IP:PORT of the cluster's servers".into(),
        ));
    }
    ensure_open_files(u64::from(cfg.count) * FILES_PER_AGENT + 256)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SimError::Setup(format!("tokio runtime: {e}")))?;
    rt.block_on(simulate(cfg, ips))
}

async fn simulate(cfg: SimConfig, ips: Vec<Ipv4Addr>) -> Result<(), SimError> {
    // Every listener first: a clash fails before anything registers.
    let mut listeners = Vec::with_capacity(ips.len());
    for ip in &ips {
        let addr = format!("{ip}:{}", cfg.port);
        let l = corral_api::listener::listen(&addr)
            .map_err(|source| SimError::Bind { addr, source })?;
        listeners.push(l);
    }
    let counters = Arc::new(Counters::default());
    let report_client = Arc::new(reporter::client(cfg.servers.clone()));
    let every = link::heartbeat_every(cfg.heartbeat_ms);
    let link_client = Arc::new(link::client(cfg.servers.clone(), every));
    let count = ips.len() as u32;
    let mut agents = Vec::with_capacity(ips.len());
    for (i, (ip, listener)) in ips.iter().zip(listeners).enumerate() {
        let (reports, rx) = mpsc::unbounded_channel();
        tokio::spawn(report_loop(report_client.clone(), rx, counters.clone()));
        let registration = registration(&cfg, i as u32, *ip);
        let (units, units_rx) = watch::channel(Vec::new());
        tokio::spawn(unit_report_loop(
            report_client.clone(),
            registration.id.0.clone(),
            units_rx,
            counters.clone(),
        ));
        let agent = Arc::new(SimAgent {
            registration,
            fence: Mutex::new(Fence::in_memory(0)),
            leader_id: Mutex::new(None),
            registered: AtomicBool::new(false),
            reregister: Notify::new(),
            tasks: Mutex::new(HashMap::new()),
            reports,
            units,
            counters: counters.clone(),
        });
        let app = router(agent.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("sim-agents: an agent API stopped: {e}");
            }
        });
        // First registrations (and so the heartbeats) spread over one interval.
        let start_in = every * i as u32 / count;
        let (a, client) = (agent.clone(), link_client.clone());
        tokio::spawn(async move {
            tokio::time::sleep(start_in).await;
            link::keep_linked(&*a, &client, every).await
        });
        agents.push(agent);
    }
    eprintln!(
        "sim-agents: {count} simulated agents on {}..{} port {}, registering with {}",
        ips[0],
        ips[ips.len() - 1],
        cfg.port,
        cfg.servers.join(",")
    );
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(STATUS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let registered = agents.iter().filter(|a| a.registered.load(Ordering::Relaxed)).count();
                eprintln!("{}", status_line(agents.len(), registered, &counters));
            }
            why = &mut stop => {
                eprintln!("sim-agents: {why}; stopping");
                return Ok(());
            }
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted",
            _ = term.recv() => "terminated",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "interrupted"
        }
    }
}

/// Raises the soft limit on open files to `needed` when it is lower (up to
/// the hard limit); fails when even the hard limit is too low.
fn ensure_open_files(needed: libc::rlim_t) -> Result<(), SimError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(()); // Unknown: binding will say if it is too low.
    }
    if lim.rlim_cur >= needed {
        return Ok(());
    }
    if lim.rlim_max < needed {
        return Err(SimError::Usage(format!(
            "this many agents need about {needed} open files, more than the hard limit {} (ulimit -Hn); lower --count",
            lim.rlim_max
        )));
    }
    lim.rlim_cur = needed;
    // SAFETY: setrlimit reads the rlimit we pass; the soft limit stays under the hard one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(SimError::Setup(format!(
            "cannot raise the open-file limit to {needed}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use corral_api::native::TaskLaunch;

    use super::*;

    #[test]
    fn units_are_reported_at_their_target_at_once() {
        use corral_api::units::UnitRun;
        let unit = |name: &str, target| UnitRun {
            name: name.into(),
            hash: "h".into(),
            options: Vec::new(),
            target,
        };
        let desired = UnitsDesired {
            epoch: 2,
            units: vec![
                unit("web.service", UnitTarget::Launched),
                unit("db.service", UnitTarget::Loaded),
            ],
        };
        let show = |states: &[UnitStatus]| -> Vec<String> {
            states
                .iter()
                .map(|s| {
                    format!(
                        "{} {}/{} {}",
                        s.name, s.active_state, s.sub_state, s.since_ms
                    )
                })
                .collect()
        };
        let first = unit_states(&desired, 7, &[]);
        assert_eq!(
            show(&first),
            ["db.service inactive/dead 7", "web.service active/running 7"]
        );
        // The same set later reports the same; a unit whose target or
        // file changed starts a new state.
        assert_eq!(unit_states(&desired, 9, &first), first);
        let mut changed = desired.clone();
        changed.units[0].hash = "h2".into();
        changed.units[1].target = UnitTarget::Launched;
        changed
            .units
            .push(unit("new.service", UnitTarget::Launched));
        assert_eq!(
            show(&unit_states(&changed, 9, &first)),
            [
                "db.service active/running 9",
                "new.service active/running 9",
                "web.service active/running 9"
            ]
        );
    }

    #[test]
    fn consecutive_loopback_addresses() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let ok = |first: &str, count: u32| -> Vec<String> {
            addresses(ip(first), count)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(ok("127.250.0.1", 1), ["127.250.0.1"]);
        assert_eq!(
            ok("127.250.0.254", 4),
            [
                "127.250.0.254",
                "127.250.0.255",
                "127.250.1.0",
                "127.250.1.1"
            ]
        );
        let thousand = addresses(DEFAULT_FIRST_IP, 1000).unwrap();
        assert_eq!(thousand.len(), 1000);
        assert_eq!(thousand[999], ip("127.250.3.232"));
        assert_eq!(ok("127.255.255.254", 2).len(), 2);
        let err = |first: &str, count: u32| addresses(ip(first), count).unwrap_err();
        assert!(err("127.255.255.255", 2).contains("leave 127.0.0.0/8"));
        assert!(err("10.0.0.1", 1).contains("not a loopback"));
        assert!(err("127.0.0.1", 0).contains("at least 1"));
    }

    #[test]
    fn machine_ids() {
        let first = DEFAULT_FIRST_IP;
        assert_eq!(machine_id(first, 0).0, "000000007ffa00010000000000000000");
        assert_eq!(machine_id(first, 999).0, "000003e77ffa00010000000000000000");
        for i in [0, 1, 999, u32::MAX] {
            assert!(MachineId::is_valid(&machine_id(first, i).0), "{i}");
        }
        assert_ne!(
            machine_id(first, 3),
            machine_id(Ipv4Addr::new(127, 251, 0, 1), 3),
            "another simulation's agents are other machines"
        );
        let cfg = SimConfig {
            count: 2,
            servers: vec!["127.0.0.1:5050".into()],
            first_ip: first,
            port: 5051,
            resources: Resources::default(),
            heartbeat_ms: 1000,
        };
        let r = registration(&cfg, 1, Ipv4Addr::new(127, 250, 0, 2));
        assert_eq!(
            (r.hostname.as_str(), r.ip.as_str(), r.agent_port),
            ("sim-2", "127.250.0.2", 5051)
        );
        assert_eq!(r.attributes[SIM_ATTRIBUTE], "true");
    }

    fn env(epoch: u64, command: AgentCommand) -> AgentCommandEnvelope {
        AgentCommandEnvelope {
            epoch,
            leader_id: 1,
            command,
        }
    }

    fn launch(id: &str) -> AgentCommand {
        // From JSON, as a leader sends it (and whatever fields it gains).
        let task: TaskLaunch =
            serde_json::from_value(serde_json::json!({"id": id, "command": "sleep 3600"})).unwrap();
        AgentCommand::LaunchTasks { tasks: vec![task] }
    }

    fn kill(id: &str) -> AgentCommand {
        AgentCommand::KillTasks {
            ids: vec![id.into()],
            grace_ms: 3000,
        }
    }

    /// Runs the commands in order on one agent; each outcome as text.
    fn check(commands: Vec<(u64, AgentCommand)>, want: &[&str]) {
        let mut fence = Fence::in_memory(0);
        let mut tasks = HashMap::new();
        let got: Vec<String> = commands
            .into_iter()
            .map(
                |(epoch, c)| match decide(&mut fence, &mut tasks, env(epoch, c)) {
                    Action::Ack => "ack".to_string(),
                    Action::Reregister => "reregister".to_string(),
                    Action::Tasks { reports, refused }
                        if reports.is_empty() && refused.is_empty() =>
                    {
                        "ack".to_string()
                    }
                    Action::Tasks { reports, refused } => reports
                        .iter()
                        .map(|(task, state)| format!("report {task} {state}"))
                        .chain(
                            refused
                                .iter()
                                .map(|r| format!("refused {} {}", r.id, r.code)),
                        )
                        .collect::<Vec<_>>()
                        .join(", "),
                    Action::Refuse { status, error } => format!(
                        "{status} {} {}",
                        error.code,
                        error.field.unwrap_or_default()
                    ),
                },
            )
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn commands() {
        check(
            vec![
                (2, AgentCommand::Ping),
                (2, launch("t1")),
                (2, launch("t1")),
                (3, kill("t1")),
                (3, kill("t1")),
                (3, kill("nope")),
                (3, AgentCommand::Reregister),
            ],
            &[
                "ack",
                "report t1 TASK_RUNNING",
                "refused t1 duplicate_task",
                "report t1 TASK_KILLED",
                "ack",
                "refused nope unknown_task",
                "reregister",
            ],
        );
        // A deposed leader is refused, whatever it asks; a killed task's
        // id cannot run again here.
        check(
            vec![
                (5, launch("t1")),
                (4, kill("t1")),
                (4, launch("t2")),
                (5, kill("t1")),
                (6, launch("t1")),
            ],
            &[
                "report t1 TASK_RUNNING",
                "409 stale_epoch epoch",
                "409 stale_epoch epoch",
                "report t1 TASK_KILLED",
                "refused t1 duplicate_task",
            ],
        );
    }

    #[test]
    fn status() {
        let c = Counters::default();
        c.launched.store(10, Ordering::Relaxed);
        c.killed.store(2, Ordering::Relaxed);
        c.reported.store(9, Ordering::Relaxed);
        c.refused.store(1, Ordering::Relaxed);
        assert_eq!(
            status_line(20, 19, &c),
            "sim-agents: 20 agents, 19 registered; tasks launched 10, killed 2; reports recorded 9, refused 1, pending 2, retries 0; unit sets reported 0"
        );
    }
}
