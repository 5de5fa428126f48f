//! corral's Marathon JSON against the real client: every view is fed to
//! marathon-python 0.13.0's models (tests/py/marathon_models.py parses them
//! the way its client parses responses), and the bodies its client sends
//! (create, scale, get-then-update) are read back with `to_spec`.
//!
//! Needs python3 with `marathon==0.13.0` (scripts/install-test-deps). When
//! python3 or the package is missing the test says so and passes; any
//! other failure fails it.

use std::io::Write;
use std::process::{Command, Stdio};

use corral_api::marathon::app::{to_spec, AppRequest};
use corral_api::marathon::app_view::{app_view, definition_view, Counts, Embed, LastTaskFailure};
use corral_api::marathon::deployment::{deployment_view, DeploymentResult};
use corral_api::marathon::error::MarathonError;
use corral_api::marathon::event::{sse_frame, DeploymentPlan, Event};
use corral_api::marathon::info::{HttpConfig, Info, Leader, MarathonConfig, ZookeeperConfig};
use corral_api::marathon::queue::{reject_summary, Delay, OffersSummary, QueueItem, RejectReason};
use corral_api::marathon::task::{task_view, HealthCheckResult, IpAddress, TaskFacts};
use corral_api::marathon::time::iso8601;
use corral_core::app::{App, AppId, AppSpec, Deployment, DeploymentChange};
use corral_core::framework::FrameworkId;
use corral_core::machine::{MachineId, Resources};
use corral_core::task::{StatusRecord, Task, TaskId, TaskSpec, TaskState};
use serde_json::{json, Value};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/marathon_models.py");

/// True when python3 and the `marathon` package are there; otherwise says
/// what is missing.
fn have_marathon_python() -> bool {
    match Command::new("python3")
        .args(["-c", "import marathon"])
        .output()
    {
        Err(e) => {
            eprintln!("SKIPPED: python3 not found ({e}); run scripts/install-test-deps");
            false
        }
        Ok(out) if !out.status.success() => {
            eprintln!(
                "SKIPPED: python3 cannot import marathon (install marathon==0.13.0: scripts/install-test-deps): {}",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
            );
            false
        }
        Ok(_) => true,
    }
}

fn spec() -> AppSpec {
    let body = json!({
        "id": "/shop/web", "cmd": "python3 -m http.server $PORT0", "cpus": 0.1, "mem": 32, "instances": 2,
        "constraints": [["hostname", "UNIQUE"]], "labels": {"team": "shop"},
        "portDefinitions": [{"port": 0, "name": "http"}],
        "healthChecks": [{"protocol": "HTTP", "path": "/"}, {"protocol": "COMMAND", "command": {"value": "true"}}],
        "readinessChecks": [{"portName": "http"}],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
        "fetch": [{"uri": "https://example.com/site.tgz"}],
        "dependencies": ["db"], "taskKillGracePeriodSeconds": 3, "acceptedResourceRoles": ["*"]
    });
    let req: AppRequest = serde_json::from_value(body).unwrap();
    to_spec(&req, None, false).expect("a valid definition")
}

fn task(suffix: &str, states: &[(TaskState, u64)]) -> Task {
    Task {
        spec: TaskSpec {
            id: TaskId(format!("shop_web.{suffix}")),
            name: "web".into(),
            resources: Resources {
                cpus: 0.1,
                mem_mb: 32,
                disk_mb: 0,
                ports: vec![(31000, 31000)],
            },
            command: "python3 -m http.server $PORT0".into(),
            env: Default::default(),
            ..Default::default()
        },
        framework: FrameworkId("marathon".into()),
        agent: MachineId("m1".into()),
        state: states.last().unwrap().0,
        statuses: states
            .iter()
            .map(|(state, at_ms)| StatusRecord {
                state: *state,
                at_ms: *at_ms,
                reason: None,
                message: Some("Command exited with status 7".into()),
                revision: None,
            })
            .collect(),
        unacked: None,
    }
}

