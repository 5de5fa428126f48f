//! `/v2/groups`: Marathon's groups, derived from app ids. `/shop/web` is
//! in group `/shop`, which is in the root group `/`; a group exists while
//! some app is under it (the root always does). Nothing about groups is
//! stored: every operation is carried out on the apps under the group,
//! one app deployment each, through the same path as `/v2/apps`.
//!
//! - `GET /v2/groups[/{id}]`: the group with its apps and nested groups
//!   (`{id, apps, groups, pods: [], dependencies: [], version}`; its
//!   version is its newest app's). `embed=group.apps.tasks` etc. embed
//!   into the apps as on `/v2/apps`.
//! - `POST /v2/groups[/{id}]`: creates every app of the body's (nested)
//!   `apps` and `groups`. Ids inside a group may be relative to it
//!   (`web`, `./web`, `../other/web`); each app must land directly in the
//!   group that lists it. Apps are created in dependency order: an app
//!   whose `dependencies` are in the same body is created once their
//!   deployments have finished, within [`DEPENDENCY_WAIT`] for the whole
//!   request (a dependency cycle is 422). If the wait runs out, what was
//!   created stays and the rest is not created: 503 naming both (a `PUT`
//!   of the same body creates the rest).
//! - `PUT /v2/groups[/{id}]`: `{"scaleBy": f}` sets every app under the
//!   group to round(instances × f); a body with apps updates (or creates)
//!   them, in dependency order as above. Unlike Marathon, apps under the
//!   group that the body leaves out are kept, not stopped.
//! - `DELETE /v2/groups[/{id}]`: deletes every app under the group (all
//!   at once: stops are not ordered by dependencies).
//!
//! Each change answers `{deploymentId, version}` of the last app
//! deployment it started (one per app; Marathon has one per group); with
//! nothing to deploy, a fresh id no deployment carries. Without `force`,
//! a change refuses (409) before writing anything when a deployment holds
//! one of its apps.
//!
//! - `GET /v2/groups/{id}/versions`: the group's versions, newest first:
//!   every version of every app under it (a group changes when one of its
//!   apps does).
//!
//! Not served: a group as of an old version and rollback
//! (`/versions/{v}`, `{"version"}`), group-level `dependencies`, pods.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::marathon::app::{to_spec, AppRequest};
use corral_api::marathon::app_view::{AppView, Embed};
use corral_api::marathon::error::{Detail, Invalid, MarathonError};
use corral_api::marathon::event::GroupState;
use corral_api::marathon::time::iso8601;
use corral_core::app::{AppId, AppSpec};
use corral_core::Command;
use corral_master::context::now_ms;
use corral_master::scheduler::new_id;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::apps::{deployment_result, put};
use super::{fail, flag, values, views, write, Params};
use crate::AppsCtx;

/// How long one request waits, in all, for dependencies' deployments to
/// finish before creating their dependents: below the leader proxy's and
/// marathon-python's 10 s timeouts.
pub const DEPENDENCY_WAIT: Duration = Duration::from_secs(6);

/// A group as `POST`/`PUT /v2/groups` send it. (A wire type: it belongs
/// with `corral_api::marathon`'s, and moves there with the next change of
/// that crate.)
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GroupRequest {
    id: Option<String>,
    /// Kept as JSON: each app's `version` is dropped before it is read
    /// (a group's apps carry it when the body was read from a `GET`).
    apps: Option<Vec<Value>>,
    groups: Option<Vec<GroupRequest>>,
    dependencies: Option<Vec<String>>,
    pods: Option<Vec<Value>>,
    scale_by: Option<f64>,
    version: Option<String>,
}

/// Why a group request fails.
#[derive(Debug)]
enum Failure {
    Marathon(MarathonError),
    /// 404: no app under the group.
    NoGroup(String),
    /// 409: `POST` of a group that has apps.
    Exists(String),
    /// 503: a dependency's deployment did not finish in time.
    Waiting {
        created: Vec<AppId>,
        waiting_on: Vec<AppId>,
        not_created: Vec<AppId>,
    },
}

impl From<MarathonError> for Failure {
    fn from(e: MarathonError) -> Failure {
        Failure::Marathon(e)
    }
}

