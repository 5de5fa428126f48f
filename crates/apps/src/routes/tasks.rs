//! App tasks: list them, kill them (replaced by the scheduler), or kill
//! and scale down (`scale=true`, one deployment).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::marathon::deployment::{DeploymentResult, DEPLOYMENT_ID_HEADER};
use corral_api::marathon::error::MarathonError;
use corral_api::marathon::task::TaskView;
use corral_api::mesos_v1::{Id, Kill};
use corral_core::app::AppId;
use corral_core::{Command, TaskId, TaskState};
use corral_master::context::now_ms;
use corral_master::scheduler::{new_id, tasks};

use super::{fail, flag, values, views, write, Params};
use crate::AppsCtx;

/// GET /v2/tasks[?status=running|staging]: every app's live tasks.
pub async fn list_all(State(ctx): State<Arc<AppsCtx>>, Query(params): Query<Params>) -> Response {
    let wanted: Vec<String> = values(&params, "status")
        .chain(values(&params, "status[]"))
        .map(str::to_ascii_lowercase)
        .collect();
    let tasks: Vec<TaskView> = ctx.master.store.read(|s| {
        let book = ctx.book();
        s.apps
            .values()
            .flat_map(|a| {
                views::live_tasks(s, &a.spec.id)
                    .filter(|t| {
                        wanted.is_empty()
                            || wanted.iter().any(|w| match w.as_str() {
                                "running" => t.state == TaskState::Running,
                                "staging" => {
                                    matches!(t.state, TaskState::Staging | TaskState::Starting)
                                }
                                _ => false,
                            })
                    })
                    .map(|t| views::task(s, &book, a, t))
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    Json(serde_json::json!({ "tasks": tasks })).into_response()
}

/// Sends kills for `ids` (the scheduler does not count their end as a failure).
async fn kill(ctx: &AppsCtx, ids: &[TaskId]) {
    let fw = crate::scheduler::framework_id();
    let now = now_ms();
    for id in ids {
        ctx.book().killing.insert(id.clone(), now);
        let k = Kill {
            task_id: Id {
                value: id.0.clone(),
            },
            agent_id: None,
        };
        tasks::kill(&ctx.master, &fw, k).await;
    }
}

/// Kills `ids`; with `scale`, first lowers each app's instance count by
/// its killed tasks (a deployment); otherwise answers with the tasks.
async fn kill_tasks(
    ctx: &AppsCtx,
    ids: Vec<TaskId>,
    params: &Params,
) -> Result<Response, MarathonError> {
    let views: Vec<(AppId, TaskView)> = ctx.master.store.read(|s| {
        let book = ctx.book();
        ids.iter()
            .filter_map(|id| {
                let app = AppId::of_task(id)?;
                let a = s.apps.get(&app)?;
                let t = s.tasks.get(id).filter(|t| !t.state.is_terminal())?;
                Some((app, views::task(s, &book, a, t)))
            })
            .collect()
    });
    if flag(params, "scale", false) {
        let mut result = None;
        let mut apps: Vec<&AppId> = views.iter().map(|(a, _)| a).collect();
        apps.dedup();
        for app in apps {
            let n = views.iter().filter(|(a, _)| a == app).count() as u32;
            let spec = ctx
                .master
                .store
                .read(|s| s.apps.get(app).map(|a| a.spec.clone()));
            let Some(mut spec) = spec else { continue };
            spec.instances = spec.instances.saturating_sub(n);
            let cmd = Command::PutApp {
                spec: Box::new(spec),
                deployment: new_id(),
                force: flag(params, "force", false),
            };
            result = Some(write(ctx, cmd).await?);
        }
        kill(ctx, &ids).await;
        let (dep, version, _) = result.unwrap_or_else(|| (new_id(), now_ms(), false));
        let mut resp = Json(DeploymentResult::new(&dep, version)).into_response();
        if let Ok(v) = axum::http::HeaderValue::from_str(&dep) {
            resp.headers_mut().insert(DEPLOYMENT_ID_HEADER, v);
        }
        return Ok(resp);
    }
    kill(ctx, &ids).await;
    let tasks: Vec<TaskView> = views.into_iter().map(|(_, t)| t).collect();
    Ok(Json(serde_json::json!({ "tasks": tasks })).into_response())
}

/// DELETE /v2/apps/{id}/tasks[?host=&scale=]
pub async fn kill_app_tasks(
    ctx: &AppsCtx,
    app: AppId,
    params: &Params,
) -> Result<Response, MarathonError> {
    let host = params
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone());
    let ids: Vec<TaskId> = ctx.master.store.read(|s| {
        if !s.apps.contains_key(&app) {
            return Err(MarathonError::AppNotFound(app.clone()));
        }
        Ok(views::live_tasks(s, &app)
            .filter(|t| {
                host.as_ref().is_none_or(|h| {
                    s.agents
                        .get(&t.agent)
                        .is_some_and(|a| &a.info.ip == h || &a.info.hostname == h)
                })
            })
            .map(|t| t.spec.id.clone())
            .collect())
    })?;
    kill_tasks(ctx, ids, params).await
}

/// DELETE /v2/apps/{id}/tasks/{taskId}[?scale=]
pub async fn kill_one(
    ctx: &AppsCtx,
    app: AppId,
    task: String,
    params: &Params,
) -> Result<Response, MarathonError> {
    let id = TaskId(task.clone());
    let known = ctx.master.store.read(|s| {
        s.tasks
            .get(&id)
            .is_some_and(|t| !t.state.is_terminal() && AppId::of_task(&id).as_ref() == Some(&app))
    });
    if !known {
        return Err(MarathonError::TaskNotFound(task));
    }
    let resp = kill_tasks(ctx, vec![id], params).await?;
    if flag(params, "scale", false) {
        return Ok(resp);
    }
    // One task: `{"task": {...}}`.
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let task = v["tasks"].get(0).cloned().unwrap_or_default();
    Ok(Json(serde_json::json!({ "task": task })).into_response())
}

/// POST /v2/tasks/delete {"ids": [...]}[?scale=]
pub async fn delete_many(
    State(ctx): State<Arc<AppsCtx>>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Ids {
        ids: Vec<String>,
    }
    let result = async {
        let ids: Ids =
            serde_json::from_slice(&body).map_err(|e| MarathonError::BadJson(e.to_string()))?;
        let ids: Vec<TaskId> = ids.ids.into_iter().map(TaskId).collect();
        let unknown: Option<TaskId> = ctx.master.store.read(|s| {
            ids.iter()
                .find(|id| s.tasks.get(*id).is_none_or(|t| t.state.is_terminal()))
                .cloned()
        });
        if let Some(u) = unknown {
            return Err(MarathonError::TaskNotFound(u.0));
        }
        kill_tasks(&ctx, ids, &params).await
    };
    match result.await {
        Ok(r) => r,
        Err(e) if e.status() == 404 => (StatusCode::NOT_FOUND, Json(e.body())).into_response(),
        Err(e) => fail(e),
    }
}
