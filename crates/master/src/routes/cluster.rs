//! `/v1/cluster`, `/v1/machines` (served locally, may be stale on a
//! follower: the answer names who answered) and `/v1/servers/join`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use corral_api::native::{ClusterView, JoinRequest, MachineView};
use corral_store::ServerNode;

use crate::context::MasterCtx;
use crate::error::Failure;
use crate::redirect::require_leader;
use crate::routes::body::parse_json;
use crate::view;

pub async fn cluster(State(ctx): State<Arc<MasterCtx>>) -> Json<ClusterView> {
    Json(view::cluster(&ctx))
}

pub async fn machines(State(ctx): State<Arc<MasterCtx>>) -> Json<Vec<MachineView>> {
    Json(view::cluster(&ctx).machines)
}

/// A fresh server asks to join: leader-only; adds it as a learner, waits for
/// it to catch up, then makes it a voter.
pub async fn join(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<ClusterView>, Failure> {
    require_leader(&ctx, &uri)?;
    let req: JoinRequest = parse_json(&body)?;
    if req.id == 0 {
        return Err(Failure::bad("id", "server id must be 1 or more"));
    }
    for (field, addr) in [("raft_addr", &req.raft_addr), ("api_addr", &req.api_addr)] {
        if addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(Failure::bad(
                field,
                format!("{field} must be HOST:PORT, got {addr:?}"),
            ));
        }
    }
    let node = ServerNode {
        raft_addr: req.raft_addr,
        api_addr: req.api_addr,
    };
    ctx.store
        .add_server(req.id, node)
        .await
        .map_err(|e| Failure::from_write(e, uri.path()))?;
    Ok(Json(view::cluster(&ctx)))
}