impl From<Invalid> for Failure {
    fn from(e: Invalid) -> Failure {
        Failure::Marathon(MarathonError::Invalid(e))
    }
}

impl Failure {
    /// The status and message of a group failure; `None` for a Marathon
    /// error, which answers as everywhere else.
    fn answer(&self) -> Option<(StatusCode, String)> {
        let list = |ids: &[AppId]| {
            ids.iter()
                .map(|a| a.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Some(match self {
            Failure::Marathon(_) => return None,
            Failure::NoGroup(g) => (StatusCode::NOT_FOUND, format!("Group '{g}' does not exist")),
            Failure::Exists(g) => (
                StatusCode::CONFLICT,
                format!("Group {g} is already created. Use PUT to change this group."),
            ),
            Failure::Waiting {
                created,
                waiting_on,
                not_created,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "created {}; the deployments of {} did not finish within {} s, so {} (which depend on them) were not created: PUT the same group again once they run",
                    list(created),
                    list(waiting_on),
                    DEPENDENCY_WAIT.as_secs(),
                    list(not_created)
                ),
            ),
        })
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match (self.answer(), self) {
            (Some((status, message)), _) => {
                (status, Json(serde_json::json!({ "message": message }))).into_response()
            }
            (None, Failure::Marathon(e)) => fail(e),
            (None, other) => {
                let msg = format!("{other:?}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({ "message": msg })),
                )
                    .into_response()
            }
        }
    }
}

fn invalid(path: &str, error: impl Into<String>) -> Failure {
    Invalid::new(vec![Detail {
        path: path.to_string(),
        errors: vec![error.into()],
    }])
    .into()
}

/// A group id from a path (`""` and `/` are the root).
fn group_id(raw: &str) -> Result<String, MarathonError> {
    if raw.trim_matches('/').is_empty() {
        return Ok("/".into());
    }
    AppId::parse(raw)
        .map(|id| id.0)
        .map_err(|e| MarathonError::BadRequest(format!("invalid group id {raw:?}: {e}")))
}

/// `raw` made absolute: as is when it starts with `/`, else relative to
/// group `base` (`.` and `..` resolved).
fn absolute(base: &str, raw: &str) -> Result<AppId, String> {
    if raw.starts_with('/') {
        return AppId::parse(raw).map_err(|e| e.to_string());
    }
    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        match seg {
            "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("{raw:?} goes above the root group"));
                }
            }
            s => parts.push(s),
        }
    }
    AppId::parse(&parts.join("/")).map_err(|e| e.to_string())
}

/// Whether `app` is under group `group` (at any depth).
fn under(group: &str, app: &AppId) -> bool {
    group == "/"
        || app
            .0
            .strip_prefix(group)
            .is_some_and(|r| r.starts_with('/'))
}

/// Group `id` over every app (sorted by id, with its view and version),
/// nested groups included; `None` when no app is under a non-root group.
fn tree(id: &str, apps: &[(AppId, AppView, u64)]) -> Option<GroupState> {
    let inside: Vec<&(AppId, AppView, u64)> =
        apps.iter().filter(|(a, _, _)| under(id, a)).collect();
    if inside.is_empty() && id != "/" {
        return None;
    }
    let prefix = if id == "/" {
        "/".to_string()
    } else {
        format!("{id}/")
    };
    let mut children = BTreeSet::new();
    let mut direct = Vec::new();
    for (app, view, _) in &inside {
        let rest = &app.0[prefix.len()..];
        match rest.split_once('/') {
            None => direct.push(view.clone()),
            Some((child, _)) => {
                children.insert(format!("{prefix}{child}"));
            }
        }
    }
    let version_ms = inside.iter().map(|(_, _, v)| *v).max().unwrap_or(0);
    Some(GroupState {
        id: id.to_string(),
        apps: direct,
        groups: children
            .iter()
            .filter_map(|c| tree(c, apps))
            .map(|g| serde_json::to_value(g).unwrap_or_default())
            .collect(),
        pods: Vec::new(),
        dependencies: Vec::new(),
        version: iso8601(version_ms),
    })
}

/// One app of a group body: its absolute id, the JSON path of its
/// definition (for errors) and the definition.
#[derive(Debug)]
struct Listed {
    id: AppId,
    path: String,
    req: AppRequest,
}

