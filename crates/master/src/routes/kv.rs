//! The key-value API (`/v1/kv/KEY`, `/v1/kv?prefix=`, `/v1/watch?prefix=`).
//! Writes and default reads are leader-only (linearizable); `?stale=true`
//! reads this server's copy.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::native::{KvList, KvNode, KvPutBody, KvWriteResult, WatchEvent};
use corral_core::kv::{validate_key, validate_prefix, validate_value, KeyError};
use corral_core::{Command, Event, KvEntry};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::context::{now_ms, MasterCtx};
use crate::error::Failure;
use crate::redirect::require_leader;
use crate::routes::body::parse_json;

/// Longest TTL accepted, in seconds (a year).
pub const MAX_TTL_SECS: u64 = 365 * 24 * 3600;

#[derive(Debug, Deserialize, Default)]
pub struct ReadParams {
    #[serde(default)]
    pub stale: bool,
    #[serde(default)]
    pub prefix: String,
}

fn node(key: &str, e: &KvEntry) -> KvNode {
    KvNode {
        key: key.to_string(),
        value: e.value.clone(),
        create_revision: e.create_revision,
        mod_revision: e.mod_revision,
        expires_at_ms: e.expires_at_ms,
    }
}

fn key_failure(field: &str, e: KeyError) -> Failure {
    Failure::bad(field, e.to_string())
}

/// Leader check plus read barrier, unless the caller accepts a stale read.
async fn before_read(ctx: &MasterCtx, uri: &Uri, stale: bool) -> Result<(), Failure> {
    if stale {
        return Ok(());
    }
    require_leader(ctx, uri)?;
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    ctx.store
        .linearizable_barrier()
        .await
        .map_err(|e| Failure::from_write(e, pq))
}

pub async fn get(
    State(ctx): State<Arc<MasterCtx>>,
    Path(key): Path<String>,
    Query(p): Query<ReadParams>,
    uri: Uri,
) -> Result<Json<KvNode>, Failure> {
    let key = format!("/{key}");
    validate_key(&key).map_err(|e| key_failure("key", e))?;
    before_read(&ctx, &uri, p.stale).await?;
    ctx.store
        .read(|s| s.kv.get(&key).map(|e| node(&key, e)))
        .map(Json)
        .ok_or_else(|| Failure::NotFound {
            code: "key_not_found",
            message: format!("key {key} not found"),
        })
}

pub async fn list(
    State(ctx): State<Arc<MasterCtx>>,
    Query(p): Query<ReadParams>,
    uri: Uri,
) -> Result<Json<KvList>, Failure> {
    validate_prefix(&p.prefix).map_err(|e| key_failure("prefix", e))?;
    before_read(&ctx, &uri, p.stale).await?;
    Ok(Json(ctx.store.read(|s| KvList {
        revision: s.revision,
        nodes: s.kv_list(&p.prefix).map(|(k, e)| node(k, e)).collect(),
    })))
}

pub async fn put(
    State(ctx): State<Arc<MasterCtx>>,
    Path(key): Path<String>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<KvWriteResult>, Failure> {
    let body = body.map_err(|e| Failure::TooLarge {
        message: format!(
            "request body refused ({e}); values are limited to {} bytes",
            corral_core::kv::MAX_VALUE_BYTES
        ),
    })?;
    let key = format!("/{key}");
    validate_key(&key).map_err(|e| key_failure("key", e))?;
    let req: KvPutBody = parse_json(&body)?;
    validate_value(&req.value).map_err(|e| key_failure("value", e))?;
    if let Some(ttl) = req.ttl {
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(Failure::bad(
                "ttl",
                format!("ttl must be 1..={MAX_TTL_SECS} seconds, got {ttl}"),
            ));
        }
    }
    require_leader(&ctx, &uri)?;
    let cmd = Command::KvSet {
        key: key.clone(),
        value: req.value,
        ttl_ms: req.ttl.map(|s| s * 1000),
    };
    match ctx.store.write(cmd, now_ms()).await {
        Ok(corral_core::Response::KvSet { revision, prev }) => Ok(Json(KvWriteResult {
            revision,
            prev: prev.map(|e| node(&key, &e)),
        })),
        Ok(other) => Err(Failure::Internal {
            message: format!("unexpected store answer {other:?}"),
        }),
        Err(e) => Err(Failure::from_write(e, uri.path())),
    }
}

pub async fn delete(
    State(ctx): State<Arc<MasterCtx>>,
    Path(key): Path<String>,
    uri: Uri,
) -> Result<Json<KvWriteResult>, Failure> {
    let key = format!("/{key}");
    validate_key(&key).map_err(|e| key_failure("key", e))?;
    require_leader(&ctx, &uri)?;
    match ctx
        .store
        .write(Command::KvDelete { key: key.clone() }, now_ms())
        .await
    {
        Ok(corral_core::Response::KvDeleted { prev: None, .. }) => Err(Failure::NotFound {
            code: "key_not_found",
            message: format!("key {key} not found"),
        }),
        Ok(corral_core::Response::KvDeleted { revision, prev }) => Ok(Json(KvWriteResult {
            revision,
            prev: prev.map(|e| node(&key, &e)),
        })),
        Ok(other) => Err(Failure::Internal {
            message: format!("unexpected store answer {other:?}"),
        }),
        Err(e) => Err(Failure::from_write(e, uri.path())),
    }
}

/// The watch line for an event under `prefix`, if it is one.
pub fn watch_line(prefix: &str, revision: u64, ev: &Event) -> Option<WatchEvent> {
    let key = ev.kv_key()?;
    let start = if prefix == "/" { "" } else { prefix };
    if !key.starts_with(start) {
        return None;
    }
    Some(match ev {
        Event::KvPut { key, entry } => WatchEvent {
            revision,
            action: "put".into(),
            key: key.clone(),
            value: Some(entry.value.clone()),
        },
        Event::KvDelete { key, expired, .. } => WatchEvent {
            revision,
            action: if *expired { "expire" } else { "delete" }.into(),
            key: key.clone(),
            value: None,
        },
        _ => return None,
    })
}

/// `/v1/watch?prefix=P`: newline-delimited JSON, one line per change applied
/// on this server from now on. Served by any server.
pub async fn watch(
    State(ctx): State<Arc<MasterCtx>>,
    Query(p): Query<ReadParams>,
) -> Result<Response, Failure> {
    validate_prefix(&p.prefix).map_err(|e| key_failure("prefix", e))?;
    let rx = ctx.store.subscribe();
    let prefix = p.prefix;
    let stream = futures_util::stream::unfold(
        (rx, prefix, false),
        |(mut rx, prefix, done)| async move {
            if done {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok((rev, ev)) => {
                        if let Some(line) = watch_line(&prefix, rev, &ev) {
                            let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
                            bytes.push(b'\n');
                            return Some((
                                Ok::<_, std::io::Error>(Bytes::from(bytes)),
                                (rx, prefix, false),
                            ));
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        let msg = format!(
                        "{{\"error\":\"watcher fell {n} events behind; list the prefix again and re-watch\"}}\n"
                    );
                        return Some((Ok(Bytes::from(msg)), (rx, prefix, true)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
