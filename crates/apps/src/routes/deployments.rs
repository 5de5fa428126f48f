//! `/v2/deployments` (list, cancel) and `/v2/queue` (what waits, and why).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::marathon::app_view::Embed;
use corral_api::marathon::deployment::{deployment_view, steps, DeploymentResult};
use corral_api::marathon::error::MarathonError;
use corral_api::marathon::queue::{reject_summary, Delay, OffersSummary, QueueItem};
use corral_api::marathon::time::iso8601;
use corral_core::app::AppId;
use corral_core::Command;
use corral_master::context::now_ms;

use super::{fail, flag, views, Params};
use crate::AppsCtx;

pub async fn list(State(ctx): State<Arc<AppsCtx>>) -> Response {
    let list: Vec<_> = ctx.master.store.read(|s| {
        s.deployments
            .values()
            .map(|d| {
                // While instances start a deployment is at its last step.
                let total = steps(d.change, &d.apps).len() as u32;
                deployment_view(d, total)
            })
            .collect()
    });
    Json(list).into_response()
}

/// DELETE /v2/deployments/{id}: with `force`, the deployment just stops
/// (202, no body); without, its apps go back to their previous versions
/// (a new deployment).
pub async fn cancel(
    State(ctx): State<Arc<AppsCtx>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let result = async {
        let d = ctx
            .master
            .store
            .read(|s| s.deployments.get(&id).cloned())
            .ok_or_else(|| MarathonError::DeploymentNotFound(id.clone()))?;
        let end = Command::EndDeployment {
            id: id.clone(),
            outcome: "cancelled".into(),
        };
        if flag(&params, "force", false) {
            super::write_done(&ctx, end).await?;
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        // Roll each app back to the version before this deployment.
        let previous: Vec<_> = ctx.master.store.read(|s| {
            d.apps
                .iter()
                .filter_map(|a| s.apps.get(a))
                .filter_map(|a| a.versions.last().map(|(_, spec)| spec.clone()))
                .collect()
        });
        super::write_done(&ctx, end).await?;
        let mut result = None;
        for spec in previous {
            let cmd = Command::PutApp {
                spec: Box::new(spec),
                deployment: corral_master::scheduler::new_id(),
                force: true,
            };
            result = Some(super::write(&ctx, cmd).await?);
        }
        let (dep, version, _) = result.unwrap_or_else(|| (id.clone(), now_ms(), false));
        Ok(Json(DeploymentResult::new(&dep, version)).into_response())
    };
    result.await.unwrap_or_else(fail)
}

/// GET /v2/queue: apps with instances still to place, how long their
/// backoff lasts, and — corral's addition — why they wait
/// (`processedOffersSummary.waitingReason`).
pub async fn queue(State(ctx): State<Arc<AppsCtx>>) -> Response {
    let now = now_ms();
    let items: Vec<QueueItem> = ctx.master.store.read(|s| {
        let mut book = ctx.book();
        let queued: Vec<(AppId, u32)> = book.queued.iter().map(|(a, n)| (a.clone(), *n)).collect();
        queued
            .into_iter()
            .filter_map(|(id, count)| {
                let app = s.apps.get(&id)?;
                let launch_at = book.backoff(&id, app.config_version_ms).next_launch_at_ms();
                Some(QueueItem {
                    app: views::app(s, &book, app, &Embed::for_list(std::iter::empty())),
                    count,
                    delay: Delay::until(now, launch_at),
                    since: iso8601(book.queued_since.get(&id).copied().unwrap_or(now)),
                    processed_offers_summary: OffersSummary {
                        processed_offers_count: 0,
                        unused_offers_count: 0,
                        last_unused_offer_at: None,
                        last_used_offer_at: None,
                        reject_summary_last_offers: reject_summary(0, &[]),
                        waiting_reason: book.waiting.get(&id).cloned(),
                    },
                    last_unused_offers: None,
                })
            })
            .collect()
    });
    Json(serde_json::json!({ "queue": items })).into_response()
}

/// DELETE /v2/queue/{appId}/delay: launch again at once.
pub async fn reset_delay(State(ctx): State<Arc<AppsCtx>>, Path(path): Path<String>) -> Response {
    let Some(app) = path.strip_suffix("/delay") else {
        return fail(MarathonError::BadRequest(
            "use DELETE /v2/queue/{appId}/delay".into(),
        ));
    };
    let id = match AppId::parse(app) {
        Ok(id) => id,
        Err(e) => return fail(MarathonError::BadRequest(e.to_string())),
    };
    let mut book = ctx.book();
    if !book.queued.contains_key(&id) {
        return fail(MarathonError::NotQueued(id));
    }
    if let Some((_, b)) = book.backoff.get_mut(&id) {
        b.reset();
    }
    StatusCode::NO_CONTENT.into_response()
}
