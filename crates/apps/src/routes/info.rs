//! `/v2/info`, `/v2/leader` (and abdication), `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::marathon::info::{HttpConfig, Info, Leader, MarathonConfig, ZookeeperConfig};

use crate::AppsCtx;

fn me(ctx: &AppsCtx) -> String {
    format!("{}:{}", ctx.master.cfg.ip, ctx.app_port)
}

pub async fn info(State(ctx): State<Arc<AppsCtx>>) -> Response {
    let master = format!("zk://{}:2181/mesos", ctx.master.cfg.ip);
    let mut info = Info::new(
        env!("CARGO_PKG_VERSION"),
        true,
        Some(me(&ctx)),
        MarathonConfig::new(&master, &ctx.master.cfg.ip),
        ZookeeperConfig::new(&format!("zk://{}:2181/marathon", ctx.master.cfg.ip)),
        HttpConfig {
            http_port: ctx.app_port,
            https_port: 8443,
        },
    );
    info.framework_id = Some(crate::scheduler::FRAMEWORK_ID.to_string());
    Json(info).into_response()
}

/// GET /v2/leader (served by the leader, through the proxy).
pub async fn leader(State(ctx): State<Arc<AppsCtx>>) -> Response {
    Json(Leader { leader: me(&ctx) }).into_response()
}

/// DELETE /v2/leader: hands leadership to another server (the Raft
/// leader asks an up-to-date follower to campaign, see
/// `corral_store::abdicate`); this server stays up as a follower, its agent
/// and tasks untouched. 200 `{"message": "Leadership abdicated"}` once
/// another server leads, as Marathon answers; 503 naming why otherwise.
pub async fn abdicate(State(ctx): State<Arc<AppsCtx>>) -> Response {
    match ctx.master.store.abdicate().await {
        Ok((id, node)) => {
            tracing::info!(new_leader = id, api = %node.api_addr, "leadership abdicated");
            Json(serde_json::json!({ "message": "Leadership abdicated" })).into_response()
        }
        Err(e) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "message": format!("cannot abdicate: {e}") })),
        )
            .into_response(),
    }
}

pub async fn metrics(State(ctx): State<Arc<AppsCtx>>) -> Response {
    let (apps, tasks, deployments) = ctx.master.store.read(|s| {
        let fw = crate::scheduler::framework_id();
        (
            s.apps.len(),
            s.live_of_framework(&fw).count(),
            s.deployments.len(),
        )
    });
    Json(serde_json::json!({
        "version": "4.0.0",
        "gauges": {
            "service.mesosphere.marathon.app.count": {"value": apps},
            "service.mesosphere.marathon.task.running.count": {"value": tasks},
            "service.mesosphere.marathon.deployments.active": {"value": deployments},
        },
        "counters": {}, "histograms": {}, "meters": {}, "timers": {}
    }))
    .into_response()
}
