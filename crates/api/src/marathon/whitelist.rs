//! The keys marathon-python 0.13.0's models accept, object by object (its
//! `from_json` passes every key as a keyword argument, so any other key
//! raises `TypeError`). Copied from §1.13 of the API reference and the
//! models' constructors; the tests of every view check their JSON against
//! these with [`check`].

use serde_json::Value;

/// What a JSON value may look like.
pub enum Shape {
    /// Anything (the client keeps it as a dict, or is lenient).
    Any,
    /// An object whose keys come from the list.
    Obj(&'static [Key]),
    /// A list whose items have the shape.
    List(&'static Shape),
}

pub struct Key {
    pub name: &'static str,
    /// The client reads it unconditionally (`from_json(None)` crashes).
    pub required: bool,
    pub shape: Shape,
}

const fn k(name: &'static str) -> Key {
    Key {
        name,
        required: false,
        shape: Shape::Any,
    }
}

const fn ks(name: &'static str, shape: Shape) -> Key {
    Key {
        name,
        required: false,
        shape,
    }
}

const fn req(name: &'static str, shape: Shape) -> Key {
    Key {
        name,
        required: true,
        shape,
    }
}

const ACTION: Shape = Shape::Obj(&[
    k("action"),
    k("app"),
    k("apps"),
    k("type"),
    k("readinessCheckResults"),
    k("pod"),
]);

const STEP: Shape = Shape::Obj(&[ks("actions", Shape::List(&ACTION))]);

pub const DEPLOYMENT: Shape = Shape::Obj(&[
    k("affectedApps"),
    ks("currentActions", Shape::List(&ACTION)),
    k("currentStep"),
    k("id"),
    ks("steps", Shape::List(&STEP)),
    k("totalSteps"),
    k("version"),
    k("affectedPods"),
]);

pub const TASK: Shape = Shape::Obj(&[
    k("appId"),
    ks(
        "healthCheckResults",
        Shape::List(&Shape::Obj(&[
            k("alive"),
            k("consecutiveFailures"),
            k("firstSuccess"),
            k("lastFailure"),
            k("lastSuccess"),
            k("taskId"),
            k("lastFailureCause"),
            k("instanceId"),
        ])),
    ),
    k("host"),
    k("id"),
    k("ports"),
    k("servicePorts"),
    k("slaveId"),
    k("stagedAt"),
    k("startedAt"),
    k("version"),
    ks(
        "ipAddresses",
        Shape::List(&Shape::Obj(&[k("ipAddress"), k("protocol")])),
    ),
    k("state"),
    k("localVolumes"),
    k("region"),
    k("zone"),
    k("role"),
]);

const STATS_TYPE: Shape = Shape::Obj(&[ks(
    "stats",
    Shape::Obj(&[
        ks(
            "counts",
            Shape::Obj(&[k("staged"), k("running"), k("healthy"), k("unhealthy")]),
        ),
        ks(
            "lifeTime",
            Shape::Obj(&[k("averageSeconds"), k("medianSeconds")]),
        ),
    ]),
)]);

pub const APP: Shape = Shape::Obj(&[
    k("id"),
    k("cmd"),
    k("args"),
    k("user"),
    k("cpus"),
    k("mem"),
    k("disk"),
    k("gpus"),
    k("instances"),
    k("executor"),
    k("env"),
    k("labels"),
    k("constraints"),
    ks(
        "container",
        Shape::Obj(&[
            k("type"),
            k("docker"),
            ks(
                "portMappings",
                Shape::List(&Shape::Obj(&[
                    k("name"),
                    k("containerPort"),
                    k("hostPort"),
                    k("servicePort"),
                    k("protocol"),
                    k("labels"),
                ])),
            ),
            ks(
                "volumes",
                Shape::List(&Shape::Obj(&[
                    k("containerPath"),
                    k("hostPath"),
                    k("mode"),
                    k("persistent"),
                    k("external"),
                ])),
            ),
        ]),
    ),
    // Lenient in the client (extra keys become attributes).
    k("healthChecks"),
    ks(
        "readinessChecks",
        Shape::List(&Shape::Obj(&[
            k("name"),
            k("protocol"),
            k("path"),
            k("portName"),
            k("intervalSeconds"),
            k("timeoutSeconds"),
            k("httpStatusCodesForReady"),
            k("preserveLastResponse"),
        ])),
    ),
    k("readinessCheckResults"),
    k("dependencies"),
    ks(
        "upgradeStrategy",
        Shape::Obj(&[k("minimumHealthCapacity"), k("maximumOverCapacity")]),
    ),
    k("unreachableStrategy"),
    k("backoffSeconds"),
    k("backoffFactor"),
    k("maxLaunchDelaySeconds"),
    k("ports"),
    ks(
        "portDefinitions",
        Shape::List(&Shape::Obj(&[
            k("port"),
            k("protocol"),
            k("name"),
            k("labels"),
        ])),
    ),
    k("requirePorts"),
    k("uris"),
    k("fetch"),
    k("storeUrls"),
    k("acceptedResourceRoles"),
    k("ipAddress"),
    k("networks"),
    k("residency"),
    k("secrets"),
    k("role"),
    k("killSelection"),
    k("taskKillGracePeriodSeconds"),
    k("taskRateLimit"),
    k("version"),
    ks(
        "versionInfo",
        Shape::Obj(&[k("lastScalingAt"), k("lastConfigChangeAt")]),
    ),
    ks("deployments", Shape::List(&DEPLOYMENT)),
    ks("tasks", Shape::List(&TASK)),
    k("tasksRunning"),
    k("tasksStaged"),
    k("tasksHealthy"),
    k("tasksUnhealthy"),
    ks(
        "lastTaskFailure",
        Shape::Obj(&[
            k("appId"),
            k("host"),
            k("message"),
            k("taskId"),
            k("instanceId"),
            k("slaveId"),
            k("state"),
            k("timestamp"),
            k("version"),
        ]),
    ),
    ks(
        "taskStats",
        Shape::Obj(&[
            ks("startedAfterLastScaling", STATS_TYPE),
            ks("withLatestConfig", STATS_TYPE),
            ks("withOutdatedConfig", STATS_TYPE),
            ks("totalSummary", STATS_TYPE),
        ]),
    ),
]);

pub const QUEUE_ITEM: Shape = Shape::Obj(&[
    req("app", APP),
    k("overdue"),
    k("count"),
    req("delay", Shape::Obj(&[k("timeLeftSeconds"), k("overdue")])),
    k("since"),
    // Kept as a dict by the client.
    k("processedOffersSummary"),
    k("lastUnusedOffers"),
]);

pub const INFO: Shape = Shape::Obj(&[
    ks(
        "eventSubscriber",
        Shape::Obj(&[k("type"), k("http_endpoints")]),
    ),
    k("frameworkId"),
    req(
        "httpConfig",
        Shape::Obj(&[k("assets_path"), k("http_port"), k("https_port")]),
    ),
    k("leader"),
    req(
        "marathonConfig",
        Shape::Obj(&[
            k("access_control_allow_origin"),
            k("checkpoint"),
            k("decline_offer_duration"),
            k("default_network_name"),
            k("env_vars_prefix"),
            k("executor"),
            k("failover_timeout"),
            k("features"),
            k("framework_name"),
            k("ha"),
            k("hostname"),
            k("launch_token"),
            k("launch_token_refresh_interval"),
            k("leader_proxy_connection_timeout_ms"),
            k("leader_proxy_read_timeout_ms"),
            k("local_port_max"),
            k("local_port_min"),
            k("master"),
            k("max_instances_per_offer"),
            k("mesos_bridge_name"),
            k("mesos_heartbeat_failure_threshold"),
            k("mesos_heartbeat_interval"),
            k("mesos_leader_ui_url"),
            k("mesos_role"),
            k("mesos_user"),
            k("min_revive_offers_interval"),
            k("offer_matching_timeout"),
            k("on_elected_prepare_timeout"),
            k("reconciliation_initial_delay"),
            k("reconciliation_interval"),
            k("revive_offers_for_new_apps"),
            k("revive_offers_repetitions"),
            k("scale_apps_initial_delay"),
            k("scale_apps_interval"),
            k("store_cache"),
            k("task_launch_confirm_timeout"),
            k("task_launch_timeout"),
            k("task_lost_expunge_initial_delay"),
            k("task_lost_expunge_interval"),
            k("task_reservation_timeout"),
            k("webui_url"),
            k("maintenance_mode"),
            k("marathon_store_timeout"),
            k("new_group_enforce_role"),
        ]),
    ),
    k("name"),
    k("version"),
    k("elected"),
    req(
        "zookeeperConfig",
        Shape::Obj(&[
            k("zk"),
            k("zk_future_timeout"),
            k("zk_hosts"),
            k("zk_max_versions"),
            k("zk_path"),
            k("zk_session_timeout"),
            k("zk_state"),
            k("zk_timeout"),
            k("zk_connection_timeout"),
            k("zk_compression"),
            k("zk_compression_threshold"),
            k("zk_max_node_size"),
        ]),
    ),
    k("buildref"),
]);

const GROUP_STATE: Shape = Shape::Obj(&[
    k("dependencies"),
    ks("apps", Shape::List(&APP)),
    k("id"),
    k("version"),
    k("groups"),
    k("pods"),
]);

/// A deployment plan inside events (`MarathonDeploymentPlan`).
pub const PLAN: Shape = Shape::Obj(&[
    req("original", GROUP_STATE),
    req("target", GROUP_STATE),
    req("steps", Shape::List(&STEP)),
    k("id"),
    k("version"),
]);

/// The event types marathon-python 0.13.0 knows (`EventFactory`).
pub const EVENT_TYPES: &[&str] = &[
    "api_post_event",
    "status_update_event",
    "framework_message_event",
    "subscribe_event",
    "unsubscribe_event",
    "add_health_check_event",
    "remove_health_check_event",
    "failed_health_check_event",
    "health_status_changed_event",
    "unhealthy_task_kill_event",
    "group_change_success",
    "group_change_failed",
    "deployment_success",
    "deployment_failed",
    "deployment_info",
    "deployment_step_success",
    "deployment_step_failure",
    "event_stream_attached",
    "event_stream_detached",
    "app_terminated_event",
    "instance_changed_event",
    "unknown_instance_terminated_event",
    "unhealthy_instance_kill_event",
    "instance_health_changed_event",
    "pod_created_event",
    "pod_updated_event",
    "pod_deleted_event",
];

/// marathon-python's `to_snake_case`, for the keys it maps (camelCase and
/// snake_case keys both arrive as snake_case keyword arguments).
fn snake(key: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Every problem of `value` against `shape`, with its JSON path.
pub fn problems(value: &Value, shape: &Shape, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, shape, path, &mut out);
    out
}

fn walk(value: &Value, shape: &Shape, path: &str, out: &mut Vec<String>) {
    match (shape, value) {
        (Shape::Any, _) | (_, Value::Null) => {}
        (Shape::Obj(keys), Value::Object(map)) => {
            for key in keys.iter().filter(|k| k.required) {
                if map.get(key.name).is_none_or(Value::is_null)
                    && map.get(&snake(key.name)).is_none_or(Value::is_null)
                {
                    out.push(format!("{path}: required key {:?} is missing", key.name));
                }
            }
            for (name, v) in map {
                match keys.iter().find(|k| snake(k.name) == snake(name)) {
                    None => out.push(format!("{path}: key {name:?} is not accepted")),
                    Some(key) => walk(v, &key.shape, &format!("{path}/{name}"), out),
                }
            }
        }
        (Shape::List(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, item, &format!("{path}({i})"), out);
            }
        }
        (Shape::Obj(_), other) => out.push(format!("{path}: want an object, got {other}")),
        (Shape::List(_), other) => out.push(format!("{path}: want a list, got {other}")),
    }
}

/// Panics listing every key of `value` the client would refuse.
#[track_caller]
pub fn check(value: &Value, shape: &Shape, what: &str) {
    let found = problems(value, shape, what);
    assert!(found.is_empty(), "{}\nin {value:#}", found.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_case_is_the_clients() {
        for (camel, want) in [
            ("ipAddress", "ip_address"),
            ("marathon_config", "marathon_config"),
            ("healthCheckResults", "health_check_results"),
            ("id", "id"),
        ] {
            assert_eq!(snake(camel), want);
        }
    }

    #[test]
    fn the_checker_finds_stray_and_missing_keys() {
        let bad = json!({"app": {"id": "/a", "tty": true, "tasks": [{"id": "t", "slave": "x"}]}});
        assert_eq!(
            problems(&bad, &QUEUE_ITEM, "item"),
            vec![
                "item: required key \"delay\" is missing".to_string(),
                "item/app/tasks(0): key \"slave\" is not accepted".to_string(),
                "item/app: key \"tty\" is not accepted".to_string(),
            ]
        );
    }
}
