//! corral's command line. `main` calls [`run`]; this crate parses, calls into
//! the right module and turns errors into one line and an exit code:
//! 0 success, 1 failure, 2 bad input (usage, config, arguments).
//!
//! Invariants: client commands see the cluster only through HTTP
//! ([`corral_api::Client`]); every listing has `--json`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod apps;
pub mod cluster_file;
pub mod config;
pub mod down;
pub mod kv;
pub mod logs;
pub mod machines;
pub mod output;
pub mod status;
pub mod tasks;
pub mod units;
pub mod up;
pub mod workloads;

/// A failure with the exit code it deserves.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input from the user: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Anything else: exit 1.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl CliError {
    pub fn usage(msg: impl Into<String>) -> Self {
        CliError::Usage(msg.into())
    }
}

impl From<corral_api::ClientError> for CliError {
    fn from(e: corral_api::ClientError) -> Self {
        match e {
            // 404 is "not there", not bad input: exit 1 like any failure.
            corral_api::ClientError::Rejected { status, .. }
                if (400..500).contains(&status) && status != 404 =>
            {
                CliError::Usage(e.to_string())
            }
            other => CliError::Failed(other.into()),
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

#[derive(Debug, Parser)]
#[command(
    name = "corral",
    version,
    about = "A highly-available cluster manager in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by commands that talk to a running cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoint {
    /// Server to talk to (`host:port`, comma-separated for several). Default:
    /// the local cluster started by `corral up`, else 127.0.0.101:5050.
    #[arg(long, env = "CORRAL_ENDPOINT", global = true)]
    pub endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a local cluster (3 machines by default; see corral.toml).
    Up(up::UpArgs),
    /// Stop the local cluster started by `corral up -d`.
    Down(down::DownArgs),
    /// Summarise the local cluster: machines, leader, addresses (or, with
    /// UNIT..., each unit's systemd-style status and last journal lines).
    Status(status::StatusArgs),
    /// Run this machine's daemon (agent; plus store and master on servers).
    Node(Box<corral_node::NodeArgs>),
    /// List the machines in the cluster (fleetctl list-machines).
    #[command(alias = "list-machines")]
    Machines(machines::MachinesArgs),
    /// Read and write the cluster's key-value store (etcdctl's role).
    Kv(kv::KvArgs),
    /// Print a local machine's node log (`-f` follows it).
    Logs(logs::LogsArgs),
    /// List the cluster's tasks (TASK STATE FRAMEWORK MACHINE).
    Tasks(tasks::TasksArgs),
    /// Work with one task: `corral task log TASK_ID [--stderr] [-f]`.
    Task(tasks::TaskArgs),
    /// Long-running apps (Marathon's role): add, list, show, status, scale,
    /// restart, update, remove.
    App(apps::AppArgs),
    /// List the deployments in progress (ID APPS ACTIONS STEP).
    Deployments(apps::DeploymentsArgs),
    /// fleet's units, fleetctl's commands: submit, load, start, stop,
    /// unload, destroy, list-units, list-unit-files, cat, journal.
    #[command(flatten)]
    Units(units::UnitCommand),
    /// Supervise one task in SANDBOX (started by the agent; not for humans).
    #[command(hide = true)]
    Supervise { sandbox: PathBuf },
    /// Supervise one fleet unit in DIR (started by the agent; not for humans).
    #[command(hide = true)]
    UnitSupervise { dir: PathBuf },
    /// For benchmarks: run COUNT simulated agents in this one process, each
    /// registering with the cluster on its own loopback address and offering
    /// ports 31000-32000 as a node does; launched tasks are reported RUNNING
    /// at once and never run (no process).
    SimAgents {
        /// How many simulated agents.
        #[arg(long)]
        count: u32,
        /// Master API addresses of the servers (`IP:PORT,IP:PORT`).
        #[arg(long, value_delimiter = ',', required = true)]
        servers: Vec<String>,
        /// Address of the first agent; the others follow it (127.0.0.0/8 only).
        #[arg(long, default_value_t = corral_agent::sim::DEFAULT_FIRST_IP)]
        first_ip: std::net::Ipv4Addr,
        /// Agent API port, on each agent's own address.
        #[arg(long, default_value_t = 5051)]
        port: u16,
        /// CPUs each agent offers.
        #[arg(long, default_value_t = 64.0)]
        cpus: f64,
        /// Memory each agent offers, in MB.
        #[arg(long, default_value_t = 262_144)]
        mem_mb: u64,
        /// Disk each agent offers, in MB.
        #[arg(long, default_value_t = 1_048_576)]
        disk_mb: u64,
        /// Heartbeat interval in ms (the cluster's `--heartbeat-ms`).
        #[arg(long, default_value_t = 1000)]
        heartbeat_ms: u64,
    },
}

/// Where `up`, `down` and `status` look for corral.toml by default.
pub fn default_config_path() -> PathBuf {
    PathBuf::from("corral.toml")
}

/// Parses the command line, runs it, prints any error as one line.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            });
        }
    };
    let result = match cli.command {
        Command::Node(args) => corral_node::run(*args).map_err(|e| CliError::Failed(e.into())),
        Command::Up(args) => up::run(args),
        Command::Down(args) => down::run(args),
        Command::Status(args) => status::run(args),
        Command::Machines(args) => machines::run(args),
        Command::Kv(args) => kv::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Tasks(args) => tasks::run_tasks(args),
        Command::Task(args) => tasks::run_task(args),
        Command::App(args) => apps::run_app(args),
        Command::Deployments(args) => apps::run_deployments(args),
        Command::Units(cmd) => units::run(cmd),
        Command::Supervise { sandbox } => {
            return ExitCode::from(corral_agent::supervise::run(&sandbox).clamp(0, 255) as u8)
        }
        Command::UnitSupervise { dir } => {
            return ExitCode::from(corral_agent::units::supervisor::run(&dir).clamp(0, 255) as u8)
        }
        Command::SimAgents {
            count,
            servers,
            first_ip,
            port,
            cpus,
            mem_mb,
            disk_mb,
            heartbeat_ms,
        } => corral_agent::sim::run(corral_agent::sim::SimConfig {
            count,
            servers,
            first_ip,
            port,
            resources: corral_core::Resources {
                cpus,
                mem_mb,
                disk_mb,
                ports: vec![corral_agent::sim::PORTS],
            },
            heartbeat_ms,
        })
        .map_err(|e| match e {
            corral_agent::sim::SimError::Usage(m) => CliError::Usage(m),
            other => CliError::Failed(other.into()),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corral: {}", one_line(&e));
            ExitCode::from(match e {
                CliError::Usage(_) => 2,
                CliError::Failed(_) => 1,
            })
        }
    }
}

/// An error and its causes on one line.
fn one_line(e: &CliError) -> String {
    match e {
        CliError::Usage(m) => m.clone(),
        CliError::Failed(e) => format!("{e:#}"),
    }
}

/// A client for the endpoints the user chose (`--endpoint`,
/// `CORRAL_ENDPOINT`, else the local cluster from `corral up`).
pub fn client(e: &Endpoint) -> CliResult<corral_api::Client> {
    if e.endpoint
        .as_deref()
        .is_some_and(|s| s.split(',').all(|p| p.trim().is_empty()))
    {
        return Err(CliError::usage(
            "--endpoint is empty; give HOST:PORT of a server",
        ));
    }
    let endpoints = cluster_file::resolve_endpoints(e.endpoint.as_deref());
    // Ride out an election or a restarting server rather than fail at once.
    Ok(corral_api::Client::new(endpoints).retrying(std::time::Duration::from_secs(3)))
}

/// Runs a future on a small runtime (client commands are one-shot).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
        .block_on(f)
}

/// Percent-encodes `s` for a URL path or query value; `/` and the
/// unreserved characters stay as they are.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
