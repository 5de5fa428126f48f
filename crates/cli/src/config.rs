//! `corral.toml` — the local cluster's shape (the original's Vagrant
//! `config.rb`) — and the plan `corral up` derives from it.
//!
//! This module owns the file format, its defaults and its validation, and the
//! pure [`plan`] that turns a [`Config`] into one [`MachinePlan`] per machine:
//! name, address, ports, server id, data directory and the exact `corral node`
//! argument list.
//!
//! Invariants:
//! - [`Config::parse`] and [`plan`] are pure: no IO, no clock, no environment.
//!   Only [`Config::load`] touches the file system.
//! - Every field has a default; a missing file is the default config.
//! - Every error is ONE line that names the file and the offending field
//!   (`corral.toml: ports.master: invalid value: ...`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The most machines `corral up` starts.
pub const MAX_MACHINES: u8 = 9;
/// Machine *i*'s ports are the base ports + `FALLBACK_PORT_STEP * (i-1)` in fallback addressing.
pub const FALLBACK_PORT_STEP: u16 = 10;
/// The task port range an agent offers unless configured.
pub const DEFAULT_TASK_PORTS: (u16, u16) = (31000, 32000);
/// In fallback addressing every machine shares 127.0.0.1, so each one gets its own
/// slice of [`DEFAULT_TASK_PORTS`] this wide (unless its `ports` are configured).
pub const FALLBACK_TASK_PORTS_PER_MACHINE: u16 = 100;
/// The address every machine gets in fallback addressing.
pub const FALLBACK_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The name a config has in messages when it has no path.
const DEFAULT_NAME: &str = "corral.toml";

/// A validated `corral.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Number of machines, `1..=9`.
    pub machines: u8,
    /// How many of them (the first ones) are servers, `1..=machines`.
    pub servers: u8,
    /// Where `up` keeps each machine's data (`m1/`, ...) and `cluster.json`.
    /// [`Config::parse`] keeps it as written; [`Config::load`] makes it absolute
    /// (relative paths are relative to the config file's directory).
    pub data_dir: PathBuf,
    /// Machine *i* gets `base_ip + (i-1)`.
    pub base_ip: Ipv4Addr,
    pub ports: Ports,
    /// Per-machine overrides, by machine number (1-based).
    pub machine: BTreeMap<u8, MachineOverrides>,
    pub agents: AgentsConfig,
}

/// The ports of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    /// Master API / web UI (servers).
    pub master: u16,
    /// App scheduler API (servers).
    pub apps: u16,
    /// Agent API (every machine).
    pub agent: u16,
    /// Raft peer traffic (servers).
    pub raft: u16,
    /// ZooKeeper-protocol leader detection (servers): `zk://.../mesos`.
    pub zk: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            master: 5050,
            apps: 8080,
            agent: 5051,
            raft: 2380,
            zk: 2181,
        }
    }
}

impl Ports {
    /// `(field name, port)` in a fixed order.
    pub fn named(&self) -> [(&'static str, u16); 5] {
        [
            ("master", self.master),
            ("apps", self.apps),
            ("agent", self.agent),
            ("raft", self.raft),
            ("zk", self.zk),
        ]
    }

    fn offset(&self, by: u16) -> Ports {
        Ports {
            master: self.master + by,
            apps: self.apps + by,
            agent: self.agent + by,
            raft: self.raft + by,
            zk: self.zk + by,
        }
    }
}

/// `[machine.N]`: what one machine does differently.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MachineOverrides {
    /// Extra metadata (added to, and overriding, the default `role=...`).
    pub metadata: BTreeMap<String, String>,
    pub cpus: Option<f64>,
    pub mem_mb: Option<u64>,
    pub disk_mb: Option<u64>,
    /// Task port ranges to offer, as written (`31000-32000[,A-B]`), validated.
    pub ports: Option<String>,
}

