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

/// An agent's pending reports of task states, in one call: each committed
/// (once), then told to the task's framework; answered `true` also for
/// repeats, so the agent stops resending, `false` for a report the state
/// refuses. Reports of different tasks are
/// committed together (one log entry under load); a task's later report
/// waits for its earlier one, so each task's states apply in order.
pub async fn task_statuses(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<corral_api::native::TaskStatusBatchAck>, Failure> {
    use corral_api::native::{TaskStatusBatch, TaskStatusBatchAck, MAX_STATUS_BATCH};
    require_leader(&ctx, &uri)?;
    let batch: TaskStatusBatch = parse_json(&body)?;
    if batch.reports.len() > MAX_STATUS_BATCH {
        return Err(Failure::bad(
            "reports",
            format!(
                "{} reports in one call; send at most {MAX_STATUS_BATCH}",
                batch.reports.len()
            ),
        ));
    }
    let reports: Vec<Report> = batch
        .reports
        .into_iter()
        .enumerate()
        .map(|(i, r)| checked_report(r, &format!("reports[{i}].state")))
        .collect::<Result<_, _>>()?;
    let mut recorded = vec![false; reports.len()];
    let rounds = rounds(reports, |r| r.task.0.clone());
    let ctx: &MasterCtx = &ctx;
    for round in rounds {
        let results = futures_util::future::join_all(
            round
                .into_iter()
                .map(|(i, r)| async move { (i, record_report(ctx, r).await) }),
        )
        .await;
        for (i, ok) in results {
            recorded[i] = ok;
        }
    }
    Ok(Json(TaskStatusBatchAck { recorded }))
}

/// Splits `items` into rounds: round k holds each key's k-th item, with
/// its index in `items`. A round's items have different keys (they may
/// commit together); rounds go one after another, so each key's items
/// apply in their order.
fn rounds<T, K: std::hash::Hash + Eq>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
) -> Vec<Vec<(usize, T)>> {
    let mut rounds: Vec<Vec<(usize, T)>> = Vec::new();
    let mut seen: std::collections::HashMap<K, usize> = Default::default();
    for (i, item) in items.into_iter().enumerate() {
        let k = seen.entry(key(&item)).or_default();
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push((i, item));
        *k += 1;
    }
    rounds
}

/// A report whose state is a Mesos task state.
struct Report {
    task: corral_core::TaskId,
    agent: MachineId,
    status: corral_core::StatusRecord,
}

fn checked_report(r: corral_api::native::TaskStatusReport, field: &str) -> Result<Report, Failure> {
    let state = corral_core::TaskState::from_mesos_name(&r.state)
        .ok_or_else(|| Failure::bad(field, format!("{:?} is not a Mesos task state", r.state)))?;
    Ok(Report {
        task: corral_core::TaskId(r.task_id),
        agent: MachineId(r.agent_id),
        status: corral_core::StatusRecord {
            state,
            at_ms: now_ms(),
            reason: r.reason,
            message: r.message,
            revision: None,
        },
    })
}

/// Commits one report; whether it is recorded.
async fn record_report(ctx: &MasterCtx, r: Report) -> bool {
    let Report {
        task,
        agent,
        status,
    } = r;
    let state = status.state;
    let recorded = crate::scheduler::tasks::record(ctx, &task, Some(agent.clone()), status).await;
    // A task the cluster already gave up on (LOST while its machine was
    // away) must not keep running: nothing runs twice.
    let must_kill = ctx
        .store
        .read(|s| s.must_kill_reported(&task, &agent, state));
    if must_kill {
        tracing::warn!(%task, %agent, "a task declared lost is still running; killing it");
        let cmd = corral_api::native::AgentCommand::KillTasks {
            ids: vec![task.0.clone()],
            grace_ms: crate::scheduler::tasks::KILL_GRACE_MS,
        };
        if let Err(e) = crate::agent_link::send(ctx, &agent, cmd).await {
            tracing::warn!(%task, error = %e, "could not kill it yet; retried on its next report");
        }
    }
    recorded
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tasks_reports_go_in_successive_rounds() {
        let reports = vec![
            ("a", "RUNNING"),
            ("b", "RUNNING"),
            ("a", "FINISHED"),
            ("c", "RUNNING"),
            ("a", "KILLED"),
        ];
        let got = super::rounds(reports, |(task, _)| *task);
        let want: Vec<Vec<(usize, (&str, &str))>> = vec![
            vec![
                (0, ("a", "RUNNING")),
                (1, ("b", "RUNNING")),
                (3, ("c", "RUNNING")),
            ],
            vec![(2, ("a", "FINISHED"))],
            vec![(4, ("a", "KILLED"))],
        ];
        assert_eq!(got, want);
    }
}
