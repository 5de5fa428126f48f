//! The client side of the Raft peer RPCs: openraft's `RaftNetworkFactory` and
//! `RaftNetwork` over HTTP/1.1 with JSON bodies (`POST
//! http://{raft_addr}/raft/{append,vote,snapshot}`).
//!
//! Owns: one shared `reqwest::Client` and the mapping of transport failures to
//! openraft's `RPCError` (refused connection → `Unreachable`, past the RPC's
//! hard TTL → `Timeout`, anything else → `Network`; an error answered by the
//! peer's Raft → `RemoteError`). Never retries: openraft's replication does.
//!
//! Snapshots use openraft's default chunked transport: `full_snapshot` is not
//! overridden and chunks go through [`PeerClient::install_snapshot`].

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{AnyError, RPCTypes};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::types::{ServerNode, TypeConfig};

/// Paths of the peer RPCs, shared with [`crate::peer_api`].
pub(crate) const APPEND_PATH: &str = "/raft/append";
pub(crate) const VOTE_PATH: &str = "/raft/vote";
pub(crate) const SNAPSHOT_PATH: &str = "/raft/snapshot";
/// Asks a follower to start an election now (leadership handover, see
/// [`crate::abdicate`]).
pub(crate) const ELECT_PATH: &str = "/raft/elect";

/// How soon replication retries a peer that refused the connection.
/// openraft's default is 500 ms; a restarted server would then hear nothing
/// from the leader past its election timeout, start an election with a stale
/// log and depose the healthy leader. Refusals on a LAN are cheap to retry.
pub const UNREACHABLE_RETRY: Duration = Duration::from_millis(30);

/// Makes a [`PeerClient`] per target; all share one connection pool.
#[derive(Clone)]
pub struct Network {
    client: reqwest::Client,
    my_id: u64,
}

impl Network {
    /// The network of node `my_id`.
    pub fn new(my_id: u64) -> Result<Network, StoreError> {
        let client = reqwest::Client::builder()
            // Peers are addressed directly; a proxy from the environment must
            // not capture cluster traffic.
            .no_proxy()
            .tcp_nodelay(true)
            .build()
            .map_err(|e| StoreError::Raft(format!("cannot build the peer HTTP client: {e}")))?;
        Ok(Network { client, my_id })
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &ServerNode) -> PeerClient {
        PeerClient {
            client: self.client.clone(),
            my_id: self.my_id,
            target,
            node: node.clone(),
        }
    }
}

/// Sends RPCs to one peer.
pub struct PeerClient {
    client: reqwest::Client,
    my_id: u64,
    target: u64,
    node: ServerNode,
}

type RpcResult<T, E> = Result<T, RPCError<u64, ServerNode, RaftError<u64, E>>>;

impl PeerClient {
    /// POSTs `req` as JSON and decodes the peer's `Result<Resp, RaftError<E>>`,
    /// giving up after `ttl`.
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        action: RPCTypes,
        req: &Req,
        ttl: Duration,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let url = format!("http://{}{path}", self.node.raft_addr);
        let exchange = async {
            let resp = self
                .client
                .post(&url)
                .json(req)
                .send()
                .await
                .map_err(|e| self.transport_error(action, ttl, e))?;
            let status = resp.status();
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default();
                let e = AnyError::error(format!("POST {url}: HTTP {status}: {body}"));
                return Err(RPCError::Network(NetworkError::from(e)));
            }
            let result: Result<Resp, RaftError<u64, E>> = resp
                .json()
                .await
                .map_err(|e| self.transport_error(action, ttl, e))?;
            result.map_err(|e| {
                RPCError::RemoteError(RemoteError::new_with_node(
                    self.target,
                    self.node.clone(),
                    e,
                ))
            })
        };
        match tokio::time::timeout(ttl, exchange).await {
            Ok(result) => result,
            Err(_) => Err(self.timeout(action, ttl)),
        }
    }

    fn timeout<E: std::error::Error>(
        &self,
        action: RPCTypes,
        ttl: Duration,
    ) -> RPCError<u64, ServerNode, E> {
        RPCError::Timeout(Timeout {
            action,
            id: self.my_id,
            target: self.target,
            timeout: ttl,
        })
    }

    fn transport_error<E: std::error::Error>(
        &self,
        action: RPCTypes,
        ttl: Duration,
        e: reqwest::Error,
    ) -> RPCError<u64, ServerNode, E> {
        if e.is_connect() {
            RPCError::Unreachable(Unreachable::new(&e))
        } else if e.is_timeout() {
            self.timeout(action, ttl)
        } else {
            RPCError::Network(NetworkError::new(&e))
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>, openraft::error::Infallible> {
        self.call(
            APPEND_PATH,
            RPCTypes::AppendEntries,
            &rpc,
            option.hard_ttl(),
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.call(
            SNAPSHOT_PATH,
            RPCTypes::InstallSnapshot,
            &rpc,
            option.hard_ttl(),
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>, openraft::error::Infallible> {
        self.call(VOTE_PATH, RPCTypes::Vote, &rpc, option.hard_ttl())
            .await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(UNREACHABLE_RETRY))
    }
}
