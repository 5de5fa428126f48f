//! The agent's HTTP API on :5051: its state, health, and the command
//! endpoint leaders use — which enforces the epoch fence.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use corral_api::native::{
    ports_to_string, AgentCommand, AgentCommandAck, AgentCommandEnvelope, AgentStateView,
    AgentTaskView, ApiError, ResourcesView, TaskLaunch, TaskRefusal,
};

use crate::driver::{DriverError, Exit, Limits, TaskSpec, TaskState};
use crate::units::routes as units;
use crate::AgentShared;

pub fn router(shared: Arc<AgentShared>) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/v1/agent/state", get(state))
        .route("/state", get(mesos_state))
        .route("/state.json", get(mesos_state))
        .route("/slave(1)/state", get(mesos_state))
        .route("/v1/agent/command", post(command))
        .route("/v1/agent/tasks", get(tasks))
        .route("/v1/agent/units", get(units::list).put(units::put))
        .route("/v1/agent/units/{name}/journal", get(units::journal))
        .route("/v1/agent/check", post(crate::check::check))
        .route("/monitor/statistics", get(crate::monitor::statistics))
        .route("/monitor/statistics.json", get(crate::monitor::statistics))
        .route("/files/read", get(crate::files::read))
        .route("/files/browse", get(crate::files::browse))
        .with_state(shared)
}

fn error(status: StatusCode, code: &str, message: String, field: Option<&str>) -> Response {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message,
            field: field.map(str::to_string),
        }),
    )
        .into_response()
}

async fn state(State(s): State<Arc<AgentShared>>) -> Json<AgentStateView> {
    let r = &s.registration;
    Json(AgentStateView {
        id: r.id.0.clone(),
        hostname: r.hostname.clone(),
        ip: r.ip.clone(),
        epoch: s.fence().epoch(),
        leader_id: s.leader_id.lock().ok().and_then(|l| *l),
        registered: s.registered.load(Ordering::SeqCst),
        resources: ResourcesView {
            cpus: r.resources.cpus,
            mem_mb: r.resources.mem_mb,
            disk_mb: r.resources.disk_mb,
            ports: ports_to_string(&r.resources.ports),
        },
        metadata: r.attributes.clone(),
    })
}

/// A leader's command. Refused with 409 when its epoch is older than one
/// this agent has seen.
async fn command(State(s): State<Arc<AgentShared>>, body: Bytes) -> Response {
    let env: AgentCommandEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid command: {e}"),
                None,
            )
        }
    };
    if let Err(stale) = s.fence().observe_and_persist(env.epoch) {
        tracing::warn!(%stale, leader = env.leader_id, "refused a command from a stale leader");
        return error(
            StatusCode::CONFLICT,
            "stale_epoch",
            stale.to_string(),
            Some("epoch"),
        );
    }
    let mut refused = Vec::new();
    match env.command {
        AgentCommand::Ping => {}
        AgentCommand::Reregister => s.reregister.notify_one(),
        AgentCommand::LaunchTasks { tasks } => {
            for task in tasks {
                let id = task.id.clone();
                match launch(&s, task) {
                    Ok(()) => tracing::info!(task = %id, leader = env.leader_id, "task launched"),
                    Err(r) => refused.push(r.of(id)),
                }
            }
            s.activity.notify_one();
        }
        AgentCommand::KillTasks { ids, grace_ms } => {
            for id in ids {
                if let Err(e) = s.driver.state(&id) {
                    refused.push(Refusal::from(e).of(id));
                    continue;
                }
                // So the reporter calls the signal death TASK_KILLED, not FAILED.
                if let Ok(dir) = s.driver.sandbox(&id) {
                    let _ = crate::driver::files::touch(&dir.join(crate::reporter::KILL_REQUESTED));
                }
                let shared = s.clone();
                // Kill runs on: the answer says the kill started, not that it ended.
                tokio::spawn(async move {
                    match shared
                        .driver
                        .kill(&id, Duration::from_millis(grace_ms))
                        .await
                    {
                        Ok(exit) => tracing::info!(task = %id, ?exit, "task killed"),
                        Err(e) => tracing::warn!(task = %id, error = %e, "kill failed"),
                    }
                    shared.activity.notify_one();
                });
            }
        }
    }
    Json(AgentCommandAck {
        epoch: s.fence().epoch(),
        refused,
    })
    .into_response()
}

/// Why one task of a launch or kill is refused.
struct Refusal {
    code: &'static str,
    message: String,
    field: Option<&'static str>,
}

impl Refusal {
    fn of(self, id: String) -> TaskRefusal {
        TaskRefusal {
            id,
            code: self.code.into(),
            message: self.message,
            field: self.field.map(str::to_string),
        }
    }
}

