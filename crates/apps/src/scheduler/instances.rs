//! An app's live instances as the planner sees them, read from the
//! replicated tasks (an instance's version is in its environment), with
//! what the health and readiness checkers last saw.

use std::collections::HashMap;

use corral_core::app::{App, AppId};
use corral_core::deploy::{Instance, Phase, Target};
use corral_core::{State, Task, TaskId, TaskState};

use super::health::HealthBook;
use super::launch::VERSION_ENV;
use super::placement::Host;
use super::readiness::{self, Gate, ReadinessBook};
use super::version_text;

/// The app's live (non-terminal) tasks of the app scheduler.
fn live<'a>(s: &'a State, app: &'a AppId) -> impl Iterator<Item = &'a Task> {
    let fw = super::framework_id();
    corral_core::app::tasks_of(&s.tasks, app)
        .filter(move |t| t.framework == fw && !t.state.is_terminal())
}

pub fn has_live_tasks(s: &State, app: &AppId) -> bool {
    live(s, app).next().is_some()
}

/// The app's live instances; those with a kill sent are Killing; health
/// as the checker last saw it; ready unless a running deployment started
/// it and its readiness checks have not all passed yet.
pub fn of_app(
    s: &State,
    app: &AppId,
    killing: &HashMap<TaskId, u64>,
    health: &HealthBook,
    ready: &ReadinessBook,
) -> Vec<Instance> {
    let current = s.apps.get(app);
    let gate = current.and_then(|a| Gate::of(s, a));
    live(s, app)
        .map(|t| Instance {
            task: t.spec.id.clone(),
            version: t.spec.env.get(VERSION_ENV).cloned().unwrap_or_default(),
            phase: if killing.contains_key(&t.spec.id) {
                Phase::Killing
            } else {
                match t.state {
                    TaskState::Staging => Phase::Staging,
                    TaskState::Starting => Phase::Starting,
                    TaskState::Running => Phase::Running,
                    _ => Phase::Killing,
                }
            },
            // None until every check of its version has a result.
            healthy: current
                .and_then(|a| health.healthy(&t.spec.id, super::health::checks_of(a, t).len())),
            ready: readiness::is_ready(ready, gate.as_ref(), t),
            staged_at_ms: t.statuses.first().map_or(0, |st| st.at_ms),
        })
        .collect()
}

/// Where the app's live instances run.
pub fn hosts(s: &State, app: &AppId) -> Vec<Host> {
    live(s, app)
        .filter_map(|t| s.agents.get(&t.agent))
        .map(|a| Host {
            hostname: a.info.ip.clone(),
            attributes: a.info.attributes.clone(),
        })
        .collect()
}

/// What the app should run now.
pub fn target(app: &App) -> Target {
    let spec = &app.spec;
    Target {
        version: version_text(app.config_version_ms),
        instances: spec.instances,
        min_health_capacity: spec.upgrade_strategy.minimum_health_capacity,
        max_over_capacity: spec.upgrade_strategy.maximum_over_capacity,
        kill_selection: spec.kill_selection,
        health_checked: !spec.health_checks.is_empty(),
        readiness_checked: !spec.readiness_checks.is_empty(),
    }
}
