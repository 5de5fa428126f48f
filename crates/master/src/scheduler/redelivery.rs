//! Status updates are delivered at least once: a recorded status stays
//! pending (`Task::unacked`, replicated) until its framework acknowledges
//! it, and the leader sends it again — at once when the framework
//! subscribes, then after a retry interval that doubles up to a cap (Mesos:
//! 10 s doubling to 10 min). When each was last sent is leader memory; a
//! new leader starts over, so a framework hears every pending status again
//! from it. [`Redelivery::due`] is pure.

use std::collections::{BTreeSet, HashMap, HashSet};

use corral_core::{FrameworkId, State, TaskId};

/// Longest wait between two sends of one status.
pub const MAX_RETRY_MS: u64 = 600_000;

/// How often [`Redelivery::due`] looks at every pending status, not only
/// at those it sent: to find a status recorded while its framework's
/// stream could not take it.
pub const FULL_SCAN_MS: u64 = 5_000;

/// When each pending status was last sent, and when it is due again
/// (leader memory).
#[derive(Debug, Default)]
pub struct Redelivery {
    /// The first wait before a status is sent again.
    retry_ms: u64,
    sent: HashMap<TaskId, Sent>,
    /// The sent statuses by when they are due again: `due` looks only at
    /// the front. Kept in step with `sent` (one entry per sent task).
    queue: BTreeSet<(u64, TaskId)>,
    term: u64,
    /// When `due` next looks at every pending status (0: at once).
    full_scan_at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    revision: u64,
    due_ms: u64,
    tries: u32,
}

impl Redelivery {
    /// Statuses are sent again `retry_ms` after the first send, then after
    /// twice as long each time (at most [`MAX_RETRY_MS`]).
    pub fn new(retry_ms: u64) -> Redelivery {
        Redelivery {
            retry_ms,
            ..Redelivery::default()
        }
    }

    /// Starts over for a new term.
    pub fn reset(&mut self, term: u64) {
        *self = Redelivery {
            term,
            ..Redelivery::new(self.retry_ms)
        };
    }

    pub fn term(&self) -> u64 {
        self.term
    }

    /// `task`'s status `revision` went out at `now_ms`.
    pub fn sent(&mut self, task: &TaskId, revision: u64, now_ms: u64) {
        let tries = match self.forget(task) {
            Some(s) if s.revision == revision => s.tries + 1,
            _ => 1,
        };
        let wait = self
            .retry_ms
            .saturating_mul(1u64 << (tries - 1).min(20))
            .min(MAX_RETRY_MS);
        let due_ms = now_ms.saturating_add(wait);
        self.queue.insert((due_ms, task.clone()));
        self.sent.insert(
            task.clone(),
            Sent {
                revision,
                due_ms,
                tries,
            },
        );
    }

    /// `task`'s framework acknowledged it.
    pub fn acked(&mut self, task: &TaskId) {
        self.forget(task);
    }

    fn forget(&mut self, task: &TaskId) -> Option<Sent> {
        let s = self.sent.remove(task)?;
        self.queue.remove(&(s.due_ms, task.clone()));
        Some(s)
    }

    /// Forgets when `framework`'s statuses were sent, so [`Redelivery::due`]
    /// sends them all now (it subscribed again).
    pub fn forget_framework(&mut self, state: &State, framework: &FrameworkId) {
        self.full_scan_at_ms = 0;
        let theirs: Vec<TaskId> = self
            .sent
            .keys()
            .filter(|task| {
                state
                    .tasks
                    .get(*task)
                    .is_none_or(|t| &t.framework == framework)
            })
            .cloned()
            .collect();
        for task in &theirs {
            self.forget(task);
        }
    }

