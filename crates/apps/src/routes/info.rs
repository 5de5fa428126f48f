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

/// DELETE /v2/leader: not yet — openraft 0.9 has no leadership transfer,
/// and Marathon's way (the leader process exits) would take the server's
/// agent down with it. Says so instead of pretending.
pub async fn abdicate(State(_ctx): State<Arc<AppsCtx>>) -> Response {
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({
            "message": "abdication is not supported by this version of corral: stop the leading server (corral down, or its node process) to move leadership"
        })),
    )
        .into_response()
}

pub async fn metrics(State(ctx): State<Arc<AppsCtx>>) -> Response {
    let (apps, tasks, deployments) = ctx.master.store.read(|s| {
        let fw = crate::scheduler::framework_id();
        (
            s.apps.len(),
            s.live_tasks().filter(|t| t.framework == fw).count(),
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