impl From<DriverError> for Refusal {
    fn from(e: DriverError) -> Refusal {
        let (code, field) = match &e {
            DriverError::BadId(_) => ("bad_task_id", Some("task.id")),
            DriverError::Duplicate(_) => ("duplicate_task", Some("task.id")),
            DriverError::Unknown(_) => ("unknown_task", Some("id")),
            DriverError::Io(_) => ("driver", None),
        };
        Refusal {
            code,
            message: e.to_string(),
            field,
        }
    }
}

/// Starts one task of a launch.
fn launch(s: &AgentShared, task: TaskLaunch) -> Result<(), Refusal> {
    if !(task.cpus >= 0.0 && task.cpus.is_finite()) {
        return Err(Refusal {
            code: "bad_request",
            message: format!("cpus {} is not 0 (no limit) or more", task.cpus),
            field: Some("task.cpus"),
        });
    }
    let limits = Limits {
        cpus: task.cpus,
        mem_mb: task.mem_mb,
    };
    let spec = TaskSpec {
        id: task.id,
        command: task.command,
        env: task.env,
        fetch: task.fetch,
        user: task.user,
    };
    let enforce_under = s.resource_mode.cgroup_parent();
    s.driver
        .launch_limited(&spec, limits, enforce_under)
        .map_err(Refusal::from)
}

/// A driver error as an HTTP answer: the code and field of its
/// [`Refusal`], with a status to match.
fn driver_error(e: DriverError) -> Response {
    let status = match &e {
        DriverError::BadId(_) => StatusCode::BAD_REQUEST,
        DriverError::Duplicate(_) => StatusCode::CONFLICT,
        DriverError::Unknown(_) => StatusCode::NOT_FOUND,
        DriverError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let r = Refusal::from(e);
    error(status, r.code, r.message, r.field)
}

/// A driver state as the wire shows it.
pub fn task_view(id: String, state: TaskState) -> AgentTaskView {
    let mut v = AgentTaskView {
        id,
        state: String::new(),
        pid: None,
        exit_code: None,
        signal: None,
        message: None,
        sandbox: None,
    };
    match state {
        TaskState::Starting => v.state = "starting".into(),
        TaskState::Running { pid } => {
            v.state = "running".into();
            v.pid = Some(pid);
        }
        TaskState::Finished(exit) => {
            v.state = "finished".into();
            match exit {
                Exit::Exited { code } => v.exit_code = Some(code),
                Exit::Signaled { signal } => v.signal = Some(signal),
                Exit::Failed { message } => v.message = Some(message),
            }
        }
        TaskState::Lost { reason } => {
            v.state = "lost".into();
            v.message = Some(reason);
        }
    }
    v
}

/// `GET /v1/agent/tasks`: every task with a sandbox here, from the sandbox
/// files (so it is right after an agent restart too).
async fn tasks(State(s): State<Arc<AgentShared>>) -> Response {
    match s.driver.recover() {
        Ok(list) => Json(
            list.into_iter()
                .map(|(id, st)| {
                    let sandbox = s.driver.sandbox(&id).ok().map(|p| p.display().to_string());
                    AgentTaskView {
                        sandbox,
                        ..task_view(id, st)
                    }
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => driver_error(e),
    }
}

/// `/state` (and `/slave(1)/state`): the agent in Mesos's shape, with its
/// tasks and how resource limits are handled here (decided at start:
/// `cgroups-v2: ...` or `measured: <reason>`, see [`crate::cgroup`]).
async fn mesos_state(State(s): State<Arc<AgentShared>>) -> Json<serde_json::Value> {
    let r = &s.registration;
    let tasks: Vec<serde_json::Value> = s
        .driver
        .recover()
        .unwrap_or_default()
        .into_iter()
        .map(|(id, st)| serde_json::to_value(task_view(id, st)).unwrap_or_default())
        .collect();
    Json(serde_json::json!({
        "id": r.id.0,
        "pid": format!("slave(1)@{}:{}", r.ip, r.agent_port),
        "hostname": r.ip,
        "version": corral_api::mesos::MESOS_COMPAT_VERSION,
        "corral_version": r.version,
        "resources": {
            "cpus": r.resources.cpus, "mem": r.resources.mem_mb as f64,
            "disk": r.resources.disk_mb as f64, "ports": corral_api::mesos::ports_string(&r.resources.ports),
        },
        "attributes": r.attributes,
        "leader_epoch": s.fence().epoch(),
        "registered": s.registered.load(Ordering::SeqCst),
        "resource_limits": s.resource_mode.describe(),
        "tasks": tasks,
    }))
}
