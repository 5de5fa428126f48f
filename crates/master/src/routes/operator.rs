//! `POST /api/v1` (Mesos's path) and `POST /api/v1/operator` (pymesos's):
//! the Mesos v1 operator API, JSON only. The read calls (GET_HEALTH,
//! GET_VERSION, GET_MASTER, GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS,
//! GET_TASKS, GET_STATE) are answered from the replicated state, converted
//! here by hand; every other Mesos call answers 501, anything else 400.
//! Leader-only: a follower answers 307 to the leader (503 while none is
//! known), and reads of the state pass a read barrier first. Never writes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::mesos::MESOS_COMPAT_VERSION;
use corral_api::mesos_operator::{
    self as op, Call, CallType, GetAgents, GetExecutors, GetFrameworks, GetHealth, GetMaster,
    GetState, GetTasks, GetVersion, TimeInfo,
};
use corral_api::mesos_v1::{self, Capability, Event, Id, Resource, TaskStatus};
use corral_api::native::ApiError;
use corral_core::{AgentStatus, FrameworkId, TaskState};

use crate::context::MasterCtx;
use crate::error::Failure;
use crate::redirect::require_leader;
use crate::routes::mesos::version_doc;
use crate::routes::scheduler::master_info;
use crate::scheduler::tasks::update_event;

