//! `corral node`: the daemon on every machine. It composes the parts and
//! owns nothing else: the agent always; on servers also the store (Raft peer
//! port), the master API (:5050) with its leader loop, the app scheduler
//! with its Marathon-compatible API (:8080), and leader detection (:2181).
//!
//! Invariants: all wiring and listening happens here; decisions live in the
//! crates it starts. It exits cleanly on SIGTERM/SIGINT (Raft flushed).

pub mod args;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use corral_agent::resources;
use corral_api::native::JoinRequest;
use corral_core::Resources;
use corral_master::{MasterConfig, MasterCtx};
use corral_store::{ServerNode, Store, StoreConfig};

pub use args::NodeArgs;

/// Why the node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("bad flag --{flag}: {message}")]
    BadFlag { flag: &'static str, message: String },
    #[error("cannot listen on {addr} ({what}): {source}; is another corral node using it?")]
    Bind {
        addr: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] corral_store::StoreError),
    #[error("agent: {0}")]
    Agent(#[from] corral_agent::AgentError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

fn bad(flag: &'static str, message: impl Into<String>) -> NodeError {
    NodeError::BadFlag {
        flag,
        message: message.into(),
    }
}

/// Runs the node until SIGTERM or SIGINT.
pub fn run(args: NodeArgs) -> Result<(), NodeError> {
    init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(NodeError::Runtime)?;
    rt.block_on(serve(args))
}

fn init_tracing() {
    let filter = tracing_subscriber_filter();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn tracing_subscriber_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("CORRAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"))
}

/// Parses `1=IP:RAFT/IP:API,2=...`.
pub fn parse_bootstrap(s: &str) -> Result<BTreeMap<u64, ServerNode>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addrs) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} must be ID=RAFT_ADDR/API_ADDR"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("server id {id:?} is not a number"))?;
        let (raft, api) = addrs
            .split_once('/')
            .ok_or_else(|| format!("{part:?} must be ID=RAFT_ADDR/API_ADDR"))?;
        for a in [raft, api] {
            if a.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(format!("{a:?} in {part:?} must be HOST:PORT"));
            }
        }
        out.insert(
            id,
            ServerNode {
                raft_addr: raft.to_string(),
                api_addr: api.to_string(),
            },
        );
    }
    if out.is_empty() {
        return Err("no servers given".into());
    }
    Ok(out)
}

fn parse_election(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} must be MIN-MAX in ms"))?;
    let (a, b): (u64, u64) = (
        a.trim()
            .parse()
            .map_err(|_| format!("{a:?} is not a number"))?,
        b.trim()
            .parse()
            .map_err(|_| format!("{b:?} is not a number"))?,
    );
    if a == 0 || a >= b {
        return Err(format!("{s:?}: MIN must be > 0 and < MAX"));
    }
    Ok((a, b))
}

fn bind(addr: String, what: &'static str) -> Result<tokio::net::TcpListener, NodeError> {
    corral_api::listener::listen(&addr).map_err(|source| NodeError::Bind { addr, what, source })
}

/// Serves `app` on `listener` with TCP_NODELAY on every connection (small
/// request/response exchanges must not wait for Nagle's algorithm).
fn serve_in_background(listener: tokio::net::TcpListener, app: axum::Router, what: &'static str) {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "{what} listener stopped");
        }
    });
}

async fn serve(args: NodeArgs) -> Result<(), NodeError> {
    let metadata = resources::parse_metadata(&args.metadata).map_err(|m| bad("metadata", m))?;
    let ports = resources::parse_ports(&args.ports).map_err(|m| bad("ports", m))?;
    let (election_min, election_max) =
        parse_election(&args.election_timeout_ms).map_err(|m| bad("election-timeout-ms", m))?;
    if args.heartbeat_ms == 0 {
        return Err(bad("heartbeat-ms", "must be at least 1"));
    }
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| bad("data-dir", format!("{}: {e}", args.data_dir.display())))?;
    let api_addr = format!("{}:{}", args.ip, args.master_port);
    let mut servers = args.servers.clone();
    servers.retain(|s| !s.trim().is_empty());

    let mut store = None;
    if let Some(id) = args.server_id {
        if id == 0 {
            return Err(bad("server-id", "must be 1 or more"));
        }
        let s = start_server(&args, id, election_min, election_max).await?;
        if servers.is_empty() {
            servers.push(api_addr.clone());
        }
        store = Some(s);
    } else if servers.is_empty() {
        return Err(bad(
            "servers",
            "an agent-only machine needs --servers IP:PORT,... to find the cluster",
        ));
    }

    let agent_cfg = corral_agent::AgentConfig {
        name: args.name.clone(),
        ip: args.ip.clone(),
        data_dir: args.data_dir.clone(),
        agent_port: args.agent_port,
        servers,
        metadata,
        resources: Resources {
            cpus: args.cpus.unwrap_or_else(resources::detect_cpus),
            mem_mb: args.mem_mb.unwrap_or_else(resources::detect_mem_mb),
            disk_mb: args
                .disk_mb
                .unwrap_or_else(|| resources::detect_disk_mb(&args.data_dir)),
            ports,
        },
        heartbeat_ms: args.heartbeat_ms,
        server_id: args.server_id,
    };
    corral_agent::start(agent_cfg).await?;
    tracing::info!(name = %args.name, ip = %args.ip, server = ?args.server_id, "node running");

    wait_for_stop().await;
    tracing::info!("stopping");
    if let Some(s) = store {
        s.shutdown().await;
    }
    Ok(())
}