    /// The pending statuses of `subscribed` frameworks to send now, as
    /// (task, revision), in task order; marks them sent at `now_ms`.
    /// A status never sent by this leader is due at once; one sent `n`
    /// times is due `retry_ms × 2^(n-1)` (at most [`MAX_RETRY_MS`]) after
    /// the last send, with its task's latest pending status. Forgets tasks
    /// with nothing pending when it reaches them.
    ///
    /// Every [`FULL_SCAN_MS`] (and after a reset or a resubscription) this
    /// looks at every pending status, for those this leader has not sent;
    /// in between only at the sent ones whose wait is over, so a scan
    /// under a launch of 100,000 tasks costs what is due, not what is
    /// pending or sent.
    pub fn due(
        &mut self,
        state: &State,
        subscribed: &[FrameworkId],
        now_ms: u64,
    ) -> Vec<(TaskId, u64)> {
        let subscribed: HashSet<&FrameworkId> = subscribed.iter().collect();
        let mut out = Vec::new();
        while self.queue.first().is_some_and(|(due, _)| *due <= now_ms) {
            let Some((_, task)) = self.queue.pop_first() else {
                break;
            };
            let pending = state
                .tasks
                .get(&task)
                .filter(|t| subscribed.contains(&t.framework))
                .and_then(|t| t.unacked);
            match pending {
                // Sent again below: `sent` keeps its count of tries.
                Some(rev) => out.push((task, rev)),
                // Acknowledged, gone, or its framework away: a full scan
                // finds it if it is pending when its framework is back.
                None => {
                    self.sent.remove(&task);
                }
            }
        }
        if now_ms >= self.full_scan_at_ms {
            self.full_scan_at_ms = now_ms.saturating_add(FULL_SCAN_MS);
            for t in state.unacked_tasks() {
                let Some(rev) = t.unacked else { continue };
                let running_clock = self.sent.get(&t.spec.id).is_some_and(|s| s.revision == rev);
                if subscribed.contains(&t.framework) && !running_clock {
                    out.push((t.spec.id.clone(), rev));
                }
            }
        }
        out.sort();
        out.dedup();
        for (task, rev) in &out {
            self.sent(task, *rev, now_ms);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use corral_core::{
        AgentRegistration, Command, FrameworkInfo, MachineId, Request, Resources, StatusRecord,
        TaskSpec, TaskState,
    };

    use super::*;

    fn fw(id: &str) -> FrameworkId {
        FrameworkId(id.into())
    }

    /// A state with framework f1 (tasks a, b) and f2 (task c), each task
    /// RUNNING (revisions 6, 7, 8 for a, b, c).
    fn state() -> State {
        let mut s = State::default();
        let agent = MachineId("01".into());
        let mut cmds = vec![Command::RegisterAgent(AgentRegistration {
            id: agent.clone(),
            hostname: "m1".into(),
            ip: "127.0.0.1".into(),
            agent_port: 5051,
            resources: Resources {
                cpus: 8.0,
                mem_mb: 8192,
                disk_mb: 0,
                ports: vec![],
            },
            attributes: BTreeMap::new(),
            server_id: None,
            version: "0".into(),
        })];
        for f in ["f1", "f2"] {
            cmds.push(Command::RegisterFramework {
                id: fw(f),
                info: FrameworkInfo {
                    name: f.into(),
                    user: "root".into(),
                    roles: vec!["*".into()],
                    failover_timeout_ms: 1000,
                    hostname: String::new(),
                    webui_url: String::new(),
                    principal: None,
                    checkpoint: false,
                    capabilities: vec![],
                },
            });
        }
        for (f, ids) in [("f1", vec!["a", "b"]), ("f2", vec!["c"])] {
            cmds.push(Command::LaunchTasks {
                framework: fw(f),
                agent: agent.clone(),
                tasks: ids
                    .iter()
                    .map(|t| TaskSpec {
                        id: TaskId(t.to_string()),
                        name: t.to_string(),
                        resources: Resources {
                            cpus: 0.1,
                            mem_mb: 1,
                            disk_mb: 0,
                            ports: vec![],
                        },
                        command: "true".into(),
                        env: BTreeMap::new(),
                        ..Default::default()
                    })
                    .collect(),
            });
        }
        for t in ["a", "b", "c"] {
            cmds.push(Command::UpdateTask {
                id: TaskId(t.into()),
                from_agent: None,
                status: StatusRecord {
                    state: TaskState::Running,
                    at_ms: 0,
                    reason: None,
                    message: None,
                    revision: None,
                },
            });
        }
        for command in cmds {
            s.apply(&Request { now_ms: 0, command });
        }
        s
    }

    fn ids(due: &[(TaskId, u64)]) -> Vec<String> {
        due.iter().map(|(t, r)| format!("{t}@{r}")).collect()
    }

    #[test]
    fn pending_statuses_are_sent_then_retried_with_backoff() {
        let s = state();
        let mut r = Redelivery::new(100);
        let f1 = [fw("f1")];
        // Only subscribed frameworks' statuses; never sent → due at once.
        assert_eq!(ids(&r.due(&s, &f1, 0)), ["a@6", "b@7"]);
        // Sent at 0: the first retry after 100 ms, the next after 200 ms.
        assert!(r.due(&s, &f1, 99).is_empty());
        assert_eq!(ids(&r.due(&s, &f1, 100)), ["a@6", "b@7"]);
        assert!(r.due(&s, &f1, 299).is_empty());
        assert_eq!(ids(&r.due(&s, &f1, 300)), ["a@6", "b@7"]);
        // Capped.
        let mut late = Redelivery::new(100);
        for i in 0..30 {
            late.sent(&TaskId("a".into()), 6, i);
        }
        assert!(late
            .due(&s, &f1, 29 + MAX_RETRY_MS - 1)
            .iter()
            .all(|(t, _)| t.0 != "a"));
        assert!(late
            .due(&s, &f1, 29 + MAX_RETRY_MS)
            .iter()
            .any(|(t, _)| t.0 == "a"));
    }

    #[test]
    fn acknowledged_and_resubscribed() {
        let mut s = state();
        let mut r = Redelivery::new(100);
        let f1 = [fw("f1")];
        r.due(&s, &f1, 0);
        // a is acknowledged (replicated) and forgotten here.
        s.apply(&Request {
            now_ms: 0,
            command: Command::AcknowledgeTask {
                framework: fw("f1"),
                id: TaskId("a".into()),
                revision: 6,
            },
        });
        r.acked(&TaskId("a".into()));
        assert_eq!(ids(&r.due(&s, &f1, 100)), ["b@7"]);
        // A new SUBSCRIBE: everything pending goes out again at once.
        r.forget_framework(&s, &fw("f1"));
        assert_eq!(ids(&r.due(&s, &f1, 101)), ["b@7"]);
        // A newer status not sent by this leader (`record` sends one at
        // once) goes out with the next full scan, whatever the older's clock.
        s.apply(&Request {
            now_ms: 0,
            command: Command::UpdateTask {
                id: TaskId("b".into()),
                from_agent: None,
                status: StatusRecord {
                    state: TaskState::Finished,
                    at_ms: 0,
                    reason: None,
                    message: None,
                    revision: None,
                },
            },
        });
        assert!(r.due(&s, &f1, 102).is_empty());
        assert_eq!(ids(&r.due(&s, &f1, 101 + FULL_SCAN_MS)), ["b@10"]);
    }

    /// Between full scans only what was sent is looked at: a status this
    /// leader never sent (its framework's stream could not take it) goes
    /// out with the next full scan.
    #[test]
    fn a_status_never_sent_goes_out_with_the_next_full_scan() {
        let s = state();
        let mut r = Redelivery::new(100);
        let f1 = [fw("f1")];
        // f2's status c is pending while f2 is not subscribed.
        assert_eq!(ids(&r.due(&s, &f1, 0)), ["a@6", "b@7"]);
        let both = [fw("f1"), fw("f2")];
        assert_eq!(ids(&r.due(&s, &both, 100)), ["a@6", "b@7"]);
        assert!(ids(&r.due(&s, &both, FULL_SCAN_MS - 1))
            .iter()
            .all(|i| i != "c@8"));
        assert!(ids(&r.due(&s, &both, FULL_SCAN_MS)).contains(&"c@8".to_string()));
    }
}
