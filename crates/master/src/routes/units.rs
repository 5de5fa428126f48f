//! corral's own unit API, the CLI's (`/v1/units`, `/v1/units/{name}`,
//! `/v1/units/{name}/file`), and the machines' reports
//! (`POST /v1/agents/units`). Leader-only: followers answer 307.
//!
//! Submitting validates the unit file here (parse errors with line
//! numbers, [X-Fleet] rules) so a bad file is a 400 naming it and nothing
//! is written.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use corral_api::unit_view::{UnitFileText, UnitList, UnitPut, UnitRow, UnitsReport};
use corral_core::state::units::{DesiredState, UnitRuntime};
use corral_core::unit::{Requirements, UnitFile, UnitName};
use corral_core::{Command, MachineId};

use crate::context::{now_ms, MasterCtx};
use crate::error::Failure;
use crate::redirect::require_leader;
use crate::routes::body::parse_json;
use crate::units::view;

fn path_of(uri: &Uri) -> &str {
    uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
}

async fn leader_read(ctx: &MasterCtx, uri: &Uri) -> Result<(), Failure> {
    require_leader(ctx, uri)?;
    ctx.store
        .linearizable_barrier()
        .await
        .map_err(|e| Failure::from_write(e, path_of(uri)))
}

fn name_of(raw: &str) -> Result<UnitName, Failure> {
    UnitName::parse(raw).map_err(|e| Failure::bad("name", e.to_string()))
}

fn not_found(name: &UnitName) -> Failure {
    Failure::NotFound {
        code: "unit_not_found",
        message: format!("unit {name} does not exist; submit it first (corral submit FILE)"),
    }
}

/// The engine's reasons (taken before reading the state: never both locks).
fn reasons(ctx: &MasterCtx) -> BTreeMap<UnitName, String> {
    ctx.units().unplaceable.clone()
}

pub async fn list(State(ctx): State<Arc<MasterCtx>>, uri: Uri) -> Result<Json<UnitList>, Failure> {
    leader_read(&ctx, &uri).await?;
    let why = reasons(&ctx);
    Ok(Json(UnitList {
        units: ctx.store.read(|s| view::rows(s, &why)),
    }))
}

