//! The commands that change units: `submit`, `load`, `start`, `stop`,
//! `unload`, `destroy`. Each resolves every argument first (exit 2 before
//! any request), makes the cluster hold the units (local files, an
//! instance's template), sets the desired state, and — for `load`, `start`
//! and `stop`, unless `--no-block` — polls until [`Waiter`] says done or
//! failed, printing fleetctl's lines.
//!
//! Unlike fleetctl, which only warns, a local file whose hash differs from
//! the unit in the cluster replaces it (the server's PUT does that).
//!
//! Invariants: decisions are [`resolve`](super::resolve)'s and
//! [`wait`](super::wait)'s (pure); this shell only reads files, calls the
//! API, sleeps between polls and prints.

use std::time::Duration;

use corral_api::unit_view::{UnitBatch, UnitBatchItem, UnitPut, UnitRow};
use corral_api::Client;

use super::resolve::{self, Target};
use super::wait::{Goal, Limits, Verdict, Waiter};
use super::{api, connect, BlockArgs, NamesArgs, SubmitArgs};
use crate::{CliError, CliResult};

/// How often a blocking command polls the units.
pub const POLL: Duration = Duration::from_millis(250);

/// A command that sets a desired state and may wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Load,
    Start,
    Stop,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Load => "load",
            Change::Start => "start",
            Change::Stop => "stop",
        }
    }

    fn desired(self) -> &'static str {
        match self {
            Change::Load | Change::Stop => "loaded",
            Change::Start => "launched",
        }
    }

    fn goal(self) -> Goal {
        match self {
            Change::Load => Goal::Loaded,
            Change::Start => Goal::Launched,
            Change::Stop => Goal::Stopped,
        }
    }
}

fn usage(msg: String) -> CliError {
    CliError::Usage(msg)
}

fn failed(msg: String) -> CliError {
    CliError::Failed(anyhow::anyhow!(msg))
}

