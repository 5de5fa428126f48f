//! The leader's view of agent heartbeats: pure bookkeeping, no clock.
//!
//! Heartbeats are not written to the log; only the decision "this agent has
//! been silent too long" becomes a committed `MarkAgentUnreachable`.

use std::collections::HashMap;

use corral_core::{Agent, AgentStatus, MachineId};

/// Last heartbeat per agent, as seen by the current leader during one term.
#[derive(Debug, Clone)]
pub struct Liveness {
    /// The term these observations belong to.
    pub term: u64,
    /// When this server started leading in `term`: agents it has not heard
    /// from yet get their grace period from here.
    pub since_ms: u64,
    last_seen: HashMap<MachineId, u64>,
}

impl Liveness {
    pub fn new(term: u64, since_ms: u64) -> Liveness {
        Liveness {
            term,
            since_ms,
            last_seen: HashMap::new(),
        }
    }

    /// Records a heartbeat (or registration) at `now_ms`.
    pub fn seen(&mut self, id: &MachineId, now_ms: u64) {
        self.last_seen.insert(id.clone(), now_ms);
    }

    /// Forgets an agent (after it is marked unreachable or removed).
    pub fn forget(&mut self, id: &MachineId) {
        self.last_seen.remove(id);
    }

    /// When the agent was last heard from in this term, if at all.
    pub fn last_seen(&self, id: &MachineId) -> Option<u64> {
        self.last_seen.get(id).copied()
    }

    /// Active agents silent for longer than `timeout_ms` at `now_ms`, with how
    /// long each has been silent. An agent never heard in this term counts
    /// from `since_ms`, so a new leader gives every agent a full timeout to
    /// find it.
    pub fn overdue<'a>(
        &self,
        agents: impl IntoIterator<Item = &'a Agent>,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Vec<(MachineId, u64)> {
        agents
            .into_iter()
            .filter(|a| a.status == AgentStatus::Active)
            .filter_map(|a| {
                let last = self
                    .last_seen(&a.info.id)
                    .unwrap_or(self.since_ms)
                    .max(self.since_ms);
                let silent = now_ms.saturating_sub(last);
                (silent > timeout_ms).then(|| (a.info.id.clone(), silent))
            })
            .collect()
    }
}

/// Whether a heartbeat counts: the agent must be admitted and active, and
/// must have registered under this leader's epoch. Otherwise it registers
/// again — which is how agents learn a new leader's epoch, and how an
/// unreachable agent comes back.
pub fn heartbeat_admitted(status: Option<AgentStatus>, agent_epoch: u64, term: u64) -> bool {
    status == Some(AgentStatus::Active) && agent_epoch == term
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use corral_core::{AgentRegistration, Resources};

    use super::*;

    fn agent(n: u8, status: AgentStatus) -> Agent {
        Agent {
            info: AgentRegistration {
                id: MachineId(format!("{n:0>32}")),
                hostname: format!("m{n}"),
                ip: "127.0.0.1".into(),
                agent_port: 5051,
                resources: Resources::default(),
                attributes: BTreeMap::new(),
                server_id: None,
                version: "0".into(),
            },
            status,
            registered_at_ms: 0,
            reregistered_at_ms: 0,
            unreachable_since_ms: None,
            unreachable_reason: None,
        }
    }

    /// (heartbeats as (agent, time)), now → overdue agents as "n:silent".
    fn check(beats: &[(u8, u64)], statuses: &[(u8, AgentStatus)], now: u64, want: &str) {
        let mut l = Liveness::new(1, 1_000);
        let agents: Vec<Agent> = statuses.iter().map(|(n, s)| agent(*n, *s)).collect();
        for (n, t) in beats {
            l.seen(&agent(*n, AgentStatus::Active).info.id, *t);
        }
        let got: Vec<String> = l
            .overdue(&agents, now, 5_000)
            .into_iter()
            .map(|(id, silent)| format!("{}:{silent}", id.0.trim_start_matches('0')))
            .collect();
        assert_eq!(got.join(" "), want);
    }

    #[test]
    fn heartbeats() {
        use AgentStatus::*;
        let cases = [
            (Some(Active), 3, 3, true),
            (Some(Active), 2, 3, false), // registered with an earlier leader
            (Some(Unreachable), 3, 3, false),
            (None, 3, 3, false), // unknown (removed, or never admitted)
        ];
        for (status, epoch, term, want) in cases {
            assert_eq!(
                heartbeat_admitted(status, epoch, term),
                want,
                "{status:?} {epoch} {term}"
            );
        }
    }

    #[test]
    fn overdue_cases() {
        use AgentStatus::*;
        // Fresh leader: nobody is overdue before the grace period runs out.
        check(&[], &[(1, Active), (2, Active)], 6_000, "");
        check(&[], &[(1, Active), (2, Active)], 6_001, "1:5001 2:5001");
        // Heartbeats push the deadline.
        check(&[(1, 5_000)], &[(1, Active), (2, Active)], 7_000, "2:6000");
        check(&[(1, 5_000)], &[(1, Active)], 10_001, "1:5001");
        // Unreachable agents are not marked again.
        check(&[], &[(1, Unreachable)], 60_000, "");
        // A heartbeat from before this leader's term does not count for less than the grace.
        check(&[(1, 10)], &[(1, Active)], 6_000, "");
    }
}
