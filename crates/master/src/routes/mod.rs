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
pub mod kv;
pub mod mesos;
pub mod metrics;
pub mod operator;
pub mod scheduler;
pub mod ui;

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
        .route("/v1/agents/status", post(agents::task_status))
        .route("/v1/kv", get(kv::list))
        .route(
            "/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::delete),
        )
        .route("/v1/watch", get(kv::watch))
        .fallback(mesos::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}
