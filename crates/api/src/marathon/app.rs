//! What `POST /v2/apps` and `PUT /v2/apps/{id}` accept ([`AppRequest`],
//! Marathon's app JSON in camelCase), and [`to_spec`], which applies
//! Marathon's defaults, keeps absent fields on a partial update, and
//! validates in Marathon's shape: every problem of the request at once, each
//! with its JSON path (`/cpus`, `/healthChecks(0)/protocol`).
//!
//! Unknown keys are ignored, as Marathon does: a body built from a `GET`
//! (with `tasks`, `versionInfo`, ...) is accepted. Known keys corral does not
//! keep are ignored when they change nothing corral does (`storeUrls`,
//! `unreachableStrategy`, `role`, `executor: "//cmd"`), and refused when the
//! app would silently run differently (Docker, secrets, GPUs, IP-per-task).
//!
//! The response side is [`super::app_view`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use corral_core::app::{
    AppId, AppIdError, AppSpec, Fetch, HealthCheck, HealthProtocol, KillSelection, PortDefinition,
    ReadinessCheck, UpgradeStrategy,
};
use corral_core::constraint;

use super::error::{Invalid, Problems};
use super::time::{parse_iso8601, BadTimestamp};

/// An app definition as `POST`/`PUT /v2/apps` send it. Every field is
/// optional: absent means "Marathon's default" on a create and "unchanged"
/// on a partial update.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AppRequest {
    pub id: Option<String>,
    pub cmd: Option<String>,
    pub args: Option<Vec<String>>,
    pub user: Option<String>,
    pub cpus: Option<f64>,
    pub mem: Option<f64>,
    pub disk: Option<f64>,
    pub gpus: Option<f64>,
    pub instances: Option<i64>,
    pub executor: Option<String>,
    /// Strings; `{"secret": name}` values are refused.
    pub env: Option<BTreeMap<String, Value>>,
    pub labels: Option<BTreeMap<String, String>>,
    /// Each `[field, OPERATOR]` or `[field, OPERATOR, value]`; numbers are
    /// taken as their decimal text (`["hostname", "MAX_PER", 2]`).
    pub constraints: Option<Vec<Value>>,
    pub accepted_resource_roles: Option<Vec<String>>,
    /// Deprecated: port numbers, mapped to `portDefinitions` over tcp.
    pub ports: Option<Vec<i64>>,
    pub port_definitions: Option<Vec<PortDefinitionRequest>>,
    pub require_ports: Option<bool>,
    pub health_checks: Option<Vec<HealthCheckRequest>>,
    pub readiness_checks: Option<Vec<ReadinessCheckRequest>>,
    pub dependencies: Option<Vec<String>>,
    pub upgrade_strategy: Option<UpgradeStrategyRequest>,
    pub backoff_seconds: Option<f64>,
    pub backoff_factor: Option<f64>,
    pub max_launch_delay_seconds: Option<f64>,
    pub container: Option<ContainerRequest>,
    /// Deprecated: URIs, mapped to `fetch` entries.
    pub uris: Option<Vec<String>>,
    pub fetch: Option<Vec<FetchRequest>>,
    pub task_kill_grace_period_seconds: Option<i64>,
    pub kill_selection: Option<String>,
    pub secrets: Option<BTreeMap<String, Value>>,
    pub residency: Option<Value>,
    pub ip_address: Option<Value>,
    pub networks: Option<Vec<Value>>,
    /// With nothing but `id`: roll back to that version ([`AppRequest::rollback_to`]).
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PortDefinitionRequest {
    pub port: Option<i64>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HealthCheckRequest {
    pub protocol: Option<String>,
    pub path: Option<String>,
    pub port_index: Option<i64>,
    pub port: Option<i64>,
    /// A string, or Marathon's `{"value": "..."}`.
    pub command: Option<Value>,
    pub grace_period_seconds: Option<i64>,
    pub interval_seconds: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub max_consecutive_failures: Option<i64>,
    pub ignore_http1xx: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReadinessCheckRequest {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub path: Option<String>,
    pub port_name: Option<String>,
    pub interval_seconds: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub http_status_codes_for_ready: Option<Vec<i64>>,
    pub preserve_last_response: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UpgradeStrategyRequest {
    pub minimum_health_capacity: Option<f64>,
    pub maximum_over_capacity: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerRequest {
    /// `DOCKER` (Marathon's default) or `MESOS`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub docker: Option<Value>,
    pub volumes: Option<Vec<Value>>,
    pub port_mappings: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FetchRequest {
    pub uri: Option<String>,
    pub extract: Option<bool>,
    pub executable: Option<bool>,
    pub cache: Option<bool>,
    pub dest_path: Option<String>,
}

impl AppRequest {
    /// `{"version": ts}` (with at most `id`): a rollback to that version.
    pub fn rollback_to(&self) -> Option<Result<u64, BadTimestamp>> {
        let version = self.version.as_deref()?;
        let rest = AppRequest {
            id: None,
            version: None,
            ..self.clone()
        };
        (rest == AppRequest::default()).then(|| parse_iso8601(version))
    }

    /// `{"instances": N}` (with at most `id`): a scale.
    pub fn is_scale(&self) -> bool {
        let rest = AppRequest {
            id: None,
            instances: None,
            ..self.clone()
        };
        self.instances.is_some() && rest == AppRequest::default()
    }
}

/// Marathon's defaults for an app with this id (`POST /v2/apps` with only
/// `id` and `cmd` gets these): 1 cpu, 128 MiB, one instance, one port
/// definition with port 0 (any free port), backoff 1 s × 1.15 up to an hour.
pub fn default_spec(id: AppId) -> AppSpec {
    AppSpec {
        id,
        cmd: None,
        args: Vec::new(),
        user: None,
        cpus: 1.0,
        mem_mb: 128.0,
        disk_mb: 0.0,
        instances: 1,
        env: BTreeMap::new(),
        labels: BTreeMap::new(),
        constraints: Vec::new(),
        port_definitions: vec![PortDefinition {
            port: 0,
            protocol: "tcp".to_string(),
            name: None,
            labels: BTreeMap::new(),
        }],
        require_ports: false,
        health_checks: Vec::new(),
        readiness_checks: Vec::new(),
        dependencies: Vec::new(),
        upgrade_strategy: UpgradeStrategy::default(),
        backoff_seconds: 1.0,
        backoff_factor: 1.15,
        max_launch_delay_seconds: 3600.0,
        kill_selection: KillSelection::YoungestFirst,
        fetch: Vec::new(),
        task_kill_grace_period_seconds: None,
        accepted_resource_roles: Vec::new(),
    }
}

/// The definition `req` asks for.
///
/// - `existing: None`: a create; absent fields get Marathon's defaults and
///   `id` is required.
/// - `existing: Some(old)`, `partial`: `PUT` with `partialUpdate=true` (its
///   default): absent fields keep `old`'s values. A new `cmd` drops the old
///   `args` and the other way round.
/// - `existing: Some(old)`, not `partial`: the body replaces the definition
///   (defaults for what it lacks), except that a body of only
///   `{"instances": N}` is always a scale.
///
/// The id can not change: it is `old`'s, and a different `id` is refused.
/// A `PUT` that creates (no `old`) and whose body lacks `id` should set
/// `req.id` from the URL path first.
/// A `version` key is refused unless it is a rollback (see
/// [`AppRequest::rollback_to`], which the caller checks first).
pub fn to_spec(
    req: &AppRequest,
    existing: Option<&AppSpec>,
    partial: bool,
) -> Result<AppSpec, Invalid> {
    let mut p = Problems::default();
    let id = app_id(&mut p, req, existing);
    let mut spec = match existing {
        Some(old) if partial || req.is_scale() => old.clone(),
        _ => default_spec(id.clone()),
    };
    spec.id = id;

    if req.version.is_some() {
        p.add(
            "/version",
            "version may only be combined with id (a rollback to that version); remove it to change the app",
        );
    }
    command(&mut p, req, &mut spec);
    if let Some(user) = &req.user {
        spec.user = Some(user.clone()).filter(|u| !u.is_empty());
    }
    if let Some(v) = req.cpus {
        spec.cpus = at_least(&mut p, "/cpus", v, 0.001);
    }
    if let Some(v) = req.mem {
        spec.mem_mb = at_least(&mut p, "/mem", v, 0.0);
    }
    if let Some(v) = req.disk {
        spec.disk_mb = at_least(&mut p, "/disk", v, 0.0);
    }
    if req.gpus.is_some_and(|g| g != 0.0) {
        p.add(
            "/gpus",
            "GPUs are not supported by this version of corral; remove gpus or set it to 0",
        );
    }
    if let Some(n) = req.instances {
        spec.instances = int_in(&mut p, "/instances", n, 0, u32::MAX.into()) as u32;
    }
    if let Some(e) = req.executor.as_deref() {
        if !e.is_empty() && e != "//cmd" {
            p.add(
                "/executor",
                "custom executors are not supported: corral runs every app under its command executor; remove executor or set it to \"//cmd\"",
            );
        }
    }
    if let Some(env) = &req.env {
        spec.env = env_vars(&mut p, env);
    }
    if let Some(labels) = &req.labels {
        spec.labels = labels.clone();
    }
    if let Some(cs) = &req.constraints {
        spec.constraints = constraints(&mut p, cs);
    }
    if let Some(roles) = &req.accepted_resource_roles {
        spec.accepted_resource_roles = roles.clone();
    }
    if let Some(defs) = port_definitions(&mut p, req) {
        spec.port_definitions = defs;
    }
    if let Some(b) = req.require_ports {
        spec.require_ports = b;
    }
    if let Some(hcs) = &req.health_checks {
        spec.health_checks = hcs
            .iter()
            .enumerate()
            .map(|(i, hc)| health_check(&mut p, &format!("/healthChecks({i})"), hc))
            .collect();
    }
    if let Some(rcs) = &req.readiness_checks {
        spec.readiness_checks = rcs
            .iter()
            .enumerate()
            .map(|(i, rc)| readiness_check(&mut p, &format!("/readinessChecks({i})"), rc))
            .collect();
    }
    if let Some(deps) = &req.dependencies {
        spec.dependencies = dependencies(&mut p, &spec.id, deps);
    }
    if let Some(u) = &req.upgrade_strategy {
        spec.upgrade_strategy = UpgradeStrategy {
            minimum_health_capacity: fraction(
                &mut p,
                "/upgradeStrategy/minimumHealthCapacity",
                u.minimum_health_capacity,
            ),
            maximum_over_capacity: fraction(
                &mut p,
                "/upgradeStrategy/maximumOverCapacity",
                u.maximum_over_capacity,
            ),
        };
    }
    if let Some(v) = req.backoff_seconds {
        spec.backoff_seconds = at_least(&mut p, "/backoffSeconds", v, 0.0);
    }
    if let Some(v) = req.backoff_factor {
        spec.backoff_factor = at_least(&mut p, "/backoffFactor", v, 1.0);
    }
    if let Some(v) = req.max_launch_delay_seconds {
        spec.max_launch_delay_seconds = at_least(&mut p, "/maxLaunchDelaySeconds", v, 0.0);
    }
    if let Some(c) = &req.container {
        container(&mut p, c);
    }
    if let Some(fetch) = fetch(&mut p, req) {
        spec.fetch = fetch;
    }
    if let Some(n) = req.task_kill_grace_period_seconds {
        spec.task_kill_grace_period_seconds =
            Some(int_in(&mut p, "/taskKillGracePeriodSeconds", n, 0, u32::MAX.into()) as u32);
    }
    if let Some(k) = req.kill_selection.as_deref() {
        match k {
            "YOUNGEST_FIRST" => spec.kill_selection = KillSelection::YoungestFirst,
            "OLDEST_FIRST" => spec.kill_selection = KillSelection::OldestFirst,
            other => p.add(
                "/killSelection",
                format!("unknown killSelection {other:?}: use YOUNGEST_FIRST or OLDEST_FIRST"),
            ),
        }
    }
    unsupported(&mut p, req);
    whole_app(&mut p, &spec);
    p.into_result(spec)
}

/// The id: the existing app's, or the request's (required on a create).
fn app_id(p: &mut Problems, req: &AppRequest, existing: Option<&AppSpec>) -> AppId {
    let asked = req.id.as_deref().map(AppId::parse);
    match (existing, asked) {
        (Some(old), Some(Ok(id))) if id != old.id => {
            p.add(
                "/id",
                format!(
                    "this is app {}: an app cannot be renamed to {id}; create a new app and delete this one",
                    old.id
                ),
            );
            old.id.clone()
        }
        (Some(old), Some(Ok(_)) | None) => old.id.clone(),
        (_, Some(Err(e))) => {
            p.add("/id", e.to_string());
            AppId(String::new())
        }
        (None, Some(Ok(id))) => id,
        (None, None) => {
            p.add("/id", AppIdError::Empty.to_string());
            AppId(String::new())
        }
    }
}

/// `cmd` or `args`: one replaces the other.
fn command(p: &mut Problems, req: &AppRequest, spec: &mut AppSpec) {
    let cmd = req.cmd.as_deref().filter(|c| !c.is_empty());
    let args = req.args.as_deref().filter(|a| !a.is_empty());
    match (cmd, args) {
        (Some(_), Some(_)) => p.add(
            "/cmd",
            "give either cmd (run with /bin/sh -c) or args (a command and its arguments), not both",
        ),
        (Some(c), None) => {
            spec.cmd = Some(c.to_string());
            spec.args.clear();
        }
        (None, Some(a)) => {
            spec.cmd = None;
            spec.args = a.to_vec();
        }
        (None, None) => {}
    }
}

/// `v` when it is a finite number ≥ `min`; else a problem (and `min`).
fn at_least(p: &mut Problems, path: &str, v: f64, min: f64) -> f64 {
    if !v.is_finite() {
        p.add(path, format!("must be a finite number ≥ {min}"));
        min
    } else if v < min {
        p.add(path, format!("must be ≥ {min}"));
        min
    } else {
        v
    }
}

/// `n` when `lo ≤ n ≤ hi`; else a problem (and `lo`).
fn int_in(p: &mut Problems, path: &str, n: i64, lo: i64, hi: i64) -> i64 {
    if n < lo {
        p.add(path, format!("must be ≥ {lo}"));
        lo
    } else if n > hi {
        p.add(path, format!("must be ≤ {hi}"));
        lo
    } else {
        n
    }
}

/// An upgrade-strategy fraction: 0 to 1, default 1.
fn fraction(p: &mut Problems, path: &str, v: Option<f64>) -> f64 {
    match v {
        None => 1.0,
        Some(f) if (0.0..=1.0).contains(&f) => f,
        Some(_) => {
            p.add(path, "must be between 0 and 1");
            1.0
        }
    }
}

fn seconds(p: &mut Problems, path: String, v: Option<i64>, default: u32) -> u32 {
    v.map_or(default, |n| int_in(p, &path, n, 0, u32::MAX.into()) as u32)
}

fn env_vars(p: &mut Problems, env: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, v) in env {
        match v {
            Value::String(s) => {
                out.insert(name.clone(), s.clone());
            }
            Value::Object(o) if o.contains_key("secret") => p.add(
                format!("/env/{name}"),
                "secret references are not supported by this version of corral; give the value itself",
            ),
            _ => p.add(format!("/env/{name}"), "must be a string"),
        }
    }
    out
}

fn constraints(p: &mut Problems, cs: &[Value]) -> Vec<constraint::Constraint> {
    let mut out = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        let path = format!("/constraints({i})");
        let parts: Option<Vec<String>> = c.as_array().and_then(|items| {
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        });
        match parts.map(|parts| constraint::parse(&parts)) {
            None => p.add(
                path,
                "a constraint is a list of strings: [field, OPERATOR] or [field, OPERATOR, value], e.g. [\"hostname\", \"UNIQUE\"]",
            ),
            Some(Err(e)) => p.add(path, e.to_string()),
            Some(Ok(c)) => out.push(c),
        }
    }
    out
}

fn port_number(p: &mut Problems, path: String, n: i64) -> u16 {
    int_in(p, &path, n, 0, u16::MAX.into()) as u16
}

/// The port definitions `ports` or `portDefinitions` ask for (`None`: both
/// absent, keep what there is).
fn port_definitions(p: &mut Problems, req: &AppRequest) -> Option<Vec<PortDefinition>> {
    let from_ports = req.ports.as_ref().map(|ports| {
        let defs: Vec<PortDefinition> = ports
            .iter()
            .enumerate()
            .map(|(i, n)| PortDefinition {
                port: port_number(p, format!("/ports({i})"), *n),
                protocol: "tcp".to_string(),
                name: None,
                labels: BTreeMap::new(),
            })
            .collect();
        unique_ports(p, "/ports", &defs);
        defs
    });
    let from_defs = req.port_definitions.as_ref().map(|defs| {
        let defs: Vec<PortDefinition> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| port_definition(p, i, d))
            .collect();
        unique_ports(p, "/portDefinitions", &defs);
        defs
    });
    match (from_ports, from_defs) {
        (Some(ports), Some(defs)) => {
            let numbers = |ds: &[PortDefinition]| ds.iter().map(|d| d.port).collect::<Vec<_>>();
            if numbers(&ports) != numbers(&defs) {
                p.add(
                    "/ports",
                    "ports and portDefinitions disagree; give only portDefinitions (ports is deprecated)",
                );
            }
            Some(defs)
        }
        (ports, defs) => defs.or(ports),
    }
}

fn port_definition(p: &mut Problems, i: usize, d: &PortDefinitionRequest) -> PortDefinition {
    let path = format!("/portDefinitions({i})");
    let protocol = d.protocol.clone().unwrap_or_else(|| "tcp".to_string());
    if !["tcp", "udp", "udp,tcp"].contains(&protocol.as_str()) {
        p.add(
            format!("{path}/protocol"),
            format!("unknown protocol {protocol:?}: use tcp, udp or udp,tcp"),
        );
    }
    PortDefinition {
        port: port_number(p, format!("{path}/port"), d.port.unwrap_or(0)),
        protocol,
        name: d.name.clone().filter(|n| !n.is_empty()),
        labels: d.labels.clone().unwrap_or_default(),
    }
}

/// Names and fixed (non-zero) port numbers must each be unique.
fn unique_ports(p: &mut Problems, path: &str, defs: &[PortDefinition]) {
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for d in defs {
        if let Some(name) = &d.name {
            if !names.insert(name) {
                p.add(
                    path,
                    format!("port names must be unique: {name:?} is used more than once"),
                );
            }
        }
        if d.port != 0 && !numbers.insert(d.port) {
            p.add(
                path,
                format!("ports must be unique: {} is given more than once", d.port),
            );
        }
    }
}

fn health_check(p: &mut Problems, path: &str, hc: &HealthCheckRequest) -> HealthCheck {
    let protocol = match hc.protocol.as_deref().unwrap_or("HTTP") {
        "HTTP" | "MESOS_HTTP" => HealthProtocol::Http,
        "HTTPS" | "MESOS_HTTPS" => HealthProtocol::Https,
        "TCP" | "MESOS_TCP" => HealthProtocol::Tcp,
        "COMMAND" => HealthProtocol::Command,
        other => {
            p.add(
                format!("{path}/protocol"),
                format!(
                    "unknown health check protocol {other:?}: use HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS or MESOS_TCP"
                ),
            );
            HealthProtocol::Http
        }
    };
    let command = match &hc.command {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) if o.get("value").is_some_and(Value::is_string) => {
            o["value"].as_str().map(str::to_string)
        }
        Some(_) => {
            p.add(
                format!("{path}/command"),
                "must be a string or {\"value\": \"<shell command>\"}",
            );
            None
        }
    };
    match (&protocol, &command) {
        (HealthProtocol::Command, None) if !p.under(&format!("{path}/command")) => p.add(
            format!("{path}/command"),
            "a COMMAND check needs a command, e.g. {\"value\": \"curl -f http://localhost:$PORT0/\"}",
        ),
        (HealthProtocol::Http | HealthProtocol::Https | HealthProtocol::Tcp, Some(_)) => p.add(
            format!("{path}/command"),
            "only COMMAND checks run a command; set protocol to COMMAND or remove command",
        ),
        _ => {}
    }
    HealthCheck {
        protocol,
        path: hc.path.clone().unwrap_or_else(|| "/".to_string()),
        port_index: int_in(
            p,
            &format!("{path}/portIndex"),
            hc.port_index.unwrap_or(0),
            0,
            u16::MAX.into(),
        ) as usize,
        port: hc
            .port
            .map(|n| int_in(p, &format!("{path}/port"), n, 1, u16::MAX.into()) as u16),
        command,
        grace_period_seconds: seconds(
            p,
            format!("{path}/gracePeriodSeconds"),
            hc.grace_period_seconds,
            300,
        ),
        interval_seconds: seconds(
            p,
            format!("{path}/intervalSeconds"),
            hc.interval_seconds,
            60,
        ),
        timeout_seconds: seconds(p, format!("{path}/timeoutSeconds"), hc.timeout_seconds, 20),
        max_consecutive_failures: seconds(
            p,
            format!("{path}/maxConsecutiveFailures"),
            hc.max_consecutive_failures,
            3,
        ),
        ignore_http1xx: hc.ignore_http1xx.unwrap_or(false),
    }
}

fn readiness_check(p: &mut Problems, path: &str, rc: &ReadinessCheckRequest) -> ReadinessCheck {
    let protocol = match rc.protocol.as_deref().unwrap_or("HTTP") {
        "HTTP" => HealthProtocol::Http,
        "HTTPS" => HealthProtocol::Https,
        other => {
            p.add(
                format!("{path}/protocol"),
                format!("unknown readiness check protocol {other:?}: use HTTP or HTTPS"),
            );
            HealthProtocol::Http
        }
    };
    let codes = rc.http_status_codes_for_ready.clone().unwrap_or(vec![200]);
    let codes = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            int_in(
                p,
                &format!("{path}/httpStatusCodesForReady({i})"),
                *c,
                100,
                599,
            ) as u16
        })
        .collect();
    ReadinessCheck {
        name: rc
            .name
            .clone()
            .unwrap_or_else(|| "readinessCheck".to_string()),
        protocol,
        path: rc.path.clone().unwrap_or_else(|| "/".to_string()),
        port_name: rc
            .port_name
            .clone()
            .unwrap_or_else(|| "http-api".to_string()),
        interval_seconds: seconds(
            p,
            format!("{path}/intervalSeconds"),
            rc.interval_seconds,
            30,
        ),
        timeout_seconds: seconds(p, format!("{path}/timeoutSeconds"), rc.timeout_seconds, 10),
        http_status_codes_for_ready: codes,
        preserve_last_response: rc.preserve_last_response.unwrap_or(false),
    }
}