/// Every app of group `group` (the body `g`) and its nested groups, with
/// absolute ids; refuses what corral does not serve and misplaced ids.
fn flatten(
    group: &str,
    g: &GroupRequest,
    path: &str,
    out: &mut Vec<Listed>,
) -> Result<(), Failure> {
    if g.dependencies.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(invalid(
            &format!("{path}/dependencies"),
            "group dependencies are not supported by this version of corral; put dependencies on the apps",
        ));
    }
    if g.pods.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(invalid(
            &format!("{path}/pods"),
            "pods are not supported by this version of corral; define apps",
        ));
    }
    for (i, raw) in g.apps.iter().flatten().enumerate() {
        let at = format!("{path}/apps({i})");
        let mut raw = raw.clone();
        if let Some(o) = raw.as_object_mut() {
            o.remove("version");
        }
        let mut req: AppRequest = serde_json::from_value(raw)
            .map_err(|e| MarathonError::BadJson(format!("{at}: {e}")))?;
        let given = req
            .id
            .clone()
            .ok_or_else(|| invalid(&format!("{at}/id"), "every app of a group needs an id"))?;
        let id = absolute(group, &given).map_err(|e| invalid(&format!("{at}/id"), e))?;
        if id.group() != group {
            return Err(invalid(
                &format!("{at}/id"),
                format!("app {id} is not in group {group}: list it in the group it is in"),
            ));
        }
        req.id = Some(id.0.clone());
        out.push(Listed { id, path: at, req });
    }
    for (i, child) in g.groups.iter().flatten().enumerate() {
        let at = format!("{path}/groups({i})");
        let given = child
            .id
            .as_deref()
            .ok_or_else(|| invalid(&format!("{at}/id"), "every group needs an id"))?;
        let id = absolute(group, given).map_err(|e| invalid(&format!("{at}/id"), e))?;
        if id.group() != group {
            return Err(invalid(
                &format!("{at}/id"),
                format!("group {id} is not in group {group}: nest it in the group it is in"),
            ));
        }
        flatten(&id.0, child, &at, out)?;
    }
    Ok(())
}

/// The definitions the listed apps ask for (`existing` by id for an
/// update); every problem of every app at once, each path prefixed with
/// the app's place in the body.
fn specs(listed: &[Listed], existing: &BTreeMap<AppId, AppSpec>) -> Result<Vec<AppSpec>, Failure> {
    let mut details = Vec::new();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for l in listed {
        if !seen.insert(l.id.clone()) {
            details.push(Detail {
                path: format!("{}/id", l.path),
                errors: vec![format!("app {} is listed twice", l.id)],
            });
            continue;
        }
        match to_spec(&l.req, existing.get(&l.id), false) {
            Ok(spec) => out.push(spec),
            Err(inv) => details.extend(inv.details.into_iter().map(|d| Detail {
                path: format!("{}{}", l.path, d.path),
                errors: d.errors,
            })),
        }
    }
    if details.is_empty() {
        Ok(out)
    } else {
        Err(Invalid::new(details).into())
    }
}

/// `specs` in dependency order: layers whose apps depend only on apps of
/// earlier layers (dependencies outside `specs` do not order anything).
/// A cycle is named in the error.
fn layers(specs: &[AppSpec]) -> Result<Vec<Vec<usize>>, String> {
    let index: BTreeMap<&AppId, usize> =
        specs.iter().enumerate().map(|(i, s)| (&s.id, i)).collect();
    let deps: Vec<Vec<usize>> = specs
        .iter()
        .map(|s| {
            s.dependencies
                .iter()
                .filter_map(|d| index.get(d).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; specs.len()];
    let mut out = Vec::new();
    while placed.iter().any(|p| !p) {
        let layer: Vec<usize> = (0..specs.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]))
            .collect();
        if layer.is_empty() {
            return Err(cycle(specs, &deps, &placed));
        }
        for &i in &layer {
            placed[i] = true;
        }
        out.push(layer);
    }
    Ok(out)
}

