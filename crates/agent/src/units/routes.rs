//! The unit runner's routes on :5051: `PUT /v1/agent/units` (the leader's
//! desired set, fenced by epoch), `GET /v1/agent/units` (every unit's
//! status) and `GET /v1/agent/units/{name}/journal?lines=N[&follow=true]`
//! (text; following streams new lines until the client goes away).
//!
//! Each handler parses, calls the [`Manager`](super::manager::Manager) and
//! shapes the answer; nothing is decided here.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::native::ApiError;
use corral_api::units::UnitsDesired;
use serde::Deserialize;

use super::journal;
use super::manager::UnitsError;
use crate::AgentShared;

/// How often a followed journal is looked at.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

fn error(status: StatusCode, code: &str, message: String, field: Option<String>) -> Response {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message,
            field,
        }),
    )
        .into_response()
}

fn units_error(e: UnitsError) -> Response {
    match e {
        UnitsError::Stale(stale) => error(
            StatusCode::CONFLICT,
            "stale_epoch",
            stale.to_string(),
            Some("epoch".into()),
        ),
        UnitsError::BadUnit { ref field, .. } => {
            let field = Some(field.clone());
            error(StatusCode::BAD_REQUEST, "bad_unit", e.to_string(), field)
        }
        UnitsError::Unknown(_) => error(
            StatusCode::NOT_FOUND,
            "unknown_unit",
            e.to_string(),
            Some("name".into()),
        ),
        UnitsError::Io(m) => error(StatusCode::INTERNAL_SERVER_ERROR, "units", m, None),
    }
}

/// `PUT /v1/agent/units`: the complete set of units this machine must have.
pub async fn put(State(s): State<Arc<AgentShared>>, body: Bytes) -> Response {
    let desired: UnitsDesired = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid desired units: {e}"),
                None,
            )
        }
    };
    let epoch = desired.epoch;
    let shared = s.clone();
    let applied =
        tokio::task::spawn_blocking(move || shared.units.apply(&shared.fence, desired)).await;
    match applied {
        Ok(Ok(states)) => Json(states).into_response(),
        Ok(Err(e)) => {
            if matches!(e, UnitsError::Stale(_)) {
                tracing::warn!(error = %e, "refused units from a stale leader");
            }
            units_error(e)
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "units",
            format!("applying the units of epoch {epoch} failed: {e}"),
            None,
        ),
    }
}

/// `GET /v1/agent/units`: every unit on this machine and its state.
pub async fn list(State(s): State<Arc<AgentShared>>) -> Response {
    let shared = s.clone();
    match tokio::task::spawn_blocking(move || shared.units.states()).await {
        Ok(states) => Json(states).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "units",
            e.to_string(),
            None,
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct JournalQuery {
    /// How many of the last lines (default 10).
    pub lines: Option<usize>,
    /// `true` (or `1`): keep the response open and send new lines.
    pub follow: Option<String>,
}

/// `GET /v1/agent/units/{name}/journal`: the last lines of a unit's
/// journal as text, then (with `follow=true`) new lines as they come.
pub async fn journal(
    State(s): State<Arc<AgentShared>>,
    Path(name): Path<String>,
    Query(q): Query<JournalQuery>,
) -> Response {
    let dir = match s.units.unit_dir(&name) {
        Ok(d) => d,
        Err(e) => return units_error(e),
    };
    let n = q.lines.unwrap_or(10);
    let follow = matches!(q.follow.as_deref(), Some("true" | "1" | "yes"));
    let (lines, follower) = match journal::tail_and_follow(&dir, n) {
        Ok(t) => t,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "journal",
                format!("{}: {e}", dir.display()),
                None,
            )
        }
    };
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    let plain = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if !follow {
        return (plain, text).into_response();
    }
    // The tail first, then whatever the follower finds, until the unit is
    // removed or the client hangs up (which drops the stream).
    let first =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(text)) });
    let rest = futures_util::stream::unfold(follower, |mut f| async move {
        loop {
            tokio::time::sleep(FOLLOW_EVERY).await;
            if f.gone() {
                return None;
            }
            match f.poll() {
                Ok(lines) if lines.is_empty() => continue,
                Ok(lines) => {
                    let mut chunk = String::new();
                    for l in lines {
                        chunk.push_str(&l);
                        chunk.push('\n');
                    }
                    return Some((Ok(Bytes::from(chunk)), f));
                }
                Err(e) => return Some((Err(e), f)),
            }
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(first, rest));
    (plain, body).into_response()
}
