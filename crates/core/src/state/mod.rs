//! The replicated state and its deterministic apply.
//!
//! `apply` never reads a clock, an RNG or the network: the time comes in the
//! [`Request`]. Every applied request gets the next revision (like etcd's
//! revision, it counts requests, not log entries: one log entry may carry a
//! batch of requests).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::app::{App, AppId, Deployment};
use crate::command::{Command, Request, Response};
use crate::event::Event;
use crate::framework::{Framework, FrameworkId};
use crate::kv::KvEntry;
use crate::machine::{Agent, AgentStatus, MachineId, Resources};
use crate::task::{StatusRecord, Task, TaskId, TaskState, MAX_STATUSES};

use crate::unit::UnitName;
use index::TaskIndex;
use units::{Unit, UnitRuntime};

/// Everything the store replicates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct State {
    pub agents: BTreeMap<MachineId, Agent>,
    pub kv: BTreeMap<String, KvEntry>,
    #[serde(default)]
    pub frameworks: BTreeMap<FrameworkId, Framework>,
    #[serde(default)]
    pub tasks: BTreeMap<TaskId, Task>,
    #[serde(default)]
    pub apps: BTreeMap<AppId, App>,
    /// Deployments in progress, by id.
    #[serde(default)]
    pub deployments: BTreeMap<String, Deployment>,
    /// Units (fleet's role), by name.
    #[serde(default)]
    pub units: BTreeMap<UnitName, Unit>,
    /// What each machine reports about the units it has.
    #[serde(default)]
    pub unit_states: BTreeMap<MachineId, BTreeMap<UnitName, UnitRuntime>>,
    /// Revision of the last applied request (0 before any); each applied
    /// request takes the next one.
    pub revision: u64,
    /// Indexes over the tasks (derived; see `index.rs`).
    #[serde(skip)]
    index: TaskIndex,
}

