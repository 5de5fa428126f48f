//! Why a unit fits no machine, in one sentence: each machine with the
//! first rule that excluded it, e.g. `no machine fits web@2.service:
//! 3f2a1b9c... has web@1.service (Conflicts=web@*.service); 9c1e22aa...
//! lacks MachineMetadata region=us-east`. With more than
//! [`LIST_EACH_UP_TO`] machines, machines excluded by the same rule are
//! counted together, the largest group first, with one example each.
//!
//! Pure, and only run for units that end up nowhere.

use super::{Peer, Rule, Work};

/// Up to this many machines, each is named on its own.
pub const LIST_EACH_UP_TO: usize = 5;

/// What machines excluded by the same rule have in common.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class<'a> {
    MachineId,
    Metadata(&'a str),
    MachineOf(Peer<'a>),
    Conflicts(usize),
    ConflictedBy(usize),
    ReplacedBy(usize),
    AlreadyMoved(usize),
}

fn class(rule: Rule<'_>) -> Class<'_> {
    match rule {
        Rule::MachineId => Class::MachineId,
        Rule::Metadata(k) => Class::Metadata(k),
        Rule::MachineOf(p) => Class::MachineOf(p),
        Rule::Conflicts(p) => Class::Conflicts(p),
        Rule::ConflictedBy(p) => Class::ConflictedBy(p),
        Rule::ReplacedBy(p, _) => Class::ReplacedBy(p),
        Rule::AlreadyMoved(p, _) => Class::AlreadyMoved(p),
    }
}

impl Work<'_, '_> {
    /// The sentence for `u`, which fits no machine as things stand.
    pub(super) fn explain(&self, u: usize) -> String {
        let inp = self.input;
        let name = inp.name(u);
        if inp.machines.is_empty() {
            return format!("no machine fits {name}: there are no live machines");
        }
        let excluded: Vec<(usize, Rule)> = (0..inp.machines.len())
            .filter_map(|m| self.check(u, m).map(|r| (m, r)))
            .collect();
        self.sentence(u, &excluded)
    }

    /// The sentence from each machine's first rule against `u`, in machine
    /// order.
    pub(super) fn sentence(&self, u: usize, excluded: &[(usize, Rule)]) -> String {
        let inp = self.input;
        let name = inp.name(u);
        let one =
            |m: usize, r: Rule| format!("{} {}", inp.machines[m].id.short(), self.detail(u, m, r));
        let parts: Vec<String> = if inp.machines.len() <= LIST_EACH_UP_TO {
            excluded.iter().map(|&(m, r)| one(m, r)).collect()
        } else {
            // Groups in order of first appearance, then largest first.
            let mut groups: Vec<(Class, Vec<(usize, Rule)>)> = Vec::new();
            for &(m, r) in excluded {
                match groups.iter_mut().find(|(c, _)| *c == class(r)) {
                    Some((_, list)) => list.push((m, r)),
                    None => groups.push((class(r), vec![(m, r)])),
                }
            }
            groups.sort_by_key(|(_, list)| std::cmp::Reverse(list.len()));
            groups
                .iter()
                .map(|(_, list)| match list.as_slice() {
                    [(m, r)] => one(*m, *r),
                    [(m, r), ..] => self.group(u, list.len(), *m, *r),
                    [] => String::new(),
                })
                .collect()
        };
        if parts.is_empty() {
            // Not reached: a unit is only explained when no machine fits.
            return format!("no machine fits {name}");
        }
        format!("no machine fits {name}: {}", parts.join("; "))
    }

    /// The metadata `u` asks for under `key`: `region=a or region=b`.
    fn wanted(&self, u: usize, key: &str) -> String {
        let values = self.input.units[u]
            .req
            .metadata
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let alternatives: Vec<String> = values.iter().map(|v| format!("{key}={v}")).collect();
        alternatives.join(" or ")
    }

    /// A unit on `m` that pattern `p` matches (for `Conflicts`), or one that
    /// owns `p` among its Conflicts (for `ConflictedBy`).
    fn culprit(&self, u: usize, m: usize, p: usize, owner: bool) -> String {
        let inp = self.input;
        let h = &self.hosts[m];
        let found = if owner {
            h.units
                .iter()
                .copied()
                .find(|&e| e != u && inp.conflicts[e].contains(&p))
        } else {
            h.units
                .range(inp.patterns[p].range.clone())
                .copied()
                .find(|&e| e != u && inp.matched_by[e].contains(&p))
        };
        found.map_or_else(|| "a unit".to_owned(), |e| inp.name(e).to_string())
    }

    /// What one machine has or lacks, after its short id.
    fn detail(&self, u: usize, m: usize, rule: Rule) -> String {
        let inp = self.input;
        let name = inp.name(u);
        let pattern = |p: usize| inp.patterns[p].glob.as_str();
        match rule {
            Rule::MachineId => format!(
                "is not MachineID={}",
                inp.units[u].req.machine_id.as_deref().unwrap_or_default()
            ),
            Rule::Metadata(key) => {
                let has = inp.machines[m]
                    .metadata
                    .get(key)
                    .map(|v| format!(" (it has {key}={v})"))
                    .unwrap_or_default();
                format!("lacks MachineMetadata {}{has}", self.wanted(u, key))
            }
            Rule::MachineOf(peer) => {
                let t = peer_name(self, peer);
                format!("does not host {t} (MachineOf={t})")
            }
            Rule::Conflicts(p) => format!(
                "has {} (Conflicts={})",
                self.culprit(u, m, p, false),
                pattern(p)
            ),
            Rule::ConflictedBy(p) => format!(
                "has {}, whose Conflicts={} matches {name}",
                self.culprit(u, m, p, true),
                pattern(p)
            ),
            Rule::ReplacedBy(p, e) => format!(
                "has {}, whose Replaces={} matches {name}",
                inp.name(e),
                pattern(p)
            ),
            Rule::AlreadyMoved(p, e) => format!(
                "has {} (Replaces={}), which was already moved once in this plan",
                inp.name(e),
                pattern(p)
            ),
        }
    }

    /// `n` machines excluded like `m` was by `rule`.
    fn group(&self, u: usize, n: usize, m: usize, rule: Rule) -> String {
        let inp = self.input;
        let name = inp.name(u);
        let pattern = |p: usize| inp.patterns[p].glob.as_str();
        let eg = || {
            let who = match rule {
                Rule::Conflicts(p) => self.culprit(u, m, p, false),
                Rule::ConflictedBy(p) => self.culprit(u, m, p, true),
                Rule::ReplacedBy(_, e) | Rule::AlreadyMoved(_, e) => inp.name(e).to_string(),
                _ => String::new(),
            };
            format!(" (e.g. {} has {who})", inp.machines[m].id.short())
        };
        match rule {
            Rule::MachineId => format!(
                "{n} machines are not MachineID={}",
                inp.units[u].req.machine_id.as_deref().unwrap_or_default()
            ),
            Rule::Metadata(key) => {
                format!("{n} machines lack MachineMetadata {}", self.wanted(u, key))
            }
            Rule::MachineOf(peer) => {
                let t = peer_name(self, peer);
                format!("{n} machines do not host {t} (MachineOf={t})")
            }
            Rule::Conflicts(p) => format!(
                "{n} machines have a unit matching Conflicts={}{}",
                pattern(p),
                eg()
            ),
            Rule::ConflictedBy(p) => format!(
                "{n} machines have a unit whose Conflicts={} matches {name}{}",
                pattern(p),
                eg()
            ),
            Rule::ReplacedBy(p, _) => format!(
                "{n} machines have a unit whose Replaces={} matches {name}{}",
                pattern(p),
                eg()
            ),
            Rule::AlreadyMoved(p, _) => format!(
                "{n} machines have a unit matching Replaces={} that was already moved once in \
                 this plan",
                pattern(p)
            ),
        }
    }
}

fn peer_name<'a>(work: &Work<'_, 'a>, peer: Peer<'a>) -> &'a str {
    match peer {
        Peer::Unit(t) => work.input.name(t).as_str(),
        Peer::Missing(t) => t.as_str(),
    }
}
