//! `corral status [--config PATH] [--json]`: one look at the local cluster —
//! each machine's address, process, role and agent status, the leader, the
//! term and the addresses — from `cluster.json` plus the servers' own view
//! (`GET /v1/cluster`). With `UNIT...` it shows those units instead
//! (`crate::units`).
//!
//! Invariants: read-only; [`report`] and [`render`] are pure, the shell in
//! [`run`] only gathers their inputs. Exit 1 when no cluster is running or no
//! server answers.

use std::path::PathBuf;
use std::time::Duration;

use corral_api::native::{ClusterView, MachineView};
use corral_api::Client;
use serde::Serialize;

use crate::cluster_file::ClusterFile;
use crate::config::Config;
use crate::{default_config_path, CliError, CliResult};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The cluster's config file (it says where the data directory is).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Units to show instead: a systemd-style status of each and its last
    /// journal lines (fleetctl status UNIT...).
    #[arg(value_name = "UNIT")]
    pub units: Vec<String>,
    // The cluster, for UNIT... (see `corral start --help`).
    #[command(flatten)]
    pub endpoint: crate::Endpoint,
}

/// The local cluster at a glance (also the `--json` shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub data_dir: PathBuf,
    pub started_at_ms: u64,
    pub fallback: bool,
    /// Name of the machine whose server leads, if known.
    pub leader: Option<String>,
    /// Master API address of the leader, if known.
    pub leader_addr: Option<String>,
    pub term: Option<u64>,
    /// Why the servers' view is missing, if it is.
    pub api_error: Option<String>,
    pub machines: Vec<MachineStatus>,
}

/// One machine in [`StatusReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineStatus {
    pub name: String,
    pub ip: String,
    pub pid: u32,
    /// The recorded process is still this machine's `corral node`.
    pub running: bool,
    /// `server` or `worker`.
    pub role: &'static str,
    pub server_id: Option<u64>,
    pub leader: bool,
    /// The agent's status as the cluster knows it (`active`, `unreachable`),
    /// `None` when it is not registered or the servers did not answer.
    pub status: Option<String>,
    /// The machine id, once registered.
    pub id: Option<String>,
    /// `http://ip:port` of the master API and app API (servers).
    pub master: Option<String>,
    pub apps: Option<String>,
    /// `ip:port` of the agent API.
    pub agent: String,
    pub log: PathBuf,
}

/// `corral status`.
pub fn run(args: StatusArgs) -> CliResult {
    if !args.units.is_empty() {
        return crate::units::run_status(&args.units, args.json, &args.endpoint);
    }
    let config_path = args.config.clone().unwrap_or_else(default_config_path);
    let config = Config::load(&config_path).map_err(|e| CliError::usage(e.to_string()))?;
    let data_dir = config.data_dir;
    let no_cluster = || {
        CliError::Failed(anyhow::anyhow!(
            "no cluster is running from {} (start one with `corral up`)",
            data_dir.display()
        ))
    };
    let file = ClusterFile::read(&data_dir)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("{e}")))?
        .ok_or_else(no_cluster)?;
    let running: Vec<bool> = file.machines.iter().map(|m| m.is_running()).collect();
    if !running.contains(&true) {
        return Err(no_cluster());
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    let client = Client::with_timeout(file.server_endpoints(), Duration::from_secs(2));
    let view = rt.block_on(client.cluster()).map_err(|e| e.to_string());

    let report = report(&file, &running, view.as_ref().map_err(String::as_str));
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot encode the status: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    match view {
        Ok(_) => Ok(()),
        Err(e) => Err(CliError::Failed(anyhow::anyhow!(
            "the servers did not answer: {e}"
        ))),
    }
}

/// The machine of `view` that is `name` at `ip` with its agent on
/// `agent_port` (matched by address, then by name). Pure.
pub fn machine_view<'a>(
    view: &'a ClusterView,
    name: &str,
    ip: &str,
    agent_port: u16,
) -> Option<&'a MachineView> {
    view.machines
        .iter()
        .find(|v| v.ip == ip && v.agent_port == agent_port)
        .or_else(|| view.machines.iter().find(|v| v.hostname == name))
}

/// Joins what `up` recorded, which processes run, and the servers' view. Pure.
pub fn report(
    file: &ClusterFile,
    running: &[bool],
    view: Result<&ClusterView, &str>,
) -> StatusReport {
    let view_ok = view.ok();
    let leader_id = view_ok.and_then(|v| v.leader.as_ref()).map(|l| l.id);
    let machines: Vec<MachineStatus> = file
        .machines
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let seen = view_ok.and_then(|v| machine_view(v, &m.name, &m.ip, m.ports.agent));
            let server = m.server_id.is_some();
            MachineStatus {
                name: m.name.clone(),
                ip: m.ip.clone(),
                pid: m.pid,
                running: running.get(i).copied().unwrap_or(false),
                role: if server { "server" } else { "worker" },
                server_id: m.server_id,
                leader: server && m.server_id == leader_id,
                status: seen.map(|v| v.status.clone()),
                id: seen.map(|v| v.id.clone()),
                master: server.then(|| format!("http://{}:{}", m.ip, m.ports.master)),
                apps: server.then(|| format!("http://{}:{}", m.ip, m.ports.apps)),
                agent: format!("{}:{}", m.ip, m.ports.agent),
                log: m.log.clone(),
            }
        })
        .collect();
    let leader = machines.iter().find(|m| m.leader);
    StatusReport {
        data_dir: file.data_dir.clone(),
        started_at_ms: file.started_at_ms,
        fallback: file.fallback,
        leader: leader.map(|m| m.name.clone()),
        leader_addr: view_ok
            .and_then(|v| v.leader.as_ref())
            .map(|l| l.api_addr.clone()),
        term: view_ok.map(|v| v.term),
        api_error: view.err().map(str::to_string),
        machines,
    }
}