/// `[agents]`: heartbeat settings passed to every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentsConfig {
    pub heartbeat_ms: u64,
    pub max_missed_heartbeats: u32,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            heartbeat_ms: 1000,
            max_missed_heartbeats: 5,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            machines: 3,
            servers: 3,
            data_dir: PathBuf::from(".corral"),
            base_ip: Ipv4Addr::new(127, 0, 0, 101),
            ports: Ports::default(),
            machine: BTreeMap::new(),
            agents: AgentsConfig::default(),
        }
    }
}

/// Why a config was refused. Displays as one line starting with the file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (a missing file is not an error).
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },
    /// Not TOML at all.
    #[error("{file}: line {line}, column {column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid TOML, but a key is unknown or a value has the wrong type or range
    /// for its field.
    #[error("{file}: {field}: {message} (line {line}, column {column})")]
    Field {
        file: String,
        field: String,
        message: String,
        line: usize,
        column: usize,
    },
    /// Each value is fine alone but the whole is not (`servers > machines`), or
    /// a value is outside what corral accepts. `message` starts with the field.
    #[error("{file}: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
}

impl ConfigError {
    /// The dotted name of the field to blame (`ports.master`), if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Field { field, .. } | ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }

    fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: DEFAULT_NAME.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn with_file(mut self, name: &str) -> ConfigError {
        match &mut self {
            ConfigError::Read { file, .. }
            | ConfigError::Syntax { file, .. }
            | ConfigError::Field { file, .. }
            | ConfigError::Invalid { file, .. } => *file = name.to_string(),
        }
        self
    }
}

