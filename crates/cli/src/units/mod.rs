//! fleet's units from the command line, with fleetctl's commands, flags and
//! columns: `submit`, `load`, `start`, `stop`, `unload`, `destroy`,
//! `list-units`, `list-unit-files`, `cat`, `journal`, and `status UNIT...`
//! (through `corral status`, whose bare form is the cluster summary).
//!
//! - [`resolve`] (pure): what an argument names (a file, a unit, an
//!   instance's template).
//! - [`change`]: the shells that change units (submit files and templates,
//!   set the desired state, wait).
//! - [`wait`] (pure): while `start`/`load`/`stop` block, keep waiting, done
//!   or fail — and why.
//! - [`show`]: the shells that read (listings, `cat`, `journal`, `status`).
//! - [`fields`], [`render`] (pure): `--fields`, tables, status blocks.
//! - [`api`]: the HTTP calls.
//!
//! Invariants: HTTP only (the master's `/v1/units`, the agents' journals);
//! every listing has `--json`; bad arguments (a missing file, a bad unit
//! name, a template given to `start`) are exit 2 before any request.

pub mod api;
pub mod change;
pub mod fields;
pub mod render;
pub mod resolve;
pub mod show;
pub mod wait;

use clap::{Args, Subcommand};

use crate::{CliError, CliResult, Endpoint};

/// Said under each unit command's `--help`.
pub const ENDPOINT_HELP: &str = "The cluster: --endpoint, else CORRAL_ENDPOINT, else \
FLEETCTL_ENDPOINT (fleetctl's variable: http://HOST:PORT of a server), else the local cluster \
started by `corral up`.";

/// The unit commands, flattened into corral's top-level commands.
#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Send unit files to the cluster without scheduling them.
    ///
    /// fleetctl submit. A file whose contents changed replaces the unit the
    /// cluster holds (fleetctl only warns).
    #[command(after_help = ENDPOINT_HELP)]
    Submit(SubmitArgs),
    /// Place units on machines, loaded but not started; wait for them.
    ///
    /// fleetctl load. Local unit files are submitted first.
    #[command(after_help = ENDPOINT_HELP)]
    Load(BlockArgs),
    /// Place units on machines and start them; wait until each runs.
    ///
    /// fleetctl start. Local unit files are submitted first; an instance
    /// (web@1.service) without a file comes from its template. Exits 1
    /// naming why a unit cannot be placed, or that it failed.
    #[command(after_help = ENDPOINT_HELP)]
    Start(BlockArgs),
    /// Stop units, leaving them loaded on their machines; wait for them.
    #[command(after_help = ENDPOINT_HELP)]
    Stop(BlockArgs),
    /// Unload units from their machines (they stay in the cluster).
    #[command(after_help = ENDPOINT_HELP)]
    Unload(NamesArgs),
    /// Remove units from the cluster, stopping them.
    #[command(after_help = ENDPOINT_HELP)]
    Destroy(NamesArgs),
    /// List each unit on each machine: UNIT MACHINE ACTIVE SUB.
    ///
    /// fleetctl list-units. A unit that is wanted but on no machine yet
    /// gets a row too: MACHINE is its placement or `-`, the rest `-`.
    #[command(after_help = ENDPOINT_HELP)]
    ListUnits(ListArgs),
    /// List the unit files: UNIT HASH DSTATE STATE TARGET.
    #[command(after_help = ENDPOINT_HELP)]
    ListUnitFiles(ListArgs),
    /// Print a unit's file as the cluster holds it.
    #[command(after_help = ENDPOINT_HELP)]
    Cat(CatArgs),
    /// Print a unit's output from its machine's journal (-f follows it).
    #[command(after_help = ENDPOINT_HELP)]
    Journal(JournalArgs),
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Unit files (`web@.service`, `./units/db.service`); an instance
    /// (`web@1.service`) without a file comes from its template.
    #[arg(required = true, value_name = "UNIT_FILE")]
    pub units: Vec<String>,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Unit files or names (`web@1.service`: submitted from a local file,
    /// or from the template `web@.service` if the cluster lacks it).
    #[arg(required = true, value_name = "UNIT")]
    pub units: Vec<String>,
    /// Do not wait for the units to get there.
    #[arg(long)]
    pub no_block: bool,
    /// Give up after N polls, 250 ms apart (0: only --timeout limits).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "no_block"
    )]
    pub block_attempts: u32,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Unit names (`web@1.service`; a path means its file's name).
    #[arg(required = true, value_name = "UNIT")]
    pub units: Vec<String>,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Full machine ids and hashes.
    #[arg(short = 'l', long)]
    pub full: bool,
    /// No header row.
    #[arg(long)]
    pub no_legend: bool,
    /// Columns to print, comma-separated (fleetctl's field names; see
    /// the defaults in the header).
    #[arg(long, value_name = "a,b,c")]
    pub fields: Option<String>,
    /// Print the units as JSON (corral's unit rows) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    /// The unit's name.
    #[arg(value_name = "UNIT")]
    pub unit: String,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// The unit's name.
    #[arg(value_name = "UNIT")]
    pub unit: String,
    /// Keep printing new lines (Ctrl-C stops).
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the last lines to print.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub lines: u32,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

/// Runs one unit command.
pub fn run(cmd: UnitCommand) -> CliResult {
    use change::Change;
    match cmd {
        UnitCommand::Submit(a) => change::submit(a),
        UnitCommand::Load(a) => change::block(Change::Load, a),
        UnitCommand::Start(a) => change::block(Change::Start, a),
        UnitCommand::Stop(a) => change::block(Change::Stop, a),
        UnitCommand::Unload(a) => change::unload(a),
        UnitCommand::Destroy(a) => change::destroy(a),
        UnitCommand::ListUnits(a) => show::list(show::Listing::Units, a),
        UnitCommand::ListUnitFiles(a) => show::list(show::Listing::Files, a),
        UnitCommand::Cat(a) => show::cat(a),
        UnitCommand::Journal(a) => show::journal(a),
    }
}

/// `corral status [--json] UNIT...`.
pub fn run_status(units: &[String], json: bool, endpoint: &Endpoint) -> CliResult {
    show::status(units, json, endpoint)
}

/// The endpoint to use: `--endpoint`/`CORRAL_ENDPOINT`, else fleetctl's
/// `FLEETCTL_ENDPOINT` (`fleetctl`), an HTTP address; fleet's default unix
/// socket is refused with what to set instead. Pure.
pub fn with_fleetctl_fallback(e: &Endpoint, fleetctl: Option<&str>) -> CliResult<Endpoint> {
    if e.endpoint.is_some() {
        return Ok(e.clone());
    }
    let Some(raw) = fleetctl.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(e.clone());
    };
    if let Some(bad) = raw
        .split(',')
        .map(str::trim)
        .find(|p| p.contains("://") && !p.starts_with("http://"))
    {
        return Err(CliError::usage(format!(
            "FLEETCTL_ENDPOINT has {bad:?}, which corral cannot use: it talks HTTP to a \
             server's API; set CORRAL_ENDPOINT=HOST:PORT (or unset FLEETCTL_ENDPOINT)"
        )));
    }
    Ok(Endpoint {
        endpoint: Some(raw.to_string()),
    })
}

