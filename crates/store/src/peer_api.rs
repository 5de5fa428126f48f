//! The server side of the Raft peer RPCs: an axum `Router` with `POST
//! /raft/append`, `/raft/vote` and `/raft/snapshot`, each handing the JSON
//! request to the local Raft node and answering its `Result` as JSON, and
//! `POST /raft/elect`, which asks this node to campaign now (the leader's
//! handover, [`crate::abdicate`]).
//!
//! Owns: the HTTP shape of the peer protocol (the mirror of
//! [`crate::network`]). Never binds a listener (the node does) and never
//! interprets a request itself.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;

use crate::network::{APPEND_PATH, ELECT_PATH, SNAPSHOT_PATH, VOTE_PATH};
use crate::types::{Raft, TypeConfig};

/// Largest peer request accepted. AppendEntries carries up to 1000 entries of
/// up to 256 KiB values each, as JSON; peers are trusted cluster members.
const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// The peer RPC routes for `raft`.
pub fn router(raft: Raft) -> Router {
    Router::new()
        .route(APPEND_PATH, post(append))
        .route(VOTE_PATH, post(vote))
        .route(SNAPSHOT_PATH, post(snapshot))
        .route(ELECT_PATH, post(elect))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(raft)
}

/// A request body that is not the RPC's JSON: 400 naming the error.
type BadBody = (StatusCode, String);

/// Decodes a peer request. Plain `serde_json` on the body bytes rather
/// than axum's `Json`, which tracks the path of every field it reads (for
/// error messages peers never need) and cost ~9% of a follower's CPU
/// under write load.
fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, BadBody> {
    serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad peer request: {e}")))
}

async fn append(
    State(raft): State<Raft>,
    body: Bytes,
) -> Result<Json<Result<AppendEntriesResponse<u64>, RaftError<u64>>>, BadBody> {
    let req: AppendEntriesRequest<TypeConfig> = decode(&body)?;
    Ok(Json(raft.append_entries(req).await))
}

async fn vote(
    State(raft): State<Raft>,
    body: Bytes,
) -> Result<Json<Result<VoteResponse<u64>, RaftError<u64>>>, BadBody> {
    let req: VoteRequest<u64> = decode(&body)?;
    Ok(Json(raft.vote(req).await))
}

async fn snapshot(
    State(raft): State<Raft>,
    body: Bytes,
) -> Result<Json<Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>>, BadBody>
{
    let req: InstallSnapshotRequest<TypeConfig> = decode(&body)?;
    Ok(Json(raft.install_snapshot(req).await))
}

/// Campaign now. A leader ignores it; a follower becomes a candidate at
/// once (the voters' leader lease still decides whether it wins).
async fn elect(State(raft): State<Raft>) -> Json<Result<(), String>> {
    Json(raft.trigger().elect().await.map_err(|e| e.to_string()))
}
