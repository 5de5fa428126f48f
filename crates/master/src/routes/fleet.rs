//! fleet's API v1 (`/fleet/v1/...`, also `/v1-alpha/...`): units, unit
//! states, machines and the discovery document, with fleet's status codes
//! and its `{"error": {"code", "message"}}` envelope (the Python `fleet`
//! client parses exactly that).
//!
//! Followers forward every call to the leader and relay its answer (fleet's
//! clients do not follow redirects on PUT), so any server is an endpoint.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::fleet::{self, MachinePage, UnitPage, UnitStatePage};
use corral_core::state::units::DesiredState;
use corral_core::unit::{UnitFile, UnitName, UnitOption};
use corral_core::Command;
use serde::Deserialize;

use crate::context::{now_ms, MasterCtx};
use crate::redirect::{leadership, Leadership};
use crate::units::view;

/// An answer in fleet's shape.
pub struct FleetError(StatusCode, String);

impl IntoResponse for FleetError {
    fn into_response(self) -> Response {
        (self.0, Json(fleet::error_body(self.0.as_u16(), &self.1))).into_response()
    }
}

fn err(code: StatusCode, message: impl Into<String>) -> FleetError {
    FleetError(code, message.into())
}

type Answer = Result<Response, FleetError>;

#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
    #[serde(rename = "machineID")]
    machine_id: Option<String>,
    #[serde(rename = "unitName")]
    unit_name: Option<String>,
}

fn page(p: &ListParams) -> Result<usize, FleetError> {
    match &p.next_page_token {
        None => Ok(0),
        Some(t) => fleet::parse_page_token(t).map_err(|e| err(StatusCode::BAD_REQUEST, e)),
    }
}

/// Every fleet route goes through this: on the leader the request is
/// served here; a follower relays it to the leader and returns its answer
/// (fleet's clients do not follow a 307 on PUT); with no leader, 503.
pub async fn follow_leader(
    State(ctx): State<Arc<MasterCtx>>,
    req: Request,
    next: Next,
) -> Response {
    let node = match leadership(&ctx) {
        Leadership::Me => return next.run(req).await,
        Leadership::Unknown => {
            return err(
                StatusCode::SERVICE_UNAVAILABLE,
                "no leader elected: the servers are electing one; retry in a moment",
            )
            .into_response()
        }
        Leadership::Other(_, node) => node,
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, super::MAX_BODY_BYTES).await else {
        return err(StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut relay = ctx
        .http
        .request(
            parts.method.clone(),
            format!("http://{}{pq}", node.api_addr),
        )
        .timeout(std::time::Duration::from_secs(30))
        .body(body.to_vec());
    for ct in parts.headers.get_all(header::CONTENT_TYPE) {
        relay = relay.header(header::CONTENT_TYPE, ct);
    }
    match relay.send().await {
        Ok(r) => {
            let status = r.status();
            let ct = r.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = r.bytes().await.unwrap_or_default();
            let mut resp = (status, bytes).into_response();
            if let Some(ct) = ct {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            resp
        }
        Err(e) => err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the leader {} did not answer ({e}); retry in a moment",
                node.api_addr
            ),
        )
        .into_response(),
    }
}

/// GET `/fleet/v1/discovery`: served by every server.
pub async fn discovery(method: Method) -> Response {
    if method != Method::GET {
        return err(
            StatusCode::BAD_REQUEST,
            "the discovery document is only served to GET",
        )
        .into_response();
    }
    Json(fleet::discovery()).into_response()
}

pub async fn list_units(State(ctx): State<Arc<MasterCtx>>, Query(p): Query<ListParams>) -> Answer {
    let page = page(&p)?;
    let (units, next_page_token) = ctx.store.read(|s| {
        let reports = view::Reports::all(s);
        let (units, next) = fleet::paginate(s.units.values().collect(), page);
        let units: Vec<fleet::Unit> = units
            .into_iter()
            .map(|u| view::fleet_unit(u, &reports))
            .collect();
        (units, next)
    });
    Ok(Json(UnitPage {
        units,
        next_page_token,
    })
    .into_response())
}

fn name_of(raw: &str) -> Result<UnitName, FleetError> {
    UnitName::parse(raw).map_err(|e| err(StatusCode::BAD_REQUEST, e.to_string()))
}

pub async fn get_unit(State(ctx): State<Arc<MasterCtx>>, Path(name): Path<String>) -> Answer {
    let name = name_of(&name)?;
    ctx.store
        .read(|s| {
            let reports = view::Reports::of(s, &name);
            s.units.get(&name).map(|u| view::fleet_unit(u, &reports))
        })
        .map(|u| Json(u).into_response())
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "unit does not exist"))
}

