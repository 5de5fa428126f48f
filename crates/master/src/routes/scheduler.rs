//! `POST /api/v1/scheduler`: the Mesos v1 scheduler API (JSON). This step
//! serves SUBSCRIBE (a RecordIO event stream: SUBSCRIBED, OFFERS, RESCIND,
//! UPDATE, HEARTBEATs), ACCEPT (LAUNCH), DECLINE, KILL, RECONCILE,
//! ACKNOWLEDGE, SUPPRESS, REVIVE and TEARDOWN; other calls answer 501.
//! Leader-only: a follower answers 307 to the leader.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::mesos_v1::{self, Call, Event, Id, MasterInfo, Subscribed};
use corral_core::allocator::OfferId;
use corral_core::{Command, FrameworkId, FrameworkInfo};
use tokio::sync::mpsc;

use crate::context::{now_ms, MasterCtx};
use crate::error::Failure;
use crate::redirect::require_leader;
use crate::scheduler::new_id;

/// Default `failover_timeout` when a framework gives none (pymesos's).
const DEFAULT_FAILOVER_SECS: f64 = 100.0;
const STREAM_ID: &str = "mesos-stream-id";

fn mesos_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({ "code": status.as_u16(), "message": message.into() })),
    )
        .into_response()
}

pub async fn call(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(f) = require_leader(&ctx, &uri) {
        return f.into_response();
    }
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => {
            return mesos_error(
                StatusCode::BAD_REQUEST,
                "Expecting 'Content-Type' to be present",
            )
        }
        Some(ct) if !ct.starts_with("application/json") => {
            return mesos_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {ct:?} is not supported; send application/json"),
            )
        }
        Some(_) => {}
    }
    let call: Call = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return mesos_error(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse the call: {e}"),
            )
        }
    };
    let stream_id = headers.get(STREAM_ID).and_then(|v| v.to_str().ok());
    if call.kind == "SUBSCRIBE" {
        if stream_id.is_some() {
            return mesos_error(
                StatusCode::BAD_REQUEST,
                "SUBSCRIBE must not carry a Mesos-Stream-Id header",
            );
        }
        return subscribe(ctx, &uri, call).await;
    }
    let Some(framework) = call
        .framework_id
        .as_ref()
        .map(|i| FrameworkId(i.value.clone()))
    else {
        return mesos_error(StatusCode::BAD_REQUEST, "framework_id is missing");
    };
    let known = ctx
        .store
        .read(|s| s.frameworks.get(&framework).is_some_and(|f| f.is_active()));
    if !known {
        return mesos_error(
            StatusCode::BAD_REQUEST,
            format!("Framework {framework} is not registered"),
        );
    }
    if let Err(e) = ctx.streams.check(&framework, stream_id) {
        let status = match e {
            crate::scheduler::StreamError::NotSubscribed => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        return mesos_error(status, e.to_string());
    }
    match call.kind.as_str() {
        "TEARDOWN" => {
            match crate::scheduler::tasks::remove_framework(
                &ctx,
                &framework,
                "TEARDOWN by the framework",
            )
            .await
            {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(f) => f.into_response(),
            }
        }
        "DECLINE" => {
            let decline: mesos_v1::Decline = match call
                .rest
                .get("decline")
                .cloned()
                .map(serde_json::from_value)
            {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    return mesos_error(StatusCode::BAD_REQUEST, format!("bad 'decline': {e}"))
                }
                None => return mesos_error(StatusCode::BAD_REQUEST, "DECLINE without 'decline'"),
            };
            let ids: Vec<OfferId> = decline
                .offer_ids
                .into_iter()
                .map(|i| OfferId(i.value))
                .collect();
            let refuse = decline.filters.and_then(|f| f.refuse_seconds);
            ctx.offers().decline(&framework, &ids, refuse, now_ms());
            StatusCode::ACCEPTED.into_response()
        }
        "ACCEPT" => {
            let accept: mesos_v1::Accept =
                match call.rest.get("accept").cloned().map(serde_json::from_value) {
                    Some(Ok(a)) => a,
                    Some(Err(e)) => {
                        return mesos_error(StatusCode::BAD_REQUEST, format!("bad 'accept': {e}"))
                    }
                    None => return mesos_error(StatusCode::BAD_REQUEST, "ACCEPT without 'accept'"),
                };
            if let Err(e) = crate::scheduler::tasks::accept(&ctx, &framework, accept).await {
                return mesos_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the launch was not recorded: {e}; retry"),
                );
            }
            StatusCode::ACCEPTED.into_response()
        }
        "KILL" => {
            let kill: mesos_v1::Kill =
                match call.rest.get("kill").cloned().map(serde_json::from_value) {
                    Some(Ok(k)) => k,
                    Some(Err(e)) => {
                        return mesos_error(StatusCode::BAD_REQUEST, format!("bad 'kill': {e}"))
                    }
                    None => return mesos_error(StatusCode::BAD_REQUEST, "KILL without 'kill'"),
                };
            crate::scheduler::tasks::kill(&ctx, &framework, kill).await;
            StatusCode::ACCEPTED.into_response()
        }
        "RECONCILE" => {
            let named: Vec<corral_core::TaskId> = call
                .rest
                .get("reconcile")
                .and_then(|r| r.get("tasks"))
                .and_then(|t| t.as_array())
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| {
                            t.get("task_id")?
                                .get("value")?
                                .as_str()
                                .map(|v| corral_core::TaskId(v.into()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            crate::scheduler::tasks::reconcile(&ctx, &framework, named);
            StatusCode::ACCEPTED.into_response()
        }
        "ACKNOWLEDGE" => {
            let ack: mesos_v1::Acknowledge = match call
                .rest
                .get("acknowledge")
                .cloned()
                .map(serde_json::from_value)
            {
                Some(Ok(a)) => a,
                Some(Err(e)) => {
                    return mesos_error(StatusCode::BAD_REQUEST, format!("bad 'acknowledge': {e}"))
                }
                None => {
                    return mesos_error(
                        StatusCode::BAD_REQUEST,
                        "ACKNOWLEDGE without 'acknowledge'",
                    )
                }
            };
            match crate::scheduler::tasks::acknowledge(&ctx, &framework, ack).await {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(f) => f.into_response(),
            }
        }
        "SUPPRESS" => {
            ctx.offers().suppress(&framework);
            StatusCode::ACCEPTED.into_response()
        }
        "REVIVE" => {
            ctx.offers().revive(&framework);
            crate::leader_loop::allocate_now(&ctx);
            StatusCode::ACCEPTED.into_response()
        }
        other => mesos_error(
            StatusCode::NOT_IMPLEMENTED,
            format!("call {other} is not supported by this version of corral yet"),
        ),
    }
}

/// The framework info a SUBSCRIBE carries, in core terms.
fn framework_info(info: &mesos_v1::FrameworkInfo) -> FrameworkInfo {
    let mut roles = info.roles.clone();
    if roles.is_empty() {
        roles.push(info.role.clone().unwrap_or_else(|| "*".into()));
    }
    FrameworkInfo {
        name: info.name.clone(),
        user: info.user.clone(),
        roles,
        failover_timeout_ms: (info
            .failover_timeout
            .unwrap_or(DEFAULT_FAILOVER_SECS)
            .max(0.0)
            * 1000.0) as u64,
        hostname: info.hostname.clone().unwrap_or_default(),
        webui_url: info.webui_url.clone().unwrap_or_default(),
        principal: info.principal.clone(),
        checkpoint: info.checkpoint.unwrap_or(false),
        capabilities: info.capabilities.iter().map(|c| c.kind.clone()).collect(),
    }
}

/// This master's MasterInfo.
pub fn master_info(ctx: &MasterCtx) -> MasterInfo {
    crate::view::master_info(ctx.cfg.server_id, &ctx.cfg.api_addr())
}

async fn subscribe(ctx: Arc<MasterCtx>, uri: &Uri, call: Call) -> Response {
    let Some(sub) = call.subscribe else {
        return mesos_error(StatusCode::BAD_REQUEST, "SUBSCRIBE without 'subscribe'");
    };
    let given = call
        .framework_id
        .or(sub.framework_info.id.clone())
        .map(|i| i.value);
    let id = FrameworkId(given.unwrap_or_else(|| format!("{}-0000", new_id())));
    let cmd = Command::RegisterFramework {
        id: id.clone(),
        info: framework_info(&sub.framework_info),
    };
    match ctx.store.write(cmd, now_ms()).await {
        Ok(corral_core::Response::Refused { reason }) => {
            return mesos_error(StatusCode::BAD_REQUEST, reason)
        }
        Ok(_) => {}
        Err(e) => return Failure::from_write(e, uri.path()).into_response(),
    }
    let stream_id = new_id();
    let rx = ctx.streams.open(&id, &stream_id);
    crate::scheduler::tasks::resubscribed(&ctx, &id);
    let heartbeat = Duration::from_secs_f64(ctx.cfg.scheduler_heartbeat_secs.max(0.1));
    let first = Event::Subscribed {
        subscribed: Subscribed {
            framework_id: Id {
                value: id.0.clone(),
            },
            heartbeat_interval_seconds: heartbeat.as_secs_f64(),
            master_info: master_info(&ctx),
        },
    };
    tracing::info!(framework = %id, name = %sub.framework_info.name, "framework subscribed");
    let mut resp = Response::new(Body::from_stream(event_stream(first, rx, heartbeat)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&stream_id) {
        h.insert(STREAM_ID, v);
    }
    resp
}

/// SUBSCRIBED, then every event sent to the stream, with a HEARTBEAT after
/// each quiet `heartbeat`; ends when the stream is replaced or closed.
fn event_stream(
    first: Event,
    rx: mpsc::UnboundedReceiver<Event>,
    heartbeat: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let frame = |e: &Event| {
        Bytes::from(mesos_v1::recordio(
            &serde_json::to_vec(e).unwrap_or_default(),
        ))
    };
    let start = frame(&first);
    futures_util::stream::unfold((Some(start), rx), move |(first, mut rx)| async move {
        if let Some(bytes) = first {
            return Some((Ok(bytes), (None, rx)));
        }
        let event = match tokio::time::timeout(heartbeat, rx.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => return None,
            Err(_) => Event::Heartbeat,
        };
        Some((Ok(frame(&event)), (None, rx)))
    })
}
