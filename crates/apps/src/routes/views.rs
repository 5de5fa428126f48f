//! Apps and tasks as the API shows them: the replicated state plus what
//! the scheduler knows (last failure), converted by `corral_api::marathon`.

use corral_api::marathon::app_view::{app_view, AppView, Counts, Embed, LastTaskFailure};
use corral_api::marathon::task::{task_view, TaskFacts, TaskView};
use corral_api::marathon::time::parse_iso8601;
use corral_core::app::{tasks_of, App, AppId};
use corral_core::{State, Task, TaskState};

use crate::scheduler::book::Book;
use crate::scheduler::launch::VERSION_ENV;

/// The live tasks of `app` launched by the app scheduler.
pub fn live_tasks<'a>(s: &'a State, app: &'a AppId) -> impl Iterator<Item = &'a Task> {
    let fw = crate::scheduler::framework_id();
    tasks_of(s.tasks.values(), app).filter(move |t| t.framework == fw && !t.state.is_terminal())
}

/// The config version (ms) a task was launched for.
pub fn task_version_ms(t: &Task) -> u64 {
    t.spec
        .env
        .get(VERSION_ENV)
        .and_then(|v| parse_iso8601(v).ok())
        .unwrap_or(0)
}

pub fn task(s: &State, app: &App, t: &Task) -> TaskView {
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
        None,
    )
}

pub fn counts(tasks: &[&Task]) -> Counts {
    let mut c = Counts::default();
    for t in tasks {
        match t.state {
            TaskState::Staging | TaskState::Starting => c.staged += 1,
            TaskState::Running => c.running += 1,
            _ => {}
        }
    }
    c
}

pub fn app(s: &State, book: &Book, a: &App, embed: &Embed) -> AppView {
    let id = &a.spec.id;
    let live: Vec<&Task> = live_tasks(s, id).collect();
    let tasks = if embed.tasks {
        live.iter().map(|t| task(s, a, t)).collect()
    } else {
        Vec::new()
    };
    let last_failure = book.last_failure.get(id).and_then(|f| {
        let t = s.tasks.get(&f.task)?;
        Some(LastTaskFailure::of(t, id, &f.host, task_version_ms(t)))
    });
    app_view(
        a,
        embed,
        tasks,
        counts(&live),
        s.deployments_of(id),
        last_failure,
    )
}