/// Dependencies resolved against the app's group (`../db`, `cache`).
fn dependencies(p: &mut Problems, id: &AppId, deps: &[String]) -> Vec<AppId> {
    let mut out = Vec::new();
    for (i, d) in deps.iter().enumerate() {
        match id.resolve(d) {
            Ok(dep) => out.push(dep),
            Err(e) => p.add(format!("/dependencies({i})"), e.to_string()),
        }
    }
    out
}

/// A container is only accepted when it changes nothing: the Mesos
/// containerizer without an image, volumes or port mappings.
fn container(p: &mut Problems, c: &ContainerRequest) {
    match c.kind.as_deref().unwrap_or("DOCKER") {
        "DOCKER" => p.add(
            "/container",
            "DOCKER containers are not supported yet by this version of corral; run a command with cmd or args instead",
        ),
        "MESOS" => {
            let image = c.docker.as_ref().and_then(|d| d.get("image")).and_then(Value::as_str);
            if image.is_some_and(|i| !i.is_empty()) {
                p.add(
                    "/container/docker/image",
                    "container images are not supported yet by this version of corral; run a command with cmd or args instead",
                );
            }
            if c.volumes.as_ref().is_some_and(|v| !v.is_empty()) {
                p.add(
                    "/container/volumes",
                    "volumes are not supported yet by this version of corral",
                );
            }
            if c.port_mappings.as_ref().is_some_and(|v| !v.is_empty()) {
                p.add(
                    "/container/portMappings",
                    "port mappings need container networking, which this version of corral does not have; use portDefinitions",
                );
            }
        }
        other => p.add(
            "/container/type",
            format!("unknown container type {other:?}: Marathon's types are DOCKER and MESOS"),
        ),
    }
}

