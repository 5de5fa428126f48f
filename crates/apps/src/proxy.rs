//! Marathon's leader proxy: the leader answers (with `X-Marathon-Leader`);
//! any other server forwards the request to the leader's app API and
//! copies the answer back, adding `X-Marathon-Via`. A request that already
//! passed through this server is a loop (502); no known leader is 503;
//! an unreachable leader 502 and a slow one 504 — each with a JSON message.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_master::redirect::{leadership, Leadership};

use crate::AppsCtx;

const LEADER: HeaderName = HeaderName::from_static("x-marathon-leader");
const VIA: HeaderName = HeaderName::from_static("x-marathon-via");
/// Bound on a proxied request (Marathon: 5 s to connect, 10 s to read).
const PROXY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest proxied request body.
const MAX_BODY: usize = 8 << 20;

/// The app API address of the server whose master API is `api_addr`:
/// every machine's app port sits at the same offset from its master port
/// (also in `up`'s fallback addressing, where all ports shift together).
pub fn app_addr(ctx: &AppsCtx, api_addr: &str) -> String {
    let (host, port) = api_addr.rsplit_once(':').unwrap_or((api_addr, "5050"));
    let master_port: i32 = port.parse().unwrap_or(5050);
    let offset = i32::from(ctx.app_port) - i32::from(ctx.master.cfg.master_port);
    format!("{host}:{}", master_port + offset)
}

fn message(status: StatusCode, text: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "message": text.into() }))).into_response()
}

/// This server's app API address.
fn me(ctx: &AppsCtx) -> String {
    format!("{}:{}", ctx.master.cfg.ip, ctx.app_port)
}

pub async fn leader_proxy(State(ctx): State<Arc<AppsCtx>>, req: Request, next: Next) -> Response {
    match leadership(&ctx.master) {
        Leadership::Me => {
            let mut resp = next.run(req).await;
            if let Ok(v) = HeaderValue::from_str(&format!("http://{}", me(&ctx))) {
                resp.headers_mut().insert(LEADER, v);
            }
            resp
        }
        Leadership::Unknown => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not determine the current leader; retry in a moment",
        ),
        Leadership::Other(_, node) => forward(&ctx, &app_addr(&ctx, &node.api_addr), req).await,
    }
}

async fn forward(ctx: &AppsCtx, leader: &str, req: Request) -> Response {
    let via = format!("1.1 {}", me(ctx));
    let seen = req
        .headers()
        .get_all(VIA)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains(&via)));
    if seen {
        return message(StatusCode::BAD_GATEWAY, "Detected proxying loop.");
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large to forward",
        );
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if k != axum::http::header::HOST && k != axum::http::header::CONNECTION {
            headers.append(k.clone(), v.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&via) {
        headers.append(VIA, v);
    }
    let sent = ctx
        .master
        .http
        .request(parts.method.clone(), format!("http://{leader}{path}"))
        .headers(headers)
        .body(body)
        // The event stream stays open; everything else is bounded.
        .timeout(if parts.uri.path().starts_with("/v2/events") {
            Duration::from_secs(24 * 3600)
        } else {
            PROXY_TIMEOUT
        })
        .send()
        .await;
    let upstream = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return message(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the leader {leader} did not answer in time"),
            )
        }
        Err(e) => {
            return message(
                StatusCode::BAD_GATEWAY,
                format!("the leader {leader} is unreachable: {e}"),
            )
        }
    };
    let mut resp = Response::builder().status(upstream.status().as_u16());
    for (k, v) in upstream.headers() {
        if k != axum::http::header::TRANSFER_ENCODING && k != axum::http::header::CONNECTION {
            resp = resp.header(k.as_str(), v.as_bytes());
        }
    }
    resp = resp.header(VIA, via.as_str());
    let stream = upstream.bytes_stream();
    resp.body(Body::from_stream(stream))
        .unwrap_or_else(|e| message(StatusCode::BAD_GATEWAY, e.to_string()))
}
