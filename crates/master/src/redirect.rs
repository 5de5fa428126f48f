//! Leader-only endpoints: where this server stands and the answer a
//! follower gives (307 `//leader:port/path?query`, or 503 with no leader).

use axum::http::Uri;
use corral_store::ServerNode;

use crate::context::MasterCtx;
use crate::error::Failure;

/// Who leads, from this server's point of view.
pub enum Leadership {
    /// This server leads.
    Me,
    /// Another server leads.
    Other(u64, ServerNode),
    /// No leader is known.
    Unknown,
}

pub fn leadership(ctx: &MasterCtx) -> Leadership {
    match ctx.store.leader() {
        Some((id, _)) if id == ctx.store.id() && ctx.store.is_leader() => Leadership::Me,
        Some((id, node)) if id != ctx.store.id() => Leadership::Other(id, node),
        _ => Leadership::Unknown,
    }
}

/// `Ok(())` on the leader; otherwise the failure to answer with.
pub fn require_leader(ctx: &MasterCtx, uri: &Uri) -> Result<(), Failure> {
    match leadership(ctx) {
        Leadership::Me => Ok(()),
        Leadership::Other(_, node) => Err(Failure::Redirect {
            location: format!(
                "//{}{}",
                node.api_addr,
                uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
            ),
        }),
        Leadership::Unknown => Err(Failure::no_leader()),
    }
}
