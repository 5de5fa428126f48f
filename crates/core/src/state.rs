//! The replicated state and its deterministic apply.
//!
//! `apply` never reads a clock, an RNG or the network: the time comes in the
//! [`Request`]. Every applied request gets the next revision (like etcd's
//! revision, it counts requests, not log entries: one log entry may carry a
//! batch of requests).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Request, Response};
use crate::event::Event;
use crate::kv::KvEntry;
use crate::machine::{Agent, AgentStatus, MachineId};

/// Everything the store replicates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct State {
    pub agents: BTreeMap<MachineId, Agent>,
    pub kv: BTreeMap<String, KvEntry>,
    /// Revision of the last applied request (0 before any); each applied
    /// request takes the next one.
    pub revision: u64,
}

impl State {
    /// Applies one request as the next revision. Deterministic: same inputs,
    /// same state, response and events, on every server.
    pub fn apply(&mut self, req: &Request) -> (Response, Vec<Event>) {
        self.revision += 1;
        let rev = self.revision;
        let now = req.now_ms;
        let mut events = Vec::new();
        let response = match &req.command {
            Command::RegisterAgent(reg) => {
                let id = reg.id.clone();
                let reregistered = match self.agents.get_mut(&id) {
                    Some(agent) => {
                        agent.info = reg.clone();
                        agent.status = AgentStatus::Active;
                        agent.reregistered_at_ms = now;
                        agent.unreachable_since_ms = None;
                        agent.unreachable_reason = None;
                        events.push(Event::AgentReregistered { id: id.clone() });
                        true
                    }
                    None => {
                        self.agents.insert(
                            id.clone(),
                            Agent {
                                info: reg.clone(),
                                status: AgentStatus::Active,
                                registered_at_ms: now,
                                reregistered_at_ms: now,
                                unreachable_since_ms: None,
                                unreachable_reason: None,
                            },
                        );
                        events.push(Event::AgentAdmitted { id: id.clone() });
                        false
                    }
                };
                Response::AgentRegistered { id, reregistered }
            }
            Command::MarkAgentUnreachable { id, reason } => match self.agents.get_mut(id) {
                Some(agent) if agent.status == AgentStatus::Active => {
                    agent.status = AgentStatus::Unreachable;
                    agent.unreachable_since_ms = Some(now);
                    agent.unreachable_reason = Some(reason.clone());
                    events.push(Event::AgentUnreachable { id: id.clone() });
                    Response::Done
                }
                _ => Response::Done,
            },
            Command::RemoveAgent { id } => match self.agents.remove(id) {
                Some(_) => {
                    events.push(Event::AgentRemoved { id: id.clone() });
                    Response::Done
                }
                None => Response::Refused {
                    reason: format!("no machine {id} in the cluster"),
                },
            },
            Command::KvSet { key, value, ttl_ms } => {
                let prev = self.kv.get(key).cloned();
                let entry = KvEntry {
                    value: value.clone(),
                    create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                    mod_revision: rev,
                    expires_at_ms: ttl_ms.map(|ttl| now.saturating_add(ttl)),
                };
                self.kv.insert(key.clone(), entry.clone());
                events.push(Event::KvPut {
                    key: key.clone(),
                    entry,
                });
                Response::KvSet {
                    revision: rev,
                    prev,
                }
            }
            Command::KvDelete { key } => {
                let prev = self.kv.remove(key);
                if prev.is_some() {
                    events.push(Event::KvDelete {
                        key: key.clone(),
                        revision: rev,
                        expired: false,
                    });
                }
                Response::KvDeleted {
                    revision: rev,
                    prev,
                }
            }
            Command::KvExpire { keys } => {
                let mut expired = Vec::new();
                for key in keys {
                    let due = self
                        .kv
                        .get(key)
                        .and_then(|e| e.expires_at_ms)
                        .is_some_and(|at| at <= now);
                    if due {
                        self.kv.remove(key);
                        events.push(Event::KvDelete {
                            key: key.clone(),
                            revision: rev,
                            expired: true,
                        });
                        expired.push(key.clone());
                    }
                }
                Response::KvExpired { keys: expired }
            }
        };
        (response, events)
    }