/// Every argument resolved (files looked up on disk), duplicates dropped.
fn targets(args: &[String]) -> CliResult<Vec<Target>> {
    let exists = |p: &std::path::Path| p.is_file();
    let mut out: Vec<Target> = Vec::new();
    for a in args {
        let t = resolve::resolve(a, &exists).map_err(|e| usage(e.to_string()))?;
        if !out.iter().any(|o| o.unit.name == t.unit.name) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Every argument's unit name, duplicates dropped.
fn names(args: &[String]) -> CliResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for a in args {
        let n = resolve::unit_name(a)
            .map_err(|e| usage(e.to_string()))?
            .name;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

fn read(path: &std::path::Path) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// The unit or an error saying it does not exist (exit 1).
async fn must_get(c: &Client, name: &str) -> CliResult<UnitRow> {
    api::get(c, name).await?.ok_or_else(|| {
        failed(format!(
            "unit {name} does not exist; `corral list-unit-files` lists the units"
        ))
    })
}

/// Sets `row`'s desired state unless it already is `desired`.
async fn set_desired(c: &Client, row: UnitRow, desired: Option<&str>) -> CliResult<UnitRow> {
    match desired {
        Some(d) if row.desired != d => {
            let body = UnitPut {
                text: None,
                desired: Some(d.to_string()),
            };
            api::put(c, &row.name, &body).await
        }
        _ => Ok(row),
    }
}

/// Makes the cluster hold `t` — its local file, else (an instance) the
/// unit already there or one made from its template, submitting the
/// template's local file when the cluster lacks it — and sets `desired`.
async fn ensure(c: &Client, t: &Target, desired: Option<&str>) -> CliResult<UnitRow> {
    let name = &t.unit.name;
    if let Some(path) = &t.file {
        let body = UnitPut {
            text: Some(read(path)?),
            desired: desired.map(str::to_string),
        };
        return api::put(c, name, &body).await;
    }
    if let Some(row) = api::get(c, name).await? {
        return set_desired(c, row, desired).await;
    }
    let Some(template) = &t.unit.template else {
        return Err(usage(format!(
            "no unit file {name} here, and the cluster has no unit {name}; give the path of \
             its unit file"
        )));
    };
    if api::get(c, template).await?.is_none() {
        let Some(file) = &t.template_file else {
            return Err(usage(format!(
                "no unit file {name} here, and neither the cluster nor this directory has its \
                 template {template}; give the path of one of them"
            )));
        };
        let body = UnitPut {
            text: Some(read(file)?),
            desired: None,
        };
        api::put(c, template, &body).await?;
    }
    let body = UnitPut {
        text: None,
        desired: desired.map(str::to_string),
    };
    api::put(c, name, &body).await
}

/// [`ensure`] for several targets in one request (`POST /v1/units`): the
/// cluster validates them all before writing any, and commits them
/// together, so starting a thousand instances is one round trip. A
/// template the cluster lacks goes first, from its local file.
async fn ensure_all(
    c: &Client,
    targets: &[Target],
    desired: Option<&str>,
) -> CliResult<Vec<UnitRow>> {
    if targets.len() == 1 {
        return Ok(vec![ensure(c, &targets[0], desired).await?]);
    }
    let item = |name: &str, text: Option<String>, desired: Option<&str>| UnitBatchItem {
        name: name.to_string(),
        text,
        desired: desired.map(str::to_string),
    };
    let mut items = Vec::new();
    let mut templates_checked = std::collections::BTreeSet::new();
    for t in targets {
        let name = &t.unit.name;
        if let Some(path) = &t.file {
            items.push(item(name, Some(read(path)?), desired));
            continue;
        }
        if let (Some(template), Some(file)) = (&t.unit.template, &t.template_file) {
            if templates_checked.insert(template.clone()) && api::get(c, template).await?.is_none()
            {
                items.push(item(template, Some(read(file)?), None));
            }
        }
        items.push(item(name, None, desired));
    }
    api::put_many(c, &UnitBatch { units: items }).await?;
    let mut rows: std::collections::BTreeMap<String, UnitRow> = api::list(c)
        .await?
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    targets
        .iter()
        .map(|t| {
            rows.remove(&t.unit.name)
                .ok_or_else(|| failed(format!("{} was submitted but is not listed", t.unit.name)))
        })
        .collect()
}

/// `corral submit UNIT_FILE...`.
pub fn submit(args: SubmitArgs) -> CliResult {
    let targets = targets(&args.units)?;
    let c = connect(&args.endpoint)?;
    crate::block_on(async { ensure_all(&c, &targets, None).await.map(drop) })
}

/// `corral load|start|stop UNIT...`.
pub fn block(change: Change, args: BlockArgs) -> CliResult {
    let limits = Limits {
        attempts: (args.block_attempts > 0).then_some(args.block_attempts),
        timeout_ms: args.timeout.saturating_mul(1000),
    };
    let c;
    let rows = if change == Change::Stop {
        let names = names(&args.units)?;
        c = connect(&args.endpoint)?;
        crate::block_on(stop(&c, &names))?
    } else {
        let targets = targets(&args.units)?;
        if let Some(t) = targets.iter().find(|t| t.unit.is_template) {
            return Err(usage(format!(
                "{} is a template, which cannot be {}; {} an instance of it (web@1.service \
                 for web@.service)",
                t.unit.name,
                change.goal().word(),
                change.verb()
            )));
        }
        c = connect(&args.endpoint)?;
        crate::block_on(ensure_all(&c, &targets, Some(change.desired())))?
    };
    let mut wait = Vec::new();
    for r in &rows {
        if args.no_block || r.global {
            let global = if r.global { "global " } else { "" };
            println!("Triggered {global}unit {} {}", r.name, change.verb());
        } else {
            wait.push(r.name.clone());
        }
    }
    if wait.is_empty() {
        return Ok(());
    }
    crate::block_on(wait_all(&c, &wait, change.goal(), limits))
}

/// `stop`: every unit must exist and be loaded or launched (fleetctl
/// refuses an inactive one); then each is set to `loaded`.
async fn stop(c: &Client, names: &[String]) -> CliResult<Vec<UnitRow>> {
    let mut rows = Vec::new();
    for n in names {
        let row = must_get(c, n).await?;
        if row.desired == "inactive" && !row.global {
            return Err(failed(format!(
                "unit {n} is not loaded on any machine (desired inactive), so it cannot be \
                 stopped; `corral start {n}` runs it"
            )));
        }
        rows.push(row);
    }
    let mut out = Vec::new();
    for row in rows {
        out.push(set_desired(c, row, Some("loaded")).await?);
    }
    Ok(out)
}

/// Polls until every unit in `names` reaches `goal` or fails; prints
/// fleetctl's line for each that gets there, and every failure.
async fn wait_all(c: &Client, names: &[String], goal: Goal, limits: Limits) -> CliResult {
    let start = tokio::time::Instant::now();
    let mut waiting: Vec<Waiter> = names.iter().map(|n| Waiter::new(n, goal, limits)).collect();
    let mut errors = Vec::new();
    while !waiting.is_empty() {
        let rows = api::list(c).await?;
        let elapsed = start.elapsed().as_millis() as u64;
        waiting.retain_mut(|w| {
            let row = rows.iter().find(|r| r.name == w.name);
            match w.observe(row, elapsed) {
                Verdict::Waiting => true,
                Verdict::Done(line) => {
                    println!("{line}");
                    false
                }
                Verdict::Failed(e) => {
                    errors.push(e);
                    false
                }
            }
        });
        if !waiting.is_empty() {
            tokio::time::sleep(POLL).await;
        }
    }
    let last = errors.pop();
    for e in errors {
        eprintln!("corral: {e}");
    }
    match last {
        Some(e) => Err(CliError::Failed(e.into())),
        None => Ok(()),
    }
}

/// `corral unload UNIT...`: desired `inactive`; does not wait.
pub fn unload(args: NamesArgs) -> CliResult {
    let names = names(&args.units)?;
    let c = connect(&args.endpoint)?;
    crate::block_on(async {
        let mut rows = Vec::new();
        for n in &names {
            rows.push(must_get(&c, n).await?);
        }
        for row in rows {
            let row = set_desired(&c, row, Some("inactive")).await?;
            let global = if row.global { "global " } else { "" };
            println!("Triggered {global}unit {} unload", row.name);
        }
        Ok(())
    })
}

/// `corral destroy UNIT...`: removes each unit; does not wait. Units that
/// do not exist are named at the end (exit 1) after the others are gone.
pub fn destroy(args: NamesArgs) -> CliResult {
    let names = names(&args.units)?;
    let c = connect(&args.endpoint)?;
    crate::block_on(async {
        let mut missing = Vec::new();
        for n in &names {
            if api::destroy(&c, n).await? {
                println!("Destroyed {n}");
            } else {
                missing.push(n.as_str());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(failed(format!(
                "no such unit: {}; `corral list-unit-files` lists the units",
                missing.join(", ")
            )))
        }
    })
}