/// What `uris` or `fetch` ask to fetch (`None`: both absent).
fn fetch(p: &mut Problems, req: &AppRequest) -> Option<Vec<Fetch>> {
    let from_uris = req.uris.as_ref().map(|uris| {
        uris.iter()
            .map(|u| Fetch {
                uri: u.clone(),
                extract: true,
                executable: false,
                cache: false,
                dest_path: None,
            })
            .collect::<Vec<_>>()
    });
    let from_fetch = req.fetch.as_ref().map(|fs| {
        fs.iter()
            .enumerate()
            .map(|(i, f)| {
                let uri = f.uri.clone().unwrap_or_default();
                if uri.is_empty() {
                    p.add(format!("/fetch({i})/uri"), "give the URI to fetch");
                }
                Fetch {
                    uri,
                    extract: f.extract.unwrap_or(true),
                    executable: f.executable.unwrap_or(false),
                    cache: f.cache.unwrap_or(false),
                    dest_path: f.dest_path.clone().filter(|d| !d.is_empty()),
                }
            })
            .collect::<Vec<_>>()
    });
    match (from_uris, from_fetch) {
        (Some(uris), Some(fetch)) => {
            let same = uris.iter().map(|f| &f.uri).eq(fetch.iter().map(|f| &f.uri));
            if !same && !uris.is_empty() {
                p.add(
                    "/uris",
                    "uris and fetch disagree; give only fetch (uris is deprecated)",
                );
            }
            Some(fetch)
        }
        (uris, fetch) => fetch.or(uris),
    }
}

