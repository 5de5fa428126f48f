//! Agent registration and heartbeats (leader-only). Registration is
//! committed; heartbeats only touch the leader's memory.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use corral_api::native::{HeartbeatRequest, HeartbeatResponse, RegisterResponse};
use corral_core::{AgentRegistration, Command, MachineId, Response};

use crate::context::{now_ms, MasterCtx};
use crate::error::Failure;
use crate::liveness::heartbeat_admitted;
use crate::redirect::require_leader;
use crate::routes::body::parse_json;

/// Checks what an agent says about itself.
pub fn validate(reg: &AgentRegistration) -> Result<(), Failure> {
    if !MachineId::is_valid(&reg.id.0) {
        return Err(Failure::bad(
            "id",
            format!(
                "machine id must be 32 lowercase hex digits, got {:?}",
                reg.id.0
            ),
        ));
    }
    if reg.hostname.trim().is_empty() {
        return Err(Failure::bad("hostname", "hostname is empty"));
    }
    if reg.ip.trim().is_empty() {
        return Err(Failure::bad("ip", "ip is empty"));
    }
    if !(reg.resources.cpus.is_finite() && reg.resources.cpus >= 0.0) {
        return Err(Failure::bad("resources.cpus", "cpus must be a number >= 0"));
    }
    if reg.resources.ports.iter().any(|(a, b)| a > b) {
        return Err(Failure::bad(
            "resources.ports",
            "a port range starts after it ends",
        ));
    }
    Ok(())
}

pub async fn register(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<RegisterResponse>, Failure> {
    require_leader(&ctx, &uri)?;
    let reg: AgentRegistration = parse_json(&body)?;
    validate(&reg)?;
    let id = reg.id.clone();
    let now = now_ms();
    let resp = ctx
        .store
        .write(Command::RegisterAgent(reg), now)
        .await
        .map_err(|e| Failure::from_write(e, uri.path()))?;
    let reregistered = matches!(
        resp,
        Response::AgentRegistered {
            reregistered: true,
            ..
        }
    );
    let epoch = ctx.store.term();
    ctx.liveness().seen(&id, now);
    tracing::info!(agent = %id, epoch, reregistered, "agent registered");
    Ok(Json(RegisterResponse {
        epoch,
        leader_id: ctx.store.id(),
        reregistered,
        heartbeat_interval_ms: ctx.cfg.heartbeat_ms,
    }))
}

pub async fn heartbeat(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<HeartbeatResponse>, Failure> {
    require_leader(&ctx, &uri)?;
    let hb: HeartbeatRequest = parse_json(&body)?;
    let id = MachineId(hb.id);
    let term = ctx.store.term();
    let status = ctx.store.read(|s| s.agents.get(&id).map(|a| a.status));
    let admitted = heartbeat_admitted(status, hb.epoch, term);
    if admitted {
        ctx.liveness().seen(&id, now_ms());
    }
    Ok(Json(HeartbeatResponse {
        epoch: term,
        admitted,
    }))
}

/// An agent reports a task's state: committed (once), then told to the
/// task's framework. Answered `recorded: true` also for repeats, so the
/// agent stops resending; `false` for a report the state refuses.
pub async fn task_status(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<corral_api::native::TaskStatusAck>, Failure> {
    require_leader(&ctx, &uri)?;
    let r: corral_api::native::TaskStatusReport = parse_json(&body)?;
    let state = corral_core::TaskState::from_mesos_name(&r.state)
        .ok_or_else(|| Failure::bad("state", format!("{:?} is not a Mesos task state", r.state)))?;
    let status = corral_core::StatusRecord {
        state,
        at_ms: now_ms(),
        reason: r.reason,
        message: r.message,
        revision: None,
    };
    let task = corral_core::TaskId(r.task_id);
    let agent = MachineId(r.agent_id);
    let recorded = crate::scheduler::tasks::record(&ctx, &task, Some(agent.clone()), status).await;
    // A task the cluster already gave up on (LOST while its machine was
    // away) must not keep running: nothing runs twice.
    let must_kill = ctx
        .store
        .read(|s| s.must_kill_reported(&task, &agent, state));
    if must_kill {
        tracing::warn!(%task, %agent, "a task declared lost is still running; killing it");
        let cmd = corral_api::native::AgentCommand::KillTask {
            id: task.0.clone(),
            grace_ms: crate::scheduler::tasks::KILL_GRACE_MS,
        };
        if let Err(e) = crate::agent_link::send(&ctx, &agent, cmd).await {
            tracing::warn!(%task, error = %e, "could not kill it yet; retried on its next report");
        }
    }
    Ok(Json(corral_api::native::TaskStatusAck { recorded }))
}