async fn start_server(
    args: &NodeArgs,
    id: u64,
    election_min: u64,
    election_max: u64,
) -> Result<Store, NodeError> {
    let store_dir: PathBuf = args.data_dir.join("store");
    let raft_addr = format!("{}:{}", args.ip, args.raft_port);
    let api_addr = format!("{}:{}", args.ip, args.master_port);
    // Bind every listener before anything starts, so a port clash fails fast.
    let raft_listener = bind(raft_addr.clone(), "raft peers")?;
    let master_listener = bind(api_addr.clone(), "master API")?;
    let app_listener = bind(format!("{}:{}", args.ip, args.app_port), "app API")?;
    let zk_listener = match args.zk_port {
        0 => None,
        port => Some(bind(
            format!("{}:{}", args.ip, port),
            "leader detection (ZooKeeper protocol)",
        )?),
    };

    let store = Store::open(StoreConfig {
        id,
        dir: store_dir,
        heartbeat_ms: args.raft_heartbeat_ms,
        election_min_ms: election_min,
        election_max_ms: election_max,
        ..StoreConfig::default()
    })
    .await?;
    let raft_listener = raft_listener
        .into_std()
        .map_err(|e| bad("raft_port", format!("raft listener: {e}")))?;
    store.serve_peers(raft_listener)?;

    let ctx = MasterCtx::new(
        MasterConfig {
            server_id: id,
            name: args.name.clone(),
            ip: args.ip.clone(),
            master_port: args.master_port,
            heartbeat_ms: args.heartbeat_ms,
            max_missed_heartbeats: args.max_missed_heartbeats,
            scheduler_heartbeat_secs: args.scheduler_heartbeat_secs,
            status_retry_ms: (args.status_update_retry_secs.max(0.01) * 1000.0) as u64,
        },
        store.clone(),
    );
    serve_in_background(
        master_listener,
        corral_master::router(ctx.clone()),
        "master API",
    );
    let apps = corral_apps::start(ctx.clone(), args.app_port);
    serve_in_background(app_listener, corral_apps::router(apps), "app API");
    if let Some(l) = zk_listener {
        tokio::spawn(corral_master::zk::serve(l, ctx.clone()));
    }
    if !args.disable_unit_engine {
        tokio::spawn(corral_master::units::engine::run(ctx.clone()));
    }
    tokio::spawn(corral_master::leader_loop::run(ctx));

    if store.is_fresh().await {
        if let Some(b) = &args.bootstrap {
            let members = parse_bootstrap(b).map_err(|m| bad("bootstrap", m))?;
            if !members.contains_key(&id) {
                return Err(bad(
                    "bootstrap",
                    format!("server id {id} is not in the bootstrap list"),
                ));
            }
            store.initialize(members).await?;
            tracing::info!("bootstrapped a new cluster");
        } else if let Some(seed) = &args.join {
            let req = JoinRequest {
                id,
                raft_addr,
                api_addr,
            };
            tokio::spawn(join_cluster(seed.clone(), req));
        } else {
            tracing::warn!(
                "fresh store with neither --bootstrap nor --join: waiting to be added by a leader"
            );
        }
    }
    Ok(store)
}

/// Asks the cluster (through `seed`, redirected to the leader) to add this
/// server; retries until it is a member.
async fn join_cluster(seed: String, req: JoinRequest) {
    let client = corral_api::Client::with_timeout(vec![seed.clone()], Duration::from_secs(60));
    let mut delay = Duration::from_millis(100);
    loop {
        match client
            .call::<_, serde_json::Value>(
                corral_api::client::Method::POST,
                "/v1/servers/join",
                Some(&req),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(%seed, "joined the cluster as a voter");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, %seed, "join failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn wait_for_stop() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists() {
        let m = parse_bootstrap(
            "1=127.0.0.101:2380/127.0.0.101:5050, 2=127.0.0.102:2380/127.0.0.102:5050",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[&2].api_addr, "127.0.0.102:5050");
        assert!(parse_bootstrap("").unwrap_err().contains("no servers"));
        assert!(parse_bootstrap("x=a:1/b:2")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_bootstrap("1=a:1")
            .unwrap_err()
            .contains("ID=RAFT_ADDR/API_ADDR"));
        assert!(parse_bootstrap("1=a/b:2")
            .unwrap_err()
            .contains("HOST:PORT"));
    }

    #[test]
    fn election_ranges() {
        assert_eq!(parse_election("150-300"), Ok((150, 300)));
        assert!(parse_election("300-150").is_err());
        assert!(parse_election("300").is_err());
    }
}
