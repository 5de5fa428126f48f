//! HTTP errors of the master's own API: a status, a stable code, a message
//! that says what to do, and the field to blame. Converting store errors
//! keeps "go to the leader" (307), "retry" (503) and "broken" (500) apart.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::native::ApiError;
use corral_store::WriteError;

/// A failed request, ready to become a response.
#[derive(Debug)]
pub enum Failure {
    /// 400 with the field to blame.
    BadRequest {
        field: Option<String>,
        message: String,
    },
    /// 404.
    NotFound { code: &'static str, message: String },
    /// 413.
    TooLarge { message: String },
    /// 307 to the leader's master API (`//host:port/path?query`).
    Redirect { location: String },
    /// 503: no leader, or no quorum; retry.
    Unavailable { message: String },
    /// 500: a bug or a broken disk.
    Internal { message: String },
}

impl Failure {
    pub fn bad(field: &str, message: impl Into<String>) -> Failure {
        Failure::BadRequest {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn no_leader() -> Failure {
        Failure::Unavailable {
            message: "No leader elected: the servers are electing one; retry in a moment".into(),
        }
    }

    /// Maps a store write error, redirecting `path_and_query` to the leader.
    pub fn from_write(err: WriteError, path_and_query: &str) -> Failure {
        match err {
            WriteError::NotLeader {
                leader: Some((_, node)),
            } => Failure::Redirect {
                location: format!("//{}{}", node.api_addr, path_and_query),
            },
            WriteError::NotLeader { leader: None } => Failure::no_leader(),
            WriteError::Fatal(msg) => Failure::Internal { message: msg },
            other => Failure::Unavailable {
                message: format!("{other}; retry in a moment"),
            },
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, code, message, field) = match self {
            Failure::Redirect { location } => {
                let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                return resp;
            }
            Failure::BadRequest { field, message } => {
                (StatusCode::BAD_REQUEST, "bad_request", message, field)
            }
            Failure::NotFound { code, message } => (StatusCode::NOT_FOUND, code, message, None),
            Failure::TooLarge { message } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large", message, None)
            }
            Failure::Unavailable { message } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                message,
                None,
            ),
            Failure::Internal { message } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", message, None)
            }
        };
        (
            status,
            Json(ApiError {
                code: code.to_string(),
                message,
                field,
            }),
        )
            .into_response()
    }
}
