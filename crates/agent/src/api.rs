//! The agent's HTTP API on :5051: its state, health, and the command
//! endpoint leaders use — which enforces the epoch fence.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use corral_api::native::{
    ports_to_string, AgentCommand, AgentCommandAck, AgentCommandEnvelope, AgentStateView, ApiError,
    ResourcesView,
};

use crate::AgentShared;

pub fn router(shared: Arc<AgentShared>) -> Router {
    Router::new()
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/v1/agent/state", get(state))
        .route("/state", get(state))
        .route("/v1/agent/command", post(command))
        .with_state(shared)
}

fn error(status: StatusCode, code: &str, message: String, field: Option<&str>) -> Response {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message,
            field: field.map(str::to_string),
        }),
    )
        .into_response()
}

async fn state(State(s): State<Arc<AgentShared>>) -> Json<AgentStateView> {
    let r = &s.registration;
    Json(AgentStateView {
        id: r.id.0.clone(),
        hostname: r.hostname.clone(),
        ip: r.ip.clone(),
        epoch: s.fence().epoch(),
        leader_id: s.leader_id.lock().ok().and_then(|l| *l),
        registered: s.registered.load(Ordering::SeqCst),
        resources: ResourcesView {
            cpus: r.resources.cpus,
            mem_mb: r.resources.mem_mb,
            disk_mb: r.resources.disk_mb,
            ports: ports_to_string(&r.resources.ports),
        },
        metadata: r.attributes.clone(),
    })
}

/// A leader's command. Refused with 409 when its epoch is older than one
/// this agent has seen.
async fn command(State(s): State<Arc<AgentShared>>, body: Bytes) -> Response {
    let env: AgentCommandEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid command: {e}"),
                None,
            )
        }
    };
    if let Err(stale) = s.fence().observe_and_persist(env.epoch) {
        tracing::warn!(%stale, leader = env.leader_id, "refused a command from a stale leader");
        return error(
            StatusCode::CONFLICT,
            "stale_epoch",
            stale.to_string(),
            Some("epoch"),
        );
    }
    match env.command {
        AgentCommand::Ping => {}
        AgentCommand::Reregister => s.reregister.notify_one(),
    }
    Json(AgentCommandAck {
        epoch: s.fence().epoch(),
    })
    .into_response()
}
