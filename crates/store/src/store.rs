//! [`Store`]: the facade the rest of corral uses: open a server's store,
//! bootstrap or grow the cluster, write commands, read the applied state,
//! watch events and leadership.
//!
//! Owns: wiring (log store + state machine + network → openraft), the time
//! limits on leader-only calls, and translating openraft's errors into
//! [`WriteError`]/[`StoreError`]. Never interprets commands (corral_core
//! does) and never binds a listener (the node serves [`Store::peer_router`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use corral_core::{Command, Event, Request, Response, State};
use openraft::error::{
    CheckIsLeaderError, ClientWriteError, ForwardToLeader, InitializeError, RaftError,
};
use openraft::{ChangeMembers, RaftMetrics, ServerState};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::batcher;
use crate::config::StoreConfig;
use crate::error::{StoreError, WriteError};
use crate::log_store::{db_path, LogStore};
use crate::network::Network;
use crate::peer_api;
use crate::state_machine::StateMachineStore;
use crate::types::{Raft, ServerNode};

/// How long `add_server` waits for a new server to catch up before giving up
/// (it stays a learner; calling again resumes).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);

/// A server's replicated store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    id: u64,
    /// Queue of writes for the batcher (see [`crate::batcher`]).
    writes: mpsc::UnboundedSender<batcher::Pending>,
    raft: Raft,
    log: LogStore,
    sm: StateMachineStore,
    /// Limit on one write, membership change or read barrier.
    call_timeout: Duration,
    /// Raft's own runtime (two threads): the core, replication, heartbeats,
    /// the peer RPCs and the batcher run here, so a leader busy serving
    /// clients still heartbeats on time (no spurious elections under load).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context would panic.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Store {
    /// Opens or creates the store under `cfg.dir` and starts the Raft node (no
    /// listener is bound here). A store reopened from its dir recovers vote,
    /// log and last snapshot and rejoins with its state.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let raft_config = cfg.raft_config()?;
        let dir = cfg.dir.clone();
        let (log, sm) = tokio::task::spawn_blocking(move || open_files(&dir))
            .await
            .map_err(|e| StoreError::Raft(format!("opening the store files panicked: {e}")))??;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // Two threads: applying a command can wait for the state lock
            // while a reader holds it; the other thread keeps heartbeats
            // and replication going meanwhile.
            .worker_threads(2)
            .thread_name("raft")
            .on_thread_start(raise_priority)
            .enable_all()
            .build()
            .map_err(|e| StoreError::Raft(format!("starting the raft runtime: {e}")))?;
        let (id, l, s) = (cfg.id, log.clone(), sm.clone());
        let raft = runtime
            .spawn(async move {
                let network = Network::new(id)?;
                Raft::new(id, raft_config, network, l, s)
                    .await
                    .map_err(|e| StoreError::Raft(format!("starting raft node {id}: {e}")))
            })
            .await
            .map_err(|e| StoreError::Raft(format!("starting raft node {}: {e}", cfg.id)))??;
        // A round trip through the Raft core: once it answers, the core has
        // published its first metrics, so leader()/members()/term() reflect
        // the recovered state as soon as open returns.
        raft.is_initialized().await.map_err(|e| {
            StoreError::Raft(format!("raft node {} stopped while starting: {e}", cfg.id))
        })?;
        tracing::info!(id = cfg.id, dir = %cfg.dir.display(), "store opened");
        let call_timeout = Duration::from_millis(cfg.election_max_ms.saturating_mul(10).max(5_000));
        let (writes, queue) = mpsc::unbounded_channel();
        let handle = runtime.handle().clone();
        let inner = Arc::new(Inner {
            id: cfg.id,
            writes,
            raft,
            log,
            sm,
            call_timeout,
            runtime: Some(runtime),
        });
        handle.spawn(batcher::run(Arc::downgrade(&inner), queue));
        Ok(Store { inner })
    }

    /// This server's Raft node id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The openraft handle, for what this facade does not cover.
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// True if the store has never been initialized and has no membership
    /// (a fresh dir that no leader has contacted yet).
    pub async fn is_fresh(&self) -> bool {
        match self.inner.raft.is_initialized().await {
            Ok(initialized) => !initialized,
            Err(_) => false,
        }
    }

    /// Bootstraps a new cluster with these voters (this server must be one).
    /// On an already initialized node it is a no-op returning `Ok(())`.
    pub async fn initialize(&self, members: BTreeMap<u64, ServerNode>) -> Result<(), StoreError> {
        match self.inner.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(RaftError::APIError(e @ InitializeError::NotInMembers(_))) => {
                Err(StoreError::Initialize(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(StoreError::Raft(f.to_string())),
        }
    }

    /// Leader only: adds a server as a learner, waits until it has caught up,
    /// then makes it a voter. Ok at once if it is already a voter.
    pub async fn add_server(&self, id: u64, node: ServerNode) -> Result<(), WriteError> {
        if !self.is_leader() {
            return Err(WriteError::NotLeader {
                leader: self.leader(),
            });
        }
        if self
            .members()
            .iter()
            .any(|(m, _, voter)| *m == id && *voter)
        {
            return Ok(());
        }
        let raft = &self.inner.raft;
        let added = self
            .limit("adding a learner", raft.add_learner(id, node, false))
            .await?
            .map_err(|e| self.client_write_error(e))?;
        self.wait_caught_up(id, added.log_id.index).await?;
        self.limit(
            "promoting a learner to voter",
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true),
        )
        .await?
        .map_err(|e| self.client_write_error(e))?;
        tracing::info!(id, "server added as a voter");
        Ok(())
    }

    /// Leader only: proposes `command` and waits until it is committed and
    /// applied here. `now_ms` is the caller's (the leader's) wall clock.
    ///
    /// Writes queue up and go to the log in batches (see [`crate::batcher`]).
    pub async fn write(&self, command: Command, now_ms: u64) -> Result<Response, WriteError> {
        let (reply, answer) = oneshot::channel();
        let request = Request { now_ms, command };
        self.inner
            .writes
            .send(batcher::Pending { request, reply })
            .map_err(|_| WriteError::Fatal("the store is shut down".into()))?;
        answer
            .await
            .unwrap_or_else(|_| Err(WriteError::Fatal("the store is shut down".into())))
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Store {
        Store { inner }
    }

    /// Proposes one log entry holding `requests`; answers one response each.
    pub(crate) async fn write_batch(
        &self,
        requests: Vec<Request>,
    ) -> Result<Vec<Response>, WriteError> {
        let n = requests.len();
        let written = self
            .limit("the write", self.inner.raft.client_write(requests))
            .await?
            .map_err(|e| self.client_write_error(e))?;
        if written.data.len() != n {
            return Err(WriteError::Fatal(format!(
                "a batch of {n} requests applied as {} responses",
                written.data.len()
            )));
        }
        Ok(written.data)
    }

    /// Leader only: waits until this node's state machine reflects every write
    /// committed before the call (confirming leadership with a quorum).
    pub async fn linearizable_barrier(&self) -> Result<(), WriteError> {
        match self
            .limit("the read barrier", self.inner.raft.ensure_linearizable())
            .await?
        {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(self.not_leader(f))
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => {
                Err(WriteError::Unavailable(q.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(WriteError::Fatal(f.to_string())),
        }
    }

    /// Runs `f` with a read lock on the applied state (never hold it across
    /// `.await`: apply waits for it).
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        self.inner.sm.read(f)
    }

    /// Every event applied from now on, with the revision that produced it,
    /// in log order. A receiver that falls 4096 events behind gets `Lagged`.
    /// A snapshot installed from the leader replaces the state without events.
    pub fn subscribe(&self) -> broadcast::Receiver<(u64, Event)> {
        self.inner.sm.subscribe()
    }

    /// Current leader as this node believes it (id, node), if any.
    pub fn leader(&self) -> Option<(u64, ServerNode)> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let id = m.current_leader?;
        let node = m
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()
            .unwrap_or_default();
        Some((id, node))
    }

    /// Current Raft term (the fencing epoch handed to agents).
    pub fn term(&self) -> u64 {
        self.inner.raft.metrics().borrow().current_term
    }

    /// True if this node is the leader now (as its metrics say).
    pub fn is_leader(&self) -> bool {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.inner.id)
    }

    /// Voters and learners of the current membership: (id, node, is_voter).
    pub fn members(&self) -> Vec<(u64, ServerNode, bool)> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| (*id, node.clone(), voters.contains(id)))
            .collect()
    }

    /// Watch channel of openraft metrics (for waiting on leadership changes).
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics<u64, ServerNode>> {
        self.inner.raft.metrics()
    }

    /// The Raft peer RPCs (POST /raft/append, /raft/vote, /raft/snapshot); the
    /// node serves this router on the raft port (see [`Store::serve_peers`]).
    pub fn peer_router(&self) -> axum::Router {
        peer_api::router(self.inner.raft.clone())
    }

    /// Serves the peer RPCs on `listener` from Raft's own runtime, with
    /// TCP_NODELAY on every connection, until the store is dropped.
    pub fn serve_peers(&self, listener: std::net::TcpListener) -> Result<(), StoreError> {
        use axum::serve::ListenerExt;
        let Some(rt) = &self.inner.runtime else {
            return Err(StoreError::Raft("the raft runtime is gone".into()));
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| StoreError::Raft(format!("raft listener: {e}")))?;
        let router = self.peer_router();
        rt.spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                }),
                Err(e) => {
                    tracing::error!(error = %e, "raft listener could not be served");
                    return;
                }
            };
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "raft peer listener stopped");
            }
        });
        Ok(())
    }

    /// Stops Raft, writes what is queued to disk and closes the database, so
    /// the dir can be reopened. Calls on a stopped store fail with `Fatal`.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(id = self.inner.id, "raft task ended badly: {e}");
        }
        self.inner.log.close().await;
        tracing::info!(id = self.inner.id, "store shut down");
    }

    /// Runs a leader-only call within the call time limit.
    async fn limit<T>(
        &self,
        what: &'static str,
        call: impl std::future::Future<Output = T>,
    ) -> Result<T, WriteError> {
        let limit = self.inner.call_timeout;
        tokio::time::timeout(limit, call)
            .await
            .map_err(|_| WriteError::Timeout {
                what,
                after_ms: limit.as_millis() as u64,
            })
    }

    /// Waits until replication to `id` has reached `index`.
    async fn wait_caught_up(&self, id: u64, index: u64) -> Result<(), WriteError> {
        let mut metrics = self.inner.raft.metrics();
        let wait = async {
            loop {
                {
                    let m = metrics.borrow_and_update();
                    if m.state != ServerState::Leader {
                        return Err(WriteError::NotLeader {
                            leader: self.leader(),
                        });
                    }
                    let matched = m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(&id).copied().flatten());
                    if matched.is_some_and(|l| l.index >= index) {
                        return Ok(());
                    }
                }
                if metrics.changed().await.is_err() {
                    return Err(WriteError::Fatal("raft stopped".into()));
                }
            }
        };
        tokio::time::timeout(CATCH_UP_TIMEOUT, wait)
            .await
            .unwrap_or(Err(WriteError::Timeout {
                what: "catching up the new server",
                after_ms: CATCH_UP_TIMEOUT.as_millis() as u64,
            }))
    }

    fn client_write_error(
        &self,
        e: RaftError<u64, ClientWriteError<u64, ServerNode>>,
    ) -> WriteError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => self.not_leader(f),
            RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
                WriteError::Unavailable(c.to_string())
            }
            RaftError::Fatal(f) => WriteError::Fatal(f.to_string()),
        }
    }

    fn not_leader(&self, f: ForwardToLeader<u64, ServerNode>) -> WriteError {
        let leader = f.leader_id.map(|id| {
            let node = f
                .leader_node
                .or_else(|| self.leader().filter(|(l, _)| *l == id).map(|(_, n)| n));
            (id, node.unwrap_or_default())
        });
        WriteError::NotLeader { leader }
    }
}

/// Opens the log database and the state machine of a store dir.
fn open_files(dir: &Path) -> Result<(LogStore, StateMachineStore), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
        what: "create store dir",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let log = LogStore::open(&db_path(dir))?;
    let sm = StateMachineStore::open(dir)?;
    Ok((log, sm))
}

/// Nice value of Raft's threads: heartbeats are tiny but must not wait
/// behind a busy server's other work (on a loaded 2-core machine a
/// starved heartbeat is a spurious election).
const RAFT_NICE: i32 = -10;

/// Gives the calling thread a higher scheduling priority where allowed
/// (root or CAP_SYS_NICE); elsewhere it keeps the default, said once.
fn raise_priority() {
    // SAFETY: gettid and setpriority on the calling thread only.
    let ok = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, RAFT_NICE) == 0
    };
    static SAID: std::sync::Once = std::sync::Once::new();
    if !ok {
        SAID.call_once(|| {
            tracing::info!("raft threads keep the default priority (raising it needs CAP_SYS_NICE)")
        });
    }
}