/// One operator call: its answer document, or a JSON refusal.
pub async fn call(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match answer(&ctx, &uri, &headers, &body).await {
        Ok(doc) => Json(doc).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// Why a call got no answer.
#[derive(Debug)]
enum Refusal {
    /// The master's usual failures: 307 to the leader, 400, 503.
    Failure(Failure),
    /// 406, 415 or 501, which [`Failure`] has no variant for; as an
    /// `ApiError` naming the header or field to blame.
    Status {
        status: StatusCode,
        code: &'static str,
        message: String,
        field: &'static str,
    },
}

impl From<Failure> for Refusal {
    fn from(f: Failure) -> Refusal {
        Refusal::Failure(f)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Failure(f) => f.into_response(),
            Refusal::Status {
                status,
                code,
                message,
                field,
            } => {
                let body = ApiError {
                    code: code.to_string(),
                    message,
                    field: Some(field.to_string()),
                };
                (status, Json(body)).into_response()
            }
        }
    }
}

async fn answer(
    ctx: &MasterCtx,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<op::Response, Refusal> {
    require_leader(ctx, uri)?;
    check_media(headers)?;
    let call: Call = serde_json::from_slice(body).map_err(|e| {
        Failure::bad(
            "type",
            format!("send a Mesos operator call such as {{\"type\":\"GET_STATE\"}}: {e}"),
        )
    })?;
    let doc = match call.kind {
        CallType::GetHealth => op::Response::GetHealth {
            get_health: GetHealth { healthy: true },
        },
        CallType::GetVersion => op::Response::GetVersion {
            get_version: GetVersion {
                version_info: version_doc(),
            },
        },
        CallType::GetMaster => op::Response::GetMaster {
            get_master: GetMaster {
                master_info: master_info(ctx),
            },
        },
        CallType::GetAgents => op::Response::GetAgents {
            get_agents: read(ctx, uri, get_agents).await?,
        },
        CallType::GetFrameworks => {
            let connected = ctx.streams.subscribed();
            op::Response::GetFrameworks {
                get_frameworks: read(ctx, uri, |s| get_frameworks(s, &connected)).await?,
            }
        }
        CallType::GetExecutors => op::Response::GetExecutors {
            get_executors: GetExecutors::default(),
        },
        CallType::GetTasks => op::Response::GetTasks {
            get_tasks: read(ctx, uri, get_tasks).await?,
        },
        CallType::GetState => {
            let connected = ctx.streams.subscribed();
            op::Response::GetState {
                get_state: read(ctx, uri, |s| GetState {
                    get_tasks: get_tasks(s),
                    get_executors: GetExecutors::default(),
                    get_frameworks: get_frameworks(s, &connected),
                    get_agents: get_agents(s),
                })
                .await?,
            }
        }
        other => {
            return Err(Refusal::Status {
                status: StatusCode::NOT_IMPLEMENTED,
                code: "not_implemented",
                message: format!(
                    "the operator call {} is not supported by corral; it serves GET_HEALTH, \
                     GET_VERSION, GET_MASTER, GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS, \
                     GET_TASKS and GET_STATE",
                    other.name()
                ),
                field: "type",
            })
        }
    };
    Ok(doc)
}

/// JSON in (`Content-Type`, required as in Mesos) and JSON out (`Accept`,
/// when given).
fn check_media(headers: &HeaderMap) -> Result<(), Refusal> {
    let get = |h| headers.get(h).and_then(|v| v.to_str().ok());
    match get(header::CONTENT_TYPE) {
        None => {
            return Err(Failure::bad(
                "Content-Type",
                "send the call with Content-Type: application/json",
            )
            .into())
        }
        Some(ct) if !ct.starts_with("application/json") => {
            return Err(Refusal::Status {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: format!("Content-Type {ct:?} is not supported; send application/json"),
                field: "Content-Type",
            })
        }
        Some(_) => {}
    }
    match get(header::ACCEPT) {
        Some(accept)
            if !["application/json", "application/*", "*/*"]
                .iter()
                .any(|t| accept.contains(t)) =>
        {
            Err(Refusal::Status {
                status: StatusCode::NOT_ACCEPTABLE,
                code: "not_acceptable",
                message: format!("Accept {accept:?} is not served; accept application/json"),
                field: "Accept",
            })
        }
        _ => Ok(()),
    }
}

/// Reads the state after a read barrier, so a deposed leader never answers
/// from what it last knew.
async fn read<T>(
    ctx: &MasterCtx,
    uri: &Uri,
    f: impl FnOnce(&corral_core::State) -> T,
) -> Result<T, Refusal> {
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    ctx.store
        .linearizable_barrier()
        .await
        .map_err(|e| Failure::from_write(e, pq))?;
    Ok(ctx.store.read(f))
}

/// Resources as Mesos lists them: no empty scalars.
fn resources(r: &corral_core::Resources) -> Vec<Resource> {
    mesos_v1::resources(r)
        .into_iter()
        .filter(|x| x.scalar.as_ref().is_none_or(|s| s.value > 0.0))
        .collect()
}

fn id(value: &str) -> Id {
    Id {
        value: value.to_string(),
    }
}

/// Mesos's optional re-registration time: only when it differs.
fn reregistered(registered_ms: u64, reregistered_ms: u64) -> Option<TimeInfo> {
    (reregistered_ms != registered_ms).then(|| TimeInfo::from_ms(reregistered_ms))
}

fn get_agents(s: &corral_core::State) -> GetAgents {
    let agents = s
        .agents
        .values()
        .map(|a| {
            let info = &a.info;
            op::Agent {
                agent_info: op::AgentInfo {
                    id: id(&info.id.0),
                    // The address frameworks reach it on, as in offers and /master/state.
                    hostname: info.ip.clone(),
                    port: info.agent_port,
                    resources: resources(&info.resources),
                    attributes: mesos_v1::attributes(&info.attributes),
                },
                active: a.status == AgentStatus::Active,
                version: MESOS_COMPAT_VERSION.to_string(),
                pid: format!("slave(1)@{}:{}", info.ip, info.agent_port),
                registered_time: TimeInfo::from_ms(a.registered_at_ms),
                reregistered_time: reregistered(a.registered_at_ms, a.reregistered_at_ms),
                total_resources: resources(&info.resources),
                allocated_resources: resources(&s.used_on_agent(&info.id)),
                offered_resources: vec![],
            }
        })
        .collect();
    GetAgents {
        agents,
        recovered_agents: vec![],
    }
}

fn framework_info(f: &corral_core::Framework) -> mesos_v1::FrameworkInfo {
    let i = &f.info;
    mesos_v1::FrameworkInfo {
        user: i.user.clone(),
        name: i.name.clone(),
        id: Some(id(&f.id.0)),
        role: i.roles.first().cloned(),
        roles: i.roles.clone(),
        failover_timeout: Some(i.failover_timeout_ms as f64 / 1000.0),
        checkpoint: Some(i.checkpoint),
        hostname: Some(i.hostname.clone()),
        webui_url: Some(i.webui_url.clone()),
        principal: i.principal.clone(),
        capabilities: i
            .capabilities
            .iter()
            .map(|c| Capability { kind: c.clone() })
            .collect(),
    }
}

/// Frameworks, split as `/master/frameworks` splits them; `connected` are
/// those with an open scheduler stream.
fn get_frameworks(s: &corral_core::State, connected: &[FrameworkId]) -> GetFrameworks {
    let (mut live, mut done) = (Vec::new(), Vec::new());
    for f in s.frameworks.values() {
        let connected = connected.contains(&f.id);
        let doc = op::Framework {
            framework_info: framework_info(f),
            active: f.is_active() && connected,
            connected,
            recovered: false,
            registered_time: TimeInfo::from_ms(f.registered_at_ms),
            reregistered_time: reregistered(f.registered_at_ms, f.reregistered_at_ms),
            unregistered_time: f.removed_at_ms.map(TimeInfo::from_ms),
            allocated_resources: resources(&s.allocated_to(&f.id)),
            offered_resources: vec![],
        };
        if f.is_active() {
            live.push(doc);
        } else {
            done.push(doc);
        }
    }
    GetFrameworks {
        frameworks: live,
        completed_frameworks: done,
    }
}

fn task(t: &corral_core::Task) -> op::Task {
    // Each recorded status as its UPDATE carried it.
    let status = |st: &corral_core::StatusRecord| -> Option<TaskStatus> {
        match update_event(&t.spec.id, Some(&t.agent), st) {
            Event::Update { update } => Some(update.status),
            _ => None,
        }
    };
    op::Task {
        name: t.spec.name.clone(),
        task_id: id(&t.spec.id.0),
        framework_id: id(&t.framework.0),
        agent_id: id(&t.agent.0),
        state: t.state.mesos_name().to_string(),
        resources: resources(&t.spec.resources),
        statuses: t.statuses.iter().filter_map(status).collect(),
    }
}

fn get_tasks(s: &corral_core::State) -> GetTasks {
    let mut doc = GetTasks {
        pending_tasks: vec![],
        tasks: vec![],
        unreachable_tasks: vec![],
        completed_tasks: vec![],
        orphan_tasks: vec![],
    };
    for t in s.tasks.values() {
        let list = match t.state {
            TaskState::Unreachable => &mut doc.unreachable_tasks,
            st if st.is_terminal() => &mut doc.completed_tasks,
            _ => &mut doc.tasks,
        };
        list.push(task(t));
    }
    doc
}
