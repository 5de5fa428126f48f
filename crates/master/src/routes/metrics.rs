//! `/metrics/snapshot` (Mesos's flat JSON map) and `/metrics` (Prometheus
//! text, the same numbers). Served locally by every server.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use corral_core::AgentStatus;

use crate::context::{now_ms, MasterCtx};

/// The numbers both endpoints serve.
pub fn numbers(ctx: &MasterCtx) -> BTreeMap<String, f64> {
    let elected = ctx.store.is_leader();
    let (active, unreachable, keys) = ctx.store.read(|s| {
        let active = s
            .agents
            .values()
            .filter(|a| a.status == AgentStatus::Active)
            .count();
        (
            active as f64,
            (s.agents.len() - active) as f64,
            s.kv.len() as f64,
        )
    });
    let m = ctx.store.metrics().borrow().clone();
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        out.insert(k.to_string(), v);
    };
    put("master/elected", if elected { 1.0 } else { 0.0 });
    put(
        "master/uptime_secs",
        now_ms().saturating_sub(ctx.started_at_ms) as f64 / 1000.0,
    );
    put("master/slaves_active", active);
    put("master/slaves_inactive", unreachable);
    put("master/slaves_connected", active);
    put("master/slaves_disconnected", unreachable);
    put("master/slaves_unreachable", unreachable);
    for f in ["active", "inactive", "connected", "disconnected"] {
        put(&format!("master/frameworks_{f}"), 0.0);
    }
    put("master/outstanding_offers", 0.0);
    for t in [
        "staging", "starting", "running", "killing", "finished", "failed", "killed", "lost",
    ] {
        put(&format!("master/tasks_{t}"), 0.0);
    }
    put("store/term", m.current_term as f64);
    put("store/last_log_index", m.last_log_index.unwrap_or(0) as f64);
    put(
        "store/last_applied",
        m.last_applied.map(|l| l.index).unwrap_or(0) as f64,
    );
    put("store/kv_keys", keys);
    put("store/is_leader", if elected { 1.0 } else { 0.0 });
    out
}

/// `/metrics/snapshot`.
pub async fn snapshot(State(ctx): State<Arc<MasterCtx>>) -> Json<BTreeMap<String, f64>> {
    Json(numbers(&ctx))
}

/// `/metrics`: Prometheus text exposition format (0.0.4).
pub async fn prometheus(State(ctx): State<Arc<MasterCtx>>) -> impl IntoResponse {
    let mut body = String::new();
    for (name, value) in numbers(&ctx) {
        let name: String = format!("corral_{name}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        body.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