/// Marathon features corral does not have, refused rather than ignored:
/// the app would run without them.
fn unsupported(p: &mut Problems, req: &AppRequest) {
    if req.secrets.as_ref().is_some_and(|s| !s.is_empty()) {
        p.add(
            "/secrets",
            "secrets are not supported by this version of corral; pass values in env",
        );
    }
    if req.residency.as_ref().is_some_and(|r| !r.is_null()) {
        p.add(
            "/residency",
            "resident apps (persistent volumes) are not supported by this version of corral",
        );
    }
    if req.ip_address.as_ref().is_some_and(|r| !r.is_null()) {
        p.add(
            "/ipAddress",
            "IP-per-task networking is not supported by this version of corral; use host ports (portDefinitions)",
        );
    }
    for (i, n) in req.networks.iter().flatten().enumerate() {
        if n.get("mode").and_then(Value::as_str) != Some("host") {
            p.add(
                format!("/networks({i})/mode"),
                "only host networking ({\"mode\": \"host\"}) is supported by this version of corral",
            );
        }
    }
}

/// Rules over the finished definition (they hold whichever fields the
/// request changed).
fn whole_app(p: &mut Problems, spec: &AppSpec) {
    if spec.cmd.is_none() && spec.args.is_empty() && !p.under("/container") && !p.under("/cmd") {
        p.add(
            "/",
            "give cmd (a shell command, run with /bin/sh -c) or args (a command and its arguments)",
        );
    }
    let ports = spec.port_definitions.len();
    for (i, hc) in spec.health_checks.iter().enumerate() {
        let uses_port = hc.protocol != HealthProtocol::Command && hc.port.is_none();
        if uses_port && hc.port_index >= ports {
            p.add(
                format!("/healthChecks({i})/portIndex"),
                format!(
                    "the app has {ports} port(s): portIndex {} addresses none of them; add a port definition or give port",
                    hc.port_index
                ),
            );
        }
    }
    for (i, rc) in spec.readiness_checks.iter().enumerate() {
        let named = spec
            .port_definitions
            .iter()
            .any(|d| d.name.as_deref() == Some(rc.port_name.as_str()));
        if !named {
            p.add(
                format!("/readinessChecks({i})/portName"),
                format!(
                    "no port definition is named {:?}; name one in portDefinitions",
                    rc.port_name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(body: Value) -> AppRequest {
        serde_json::from_value(body).expect("a request body")
    }

    /// `body` is refused with exactly these `(path, error)` pairs.
    #[track_caller]
    fn invalid(body: Value, want: &[(&str, &str)]) {
        let got = to_spec(&req(body.clone()), None, false).expect_err("should be refused");
        assert_eq!(got.message, "Object is not valid");
        let pairs: Vec<(&str, &str)> = got
            .details
            .iter()
            .flat_map(|d| d.errors.iter().map(|e| (d.path.as_str(), e.as_str())))
            .collect();
        assert_eq!(pairs, want, "{body}");
    }

    fn web() -> AppSpec {
        AppSpec {
            cmd: Some("python3 -m http.server $PORT0".into()),
            ..default_spec(AppId::parse("/shop/web").unwrap())
        }
    }

    #[test]
    fn a_minimal_create_gets_marathons_defaults() {
        let spec = to_spec(
            &req(json!({"id": "shop/web", "cmd": "python3 -m http.server $PORT0"})),
            None,
            false,
        )
        .unwrap();
        assert_eq!(spec, web());
        assert_eq!(
            (spec.cpus, spec.mem_mb, spec.disk_mb, spec.instances),
            (1.0, 128.0, 0.0, 1)
        );
        assert_eq!(
            (
                spec.backoff_seconds,
                spec.backoff_factor,
                spec.max_launch_delay_seconds
            ),
            (1.0, 1.15, 3600.0)
        );
        assert_eq!(spec.upgrade_strategy, UpgradeStrategy::default());
        assert_eq!(spec.kill_selection, KillSelection::YoungestFirst);
        assert_eq!(spec.port_definitions.len(), 1, "one port, any free one");
    }

    #[test]
    fn every_supported_field_is_read() {
        let spec = to_spec(
            &req(json!({
                "id": "/shop/web", "args": ["/bin/web", "--port", "$PORT0"], "user": "www",
                "cpus": 0.25, "mem": 64, "disk": 10, "gpus": 0, "instances": 3, "executor": "//cmd",
                "env": {"MODE": "prod"}, "labels": {"team": "shop"},
                "constraints": [["hostname", "UNIQUE"], ["rack", "MAX_PER", 2]],
                "acceptedResourceRoles": ["*"],
                "portDefinitions": [{"port": 0, "name": "http"}, {"port": 9000, "protocol": "udp", "labels": {"k": "v"}}],
                "requirePorts": false,
                "healthChecks": [
                    {"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0},
                    {"protocol": "COMMAND", "command": {"value": "true"}, "maxConsecutiveFailures": 0},
                    {"protocol": "TCP", "port": 9000, "intervalSeconds": 5, "timeoutSeconds": 2, "gracePeriodSeconds": 10}
                ],
                "readinessChecks": [{"portName": "http", "path": "/ready", "httpStatusCodesForReady": [200, 204]}],
                "dependencies": ["db", "../infra/cache"],
                "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
                "backoffSeconds": 2, "backoffFactor": 2, "maxLaunchDelaySeconds": 60,
                "container": {"type": "MESOS"},
                "fetch": [{"uri": "https://example.com/web.tgz", "cache": true}],
                "taskKillGracePeriodSeconds": 30, "killSelection": "OLDEST_FIRST",
                "networks": [{"mode": "host"}], "storeUrls": [], "unreachableStrategy": "disabled",
                "tasksRunning": 2, "versionInfo": {"lastScalingAt": "x"}, "tty": false
            })),
            None,
            false,
        )
        .unwrap();
        let want = AppSpec {
            id: AppId::parse("/shop/web").unwrap(),
            cmd: None,
            args: vec!["/bin/web".into(), "--port".into(), "$PORT0".into()],
            user: Some("www".into()),
            cpus: 0.25,
            mem_mb: 64.0,
            disk_mb: 10.0,
            instances: 3,
            env: [("MODE".to_string(), "prod".to_string())].into(),
            labels: [("team".to_string(), "shop".to_string())].into(),
            constraints: vec![
                constraint::parse(&["hostname".into(), "UNIQUE".into()]).unwrap(),
                constraint::parse(&["rack".into(), "MAX_PER".into(), "2".into()]).unwrap(),
            ],
            port_definitions: vec![
                PortDefinition {
                    port: 0,
                    protocol: "tcp".into(),
                    name: Some("http".into()),
                    labels: BTreeMap::new(),
                },
                PortDefinition {
                    port: 9000,
                    protocol: "udp".into(),
                    name: None,
                    labels: [("k".to_string(), "v".to_string())].into(),
                },
            ],
            require_ports: false,
            health_checks: vec![
                HealthCheck {
                    protocol: HealthProtocol::Http,
                    path: "/health".into(),
                    port_index: 0,
                    port: None,
                    command: None,
                    grace_period_seconds: 300,
                    interval_seconds: 60,
                    timeout_seconds: 20,
                    max_consecutive_failures: 3,
                    ignore_http1xx: false,
                },
                HealthCheck {
                    protocol: HealthProtocol::Command,
                    path: "/".into(),
                    port_index: 0,
                    port: None,
                    command: Some("true".into()),
                    grace_period_seconds: 300,
                    interval_seconds: 60,
                    timeout_seconds: 20,
                    max_consecutive_failures: 0,
                    ignore_http1xx: false,
                },
                HealthCheck {
                    protocol: HealthProtocol::Tcp,
                    path: "/".into(),
                    port_index: 0,
                    port: Some(9000),
                    command: None,
                    grace_period_seconds: 10,
                    interval_seconds: 5,
                    timeout_seconds: 2,
                    max_consecutive_failures: 3,
                    ignore_http1xx: false,
                },
            ],
            readiness_checks: vec![ReadinessCheck {
                name: "readinessCheck".into(),
                protocol: HealthProtocol::Http,
                path: "/ready".into(),
                port_name: "http".into(),
                interval_seconds: 30,
                timeout_seconds: 10,
                http_status_codes_for_ready: vec![200, 204],
                preserve_last_response: false,
            }],
            dependencies: vec![
                AppId::parse("/shop/db").unwrap(),
                AppId::parse("/infra/cache").unwrap(),
            ],
            upgrade_strategy: UpgradeStrategy {
                minimum_health_capacity: 0.5,
                maximum_over_capacity: 0.0,
            },
            backoff_seconds: 2.0,
            backoff_factor: 2.0,
            max_launch_delay_seconds: 60.0,
            kill_selection: KillSelection::OldestFirst,
            fetch: vec![Fetch {
                uri: "https://example.com/web.tgz".into(),
                extract: true,
                executable: false,
                cache: true,
                dest_path: None,
            }],
            task_kill_grace_period_seconds: Some(30),
            accepted_resource_roles: vec!["*".into()],
        };
        assert_eq!(spec, want);
    }

    #[test]
    fn deprecated_ports_and_uris_map_to_their_successors() {
        let spec = to_spec(
            &req(json!({"id": "a", "cmd": "x", "ports": [0, 8080], "uris": ["http://h/f.tgz"]})),
            None,
            false,
        )
        .unwrap();
        let ports: Vec<(u16, &str)> = spec
            .port_definitions
            .iter()
            .map(|d| (d.port, d.protocol.as_str()))
            .collect();
        assert_eq!(ports, [(0, "tcp"), (8080, "tcp")]);
        assert_eq!(spec.fetch[0].uri, "http://h/f.tgz");
        assert!(spec.fetch[0].extract);

        // Both given (a GET sent back): accepted when they agree.
        let both = json!({"id": "a", "cmd": "x", "ports": [8080], "portDefinitions": [{"port": 8080, "name": "http"}]});
        let spec = to_spec(&req(both), None, false).unwrap();
        assert_eq!(spec.port_definitions[0].name.as_deref(), Some("http"));
        // An explicit empty list means no ports at all.
        let none = to_spec(
            &req(json!({"id": "a", "cmd": "x", "portDefinitions": []})),
            None,
            false,
        );
        assert_eq!(none.unwrap().port_definitions, vec![]);
    }

    #[test]
    fn refusals_name_every_problem() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({"cmd": "x"}), vec![("/id", "the id is empty; give a path such as /my-app")]),
            (
                json!({"id": "/Web", "cmd": "x"}),
                vec![("/id", "path segment \"Web\" is not valid: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. /shop/web-1)")],
            ),
            (
                json!({"id": "a", "cmd": "x", "args": ["y"]}),
                vec![("/cmd", "give either cmd (run with /bin/sh -c) or args (a command and its arguments), not both")],
            ),
            (
                json!({"id": "a"}),
                vec![("/", "give cmd (a shell command, run with /bin/sh -c) or args (a command and its arguments)")],
            ),
            (
                json!({"id": "a", "cmd": "x", "cpus": -1, "mem": -0.5, "disk": -1, "instances": -1}),
                vec![
                    ("/cpus", "must be ≥ 0.001"),
                    ("/mem", "must be ≥ 0"),
                    ("/disk", "must be ≥ 0"),
                    ("/instances", "must be ≥ 0"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "cpus": 0, "instances": 5_000_000_000_i64}),
                vec![("/cpus", "must be ≥ 0.001"), ("/instances", "must be ≤ 4294967295")],
            ),
            (
                json!({"id": "a", "cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 1.5, "maximumOverCapacity": -0.1}}),
                vec![
                    ("/upgradeStrategy/minimumHealthCapacity", "must be between 0 and 1"),
                    ("/upgradeStrategy/maximumOverCapacity", "must be between 0 and 1"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "backoffFactor": 0.5, "backoffSeconds": -1, "maxLaunchDelaySeconds": -1}),
                vec![
                    ("/backoffSeconds", "must be ≥ 0"),
                    ("/backoffFactor", "must be ≥ 1"),
                    ("/maxLaunchDelaySeconds", "must be ≥ 0"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "constraints": [["hostname", "UNIQUE"], ["hostname", "unique"], ["rack"], "hostname:UNIQUE"]}),
                vec![
                    ("/constraints(1)", "constraint operators are upper case: use \"UNIQUE\", not \"unique\""),
                    ("/constraints(2)", "a constraint is [field, OPERATOR] or [field, OPERATOR, value], got [\"rack\"]"),
                    ("/constraints(3)", "a constraint is a list of strings: [field, OPERATOR] or [field, OPERATOR, value], e.g. [\"hostname\", \"UNIQUE\"]"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "killSelection": "RANDOM"}),
                vec![("/killSelection", "unknown killSelection \"RANDOM\": use YOUNGEST_FIRST or OLDEST_FIRST")],
            ),
            (
                json!({"id": "a", "cmd": "x", "healthChecks": [{"protocol": "GRPC"}, {"protocol": "COMMAND"}, {"command": "true"}, {"portIndex": 1}]}),
                vec![
                    ("/healthChecks(0)/protocol", "unknown health check protocol \"GRPC\": use HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS or MESOS_TCP"),
                    ("/healthChecks(1)/command", "a COMMAND check needs a command, e.g. {\"value\": \"curl -f http://localhost:$PORT0/\"}"),
                    ("/healthChecks(2)/command", "only COMMAND checks run a command; set protocol to COMMAND or remove command"),
                    ("/healthChecks(3)/portIndex", "the app has 1 port(s): portIndex 1 addresses none of them; add a port definition or give port"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "portDefinitions": [{"port": 80, "name": "http"}, {"port": 80, "name": "http", "protocol": "sctp"}, {"port": 70000}]}),
                vec![
                    ("/portDefinitions(1)/protocol", "unknown protocol \"sctp\": use tcp, udp or udp,tcp"),
                    ("/portDefinitions(2)/port", "must be ≤ 65535"),
                    ("/portDefinitions", "port names must be unique: \"http\" is used more than once"),
                    ("/portDefinitions", "ports must be unique: 80 is given more than once"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "ports": [1], "portDefinitions": [{"port": 2}]}),
                vec![("/ports", "ports and portDefinitions disagree; give only portDefinitions (ports is deprecated)")],
            ),
            (
                json!({"id": "a", "container": {"type": "DOCKER", "docker": {"image": "nginx"}}}),
                vec![("/container", "DOCKER containers are not supported yet by this version of corral; run a command with cmd or args instead")],
            ),
            (
                json!({"id": "a", "cmd": "x", "container": {"type": "MESOS", "docker": {"image": "nginx"}, "volumes": [{"containerPath": "/d"}]}}),
                vec![
                    ("/container/docker/image", "container images are not supported yet by this version of corral; run a command with cmd or args instead"),
                    ("/container/volumes", "volumes are not supported yet by this version of corral"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "readinessChecks": [{"protocol": "TCP"}]}),
                vec![
                    ("/readinessChecks(0)/protocol", "unknown readiness check protocol \"TCP\": use HTTP or HTTPS"),
                    ("/readinessChecks(0)/portName", "no port definition is named \"http-api\"; name one in portDefinitions"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "gpus": 1, "executor": "/opt/exec", "env": {"DB": {"secret": "db"}, "N": 1},
                       "secrets": {"db": {"source": "x"}}, "ipAddress": {"networkName": "n"}, "networks": [{"mode": "container"}]}),
                vec![
                    ("/gpus", "GPUs are not supported by this version of corral; remove gpus or set it to 0"),
                    ("/executor", "custom executors are not supported: corral runs every app under its command executor; remove executor or set it to \"//cmd\""),
                    ("/env/DB", "secret references are not supported by this version of corral; give the value itself"),
                    ("/env/N", "must be a string"),
                    ("/secrets", "secrets are not supported by this version of corral; pass values in env"),
                    ("/ipAddress", "IP-per-task networking is not supported by this version of corral; use host ports (portDefinitions)"),
                    ("/networks(0)/mode", "only host networking ({\"mode\": \"host\"}) is supported by this version of corral"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "dependencies": ["../../Bad"], "fetch": [{"extract": false}]}),
                vec![
                    ("/dependencies(0)", "path segment \"Bad\" is not valid: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. /shop/web-1)"),
                    ("/fetch(0)/uri", "give the URI to fetch"),
                ],
            ),
            (
                json!({"id": "a", "cmd": "x", "version": "2015-09-30T09:09:17.614Z"}),
                vec![("/version", "version may only be combined with id (a rollback to that version); remove it to change the app")],
            ),
        ];
        for (body, want) in cases {
            invalid(body, &want);
        }
    }

    #[test]
    fn a_nan_or_infinite_value_is_refused() {
        let r = AppRequest {
            id: Some("a".into()),
            cmd: Some("x".into()),
            cpus: Some(f64::NAN),
            mem: Some(f64::INFINITY),
            upgrade_strategy: Some(UpgradeStrategyRequest {
                minimum_health_capacity: Some(f64::NAN),
                maximum_over_capacity: None,
            }),
            ..AppRequest::default()
        };
        let got = to_spec(&r, None, false).unwrap_err();
        let paths: Vec<&str> = got.details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/cpus", "/mem", "/upgradeStrategy/minimumHealthCapacity"]
        );
        assert_eq!(got.details[0].errors, ["must be a finite number ≥ 0.001"]);
    }

    #[test]
    fn partial_updates_keep_what_the_body_lacks() {
        let mut old = web();
        old.instances = 2;
        old.env.insert("A".into(), "1".into());
        type Change = Box<dyn Fn(&mut AppSpec)>;
        let cases: Vec<(Value, Change)> = vec![
            // A scale.
            (json!({"instances": 5}), Box::new(|s| s.instances = 5)),
            // marathon-python sends the id along.
            (
                json!({"id": "/shop/web", "instances": 0}),
                Box::new(|s| s.instances = 0),
            ),
            (
                json!({"mem": 256, "env": {"B": "2"}}),
                Box::new(|s| {
                    s.mem_mb = 256.0;
                    s.env = [("B".to_string(), "2".to_string())].into();
                }),
            ),
            // args replace cmd.
            (
                json!({"args": ["web"]}),
                Box::new(|s| {
                    s.cmd = None;
                    s.args = vec!["web".into()];
                }),
            ),
            (
                json!({"ports": [8080]}),
                Box::new(|s| s.port_definitions[0].port = 8080),
            ),
            (json!({}), Box::new(|_| {})),
        ];
        for (body, change) in cases {
            let mut want = old.clone();
            change(&mut want);
            assert_eq!(
                to_spec(&req(body.clone()), Some(&old), true),
                Ok(want),
                "{body}"
            );
        }
    }

    #[test]
    fn a_full_update_replaces_but_an_instances_body_still_scales() {
        let mut old = web();
        old.mem_mb = 512.0;
        let replaced = to_spec(&req(json!({"cmd": "sleep 1"})), Some(&old), false).unwrap();
        assert_eq!(replaced.mem_mb, 128.0, "back to the default");
        assert_eq!(replaced.id, old.id, "the id is the app's");

        let scaled = to_spec(&req(json!({"instances": 4})), Some(&old), false).unwrap();
        assert_eq!(
            scaled,
            AppSpec {
                instances: 4,
                ..old.clone()
            }
        );
        assert!(old.same_config(&scaled));
    }

    #[test]
    fn an_update_cannot_rename_or_break_the_app() {
        let old = web();
        let got = to_spec(&req(json!({"id": "/shop/api"})), Some(&old), true).unwrap_err();
        assert_eq!(
            got.details[0].errors[0],
            "this is app /shop/web: an app cannot be renamed to /shop/api; create a new app and delete this one"
        );
        // Dropping every port breaks its health check, which the body did not touch.
        let mut checked = old.clone();
        checked.health_checks = to_spec(
            &req(json!({"healthChecks": [{"protocol": "HTTP"}]})),
            Some(&old),
            true,
        )
        .unwrap()
        .health_checks;
        let got = to_spec(&req(json!({"portDefinitions": []})), Some(&checked), true).unwrap_err();
        assert_eq!(got.details[0].path, "/healthChecks(0)/portIndex");
    }

    #[test]
    fn rollback_and_scale_bodies() {
        let r = req(json!({"version": "2015-09-30T09:09:17.614Z"}));
        assert_eq!(r.rollback_to(), Some(Ok(1_443_604_157_614)));
        let r = req(json!({"id": "/a", "version": "last tuesday"}));
        assert!(matches!(r.rollback_to(), Some(Err(_))));
        assert_eq!(req(json!({"version": "x", "cmd": "y"})).rollback_to(), None);
        assert_eq!(req(json!({"cmd": "y"})).rollback_to(), None);

        assert!(req(json!({"instances": 2})).is_scale());
        assert!(req(json!({"id": "/a", "instances": 2, "tasks": []})).is_scale());
        assert!(!req(json!({"instances": 2, "mem": 1})).is_scale());
        assert!(!req(json!({})).is_scale());
    }
}
