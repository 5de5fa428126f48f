//! The app scheduler: a framework like any other (`marathon` in
//! `/master/frameworks`), run in-process on the leading server. It
//! subscribes through the master's own stream book, takes offers, and each
//! tick asks the pure planner (`corral_core::deploy`) what every app needs,
//! places new instances (`placement`), launches them through the same path
//! external frameworks use, kills what the plan and the health checker
//! (`health`, its own loop) say, and ends deployments that are done
//! (committed). Readiness checks (`readiness`, its own loop) gate the
//! instances a deployment starts; COMMAND and HTTPS checks run on the
//! task's agent (`agent_check`). A deployment committed by anyone wakes
//! it at once (offers revived, an allocation round, a reconcile), and so
//! do offers while it wants them: a new app's first instance does not
//! wait for two ticks.

pub mod agent_check;
pub mod book;
pub mod health;
pub mod instances;
pub mod launch;
pub mod placement;
pub mod readiness;

use std::sync::Arc;

use futures_util::StreamExt;
use std::time::Duration;

use corral_api::mesos_v1::{self, Accept, Event, Filters, Id, Launch, Operation};
use corral_core::app::{AppId, AppSpec, DeploymentChange};
use corral_core::constraint::{explain, AgentFit, Site};
use corral_core::deploy::{self, BackoffStrategy, Plan};
use corral_core::{AgentStatus, Command, FrameworkId, FrameworkInfo, State, TaskId, TaskState};
use corral_master::context::{now_ms, MasterCtx};
use corral_master::scheduler::tasks;

use crate::time::iso;
use crate::AppsCtx;
use book::Failure;
use placement::{Host, Slot};

/// The app scheduler's framework id: fixed, so its tasks stay its own
/// across leaders.
pub const FRAMEWORK_ID: &str = "corral-marathon";
/// Its name, as Marathon's.
pub const FRAMEWORK_NAME: &str = "marathon";
/// How often the scheduler plans.
pub const TICK: Duration = Duration::from_millis(100);
/// A kill not answered by a terminal state within this long is sent again.
const KILL_RETRY_MS: u64 = 10_000;
/// How often the "why does it wait" sentence of an app is worked out again.
const WAITING_REFRESH_MS: u64 = 2_000;
/// Offers answered at once (each a commit and agent calls).
const ACCEPTS_IN_FLIGHT: usize = 64;
/// Unused offers are declined for this long (a new deployment revives).
const DECLINE_SECONDS: f64 = 5.0;

pub fn framework_id() -> FrameworkId {
    FrameworkId(FRAMEWORK_ID.into())
}

/// Runs until the process ends: while this server leads, subscribed and
/// reconciling every [`TICK`].
pub async fn run(ctx: Arc<AppsCtx>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let master = &ctx.master;
        if !master.store.is_leader() {
            continue;
        }
        let term = master.store.term();
        if let Err(e) = register(master).await {
            tracing::debug!(error = %e, "app scheduler could not register yet");
            continue;
        }
        let mut events = master
            .streams
            .open(&framework_id(), &format!("in-process-{term}"));
        let mut changes = master.store.subscribe();
        ctx.book().reset(term);
        let checker = tokio::spawn(health::run(ctx.clone(), term));
        let readiness_checker = tokio::spawn(readiness::run(ctx.clone(), term));
        tracing::info!(term, "app scheduler subscribed");
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => {
                        // Offers while apps want them: placed now, not at
                        // the next tick (a new app's first instance
                        // starts ~50 ms sooner on average).
                        let offers = matches!(ev, Event::Offers { .. });
                        on_event(&ctx, ev);
                        if offers && !ctx.book().suppressed {
                            reconcile(&ctx).await;
                            tick.reset();
                        }
                    }
                    None => break, // no longer leading, or replaced
                },
                change = changes.recv() => {
                    use tokio::sync::broadcast::error::RecvError;
                    let started = match change {
                        Ok((_, corral_core::Event::DeploymentStarted { .. })) => true,
                        // Missed events (a flood of task updates) wake
                        // nothing: the next tick finds any deployment.
                        Ok(_) | Err(RecvError::Lagged(_)) => false,
                        Err(RecvError::Closed) => break,
                    };
                    if started {
                        wake(&ctx);
                        reconcile(&ctx).await;
                        tick.reset();
                    }
                }
                _ = tick.tick() => {
                    if !master.store.is_leader() || master.store.term() != term {
                        break;
                    }
                    reconcile(&ctx).await;
                }
            }
        }
        checker.abort();
        readiness_checker.abort();
        tracing::info!(term, "app scheduler stopped (leadership changed)");
    }
}

