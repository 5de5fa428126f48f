//! Mesos-compatible master endpoints: `/health`, `/version`, `/redirect`,
//! `/master/state` (leader-only, as in Mesos).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::mesos::{self, MasterInfo, MasterState, Slave, MESOS_COMPAT_VERSION};
use corral_core::AgentStatus;

use crate::context::MasterCtx;
use crate::error::Failure;
use crate::redirect::require_leader;

/// `/health`: 200 with an empty body while the process serves.
pub async fn health() -> StatusCode {
    StatusCode::OK
}

pub fn version_doc() -> mesos::Version {
    mesos::Version {
        version: MESOS_COMPAT_VERSION.to_string(),
        build_date: String::new(),
        build_time: 0.0,
        build_user: "corral".into(),
        git_sha: String::new(),
        git_branch: String::new(),
        git_tag: String::new(),
        corral_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// `/version`.
pub async fn version() -> Json<mesos::Version> {
    Json(version_doc())
}

/// `/redirect`, `/master/redirect`: always 307 to `//leader:port`, also on the leader.
pub async fn redirect(State(ctx): State<Arc<MasterCtx>>) -> Response {
    match ctx.store.leader() {
        Some((_, node)) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("//{}", node.api_addr))],
        )
            .into_response(),
        None => Failure::no_leader().into_response(),
    }
}

