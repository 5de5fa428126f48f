//! `/v2/events`: server-sent events, each `event: <type>`, `data: <one
//! line of JSON>` and a blank line. Every JSON carries `eventType` and
//! `timestamp`; marathon-python refuses an event without them or of a type
//! it does not know, and builds a deployment plan's `original`, `target`
//! and `steps` unconditionally.
//!
//! Only the events corral sends are here; the stream starts with
//! [`Event::EventStreamAttached`].

use serde::{Deserialize, Serialize};

use corral_core::app::Deployment;

use super::app_view::{AppView, HealthCheckView};
use super::deployment::{steps, Step};
use super::task::IpAddress;
use super::time::iso8601;

/// One event. The variant is the `eventType` (`status_update_event`, ...).
// Variants holding an app or a plan are large; events are built one at a
// time and serialised at once, so boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "eventType",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// First on every stream.
    EventStreamAttached { remote_address: String },
    /// An app was created or changed through the API.
    ApiPostEvent {
        client_ip: String,
        uri: String,
        app_definition: AppView,
    },
    /// A task changed state.
    StatusUpdateEvent {
        slave_id: String,
        task_id: String,
        /// A Mesos state name, e.g. `TASK_RUNNING`.
        task_status: String,
        message: String,
        app_id: String,
        host: String,
        ports: Vec<u16>,
        ip_addresses: Vec<IpAddress>,
        version: String,
    },
    /// A deployment started (or moved to `current_step`).
    DeploymentInfo {
        plan: DeploymentPlan,
        current_step: Step,
    },
    /// A step of a deployment finished.
    DeploymentStepSuccess {
        plan: DeploymentPlan,
        current_step: Step,
    },
    /// A deployment finished: every instance runs the target.
    DeploymentSuccess { id: String, plan: DeploymentPlan },
    /// A deployment stopped short (cancelled or replaced); `reason` is
    /// corral's addition, for a human.
    DeploymentFailed {
        id: String,
        plan: DeploymentPlan,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An app was deleted and its last instance stopped.
    AppTerminatedEvent { app_id: String },
    /// A task's health changed.
    HealthStatusChangedEvent {
        app_id: String,
        task_id: String,
        instance_id: String,
        version: String,
        alive: bool,
    },
    /// A task failed too many health checks in a row and is killed.
    UnhealthyTaskKillEvent {
        app_id: String,
        task_id: String,
        instance_id: String,
        version: String,
        reason: String,
        host: String,
        slave_id: String,
    },
    /// One health check of a task failed.
    FailedHealthCheckEvent {
        app_id: String,
        task_id: String,
        instance_id: String,
        health_check: HealthCheckView,
    },
}

impl Event {
    /// The `eventType`, as `event_type=` filters name it.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::EventStreamAttached { .. } => "event_stream_attached",
            Event::ApiPostEvent { .. } => "api_post_event",
            Event::StatusUpdateEvent { .. } => "status_update_event",
            Event::DeploymentInfo { .. } => "deployment_info",
            Event::DeploymentStepSuccess { .. } => "deployment_step_success",
            Event::DeploymentSuccess { .. } => "deployment_success",
            Event::DeploymentFailed { .. } => "deployment_failed",
            Event::AppTerminatedEvent { .. } => "app_terminated_event",
            Event::HealthStatusChangedEvent { .. } => "health_status_changed_event",
            Event::UnhealthyTaskKillEvent { .. } => "unhealthy_task_kill_event",
            Event::FailedHealthCheckEvent { .. } => "failed_health_check_event",
        }
    }

    /// The same event with its plan slimmed (`plan-format=light`).
    pub fn light(self) -> Event {
        match self {
            Event::DeploymentInfo { plan, current_step } => Event::DeploymentInfo {
                plan: plan.light(),
                current_step,
            },
            Event::DeploymentStepSuccess { plan, current_step } => Event::DeploymentStepSuccess {
                plan: plan.light(),
                current_step,
            },
            Event::DeploymentSuccess { id, plan } => Event::DeploymentSuccess {
                id,
                plan: plan.light(),
            },
            Event::DeploymentFailed { id, plan, reason } => Event::DeploymentFailed {
                id,
                plan: plan.light(),
                reason,
            },
            other => other,
        }
    }
}

/// The JSON of an event at `at_ms`: its fields, `eventType` and
/// `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    #[serde(flatten)]
    pub event: Event,
    pub timestamp: String,
}

