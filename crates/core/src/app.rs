//! Long-running apps (Marathon's role) as the replicated state keeps them:
//! each app's current definition, its earlier versions, and the deployment
//! that moves its instances to the current one. The app scheduler writes
//! these; tasks stay in `State::tasks`, tied to their app by their id
//! (`<app path with / as _>.<unique suffix>`, Marathon's form).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::constraint::Constraint;
use crate::task::TaskId;

/// An app's id: an absolute path of segments (`/shop/web`), canonical (no
/// empty segments, no `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppId(pub String);

impl std::fmt::Display for AppId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is not an app id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppIdError {
    #[error("the id is empty; give a path such as /my-app")]
    Empty,
    #[error(
        "path segment {segment:?} is not valid: use lower-case letters, digits, '-' and '.', \
         starting and ending with a letter or digit (e.g. /shop/web-1)"
    )]
    BadSegment { segment: String },
}

impl AppId {
    /// Canonicalises `raw` (relative ids become absolute, repeated slashes
    /// collapse, a trailing slash goes) and checks every segment against
    /// Marathon's rule: dot-separated labels of `[a-z0-9]` with inner `-`.
    pub fn parse(raw: &str) -> Result<AppId, AppIdError> {
        let segments: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
        if segments.is_empty() {
            return Err(AppIdError::Empty);
        }
        for s in &segments {
            if !valid_segment(s) {
                return Err(AppIdError::BadSegment {
                    segment: s.to_string(),
                });
            }
        }
        Ok(AppId(format!("/{}", segments.join("/"))))
    }

    /// The id a reference such as a dependency (`../db`, `cache`) names,
    /// relative to the group this app is in.
    pub fn resolve(&self, reference: &str) -> Result<AppId, AppIdError> {
        if reference.starts_with('/') {
            return AppId::parse(reference);
        }
        let mut parts: Vec<&str> = self.0.split('/').filter(|s| !s.is_empty()).collect();
        parts.pop(); // this app's own name: references are relative to its group
        for seg in reference.split('/').filter(|s| !s.is_empty()) {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        AppId::parse(&parts.join("/"))
    }

    /// The prefix of its tasks' ids: the path without the leading slash,
    /// `/` replaced by `_` (Marathon's form: `/shop/web` → `shop_web`).
    pub fn task_prefix(&self) -> String {
        self.0.trim_start_matches('/').replace('/', "_")
    }

    /// The id of a task of this app with `suffix` (unique per task).
    pub fn task_id(&self, suffix: &str) -> TaskId {
        TaskId(format!("{}.{suffix}", self.task_prefix()))
    }

    /// The app a task id belongs to, if it has the app form.
    pub fn of_task(task: &TaskId) -> Option<AppId> {
        let (prefix, suffix) = task.0.rsplit_once('.')?;
        if suffix.is_empty() || prefix.is_empty() {
            return None;
        }
        AppId::parse(&prefix.replace('_', "/")).ok()
    }

    /// The group it is in (`/` for a top-level app).
    pub fn group(&self) -> String {
        match self.0.rsplit_once('/') {
            Some(("", _)) | None => "/".to_string(),
            Some((g, _)) => g.to_string(),
        }
    }
}

fn valid_segment(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

pub use crate::deploy::KillSelection;

/// How a rolling upgrade may trade capacity (fractions of `instances`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UpgradeStrategy {
    /// Share of instances that must stay up while old ones are replaced.
    pub minimum_health_capacity: f64,
    /// Share of extra instances allowed above `instances` during it.
    pub maximum_over_capacity: f64,
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        UpgradeStrategy {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

/// A port an app asks for; `port` 0 means any free host port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDefinition {
    pub port: u16,
    pub protocol: String,
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// How the scheduler checks an instance's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthProtocol {
    Http,
    Https,
    Tcp,
    Command,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub protocol: HealthProtocol,
    /// HTTP(S) path.
    pub path: String,
    /// Which of the task's ports (index into its host ports).
    pub port_index: usize,
    /// A fixed port instead of an index.
    pub port: Option<u16>,
    /// COMMAND checks: run with `/bin/sh -c` in the task's sandbox.
    pub command: Option<String>,
    pub grace_period_seconds: u32,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    /// Failures in a row after which the instance is killed (0: never).
    pub max_consecutive_failures: u32,
    pub ignore_http1xx: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessCheck {
    pub name: String,
    pub protocol: HealthProtocol,
    pub path: String,
    pub port_name: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub http_status_codes_for_ready: Vec<u16>,
    pub preserve_last_response: bool,
}

/// A URI fetched into the sandbox before the task starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetch {
    pub uri: String,
    pub extract: bool,
    pub executable: bool,
    pub cache: bool,
    pub dest_path: Option<String>,
}

/// One version of an app's definition: what its instances run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSpec {
    pub id: AppId,
    /// Run with `/bin/sh -c`; or `args` as argv.
    pub cmd: Option<String>,
    pub args: Vec<String>,
    pub user: Option<String>,
    pub cpus: f64,
    pub mem_mb: f64,
    pub disk_mb: f64,
    pub instances: u32,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub constraints: Vec<Constraint>,
    pub port_definitions: Vec<PortDefinition>,
    pub require_ports: bool,
    pub health_checks: Vec<HealthCheck>,
    pub readiness_checks: Vec<ReadinessCheck>,
    pub dependencies: Vec<AppId>,
    pub upgrade_strategy: UpgradeStrategy,
    pub backoff_seconds: f64,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: f64,
    pub kill_selection: KillSelection,
    pub fetch: Vec<Fetch>,
    pub task_kill_grace_period_seconds: Option<u32>,
    pub accepted_resource_roles: Vec<String>,
}

impl AppSpec {
    /// Whether `other` differs only in the instance count (a scale, not a
    /// new configuration).
    pub fn same_config(&self, other: &AppSpec) -> bool {
        AppSpec {
            instances: other.instances,
            ..self.clone()
        } == *other
    }
}

/// An app in the replicated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub spec: AppSpec,
    /// The version of the current definition (ms since the epoch it was
    /// written; shown as an ISO-8601 timestamp).
    pub version_ms: u64,
    /// When the configuration (anything but `instances`) last changed: the
    /// version instances must run.
    pub config_version_ms: u64,
    /// When `instances` last changed.
    pub scaled_at_ms: u64,
    /// Earlier definitions, oldest first (at most [`MAX_VERSIONS`]).
    pub versions: Vec<(u64, AppSpec)>,
}

