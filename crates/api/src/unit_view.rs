//! corral's own view of units (`GET /v1/units`, `/v1/units/{name}`), what
//! the CLI's `list-units`, `list-unit-files`, `status` and `start` read:
//! fleet's facts plus every machine's report and, for a unit that wants a
//! machine and has none, the engine's reason.

use serde::{Deserialize, Serialize};

/// One unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitRow {
    pub name: String,
    /// SHA-1 of the unit file, 40 hex characters.
    pub hash: String,
    /// `inactive`, `loaded`, `launched`.
    pub desired: String,
    /// fleet's derived current state (same values).
    pub current: String,
    pub global: bool,
    /// The machine the engine placed it on (not for global units).
    pub machine: Option<String>,
    pub machine_ip: Option<String>,
    /// Why it has no machine, naming the rule that excluded each one.
    pub why: Option<String>,
    /// `[Unit] Description=`.
    pub description: Option<String>,
    /// What each machine running it reports.
    pub states: Vec<UnitStateRow>,
}

/// A unit on one machine, as its runner reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitStateRow {
    pub machine: String,
    pub machine_ip: String,
    /// The machine's agent API (`ip:port`), where its journal is read.
    pub agent: String,
    pub hash: String,
    pub load: String,
    pub active: String,
    pub sub: String,
    pub since_ms: u64,
    pub main_pid: Option<u32>,
    pub result: Option<String>,
    pub restarts: u32,
}

/// `GET /v1/units`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitList {
    pub units: Vec<UnitRow>,
}

/// `GET /v1/units/{name}/file`: the unit file as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitFileText {
    pub name: String,
    pub text: String,
}

/// `PUT /v1/units/{name}`: submit or replace the unit file (`text`, as
/// written on disk; an instance of a submitted template may omit it) and/or
/// set its desired state (`inactive`, `loaded`, `launched`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnitPut {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub desired: Option<String>,
}

/// `POST /v1/agents/units`: a machine's unit runner reports every unit it
/// has (the full set; a unit missing from it is not on the machine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitsReport {
    pub machine: String,
    pub units: Vec<crate::units::UnitStatus>,
}

/// `POST /v1/units`: many units at once (what `corral start a b c ...`
/// sends). Every entry means what `PUT /v1/units/{name}` with the same
/// body means; entries apply in order, so an instance may follow its
/// template. Nothing is written unless every entry is valid.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnitBatch {
    pub units: Vec<UnitBatchItem>,
}

/// One entry of a [`UnitBatch`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnitBatchItem {
    pub name: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub desired: Option<String>,
}

/// The answer to a [`UnitBatch`]: how many entries changed something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitBatchResult {
    pub written: usize,
}
