//! Task calls of the scheduler API (ACCEPT with LAUNCH, KILL, RECONCILE)
//! and the UPDATE events that tell a framework about its tasks. The checks
//! are pure (`launch::plan`); this file commits and talks to agents.

use std::collections::BTreeMap;

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

/// An UPDATE event for one task. A recorded status (one with a revision)
/// carries a `uuid` and is to be acknowledged; others are not.
pub fn update_event(task: &TaskId, agent: Option<&MachineId>, status: &StatusRecord) -> Event {
    Event::Update {
        update: UpdatePayload {
            status: TaskStatus {
                task_id: Id {
                    value: task.0.clone(),
                },
                state: status.state.mesos_name().to_string(),
                source: source(status).to_string(),
                reason: status.reason.clone(),
                message: status.message.clone(),
                agent_id: agent.map(|a| Id { value: a.0.clone() }),
                timestamp: status.at_ms as f64 / 1000.0,
                uuid: status
                    .revision
                    .map(|r| corral_api::base64::encode(&corral_core::task::status_uuid(r))),
            },
        },
    }
}

/// Who a status comes from, as Mesos names it: the master decides the
/// states of tasks it gave up on or never started; agents report the rest.
fn source(status: &StatusRecord) -> &'static str {
    match status.state {
        TaskState::Lost | TaskState::Dropped | TaskState::Unreachable | TaskState::Error => {
            "SOURCE_MASTER"
        }
        _ if status.reason.as_deref() == Some("REASON_RECONCILIATION") => "SOURCE_MASTER",
        _ => "SOURCE_AGENT",
    }
}

/// A status the master states without recording it (errors, answers to
/// RECONCILE and KILL): no revision, so nothing to acknowledge.
fn unrecorded(state: TaskState, reason: &str, message: Option<&str>) -> StatusRecord {
    StatusRecord {
        state,
        at_ms: now_ms(),
        reason: Some(reason.to_string()),
        message: message.map(str::to_string),
        revision: None,
    }
}

