//! The flags of `corral node`. `corral up` builds these command lines; a user
//! running a machine by hand writes them.

use std::path::PathBuf;

use clap::Args;

/// One machine's daemon: always an agent; a server (store + master) with `--server-id`.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Name shown for this machine (its hostname in listings).
    #[arg(long)]
    pub name: String,
    /// Address this machine binds and advertises, e.g. 127.0.0.101.
    #[arg(long)]
    pub ip: String,
    /// Where this machine keeps its state (store, agent identity, sandboxes).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Master API / web UI port (servers).
    #[arg(long, default_value_t = 5050)]
    pub master_port: u16,
    /// Marathon-compatible app API port (servers).
    #[arg(long, default_value_t = 8080)]
    pub app_port: u16,
    /// Agent API port (every machine).
    #[arg(long, default_value_t = 5051)]
    pub agent_port: u16,
    /// Raft peer port (servers).
    #[arg(long, default_value_t = 2380)]
    pub raft_port: u16,
    /// ZooKeeper-protocol leader detection port (servers): clients given
    /// `zk://IP:PORT,.../mesos` find the leading master there. 0 turns it off.
    #[arg(long, default_value_t = 2181)]
    pub zk_port: u16,
    /// Makes this machine a server with this Raft id (1, 2, 3, ...).
    #[arg(long)]
    pub server_id: Option<u64>,
    /// Bootstrap a new cluster with these servers: `1=IP:RAFT_PORT/IP:MASTER_PORT,2=...`.
    /// Ignored when the data directory already holds a store.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Join a running cluster through this server's master API (`IP:PORT`),
    /// as a new server (with --server-id).
    #[arg(long)]
    pub join: Option<String>,
    /// Master API addresses of the servers (`IP:PORT,IP:PORT`) the agent registers with.
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<String>,
    /// Machine metadata, `key=value,key=value` (fleet metadata = Mesos attributes).
    #[arg(long, default_value = "")]
    pub metadata: String,
    /// CPUs to offer (default: detected).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Memory to offer in MB (default: detected).
    #[arg(long)]
    pub mem_mb: Option<u64>,
    /// Disk to offer in MB (default: detected free space of the data dir).
    #[arg(long)]
    pub disk_mb: Option<u64>,
    /// Port range to offer to tasks.
    #[arg(long, default_value = "31000-32000")]
    pub ports: String,
    /// Agent heartbeat interval in ms.
    #[arg(long, default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// Missed heartbeats before the leader marks an agent unreachable.
    #[arg(long, default_value_t = 5)]
    pub max_missed_heartbeats: u32,
    /// Seconds between HEARTBEAT events on a quiet scheduler stream.
    #[arg(long, default_value_t = 15.0)]
    pub scheduler_heartbeat_secs: f64,
    /// Seconds before an unacknowledged status update is sent to its
    /// framework again (doubling per try, at most 10 minutes).
    #[arg(long, default_value_t = 10.0)]
    pub status_update_retry_secs: f64,
    /// Do not run the unit engine on this server (fleet's `disable_engine`):
    /// when it leads, units are neither placed nor pushed to machines; the
    /// agents keep running what they were last given. For operators who
    /// drive agents' unit sets themselves, and for testing the unit runner.
    #[arg(long)]
    pub disable_unit_engine: bool,
    /// Raft heartbeat interval in ms (also the time limit of one replication RPC).
    #[arg(long, default_value_t = 40)]
    pub raft_heartbeat_ms: u64,
    /// Raft election timeout range in ms, `MIN-MAX`. A follower starts an
    /// election after MAX (the leader's lease) plus its own timeout in the
    /// range without hearing from the leader, so failover takes about
    /// MAX + MIN..MAX.
    #[arg(long, default_value = "90-140")]
    pub election_timeout_ms: String,
}
