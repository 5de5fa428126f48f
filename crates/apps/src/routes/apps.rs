//! `/v2/apps`: list, create, get, update (scale, change, roll back),
//! restart, delete, versions, and the app's tasks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::marathon::app::{to_spec, AppRequest};
use corral_api::marathon::app_view::{definition_view, Embed};
use corral_api::marathon::deployment::{DeploymentResult, DEPLOYMENT_ID_HEADER};
use corral_api::marathon::error::MarathonError;
use corral_api::marathon::time::iso8601;
use corral_core::app::{AppId, AppSpec};
use corral_core::Command;
use corral_master::scheduler::new_id;

use super::{fail, flag, values, views, write, Params};
use crate::AppsCtx;

/// What a path under `/v2/apps/` names.
enum Target {
    App(AppId),
    Tasks(AppId),
    Task(AppId, String),
    Versions(AppId),
    Version(AppId, String),
    Restart(AppId),
    /// `/v2/apps/<group>/*`: every app under the group.
    Group(String),
}

fn app_id(raw: &str) -> Result<AppId, MarathonError> {
    AppId::parse(raw).map_err(|e| MarathonError::BadRequest(format!("invalid app id {raw:?}: {e}")))
}

fn target(path: &str) -> Result<Target, MarathonError> {
    let path = path.trim_end_matches('/');
    if path == "*" || path.ends_with("/*") {
        return Ok(Target::Group(path.trim_end_matches('*').to_string()));
    }
    if let Some(app) = path.strip_suffix("/restart") {
        return Ok(Target::Restart(app_id(app)?));
    }
    if let Some(app) = path.strip_suffix("/tasks") {
        return Ok(Target::Tasks(app_id(app)?));
    }
    if let Some(app) = path.strip_suffix("/versions") {
        return Ok(Target::Versions(app_id(app)?));
    }
    if let Some((app, task)) = path.rsplit_once("/tasks/") {
        return Ok(Target::Task(app_id(app)?, task.to_string()));
    }
    if let Some((app, v)) = path.rsplit_once("/versions/") {
        return Ok(Target::Version(app_id(app)?, v.to_string()));
    }
    Ok(Target::App(app_id(path)?))
}

pub(crate) fn deployment_result(deployment: &str, version_ms: u64, status: StatusCode) -> Response {
    let mut resp = (status, Json(DeploymentResult::new(deployment, version_ms))).into_response();
    if let Ok(v) = HeaderValue::from_str(deployment) {
        resp.headers_mut().insert(DEPLOYMENT_ID_HEADER, v);
    }
    resp
}

fn parse_body(body: &Bytes) -> Result<AppRequest, MarathonError> {
    serde_json::from_slice(body).map_err(|e| MarathonError::BadJson(e.to_string()))
}

pub async fn list(State(ctx): State<Arc<AppsCtx>>, Query(params): Query<Params>) -> Response {
    let embed = Embed::for_list(values(&params, "embed"));
    let cmd = params
        .iter()
        .find(|(k, _)| k == "cmd")
        .map(|(_, v)| v.clone());
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone());
    let apps = ctx.master.store.read(|s| {
        let book = ctx.book();
        s.apps
            .values()
            .filter(|a| {
                cmd.as_ref()
                    .is_none_or(|c| a.spec.cmd.as_ref().is_some_and(|x| x.contains(c)))
            })
            .filter(|a| id.as_ref().is_none_or(|i| a.spec.id.0.contains(i.as_str())))
            .map(|a| views::app(s, &book, a, &embed))
            .collect::<Vec<_>>()
    });
    // Serialised straight from the views: going through a
    // `serde_json::Value` first cost as much again (every key inserted
    // into and dropped from a map) at 1,000 apps × 10 tasks.
    #[derive(serde::Serialize)]
    struct AppList {
        apps: Vec<corral_api::marathon::app_view::AppView>,
    }
    // Written into a buffer the size of the last answer: growing one from
    // empty copied a 4.5 MiB answer a dozen times over.
    static LAST_LEN: AtomicUsize = AtomicUsize::new(0);
    let mut out = Vec::with_capacity(LAST_LEN.load(Ordering::Relaxed) + 4096);
    if let Err(e) = serde_json::to_writer(&mut out, &AppList { apps }) {
        let message = format!("could not encode the app list: {e}");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "message": message })),
        )
            .into_response();
    }
    LAST_LEN.store(out.len(), Ordering::Relaxed);
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