/// Unknown paths: 404 with a JSON error.
pub async fn not_found(uri: Uri) -> Failure {
    Failure::NotFound {
        code: "not_found",
        message: format!("no such endpoint: {}", uri.path()),
    }
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// `/master/state`: leader-only; followers redirect.
pub async fn state(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
) -> Result<Json<MasterState>, Failure> {
    require_leader(&ctx, &uri)?;
    Ok(Json(master_state(&ctx)))
}

/// `/master/frameworks`: leader-only.
pub async fn frameworks(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, Failure> {
    require_leader(&ctx, &uri)?;
    let s = master_state(&ctx);
    Ok(Json(serde_json::json!({
        "frameworks": s.frameworks,
        "completed_frameworks": s.completed_frameworks,
        "unregistered_frameworks": [],
    })))
}

/// `/master/slaves`: leader-only.
pub async fn slaves(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, Failure> {
    require_leader(&ctx, &uri)?;
    Ok(Json(
        serde_json::json!({ "slaves": master_state(&ctx).slaves, "recovered_slaves": [] }),
    ))
}

/// `/master/tasks`: leader-only; every task, live and completed.
pub async fn tasks(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, Failure> {
    require_leader(&ctx, &uri)?;
    let s = master_state(&ctx);
    let mut tasks = Vec::new();
    for f in s.frameworks.iter().chain(&s.completed_frameworks) {
        for key in ["tasks", "completed_tasks"] {
            tasks.extend(f[key].as_array().cloned().unwrap_or_default());
        }
    }
    Ok(Json(serde_json::json!({ "tasks": tasks })))
}

/// The Mesos `/master/state` document.
fn master_state(ctx: &MasterCtx) -> MasterState {
    let leader = ctx.store.leader();
    let slaves: Vec<Slave> = ctx.store.read(|s| {
        s.agents
            .values()
            .map(|a| {
                let r = &a.info.resources;
                let res = mesos::Resources {
                    cpus: r.cpus,
                    gpus: 0.0,
                    mem: r.mem_mb as f64,
                    disk: r.disk_mb as f64,
                    ports: Some(mesos::ports_string(&r.ports)),
                };
                Slave {
                    id: a.info.id.0.clone(),
                    hostname: a.info.ip.clone(),
                    port: a.info.agent_port,
                    attributes: a.info.attributes.clone(),
                    pid: format!("slave(1)@{}:{}", a.info.ip, a.info.agent_port),
                    registered_time: secs(a.registered_at_ms),
                    reregistered_time: (a.reregistered_at_ms != a.registered_at_ms)
                        .then(|| secs(a.reregistered_at_ms)),
                    resources: res.clone(),
                    used_resources: mesos::Resources::default(),
                    offered_resources: mesos::Resources::default(),
                    reserved_resources: BTreeMap::new(),
                    unreserved_resources: res,
                    active: a.status == AgentStatus::Active,
                    version: mesos::MESOS_COMPAT_VERSION.to_string(),
                    capabilities: vec![],
                }
            })
            .collect()
    });
    let (frameworks, completed_frameworks) = ctx.store.read(|s| {
        let mut active = Vec::new();
        let mut completed = Vec::new();
        for f in s.frameworks.values() {
            let json = framework_json(s, f, ctx.streams.subscribed().contains(&f.id));
            if f.is_active() {
                active.push(json);
            } else {
                completed.push(json);
            }
        }
        (active, completed)
    });
    let activated = slaves.iter().filter(|s| s.active).count() as u64;
    let cfg = &ctx.cfg;
    let flags = BTreeMap::from([
        ("port".to_string(), cfg.master_port.to_string()),
        ("hostname".to_string(), cfg.ip.clone()),
        (
            "agent_ping_timeout".to_string(),
            format!("{}ms", cfg.heartbeat_ms),
        ),
        (
            "max_agent_ping_timeouts".to_string(),
            cfg.max_missed_heartbeats.to_string(),
        ),
    ]);
    let doc = MasterState {
        version: MESOS_COMPAT_VERSION.to_string(),
        git_sha: String::new(),
        git_branch: String::new(),
        build_date: String::new(),
        build_time: 0.0,
        build_user: "corral".into(),
        start_time: secs(ctx.started_at_ms),
        elected_time: ctx.elected_at_ms.lock().ok().and_then(|e| e.map(secs)),
        id: format!("corral-master-{}", cfg.server_id),
        pid: mesos::master_pid(&cfg.api_addr()),
        hostname: cfg.ip.clone(),
        capabilities: vec![],
        activated_slaves: activated,
        deactivated_slaves: slaves.len() as u64 - activated,
        unreachable_slaves: slaves.len() as u64 - activated,
        leader: leader.as_ref().map(|(_, n)| mesos::master_pid(&n.api_addr)),
        leader_info: leader.as_ref().map(|(id, n)| {
            let (host, port) = n.api_addr.rsplit_once(':').unwrap_or((&n.api_addr, "5050"));
            MasterInfo {
                id: format!("corral-master-{id}"),
                pid: mesos::master_pid(&n.api_addr),
                port: port.parse().unwrap_or(5050),
                hostname: host.to_string(),
            }
        }),
        flags,
        slaves,
        recovered_slaves: vec![],
        frameworks,
        completed_frameworks,
        orphan_tasks: vec![],
        unregistered_frameworks: vec![],
    };
    doc
}

fn resources_json(r: &corral_core::Resources) -> serde_json::Value {
    serde_json::json!({
        "cpus": r.cpus, "gpus": 0.0, "mem": r.mem_mb as f64, "disk": r.disk_mb as f64,
        "ports": mesos::ports_string(&r.ports),
    })
}

/// One framework as `/master/state` shows it, with its tasks.
fn framework_json(
    s: &corral_core::State,
    f: &corral_core::Framework,
    connected: bool,
) -> serde_json::Value {
    let (mut live, mut done) = (Vec::new(), Vec::new());
    for t in s.tasks.values().filter(|t| t.framework == f.id) {
        let json = serde_json::json!({
            "id": t.spec.id.0, "name": t.spec.name, "framework_id": f.id.0, "executor_id": "",
            "slave_id": t.agent.0, "state": t.state.mesos_name(), "resources": resources_json(&t.spec.resources),
            "role": f.info.roles.first().cloned().unwrap_or_else(|| "*".into()),
            "statuses": t.statuses.iter().map(|st| serde_json::json!({
                "state": st.state.mesos_name(), "timestamp": secs(st.at_ms),
            })).collect::<Vec<_>>(),
        });
        if t.state.is_terminal() {
            done.push(json)
        } else {
            live.push(json)
        }
    }
    serde_json::json!({
        "id": f.id.0, "name": f.info.name, "user": f.info.user, "hostname": f.info.hostname,
        "webui_url": f.info.webui_url, "active": f.is_active() && connected, "connected": connected,
        "recovered": false, "checkpoint": f.info.checkpoint,
        "failover_timeout": f.info.failover_timeout_ms as f64 / 1000.0,
        "role": f.info.roles.first().cloned().unwrap_or_else(|| "*".into()), "roles": f.info.roles,
        "capabilities": f.info.capabilities, "principal": f.info.principal,
        "registered_time": secs(f.registered_at_ms), "reregistered_time": secs(f.reregistered_at_ms),
        "unregistered_time": f.removed_at_ms.map(secs).unwrap_or(0.0),
        "used_resources": resources_json(&s.allocated_to(&f.id)), "offered_resources": resources_json(&Default::default()),
        "tasks": live, "completed_tasks": done, "unreachable_tasks": [], "offers": [], "executors": [],
    })
}

/// `POST /master/teardown` with the form body `frameworkId=ID`: removes the
/// framework and kills its tasks. Leader-only.
pub async fn teardown(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
    require_leader(&ctx, &uri)?;
    let text = String::from_utf8_lossy(&body);
    let id = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "frameworkId")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::bad("frameworkId", "send the form body frameworkId=<id>"))?;
    let fw = corral_core::FrameworkId(id);
    let known = ctx
        .store
        .read(|s| s.frameworks.get(&fw).is_some_and(|f| f.is_active()));
    if !known {
        return Err(Failure::NotFound {
            code: "unknown_framework",
            message: format!("no active framework {fw}"),
        });
    }
    crate::scheduler::tasks::remove_framework(
        &ctx,
        &fw,
        "torn down by an operator (/master/teardown)",
    )
    .await?;
    Ok(StatusCode::OK)
}
