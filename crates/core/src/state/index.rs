//! Indexes over the tasks, kept by apply so the leader's per-tick
//! questions (what runs on this agent, what does this framework hold,
//! which tasks are live, which statuses wait for an acknowledgement) cost
//! what they touch, not every task ever launched. What each agent and
//! framework holds is a running sum, so an allocation round costs the
//! agents and frameworks, not their tasks. Derived data: never
//! serialized, never compared, rebuilt from the tasks when missing (after
//! a snapshot is loaded).

use std::collections::{BTreeMap, BTreeSet};

use crate::framework::FrameworkId;
use crate::machine::{MachineId, Resources};
use crate::task::{Task, TaskId};

/// Resources held by a set of live tasks, as a running sum that tasks join
/// and leave. Exact however many join and leave: cpus are counted in
/// millionths (Mesos itself keeps scalars to three decimals), ports with
/// how many tasks hold each (a framework's tasks on different agents may
/// hold the same port number).
#[derive(Clone, Default, Debug, PartialEq)]
pub struct Held {
    micro_cpus: i64,
    mem_mb: u64,
    disk_mb: u64,
    ports: BTreeMap<u16, u32>,
}

fn micro(cpus: f64) -> i64 {
    (cpus * 1e6).round() as i64
}

impl Held {
    fn join(&mut self, r: &Resources) {
        self.micro_cpus += micro(r.cpus);
        self.mem_mb += r.mem_mb;
        self.disk_mb += r.disk_mb;
        for &(lo, hi) in &r.ports {
            for p in lo..=hi {
                *self.ports.entry(p).or_default() += 1;
            }
        }
    }

    fn leave(&mut self, r: &Resources) {
        self.micro_cpus -= micro(r.cpus);
        self.mem_mb = self.mem_mb.saturating_sub(r.mem_mb);
        self.disk_mb = self.disk_mb.saturating_sub(r.disk_mb);
        for &(lo, hi) in &r.ports {
            for p in lo..=hi {
                if let Some(n) = self.ports.get_mut(&p) {
                    *n -= 1;
                    if *n == 0 {
                        self.ports.remove(&p);
                    }
                }
            }
        }
    }

    /// The sum as resources (ports as sorted, merged ranges).
    pub fn resources(&self) -> Resources {
        let mut ports: Vec<(u16, u16)> = Vec::new();
        for &p in self.ports.keys() {
            match ports.last_mut() {
                Some((_, hi)) if u32::from(*hi) + 1 == u32::from(p) => *hi = p,
                _ => ports.push((p, p)),
            }
        }
        Resources {
            cpus: self.micro_cpus.max(0) as f64 / 1e6,
            mem_mb: self.mem_mb,
            disk_mb: self.disk_mb,
            ports,
        }
    }
}

#[derive(Clone, Default)]
pub struct TaskIndex {
    /// False until built from the tasks; readers then scan instead.
    pub(super) built: bool,
    live: BTreeSet<TaskId>,
    by_agent: BTreeMap<MachineId, BTreeSet<TaskId>>,
    by_framework: BTreeMap<FrameworkId, BTreeSet<TaskId>>,
    unacked: BTreeSet<TaskId>,
    held_on_agent: BTreeMap<MachineId, Held>,
    held_by_framework: BTreeMap<FrameworkId, Held>,
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
            if self.live.remove(id) {
                let r = &t.spec.resources;
                if let Some(h) = self.held_on_agent.get_mut(&t.agent) {
                    h.leave(r);
                }
                if let Some(h) = self.held_by_framework.get_mut(&t.framework) {
                    h.leave(r);
                }
            }
            if let Some(s) = self.by_agent.get_mut(&t.agent) {
                s.remove(id);
            }
            if let Some(s) = self.by_framework.get_mut(&t.framework) {
                s.remove(id);
            }
        } else {
            if self.live.insert(id.clone()) {
                let r = &t.spec.resources;
                self.held_on_agent
                    .entry(t.agent.clone())
                    .or_default()
                    .join(r);
                self.held_by_framework
                    .entry(t.framework.clone())
                    .or_default()
                    .join(r);
            }
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

    /// What the live tasks on `agent` hold.
    pub fn held_on_agent(&self, agent: &MachineId) -> Resources {
        self.held_on_agent
            .get(agent)
            .map(Held::resources)
            .unwrap_or_default()
    }

    /// What `fw`'s live tasks hold.
    pub fn held_by_framework(&self, fw: &FrameworkId) -> Resources {
        self.held_by_framework
            .get(fw)
            .map(Held::resources)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Held;
    use crate::machine::Resources;

    fn r(cpus: f64, ports: &[(u16, u16)]) -> Resources {
        Resources {
            cpus,
            mem_mb: 32,
            disk_mb: 0,
            ports: ports.to_vec(),
        }
    }

    #[test]
    fn a_running_sum_does_not_drift() {
        let mut h = Held::default();
        let t = r(0.1, &[]);
        for _ in 0..10_000 {
            h.join(&t);
        }
        for _ in 0..9_999 {
            h.leave(&t);
        }
        assert_eq!(h.resources(), r(0.1, &[]));
        h.leave(&t);
        assert!(h.resources().is_empty());
    }

    #[test]
    fn a_port_held_twice_stays_held_until_both_leave() {
        // One framework, the same port on two agents.
        let mut h = Held::default();
        h.join(&r(1.0, &[(31000, 31001)]));
        h.join(&r(1.0, &[(31000, 31000), (31005, 31005)]));
        assert_eq!(h.resources().ports, [(31000, 31001), (31005, 31005)]);
        h.leave(&r(1.0, &[(31000, 31001)]));
        assert_eq!(h.resources().ports, [(31000, 31000), (31005, 31005)]);
        assert_eq!(h.resources().cpus, 1.0);
    }
}
