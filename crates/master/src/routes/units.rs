//! corral's own unit API, the CLI's (`/v1/units`, `/v1/units/{name}`,
//! `/v1/units/{name}/file`), and the machines' reports
//! (`POST /v1/agents/units`). Leader-only: followers answer 307.
//!
//! Submitting validates the unit file here (parse errors with line
//! numbers, [X-Fleet] rules) so a bad file is a 400 naming it and nothing
//! is written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use corral_api::unit_view::{
    UnitBatch, UnitBatchResult, UnitFileText, UnitList, UnitPut, UnitRow, UnitsReport,
};
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

/// One unit change, validated: its name, desired state and parsed file.
struct Checked {
    name: UnitName,
    desired: Option<DesiredState>,
    file: Option<UnitFile>,
}

/// Validates one change; `at` prefixes the fields a 400 names (`""`, or
/// `units[3].` in a batch).
fn check(
    raw: &str,
    text: Option<&str>,
    desired: Option<&str>,
    at: &str,
) -> Result<Checked, Failure> {
    let name =
        UnitName::parse(raw).map_err(|e| Failure::bad(&format!("{at}name"), e.to_string()))?;
    let desired = match desired {
        None => None,
        Some(d) => Some(DesiredState::parse(d).ok_or_else(|| {
            Failure::bad(
                &format!("{at}desired"),
                format!("invalid desired state {d:?}: use inactive, loaded or launched"),
            )
        })?),
    };
    let file = match text {
        None => None,
        Some(text) => {
            let bad = |e: String| Failure::bad(&format!("{at}text"), format!("{name}: {e}"));
            let f = UnitFile::parse(text).map_err(|e| bad(e.to_string()))?;
            Requirements::of(&name, &f).map_err(|e| bad(e.to_string()))?;
            Some(f)
        }
    };
    Ok(Checked {
        name,
        desired,
        file,
    })
}

/// What to commit for `c` (nothing when it changes nothing), given the
/// unit as the cluster holds it (hash, desired) and whether its template
/// exists: a new or different file replaces the unit; otherwise the
/// desired state is set; an instance with no file is made from its
/// template.
fn decide(
    c: Checked,
    existing: Option<(String, DesiredState)>,
    has_template: bool,
    at: &str,
) -> Result<Option<(Command, String)>, Failure> {
    let Checked {
        name,
        desired,
        file,
    } = c;
    match (file, existing) {
        (Some(f), existing) if existing.as_ref().map(|e| &e.0) != Some(&f.hash()) => {
            let d = desired
                .or(existing.map(|e| e.1))
                .unwrap_or(DesiredState::Inactive);
            let options = f.options().to_vec();
            Ok(Some((
                Command::PutUnit {
                    name,
                    options,
                    desired: d,
                },
                format!("{at}text"),
            )))
        }
        (_, Some((_, now))) => Ok(desired.filter(|d| *d != now).map(|d| {
            (
                Command::SetUnitDesired { name, desired: d },
                format!("{at}desired"),
            )
        })),
        (None, None) if has_template => {
            let d = desired.unwrap_or(DesiredState::Inactive);
            Ok(Some((
                Command::PutUnit {
                    name,
                    options: Vec::new(),
                    desired: d,
                },
                format!("{at}name"),
            )))
        }
        (_, None) => Err(Failure::bad(
            &format!("{at}text"),
            format!(
                "unit {name} does not exist: send its unit file{}",
                name.template()
                    .map(|t| format!(" (or submit the template {t} first)"))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// PUT `/v1/units/{name}`: submit/replace (`text`) and/or set `desired`.
pub async fn put(
    State(ctx): State<Arc<MasterCtx>>,
    Path(raw): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<UnitRow>, Failure> {
    let req: UnitPut = parse_json(&body)?;
    let checked = check(&raw, req.text.as_deref(), req.desired.as_deref(), "")?;
    let name = checked.name.clone();
    require_leader(&ctx, &uri)?;
    let (existing, has_template) = ctx.store.read(|s| {
        (
            s.units.get(&name).map(|u| (u.hash.clone(), u.desired)),
            name.template().is_some_and(|t| s.units.contains_key(&t)),
        )
    });
    if let Some((cmd, field)) = decide(checked, existing, has_template, "")? {
        write(&ctx, cmd, &uri, &field).await?;
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

/// POST `/v1/units`: many changes in one request, each as `PUT
/// /v1/units/{name}` would make it, in order. All are validated before
/// any is written (a 400 names `units[i].field`); the writes then go to the
/// log together.
pub async fn put_many(
    State(ctx): State<Arc<MasterCtx>>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<UnitBatchResult>, Failure> {
    let req: UnitBatch = parse_json(&body)?;
    let checked = req
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| {
            check(
                &u.name,
                u.text.as_deref(),
                u.desired.as_deref(),
                &format!("units[{i}]."),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    require_leader(&ctx, &uri)?;
    let commands = ctx.store.read(|s| {
        // What earlier entries of this batch will have made.
        let mut made: HashMap<UnitName, (String, DesiredState)> = HashMap::new();
        let mut out = Vec::new();
        for (i, c) in checked.into_iter().enumerate() {
            let at = format!("units[{i}].");
            let existing = made
                .get(&c.name)
                .cloned()
                .or_else(|| s.units.get(&c.name).map(|u| (u.hash.clone(), u.desired)));
            let has_template = c
                .name
                .template()
                .is_some_and(|t| made.contains_key(&t) || s.units.contains_key(&t));
            let hash = c.file.as_ref().map(UnitFile::hash);
            let name = c.name.clone();
            let prev = existing.clone();
            if let Some((cmd, field)) = decide(c, existing, has_template, &at)? {
                let desired = match &cmd {
                    Command::PutUnit { desired, .. } | Command::SetUnitDesired { desired, .. } => {
                        *desired
                    }
                    _ => DesiredState::Inactive,
                };
                let hash = hash.or(prev.map(|p| p.0)).unwrap_or_default();
                made.insert(name, (hash, desired));
                out.push((cmd, field));
            }
        }
        Ok::<_, Failure>(out)
    })?;
    let written = commands.len();
    // Queued in order (an instance after its template), committed together.
    let now = now_ms();
    let results = futures_util::future::join_all(
        commands
            .into_iter()
            .map(|(cmd, field)| async { (ctx.store.write(cmd, now).await, field) }),
    )
    .await;
    for (result, field) in results {
        match result {
            Ok(corral_core::Response::Refused { reason }) => {
                return Err(Failure::bad(&field, reason))
            }
            Ok(_) => {}
            Err(e) => return Err(Failure::from_write(e, path_of(&uri))),
        }
    }
    Ok(Json(UnitBatchResult { written }))
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
