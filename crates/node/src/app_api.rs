//! The app-scheduler port (:8080). The Marathon-compatible API arrives with
//! the app scheduler; until then this answers `/ping` and says plainly, as
//! JSON, that the rest is not there yet.

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use corral_api::native::ApiError;

pub fn router() -> Router {
    Router::new()
        .route("/ping", get(|| async { "pong\n" }))
        .fallback(|| async {
            (
                StatusCode::NOT_IMPLEMENTED,
                Json(ApiError {
                    code: "not_implemented".into(),
                    message: "the Marathon-compatible app API is not in this version of corral yet"
                        .into(),
                    field: None,
                }),
            )
        })
}