pub async fn create(State(ctx): State<Arc<AppsCtx>>, body: Bytes) -> Response {
    match create_app(&ctx, &body).await {
        Ok(r) => r,
        Err(e) => fail(e),
    }
}

async fn create_app(ctx: &AppsCtx, body: &Bytes) -> Result<Response, MarathonError> {
    let req = parse_body(body)?;
    let spec = to_spec(&req, None, false).map_err(MarathonError::Invalid)?;
    if ctx.master.store.read(|s| s.apps.contains_key(&spec.id)) {
        return Err(MarathonError::AppExists(spec.id));
    }
    let id = spec.id.clone();
    let (deployment, _, _) = put(ctx, spec, false).await?;
    let view = ctx.master.store.read(|s| {
        let book = ctx.book();
        s.apps
            .get(&id)
            .map(|a| views::app(s, &book, a, &Embed::for_app(std::iter::empty())))
    });
    let Some(view) = view else {
        return Err(MarathonError::AppNotFound(id));
    };
    let mut resp = (StatusCode::CREATED, Json(view)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/apps{id}")) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&deployment) {
        h.insert(DEPLOYMENT_ID_HEADER, v);
    }
    Ok(resp)
}

pub(crate) async fn put(
    ctx: &AppsCtx,
    spec: AppSpec,
    force: bool,
) -> Result<(String, u64, bool), MarathonError> {
    write(
        ctx,
        Command::PutApp {
            spec: Box::new(spec),
            deployment: new_id(),
            force,
        },
    )
    .await
}

pub async fn get_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let result = (|| {
        let t = target(&path)?;
        ctx.master.store.read(|s| {
            let book = ctx.book();
            let found = |id: &AppId| s.apps.get(id).ok_or_else(|| MarathonError::AppNotFound(id.clone()));
            let json = match t {
                Target::App(id) => {
                    let a = found(&id)?;
                    serde_json::json!({ "app": views::app(s, &book, a, &Embed::for_app(values(&params, "embed"))) })
                }
                Target::Group(prefix) => {
                    let embed = Embed::for_list(values(&params, "embed"));
                    let group = format!("/{}", prefix.trim_matches('/'));
                    let apps: Vec<_> = s
                        .apps
                        .values()
                        .filter(|a| group == "/" || a.spec.id.0.starts_with(&format!("{group}/")))
                        .map(|a| views::app(s, &book, a, &embed))
                        .collect();
                    serde_json::json!({ "*": apps })
                }
                Target::Tasks(id) => {
                    let a = found(&id)?;
                    let tasks: Vec<_> = views::live_tasks(s, &id).map(|t| views::task(s, &book, a, t)).collect();
                    serde_json::json!({ "tasks": tasks })
                }
                Target::Versions(id) => {
                    let a = found(&id)?;
                    let mut v: Vec<String> = a.versions.iter().map(|(ms, _)| iso8601(*ms)).collect();
                    v.push(iso8601(a.version_ms));
                    v.reverse();
                    serde_json::json!({ "versions": v })
                }
                Target::Version(id, version) => {
                    let a = found(&id)?;
                    let ms = corral_api::marathon::time::parse_iso8601(&version)
                        .map_err(|e| MarathonError::BadRequest(e.to_string()))?;
                    let spec = if ms == a.version_ms {
                        Some(&a.spec)
                    } else {
                        a.versions.iter().find(|(v, _)| *v == ms).map(|(_, s)| s)
                    };
                    let spec = spec.ok_or_else(|| {
                        MarathonError::BadRequest(format!("App '{id}' has no version {version}"))
                    })?;
                    serde_json::to_value(definition_view(spec, ms)).unwrap_or_default()
                }
                Target::Task(..) | Target::Restart(_) => {
                    return Err(MarathonError::BadRequest("use DELETE or POST on this path".into()))
                }
            };
            Ok(json)
        })
    })();
    match result {
        Ok(json) => Json(json).into_response(),
        Err(e) => fail(e),
    }
}