/// The table `corral status` prints. Pure.
pub fn render(r: &StatusReport) -> String {
    let header = [
        "MACHINE", "IP", "PID", "PROCESS", "ROLE", "AGENT", "MASTER", "APPS",
    ];
    let rows: Vec<[String; 8]> = r
        .machines
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                m.ip.clone(),
                m.pid.to_string(),
                if m.running { "running" } else { "exited" }.to_string(),
                if m.leader {
                    format!("{} (leader)", m.role)
                } else {
                    m.role.to_string()
                },
                m.status.clone().unwrap_or_else(|| "-".to_string()),
                m.master.clone().unwrap_or_else(|| "-".to_string()),
                m.apps.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:w$}  "));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    out.push('\n');
    match (&r.leader, &r.leader_addr, r.term, &r.api_error) {
        (_, _, _, Some(e)) => out.push_str(&format!("servers: no answer ({e})\n")),
        (Some(name), Some(addr), Some(term), None) => {
            out.push_str(&format!("leader: {name} ({addr}), term {term}\n"))
        }
        (_, _, term, None) => out.push_str(&format!(
            "leader: none known yet (term {})\n",
            term.map_or("?".to_string(), |t| t.to_string())
        )),
    }
    let addressing = if r.fallback {
        "127.0.0.1 with port offsets"
    } else {
        "one address per machine"
    };
    out.push_str(&format!(
        "data: {}  logs: {}  addressing: {addressing}\n",
        r.data_dir.display(),
        r.data_dir.join("mN").join("node.log").display()
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use corral_api::native::{MachineView, ResourcesView, ServerView};

    use super::*;
    use crate::cluster_file::ClusterMachine;
    use crate::config::{plan, Config};

    fn file() -> ClusterFile {
        let config = Config::parse("machines = 3\nservers = 2\ndata_dir = \"/d\"").unwrap();
        ClusterFile {
            data_dir: PathBuf::from("/d"),
            started_at_ms: 1,
            fallback: false,
            up_pid: None,
            machines: plan(&config, false)
                .iter()
                .zip([101, 102, 103])
                .map(|(m, pid)| ClusterMachine::new(m, pid))
                .collect(),
        }
    }

    fn seen(name: &str, ip: &str, status: &str) -> MachineView {
        MachineView {
            id: format!("{name:0>32}"),
            hostname: name.to_string(),
            ip: ip.to_string(),
            agent_port: 5051,
            metadata: BTreeMap::new(),
            server_id: None,
            leader: false,
            status: status.to_string(),
            resources: ResourcesView {
                cpus: 1.0,
                mem_mb: 1,
                disk_mb: 1,
                ports: String::new(),
            },
            registered_at_ms: 1,
            reregistered_at_ms: 1,
            unreachable_since_ms: None,
            unreachable_reason: None,
            version: "0.1.0".to_string(),
        }
    }

    #[test]
    fn report_and_table() {
        let view = ClusterView {
            answered_by: 1,
            leader: Some(ServerView {
                id: 2,
                api_addr: "127.0.0.102:5050".into(),
                raft_addr: "127.0.0.102:2380".into(),
                voter: true,
                leader: true,
            }),
            term: 7,
            revision: 3,
            servers: Vec::new(),
            machines: vec![
                seen("m1", "127.0.0.101", "active"),
                seen("m2", "127.0.0.102", "active"),
                seen("m3", "127.0.0.103", "unreachable"),
            ],
        };
        let r = report(&file(), &[true, true, false], Ok(&view));
        assert_eq!(r.leader.as_deref(), Some("m2"));
        assert_eq!(r.term, Some(7));
        let expected = "\
MACHINE  IP           PID  PROCESS  ROLE             AGENT        MASTER                   APPS
m1       127.0.0.101  101  running  server           active       http://127.0.0.101:5050  http://127.0.0.101:8080
m2       127.0.0.102  102  running  server (leader)  active       http://127.0.0.102:5050  http://127.0.0.102:8080
m3       127.0.0.103  103  exited   worker           unreachable  -                        -

leader: m2 (127.0.0.102:5050), term 7
data: /d  logs: /d/mN/node.log  addressing: one address per machine
";
        assert_eq!(render(&r), expected);
    }

    #[test]
    fn report_without_the_servers() {
        let r = report(&file(), &[true, false, false], Err("connection refused"));
        assert_eq!(r.leader, None);
        assert!(r.machines.iter().all(|m| m.status.is_none()));
        assert!(render(&r).contains("servers: no answer (connection refused)\n"));
    }
}