/// `a → b → a`: a cycle among the unplaced apps (every one of them has an
/// unplaced dependency, so following them must repeat).
fn cycle(specs: &[AppSpec], deps: &[Vec<usize>], placed: &[bool]) -> String {
    let Some(mut at) = (0..specs.len()).find(|&i| !placed[i]) else {
        return String::new();
    };
    let mut path: Vec<usize> = Vec::new();
    while !path.contains(&at) {
        path.push(at);
        match deps[at].iter().find(|&&d| !placed[d]) {
            Some(&d) => at = d,
            None => break,
        }
    }
    let start = path.iter().position(|&i| i == at).unwrap_or(0);
    let mut names: Vec<&str> = path[start..]
        .iter()
        .map(|&i| specs[i].id.0.as_str())
        .collect();
    names.push(specs[at].id.0.as_str());
    format!("dependency cycle: {}", names.join(" → "))
}

/// Instances after scaling by `by` (rounded, within u32).
fn scaled(instances: u32, by: f64) -> u32 {
    (f64::from(instances) * by)
        .round()
        .clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Refuses (409, nothing written) when a deployment holds one of `apps`
/// and the change is not forced.
fn check_locks(ctx: &AppsCtx, apps: &[AppId], force: bool) -> Result<(), Failure> {
    if force {
        return Ok(());
    }
    let held: BTreeSet<String> = ctx
        .master
        .store
        .read(|s| apps.iter().flat_map(|a| s.deployments_of(a)).collect());
    if held.is_empty() {
        Ok(())
    } else {
        Err(MarathonError::Locked {
            deployments: held.into_iter().collect(),
        }
        .into())
    }
}

/// Apps under `group`, with their definitions.
fn apps_under(ctx: &AppsCtx, group: &str) -> Vec<AppSpec> {
    ctx.master.store.read(|s| {
        s.apps
            .values()
            .filter(|a| under(group, &a.spec.id))
            .map(|a| a.spec.clone())
            .collect()
    })
}

/// Waits until none of `deployments` is in progress, up to `deadline`.
async fn ended(ctx: &AppsCtx, deployments: &[String], deadline: tokio::time::Instant) -> bool {
    // Subscribe before looking: an end applied in between is still seen.
    let mut rx = ctx.master.store.subscribe();
    loop {
        let pending = ctx
            .master
            .store
            .read(|s| deployments.iter().any(|d| s.deployments.contains_key(d)));
        if !pending {
            return true;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) | Ok(Err(RecvError::Closed)) => return false,
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
        }
    }
}

/// Writes `specs` layer by layer, waiting for each layer's deployments
/// before the next; answers the last deployment and version.
async fn deploy_in_order(
    ctx: &AppsCtx,
    specs: Vec<AppSpec>,
    force: bool,
) -> Result<(String, u64), Failure> {
    let order = layers(&specs).map_err(|e| invalid("/dependencies", e))?;
    let deadline = tokio::time::Instant::now() + DEPENDENCY_WAIT;
    let mut last = None;
    let mut created = Vec::new();
    for (n, layer) in order.iter().enumerate() {
        let mut started = Vec::new();
        for &i in layer {
            let (dep, version, _) = put(ctx, specs[i].clone(), force).await?;
            created.push(specs[i].id.clone());
            started.push(dep.clone());
            last = Some((dep, version));
        }
        let more = n + 1 < order.len();
        if more && !ended(ctx, &started, deadline).await {
            let waiting_on = layer.iter().map(|&i| specs[i].id.clone()).collect();
            let not_created = order[n + 1..]
                .iter()
                .flatten()
                .map(|&i| specs[i].id.clone())
                .collect();
            return Err(Failure::Waiting {
                created,
                waiting_on,
                not_created,
            });
        }
    }
    Ok(last.unwrap_or_else(|| (new_id(), now_ms())))
}

fn parse_body(body: &Bytes) -> Result<GroupRequest, MarathonError> {
    serde_json::from_slice(body).map_err(|e| MarathonError::BadJson(e.to_string()))
}