fn samples() -> Value {
    let app = App {
        spec: spec(),
        version_ms: 1_443_604_157_614,
        config_version_ms: 1_443_604_000_000,
        scaled_at_ms: 1_443_604_157_614,
        versions: Vec::new(),
    };
    let id = app.spec.id.clone();
    let running = task(
        "a1",
        &[
            (TaskState::Staging, 1_443_604_158_000),
            (TaskState::Running, 1_443_604_159_000),
        ],
    );
    let staging = task("a2", &[(TaskState::Staging, 1_443_604_158_000)]);
    let failed = task(
        "a0",
        &[
            (TaskState::Staging, 1_443_604_100_000),
            (TaskState::Failed, 1_443_604_101_000),
        ],
    );
    let facts = |t| TaskFacts {
        task: t,
        app: &id,
        hostname: "node-1",
        ip: "127.0.0.101",
        ports: &[31000],
        service_ports: &[10000],
        version_ms: app.config_version_ms,
    };
    let health = vec![HealthCheckResult {
        alive: true,
        consecutive_failures: 0,
        first_success: Some(iso8601(1_443_604_160_000)),
        last_success: Some(iso8601(1_443_604_170_000)),
        last_failure: None,
        last_failure_cause: None,
        task_id: "shop_web.a1".into(),
        instance_id: "shop_web.a1".into(),
    }];
    let tasks = vec![
        task_view(facts(&running), Some(health)),
        task_view(
            TaskFacts {
                ports: &[],
                service_ports: &[],
                ..facts(&staging)
            },
            None,
        ),
    ];
    let counts = Counts {
        staged: 1,
        running: 1,
        healthy: 1,
        unhealthy: 0,
    };
    let failure = LastTaskFailure::of(&failed, &id, "node-2", app.config_version_ms);
    let single = app_view(
        &app,
        &Embed::for_app(["app.readiness"]),
        tasks.clone(),
        counts,
        vec!["d-1".into()],
        Some(failure.clone()),
    );
    let listed = app_view(
        &app,
        &Embed::for_list([]),
        vec![],
        counts,
        vec!["d-1".into()],
        None,
    );

    let d = Deployment {
        id: "d-1".into(),
        version_ms: app.version_ms,
        apps: vec![id.clone()],
        change: DeploymentChange::Create,
        started_at_ms: app.version_ms,
    };
    let queue = QueueItem {
        app: definition_view(&app.spec, app.version_ms),
        count: 1,
        delay: Delay::until(1_443_604_160_000, 1_443_604_161_500),
        since: iso8601(1_443_604_157_614),
        processed_offers_summary: OffersSummary {
            processed_offers_count: 3,
            unused_offers_count: 3,
            last_unused_offer_at: Some(iso8601(1_443_604_160_000)),
            last_used_offer_at: None,
            reject_summary_last_offers: reject_summary(
                3,
                &[(RejectReason::UnfulfilledConstraint, 3)],
            ),
            waiting_reason: Some("UNIQUE hostname: both agents already run an instance".into()),
        },
        last_unused_offers: None,
    };
    let info = Info::new(
        "0.1.0",
        true,
        Some("node-1:8080".into()),
        MarathonConfig::new("zk://127.0.0.101:2181/mesos", "node-1"),
        ZookeeperConfig::new("zk://127.0.0.101:2181/marathon"),
        HttpConfig {
            http_port: 8080,
            https_port: 8443,
        },
    );
    let invalid = to_spec(
        &serde_json::from_value(json!({"id": "/Bad", "cmd": "x", "cpus": -1})).unwrap(),
        None,
        false,
    )
    .unwrap_err();

    let plan = DeploymentPlan::new(
        &d,
        vec![],
        0,
        vec![definition_view(&app.spec, app.version_ms)],
    );
    let step = plan.steps[1].clone();
    let version = iso8601(app.version_ms);
    let hc = single.health_checks[0].clone();
    let events = vec![
        Event::EventStreamAttached {
            remote_address: "127.0.0.1".into(),
        },
        Event::ApiPostEvent {
            client_ip: "127.0.0.1".into(),
            uri: "/v2/apps".into(),
            app_definition: definition_view(&app.spec, app.version_ms),
        },
        Event::StatusUpdateEvent {
            slave_id: "m1".into(),
            task_id: "shop_web.a1".into(),
            task_status: "TASK_RUNNING".into(),
            message: String::new(),
            app_id: id.0.clone(),
            host: "node-1".into(),
            ports: vec![31000],
            ip_addresses: vec![IpAddress {
                ip_address: "127.0.0.101".into(),
                protocol: "IPv4".into(),
            }],
            version: version.clone(),
        },
        Event::DeploymentInfo {
            plan: plan.clone(),
            current_step: step.clone(),
        },
        Event::DeploymentStepSuccess {
            plan: plan.clone().light(),
            current_step: step,
        },
        Event::DeploymentSuccess {
            id: "d-1".into(),
            plan: plan.clone(),
        },
        Event::DeploymentFailed {
            id: "d-1".into(),
            plan,
            reason: Some("cancelled".into()),
        },
        Event::AppTerminatedEvent {
            app_id: id.0.clone(),
        },
        Event::HealthStatusChangedEvent {
            app_id: id.0.clone(),
            task_id: "shop_web.a1".into(),
            instance_id: "shop_web.a1".into(),
            version: version.clone(),
            alive: false,
        },
        Event::UnhealthyTaskKillEvent {
            app_id: id.0.clone(),
            task_id: "shop_web.a1".into(),
            instance_id: "shop_web.a1".into(),
            version,
            reason: "3 failed HTTP checks in a row".into(),
            host: "node-1".into(),
            slave_id: "m1".into(),
        },
        Event::FailedHealthCheckEvent {
            app_id: id.0.clone(),
            task_id: "shop_web.a1".into(),
            instance_id: "shop_web.a1".into(),
            health_check: hc,
        },
    ];
    let sse: String = events
        .iter()
        .map(|e| sse_frame(e, 1_443_604_170_000))
        .collect();

    json!({
        "app": single,
        "apps": [listed],
        "tasks": tasks,
        "deployments": [deployment_view(&d, 2)],
        "queue": [queue],
        "info": info,
        "leader": Leader { leader: "node-1:8080".into() },
        "deployment_result": DeploymentResult::new("d-1", app.version_ms),
        "invalid": MarathonError::Invalid(invalid).body(),
        "sse": sse,
    })
}

