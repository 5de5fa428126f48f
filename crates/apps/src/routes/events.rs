//! `GET /v2/events`: Marathon's event stream (server-sent events), made
//! from the store's event feed.
//!
//! A stream subscribes to `Store::subscribe` before it answers, sends
//! `event_stream_attached`, then one Marathon event per change it can
//! name ([`translate`], pure: a core event and the state it left in, to
//! Marathon events):
//! - a deployment starting: `api_post_event` for each app it writes (not
//!   for restarts and deletes), then `deployment_info` at its first step;
//! - a deployment ending: `deployment_success` when it `finished`,
//!   `deployment_failed` (with the outcome as `reason`) otherwise; a
//!   delete's end is preceded by `app_terminated_event` for each app it
//!   removed that is still gone;
//! - an app task changing state: `status_update_event`.
//!
//! `event_type=` (repeatable, or comma-separated) keeps only those types,
//! `event_stream_attached` included; `plan-format=light` drops the app
//! definitions from plans. A `: ping` comment goes out every
//! [`PING`] so proxies and clients see the stream alive.
//!
//! Invariants:
//! - It never skips silently: a receiver that falls behind the feed
//!   (broadcast `Lagged`) ends the stream with `event_stream_detached`,
//!   and the client reconnects and reads the state again.
//! - It reads this server's own state machine, which applies the same
//!   committed log as every other: a stream opened on the leader (followers
//!   proxy it there) stays right when leadership moves, and ends when its
//!   server dies (the client reconnects through any server). The one
//!   exception: a follower that catches up by installing a snapshot gets
//!   no events for what the snapshot covered, so a stream that outlived
//!   its server's leadership can miss those.
//! - It only reads: nothing here writes to the store.
//!
//! Known gaps: plans name only the apps a deployment changes (Marathon
//! shows the whole root group); a delete's plan has no `original`
//! definition (the state no longer holds it), its steps name the app;
//! `api_post_event`'s `clientIp` is empty (the log does not record who
//! made a change); `remoteAddress` is the peer only when the server is run
//! with connect info, else `X-Forwarded-For`, else `unknown`. Health events
//! come from leader memory, not the feed, and are not sent yet.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use corral_api::marathon::app_view::definition_view;
use corral_api::marathon::deployment::Step;
use corral_api::marathon::event::{sse_frame, DeploymentPlan, Event};
use corral_api::marathon::task::IpAddress;
use corral_api::marathon::time::iso8601;
use corral_core::app::{App, AppId, AppSpec, Deployment, DeploymentChange};
use corral_core::{Event as Change, State as Replicated, TaskId, TaskState};
use corral_master::context::now_ms;
use tokio::sync::broadcast::{self, error::RecvError};

use super::{values, Params};
use crate::scheduler::launch::VERSION_ENV;
use crate::AppsCtx;

/// How often a stream sends a `: ping` comment.
pub const PING: Duration = Duration::from_secs(15);

const PING_FRAME: &str = ": ping\n\n";

/// The deployments a stream has seen start, with their plans (the state
/// drops a deployment when it ends; its end event still needs the plan).
#[derive(Debug, Default)]
pub struct Tracked {
    plans: BTreeMap<String, (Deployment, DeploymentPlan)>,
}

impl Tracked {
    /// Every deployment in progress in `s` (a stream attaching mid-way).
    pub fn of(s: &Replicated) -> Tracked {
        Tracked {
            plans: s
                .deployments
                .values()
                .map(|d| (d.id.clone(), (d.clone(), plan_of(s, d))))
                .collect(),
        }
    }
}