async fn register(master: &MasterCtx) -> Result<(), String> {
    let info = FrameworkInfo {
        name: FRAMEWORK_NAME.into(),
        user: "root".into(),
        roles: vec!["*".into()],
        // It is always connected while a leader runs; a week covers any gap.
        failover_timeout_ms: 7 * 24 * 3600 * 1000,
        hostname: master.cfg.ip.clone(),
        webui_url: String::new(),
        principal: None,
        checkpoint: true,
        capabilities: vec![],
    };
    let cmd = Command::RegisterFramework {
        id: framework_id(),
        info,
    };
    match master.store.write(cmd, now_ms()).await {
        Ok(corral_core::Response::Refused { reason }) => Err(reason),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn on_event(ctx: &Arc<AppsCtx>, ev: Event) {
    match ev {
        Event::Offers { offers } => ctx.book().offers.extend(offers.offers),
        Event::Rescind { rescind } => ctx
            .book()
            .offers
            .retain(|o| o.id.value != rescind.offer_id.value),
        Event::Update { update } => on_update(ctx, update.status),
        Event::Subscribed { .. } | Event::Heartbeat | Event::Error { .. } => {}
    }
}

/// A status of one of our tasks: remembered for backoff and the app's
/// last failure, then acknowledged (in the background: acknowledgements
/// are commits, and many at once share them).
fn on_update(ctx: &Arc<AppsCtx>, st: mesos_v1::TaskStatus) {
    let task = TaskId(st.task_id.value.clone());
    let state = TaskState::from_mesos_name(&st.state);
    // Only a recorded end, seen for the first time, is news: the same
    // status sent again (not yet acknowledged) or a reconciliation answer
    // must not count as another failure.
    let first_end = state.is_some_and(TaskState::is_terminal)
        && st.uuid.is_some()
        && ctx.book().ended.insert(task.clone());
    if first_end {
        let asked = ctx.book().killing.remove(&task).is_some();
        if let (false, Some(app_id)) = (asked, AppId::of_task(&task)) {
            let now = now_ms();
            let found = ctx.master.store.read(|s| {
                let app = s.apps.get(&app_id)?;
                let t = s.tasks.get(&task)?;
                let host = s.agents.get(&t.agent).map(|a| a.info.ip.clone());
                Some((
                    app.config_version_ms,
                    strategy(&app.spec),
                    t.agent.0.clone(),
                    host.unwrap_or_default(),
                    t.spec
                        .env
                        .get(launch::VERSION_ENV)
                        .cloned()
                        .unwrap_or_default(),
                ))
            });
            if let Some((config_version, strategy, agent, host, version)) = found {
                let mut book = ctx.book();
                book.backoff(&app_id, config_version)
                    .on_failure(now, &strategy);
                book.last_failure.insert(
                    app_id.clone(),
                    Failure {
                        task: task.clone(),
                        state: st.state.clone(),
                        message: st.message.clone().unwrap_or_default(),
                        agent,
                        host,
                        at_ms: now,
                        version,
                    },
                );
                tracing::info!(app = %app_id, %task, state = %st.state, "instance ended; it is replaced after its backoff");
            }
        }
    }
    if let Some(uuid) = st.uuid {
        let ack = mesos_v1::Acknowledge {
            agent_id: st.agent_id,
            task_id: st.task_id,
            uuid,
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            if let Err(e) = tasks::acknowledge(&ctx.master, &framework_id(), ack).await {
                tracing::debug!(error = ?e, "could not acknowledge an app task's status");
            }
        });
    }
}

fn strategy(spec: &AppSpec) -> BackoffStrategy {
    BackoffStrategy {
        backoff_seconds: spec.backoff_seconds,
        backoff_factor: spec.backoff_factor,
        max_launch_delay_seconds: spec.max_launch_delay_seconds,
    }
}

/// What one tick decided for one app.
struct Work {
    app: AppId,
    spec: AppSpec,
    version: String,
    plan: Plan,
    live_hosts: Vec<Host>,
}

/// One planning round over every app and deployment.
async fn reconcile(ctx: &AppsCtx) {
    let now = now_ms();
    let fw = framework_id();
    let (work, orphans, finished, unhealthy) = ctx.master.store.read(|s| {
        let book = ctx.book();
        let mut work = Vec::new();
        for (id, app) in &s.apps {
            let live = instances::of_app(s, id, &book.killing, &book.health, &book.readiness);
            let target = instances::target(app);
            let plan = deploy::plan(&target, &live);
            work.push(Work {
                app: id.clone(),
                spec: app.spec.clone(),
                version: target.version.clone(),
                plan,
                live_hosts: instances::hosts(s, id),
            });
        }
        // Tasks of ours whose app is gone: stop them.
        let orphans: Vec<TaskId> = s
            .live_of_framework(&fw)
            .filter(|t| AppId::of_task(&t.spec.id).is_none_or(|a| !s.apps.contains_key(&a)))
            .map(|t| t.spec.id.clone())
            .collect();
        let finished = finished_deployments(s, &work);
        let unhealthy = health::unhealthy(s, &book.health, &book.killing);
        (work, orphans, finished, unhealthy)
    });

    for id in finished {
        let cmd = Command::EndDeployment {
            id: id.clone(),
            outcome: "finished".into(),
        };
        if let Err(e) = ctx.master.store.write(cmd, now).await {
            tracing::debug!(deployment = %id, error = %e, "could not end deployment");
        } else {
            tracing::info!(deployment = %id, "deployment finished");
        }
    }

    let mut kills: Vec<TaskId> = orphans;
    for w in &work {
        kills.extend(w.plan.kill.iter().map(|(t, _)| t.clone()));
    }
    // Unhealthy instances (Marathon's unhealthy_task_kill_event): killed
    // like plan kills, so their end is no launch failure; the plan then
    // replaces them.
    for (task, why) in unhealthy {
        tracing::info!(%task, reason = %why, "killing an unhealthy instance");
        kills.push(task);
    }
    let due: Vec<TaskId> = {
        let mut book = ctx.book();
        kills
            .into_iter()
            .filter(|task| {
                let due = book
                    .killing
                    .get(task)
                    .is_none_or(|at| now.saturating_sub(*at) >= KILL_RETRY_MS);
                if due {
                    book.killing.insert(task.clone(), now);
                }
                due
            })
            .collect()
    };
    if !due.is_empty() {
        tasks::kill_many(&ctx.master, &fw, due).await;
    }

    launch_all(ctx, &work, now).await;
}

/// Deployments whose apps are all where they should be.
fn finished_deployments(s: &State, work: &[Work]) -> Vec<String> {
    s.deployments
        .values()
        .filter(|d| {
            d.apps.iter().all(|a| match d.change {
                DeploymentChange::Delete => {
                    !s.apps.contains_key(a) && !instances::has_live_tasks(s, a)
                }
                _ => work.iter().any(|w| &w.app == a && w.plan.done),
            })
        })
        .map(|d| d.id.clone())
        .collect()
}

/// Places and launches what the plans ask for, on the offers in hand;
/// declines the rest; revives when apps wait and no offers are in hand.
async fn launch_all(ctx: &AppsCtx, work: &[Work], now: u64) {
    let fw = framework_id();
    let offers = std::mem::take(&mut ctx.book().offers);
    let mut slots: Vec<Slot> = ctx.master.store.read(|s| {
        offers
            .iter()
            .filter_map(|o| {
                let agent = s
                    .agents
                    .get(&corral_core::MachineId(o.agent_id.value.clone()))?;
                Some(Slot {
                    offer_id: o.id.value.clone(),
                    agent: agent.info.id.clone(),
                    hostname: o.hostname.clone(),
                    attributes: agent.info.attributes.clone(),
                    free: mesos_v1::to_core(&o.resources).ok()?,
                })
            })
            .collect()
    });
    let mut per_slot: Vec<Vec<mesos_v1::TaskInfo>> = vec![Vec::new(); slots.len()];
    let mut wanting = false;
    for w in work {
        let want = w.plan.launch;
        if want == 0 {
            let mut book = ctx.book();
            book.waiting.remove(&w.app);
            book.waiting_since.remove(&w.app);
            book.queued.remove(&w.app);
            book.queued_since.remove(&w.app);
            continue;
        }
        let delay = ctx.master.store.read(|s| {
            let cv = s.apps.get(&w.app).map_or(0, |a| a.config_version_ms);
            ctx.book().backoff(&w.app, cv).delay_left_ms(now)
        });
        {
            let mut book = ctx.book();
            book.queued.insert(w.app.clone(), want);
            book.queued_since.entry(w.app.clone()).or_insert(now);
        }
        if delay > 0 {
            ctx.book().waiting.insert(
                w.app.clone(),
                format!(
                    "delayed {:.1} s after failures (backoffSeconds × backoffFactor^n)",
                    delay as f64 / 1000.0
                ),
            );
            continue;
        }
        wanting = true;
        let placed = placement::place(&w.spec, want, &mut slots, &w.live_hosts);
        for p in &placed {
            let slot = &slots[p.slot];
            let task = w.app.task_id(&corral_master::scheduler::new_id());
            per_slot[p.slot].push(launch::task_info(
                &w.spec,
                &w.version,
                &task,
                &slot.agent,
                &p.ports,
            ));
        }
        if (placed.len() as u32) < want {
            // The sentence looks at every agent: worked out again at most
            // every WAITING_REFRESH_MS per app, not every tick.
            let due = ctx
                .book()
                .waiting_since
                .get(&w.app)
                .is_none_or(|at| now.saturating_sub(*at) >= WAITING_REFRESH_MS);
            if due {
                let why = unplaced_reason(ctx, &w.spec, &w.app, &w.live_hosts);
                let mut book = ctx.book();
                book.waiting.insert(w.app.clone(), why);
                book.waiting_since.insert(w.app.clone(), now);
            }
        } else {
            let mut book = ctx.book();
            book.waiting.remove(&w.app);
            book.waiting_since.remove(&w.app);
        }
    }
    let accepts: Vec<Accept> = slots
        .iter()
        .zip(per_slot)
        .map(|(slot, infos)| Accept {
            offer_ids: vec![Id {
                value: slot.offer_id.clone(),
            }],
            operations: if infos.is_empty() {
                vec![]
            } else {
                vec![Operation {
                    kind: "LAUNCH".into(),
                    launch: Some(Launch { task_infos: infos }),
                }]
            },
            filters: Some(Filters {
                refuse_seconds: Some(DECLINE_SECONDS),
            }),
        })
        .collect();
    // Offers are answered concurrently: their launches are committed
    // together (the store batches writes) and their agents told in parallel.
    futures_util::stream::iter(accepts)
        .for_each_concurrent(ACCEPTS_IN_FLIGHT, |accept| {
            let fw = &fw;
            async move {
                if let Err(e) = tasks::accept(&ctx.master, fw, accept).await {
                    tracing::warn!(error = %e, "app launch was not recorded; it is retried");
                }
            }
        })
        .await;
    // Apps wait and no offer is in hand: ask for offers again (declines
    // filtered these agents for a while). Nothing to launch: take no
    // offers at all (an idle app scheduler holds nothing other frameworks
    // could use).
    let mut book = ctx.book();
    if wanting {
        if book.suppressed || (offers.is_empty() && now.saturating_sub(book.last_revive_ms) >= 1000)
        {
            book.last_revive_ms = now;
            book.suppressed = false;
            ctx.master.offers().revive(&fw);
        }
    } else if !book.suppressed && book.queued.is_empty() {
        book.suppressed = true;
        ctx.master.offers().suppress(&fw);
    }
}

/// A deployment started: offers revived, and the leader allocates at once
/// rather than at its next tick.
fn wake(ctx: &AppsCtx) {
    ctx.book().suppressed = false;
    ctx.master.offers().revive(&framework_id());
    corral_master::leader_loop::allocate_now(&ctx.master);
}

/// Why the app's next instance fits on no agent, in one sentence.
fn unplaced_reason(ctx: &AppsCtx, spec: &AppSpec, app: &AppId, live: &[Host]) -> String {
    ctx.master.store.read(|s| {
        let fits: Vec<(corral_core::Resources, bool, &corral_core::Agent)> = s
            .agents
            .values()
            .map(|a| {
                let free = a.info.resources.minus(&s.used_on_agent(&a.info.id));
                (free, a.status == AgentStatus::Active, a)
            })
            .collect();
        let agents: Vec<AgentFit> = fits
            .iter()
            .map(|(free, active, a)| AgentFit {
                site: Site {
                    hostname: &a.info.ip,
                    attributes: &a.info.attributes,
                },
                free: free.clone(),
                active: *active,
            })
            .collect();
        let placed: Vec<Site> = live
            .iter()
            .map(|h| Site {
                hostname: &h.hostname,
                attributes: &h.attributes,
            })
            .collect();
        let why = explain(
            &placement::needs(spec),
            spec.port_definitions.len(),
            &spec.constraints,
            &agents,
            &placed,
        );
        if why.fitting > 0 {
            format!(
                "waiting for offers ({why}); {app} has room on {} agent(s)",
                why.fitting
            )
        } else {
            why.to_string()
        }
    })
}

/// `version_ms` as Marathon shows versions.
pub fn version_text(version_ms: u64) -> String {
    iso(version_ms)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::collections::BTreeMap;

    use corral_core::app::{AppId, AppSpec, PortDefinition, UpgradeStrategy};

    /// `/web`: `sleep 1`, 0.5 cpus, 100 MB, one port.
    pub fn spec() -> AppSpec {
        AppSpec {
            id: AppId::parse("/web").unwrap(),
            cmd: Some("sleep 1".into()),
            args: vec![],
            user: None,
            cpus: 0.5,
            mem_mb: 100.0,
            disk_mb: 0.0,
            instances: 1,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            constraints: vec![],
            port_definitions: vec![PortDefinition {
                port: 0,
                protocol: "tcp".into(),
                name: None,
                labels: BTreeMap::new(),
            }],
            require_ports: false,
            health_checks: vec![],
            readiness_checks: vec![],
            dependencies: vec![],
            upgrade_strategy: UpgradeStrategy::default(),
            backoff_seconds: 1.0,
            backoff_factor: 1.15,
            max_launch_delay_seconds: 3600.0,
            kill_selection: Default::default(),
            fetch: vec![],
            task_kill_grace_period_seconds: None,
            accepted_resource_roles: vec![],
        }
    }
}
