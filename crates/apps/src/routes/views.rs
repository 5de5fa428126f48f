//! Apps and tasks as the API shows them: the replicated state plus what
//! the scheduler knows (last failure, health and readiness check
//! results), converted by `corral_api::marathon`.

use corral_api::marathon::app_view::{
    app_view, with_readiness, with_waiting, AppView, Counts, Embed, HttpResponseView,
    LastTaskFailure, ReadinessCheckResultView, WaitingView,
};
use corral_api::marathon::task::{task_view, HealthCheckResult, TaskFacts, TaskView};
use corral_api::marathon::time::parse_iso8601;
use corral_core::app::{tasks_of, App, AppId};
use corral_core::{State, Task, TaskState};

use crate::scheduler::book::Book;
use crate::scheduler::launch::VERSION_ENV;
use crate::scheduler::{health, readiness};
use crate::time::iso;

/// The live tasks of `app` launched by the app scheduler.
pub fn live_tasks<'a>(s: &'a State, app: &'a AppId) -> impl Iterator<Item = &'a Task> {
    let fw = crate::scheduler::framework_id();
    tasks_of(&s.tasks, app).filter(move |t| t.framework == fw && !t.state.is_terminal())
}

/// The config version (ms) a task was launched for.
pub fn task_version_ms(t: &Task) -> u64 {
    t.spec
        .env
        .get(VERSION_ENV)
        .and_then(|v| parse_iso8601(v).ok())
        .unwrap_or(0)
}

pub fn task(s: &State, book: &Book, app: &App, t: &Task) -> TaskView {
    let (hostname, ip) = s
        .agents
        .get(&t.agent)
        .map(|a| (a.info.ip.as_str(), a.info.ip.as_str()))
        .unwrap_or(("", ""));
    let ports: Vec<u16> = t
        .spec
        .resources
        .ports
        .iter()
        .flat_map(|(a, b)| *a..=*b)
        .collect();
    let service: Vec<u16> = app
        .spec
        .port_definitions
        .iter()
        .map(|d| d.port)
        .filter(|p| *p != 0)
        .collect();
    task_view(
        TaskFacts {
            task: t,
            app: &app.spec.id,
            hostname,
            ip,
            ports: &ports,
            service_ports: &service,
            version_ms: task_version_ms(t),
        },
        health_results(book, app, t),
    )
}

/// `healthCheckResults`: absent when the task's version has no health
/// checks, else the checks that have a result.
fn health_results(book: &Book, app: &App, t: &Task) -> Option<Vec<HealthCheckResult>> {
    if health::checks_of(app, t).is_empty() {
        return None;
    }
    let at = |ms: Option<u64>| ms.map(iso);
    let results = book.health.results(&t.spec.id);
    Some(
        results
            .into_iter()
            .map(|(_, h)| HealthCheckResult {
                alive: h.alive,
                consecutive_failures: h.consecutive_failures,
                first_success: at(h.first_success_ms),
                last_success: at(h.last_success_ms),
                last_failure: at(h.last_failure_ms),
                last_failure_cause: h.last_failure_cause.clone(),
                task_id: t.spec.id.0.clone(),
                instance_id: t.spec.id.0.clone(),
            })
            .collect(),
    )
}

/// Staged and running tasks; of the running ones with health checks,
/// those healthy (every check passed) and unhealthy (some check failed).
pub fn counts(book: &Book, app: &App, tasks: &[&Task]) -> Counts {
    let mut c = Counts::default();
    for t in tasks {
        match t.state {
            TaskState::Staging | TaskState::Starting => c.staged += 1,
            TaskState::Running => {
                c.running += 1;
                let checks = health::checks_of(app, t).len();
                match book.health.healthy(&t.spec.id, checks) {
                    Some(true) => c.healthy += 1,
                    Some(false) => c.unhealthy += 1,
                    None => {}
                }
            }
            _ => {}
        }
    }
    c
}

pub fn app(s: &State, book: &Book, a: &App, embed: &Embed) -> AppView {
    let id = &a.spec.id;
    let live: Vec<&Task> = live_tasks(s, id).collect();
    let tasks = if embed.tasks {
        live.iter().map(|t| task(s, book, a, t)).collect()
    } else {
        Vec::new()
    };
    let last_failure = book.last_failure.get(id).and_then(|f| {
        let t = s.tasks.get(&f.task)?;
        Some(LastTaskFailure::of(t, id, &f.host, task_version_ms(t)))
    });
    let view = app_view(
        a,
        embed,
        tasks,
        counts(book, a, &live),
        s.deployments_of(id),
        last_failure,
    );
    let results = if embed.readiness {
        readiness_results(s, book, a)
    } else {
        Vec::new()
    };
    with_waiting(
        with_readiness(view, embed, results),
        embed,
        waiting(book, id),
    )
}

/// Why the app's instances wait for a place, while some do.
fn waiting(book: &Book, id: &AppId) -> Option<WaitingView> {
    let count = *book.queued.get(id).filter(|n| **n > 0)?;
    Some(WaitingView {
        count,
        since: iso(book.queued_since.get(id).copied().unwrap_or(0)),
        reason: book.waiting.get(id).cloned(),
    })
}

/// `readinessCheckResults`: the checks of the instances the app's running
/// deployment started that have a result.
fn readiness_results(s: &State, book: &Book, a: &App) -> Vec<ReadinessCheckResultView> {
    readiness::results(s, &book.readiness, a)
        .into_iter()
        .map(|r| ReadinessCheckResultView {
            name: r.name,
            task_id: r.task.0,
            ready: r.ready,
            last_response: r.last_response.map(|l| HttpResponseView {
                status: l.status,
                content_type: l.content_type,
                body: l.body,
            }),
        })
        .collect()
}