pub async fn put_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    let result = async {
        let Target::App(id) = target(&path)? else {
            return Err(MarathonError::BadRequest(
                "PUT goes to /v2/apps/{appId}".into(),
            ));
        };
        update(&ctx, id, &body, &params).await
    };
    result.await.unwrap_or_else(fail)
}

/// PUT /v2/apps/{id}: scale, change, roll back, or create.
async fn update(
    ctx: &AppsCtx,
    id: AppId,
    body: &Bytes,
    params: &Params,
) -> Result<Response, MarathonError> {
    let force = flag(params, "force", false);
    let partial = flag(params, "partialUpdate", true);
    let mut req = parse_body(body)?;
    let existing = ctx.master.store.read(|s| s.apps.get(&id).cloned());
    if let Some(rollback) = req.rollback_to() {
        let ms = rollback.map_err(|e| MarathonError::BadRequest(e.to_string()))?;
        let a = existing.ok_or_else(|| MarathonError::AppNotFound(id.clone()))?;
        let spec = a
            .versions
            .iter()
            .find(|(v, _)| *v == ms)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                MarathonError::BadRequest(format!("App '{id}' has no version {}", iso8601(ms)))
            })?;
        let (dep, version, _) = put(ctx, spec, force).await?;
        return Ok(deployment_result(&dep, version, StatusCode::OK));
    }
    if existing.is_none() && req.id.is_none() {
        req.id = Some(id.0.clone());
    }
    let spec = to_spec(&req, existing.as_ref().map(|a| &a.spec), partial)
        .map_err(MarathonError::Invalid)?;
    if spec.id != id {
        return Err(MarathonError::BadRequest(format!(
            "the body's id {} is not the path's {id}",
            spec.id
        )));
    }
    let (dep, version, created) = put(ctx, spec, force).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(deployment_result(&dep, version, status))
}

/// PUT /v2/apps: many apps at once (each its own deployment).
pub async fn put_many(
    State(ctx): State<Arc<AppsCtx>>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    let result = async {
        let reqs: Vec<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| MarathonError::BadJson(e.to_string()))?;
        let mut last = None;
        for r in reqs {
            let id = r
                .get("id")
                .and_then(|v| v.as_str())
                .ok_or_else(|| MarathonError::BadRequest("every app needs an id".into()))?;
            let id = app_id(id)?;
            let one = Bytes::from(r.to_string());
            last = Some(update(&ctx, id, &one, &params).await?);
        }
        last.ok_or_else(|| MarathonError::BadRequest("no apps given".into()))
    };
    result.await.unwrap_or_else(fail)
}

pub async fn post_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let result = async {
        let Target::Restart(id) = target(&path)? else {
            return Err(MarathonError::BadRequest(
                "POST under /v2/apps/ is only /v2/apps/{appId}/restart".into(),
            ));
        };
        if !ctx.master.store.read(|s| s.apps.contains_key(&id)) {
            return Err(MarathonError::AppNotFound(id));
        }
        let cmd = Command::RestartApp {
            id,
            deployment: new_id(),
            force: flag(&params, "force", false),
        };
        let (dep, version, _) = write(&ctx, cmd).await?;
        Ok(deployment_result(&dep, version, StatusCode::OK))
    };
    result.await.unwrap_or_else(fail)
}

pub async fn delete_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let result = async {
        match target(&path)? {
            Target::App(id) => {
                if !ctx.master.store.read(|s| s.apps.contains_key(&id)) {
                    return Err(MarathonError::AppNotFound(id));
                }
                let cmd = Command::DeleteApp {
                    id,
                    deployment: new_id(),
                    force: flag(&params, "force", false),
                };
                let (dep, version, _) = write(&ctx, cmd).await?;
                Ok(deployment_result(&dep, version, StatusCode::OK))
            }
            Target::Tasks(id) => super::tasks::kill_app_tasks(&ctx, id, &params).await,
            Target::Task(id, task) => super::tasks::kill_one(&ctx, id, task, &params).await,
            _ => Err(MarathonError::BadRequest(
                "DELETE goes to /v2/apps/{appId}, .../tasks or .../tasks/{taskId}".into(),
            )),
        }
    };
    result.await.unwrap_or_else(fail)
}