fn run_script(input: &Value) -> Value {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "marathon-python refused corral's JSON:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

fn request(text: &Value) -> AppRequest {
    serde_json::from_str(text.as_str().expect("a JSON body as text")).expect("an app request")
}

#[test]
fn marathon_python_parses_every_view_and_its_requests_read_back() {
    if !have_marathon_python() {
        return;
    }
    eprintln!("--- marathon-python's models parse every view");
    let out = run_script(&samples());
    let parsed = &out["parsed"];
    assert_eq!(parsed["app_id"], "/shop/web");
    assert_eq!(parsed["app_tasks"], 2);
    assert_eq!(parsed["app_deployments"], json!(["d-1"]));
    assert_eq!(parsed["app_version_info"], "2015-09-30T09:06:40+00:00");
    assert_eq!(parsed["app_last_failure"], "2015-09-30T09:08:21+00:00");
    assert_eq!(parsed["apps"], json!(["/shop/web"]));
    assert_eq!(
        parsed["task_started_at"],
        json!(["2015-09-30T09:09:19+00:00", null])
    );
    assert_eq!(
        parsed["endpoints"],
        json!([["/shop/web", 10000, "node-1", 31000]]),
        "list_endpoints pairs service and host ports"
    );
    assert_eq!(
        parsed["deployment_steps"],
        json!([[["StartApplication"], ["ScaleApplication"]]])
    );
    assert_eq!(
        parsed["queue"],
        json!([[
            "/shop/web",
            1,
            2,
            "UNIQUE hostname: both agents already run an instance"
        ]])
    );
    assert_eq!(
        parsed["info"],
        json!([
            "marathon",
            "1.6.322",
            true,
            "node-1:8080",
            8080,
            "zk://127.0.0.101:2181/marathon"
        ])
    );
    assert_eq!(parsed["leader"], "node-1:8080");
    assert_eq!(parsed["deployment_result"], "d-1");
    assert_eq!(
        parsed["events"],
        json!([
            "MarathonEventStreamAttached",
            "MarathonApiPostEvent",
            "MarathonStatusUpdateEvent",
            "MarathonDeploymentInfo",
            "MarathonDeploymentStepSuccess",
            "MarathonDeploymentSuccess",
            "MarathonDeploymentFailed",
            "MarathonAppTerminatedEvent",
            "MarathonHealthStatusChangedEvent",
            "MarathonUnhealthyTaskKillEvent",
            "MarathonFailedHealthCheckEvent"
        ])
    );
    assert_eq!(parsed["invalid"][0], 422);
    assert_eq!(parsed["invalid"][1], "Object is not valid");
    assert_eq!(
        parsed["invalid"][2][1],
        json!({"path": "/cpus", "errors": ["must be ≥ 0.001"]})
    );

    eprintln!("--- the bodies its client sends read back as definitions");
    let reqs = &out["requests"];
    let created = to_spec(&request(&reqs["create"]), None, false).expect("create_app's body");
    assert_eq!(created.id, AppId::parse("/shop/web").unwrap());
    assert_eq!(
        (created.cpus, created.mem_mb, created.instances),
        (0.1, 32.0, 2)
    );
    assert_eq!(created.constraints[0].to_string(), "hostname:UNIQUE");
    assert_eq!(created.port_definitions[0].name.as_deref(), Some("http"));
    assert_eq!(created.health_checks[0].grace_period_seconds, 300);

    let old = spec();
    let scale = request(&reqs["scale"]);
    assert!(scale.is_scale(), "{}", reqs["scale"]);
    let scaled = to_spec(&scale, Some(&old), true).unwrap();
    assert_eq!(
        scaled,
        AppSpec {
            instances: 5,
            ..old.clone()
        }
    );

    let updated = to_spec(&request(&reqs["update"]), Some(&old), true)
        .unwrap_or_else(|e| panic!("update_app's body after get_app: {e}\n{}", reqs["update"]));
    assert_eq!(
        updated,
        AppSpec {
            mem_mb: 256.0,
            ..old
        }
    );
}