/// GET /v2/groups/{id} (and /v2/groups for the root).
/// `GET /v2/groups/{id}/versions`: every version of every app under the
/// group, newest first, as ISO times.
fn versions(ctx: &AppsCtx, raw: &str) -> Result<Response, Failure> {
    let id = group_id(raw)?;
    let all: BTreeSet<u64> = ctx.master.store.read(|s| {
        s.apps
            .values()
            .filter(|a| under(&id, &a.spec.id))
            .flat_map(|a| a.versions.iter().map(|(ms, _)| *ms).chain([a.version_ms]))
            .collect()
    });
    if all.is_empty() && id != "/" {
        return Err(Failure::NoGroup(id));
    }
    let newest_first: Vec<String> = all.into_iter().rev().map(iso8601).collect();
    Ok(Json(newest_first).into_response())
}

fn show(ctx: &AppsCtx, raw: &str, params: &Params) -> Result<Response, Failure> {
    if let Some(group) = raw.trim_end_matches('/').strip_suffix("/versions") {
        return versions(ctx, group);
    }
    if raw.trim_matches('/') == "versions" {
        return versions(ctx, "/");
    }
    let id = group_id(raw)?;
    let embed = Embed::parse(values(params, "embed"));
    let group = ctx.master.store.read(|s| {
        let book = ctx.book();
        let apps: Vec<(AppId, AppView, u64)> = s
            .apps
            .values()
            .filter(|a| under(&id, &a.spec.id))
            .map(|a| {
                (
                    a.spec.id.clone(),
                    views::app(s, &book, a, &embed),
                    a.version_ms,
                )
            })
            .collect();
        tree(&id, &apps)
    });
    let group = group.ok_or(Failure::NoGroup(id))?;
    Ok(Json(group).into_response())
}

