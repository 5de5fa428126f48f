//! In-process cluster harness: each node is a `Store` in its own temp dir with
//! its peer router served on 127.0.0.1 (ephemeral port). Waits are polls with
//! deadlines, never fixed sleeps.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use corral_core::{Command, State};
use corral_store::{ServerNode, Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One running server.
pub struct Node {
    pub id: u64,
    pub store: Store,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    server: JoinHandle<()>,
}

impl Node {
    pub fn server_node(&self) -> ServerNode {
        ServerNode {
            raft_addr: self.addr.to_string(),
            api_addr: format!("api-of-{}", self.id),
        }
    }

    /// Shuts the store down and stops serving its port.
    pub async fn stop(mut self) -> (u64, SocketAddr, PathBuf) {
        self.store.shutdown().await;
        self.server.abort();
        let _ = (&mut self.server).await;
        (self.id, self.addr, self.dir.clone())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn config(id: u64, dir: PathBuf) -> StoreConfig {
    StoreConfig {
        id,
        dir,
        ..StoreConfig::default()
    }
}

/// Starts a node on a new ephemeral port.
pub async fn start(cfg: StoreConfig) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    serve(cfg, listener).await
}

/// Starts a node again on the port it had (its address is in the membership).
pub async fn restart(cfg: StoreConfig, addr: SocketAddr) -> Node {
    let listener = until(
        "the old port to be free again",
        Duration::from_secs(10),
        || std::net::TcpListener::bind(addr).ok(),
    )
    .await;
    listener.set_nonblocking(true).expect("nonblocking");
    serve(
        cfg,
        TcpListener::from_std(listener).expect("tokio listener"),
    )
    .await
}

async fn serve(cfg: StoreConfig, listener: TcpListener) -> Node {
    let addr = listener.local_addr().expect("local addr");
    let (id, dir) = (cfg.id, cfg.dir.clone());
    let store = Store::open(cfg)
        .await
        .unwrap_or_else(|e| panic!("open store {id}: {e}"));
    let router = store.peer_router();
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("peer server {addr} stopped: {e}");
        }
    });
    Node {
        id,
        store,
        addr,
        dir,
        server,
    }
}

pub fn members(nodes: &[&Node]) -> BTreeMap<u64, ServerNode> {
    nodes.iter().map(|n| (n.id, n.server_node())).collect()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like [`until`] for an async check.
pub async fn until_async<T, F: Future<Output = Option<T>>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every node names the same leader, one of `nodes`; returns its id.
pub async fn must_agree_on_leader(nodes: &[&Node], timeout: Duration) -> u64 {
    until("all nodes to agree on a leader", timeout, || {
        let first = nodes[0].store.leader()?.0;
        let agreed = nodes
            .iter()
            .all(|n| n.store.leader().map(|l| l.0) == Some(first));
        let leader = nodes.iter().find(|n| n.id == first)?;
        (agreed && leader.store.is_leader()).then_some(first)
    })
    .await
}

/// Waits until every node's state equals `want` (ignoring nothing).
pub async fn must_converge(nodes: &[&Node], want: &State, timeout: Duration) {
    until("all nodes to reach the same state", timeout, || {
        nodes
            .iter()
            .all(|n| n.store.read(|s| s == want))
            .then_some(())
    })
    .await;
}

pub fn set(key: &str, value: &str) -> Command {
    Command::KvSet {
        key: key.into(),
        value: value.into(),
        ttl_ms: None,
    }
}

pub fn kv(node: &Node) -> Vec<String> {
    node.store.read(|s| {
        s.kv.iter()
            .map(|(k, e)| format!("{k}={}", e.value))
            .collect()
    })
}