/// One SSE frame: `event: <type>\ndata: <JSON on one line>\n\n`.
pub fn sse_frame(event: &Event, at_ms: u64) -> String {
    let json = serde_json::to_string(&Stamped {
        event: event.clone(),
        timestamp: iso8601(at_ms),
    })
    .expect("events serialise: plain fields, string keys");
    format!("event: {}\ndata: {json}\n\n", event.event_type())
}

/// A deployment plan in events: the root group before (`original`) and
/// after (`target`), and the steps between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentPlan {
    pub id: String,
    pub version: String,
    pub original: GroupState,
    pub target: GroupState,
    pub steps: Vec<Step>,
}

/// The root group as a plan shows it (corral has no other groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// Always `/`.
    pub id: String,
    pub apps: Vec<AppView>,
    pub groups: Vec<serde_json::Value>,
    pub pods: Vec<serde_json::Value>,
    pub dependencies: Vec<String>,
    pub version: String,
}

impl GroupState {
    /// The root group holding `apps`, at version `version_ms`.
    pub fn root(apps: Vec<AppView>, version_ms: u64) -> GroupState {
        GroupState {
            id: "/".to_string(),
            apps,
            groups: Vec::new(),
            pods: Vec::new(),
            dependencies: Vec::new(),
            version: iso8601(version_ms),
        }
    }
}

impl DeploymentPlan {
    /// The plan of `d`: the affected apps' definitions before (`original`,
    /// none for a create) and after (`target`, none for a delete), at
    /// versions `original_ms` and the deployment's.
    pub fn new(
        d: &Deployment,
        original: Vec<AppView>,
        original_ms: u64,
        target: Vec<AppView>,
    ) -> DeploymentPlan {
        DeploymentPlan {
            id: d.id.clone(),
            version: iso8601(d.version_ms),
            original: GroupState::root(original, original_ms),
            target: GroupState::root(target, d.version_ms),
            steps: steps(d.change, &d.apps),
        }
    }

