//! Task calls of the scheduler API (ACCEPT with LAUNCH, KILL, RECONCILE)
//! and the UPDATE events that tell a framework about its tasks. The checks
//! are pure (`launch::plan`); this file commits and talks to agents.

use corral_api::mesos_v1::{self, Event, Id, TaskStatus, UpdatePayload};
use corral_api::native::{AgentCommand, TaskLaunch};
use corral_core::allocator::OfferId;
use corral_core::{
    Command, FrameworkId, MachineId, Response, StatusRecord, TaskId, TaskSpec, TaskState,
};

use crate::context::{now_ms, MasterCtx};
use crate::scheduler::launch;

/// How long a killed task gets between SIGTERM and SIGKILL (Mesos: 3 s).
pub const KILL_GRACE_MS: u64 = 3_000;

/// An UPDATE event for one task.
pub fn update_event(
    task: &TaskId,
    state: TaskState,
    agent: Option<&MachineId>,
    reason: Option<String>,
    message: Option<String>,
    source: &str,
    at_ms: u64,
) -> Event {
    Event::Update {
        update: UpdatePayload {
            status: TaskStatus {
                task_id: Id {
                    value: task.0.clone(),
                },
                state: state.mesos_name().to_string(),
                source: source.to_string(),
                reason,
                message,
                agent_id: agent.map(|a| Id { value: a.0.clone() }),
                timestamp: at_ms as f64 / 1000.0,
            },
        },
    }
}

fn task_error(ctx: &MasterCtx, fw: &FrameworkId, ids: &[TaskId], message: &str) {
    for id in ids {
        let ev = update_event(
            id,
            TaskState::Error,
            None,
            Some("REASON_TASK_INVALID".into()),
            Some(message.to_string()),
            "SOURCE_MASTER",
            now_ms(),
        );
        ctx.streams.send(fw, ev);
    }
}

