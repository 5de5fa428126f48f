//! The Marathon-compatible REST API v2 on :8080 of every server, behind
//! the leader proxy. One resource per file; the JSON shapes are
//! `corral_api::marathon`'s.

mod apps;
mod deployments;
mod events;
mod groups;
mod info;
mod tasks;
mod views;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use corral_api::marathon::error::MarathonError;
use corral_core::{Command, Response as Answer};
use corral_master::context::now_ms;

use crate::AppsCtx;

pub fn router(ctx: Arc<AppsCtx>) -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/metrics", get(info::metrics))
        .route("/v2/info", get(info::info))
        .route("/v2/leader", get(info::leader).delete(info::abdicate))
        .route("/v2/apps", get(apps::list).post(apps::create).put(apps::put_many))
        .route(
            "/v2/apps/{*path}",
            get(apps::get_path)
                .put(apps::put_path)
                .patch(apps::put_path)
                .post(apps::post_path)
                .delete(apps::delete_path),
        )
        .route("/v2/tasks", get(tasks::list_all))
        .route("/v2/tasks/delete", post(tasks::delete_many))
        .route("/v2/deployments", get(deployments::list))
        .route("/v2/deployments/{id}", delete(deployments::cancel))
        .route("/v2/queue", get(deployments::queue))
        .route("/v2/queue/{*path}", delete(deployments::reset_delay))
        .route("/v2/events", get(events::stream))
        .route(
            "/v2/groups",
            get(groups::get_root)
                .post(groups::post_root)
                .put(groups::put_root)
                .delete(groups::delete_root),
        )
        .route(
            "/v2/groups/{*path}",
            get(groups::get_path)
                .post(groups::post_path)
                .put(groups::put_path)
                .delete(groups::delete_path),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"message": "no such resource in this Marathon-compatible API"})),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            crate::proxy::leader_proxy,
        ))
        .with_state(ctx)
}

/// A Marathon error as its response.
pub(crate) fn fail(e: MarathonError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(e.body())).into_response()
}

/// Query parameters in order (repeated keys kept).
pub(crate) type Params = Vec<(String, String)>;

/// A boolean query parameter, read case-insensitively (marathon-python
/// sends `True`/`False`); absent is `default`.
pub(crate) fn flag(params: &Params, name: &str, default: bool) -> bool {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map_or(default, |(_, v)| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Every value of a repeated parameter.
pub(crate) fn values<'a>(params: &'a Params, name: &'a str) -> impl Iterator<Item = &'a str> {
    params
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Commits a command that answers `Done` (ending a deployment).
pub(crate) async fn write_done(ctx: &AppsCtx, cmd: Command) -> Result<(), MarathonError> {
    match ctx.master.store.write(cmd, now_ms()).await {
        Ok(Answer::Refused { reason }) => Err(MarathonError::BadRequest(reason)),
        Ok(_) => Ok(()),
        Err(e) => Err(MarathonError::Unavailable(format!(
            "the change was not committed ({e}); retry"
        ))),
    }
}

/// Commits an app command; `Locked` and refusals become Marathon's errors.
pub(crate) async fn write(
    ctx: &AppsCtx,
    cmd: Command,
) -> Result<(String, u64, bool), MarathonError> {
    match ctx.master.store.write(cmd, now_ms()).await {
        Ok(Answer::AppWritten {
            deployment,
            version_ms,
            created,
        }) => Ok((deployment, version_ms, created)),
        Ok(Answer::Locked { deployments }) => Err(MarathonError::Locked { deployments }),
        Ok(Answer::Refused { reason }) => Err(MarathonError::BadRequest(reason)),
        Ok(other) => Err(MarathonError::Unavailable(format!(
            "unexpected answer from the store: {other:?}"
        ))),
        Err(e) => Err(MarathonError::Unavailable(format!(
            "the change was not committed ({e}); retry"
        ))),
    }
}