/// The Marathon events one core event stands for, in order, given the
/// state it left (read when the stream handles it: usually the same; if
/// the state moved on, the plan shows the later definitions). `at_ms` is
/// only used for a deployment the stream never saw start.
pub fn translate(ev: &Change, s: &Replicated, tracked: &mut Tracked, at_ms: u64) -> Vec<Event> {
    match ev {
        Change::DeploymentStarted { id, apps } => {
            let d = s.deployments.get(id).cloned().unwrap_or_else(|| {
                // Already ended by the time it is handled: rebuild it.
                let exist: Vec<&App> = apps.iter().filter_map(|a| s.apps.get(a)).collect();
                let change = if exist.is_empty() {
                    DeploymentChange::Delete
                } else if exist.iter().all(|a| a.versions.is_empty()) {
                    DeploymentChange::Create
                } else {
                    DeploymentChange::Scale
                };
                let version_ms = apps
                    .iter()
                    .filter_map(|a| s.apps.get(a))
                    .map(|a| a.version_ms)
                    .max()
                    .unwrap_or(at_ms);
                Deployment {
                    id: id.clone(),
                    version_ms,
                    apps: apps.clone(),
                    change,
                    started_at_ms: at_ms,
                }
            });
            let plan = plan_of(s, &d);
            // Marathon posts it for definitions written through the API:
            // not for restarts (nor deletes, whose target is empty).
            let posted = d.change != DeploymentChange::Restart;
            let mut out: Vec<Event> = plan
                .target
                .apps
                .iter()
                .filter(|_| posted)
                .map(|app| Event::ApiPostEvent {
                    client_ip: String::new(),
                    uri: format!("/v2/apps{}", app.id),
                    app_definition: app.clone(),
                })
                .collect();
            let current_step = plan
                .steps
                .first()
                .cloned()
                .unwrap_or(Step { actions: vec![] });
            out.push(Event::DeploymentInfo {
                plan: plan.clone(),
                current_step,
            });
            tracked.plans.insert(id.clone(), (d, plan));
            out
        }
        Change::DeploymentEnded { id, outcome } => {
            let (d, plan) = tracked.plans.remove(id).unwrap_or_else(|| {
                let d = Deployment {
                    id: id.clone(),
                    version_ms: at_ms,
                    apps: vec![],
                    change: DeploymentChange::Scale,
                    started_at_ms: at_ms,
                };
                let mut plan = DeploymentPlan::new(&d, vec![], at_ms, vec![]);
                plan.steps.clear();
                (d, plan)
            });
            let mut out = Vec::new();
            if d.change == DeploymentChange::Delete {
                out.extend(d.apps.iter().filter(|a| !s.apps.contains_key(*a)).map(|a| {
                    Event::AppTerminatedEvent {
                        app_id: a.0.clone(),
                    }
                }));
            }
            out.push(if outcome == "finished" {
                Event::DeploymentSuccess {
                    id: id.clone(),
                    plan,
                }
            } else {
                Event::DeploymentFailed {
                    id: id.clone(),
                    plan,
                    reason: Some(outcome.clone()),
                }
            });
            out
        }
        Change::TaskUpdated {
            id,
            framework,
            state,
        } if *framework == crate::scheduler::framework_id() => {
            status_update(s, id, *state).into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// `status_update_event` for an app task (none for a task id that is not
/// an app's).
fn status_update(s: &Replicated, id: &TaskId, state: TaskState) -> Option<Event> {
    let app = AppId::of_task(id)?;
    let task = s.tasks.get(id);
    let agent = task.and_then(|t| s.agents.get(&t.agent));
    // The host as /v2/tasks shows it: the agent's address.
    let host = agent.map(|a| a.info.ip.clone()).unwrap_or_default();
    Some(Event::StatusUpdateEvent {
        slave_id: task.map(|t| t.agent.0.clone()).unwrap_or_default(),
        task_id: id.0.clone(),
        task_status: state.mesos_name().to_string(),
        message: task
            .and_then(|t| t.statuses.iter().rev().find(|r| r.state == state))
            .and_then(|r| r.message.clone())
            .unwrap_or_default(),
        app_id: app.0,
        ports: task
            .map(|t| {
                t.spec
                    .resources
                    .ports
                    .iter()
                    .flat_map(|(a, b)| *a..=*b)
                    .collect()
            })
            .unwrap_or_default(),
        ip_addresses: agent
            .map(|_| IpAddress {
                protocol: if host.contains(':') { "IPv6" } else { "IPv4" }.to_string(),
                ip_address: host.clone(),
            })
            .into_iter()
            .collect(),
        host,
        version: task
            .and_then(|t| t.spec.env.get(VERSION_ENV).cloned())
            .unwrap_or_else(|| iso8601(0)),
    })
}

/// The plan of `d`: its apps' definitions before and after. A delete's
/// apps are gone from the state, so its plan shows none (its steps name
/// them).
fn plan_of(s: &Replicated, d: &Deployment) -> DeploymentPlan {
    let mut original = Vec::new();
    let mut original_ms = None;
    let mut target = Vec::new();
    for app in d.apps.iter().filter_map(|a| s.apps.get(a)) {
        if let Some(spec) = spec_at(app, d.version_ms) {
            target.push(definition_view(spec, d.version_ms));
        }
        if let Some((ms, spec)) = app.versions.iter().rev().find(|(v, _)| *v < d.version_ms) {
            original.push(definition_view(spec, *ms));
            original_ms = original_ms.max(Some(*ms));
        }
    }
    DeploymentPlan::new(d, original, original_ms.unwrap_or(d.started_at_ms), target)
}

/// The app's definition at version `ms`, if it is kept.
fn spec_at(app: &App, ms: u64) -> Option<&AppSpec> {
    if app.version_ms == ms {
        return Some(&app.spec);
    }
    app.versions.iter().find(|(v, _)| *v == ms).map(|(_, s)| s)
}

/// What a client asked to see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Event types to send; empty: every type.
    pub types: Vec<String>,
    /// `plan-format=light`.
    pub light: bool,
}

impl Filter {
    pub fn of(params: &Params) -> Filter {
        Filter {
            types: values(params, "event_type")
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
            light: values(params, "plan-format").any(|v| v.eq_ignore_ascii_case("light")),
        }
    }

    pub fn wants(&self, event_type: &str) -> bool {
        self.types.is_empty() || self.types.iter().any(|t| t == event_type)
    }

    /// The frame of `ev` if the client wants it.
    fn frame(&self, ev: Event, at_ms: u64) -> Option<Bytes> {
        if !self.wants(ev.event_type()) {
            return None;
        }
        let ev = if self.light { ev.light() } else { ev };
        Some(Bytes::from(sse_frame(&ev, at_ms)))
    }
}

/// `event_stream_detached`: the stream's last frame. (Not among
/// `corral_api`'s events, which are the ones a stream carries.)
fn detached_frame(remote: &str, at_ms: u64) -> Bytes {
    let data = serde_json::json!({
        "remoteAddress": remote,
        "eventType": "event_stream_detached",
        "timestamp": iso8601(at_ms),
    });
    Bytes::from(format!("event: event_stream_detached\ndata: {data}\n\n"))
}

/// Core events to Marathon events at a time (in the server: [`translate`]
/// over the store's state).
type Translator = Box<dyn FnMut(&Change, u64) -> Vec<Event> + Send>;

/// One open stream.
struct Stream {
    rx: broadcast::Receiver<(u64, Change)>,
    translate: Translator,
    filter: Filter,
    remote: String,
    ping: tokio::time::Interval,
    /// Frames ready to send.
    ready: VecDeque<Bytes>,
    /// The last frame is queued: end once `ready` drains.
    ending: bool,
}

impl Stream {
    /// A stream that starts with `event_stream_attached` and pings every
    /// `every`.
    fn new(
        rx: broadcast::Receiver<(u64, Change)>,
        translate: Translator,
        filter: Filter,
        remote: String,
        every: Duration,
    ) -> Stream {
        let mut ready = VecDeque::new();
        ready.extend(filter.frame(
            Event::EventStreamAttached {
                remote_address: remote.clone(),
            },
            now_ms(),
        ));
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Stream {
            rx,
            translate,
            filter,
            remote,
            ping,
            ready,
            ending: false,
        }
    }

    /// The next chunk of the body; `None` ends it.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Some(b);
            }
            if self.ending {
                return None;
            }
            tokio::select! {
                got = self.rx.recv() => match got {
                    Ok((_, ev)) => {
                        let now = now_ms();
                        let evs = (self.translate)(&ev, now);
                        let frames: Vec<Bytes> =
                            evs.into_iter().filter_map(|e| self.filter.frame(e, now)).collect();
                        self.ready.extend(frames);
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::info!(remote = %self.remote, missed = n, "event stream fell behind the feed; detaching it");
                        self.detach();
                    }
                    Err(RecvError::Closed) => self.ending = true,
                },
                _ = self.ping.tick() => self.ready.push_back(Bytes::from_static(PING_FRAME.as_bytes())),
            }
        }
    }

    /// Ends the stream with `event_stream_detached` (if the client wants it).
    fn detach(&mut self) {
        if self.filter.wants("event_stream_detached") {
            self.ready.push_back(detached_frame(&self.remote, now_ms()));
        }
        self.ending = true;
    }

    /// The stream as a response body.
    fn body(self) -> Body {
        Body::from_stream(futures_util::stream::unfold(self, |mut st| async move {
            let chunk = st.next().await?;
            Some((Ok::<_, std::io::Error>(chunk), st))
        }))
    }
}

