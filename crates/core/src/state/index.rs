//! Indexes over the tasks, kept by apply so the leader's per-tick
//! questions (what runs on this agent, what does this framework hold,
//! which tasks are live, which statuses wait for an acknowledgement) cost
//! what they touch, not every task ever launched. Derived data: never
//! serialized, never compared, rebuilt from the tasks when missing (after
//! a snapshot is loaded).

use std::collections::{BTreeMap, BTreeSet};

use crate::framework::FrameworkId;
use crate::machine::MachineId;
use crate::task::{Task, TaskId};

#[derive(Clone, Default)]
pub struct TaskIndex {
    /// False until built from the tasks; readers then scan instead.
    pub(super) built: bool,
    live: BTreeSet<TaskId>,
    by_agent: BTreeMap<MachineId, BTreeSet<TaskId>>,
    by_framework: BTreeMap<FrameworkId, BTreeSet<TaskId>>,
    unacked: BTreeSet<TaskId>,
}

impl std::fmt::Debug for TaskIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TaskIndex(built: {}, live: {})",
            self.built,
            self.live.len()
        )
    }
}

/// Derived data: two states with the same tasks are equal whatever their
/// indexes hold.
impl PartialEq for TaskIndex {
    fn eq(&self, _: &TaskIndex) -> bool {
        true
    }
}

impl TaskIndex {
    /// The index of `tasks`.
    pub fn build<'a>(tasks: impl Iterator<Item = &'a Task>) -> TaskIndex {
        let mut ix = TaskIndex {
            built: true,
            ..TaskIndex::default()
        };
        for t in tasks {
            ix.observe(t);
        }
        ix
    }

    /// Brings the index in line with `t` (just inserted or changed).
    pub fn observe(&mut self, t: &Task) {
        let id = &t.spec.id;
        if t.state.is_terminal() {
            self.live.remove(id);
            if let Some(s) = self.by_agent.get_mut(&t.agent) {
                s.remove(id);
            }
            if let Some(s) = self.by_framework.get_mut(&t.framework) {
                s.remove(id);
            }
        } else {
            self.live.insert(id.clone());
            self.by_agent
                .entry(t.agent.clone())
                .or_default()
                .insert(id.clone());
            self.by_framework
                .entry(t.framework.clone())
                .or_default()
                .insert(id.clone());
        }
        if t.unacked.is_some() {
            self.unacked.insert(id.clone());
        } else {
            self.unacked.remove(id);
        }
    }

    pub fn live(&self) -> &BTreeSet<TaskId> {
        &self.live
    }

    pub fn on_agent(&self, agent: &MachineId) -> Option<&BTreeSet<TaskId>> {
        self.by_agent.get(agent)
    }

    pub fn of_framework(&self, fw: &FrameworkId) -> Option<&BTreeSet<TaskId>> {
        self.by_framework.get(fw)
    }

    pub fn unacked(&self) -> &BTreeSet<TaskId> {
        &self.unacked
    }
}