/// Earlier versions kept per app (Marathon users hit unbounded version
/// lists; this bounds them).
pub const MAX_VERSIONS: usize = 25;

/// A deployment: moving `apps` to their current versions. It ends when
/// the scheduler sees every instance up at its app's config version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub version_ms: u64,
    pub apps: Vec<AppId>,
    /// What was asked, for Marathon's step names.
    pub change: DeploymentChange,
    pub started_at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentChange {
    Create,
    Scale,
    Upgrade,
    Restart,
    Delete,
}

/// Tasks of one app: a range of the id-ordered task map (an app's task
/// ids share its prefix), so the cost is the app's own tasks.
pub fn tasks_of<'a>(
    tasks: &'a std::collections::BTreeMap<TaskId, crate::task::Task>,
    app: &AppId,
) -> impl Iterator<Item = &'a crate::task::Task> {
    let prefix = format!("{}.", app.task_prefix());
    let prefix_len = prefix.len();
    let start = TaskId(prefix.clone());
    tasks
        .range(start..)
        .take_while(move |(id, _)| id.0.starts_with(&prefix))
        // `/a`'s tasks are `a.<suffix>`; `/a.b`'s (`a.b.<suffix>`) share
        // the prefix but not the shape.
        .filter(move |(id, _)| !id.0[prefix_len..].contains('.'))
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids() {
        let ok = [
            ("my-app", "/my-app"),
            ("/my-app", "/my-app"),
            ("//shop//web/", "/shop/web"),
            ("/a.b/c-1", "/a.b/c-1"),
        ];
        for (raw, want) in ok {
            assert_eq!(
                AppId::parse(raw).map(|a| a.0),
                Ok(want.to_string()),
                "{raw}"
            );
        }
        let bad = ["", "/", "/Web", "/-x", "/x-", "/a..b", "/a_b", "/a/ b"];
        for raw in bad {
            assert!(AppId::parse(raw).is_err(), "{raw:?} should be refused");
        }
        assert_eq!(
            AppId::parse("/a_b").unwrap_err().to_string(),
            "path segment \"a_b\" is not valid: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. /shop/web-1)"
        );
    }

    #[test]
    fn references_and_task_ids() {
        let web = AppId::parse("/shop/web").unwrap();
        assert_eq!(web.resolve("db").unwrap().0, "/shop/db");
        assert_eq!(web.resolve("../infra/db").unwrap().0, "/infra/db");
        assert_eq!(web.resolve("./cache").unwrap().0, "/shop/cache");
        assert_eq!(web.resolve("/abs").unwrap().0, "/abs");
        assert_eq!(web.group(), "/shop");
        assert_eq!(AppId::parse("/top").unwrap().group(), "/");

        let t = web.task_id("0f3a");
        assert_eq!(t.0, "shop_web.0f3a");
        assert_eq!(AppId::of_task(&t), Some(web.clone()));
        let dotted = AppId::parse("/a.b").unwrap();
        assert_eq!(AppId::of_task(&dotted.task_id("x")), Some(dotted));
        assert_eq!(AppId::of_task(&TaskId("no-dot".into())), None);
        assert_eq!(AppId::of_task(&TaskId("Bad.x".into())), None);
    }
}
