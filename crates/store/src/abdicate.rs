//! Leadership handover: the leader asks an up-to-date follower to campaign,
//! and waits until someone else leads (Marathon's `DELETE /v2/leader`).
//!
//! openraft 0.9 has no leadership transfer, but a follower told to elect
//! (`POST /raft/elect`, [`crate::peer_api`]) becomes a candidate at once with
//! a higher term. The other followers refuse it while their leader lease
//! runs; the leader itself has no lease on its own vote, so it grants the
//! vote when the candidate's log is as long as its own, and steps down. So
//! the follower with the most replicated log is asked first, and the next
//! one if leadership did not move within [`WAIT`].
//!
//! Owns: choosing whom to ask ([`candidates`], pure) and the waiting. Never
//! changes membership and never writes to the log.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::WriteError;
use crate::network::ELECT_PATH;
use crate::store::Store;
use crate::types::ServerNode;

/// How long to wait for a new leader after asking one follower.
pub const WAIT: Duration = Duration::from_secs(2);

/// The voters other than `me`, best first: the most replicated log, then the
/// lowest id. `matched` is the leader's replication progress (index per
/// follower; a follower it has no progress for counts as 0).
pub fn candidates(me: u64, voters: &[u64], matched: &BTreeMap<u64, u64>) -> Vec<u64> {
    let mut others: Vec<u64> = voters.iter().copied().filter(|v| *v != me).collect();
    others.sort_by_key(|v| (std::cmp::Reverse(matched.get(v).copied().unwrap_or(0)), *v));
    others
}

impl Store {
    /// Leader only: hands leadership to another voter and returns the new
    /// leader. `NotLeader` if this server does not lead; `Unavailable` if no
    /// other voter took over (a single-server cluster, or followers behind).
    pub async fn abdicate(&self) -> Result<(u64, ServerNode), WriteError> {
        if !self.is_leader() {
            return Err(WriteError::NotLeader {
                leader: self.leader(),
            });
        }
        let me = self.id();
        let members = self.members();
        let voters: Vec<u64> = members.iter().filter(|m| m.2).map(|m| m.0).collect();
        let matched: BTreeMap<u64, u64> = {
            let metrics = self.metrics();
            let m = metrics.borrow();
            m.replication
                .iter()
                .flatten()
                .map(|(id, log)| (*id, log.map(|l| l.index).unwrap_or(0)))
                .collect()
        };
        let order = candidates(me, &voters, &matched);
        if order.is_empty() {
            return Err(WriteError::Unavailable(
                "this is the only voting server, so no other server can take over; add servers first".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .build()
            .map_err(|e| WriteError::Fatal(format!("cannot build an HTTP client: {e}")))?;
        let mut tried = Vec::new();
        for id in order {
            let Some((_, node, _)) = members.iter().find(|m| m.0 == id) else {
                continue;
            };
            let url = format!("http://{}{ELECT_PATH}", node.raft_addr);
            if let Err(e) = client.post(&url).send().await {
                tracing::warn!(id, %url, "abdicate: cannot ask the server to campaign: {e}");
                tried.push(format!("server {id} unreachable"));
                continue;
            }
            if let Some(leader) = self.wait_for_other_leader(me).await {
                tracing::info!(new_leader = leader.0, "abdicated");
                return Ok(leader);
            }
            tried.push(format!("server {id} did not win"));
        }
        Err(WriteError::Unavailable(format!(
            "leadership did not move ({}); this server still leads",
            tried.join(", ")
        )))
    }

    /// Waits up to [`WAIT`] until a leader other than `me` is known.
    async fn wait_for_other_leader(&self, me: u64) -> Option<(u64, ServerNode)> {
        let mut metrics = self.metrics();
        let moved = async {
            loop {
                let other = {
                    let m = metrics.borrow_and_update();
                    m.current_leader.filter(|l| *l != me)
                };
                if other.is_some() {
                    return;
                }
                if metrics.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(WAIT, moved).await.ok()?;
        self.leader().filter(|(id, _)| *id != me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(me: u64, voters: &[u64], matched: &[(u64, u64)], expected: &[u64]) {
        let matched: BTreeMap<u64, u64> = matched.iter().copied().collect();
        assert_eq!(
            candidates(me, voters, &matched),
            expected,
            "me={me} voters={voters:?}"
        );
    }

    #[test]
    fn the_most_replicated_follower_is_asked_first() {
        check(1, &[1, 2, 3], &[(2, 10), (3, 12)], &[3, 2]);
        check(1, &[1, 2, 3], &[(2, 12), (3, 12)], &[2, 3]);
        check(2, &[1, 2, 3], &[(1, 5)], &[1, 3]);
        check(1, &[1], &[], &[]);
        check(
            3,
            &[1, 2, 3, 4, 5],
            &[(5, 9), (4, 9), (1, 2)],
            &[4, 5, 1, 2],
        );
    }
}