    /// Keys whose TTL has run out at `now_ms`, at most `limit` of them.
    pub fn expired_keys(&self, now_ms: u64, limit: usize) -> Vec<String> {
        self.kv
            .iter()
            .filter(|(_, e)| e.expires_at_ms.is_some_and(|at| at <= now_ms))
            .take(limit)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Keys under `prefix` (every key when it is empty or `/`), in order.
    pub fn kv_list<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a KvEntry)> {
        let start = if prefix == "/" { "" } else { prefix };
        self.kv
            .range(start.to_string()..)
            .take_while(move |(k, _)| k.starts_with(start))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Write;

    use super::*;
    use crate::machine::{AgentRegistration, Resources};

    fn reg(n: u8) -> AgentRegistration {
        AgentRegistration {
            id: MachineId(format!("{n:0>32}")),
            hostname: format!("m{n}"),
            ip: format!("127.0.0.{}", 100 + n),
            agent_port: 5051,
            resources: Resources {
                cpus: 2.0,
                mem_mb: 1024,
                disk_mb: 4096,
                ports: vec![(31000, 32000)],
            },
            attributes: BTreeMap::from([("role".into(), "web".into())]),
            server_id: Some(n as u64),
            version: "0.1.0".into(),
        }
    }

    fn id(n: u8) -> MachineId {
        MachineId(format!("{n:0>32}"))
    }

    fn set(key: &str, value: &str, ttl_ms: Option<u64>) -> Command {
        Command::KvSet {
            key: key.into(),
            value: value.into(),
            ttl_ms,
        }
    }

    /// Renders the state compactly so cases can state it as text.
    fn dump(s: &State) -> String {
        let mut out = String::new();
        for (id, a) in &s.agents {
            let _ = write!(
                out,
                "agent {} {:?} reg={} rereg={} unreachable={:?};",
                &id.0[30..],
                a.status,
                a.registered_at_ms,
                a.reregistered_at_ms,
                a.unreachable_since_ms
            );
        }
        for (k, e) in &s.kv {
            let _ = write!(
                out,
                "kv {k}={} c={} m={} exp={:?};",
                e.value, e.create_revision, e.mod_revision, e.expires_at_ms
            );
        }
        out
    }

    /// Applies `setup` (revisions 1..), then `cmd` at time `now`, and
    /// compares response, events and the resulting state.
    fn check(setup: &[(u64, Command)], now: u64, cmd: Command, want: &str) {
        let mut s = State::default();
        for (t, c) in setup {
            s.apply(&Request {
                now_ms: *t,
                command: c.clone(),
            });
        }
        let req = Request {
            now_ms: now,
            command: cmd,
        };
        let (resp, events) = s.apply(&req);
        let got = format!("{resp:?} | {events:?} | {}", dump(&s));
        assert_eq!(got, want, "\n got: {got}\nwant: {want}");
        assert_eq!(s.revision, setup.len() as u64 + 1);

        // Determinism: the same log replayed gives the same state.
        let mut again = State::default();
        for (t, c) in setup
            .iter()
            .chain(std::iter::once(&(now, req.command.clone())))
        {
            again.apply(&Request {
                now_ms: *t,
                command: c.clone(),
            });
        }
        assert_eq!(again, s, "replay differs");
    }

    #[test]
    fn register_agent() {
        check(
            &[],
            10,
            Command::RegisterAgent(reg(1)),
            r#"AgentRegistered { id: MachineId("00000000000000000000000000000001"), reregistered: false } | [AgentAdmitted { id: MachineId("00000000000000000000000000000001") }] | agent 01 Active reg=10 rereg=10 unreachable=None;"#,
        );
        // Re-registration keeps the first registration time and clears unreachability.
        check(
            &[
                (10, Command::RegisterAgent(reg(1))),
                (
                    20,
                    Command::MarkAgentUnreachable {
                        id: id(1),
                        reason: "r".into(),
                    },
                ),
            ],
            30,
            Command::RegisterAgent(reg(1)),
            r#"AgentRegistered { id: MachineId("00000000000000000000000000000001"), reregistered: true } | [AgentReregistered { id: MachineId("00000000000000000000000000000001") }] | agent 01 Active reg=10 rereg=30 unreachable=None;"#,
        );
    }

    #[test]
    fn mark_agent_unreachable() {
        check(
            &[(10, Command::RegisterAgent(reg(1)))],
            20,
            Command::MarkAgentUnreachable {
                id: id(1),
                reason: "missed 5 heartbeats".into(),
            },
            r#"Done | [AgentUnreachable { id: MachineId("00000000000000000000000000000001") }] | agent 01 Unreachable reg=10 rereg=10 unreachable=Some(20);"#,
        );
        // Already unreachable: no second event, the first time stays.
        check(
            &[
                (10, Command::RegisterAgent(reg(1))),
                (
                    20,
                    Command::MarkAgentUnreachable {
                        id: id(1),
                        reason: "r".into(),
                    },
                ),
            ],
            30,
            Command::MarkAgentUnreachable {
                id: id(1),
                reason: "r".into(),
            },
            "Done | [] | agent 01 Unreachable reg=10 rereg=10 unreachable=Some(20);",
        );
        // Unknown agent: nothing happens.
        check(
            &[],
            30,
            Command::MarkAgentUnreachable {
                id: id(9),
                reason: "r".into(),
            },
            "Done | [] | ",
        );
    }

    #[test]
    fn remove_agent() {
        check(
            &[
                (10, Command::RegisterAgent(reg(1))),
                (10, Command::RegisterAgent(reg(2))),
            ],
            20,
            Command::RemoveAgent { id: id(1) },
            r#"Done | [AgentRemoved { id: MachineId("00000000000000000000000000000001") }] | agent 02 Active reg=10 rereg=10 unreachable=None;"#,
        );
        check(
            &[],
            20,
            Command::RemoveAgent { id: id(1) },
            r#"Refused { reason: "no machine 00000000000000000000000000000001 in the cluster" } | [] | "#,
        );
    }

    #[test]
    fn kv_set() {
        check(
            &[],
            100,
            set("/a", "1", None),
            r#"KvSet { revision: 1, prev: None } | [KvPut { key: "/a", entry: KvEntry { value: "1", create_revision: 1, mod_revision: 1, expires_at_ms: None } }] | kv /a=1 c=1 m=1 exp=None;"#,
        );
        // Overwrite keeps create_revision; a TTL is counted from the request's time.
        check(
            &[(100, set("/a", "1", None))],
            200,
            set("/a", "2", Some(5000)),
            r#"KvSet { revision: 2, prev: Some(KvEntry { value: "1", create_revision: 1, mod_revision: 1, expires_at_ms: None }) } | [KvPut { key: "/a", entry: KvEntry { value: "2", create_revision: 1, mod_revision: 2, expires_at_ms: Some(5200) } }] | kv /a=2 c=1 m=2 exp=Some(5200);"#,
        );
    }

    #[test]
    fn kv_delete() {
        check(
            &[(100, set("/a", "1", None)), (100, set("/b", "2", None))],
            200,
            Command::KvDelete { key: "/a".into() },
            r#"KvDeleted { revision: 3, prev: Some(KvEntry { value: "1", create_revision: 1, mod_revision: 1, expires_at_ms: None }) } | [KvDelete { key: "/a", revision: 3, expired: false }] | kv /b=2 c=2 m=2 exp=None;"#,
        );
        check(
            &[],
            200,
            Command::KvDelete { key: "/a".into() },
            "KvDeleted { revision: 1, prev: None } | [] | ",
        );
    }

    #[test]
    fn kv_expire() {
        // Due keys go; a key refreshed after the leader saw it due stays.
        check(
            &[
                (100, set("/due", "x", Some(100))),
                (100, set("/later", "y", Some(10_000))),
                (100, set("/plain", "z", None)),
            ],
            500,
            Command::KvExpire {
                keys: vec![
                    "/due".into(),
                    "/later".into(),
                    "/plain".into(),
                    "/gone".into(),
                ],
            },
            r#"KvExpired { keys: ["/due"] } | [KvDelete { key: "/due", revision: 4, expired: true }] | kv /later=y c=2 m=2 exp=Some(10100);kv /plain=z c=3 m=3 exp=None;"#,
        );
    }

    #[test]
    fn queries() {
        let mut s = State::default();
        for (i, k) in ["/a/1", "/a/2", "/ab", "/b"].iter().enumerate() {
            s.apply(&Request {
                now_ms: 0,
                command: set(k, "v", Some(10 * i as u64)),
            });
        }
        let keys = |p| s.kv_list(p).map(|(k, _)| k.as_str()).collect::<Vec<_>>();
        assert_eq!(keys("/a/"), ["/a/1", "/a/2"]);
        assert_eq!(keys("/a"), ["/a/1", "/a/2", "/ab"]);
        assert_eq!(keys(""), ["/a/1", "/a/2", "/ab", "/b"]);
        assert_eq!(keys("/"), ["/a/1", "/a/2", "/ab", "/b"]);
        assert_eq!(s.expired_keys(15, 10), ["/a/1", "/a/2"]);
        assert_eq!(s.expired_keys(15, 1), ["/a/1"]);
    }

    #[test]
    fn commands_round_trip_as_stored() {
        // The log stores JSON; this pins the shape of one command so a silent
        // rename shows up here.
        let req = Request {
            now_ms: 7,
            command: set("/k", "v", Some(1)),
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(
            json,
            r#"{"now_ms":7,"command":{"KvSet":{"key":"/k","value":"v","ttl_ms":1}}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
    }
}
