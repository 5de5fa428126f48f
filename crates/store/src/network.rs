//! The client side of the Raft peer RPCs: openraft's `RaftNetworkFactory` and
//! `RaftNetwork` over HTTP/1.1 with JSON bodies (`POST
//! http://{raft_addr}/raft/{append,vote,snapshot}`).
//!
//! Owns: one shared `reqwest::Client` and the mapping of transport failures to
//! openraft's `RPCError` (refused connection → `Unreachable`, past the RPC's
//! hard TTL → `Timeout`, anything else → `Network`; an error answered by the
//! peer's Raft → `RemoteError`). Never retries: openraft's replication does.
//!
//! One AppendEntries RPC carries at most [`MAX_RPC_WEIGHT`] of entries (at
//! least one entry): a lagging follower is caught up in several RPCs, each
//! answered as openraft's `PartialSuccess`, rather than in one that cannot
//! finish within the RPC's time limit.
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
use openraft::{AnyError, EntryPayload, RPCTypes};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StoreError;
use crate::types::{Entry, LogId, ServerNode, TypeConfig};

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

/// Heaviest AppendEntries RPC (in `Command::weight` items) beyond its first
/// entry: as heavy as the heaviest entry the batcher makes.
pub const MAX_RPC_WEIGHT: usize = crate::batcher::MAX_ENTRY_WEIGHT;

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

/// How heavy an entry is: its requests' weights (1 for a blank or
/// membership entry).
fn entry_weight(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(requests) => requests.iter().map(|r| r.command.weight()).sum(),
        EntryPayload::Blank | EntryPayload::Membership(_) => 1,
    }
}

/// The longest prefix of `rpc`'s entries within `max` weight (at least one
/// entry), and the log id of the last entry kept when some were left out.
fn within_weight(
    mut rpc: AppendEntriesRequest<TypeConfig>,
    max: usize,
) -> (AppendEntriesRequest<TypeConfig>, Option<LogId>) {
    let mut total = 0;
    let keep = rpc
        .entries
        .iter()
        .position(|e| {
            total += entry_weight(e);
            total > max
        })
        .map_or(rpc.entries.len(), |i| i.max(1));
    if keep == rpc.entries.len() {
        return (rpc, None);
    }
    rpc.entries.truncate(keep);
    let last = rpc.entries.last().map(|e| e.log_id);
    (rpc, last)
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>, openraft::error::Infallible> {
        let (rpc, cut_after) = within_weight(rpc, MAX_RPC_WEIGHT);
        let answer = self
            .call(
                APPEND_PATH,
                RPCTypes::AppendEntries,
                &rpc,
                option.hard_ttl(),
            )
            .await?;
        Ok(match (answer, cut_after) {
            (AppendEntriesResponse::Success, Some(last)) => {
                AppendEntriesResponse::PartialSuccess(Some(last))
            }
            (answer, _) => answer,
        })
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

#[cfg(test)]
mod tests {
    use corral_core::{Command, Request};
    use openraft::{CommittedLeaderId, Vote};

    use super::*;

    fn entry(index: u64, keys: usize) -> Entry {
        let expire = Request {
            now_ms: 0,
            command: Command::KvExpire {
                keys: vec!["/k".into(); keys],
            },
        };
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(vec![expire]),
        }
    }

    fn rpc(weights: &[usize]) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: weights
                .iter()
                .enumerate()
                .map(|(i, w)| entry(i as u64 + 1, *w))
                .collect(),
        }
    }

    #[test]
    fn an_rpc_carries_entries_up_to_its_weight() {
        let sent = |weights: &[usize]| {
            let (r, cut) = within_weight(rpc(weights), 10);
            let last = r.entries.last().map(|e| e.log_id.index);
            assert_eq!(cut.map(|l| l.index), last.filter(|_| cut.is_some()));
            (r.entries.len(), cut.is_some())
        };
        assert_eq!(sent(&[]), (0, false), "a heartbeat");
        assert_eq!(sent(&[4, 6]), (2, false), "exactly the weight");
        assert_eq!(sent(&[4, 6, 1]), (2, true), "the rest goes next time");
        assert_eq!(sent(&[30, 1]), (1, true), "at least one entry");
        assert_eq!(sent(&[30]), (1, false));
    }
}