/// POST: creates the group's apps.
async fn create_group(ctx: &AppsCtx, raw: &str, body: &Bytes) -> Result<Response, Failure> {
    let base = group_id(raw)?;
    let g = parse_body(body)?;
    let id = match g.id.as_deref() {
        Some(given) if !given.trim_matches('/').is_empty() => {
            absolute(&base, given).map_err(|e| invalid("/id", e))?.0
        }
        _ => base,
    };
    let mut listed = Vec::new();
    flatten(&id, &g, "", &mut listed)?;
    let specs = specs(&listed, &BTreeMap::new())?;
    if id != "/" && !apps_under(ctx, &id).is_empty() {
        return Err(Failure::Exists(id));
    }
    let taken = ctx.master.store.read(|s| {
        specs
            .iter()
            .find(|sp| s.apps.contains_key(&sp.id))
            .map(|sp| sp.id.clone())
    });
    if let Some(app) = taken {
        return Err(MarathonError::AppExists(app).into());
    }
    let (dep, version) = deploy_in_order(ctx, specs, false).await?;
    let mut resp = deployment_result(&dep, version, StatusCode::CREATED);
    if let Ok(v) = HeaderValue::from_str(&format!("/v2/groups{id}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// PUT: scale by a factor, or update (and create) the body's apps.
async fn change_group(
    ctx: &AppsCtx,
    raw: &str,
    params: &Params,
    body: &Bytes,
) -> Result<Response, Failure> {
    let id = group_id(raw)?;
    let force = flag(params, "force", false);
    let g = parse_body(body)?;
    if let Some(by) = g.scale_by {
        if !by.is_finite() || by < 0.0 {
            return Err(invalid("/scaleBy", "must be a number ≥ 0"));
        }
        let apps = apps_under(ctx, &id);
        if apps.is_empty() && id != "/" {
            return Err(Failure::NoGroup(id));
        }
        let ids: Vec<AppId> = apps.iter().map(|a| a.id.clone()).collect();
        check_locks(ctx, &ids, force)?;
        let mut last = None;
        for mut spec in apps {
            spec.instances = scaled(spec.instances, by);
            let (dep, version, _) = put(ctx, spec, force).await?;
            last = Some((dep, version));
        }
        let (dep, version) = last.unwrap_or_else(|| (new_id(), now_ms()));
        return Ok(deployment_result(&dep, version, StatusCode::OK));
    }
    let has_apps = g.apps.as_ref().is_some_and(|a| !a.is_empty())
        || g.groups.as_ref().is_some_and(|gs| !gs.is_empty());
    if g.version.is_some() && !has_apps {
        return Err(invalid(
            "/version",
            "group versions are not kept by this version of corral; roll back each app with PUT /v2/apps/{appId} {\"version\": ...}",
        ));
    }
    if let Some(given) = g.id.as_deref().filter(|i| !i.trim_matches('/').is_empty()) {
        let named = absolute(&id, given).map_err(|e| invalid("/id", e))?;
        if named.0 != id {
            return Err(MarathonError::BadRequest(format!(
                "the body's id {named} is not the path's {id}"
            ))
            .into());
        }
    }
    if !has_apps {
        return Err(MarathonError::BadRequest(
            "the body changes nothing: give apps (or groups of apps) to update, or scaleBy".into(),
        )
        .into());
    }
    let mut listed = Vec::new();
    flatten(&id, &g, "", &mut listed)?;
    let existing: BTreeMap<AppId, AppSpec> = ctx.master.store.read(|s| {
        listed
            .iter()
            .filter_map(|l| s.apps.get(&l.id).map(|a| (l.id.clone(), a.spec.clone())))
            .collect()
    });
    let specs = specs(&listed, &existing)?;
    let ids: Vec<AppId> = specs.iter().map(|s| s.id.clone()).collect();
    check_locks(ctx, &ids, force)?;
    let (dep, version) = deploy_in_order(ctx, specs, force).await?;
    Ok(deployment_result(&dep, version, StatusCode::OK))
}

/// DELETE: deletes every app under the group.
async fn delete_group(ctx: &AppsCtx, raw: &str, params: &Params) -> Result<Response, Failure> {
    let id = group_id(raw)?;
    let force = flag(params, "force", false);
    let apps: Vec<AppId> = apps_under(ctx, &id).into_iter().map(|a| a.id).collect();
    if apps.is_empty() && id != "/" {
        return Err(Failure::NoGroup(id));
    }
    check_locks(ctx, &apps, force)?;
    let mut last = None;
    for app in apps {
        let cmd = Command::DeleteApp {
            id: app,
            deployment: new_id(),
            force,
        };
        let (dep, version, _) = write(ctx, cmd).await?;
        last = Some((dep, version));
    }
    let (dep, version) = last.unwrap_or_else(|| (new_id(), now_ms()));
    Ok(deployment_result(&dep, version, StatusCode::OK))
}

fn answer(r: Result<Response, Failure>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

pub async fn get_root(State(ctx): State<Arc<AppsCtx>>, Query(params): Query<Params>) -> Response {
    answer(show(&ctx, "/", &params))
}

pub async fn get_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    answer(show(&ctx, &path, &params))
}

pub async fn post_root(State(ctx): State<Arc<AppsCtx>>, body: Bytes) -> Response {
    answer(create_group(&ctx, "/", &body).await)
}

pub async fn post_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    answer(create_group(&ctx, &path, &body).await)
}

pub async fn put_root(
    State(ctx): State<Arc<AppsCtx>>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    answer(change_group(&ctx, "/", &params, &body).await)
}

pub async fn put_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Response {
    answer(change_group(&ctx, &path, &params, &body).await)
}

pub async fn delete_root(
    State(ctx): State<Arc<AppsCtx>>,
    Query(params): Query<Params>,
) -> Response {
    answer(delete_group(&ctx, "/", &params).await)
}

pub async fn delete_path(
    State(ctx): State<Arc<AppsCtx>>,
    Path(path): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    answer(delete_group(&ctx, &path, &params).await)
}

#[cfg(test)]
mod tests {
    use corral_api::marathon::app_view::definition_view;
    use serde_json::json;

    use super::*;
    use crate::scheduler::tests_support::spec;

    fn app(id: &str, version_ms: u64) -> (AppId, AppView, u64) {
        let mut s = spec();
        s.id = AppId::parse(id).unwrap();
        (s.id.clone(), definition_view(&s, version_ms), version_ms)
    }

    /// The group as `id: [apps] {subgroups}` lines, one per group.
    fn outline(g: &GroupState, out: &mut Vec<String>) {
        let apps: Vec<&str> = g.apps.iter().map(|a| a.id.as_str()).collect();
        let groups: Vec<&str> = g.groups.iter().filter_map(|v| v["id"].as_str()).collect();
        out.push(format!(
            "{} {} apps={apps:?} groups={groups:?}",
            g.id, g.version
        ));
        for sub in &g.groups {
            outline(&serde_json::from_value(sub.clone()).unwrap(), out);
        }
    }

    fn check_tree(id: &str, apps: &[(AppId, AppView, u64)], want: &[&str]) {
        let mut got = Vec::new();
        if let Some(g) = tree(id, apps) {
            outline(&g, &mut got);
        }
        assert_eq!(got, want, "group {id}");
    }

    #[test]
    fn groups_come_from_app_ids() {
        let apps = [
            app("/shop/db", 3_000),
            app("/shop/web", 1_000),
            app("/shop/x/cache", 2_000),
            app("/top", 5_000),
        ];
        check_tree(
            "/",
            &apps,
            &[
                "/ 1970-01-01T00:00:05.000Z apps=[\"/top\"] groups=[\"/shop\"]",
                "/shop 1970-01-01T00:00:03.000Z apps=[\"/shop/db\", \"/shop/web\"] groups=[\"/shop/x\"]",
                "/shop/x 1970-01-01T00:00:02.000Z apps=[\"/shop/x/cache\"] groups=[]",
            ],
        );
        check_tree(
            "/shop/x",
            &apps,
            &["/shop/x 1970-01-01T00:00:02.000Z apps=[\"/shop/x/cache\"] groups=[]"],
        );
        check_tree("/sho", &apps, &[]);
        check_tree("/shop/web", &apps, &[]);
        check_tree("/", &[], &["/ 1970-01-01T00:00:00.000Z apps=[] groups=[]"]);
    }

    #[test]
    fn the_group_json_has_only_marathon_python_keys() {
        let g = serde_json::to_value(tree("/", &[app("/shop/web", 0)]).unwrap()).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let want = ["apps", "dependencies", "groups", "id", "pods", "version"];
        assert_eq!(keys(&g), want);
        assert_eq!(keys(&g["groups"][0]), want);
        assert_eq!(g["groups"][0]["pods"], json!([]));
    }

    #[test]
    fn ids_inside_groups() {
        let ok = [
            ("/shop", "web", "/shop/web"),
            ("/shop", "./web", "/shop/web"),
            ("/shop", "../other/web", "/other/web"),
            ("/shop", "/abs/web", "/abs/web"),
            ("/", "web", "/web"),
            ("/a/b", "c/d", "/a/b/c/d"),
        ];
        for (base, raw, want) in ok {
            assert_eq!(
                absolute(base, raw).map(|a| a.0),
                Ok(want.to_string()),
                "{base} {raw}"
            );
        }
        assert!(absolute("/", "../x").is_err());
        assert!(absolute("/shop", "Web").is_err());
        assert_eq!(group_id("").unwrap(), "/");
        assert_eq!(group_id("//shop/").unwrap(), "/shop");
        assert!(group_id("/Shop").is_err());
        assert!(under("/", &AppId::parse("/a").unwrap()));
        assert!(under("/shop", &AppId::parse("/shop/web").unwrap()));
        assert!(!under("/shop", &AppId::parse("/shopping/web").unwrap()));
        assert!(!under("/shop", &AppId::parse("/shop").unwrap()));
    }

    fn listed(body: Value) -> Result<Vec<String>, String> {
        let g: GroupRequest = serde_json::from_value(body).unwrap();
        let mut out = Vec::new();
        flatten("/shop", &g, "", &mut out).map_err(|e| format!("{e:?}"))?;
        Ok(out.iter().map(|l| format!("{} {}", l.path, l.id)).collect())
    }

    #[test]
    fn bodies_flatten_to_absolute_apps() {
        assert_eq!(
            listed(
                json!({"id": "/shop", "apps": [{"id": "web", "version": "2015-09-30T09:09:17.614Z"}, {"id": "/shop/db"}],
                          "groups": [{"id": "x", "apps": [{"id": "cache"}]}]})
            ),
            Ok(vec![
                "/apps(0) /shop/web".to_string(),
                "/apps(1) /shop/db".to_string(),
                "/groups(0)/apps(0) /shop/x/cache".to_string(),
            ])
        );
        for (body, why) in [
            (
                json!({"apps": [{"id": "/elsewhere/web"}]}),
                "not in group /shop",
            ),
            (json!({"apps": [{"cmd": "x"}]}), "needs an id"),
            (json!({"groups": [{"id": "/other"}]}), "not in group /shop"),
            (
                json!({"dependencies": ["/db"]}),
                "group dependencies are not supported",
            ),
            (json!({"pods": [{}]}), "pods are not supported"),
        ] {
            let err = listed(body.clone()).unwrap_err();
            assert!(err.contains(why), "{body}: {err}");
        }
    }

    fn with_deps(id: &str, deps: &[&str]) -> AppSpec {
        let mut s = spec();
        s.id = AppId::parse(id).unwrap();
        s.dependencies = deps.iter().map(|d| AppId::parse(d).unwrap()).collect();
        s
    }

    fn check_layers(apps: &[(&str, &[&str])], want: Result<&[&[&str]], &str>) {
        let specs: Vec<AppSpec> = apps.iter().map(|(id, d)| with_deps(id, d)).collect();
        let got = layers(&specs).map(|ls| {
            ls.iter()
                .map(|l| l.iter().map(|&i| specs[i].id.0.clone()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        });
        let want = want.map(|ls| {
            ls.iter()
                .map(|l| l.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        });
        assert_eq!(got, want.map_err(str::to_string), "{apps:?}");
    }

    #[test]
    fn dependency_order() {
        check_layers(&[("/a", &[]), ("/b", &[])], Ok(&[&["/a", "/b"]]));
        check_layers(
            &[
                ("/web", &["/db", "/cache"]),
                ("/db", &[]),
                ("/cache", &["/db"]),
            ],
            Ok(&[&["/db"], &["/cache"], &["/web"]]),
        );
        // A dependency outside the body orders nothing.
        check_layers(&[("/web", &["/elsewhere"])], Ok(&[&["/web"]]));
        check_layers(&[], Ok(&[]));
        check_layers(
            &[
                ("/ok", &[]),
                ("/a", &["/b"]),
                ("/b", &["/c"]),
                ("/c", &["/a"]),
            ],
            Err("dependency cycle: /a → /b → /c → /a"),
        );
        check_layers(
            &[("/self", &["/self"])],
            Err("dependency cycle: /self → /self"),
        );
    }

    #[test]
    fn specs_report_every_problem_with_its_place() {
        let g: GroupRequest = serde_json::from_value(json!({"apps": [
            {"id": "web", "cmd": "w", "cpus": -1},
            {"id": "db", "cmd": "d"},
            {"id": "web", "cmd": "w"}
        ]}))
        .unwrap();
        let mut l = Vec::new();
        flatten("/shop", &g, "", &mut l).unwrap();
        let Err(Failure::Marathon(MarathonError::Invalid(inv))) = specs(&l, &BTreeMap::new())
        else {
            panic!("invalid expected");
        };
        let paths: Vec<&str> = inv.details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/apps(0)/cpus", "/apps(2)/id"]);
    }

    #[test]
    fn scaling_rounds() {
        for (n, by, want) in [
            (2, 2.0, 4),
            (3, 0.5, 2),
            (1, 0.4, 0),
            (5, 0.0, 0),
            (0, 10.0, 0),
        ] {
            assert_eq!(scaled(n, by), want, "{n} × {by}");
        }
    }

    #[test]
    fn failures_as_marathon_answers() {
        let id = |s: &str| AppId::parse(s).unwrap();
        let cases = [
            (Failure::NoGroup("/x".into()), 404, "Group '/x' does not exist"),
            (
                Failure::Exists("/shop".into()),
                409,
                "Group /shop is already created. Use PUT to change this group.",
            ),
            (
                Failure::Waiting {
                    created: vec![id("/shop/db")],
                    waiting_on: vec![id("/shop/db")],
                    not_created: vec![id("/shop/web"), id("/shop/api")],
                },
                503,
                "created /shop/db; the deployments of /shop/db did not finish within 6 s, so /shop/web, /shop/api (which depend on them) were not created: PUT the same group again once they run",
            ),
        ];
        for (f, status, message) in cases {
            assert_eq!(
                f.answer(),
                Some((StatusCode::from_u16(status).unwrap(), message.to_string()))
            );
        }
        assert_eq!(Failure::Marathon(MarathonError::NoLeader).answer(), None);
    }
}