fn task_error(ctx: &MasterCtx, fw: &FrameworkId, ids: &[TaskId], message: &str) {
    let status = unrecorded(TaskState::Error, "REASON_TASK_INVALID", Some(message));
    for id in ids {
        ctx.streams.send(fw, update_event(id, None, &status));
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
        fetch: t.command.as_ref().map(|c| c.fetch()).unwrap_or_default(),
        user: t.command.as_ref().and_then(|c| c.user()),
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
    let launches: Vec<TaskLaunch> = plan
        .tasks
        .iter()
        .map(|t| TaskLaunch {
            id: t.id.0.clone(),
            command: t.command.clone(),
            env: launch::task_env(t, &host),
            cpus: t.resources.cpus,
            mem_mb: t.resources.mem_mb,
            fetch: t.fetch.iter().map(Into::into).collect(),
            user: t.user.clone(),
        })
        .collect();
    let command = AgentCommand::LaunchTasks { tasks: launches };
    // Tasks that did not start, each with its status.
    let dropped: Vec<(TaskId, StatusRecord)> =
        match crate::agent_link::send(ctx, &plan.agent, command).await {
            Ok(ack) => ack
                .refused
                .into_iter()
                .map(|r| {
                    tracing::warn!(task = %r.id, code = %r.code, message = %r.message, "the agent refused a launch");
                    let message = format!("the agent refused the task: {}", r.message);
                    let status =
                        unrecorded(TaskState::Dropped, "REASON_TASK_INVALID", Some(&message));
                    (TaskId(r.id), status)
                })
                .collect(),
            Err(e) => {
                tracing::warn!(agent = %plan.agent, error = %e, "launch did not reach the agent");
                let message = format!("the task was not started: {e}");
                let status = unrecorded(
                    TaskState::Dropped,
                    "REASON_AGENT_UNREACHABLE",
                    Some(&message),
                );
                plan.tasks
                    .iter()
                    .map(|t| (t.id.clone(), status.clone()))
                    .collect()
            }
        };
    for (task, status) in dropped {
        record(ctx, &task, None, status).await;
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
    let cmd = Command::UpdateTask {
        id: task.clone(),
        from_agent,
        status: status.clone(),
    };
    match ctx.store.write(cmd, now_ms()).await {
        Ok(Response::TaskUpdated { changed, revision }) => {
            if changed {
                let owner = ctx.store.read(|s| {
                    s.tasks
                        .get(task)
                        .map(|t| (t.framework.clone(), t.agent.clone()))
                });
                if let Some((fw, agent)) = owner {
                    let recorded = StatusRecord { revision, ..status };
                    if ctx
                        .streams
                        .send(&fw, update_event(task, Some(&agent), &recorded))
                    {
                        if let Some(rev) = revision {
                            ctx.redelivery().sent(task, rev, now_ms());
                        }
                    }
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
    kill_many(ctx, fw, vec![TaskId(kill.task_id.value)]).await;
}

/// Kills `ids` of `fw`: one command per agent, the agents in parallel (a
/// scale-down of thousands is a call per agent, not per task). A task
/// unknown to `fw` is reported LOST, one already ended is reported again.
pub async fn kill_many(ctx: &MasterCtx, fw: &FrameworkId, ids: Vec<TaskId>) {
    let mut by_agent: BTreeMap<MachineId, Vec<String>> = BTreeMap::new();
    let mut answers: Vec<Event> = Vec::new();
    ctx.store.read(|s| {
        for id in ids {
            match s.tasks.get(&id).filter(|t| &t.framework == fw) {
                None => {
                    let status = unrecorded(
                        TaskState::Lost,
                        "REASON_RECONCILIATION",
                        Some("no such task of this framework"),
                    );
                    answers.push(update_event(&id, None, &status));
                }
                Some(t) if t.state.is_terminal() => {
                    let status = unrecorded(t.state, "REASON_RECONCILIATION", None);
                    answers.push(update_event(&id, Some(&t.agent), &status));
                }
                Some(t) => by_agent.entry(t.agent.clone()).or_default().push(id.0),
            }
        }
    });
    for ev in answers {
        ctx.streams.send(fw, ev);
    }
    kill_on_agents(ctx, by_agent).await;
}

/// Sends each agent one kill of its tasks, all agents at once.
async fn kill_on_agents(ctx: &MasterCtx, by_agent: BTreeMap<MachineId, Vec<String>>) {
    let sends = by_agent.into_iter().map(|(agent, ids)| async move {
        let n = ids.len();
        let cmd = AgentCommand::KillTasks {
            ids,
            grace_ms: KILL_GRACE_MS,
        };
        match crate::agent_link::send(ctx, &agent, cmd).await {
            Ok(ack) => {
                for r in ack.refused {
                    tracing::warn!(task = %r.id, %agent, message = %r.message, "the agent refused a kill");
                }
            }
            Err(e) => {
                tracing::warn!(%agent, tasks = n, error = %e, "kill did not reach the agent; it is retried when asked again");
            }
        }
    });
    futures_util::future::join_all(sends).await;
}

/// Sends the pending status updates that are due (all of a framework's
/// right after it subscribes), decided by `Redelivery::due`.
pub fn redeliver(ctx: &MasterCtx, now: u64) {
    let subscribed = ctx.streams.subscribed();
    let events: Vec<(FrameworkId, Event)> = ctx.store.read(|s| {
        let due = ctx.redelivery().due(s, &subscribed, now);
        due.into_iter()
            .filter_map(|(id, _)| {
                let t = s.tasks.get(&id)?;
                let ev = update_event(&id, Some(&t.agent), t.latest()?);
                Some((t.framework.clone(), ev))
            })
            .collect()
    });
    for (fw, ev) in events {
        ctx.streams.send(&fw, ev);
    }
}

/// A framework subscribed (again): every status it has not acknowledged
/// goes out now, after SUBSCRIBED.
pub fn resubscribed(ctx: &MasterCtx, fw: &FrameworkId) {
    ctx.store.read(|s| ctx.redelivery().forget_framework(s, fw));
    redeliver(ctx, now_ms());
}

/// ACKNOWLEDGE: the framework has a recorded status; it is not sent again.
/// A uuid that is not one of ours is bad input (the field is named).
pub async fn acknowledge(
    ctx: &MasterCtx,
    fw: &FrameworkId,
    ack: mesos_v1::Acknowledge,
) -> Result<(), crate::error::Failure> {
    let revision = corral_api::base64::decode(&ack.uuid)
        .and_then(|b| corral_core::task::status_revision(&b))
        .ok_or_else(|| crate::error::Failure::BadRequest {
            field: Some("acknowledge.uuid".into()),
            message: format!(
                "uuid {:?} is not one this master sent; echo the uuid of an UPDATE",
                ack.uuid
            ),
        })?;
    let id = TaskId(ack.task_id.value);
    let cmd = Command::AcknowledgeTask {
        framework: fw.clone(),
        id: id.clone(),
        revision,
    };
    match ctx.store.write(cmd, now_ms()).await {
        Ok(Response::Refused { reason }) => Err(crate::error::Failure::BadRequest {
            field: Some("acknowledge.task_id".into()),
            message: reason,
        }),
        Ok(_) => {
            ctx.redelivery().acked(&id);
            Ok(())
        }
        Err(e) => Err(crate::error::Failure::from_write(e, "/api/v1/scheduler")),
    }
}

/// RECONCILE: the latest state of the named tasks (all of the framework's
/// live tasks when none are named).
pub fn reconcile(ctx: &MasterCtx, fw: &FrameworkId, named: Vec<TaskId>) {
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
                    Some(&t.agent),
                    &unrecorded(t.state, "REASON_RECONCILIATION", None),
                ),
                None => update_event(
                    id,
                    None,
                    &unrecorded(
                        TaskState::Lost,
                        "REASON_RECONCILIATION",
                        Some("unknown task"),
                    ),
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
    let mut by_agent: BTreeMap<MachineId, Vec<String>> = BTreeMap::new();
    ctx.store.read(|s| {
        for t in s.live_of_framework(fw) {
            by_agent
                .entry(t.agent.clone())
                .or_default()
                .push(t.spec.id.0.clone());
        }
    });
    kill_on_agents(ctx, by_agent).await;
    Ok(())
}