/// A client for the endpoint the user chose (see [`ENDPOINT_HELP`]).
pub fn connect(e: &Endpoint) -> CliResult<corral_api::Client> {
    let fleetctl = std::env::var("FLEETCTL_ENDPOINT").ok();
    crate::client(&with_fleetctl_fallback(e, fleetctl.as_deref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(explicit: Option<&str>, fleetctl: Option<&str>, expected: &str) {
        let e = Endpoint {
            endpoint: explicit.map(str::to_string),
        };
        let got = match with_fleetctl_fallback(&e, fleetctl) {
            Ok(e) => format!("{:?}", e.endpoint),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn fleetctl_endpoint_is_a_fallback() {
        check(Some("a:5050"), Some("http://b:5050"), "Some(\"a:5050\")");
        check(None, Some("http://b:5050"), "Some(\"http://b:5050\")");
        check(None, Some("b:5050,c:5050"), "Some(\"b:5050,c:5050\")");
        check(None, Some("  "), "None");
        check(None, None, "None");
        check(
            None,
            Some("unix:///var/run/fleet.sock"),
            "error: FLEETCTL_ENDPOINT has \"unix:///var/run/fleet.sock\", which corral cannot \
             use: it talks HTTP to a server's API; set CORRAL_ENDPOINT=HOST:PORT (or unset \
             FLEETCTL_ENDPOINT)",
        );
    }

    #[test]
    fn commands_parse() {
        use clap::Parser;
        let parse = |line: &str| crate::Cli::try_parse_from(line.split(' ')).map(|c| c.command);
        assert!(matches!(
            parse("corral start web@1.service web@2.service --block-attempts 4"),
            Ok(crate::Command::Units(UnitCommand::Start(BlockArgs {
                block_attempts: 4,
                ..
            })))
        ));
        assert!(matches!(
            parse("corral list-units -l --no-legend --fields unit,hash"),
            Ok(crate::Command::Units(UnitCommand::ListUnits(ListArgs {
                full: true,
                no_legend: true,
                ..
            })))
        ));
        assert!(matches!(
            parse("corral journal -f --lines 5 web.service"),
            Ok(crate::Command::Units(UnitCommand::Journal(JournalArgs {
                follow: true,
                lines: 5,
                ..
            })))
        ));
        assert!(matches!(
            parse("corral status web.service"),
            Ok(crate::Command::Status(s)) if s.units == ["web.service"]
        ));
        assert!(parse("corral start").is_err(), "a unit is required");
        assert!(parse("corral start --no-block --block-attempts 3 a.service").is_err());
        assert!(parse("corral start --timeout 0 a.service").is_err());
    }
}