/// A Mesos TaskInfo as a core task spec.
fn spec(t: &mesos_v1::TaskInfo) -> Result<TaskSpec, String> {
    let resources =
        mesos_v1::to_core(&t.resources).map_err(|e| format!("task {}: {e}", t.task_id.value))?;
    let command = t
        .command
        .as_ref()
        .and_then(|c| c.value.clone())
        .unwrap_or_default();
    let env = t
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
        .map(|e| {
            e.variables
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(TaskSpec {
        id: TaskId(t.task_id.value.clone()),
        name: t.name.clone(),
        resources,
        command,
        env,
    })
}

/// ACCEPT: launches the LAUNCH operations' tasks on the offers' agent, or
/// answers each with TASK_ERROR and the reason.
pub async fn accept(
    ctx: &MasterCtx,
    fw: &FrameworkId,
    accept: mesos_v1::Accept,
) -> Result<(), String> {
    let now = now_ms();
    let ids: Vec<OfferId> = accept
        .offer_ids
        .iter()
        .map(|i| OfferId(i.value.clone()))
        .collect();
    let offers = ctx.offers().take(fw, &ids);
    let infos: Vec<&mesos_v1::TaskInfo> = accept
        .operations
        .iter()
        .filter(|op| op.kind == "LAUNCH")
        .flat_map(|op| op.launch.iter().flat_map(|l| l.task_infos.iter()))
        .collect();
    let task_ids: Vec<TaskId> = infos
        .iter()
        .map(|t| TaskId(t.task_id.value.clone()))
        .collect();
    let refuse = accept.filters.as_ref().and_then(|f| f.refuse_seconds);
    if infos.is_empty() {
        // An ACCEPT without launches declines its offers.
        let mut book = ctx.offers();
        for o in &offers {
            book.filter(fw, &o.agent, refuse, now);
        }
        return Ok(());
    }
    let specs: Result<Vec<TaskSpec>, String> = infos.iter().map(|t| spec(t)).collect();
    let plan = specs.and_then(|s| launch::plan(&offers, s).map_err(|r| r.0));
    let plan = match plan {
        Ok(p) => p,
        Err(why) => {
            task_error(ctx, fw, &task_ids, &why);
            return Ok(());
        }
    };
    if !plan.unused.is_empty() {
        ctx.offers().filter(fw, &plan.agent, refuse, now);
    }
    let cmd = Command::LaunchTasks {
        framework: fw.clone(),
        agent: plan.agent.clone(),
        tasks: plan.tasks.clone(),
    };
    match ctx.store.write(cmd, now).await {
        Ok(Response::TasksLaunched { .. }) => {}
        Ok(Response::Refused { reason }) => {
            task_error(ctx, fw, &task_ids, &reason);
            return Ok(());
        }
        Ok(other) => return Err(format!("unexpected store answer {other:?}")),
        Err(e) => return Err(e.to_string()),
    }
    let host = ctx
        .store
        .read(|s| s.agents.get(&plan.agent).map(|a| a.info.ip.clone()))
        .unwrap_or_default();
    for t in plan.tasks {
        let launch = TaskLaunch {
            id: t.id.0.clone(),
            command: t.command.clone(),
            env: launch::task_env(&t, &host),
        };
        if let Err(e) =
            crate::agent_link::send(ctx, &plan.agent, AgentCommand::LaunchTask { task: launch })
                .await
        {
            tracing::warn!(task = %t.id, error = %e, "launch did not reach the agent");
            let status = StatusRecord {
                state: TaskState::Dropped,
                at_ms: now_ms(),
                reason: Some("REASON_AGENT_UNREACHABLE".into()),
                message: Some(format!("the task was not started: {e}")),
            };
            record(ctx, &t.id, None, status).await;
        }
    }
    Ok(())
}

/// Commits a status and, when it changed the task, tells its framework.
pub async fn record(
    ctx: &MasterCtx,
    task: &TaskId,
    from_agent: Option<MachineId>,
    status: StatusRecord,
) -> bool {
    let source = if from_agent.is_some() {
        "SOURCE_AGENT"
    } else {
        "SOURCE_MASTER"
    };
    let cmd = Command::UpdateTask {
        id: task.clone(),
        from_agent,
        status: status.clone(),
    };
    match ctx.store.write(cmd, now_ms()).await {
        Ok(Response::TaskUpdated { changed }) => {
            if changed {
                let (fw, agent) = ctx
                    .store
                    .read(|s| {
                        s.tasks
                            .get(task)
                            .map(|t| (t.framework.clone(), t.agent.clone()))
                    })
                    .unzip();
                if let Some(fw) = fw {
                    let ev = update_event(
                        task,
                        status.state,
                        agent.as_ref(),
                        status.reason,
                        status.message,
                        source,
                        status.at_ms,
                    );
                    ctx.streams.send(&fw, ev);
                }
            }
            true
        }
        Ok(Response::Refused { reason }) => {
            tracing::warn!(%task, %reason, "status refused");
            false
        }
        Ok(_) | Err(_) => false,
    }
}

/// KILL: the task's agent gets a kill; a task already ended is reported again.
pub async fn kill(ctx: &MasterCtx, fw: &FrameworkId, kill: mesos_v1::Kill) {
    let id = TaskId(kill.task_id.value.clone());
    let task = ctx
        .store
        .read(|s| s.tasks.get(&id).filter(|t| &t.framework == fw).cloned());
    match task {
        None => {
            let ev = update_event(
                &id,
                TaskState::Lost,
                None,
                Some("REASON_RECONCILIATION".into()),
                Some("no such task of this framework".into()),
                "SOURCE_MASTER",
                now_ms(),
            );
            ctx.streams.send(fw, ev);
        }
        Some(t) if t.state.is_terminal() => {
            ctx.streams.send(
                fw,
                update_event(
                    &id,
                    t.state,
                    Some(&t.agent),
                    None,
                    None,
                    "SOURCE_MASTER",
                    now_ms(),
                ),
            );
        }
        Some(t) => {
            let cmd = AgentCommand::KillTask {
                id: id.0.clone(),
                grace_ms: KILL_GRACE_MS,
            };
            if let Err(e) = crate::agent_link::send(ctx, &t.agent, cmd).await {
                tracing::warn!(task = %id, error = %e, "kill did not reach the agent; it is retried when the framework asks again");
            }
        }
    }
}

/// RECONCILE: the latest state of the named tasks (all of the framework's
/// live tasks when none are named).
pub fn reconcile(ctx: &MasterCtx, fw: &FrameworkId, named: Vec<TaskId>) {
    let now = now_ms();
    let events: Vec<Event> = ctx.store.read(|s| {
        let pick: Vec<TaskId> = if named.is_empty() {
            s.tasks
                .values()
                .filter(|t| &t.framework == fw && !t.state.is_terminal())
                .map(|t| t.spec.id.clone())
                .collect()
        } else {
            named
        };
        pick.iter()
            .map(|id| match s.tasks.get(id).filter(|t| &t.framework == fw) {
                Some(t) => update_event(
                    id,
                    t.state,
                    Some(&t.agent),
                    Some("REASON_RECONCILIATION".into()),
                    None,
                    "SOURCE_MASTER",
                    now,
                ),
                None => update_event(
                    id,
                    TaskState::Lost,
                    None,
                    Some("REASON_RECONCILIATION".into()),
                    Some("unknown task".into()),
                    "SOURCE_MASTER",
                    now,
                ),
            })
            .collect()
    });
    for ev in events {
        ctx.streams.send(fw, ev);
    }
}

/// Removes a framework (committed), ends its stream, and kills its live
/// tasks on their agents: TEARDOWN, `/master/teardown`, failover timeout.
pub async fn remove_framework(
    ctx: &MasterCtx,
    fw: &FrameworkId,
    reason: &str,
) -> Result<(), crate::error::Failure> {
    let cmd = Command::RemoveFramework {
        id: fw.clone(),
        reason: reason.to_string(),
    };
    match ctx.store.write(cmd, now_ms()).await {
        Ok(Response::Refused { reason }) => {
            return Err(crate::error::Failure::BadRequest {
                field: Some("framework_id".into()),
                message: reason,
            })
        }
        Ok(_) => {}
        Err(e) => return Err(crate::error::Failure::from_write(e, "/master/teardown")),
    }
    ctx.streams.close(fw);
    tracing::info!(framework = %fw, %reason, "framework removed");
    let live: Vec<(TaskId, MachineId)> = ctx.store.read(|s| {
        s.tasks
            .values()
            .filter(|t| &t.framework == fw && !t.state.is_terminal())
            .map(|t| (t.spec.id.clone(), t.agent.clone()))
            .collect()
    });
    for (task, agent) in live {
        let cmd = AgentCommand::KillTask {
            id: task.0.clone(),
            grace_ms: KILL_GRACE_MS,
        };
        if let Err(e) = crate::agent_link::send(ctx, &agent, cmd).await {
            tracing::warn!(%task, error = %e, "could not kill a removed framework's task");
        }
    }
    Ok(())
}