pub async fn get(
    State(ctx): State<Arc<MasterCtx>>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<UnitRow>, Failure> {
    let name = name_of(&name)?;
    leader_read(&ctx, &uri).await?;
    let why = reasons(&ctx);
    ctx.store
        .read(|s| {
            let reports = view::Reports::of(s, &name);
            s.units
                .get(&name)
                .map(|u| view::row(s, u, &reports, why.get(&name)))
        })
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

pub async fn file(
    State(ctx): State<Arc<MasterCtx>>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<UnitFileText>, Failure> {
    let name = name_of(&name)?;
    leader_read(&ctx, &uri).await?;
    let options = ctx
        .store
        .read(|s| s.units.get(&name).map(|u| u.options.clone()))
        .ok_or_else(|| not_found(&name))?;
    let text = UnitFile::from_options(options)
        .map(|f| f.to_text())
        .map_err(|e| Failure::Internal {
            message: format!("stored unit {name} does not serialise: {e}"),
        })?;
    Ok(Json(UnitFileText {
        name: name.to_string(),
        text,
    }))
}

async fn write(ctx: &MasterCtx, cmd: Command, uri: &Uri, field: &str) -> Result<(), Failure> {
    match ctx.store.write(cmd, now_ms()).await {
        Ok(corral_core::Response::Refused { reason }) => Err(Failure::bad(field, reason)),
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::from_write(e, path_of(uri))),
    }
}

/// PUT `/v1/units/{name}`: submit/replace (`text`) and/or set `desired`.
pub async fn put(
    State(ctx): State<Arc<MasterCtx>>,
    Path(raw): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<UnitRow>, Failure> {
    let name = name_of(&raw)?;
    let req: UnitPut = parse_json(&body)?;
    let desired = match &req.desired {
        None => None,
        Some(d) => Some(DesiredState::parse(d).ok_or_else(|| {
            Failure::bad(
                "desired",
                format!("invalid desired state {d:?}: use inactive, loaded or launched"),
            )
        })?),
    };
    let file = match &req.text {
        None => None,
        Some(text) => {
            let f =
                UnitFile::parse(text).map_err(|e| Failure::bad("text", format!("{name}: {e}")))?;
            Requirements::of(&name, &f)
                .map_err(|e| Failure::bad("text", format!("{name}: {e}")))?;
            Some(f)
        }
    };
    require_leader(&ctx, &uri)?;
    let existing = ctx
        .store
        .read(|s| s.units.get(&name).map(|u| (u.hash.clone(), u.desired)));
    let has_template = ctx
        .store
        .read(|s| name.template().is_some_and(|t| s.units.contains_key(&t)));
    match (file, existing) {
        (Some(f), existing) if existing.as_ref().map(|e| &e.0) != Some(&f.hash()) => {
            let d = desired
                .or(existing.map(|e| e.1))
                .unwrap_or(DesiredState::Inactive);
            let cmd = Command::PutUnit {
                name: name.clone(),
                options: f.options().to_vec(),
                desired: d,
            };
            write(&ctx, cmd, &uri, "text").await?;
        }
        (_, Some(_)) => {
            if let Some(d) = desired {
                let cmd = Command::SetUnitDesired {
                    name: name.clone(),
                    desired: d,
                };
                write(&ctx, cmd, &uri, "desired").await?;
            }
        }
        (None, None) if has_template => {
            let cmd = Command::PutUnit {
                name: name.clone(),
                options: Vec::new(),
                desired: desired.unwrap_or(DesiredState::Inactive),
            };
            write(&ctx, cmd, &uri, "name").await?;
        }
        (_, None) => {
            return Err(Failure::bad(
                "text",
                format!(
                    "unit {name} does not exist: send its unit file{}",
                    name.template()
                        .map(|t| format!(" (or submit the template {t} first)"))
                        .unwrap_or_default()
                ),
            ))
        }
    }
    let why = reasons(&ctx);
    ctx.store
        .read(|s| {
            let reports = view::Reports::of(s, &name);
            s.units
                .get(&name)
                .map(|u| view::row(s, u, &reports, why.get(&name)))
        })
        .map(Json)
        .ok_or_else(|| not_found(&name))
}

pub async fn delete(
    State(ctx): State<Arc<MasterCtx>>,
    Path(raw): Path<String>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, Failure> {
    let name = name_of(&raw)?;
    require_leader(&ctx, &uri)?;
    if !ctx.store.read(|s| s.units.contains_key(&name)) {
        return Err(not_found(&name));
    }
    write(
        &ctx,
        Command::DestroyUnit { name: name.clone() },
        &uri,
        "name",
    )
    .await?;
    Ok(Json(serde_json::json!({ "destroyed": name.to_string() })))
}

/// POST `/v1/agents/units`: a machine's full report; committed only when it
/// differs from what the state holds.
pub async fn report(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Failure> {
    let req: UnitsReport = parse_json(&body)?;
    require_leader(&ctx, &uri)?;
    let machine = MachineId(req.machine.clone());
    let mut units = BTreeMap::new();
    for (i, u) in req.units.into_iter().enumerate() {
        let name = UnitName::parse(&u.name)
            .map_err(|e| Failure::bad(&format!("units[{i}].name"), e.to_string()))?;
        units.insert(
            name,
            UnitRuntime {
                hash: u.hash,
                load: u.load_state,
                active: u.active_state,
                sub: u.sub_state,
                since_ms: u.since_ms,
                main_pid: u.main_pid,
                result: u.result,
                restarts: u.restarts,
            },
        );
    }
    let same = ctx.store.read(|s| {
        s.unit_states.get(&machine) == Some(&units)
            || (units.is_empty() && !s.unit_states.contains_key(&machine))
    });
    if !same {
        write(
            &ctx,
            Command::ReportUnits { machine, units },
            &uri,
            "machine",
        )
        .await?;
    }
    Ok(Json(serde_json::json!({})))
}
