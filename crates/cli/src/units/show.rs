//! The commands that read units: `list-units`, `list-unit-files`, `cat`,
//! `journal` and `corral status UNIT...`.
//!
//! A unit's journal is read from the agent of the machine that reports it
//! (`UnitStateRow.agent`): the one it is placed on, or for a global unit
//! each machine in turn (`-f` then needs the unit on exactly one machine).
//!
//! Invariants: read-only; what is printed is [`render`]'s (pure); this
//! shell only fetches, reads the clock for `status`, and prints.

use corral_api::unit_view::{UnitRow, UnitStateRow};
use corral_api::Client;

use super::fields::{self, FileField, StateField};
use super::render::{self, Journal, ListOptions};
use super::{api, connect, resolve, CatArgs, JournalArgs, ListArgs};
use crate::output::json;
use crate::{CliError, CliResult, Endpoint};

/// Which listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `list-units`: one row per unit per machine.
    Units,
    /// `list-unit-files`: one row per unit.
    Files,
}

/// The columns a listing asked for.
enum Fields {
    Units(Vec<StateField>),
    Files(Vec<FileField>),
}

fn failed(msg: String) -> CliError {
    CliError::Failed(anyhow::anyhow!(msg))
}

fn name_of(arg: &str) -> CliResult<String> {
    resolve::unit_name(arg)
        .map(|n| n.name)
        .map_err(|e| CliError::usage(e.to_string()))
}

async fn must_get(c: &Client, name: &str) -> CliResult<UnitRow> {
    api::get(c, name).await?.ok_or_else(|| {
        failed(format!(
            "unit {name} does not exist; `corral list-unit-files` lists the units"
        ))
    })
}

/// `corral list-units` / `corral list-unit-files`.
pub fn list(which: Listing, args: ListArgs) -> CliResult {
    let opts = ListOptions {
        full: args.full,
        no_legend: args.no_legend,
    };
    // Check --fields before any request.
    let raw = args.fields.as_deref();
    let fields = match which {
        Listing::Units => Fields::Units(fields::parse(raw).map_err(CliError::Usage)?),
        Listing::Files => Fields::Files(fields::parse(raw).map_err(CliError::Usage)?),
    };
    let c = connect(&args.endpoint)?;
    let rows = crate::block_on(api::list(&c))?;
    if args.json {
        println!("{}", json(&rows));
        return Ok(());
    }
    print!(
        "{}",
        match &fields {
            Fields::Units(f) => render::list_units(&rows, f, opts),
            Fields::Files(f) => render::list_unit_files(&rows, f, opts),
        }
    );
    Ok(())
}

/// `corral cat UNIT`.
pub fn cat(args: CatArgs) -> CliResult {
    let name = name_of(&args.unit)?;
    let c = connect(&args.endpoint)?;
    let file = crate::block_on(api::file(&c, &name))?.ok_or_else(|| {
        failed(format!(
            "unit {name} does not exist; `corral list-unit-files` lists the units"
        ))
    })?;
    print!("{}", file.text);
    if !file.text.ends_with('\n') {
        println!();
    }
    Ok(())
}

/// The reports to read a unit from: its machine's (else any one), or
/// every machine's for a global unit, by machine id.
fn reporting(row: &UnitRow) -> Vec<&UnitStateRow> {
    let mut all: Vec<&UnitStateRow> = row.states.iter().collect();
    all.sort_by(|a, b| a.machine.cmp(&b.machine));
    if row.global {
        return all;
    }
    let placed = all
        .iter()
        .find(|s| row.machine.as_deref() == Some(s.machine.as_str()))
        .or(all.first())
        .copied();
    placed.into_iter().collect()
}

fn no_machine(row: &UnitRow) -> CliError {
    let mut msg = format!(
        "unit {} runs on no machine (desired {}, current {})",
        row.name, row.desired, row.current
    );
    if let Some(why) = &row.why {
        msg.push_str(&format!(": {why}"));
    }
    msg.push_str("; nothing to read");
    failed(msg)
}

/// `corral journal [-f] [--lines N] UNIT`.
pub fn journal(args: JournalArgs) -> CliResult {
    let name = name_of(&args.unit)?;
    let c = connect(&args.endpoint)?;
    crate::block_on(async {
        let row = must_get(&c, &name).await?;
        let states = reporting(&row);
        if states.is_empty() {
            return Err(no_machine(&row));
        }
        if args.follow {
            if states.len() > 1 {
                return Err(CliError::usage(format!(
                    "unit {name} is global and runs on {} machines; -f follows one unit on \
                     one machine: leave out -f to read every machine's lines",
                    states.len()
                )));
            }
            return api::follow_journal(&c, &states[0].agent, &name, args.lines).await;
        }
        for s in &states {
            if row.global {
                println!(
                    "-- {} --",
                    render::machine_legend(&s.machine, &s.machine_ip, false)
                );
            }
            let text = api::journal(&c, &s.agent, &name, args.lines)
                .await
                .map_err(|e| failed(format!("reading {name}'s journal: {e}")))?;
            print!("{text}");
        }
        Ok(())
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `corral status UNIT...`: a systemd-style block per unit (per machine
/// for a global unit) with its last 10 journal lines; `--json`: the units'
/// rows.
pub fn status(units: &[String], as_json: bool, endpoint: &Endpoint) -> CliResult {
    let names = units
        .iter()
        .map(|u| name_of(u))
        .collect::<CliResult<Vec<_>>>()?;
    let c = connect(endpoint)?;
    crate::block_on(async {
        if as_json {
            let mut rows = Vec::new();
            for name in &names {
                rows.push(must_get(&c, name).await?);
            }
            println!("{}", json(&rows));
            return Ok(());
        }
        let mut first = true;
        for name in &names {
            let row = must_get(&c, name).await?;
            let states = reporting(&row);
            let shown: Vec<Option<&UnitStateRow>> = if states.is_empty() {
                vec![None]
            } else {
                states.into_iter().map(Some).collect()
            };
            for s in shown {
                let journal = match s {
                    None => Journal::Nowhere,
                    Some(s) => match api::journal(&c, &s.agent, name, 10).await {
                        Ok(text) => Journal::Lines(text),
                        Err(e) => Journal::Unavailable(e),
                    },
                };
                if !first {
                    println!();
                }
                first = false;
                print!("{}", render::status(&row, s, &journal, now_ms()));
            }
        }
        Ok(())
    })
}