impl Config {
    /// Parses and validates the text of a `corral.toml`. Pure.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_named(text, DEFAULT_NAME)
    }

    /// Like [`Config::parse`], naming the file `name` in errors.
    pub fn parse_named(text: &str, name: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => return Err(toml_error(text, &e).with_file(name)),
        };
        raw.validate().map_err(|e| e.with_file(name))
    }

    /// Reads `path` (missing = all defaults), parses it and makes `data_dir`
    /// absolute, relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let mut config = match std::fs::read_to_string(path) {
            Ok(text) => Config::parse_named(&text, &name)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => {
                return Err(ConfigError::Read {
                    file: name,
                    reason: e.to_string(),
                })
            }
        };
        if config.data_dir.is_relative() {
            let base = path.parent().unwrap_or(Path::new(""));
            config.data_dir = std::path::absolute(base.join(&config.data_dir)).map_err(|e| {
                ConfigError::Read {
                    file: name.clone(),
                    reason: e.to_string(),
                }
            })?;
        }
        Ok(config)
    }

    /// Lines worth saying but not worth refusing the config for.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.servers & 1 == 0 {
            out.push(format!(
                "warning: servers = {} is even: {} servers tolerate no more failures than {} \
                 (use 1, 3 or 5)",
                self.servers,
                self.servers,
                self.servers - 1
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The file as written (serde), then validation into `Config`.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_machines")]
    machines: i64,
    #[serde(default = "default_servers")]
    servers: i64,
    #[serde(default = "default_data_dir")]
    data_dir: String,
    #[serde(default = "default_base_ip")]
    base_ip: String,
    #[serde(default)]
    ports: RawPorts,
    #[serde(default)]
    machine: BTreeMap<String, RawMachine>,
    #[serde(default)]
    agents: RawAgents,
}

fn default_machines() -> i64 {
    3
}
fn default_servers() -> i64 {
    3
}
fn default_data_dir() -> String {
    ".corral".to_string()
}
fn default_base_ip() -> String {
    "127.0.0.101".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPorts {
    master: u16,
    apps: u16,
    agent: u16,
    raft: u16,
    zk: u16,
}

impl Default for RawPorts {
    fn default() -> Self {
        let p = Ports::default();
        RawPorts {
            master: p.master,
            apps: p.apps,
            agent: p.agent,
            raft: p.raft,
            zk: p.zk,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    cpus: Option<f64>,
    #[serde(default)]
    mem_mb: Option<u64>,
    #[serde(default)]
    disk_mb: Option<u64>,
    #[serde(default)]
    ports: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAgents {
    heartbeat_ms: u64,
    max_missed_heartbeats: u32,
}

impl Default for RawAgents {
    fn default() -> Self {
        let a = AgentsConfig::default();
        RawAgents {
            heartbeat_ms: a.heartbeat_ms,
            max_missed_heartbeats: a.max_missed_heartbeats,
        }
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let machines = match u8::try_from(self.machines) {
            Ok(m) if (1..=MAX_MACHINES).contains(&m) => m,
            _ => {
                return Err(ConfigError::invalid(
                    "machines",
                    format!(
                        "machines = {} is out of range (1 to {MAX_MACHINES})",
                        self.machines
                    ),
                ))
            }
        };
        if self.servers < 1 {
            return Err(ConfigError::invalid(
                "servers",
                format!("servers = {} is out of range (at least 1)", self.servers),
            ));
        }
        if self.servers > i64::from(machines) {
            return Err(ConfigError::invalid(
                "servers",
                format!(
                    "servers = {} is more than machines = {machines}",
                    self.servers
                ),
            ));
        }
        let servers = self.servers as u8;

        if self.data_dir.trim().is_empty() {
            return Err(ConfigError::invalid("data_dir", "data_dir = \"\" is empty"));
        }

        let base_ip: Ipv4Addr = self.base_ip.parse().map_err(|_| {
            ConfigError::invalid(
                "base_ip",
                format!(
                    "base_ip = {:?} is not an IPv4 address like \"127.0.0.101\"",
                    self.base_ip
                ),
            )
        })?;
        if base_ip.is_unspecified() || base_ip.is_broadcast() || base_ip.is_multicast() {
            return Err(ConfigError::invalid(
                "base_ip",
                format!("base_ip = \"{base_ip}\" is not a host address"),
            ));
        }
        if u32::from(base_ip)
            .checked_add(u32::from(machines) - 1)
            .is_none_or(|last| {
                let last = Ipv4Addr::from(last);
                last.is_broadcast() || last.octets()[0] != base_ip.octets()[0]
            })
        {
            return Err(ConfigError::invalid(
                "base_ip",
                format!("base_ip = \"{base_ip}\" leaves no room for {machines} machines"),
            ));
        }

        let ports = Ports {
            master: self.ports.master,
            apps: self.ports.apps,
            agent: self.ports.agent,
            raft: self.ports.raft,
            zk: self.ports.zk,
        };
        validate_ports(&ports, machines)?;

        let mut overrides = BTreeMap::new();
        for (key, raw) in self.machine {
            let n = match key.parse::<u8>() {
                Ok(n) if (1..=machines).contains(&n) => n,
                _ => {
                    return Err(ConfigError::invalid(
                        format!("machine.{key}"),
                        format!(
                            "machine.{key}: no such machine (machines are numbered 1 to {machines})"
                        ),
                    ))
                }
            };
            overrides.insert(n, raw.validate(n)?);
        }

        if !(10..=3_600_000).contains(&self.agents.heartbeat_ms) {
            return Err(ConfigError::invalid(
                "agents.heartbeat_ms",
                format!(
                    "agents.heartbeat_ms = {} is out of range (10 to 3600000)",
                    self.agents.heartbeat_ms
                ),
            ));
        }
        if self.agents.max_missed_heartbeats < 1 {
            return Err(ConfigError::invalid(
                "agents.max_missed_heartbeats",
                "agents.max_missed_heartbeats = 0 is out of range (at least 1)",
            ));
        }

        Ok(Config {
            machines,
            servers,
            data_dir: PathBuf::from(self.data_dir),
            base_ip,
            ports,
            machine: overrides,
            agents: AgentsConfig {
                heartbeat_ms: self.agents.heartbeat_ms,
                max_missed_heartbeats: self.agents.max_missed_heartbeats,
            },
        })
    }
}

fn validate_ports(ports: &Ports, machines: u8) -> Result<(), ConfigError> {
    let named = ports.named();
    let headroom = FALLBACK_PORT_STEP * (u16::from(machines) - 1);
    for (i, (name, port)) in named.iter().enumerate() {
        if *port == 0 {
            return Err(ConfigError::invalid(
                format!("ports.{name}"),
                format!("ports.{name} = 0 is not a port"),
            ));
        }
        if port.checked_add(headroom).is_none() {
            return Err(ConfigError::invalid(
                format!("ports.{name}"),
                format!(
                    "ports.{name} = {port} is too high: fallback addressing needs up to \
                     {port} + {headroom} for {machines} machines"
                ),
            ));
        }
        if let Some((other, _)) = named[..i].iter().find(|(_, p)| p == port) {
            return Err(ConfigError::invalid(
                format!("ports.{name}"),
                format!("ports.{name} = {port} is the same as ports.{other}"),
            ));
        }
    }
    Ok(())
}

impl RawMachine {
    fn validate(self, n: u8) -> Result<MachineOverrides, ConfigError> {
        if let Some(cpus) = self.cpus {
            if !(cpus.is_finite() && cpus > 0.0) {
                return Err(ConfigError::invalid(
                    format!("machine.{n}.cpus"),
                    format!("machine.{n}.cpus = {cpus} must be more than 0"),
                ));
            }
        }
        for (name, v) in [("mem_mb", self.mem_mb), ("disk_mb", self.disk_mb)] {
            if v == Some(0) {
                return Err(ConfigError::invalid(
                    format!("machine.{n}.{name}"),
                    format!("machine.{n}.{name} = 0 must be more than 0"),
                ));
            }
        }
        if let Some(ports) = &self.ports {
            if let Err(why) = parse_port_ranges(ports) {
                return Err(ConfigError::invalid(
                    format!("machine.{n}.ports"),
                    format!("machine.{n}.ports = {ports:?}: {why}"),
                ));
            }
        }
        Ok(MachineOverrides {
            metadata: self.metadata.map(|m| m.0).unwrap_or_default(),
            cpus: self.cpus,
            mem_mb: self.mem_mb,
            disk_mb: self.disk_mb,
            ports: self.ports,
        })
    }
}

/// Parses `A-B[,C-D...]` (a single port `A` means `A-A`). Pure.
pub fn parse_port_ranges(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            (Ok(a), Ok(b)) if a > 0 && a <= b => (a, b),
            _ => return Err(format!("{part:?} is not a port range like \"31000-32000\"")),
        };
        out.push((a, b));
    }
    Ok(out)
}

/// Machine metadata: fleet's `"k=v,k=v"` string or a TOML table.
#[derive(Debug, Clone, PartialEq, Default)]
struct Metadata(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a \"key=value,key=value\" string or a table")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Metadata, E> {
                parse_metadata(s).map(Metadata).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, MetaValue>()? {
                    check_metadata_pair(&k, &v.0).map_err(de::Error::custom)?;
                    out.insert(k, v.0);
                }
                Ok(Metadata(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A metadata value in a table: a string, boolean or number, kept as text.
struct MetaValue(String);

impl<'de> Deserialize<'de> for MetaValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MetaValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, boolean or number")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MetaValue, E> {
                Ok(MetaValue(s.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<MetaValue, E> {
                Ok(MetaValue(b.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<MetaValue, E> {
                Ok(MetaValue(n.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<MetaValue, E> {
                Ok(MetaValue(n.to_string()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<MetaValue, E> {
                Ok(MetaValue(n.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses fleet-style metadata `"k=v,k=v"` (empty = none). Pure.
pub fn parse_metadata(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("{part:?} is not key=value"));
        };
        let (k, v) = (k.trim(), v.trim());
        check_metadata_pair(k, v)?;
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn check_metadata_pair(k: &str, v: &str) -> Result<(), String> {
    let key_ok = !k.is_empty()
        && !k.starts_with('-')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    if !key_ok {
        return Err(format!(
            "metadata key {k:?} must be letters, digits, '_', '.', '-' or '/'"
        ));
    }
    if v.contains([',', '=']) || v.chars().any(char::is_control) {
        return Err(format!(
            "metadata value {v:?} (key {k}) must not contain ',' or '='"
        ));
    }
    Ok(())
}

/// Turns a toml error into a one-line [`ConfigError`] naming the field its
/// span points into.
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    // TOML says "key" where serde says "field".
    let message = e
        .message()
        .replace('\n', " ")
        .replace("unknown field", "unknown key");
    let message = message.trim().to_string();
    let span = e.span().unwrap_or(0..0);
    let (line, column) = line_col(text, span.start);
    let field = toml::de::DeTable::parse(text)
        .ok()
        .and_then(|doc| locate(doc.get_ref(), &span));
    match field {
        Some(field) => ConfigError::Field {
            file: DEFAULT_NAME.to_string(),
            field,
            message,
            line,
            column,
        },
        None => ConfigError::Syntax {
            file: DEFAULT_NAME.to_string(),
            line,
            column,
            message,
        },
    }
}

/// 1-based line and column of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted key path (`machine.1.metadata`) whose key or value covers `span`,
/// the deepest one winning.
fn locate(table: &toml::de::DeTable<'_>, span: &Range<usize>) -> Option<String> {
    let covers = |r: Range<usize>| r.start <= span.start && span.end <= r.end && r.start < r.end;
    for (k, v) in table.iter() {
        let here = k.get_ref().to_string();
        let deeper = match v.get_ref() {
            toml::de::DeValue::Table(t) => locate(t, span),
            toml::de::DeValue::Array(items) => {
                items
                    .iter()
                    .enumerate()
                    .find_map(|(i, item)| match item.get_ref() {
                        toml::de::DeValue::Table(t) => locate(t, span)
                            .map(|p| format!("{i}.{p}"))
                            .or_else(|| covers(item.span()).then(|| i.to_string())),
                        _ => covers(item.span()).then(|| i.to_string()),
                    })
            }
            _ => None,
        };
        if let Some(rest) = deeper {
            return Some(format!("{here}.{rest}"));
        }
        if covers(k.span()) || covers(v.span()) {
            return Some(here);
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The plan.

/// What `corral up` starts for one machine. Built by [`plan`].
#[derive(Debug, Clone, PartialEq)]
pub struct MachinePlan {
    /// `m1`, `m2`, ...
    pub name: String,
    pub ip: Ipv4Addr,
    pub ports: Ports,
    /// Raft id for the first `servers` machines (1-based), else `None`.
    pub server_id: Option<u64>,
    /// `<data_dir>/<name>`.
    pub data_dir: PathBuf,
    /// The metadata the machine advertises (`role=...` plus the file's).
    pub metadata: BTreeMap<String, String>,
    /// The `corral node ...` arguments, starting with `node`.
    pub args: Vec<String>,
}

impl MachinePlan {
    pub fn is_server(&self) -> bool {
        self.server_id.is_some()
    }

    /// `ip:master_port`: where this machine's master API listens (servers).
    pub fn master_addr(&self) -> String {
        format!("{}:{}", self.ip, self.ports.master)
    }

    /// `<data_dir>/node.log`: where `up` sends the node's stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("node.log")
    }

    /// The arguments as one line (for messages and tests; not shell-quoted).
    pub fn command_line(&self) -> String {
        self.args.join(" ")
    }

    /// Every `(ip, port)` this machine will listen on, with what it is.
    pub fn listens(&self) -> Vec<(&'static str, Ipv4Addr, u16)> {
        let all = self.ports.named();
        all.into_iter()
            .filter(|(name, _)| self.is_server() || *name == "agent")
            .map(|(name, port)| (name, self.ip, port))
            .collect()
    }
}

/// The machines `corral up` starts for `config`. Pure.
///
/// Normal addressing: machine *i* gets `base_ip + (i-1)` and the configured
/// ports. Fallback (`fallback = true`): every machine gets 127.0.0.1 and its
/// ports are offset by `10 * (i-1)`; machines without a configured task port
/// range get disjoint 100-port slices of 31000-32000 so their tasks cannot
/// collide on the shared address.
pub fn plan(config: &Config, fallback: bool) -> Vec<MachinePlan> {
    let addr = |i: u8| -> (Ipv4Addr, Ports) {
        if fallback {
            (
                FALLBACK_IP,
                config.ports.offset(FALLBACK_PORT_STEP * u16::from(i - 1)),
            )
        } else {
            (
                Ipv4Addr::from(u32::from(config.base_ip) + u32::from(i - 1)),
                config.ports,
            )
        }
    };
    let servers: Vec<(u8, Ipv4Addr, Ports)> = (1..=config.servers)
        .map(|i| {
            let (ip, ports) = addr(i);
            (i, ip, ports)
        })
        .collect();
    let bootstrap = servers
        .iter()
        .map(|(i, ip, p)| format!("{i}={ip}:{}/{ip}:{}", p.raft, p.master))
        .collect::<Vec<_>>()
        .join(",");
    let server_apis = servers
        .iter()
        .map(|(_, ip, p)| format!("{ip}:{}", p.master))
        .collect::<Vec<_>>()
        .join(",");

    (1..=config.machines)
        .map(|i| {
            let name = format!("m{i}");
            let (ip, ports) = addr(i);
            let server_id = (i <= config.servers).then_some(u64::from(i));
            let data_dir = config.data_dir.join(&name);
            let over = config.machine.get(&i).cloned().unwrap_or_default();
            let mut metadata = BTreeMap::new();
            let role = if server_id.is_some() {
                "server"
            } else {
                "worker"
            };
            metadata.insert("role".to_string(), role.to_string());
            metadata.extend(over.metadata.clone());

            let mut args: Vec<String> = vec!["node".into()];
            let mut push = |flag: &str, value: String| {
                args.push(format!("--{flag}"));
                args.push(value);
            };
            push("name", name.clone());
            push("ip", ip.to_string());
            push("data-dir", data_dir.display().to_string());
            push("master-port", ports.master.to_string());
            push("app-port", ports.apps.to_string());
            push("agent-port", ports.agent.to_string());
            push("raft-port", ports.raft.to_string());
            push("zk-port", ports.zk.to_string());
            if let Some(id) = server_id {
                push("server-id", id.to_string());
                push("bootstrap", bootstrap.clone());
            }
            push("servers", server_apis.clone());
            push(
                "metadata",
                metadata
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            push("heartbeat-ms", config.agents.heartbeat_ms.to_string());
            push(
                "max-missed-heartbeats",
                config.agents.max_missed_heartbeats.to_string(),
            );
            if let Some(cpus) = over.cpus {
                push("cpus", cpus.to_string());
            }
            if let Some(mem) = over.mem_mb {
                push("mem-mb", mem.to_string());
            }
            if let Some(disk) = over.disk_mb {
                push("disk-mb", disk.to_string());
            }
            match (&over.ports, fallback) {
                (Some(p), _) => push("ports", p.clone()),
                (None, true) => {
                    let lo =
                        DEFAULT_TASK_PORTS.0 + FALLBACK_TASK_PORTS_PER_MACHINE * u16::from(i - 1);
                    push(
                        "ports",
                        format!("{lo}-{}", lo + FALLBACK_TASK_PORTS_PER_MACHINE - 1),
                    );
                }
                (None, false) => {}
            }
            MachinePlan {
                name,
                ip,
                ports,
                server_id,
                data_dir,
                metadata,
                args,
            }
        })
        .collect()
}

/// Checks that no two machines of a plan listen on the same address and port
/// (possible in fallback addressing when base ports differ by a multiple of 10).
/// Returns a one-line explanation naming both.
pub fn check_plan(plan: &[MachinePlan]) -> Result<(), String> {
    let mut seen: BTreeMap<(Ipv4Addr, u16), (String, &'static str)> = BTreeMap::new();
    for m in plan {
        for (what, ip, port) in m.listens() {
            if let Some((other, other_what)) = seen.get(&(ip, port)) {
                return Err(format!(
                    "{ip}:{port} would be both {other}'s {other_what} port and {}'s {what} port; \
                     choose [ports] whose differences are not multiples of {FALLBACK_PORT_STEP}",
                    m.name
                ));
            }
            seen.insert((ip, port), (m.name.clone(), what));
        }
    }
    Ok(())
}
