//! The master's HTTP surface on :5050. Each file is one resource: it parses
//! and validates the request into a store call and renders the answer.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::context::MasterCtx;

pub mod agents;
pub mod body;
pub mod cluster;
pub mod fleet;
pub mod kv;
pub mod mesos;
pub mod metrics;
pub mod operator;
pub mod scheduler;
pub mod ui;
pub mod units;

/// Largest request body accepted (kv values are limited further, to
/// `corral_core::kv::MAX_VALUE_BYTES`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route of the master API.
pub fn router(ctx: Arc<MasterCtx>) -> Router {
    Router::new()
        .route("/", get(ui::index))
        .route("/health", get(mesos::health))
        .route("/master/health", get(mesos::health))
        .route("/version", get(mesos::version))
        .route("/redirect", get(mesos::redirect))
        .route("/master/redirect", get(mesos::redirect))
        .route("/state", get(mesos::state))
        .route("/state.json", get(mesos::state))
        .route("/master/state", get(mesos::state))
        .route("/master/state.json", get(mesos::state))
        .route("/master/frameworks", get(mesos::frameworks))
        .route("/frameworks", get(mesos::frameworks))
        .route("/master/slaves", get(mesos::slaves))
        .route("/slaves", get(mesos::slaves))
        .route("/master/tasks", get(mesos::tasks))
        .route("/master/teardown", post(mesos::teardown))
        .route("/teardown", post(mesos::teardown))
        .route("/tasks", get(mesos::tasks))
        .route("/metrics/snapshot", get(metrics::snapshot))
        .route("/metrics", get(metrics::prometheus))
        .route("/api/v1", post(operator::call))
        .route("/master/api/v1", post(operator::call))
        .route("/api/v1/operator", post(operator::call))
        .route("/api/v1/scheduler", post(scheduler::call))
        .route("/master/api/v1/scheduler", post(scheduler::call))
        .route("/v1/cluster", get(cluster::cluster))
        .route("/v1/machines", get(cluster::machines))
        .route("/v1/servers/join", post(cluster::join))
        .route("/v1/agents/register", post(agents::register))
        .route("/v1/agents/heartbeat", post(agents::heartbeat))
        .route("/v1/agents/statuses", post(agents::task_statuses))
        .route("/v1/kv", get(kv::list))
        .route(
            "/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::delete),
        )
        .route("/v1/watch", get(kv::watch))
        .route("/v1/units", get(units::list).post(units::put_many))
        .route(
            "/v1/units/{name}",
            get(units::get).put(units::put).delete(units::delete),
        )
        .route("/v1/units/{name}/file", get(units::file))
        .route("/v1/agents/units", post(units::report))
        .route("/fleet/v1/discovery", axum::routing::any(fleet::discovery))
        .route("/v1-alpha/discovery", axum::routing::any(fleet::discovery))
        .merge(
            fleet_routes("/fleet/v1")
                .merge(fleet_routes("/v1-alpha"))
                .layer(axum::middleware::from_fn_with_state(
                    ctx.clone(),
                    fleet::follow_leader,
                )),
        )
        .fallback(mesos::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}

/// fleet's API v1 under `prefix` (fleet serves both `/fleet/v1` and
/// `/v1-alpha`).
fn fleet_routes(prefix: &str) -> Router<Arc<MasterCtx>> {
    let other = || axum::routing::any(fleet::wrong_method);
    Router::new()
        .route(
            &format!("{prefix}/units"),
            get(fleet::list_units).fallback(fleet::wrong_method),
        )
        .route(
            &format!("{prefix}/units/{{name}}"),
            get(fleet::get_unit)
                .put(fleet::put_unit)
                .delete(fleet::delete_unit)
                .fallback(fleet::wrong_method),
        )
        .route(
            &format!("{prefix}/state"),
            get(fleet::list_states).fallback(fleet::wrong_method),
        )
        .route(
            &format!("{prefix}/state/{{name}}"),
            get(fleet::get_state).fallback(fleet::wrong_method),
        )
        .route(
            &format!("{prefix}/machines"),
            get(fleet::list_machines)
                .patch(fleet::patch_machines)
                .fallback(fleet::wrong_method),
        )
        .route(&format!("{prefix}/{{*rest}}"), other())
}