impl State {
    /// Applies one request as the next revision. Deterministic: same inputs,
    /// same state, response and events, on every server.
    pub fn apply(&mut self, req: &Request) -> (Response, Vec<Event>) {
        if !self.index.built {
            self.index = TaskIndex::build(self.tasks.values());
        }
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
                    self.unit_states.remove(id);
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
            Command::RegisterFramework { id, info } => match self.frameworks.get_mut(id) {
                Some(f) if !f.is_active() => Response::Refused {
                    reason: format!(
                        "framework {id} was removed; subscribe without an id to get a new one"
                    ),
                },
                Some(f) => {
                    f.info = info.clone();
                    f.reregistered_at_ms = now;
                    events.push(Event::FrameworkRegistered { id: id.clone() });
                    Response::FrameworkRegistered {
                        id: id.clone(),
                        reregistered: true,
                    }
                }
                None => {
                    self.frameworks.insert(
                        id.clone(),
                        Framework {
                            id: id.clone(),
                            info: info.clone(),
                            registered_at_ms: now,
                            reregistered_at_ms: now,
                            removed_at_ms: None,
                            removed_reason: None,
                        },
                    );
                    events.push(Event::FrameworkRegistered { id: id.clone() });
                    Response::FrameworkRegistered {
                        id: id.clone(),
                        reregistered: false,
                    }
                }
            },
            Command::RemoveFramework { id, reason } => match self.frameworks.get_mut(id) {
                Some(f) if f.is_active() => {
                    f.removed_at_ms = Some(now);
                    f.removed_reason = Some(reason.clone());
                    events.push(Event::FrameworkRemoved { id: id.clone() });
                    Response::Done
                }
                _ => Response::Refused {
                    reason: format!("no active framework {id}"),
                },
            },
            Command::LaunchTasks {
                framework,
                agent,
                tasks,
            } => match self.launch_refusal(framework, agent, tasks) {
                Some(reason) => Response::Refused { reason },
                None => {
                    for spec in tasks {
                        events.push(Event::TaskLaunched {
                            id: spec.id.clone(),
                            framework: framework.clone(),
                            agent: agent.clone(),
                        });
                        self.tasks.insert(
                            spec.id.clone(),
                            Task {
                                spec: spec.clone(),
                                framework: framework.clone(),
                                agent: agent.clone(),
                                state: TaskState::Staging,
                                statuses: vec![crate::task::StatusRecord {
                                    state: TaskState::Staging,
                                    at_ms: now,
                                    reason: None,
                                    message: None,
                                    revision: Some(rev),
                                }],
                                unacked: None,
                            },
                        );
                        if let Some(t) = self.tasks.get(&spec.id) {
                            self.index.observe(t);
                        }
                    }
                    Response::TasksLaunched { count: tasks.len() }
                }
            },
            Command::UpdateTask {
                id,
                from_agent,
                status,
            } => match self.tasks.get_mut(id) {
                None => Response::Refused {
                    reason: format!("no task {id}"),
                },
                Some(t) if from_agent.as_ref().is_some_and(|a| a != &t.agent) => {
                    Response::Refused {
                        reason: format!(
                            "task {id} runs on {}, not on the reporting machine",
                            t.agent
                        ),
                    }
                }
                Some(t) if t.state.is_terminal() || t.state == status.state => {
                    Response::TaskUpdated {
                        changed: false,
                        revision: None,
                    }
                }
                Some(t) => {
                    t.state = status.state;
                    t.statuses.push(StatusRecord {
                        revision: Some(rev),
                        ..status.clone()
                    });
                    t.unacked = Some(rev);
                    if t.statuses.len() > MAX_STATUSES {
                        // Keep the first (STAGING) and the most recent ones.
                        t.statuses.remove(1);
                    }
                    self.index.observe(t);
                    events.push(Event::TaskUpdated {
                        id: id.clone(),
                        framework: t.framework.clone(),
                        state: status.state,
                    });
                    Response::TaskUpdated {
                        changed: true,
                        revision: Some(rev),
                    }
                }
            },
            Command::AcknowledgeTask {
                framework,
                id,
                revision,
            } => match self.tasks.get_mut(id) {
                Some(t) if &t.framework == framework => {
                    if t.unacked == Some(*revision) {
                        t.unacked = None;
                        self.index.observe(t);
                    }
                    Response::Done
                }
                Some(_) => Response::Refused {
                    reason: format!("task {id} belongs to another framework"),
                },
                None => Response::Refused {
                    reason: format!("no task {id}"),
                },
            },
            Command::PutApp {
                spec,
                deployment,
                force,
            } => self.put_app(spec, deployment, *force, now, &mut events),
            Command::RestartApp {
                id,
                deployment,
                force,
            } => self.restart_app(id, deployment, *force, now, &mut events),
            Command::DeleteApp {
                id,
                deployment,
                force,
            } => self.delete_app(id, deployment, *force, now, &mut events),
            Command::PutUnit {
                name,
                options,
                desired,
            } => self.put_unit(name, options, *desired, now, rev, &mut events),
            Command::SetUnitDesired { name, desired } => {
                self.set_unit_desired(name, *desired, rev, &mut events)
            }
            Command::DestroyUnit { name } => self.destroy_unit(name, &mut events),
            Command::PlaceUnits { assign, unassign } => {
                self.place_units(assign, unassign, rev, &mut events)
            }
            Command::ReportUnits { machine, units } => {
                self.report_units(machine, units, &mut events)
            }
            Command::EndDeployment { id, outcome } => match self.deployments.remove(id) {
                Some(_) => {
                    events.push(Event::DeploymentEnded {
                        id: id.clone(),
                        outcome: outcome.clone(),
                    });
                    Response::Done
                }
                None => Response::Refused {
                    reason: format!("no deployment {id} in progress"),
                },
            },
        };
        (response, events)
    }

    /// Why a launch cannot be applied, if it cannot.
    fn launch_refusal(
        &self,
        framework: &FrameworkId,
        agent: &MachineId,
        tasks: &[crate::task::TaskSpec],
    ) -> Option<String> {
        if !self
            .frameworks
            .get(framework)
            .is_some_and(Framework::is_active)
        {
            return Some(format!("framework {framework} is not registered"));
        }
        if !self
            .agents
            .get(agent)
            .is_some_and(|a| a.status == AgentStatus::Active)
        {
            return Some(format!("machine {agent} is not an active agent"));
        }
        if tasks.is_empty() {
            return Some("no tasks to launch".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in tasks {
            if self.tasks.contains_key(&t.id) || !seen.insert(&t.id) {
                return Some(format!(
                    "task id {} is already in use; task ids must be unique",
                    t.id
                ));
            }
        }
        None
    }

    /// Live tasks on agents that have been unreachable for at least
    /// `timeout_ms` at `now_ms`: their frameworks are told they are lost.
    pub fn tasks_to_declare_lost(
        &self,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Vec<(TaskId, MachineId, u64)> {
        let mut out = Vec::new();
        for a in self.agents.values() {
            let Some(since) = a
                .unreachable_since_ms
                .filter(|_| a.status == AgentStatus::Unreachable)
            else {
                continue;
            };
            let away = now_ms.saturating_sub(since);
            if away < timeout_ms {
                continue;
            }
            for t in self.live_on_agent(&a.info.id) {
                out.push((t.spec.id.clone(), t.agent.clone(), away));
            }
        }
        out.sort();
        out
    }

    /// Tasks that have not ended on `agent`, in id order.
    pub fn live_on_agent<'a>(
        &'a self,
        agent: &'a MachineId,
    ) -> Box<dyn Iterator<Item = &'a Task> + 'a> {
        if !self.index.built {
            return Box::new(
                self.tasks
                    .values()
                    .filter(move |t| &t.agent == agent && !t.state.is_terminal()),
            );
        }
        Box::new(
            self.index
                .on_agent(agent)
                .into_iter()
                .flatten()
                .filter_map(|id| self.tasks.get(id)),
        )
    }

    /// True when `agent` reports `reported` (a live state) for a task the
    /// cluster already ended (e.g. declared LOST while the machine was
    /// away): the task must be killed there, so nothing runs twice.
    pub fn must_kill_reported(
        &self,
        task: &TaskId,
        agent: &MachineId,
        reported: TaskState,
    ) -> bool {
        !reported.is_terminal()
            && self
                .tasks
                .get(task)
                .is_some_and(|t| t.state.is_terminal() && &t.agent == agent)
    }

    /// Resources held on `agent` by tasks that have not ended.
    pub fn used_on_agent(&self, agent: &MachineId) -> Resources {
        if !self.index.built {
            return self
                .tasks
                .values()
                .filter(|t| &t.agent == agent && !t.state.is_terminal())
                .fold(Resources::default(), |acc, t| acc.plus(&t.spec.resources));
        }
        self.index.held_on_agent(agent)
    }

    /// Tasks that have not ended, in id order.
    pub fn live_tasks(&self) -> Box<dyn Iterator<Item = &Task> + '_> {
        if !self.index.built {
            return Box::new(self.tasks.values().filter(|t| !t.state.is_terminal()));
        }
        Box::new(self.index.live().iter().filter_map(|id| self.tasks.get(id)))
    }

    /// `framework`'s tasks that have not ended, in id order.
    pub fn live_of_framework<'a>(
        &'a self,
        framework: &'a FrameworkId,
    ) -> Box<dyn Iterator<Item = &'a Task> + 'a> {
        if !self.index.built {
            return Box::new(
                self.tasks
                    .values()
                    .filter(move |t| &t.framework == framework && !t.state.is_terminal()),
            );
        }
        Box::new(
            self.index
                .of_framework(framework)
                .into_iter()
                .flatten()
                .filter_map(|id| self.tasks.get(id)),
        )
    }

    /// Tasks whose latest status waits for its framework's
    /// acknowledgement, in id order.
    pub fn unacked_tasks(&self) -> Box<dyn Iterator<Item = &Task> + '_> {
        if !self.index.built {
            return Box::new(self.tasks.values().filter(|t| t.unacked.is_some()));
        }
        Box::new(
            self.index
                .unacked()
                .iter()
                .filter_map(|id| self.tasks.get(id)),
        )
    }

    /// Resources held by `framework`'s tasks that have not ended.
    pub fn allocated_to(&self, framework: &FrameworkId) -> Resources {
        if !self.index.built {
            return self
                .tasks
                .values()
                .filter(|t| &t.framework == framework && !t.state.is_terminal())
                .fold(Resources::default(), |acc, t| acc.plus(&t.spec.resources));
        }
        self.index.held_by_framework(framework)
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

mod apps;
mod index;
#[cfg(test)]
mod tests;
pub mod units;
#[cfg(test)]
mod units_tests;
