//! Request bodies: JSON decoding with errors that name the field.

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use crate::error::Failure;

/// Decodes a JSON body; a syntax or type error becomes a 400 naming the
/// path of the offending field where serde knows it.
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        // serde names unknown and missing fields in backticks.
        let field = msg.split('`').nth(1).map(str::to_string);
        Failure::BadRequest {
            field,
            message: format!("invalid JSON body: {msg}"),
        }
    })
}