pub async fn delete_unit(State(ctx): State<Arc<MasterCtx>>, Path(name): Path<String>) -> Answer {
    let name = name_of(&name)?;
    if !ctx.store.read(|s| s.units.contains_key(&name)) {
        return Err(err(StatusCode::NOT_FOUND, "unit does not exist"));
    }
    write(&ctx, Command::DestroyUnit { name }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Commits `cmd`; a refusal is a 400 with the reason.
async fn write(ctx: &MasterCtx, cmd: Command) -> Result<(), FleetError> {
    match ctx.store.write(cmd, now_ms()).await {
        Ok(corral_core::Response::Refused { reason }) => Err(err(StatusCode::BAD_REQUEST, reason)),
        Ok(_) => Ok(()),
        Err(e) => Err(err(StatusCode::SERVICE_UNAVAILABLE, format!("{e}"))),
    }
}

fn desired(raw: &str) -> Result<DesiredState, FleetError> {
    DesiredState::parse(raw).ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            format!("invalid desiredState {raw:?}: use inactive, loaded or launched"),
        )
    })
}

/// PUT `/fleet/v1/units/{name}`: create, replace (options with another
/// hash) or set the desired state, with fleet's codes (201, 204, 400, 409,
/// 415).
pub async fn put_unit(
    State(ctx): State<Arc<MasterCtx>>,
    Path(raw_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let json_ct = headers.get_all(header::CONTENT_TYPE).iter().count() == 1
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
    if !json_ct {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the unit as JSON with exactly one Content-Type: application/json header",
        ));
    }
    let su: fleet::Unit = serde_json::from_slice(&body)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    let name_text = su.name.clone().unwrap_or_else(|| raw_name.clone());
    if name_text != raw_name {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!("name in URL ({raw_name}) does not match name in request body ({name_text})"),
        ));
    }
    let name = name_of(&raw_name)?;
    let options: Vec<UnitOption> = su
        .options
        .unwrap_or_default()
        .into_iter()
        .map(|o| UnitOption {
            section: o.section,
            name: o.name,
            value: o.value,
        })
        .collect();
    let existing = ctx
        .store
        .read(|s| s.units.get(&name).map(|u| (u.hash.clone(), u.desired)));
    let new_hash = if options.is_empty() {
        None
    } else {
        let file = UnitFile::from_options(options.clone())
            .map_err(|e| err(StatusCode::BAD_REQUEST, format!("invalid options: {e}")))?;
        corral_core::unit::Requirements::of(&name, &file)
            .map_err(|e| err(StatusCode::BAD_REQUEST, format!("invalid options: {e}")))?;
        Some(file.hash())
    };
    match (existing, new_hash) {
        (None, None) => Err(err(
            StatusCode::CONFLICT,
            "unit does not exist and options field empty",
        )),
        (Some((old, prev)), Some(h)) if old != h => {
            let d = match &su.desired_state {
                Some(d) => desired(d)?,
                None => prev,
            };
            write(
                &ctx,
                Command::PutUnit {
                    name,
                    options,
                    desired: d,
                },
            )
            .await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (None, Some(_)) => {
            let d = match &su.desired_state {
                Some(d) => desired(d)?,
                None => DesiredState::Inactive,
            };
            write(
                &ctx,
                Command::PutUnit {
                    name,
                    options,
                    desired: d,
                },
            )
            .await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (Some(_), _) => {
            let Some(d) = &su.desired_state else {
                return Err(err(
                    StatusCode::CONFLICT,
                    "unit exists and desiredState is missing",
                ));
            };
            let d = desired(d)?;
            write(&ctx, Command::SetUnitDesired { name, desired: d }).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

pub async fn list_states(State(ctx): State<Arc<MasterCtx>>, Query(p): Query<ListParams>) -> Answer {
    let page = page(&p)?;
    let states = ctx
        .store
        .read(|s| view::fleet_states(s, p.machine_id.as_deref(), p.unit_name.as_deref()));
    let (states, next_page_token) = fleet::paginate(states, page);
    Ok(Json(UnitStatePage {
        states,
        next_page_token,
    })
    .into_response())
}

pub async fn get_state(State(ctx): State<Arc<MasterCtx>>, Path(name): Path<String>) -> Answer {
    ctx.store
        .read(|s| view::fleet_states(s, None, Some(&name)).into_iter().next())
        .map(|st| Json(st).into_response())
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "unit state does not exist"))
}

pub async fn list_machines(
    State(ctx): State<Arc<MasterCtx>>,
    Query(p): Query<ListParams>,
) -> Answer {
    let page = page(&p)?;
    let machines = ctx.store.read(view::fleet_machines);
    let (machines, next_page_token) = fleet::paginate(machines, page);
    Ok(Json(MachinePage {
        machines,
        next_page_token,
    })
    .into_response())
}

/// PATCH `/fleet/v1/machines`: metadata comes from each machine's
/// configuration in corral (corral.toml `metadata`), so it is refused.
pub async fn patch_machines() -> FleetError {
    err(
        StatusCode::BAD_REQUEST,
        "machine metadata is set per machine in corral.toml (metadata = \"k=v,...\") and applied when the machine restarts",
    )
}

/// Any other method on a fleet path.
pub async fn wrong_method() -> FleetError {
    err(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this fleet resource",
    )
}
