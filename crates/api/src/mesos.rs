//! Mesos-compatible JSON shapes (Mesos 1.x): `/master/state`, `/version`.
//! Field names follow Mesos exactly; the master converts into these by hand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The Mesos version corral answers as: clients check for a numeric
/// `major.minor.patch` and for 1.x features.
pub const MESOS_COMPAT_VERSION: &str = "1.11.0";

/// `/version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: String,
    pub build_date: String,
    pub build_time: f64,
    pub build_user: String,
    pub git_sha: String,
    pub git_branch: String,
    pub git_tag: String,
    /// corral's own version (an addition; Mesos has no such field).
    pub corral_version: String,
}

/// Resources as Mesos prints them: scalars, ports as `"[31000-32000]"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Resources {
    pub cpus: f64,
    pub gpus: f64,
    pub mem: f64,
    pub disk: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
}

/// `leader_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    pub id: String,
    pub pid: String,
    pub port: u16,
    pub hostname: String,
}

/// One agent in `/master/state`'s `slaves`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slave {
    pub id: String,
    pub hostname: String,
    pub port: u16,
    pub attributes: BTreeMap<String, String>,
    pub pid: String,
    /// Seconds since the epoch.
    pub registered_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<f64>,
    pub resources: Resources,
    pub used_resources: Resources,
    pub offered_resources: Resources,
    pub reserved_resources: BTreeMap<String, Resources>,
    pub unreserved_resources: Resources,
    pub active: bool,
    pub version: String,
    pub capabilities: Vec<String>,
}

/// `/master/state` (and `/state`, `/state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterState {
    pub version: String,
    pub git_sha: String,
    pub git_branch: String,
    pub build_date: String,
    pub build_time: f64,
    pub build_user: String,
    pub start_time: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elected_time: Option<f64>,
    pub id: String,
    pub pid: String,
    pub hostname: String,
    pub capabilities: Vec<String>,
    pub activated_slaves: u64,
    pub deactivated_slaves: u64,
    pub unreachable_slaves: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_info: Option<MasterInfo>,
    pub flags: BTreeMap<String, String>,
    pub slaves: Vec<Slave>,
    pub recovered_slaves: Vec<Slave>,
    pub frameworks: Vec<serde_json::Value>,
    pub completed_frameworks: Vec<serde_json::Value>,
    pub orphan_tasks: Vec<serde_json::Value>,
    pub unregistered_frameworks: Vec<serde_json::Value>,
}

/// `ip:port` → Mesos's `master@ip:port` pid form.
pub fn master_pid(api_addr: &str) -> String {
    format!("master@{api_addr}")
}

/// Port ranges → Mesos's `"[31000-32000, 33000-33100]"`.
pub fn ports_string(ranges: &[(u16, u16)]) -> String {
    let inner: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    format!("[{}]", inner.join(", "))
}