    /// Without the app definitions (`plan-format=light`); `original`,
    /// `target` and `steps` stay, as the client needs them.
    pub fn light(mut self) -> DeploymentPlan {
        self.original.apps.clear();
        self.target.apps.clear();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marathon::app::to_spec;
    use crate::marathon::app_view::definition_view;
    use crate::marathon::whitelist;
    use corral_core::app::{AppId, DeploymentChange};
    use serde_json::{json, Value};

    fn web(instances: u32, version_ms: u64) -> AppView {
        let spec = to_spec(
            &serde_json::from_value(json!({"id": "/web", "cmd": "web", "instances": instances,
                "healthChecks": [{"protocol": "HTTP"}]}))
            .unwrap(),
            None,
            false,
        )
        .unwrap();
        definition_view(&spec, version_ms)
    }

    fn plan(change: DeploymentChange) -> DeploymentPlan {
        let d = Deployment {
            id: "d-1".into(),
            version_ms: 2000,
            apps: vec![AppId::parse("/web").unwrap()],
            change,
            started_at_ms: 2000,
        };
        let (original, target) = match change {
            DeploymentChange::Create => (vec![], vec![web(2, 2000)]),
            DeploymentChange::Delete => (vec![web(2, 1000)], vec![]),
            _ => (vec![web(2, 1000)], vec![web(3, 2000)]),
        };
        DeploymentPlan::new(&d, original, 1000, target)
    }

    /// Every event corral sends, once.
    fn every_event() -> Vec<Event> {
        let hc = web(1, 0).health_checks[0].clone();
        let step = plan(DeploymentChange::Create).steps[1].clone();
        vec![
            Event::EventStreamAttached {
                remote_address: "127.0.0.1".into(),
            },
            Event::ApiPostEvent {
                client_ip: "127.0.0.1".into(),
                uri: "/v2/apps".into(),
                app_definition: web(2, 2000),
            },
            Event::StatusUpdateEvent {
                slave_id: "m1".into(),
                task_id: "web.1".into(),
                task_status: "TASK_RUNNING".into(),
                message: "".into(),
                app_id: "/web".into(),
                host: "node-1".into(),
                ports: vec![31000],
                ip_addresses: vec![IpAddress {
                    ip_address: "127.0.0.101".into(),
                    protocol: "IPv4".into(),
                }],
                version: iso8601(2000),
            },
            Event::DeploymentInfo {
                plan: plan(DeploymentChange::Create),
                current_step: step.clone(),
            },
            Event::DeploymentStepSuccess {
                plan: plan(DeploymentChange::Create),
                current_step: step,
            },
            Event::DeploymentSuccess {
                id: "d-1".into(),
                plan: plan(DeploymentChange::Scale),
            },
            Event::DeploymentFailed {
                id: "d-1".into(),
                plan: plan(DeploymentChange::Upgrade),
                reason: Some("replaced by deployment d-2 (force=true)".into()),
            },
            Event::AppTerminatedEvent {
                app_id: "/web".into(),
            },
            Event::HealthStatusChangedEvent {
                app_id: "/web".into(),
                task_id: "web.1".into(),
                instance_id: "web.1".into(),
                version: iso8601(2000),
                alive: false,
            },
            Event::UnhealthyTaskKillEvent {
                app_id: "/web".into(),
                task_id: "web.1".into(),
                instance_id: "web.1".into(),
                version: iso8601(2000),
                reason: "3 failed HTTP checks in a row".into(),
                host: "node-1".into(),
                slave_id: "m1".into(),
            },
            Event::FailedHealthCheckEvent {
                app_id: "/web".into(),
                task_id: "web.1".into(),
                instance_id: "web.1".into(),
                health_check: hc,
            },
        ]
    }

    fn data_of(frame: &str) -> Value {
        let data = frame
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("a data line");
        serde_json::from_str(data).unwrap()
    }

    #[test]
    fn frames_carry_type_and_timestamp() {
        for ev in every_event() {
            for ev in [ev.clone(), ev.light()] {
                let frame = sse_frame(&ev, 1_443_604_157_614);
                let ty = ev.event_type();
                assert!(
                    frame.starts_with(&format!("event: {ty}\ndata: {{")),
                    "{frame}"
                );
                assert!(frame.ends_with("}\n\n"), "{frame:?}");
                assert_eq!(frame.matches('\n').count(), 3, "one data line: {frame:?}");
                let data = data_of(&frame);
                assert_eq!(data["eventType"], ty, "the tag is the type");
                assert_eq!(data["timestamp"], "2015-09-30T09:09:17.614Z");
                assert!(
                    whitelist::EVENT_TYPES.contains(&ty),
                    "the client knows {ty}"
                );
                if let Some(plan) = data.get("plan") {
                    whitelist::check(plan, &whitelist::PLAN, ty);
                }
                if let Some(app) = data.get("appDefinition") {
                    whitelist::check(app, &whitelist::APP, ty);
                }
                let back: Stamped = serde_json::from_value(data).unwrap();
                assert_eq!(back.event, ev);
            }
        }
    }

    #[test]
    fn a_status_update() {
        let ev = &every_event()[2];
        assert_eq!(
            data_of(&sse_frame(ev, 0)),
            json!({
                "eventType": "status_update_event", "timestamp": "1970-01-01T00:00:00.000Z",
                "slaveId": "m1", "taskId": "web.1", "taskStatus": "TASK_RUNNING", "message": "",
                "appId": "/web", "host": "node-1", "ports": [31000],
                "ipAddresses": [{"ipAddress": "127.0.0.101", "protocol": "IPv4"}],
                "version": "1970-01-01T00:00:02.000Z"
            })
        );
    }

    #[test]
    fn plans_have_original_target_and_steps() {
        let create = serde_json::to_value(plan(DeploymentChange::Create)).unwrap();
        assert_eq!(create["original"]["apps"], json!([]));
        assert_eq!(create["original"]["version"], "1970-01-01T00:00:01.000Z");
        assert_eq!(create["target"]["apps"][0]["id"], "/web");
        assert_eq!(create["target"]["id"], "/");
        assert_eq!(
            create["steps"],
            json!([{"actions": [{"action": "StartApplication", "app": "/web"}]},
                   {"actions": [{"action": "ScaleApplication", "app": "/web"}]}])
        );
        let light = serde_json::to_value(plan(DeploymentChange::Upgrade).light()).unwrap();
        assert_eq!(light["original"]["apps"], json!([]));
        assert_eq!(light["target"]["apps"], json!([]));
        assert_eq!(
            light["steps"][0]["actions"][0]["action"],
            "RestartApplication"
        );
        whitelist::check(&light, &whitelist::PLAN, "light plan");
    }
}