/// The client's address as well as it is known.
fn remote_address(peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    if let Some(p) = peer {
        return p.ip().to_string();
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// GET /v2/events[?event_type=..][&plan-format=light]
pub async fn stream(
    State(ctx): State<Arc<AppsCtx>>,
    Query(params): Query<Params>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let filter = Filter::of(&params);
    let remote = remote_address(peer.map(|Extension(ConnectInfo(a))| a), &headers);
    // Subscribe first: nothing applied after the snapshot is missed.
    let rx = ctx.master.store.subscribe();
    let mut tracked = ctx.master.store.read(Tracked::of);
    let translator: Translator = Box::new(move |ev, now| {
        ctx.master
            .store
            .read(|s| translate(ev, s, &mut tracked, now))
    });
    let stream = Stream::new(rx, translator, filter, remote, PING);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache, no-store"),
        ],
        stream.body(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use corral_core::machine::{Agent, AgentRegistration, AgentStatus, MachineId, Resources};
    use corral_core::task::{StatusRecord, Task, TaskSpec};
    use corral_core::{Command, FrameworkId, Request};
    use serde_json::{json, Value};

    use super::*;
    use crate::scheduler::tests_support::spec;

    /// Applies `cmd` at `now`; returns the core events it produced.
    fn apply(s: &mut Replicated, now: u64, cmd: Command) -> Vec<Change> {
        let (resp, evs) = s.apply(&Request {
            now_ms: now,
            command: cmd,
        });
        assert!(
            !matches!(resp, corral_core::Response::Refused { .. }),
            "{resp:?}"
        );
        evs
    }

    /// The frames a sequence of core events becomes, as `type: json`
    /// values, through `filter`.
    fn run(s: &Replicated, tracked: &mut Tracked, evs: &[Change], filter: &Filter) -> Vec<Value> {
        evs.iter()
            .flat_map(|ev| translate(ev, s, tracked, 9_000))
            .filter_map(|e| filter.frame(e, 9_000))
            .map(|b| {
                let text = String::from_utf8(b.to_vec()).unwrap();
                let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }

    fn types(frames: &[Value]) -> Vec<&str> {
        frames
            .iter()
            .map(|f| f["eventType"].as_str().unwrap())
            .collect()
    }

    fn put(s: &mut Replicated, now: u64, instances: u32, cmd: &str, dep: &str) -> Vec<Change> {
        let mut sp = spec();
        sp.instances = instances;
        sp.cmd = Some(cmd.into());
        apply(
            s,
            now,
            Command::PutApp {
                spec: Box::new(sp),
                deployment: dep.into(),
                force: true,
            },
        )
    }

    fn end(s: &mut Replicated, dep: &str, outcome: &str) -> Vec<Change> {
        apply(
            s,
            8_000,
            Command::EndDeployment {
                id: dep.into(),
                outcome: outcome.into(),
            },
        )
    }

    /// /web's task `web.t1` on agent m1 (10.0.0.1), RUNNING.
    fn with_task(s: &mut Replicated, framework: &str) -> Change {
        let agent = MachineId("m1".into());
        s.agents.insert(
            agent.clone(),
            Agent {
                info: AgentRegistration {
                    id: agent.clone(),
                    hostname: "node-1".into(),
                    ip: "10.0.0.1".into(),
                    agent_port: 5051,
                    resources: Resources::default(),
                    attributes: BTreeMap::new(),
                    server_id: None,
                    version: "test".into(),
                },
                status: AgentStatus::Active,
                registered_at_ms: 0,
                reregistered_at_ms: 0,
                unreachable_since_ms: None,
                unreachable_reason: None,
            },
        );
        let id = TaskId("web.t1".into());
        s.tasks.insert(
            id.clone(),
            Task {
                spec: TaskSpec {
                    id: id.clone(),
                    name: "web".into(),
                    resources: Resources {
                        ports: vec![(31000, 31001)],
                        ..Resources::default()
                    },
                    command: "sleep 1".into(),
                    env: [(VERSION_ENV.to_string(), iso8601(1_000))].into(),
                    ..Default::default()
                },
                framework: FrameworkId(framework.into()),
                agent,
                state: TaskState::Running,
                statuses: vec![StatusRecord {
                    state: TaskState::Running,
                    at_ms: 1_500,
                    reason: None,
                    message: Some("started".into()),
                    revision: None,
                }],
                unacked: None,
            },
        );
        Change::TaskUpdated {
            id,
            framework: FrameworkId(framework.into()),
            state: TaskState::Running,
        }
    }

    #[test]
    fn an_app_created_run_and_deleted() {
        let mut s = Replicated::default();
        let mut tracked = Tracked::default();
        let all = Filter::default();

        let evs = put(&mut s, 1_000, 2, "web", "d1");
        let frames = run(&s, &mut tracked, &evs, &all);
        assert_eq!(types(&frames), ["api_post_event", "deployment_info"]);
        assert_eq!(frames[0]["uri"], "/v2/apps/web");
        assert_eq!(frames[0]["appDefinition"]["instances"], 2);
        let plan = &frames[1]["plan"];
        assert_eq!(plan["id"], "d1");
        assert_eq!(plan["original"]["apps"], json!([]));
        assert_eq!(plan["target"]["apps"][0]["id"], "/web");
        assert_eq!(
            frames[1]["currentStep"],
            json!({"actions": [{"action": "StartApplication", "app": "/web"}]})
        );

        let ev = with_task(&mut s, crate::scheduler::FRAMEWORK_ID);
        let frames = run(&s, &mut tracked, &[ev], &all);
        assert_eq!(
            frames,
            [json!({
                "eventType": "status_update_event", "timestamp": iso8601(9_000),
                "slaveId": "m1", "taskId": "web.t1", "taskStatus": "TASK_RUNNING",
                "message": "started", "appId": "/web", "host": "10.0.0.1",
                "ports": [31000, 31001],
                "ipAddresses": [{"ipAddress": "10.0.0.1", "protocol": "IPv4"}],
                "version": iso8601(1_000),
            })]
        );

        let evs = end(&mut s, "d1", "finished");
        let frames = run(&s, &mut tracked, &evs, &all);
        assert_eq!(types(&frames), ["deployment_success"]);
        assert_eq!(frames[0]["id"], "d1");
        assert_eq!(frames[0]["plan"]["target"]["apps"][0]["id"], "/web");

        let evs = apply(
            &mut s,
            5_000,
            Command::DeleteApp {
                id: AppId::parse("/web").unwrap(),
                deployment: "d2".into(),
                force: false,
            },
        );
        let frames = run(&s, &mut tracked, &evs, &all);
        assert_eq!(
            types(&frames),
            ["deployment_info"],
            "no api_post_event for a delete"
        );
        assert_eq!(
            frames[0]["plan"]["steps"],
            json!([{"actions": [{"action": "StopApplication", "app": "/web"}]}])
        );
        let evs = end(&mut s, "d2", "finished");
        let frames = run(&s, &mut tracked, &evs, &all);
        assert_eq!(
            types(&frames),
            ["app_terminated_event", "deployment_success"]
        );
        assert_eq!(frames[0]["appId"], "/web");
        assert!(tracked.plans.is_empty());
    }

    #[test]
    fn an_upgrade_replaced_by_a_forced_change_fails() {
        let mut s = Replicated::default();
        put(&mut s, 1_000, 1, "web", "d1");
        end(&mut s, "d1", "finished");
        let mut tracked = Tracked::of(&s);
        let all = Filter::default();

        let evs = put(&mut s, 2_000, 1, "web v2", "d2");
        let frames = run(&s, &mut tracked, &evs, &all);
        assert_eq!(types(&frames), ["api_post_event", "deployment_info"]);
        let plan = &frames[1]["plan"];
        assert_eq!(plan["original"]["apps"][0]["cmd"], "web");
        assert_eq!(plan["original"]["version"], iso8601(1_000));
        assert_eq!(plan["target"]["apps"][0]["cmd"], "web v2");
        assert_eq!(plan["target"]["version"], iso8601(2_000));

        // A forced change ends d2 ("replaced") and starts d3.
        let evs = put(&mut s, 3_000, 3, "web v2", "d3");
        let frames = run(&s, &mut tracked, &evs, &all);
        assert_eq!(
            types(&frames),
            ["deployment_failed", "api_post_event", "deployment_info"]
        );
        assert_eq!(frames[0]["id"], "d2");
        assert_eq!(frames[0]["reason"], "replaced by a forced change");
        assert_eq!(frames[0]["plan"]["target"]["apps"][0]["cmd"], "web v2");
        assert_eq!(
            frames[2]["currentStep"]["actions"][0]["action"],
            "ScaleApplication"
        );
    }

    #[test]
    fn a_stream_attached_mid_deployment_knows_its_plan() {
        let mut s = Replicated::default();
        put(&mut s, 1_000, 1, "web", "d1");
        let mut tracked = Tracked::of(&s);
        let evs = end(&mut s, "d1", "finished");
        let frames = run(&s, &mut tracked, &evs, &Filter::default());
        assert_eq!(frames[0]["plan"]["target"]["apps"][0]["id"], "/web");

        // One it never saw start still ends, with an empty plan.
        let frames = run(
            &s,
            &mut tracked,
            &[Change::DeploymentEnded {
                id: "d0".into(),
                outcome: "cancelled".into(),
            }],
            &Filter::default(),
        );
        assert_eq!(types(&frames), ["deployment_failed"]);
        assert_eq!(frames[0]["plan"]["steps"], json!([]));
    }

    #[test]
    fn only_app_tasks_are_status_updates() {
        let mut s = Replicated::default();
        let mut tracked = Tracked::default();
        let ev = with_task(&mut s, "some-other-framework");
        assert!(translate(&ev, &s, &mut tracked, 0).is_empty());
        let other = [
            Change::AgentAdmitted {
                id: MachineId("m1".into()),
            },
            Change::AppChanged {
                id: AppId::parse("/web").unwrap(),
                removed: false,
            },
            Change::TaskUpdated {
                id: TaskId("not-an-app-task".into()),
                framework: crate::scheduler::framework_id(),
                state: TaskState::Running,
            },
        ];
        for ev in other {
            assert!(translate(&ev, &s, &mut tracked, 0).is_empty(), "{ev:?}");
        }
    }

    #[test]
    fn filters_and_light_plans() {
        let params = |q: &[(&str, &str)]| -> Params {
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let f = Filter::of(&params(&[
            ("event_type", "deployment_success"),
            ("event_type", "app_terminated_event,status_update_event"),
            ("plan-format", "light"),
        ]));
        assert_eq!(
            f,
            Filter {
                types: vec![
                    "deployment_success".into(),
                    "app_terminated_event".into(),
                    "status_update_event".into()
                ],
                light: true
            }
        );
        assert!(!f.wants("event_stream_attached"));
        assert!(Filter::of(&params(&[])).wants("event_stream_attached"));

        let mut s = Replicated::default();
        let mut tracked = Tracked::default();
        // Both applied before the stream handles them: the start is
        // rebuilt from what is left (an app with one version: a create).
        let mut evs = put(&mut s, 1_000, 1, "web", "d1");
        evs.extend(end(&mut s, "d1", "finished"));
        let frames = run(&s, &mut tracked, &evs, &f);
        assert_eq!(types(&frames), ["deployment_success"]);
        assert_eq!(frames[0]["plan"]["target"]["apps"], json!([]), "light");
        assert_eq!(frames[0]["plan"]["steps"].as_array().unwrap().len(), 2);
    }

    /// The next frame that is not a ping, within a deadline.
    async fn next_event(st: &mut Stream) -> Option<String> {
        loop {
            let got = tokio::time::timeout(Duration::from_secs(10), st.next())
                .await
                .expect("a frame within 10 s");
            match got {
                Some(b) if b == PING_FRAME.as_bytes() => continue,
                other => return other.map(|b| String::from_utf8(b.to_vec()).unwrap()),
            }
        }
    }

    #[tokio::test]
    async fn a_stream_attaches_pings_and_detaches_when_it_falls_behind() {
        let mut s = Replicated::default();
        put(&mut s, 1_000, 1, "web", "d1");
        let mut tracked = Tracked::default();
        let translator: Translator = Box::new(move |ev, now| translate(ev, &s, &mut tracked, now));
        let (tx, rx) = broadcast::channel(2);
        let every = Duration::from_millis(20);
        let mut st = Stream::new(rx, translator, Filter::default(), "10.0.0.9".into(), every);

        let first = next_event(&mut st).await.unwrap();
        assert!(
            first.starts_with("event: event_stream_attached\n"),
            "{first}"
        );
        assert!(first.contains("\"remoteAddress\":\"10.0.0.9\""), "{first}");
        let idle = tokio::time::timeout(Duration::from_secs(10), st.next()).await;
        assert_eq!(
            idle.unwrap().unwrap(),
            PING_FRAME.as_bytes(),
            "an idle stream pings"
        );

        let started = Change::DeploymentStarted {
            id: "d1".into(),
            apps: vec![AppId::parse("/web").unwrap()],
        };
        tx.send((1, started)).unwrap();
        for ty in ["api_post_event", "deployment_info"] {
            let f = next_event(&mut st).await.unwrap();
            assert!(f.starts_with(&format!("event: {ty}\n")), "{f}");
        }

        // Three events into a feed of two: the stream says so and ends.
        for rev in 2..5 {
            let ev = Change::AgentAdmitted {
                id: MachineId(format!("m{rev}")),
            };
            tx.send((rev, ev)).unwrap();
        }
        let last = next_event(&mut st).await.unwrap();
        assert!(last.starts_with("event: event_stream_detached\n"), "{last}");
        assert_eq!(next_event(&mut st).await, None, "nothing after detached");
    }

    #[test]
    fn frames_on_the_wire() {
        let f = String::from_utf8(detached_frame("10.0.0.9", 0).to_vec()).unwrap();
        let (head, data) = f.split_once("\ndata: ").unwrap();
        assert_eq!(head, "event: event_stream_detached");
        assert!(
            data.ends_with("}\n\n") && data.matches('\n').count() == 2,
            "{f:?}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(data.trim_end()).unwrap(),
            json!({"eventType": "event_stream_detached", "remoteAddress": "10.0.0.9",
                   "timestamp": "1970-01-01T00:00:00.000Z"})
        );
        assert!(PING_FRAME.starts_with(':'), "a comment: not an event");
        let mut h = HeaderMap::new();
        assert_eq!(remote_address(None, &h), "unknown");
        h.insert("x-forwarded-for", "10.1.1.1, 10.0.0.2".parse().unwrap());
        assert_eq!(remote_address(None, &h), "10.1.1.1");
        let peer: SocketAddr = "10.2.2.2:4000".parse().unwrap();
        assert_eq!(remote_address(Some(peer), &h), "10.2.2.2");
    }
}
