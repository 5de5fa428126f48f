//! The unit engine's placement decision: which live machine each unit
//! runs on, by its `[X-Fleet]` rules and fleet's least-loaded choice, and
//! where a global unit runs.
//!
//! Pure: no IO, no clock, no randomness. The engine hands in the units
//! that want a machine, the live machines and the current assignment; it
//! gets a [`Plan`] back and commits it. Nothing is remembered between calls.
//!
//! Invariants:
//! - Deterministic: the same input (in any order) gives the same plan.
//!   Units are decided in `MachineOf` dependency order, ties by name;
//!   machines are tried by (units placed, id).
//! - Stable: a unit whose machine is live and still satisfies its rules
//!   stays there, even if another machine is now less loaded.
//! - Every unit the plan leaves placed satisfies its rules against every
//!   other unit on its machine: `MachineID`, `MachineMetadata`, `MachineOf`
//!   (on its targets' machine), `Conflicts` both ways, and no non-circular
//!   `Replaces` of a neighbour matching it.
//! - A unit without a machine gets one sentence saying, per machine (or per
//!   group of machines with counts, when there are many), the rule that
//!   excluded it.
//! - Cost: each unit's globs are compiled once and matched against the
//!   unit names once (only names sharing a pattern's literal prefix are
//!   tried); a machine keeps counts per pattern, so checking a unit against
//!   a machine costs a few map lookups, whatever the machine holds.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use crate::machine::MachineId;

use super::fleet::Requirements;
use super::glob::Glob;
use super::name::UnitName;

mod explain;
#[cfg(test)]
mod tests;

/// A live machine as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub id: MachineId,
    pub metadata: BTreeMap<String, String>,
}

/// A unit that wants a machine: desired state loaded or launched, not
/// global, not a template. (Global units and templates handed in anyway
/// are left out of the plan, and lose any assignment they have.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub name: UnitName,
    pub req: Requirements,
}

/// What to change. Applying it: remove the machine of every unit in
/// `unassign`, set the machine of every unit in `assign`. The two lists
/// never share a unit, so the order does not matter; a unit that moves is
/// only in `assign`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Units placed on a machine they are not on now (new or moved), by name.
    pub assign: Vec<(UnitName, MachineId)>,
    /// Units that lose their machine and get none: no longer wanted
    /// (inactive, destroyed, global, template) or no longer placeable.
    pub unassign: Vec<UnitName>,
    /// Every unit that wants a machine and has none after this plan, with
    /// the sentence saying why.
    pub unplaceable: BTreeMap<UnitName, String>,
}

impl Plan {
    /// True if the plan changes no assignment.
    pub fn is_empty(&self) -> bool {
        self.assign.is_empty() && self.unassign.is_empty()
    }
}

/// Places `units` on `machines` (the live ones), starting from `current`.
///
/// Units already on a live machine that still satisfies their rules stay
/// there. The others are placed in `MachineOf` order (a unit after the
/// units it follows, so a target placed in this plan is followed at once),
/// each on the eligible machine with the fewest units, ties to the lowest
/// id. A unit landing next to units its `Replaces` matches moves them:
/// they are placed again elsewhere, with whatever follows them (each at
/// most once per plan, so replacement chains end). A unit refused because
/// of a unit that a later `Replaces` moves away is placed by the next plan.
pub fn plan(
    units: &[Placed],
    machines: &[Machine],
    current: &BTreeMap<UnitName, MachineId>,
) -> Plan {
    let input = Input::new(units, machines);
    let mut work = Work::new(&input);
    let n = input.units.len();
    let mut reasons: Vec<Option<String>> = vec![None; n];

    // Units caught in a MachineOf cycle can never be placed.
    let mut order: Vec<usize> = (0..n).filter(|&u| input.rank[u].is_some()).collect();
    order.sort_by_key(|&u| input.rank[u]);
    for u in (0..n).filter(|&u| input.rank[u].is_none()) {
        reasons[u] = Some(input.cycle_reason(u));
    }

    // Keep what still fits where it is.
    let machine_index: HashMap<&MachineId, usize> = input
        .machines
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.id, i))
        .collect();
    let mut current_on: Vec<Vec<usize>> = vec![Vec::new(); input.machines.len()];
    let mut was: Vec<Option<usize>> = vec![None; n];
    for (u, p) in input.units.iter().enumerate() {
        if let Some(m) = current.get(&p.name).and_then(|id| machine_index.get(id)) {
            was[u] = Some(*m);
            current_on[*m].push(u);
        }
    }
    for &u in &order {
        if let Some(m) = was[u] {
            if !input.replaced_here(u, m, &current_on[m]) && work.check(u, m).is_none() {
                work.host(u, m);
            }
        }
    }

    // Place the rest, in dependency order; units moved by Replaces come back.
    let mut heap: BinaryHeap<Reverse<(usize, usize)>> = BinaryHeap::new();
    let mut queued = vec![false; n];
    for &u in &order {
        if work.host_of[u].is_none() {
            heap.push(Reverse((input.rank[u].unwrap_or(usize::MAX), u)));
            queued[u] = true;
        }
    }
    while let Some(Reverse((_, u))) = heap.pop() {
        queued[u] = false;
        if work.host_of[u].is_some() {
            continue;
        }
        match work.choose(u) {
            Ok(m) => {
                reasons[u] = None;
                work.host(u, m);
                for r in work.replaced_by_landing(u, m) {
                    work.moved[r] = true;
                    for e in work.evict(r) {
                        if !queued[e] {
                            queued[e] = true;
                            heap.push(Reverse((input.rank[e].unwrap_or(usize::MAX), e)));
                        }
                    }
                }
            }
            Err(reason) => reasons[u] = Some(reason),
        }
    }

    // The difference from `current`.
    let mut out = Plan::default();
    for (u, p) in input.units.iter().enumerate() {
        let now = current.get(&p.name);
        let next = work.host_of[u].map(|m| &input.machines[m].id);
        match (now, next) {
            (Some(a), Some(b)) if a == b => {}
            (_, Some(b)) => out.assign.push((p.name.clone(), b.clone())),
            (Some(_), None) => out.unassign.push(p.name.clone()),
            (None, None) => {}
        }
        if next.is_none() {
            let reason = reasons[u].take().unwrap_or_else(|| work.explain(u));
            out.unplaceable.insert(p.name.clone(), reason);
        }
    }
    for name in current.keys() {
        if !input.index.contains_key(name.as_str()) {
            out.unassign.push(name.clone());
        }
    }
    out.unassign.sort();
    out
}

/// The machines a global unit runs on: every machine (by id) that has its
/// `MachineMetadata` (and `MachineID`, if one were given) and holds no unit
/// its `Conflicts` match. `placed` is where the other units run.
///
/// This only knows the other units' names, so their own `Conflicts` are not
/// checked; [`global_targets_with`] checks both ways, as fleet does.
pub fn global_targets(
    name: &UnitName,
    req: &Requirements,
    machines: &[Machine],
    placed: &BTreeMap<UnitName, MachineId>,
) -> Vec<MachineId> {
    global_targets_with(name, req, machines, &[], placed)
}

/// [`global_targets`], with `Conflicts` checked both ways: a machine is
/// also refused when a unit placed there has a `Conflicts` glob matching
/// this unit. The placed units' requirements come from `units` (a placed
/// unit missing there is checked one way only).
pub fn global_targets_with(
    name: &UnitName,
    req: &Requirements,
    machines: &[Machine],
    units: &[Placed],
    placed: &BTreeMap<UnitName, MachineId>,
) -> Vec<MachineId> {
    let own: Vec<Glob> = req
        .conflicts
        .iter()
        .filter_map(|p| Glob::new(p).ok())
        .collect();
    let reqs: HashMap<&str, &Requirements> =
        units.iter().map(|p| (p.name.as_str(), &p.req)).collect();
    let mut on: HashMap<&MachineId, Vec<&UnitName>> = HashMap::new();
    for (other, m) in placed {
        if other != name {
            on.entry(m).or_default().push(other);
        }
    }
    // Whether another unit's pattern matches this one, worked out once.
    let mut theirs: HashMap<&str, bool> = HashMap::new();
    let mut out = Vec::new();
    for m in machines {
        if static_rule(req, m).is_some() {
            continue;
        }
        let mut fits = true;
        for other in on.get(&m.id).map(Vec::as_slice).unwrap_or_default() {
            if own.iter().any(|g| g.matches(other.as_str())) {
                fits = false;
                break;
            }
            let their_patterns = reqs
                .get(other.as_str())
                .map(|r| r.conflicts.as_slice())
                .unwrap_or_default();
            for p in their_patterns {
                let hit = *theirs
                    .entry(p.as_str())
                    .or_insert_with(|| super::glob::glob_match(p, name.as_str()));
                if hit {
                    fits = false;
                    break;
                }
            }
            if !fits {
                break;
            }
        }
        if fits {
            out.push(m.id.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// fleet's `MatchID`: the full id, or the 8-character short id.
fn id_matches(want: &str, id: &MachineId) -> bool {
    id.0 == want || id.0.get(..8).unwrap_or(&id.0) == want
}

/// The rules that depend on the machine alone: `MachineID`, then
/// `MachineMetadata` (every key present, with one of its values).
fn static_rule<'a>(req: &'a Requirements, machine: &Machine) -> Option<Rule<'a>> {
    if let Some(want) = &req.machine_id {
        if !id_matches(want, &machine.id) {
            return Some(Rule::MachineId);
        }
    }
    for (key, values) in &req.metadata {
        match machine.metadata.get(key) {
            Some(v) if values.contains(v) => {}
            _ => return Some(Rule::Metadata(key)),
        }
    }
    None
}

/// An interned pattern (a `Conflicts` or `Replaces` glob) and the indexes
/// of the unit names that share its literal prefix.
type Pid = usize;

struct Pattern {
    glob: Glob,
    range: Range<usize>,
}

/// A `MachineOf` target: a unit of this plan, or a name no unit here has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer<'a> {
    Unit(usize),
    Missing(&'a UnitName),
}

/// Why a unit may not run on a machine, cheap to make: the sentence is
/// written only for units that end up nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule<'a> {
    MachineId,
    /// The key it lacks, or holds with another value.
    Metadata(&'a str),
    /// A target it must follow is not there.
    MachineOf(Peer<'a>),
    /// Its own `Conflicts` pattern matches a unit there.
    Conflicts(Pid),
    /// A unit there has a `Conflicts` pattern matching it.
    ConflictedBy(Pid),
    /// This unit there has a `Replaces` pattern matching it.
    ReplacedBy(Pid, usize),
    /// Its `Replaces` matches this unit there, which was already moved once.
    AlreadyMoved(Pid, usize),
}

/// The plan's input, sorted, deduplicated and indexed.
struct Input<'a> {
    units: Vec<&'a Placed>,
    index: HashMap<&'a str, usize>,
    machines: Vec<&'a Machine>,
    patterns: Vec<Pattern>,
    conflicts: Vec<Vec<Pid>>,
    replaces: Vec<Vec<Pid>>,
    /// Conflicts patterns (of any unit) matching each unit.
    conflicted_by: Vec<Vec<Pid>>,
    /// Replaces patterns (of any unit) matching each unit.
    replaced_by: Vec<Vec<Pid>>,
    /// Every pattern matching each unit.
    matched_by: Vec<Vec<Pid>>,
    peers: Vec<Vec<Peer<'a>>>,
    followers: Vec<Vec<usize>>,
    /// Position in MachineOf dependency order; `None` inside or behind a cycle.
    rank: Vec<Option<usize>>,
}

impl<'a> Input<'a> {
    fn new(units: &'a [Placed], machines: &'a [Machine]) -> Input<'a> {
        let mut ms: Vec<&Machine> = machines.iter().collect();
        ms.sort_by(|a, b| a.id.cmp(&b.id));
        ms.dedup_by(|a, b| a.id == b.id);
        let mut us: Vec<&Placed> = units
            .iter()
            .filter(|p| !p.req.global && !p.name.is_template())
            .collect();
        us.sort_by(|a, b| a.name.cmp(&b.name));
        us.dedup_by(|a, b| a.name == b.name);
        let n = us.len();
        let names: Vec<&str> = us.iter().map(|p| p.name.as_str()).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, s)| (*s, i)).collect();

        let mut patterns: Vec<Pattern> = Vec::new();
        let mut interned: HashMap<&str, Pid> = HashMap::new();
        let mut used_as = Vec::new(); // (conflict, replace) per pattern
        let mut intern = |text: &'a str, conflict: bool| -> Option<Pid> {
            let pid = match interned.get(text) {
                Some(&pid) => pid,
                None => {
                    // A bad pattern matches nothing (Requirements refuses them).
                    let glob = Glob::new(text).ok()?;
                    let prefix = glob.literal_prefix();
                    let lo = names.partition_point(|s| *s < prefix.as_str());
                    let hi =
                        names.partition_point(|s| *s < prefix.as_str() || s.starts_with(&prefix));
                    patterns.push(Pattern {
                        glob,
                        range: lo..hi.max(lo),
                    });
                    used_as.push((false, false));
                    interned.insert(text, patterns.len() - 1);
                    patterns.len() - 1
                }
            };
            if conflict {
                used_as[pid].0 = true;
            } else {
                used_as[pid].1 = true;
            }
            Some(pid)
        };
        let mut pids = |list: &'a [String], conflict: bool| -> Vec<Pid> {
            let mut v: Vec<Pid> = list.iter().filter_map(|p| intern(p, conflict)).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let conflicts: Vec<Vec<Pid>> = us.iter().map(|p| pids(&p.req.conflicts, true)).collect();
        let replaces: Vec<Vec<Pid>> = us.iter().map(|p| pids(&p.req.replaces, false)).collect();

        let mut conflicted_by = vec![Vec::new(); n];
        let mut replaced_by = vec![Vec::new(); n];
        let mut matched_by = vec![Vec::new(); n];
        for (pid, pat) in patterns.iter().enumerate() {
            for u in pat.range.clone() {
                if pat.glob.matches(names[u]) {
                    matched_by[u].push(pid);
                    if used_as[pid].0 {
                        conflicted_by[u].push(pid);
                    }
                    if used_as[pid].1 {
                        replaced_by[u].push(pid);
                    }
                }
            }
        }

        let mut peers: Vec<Vec<Peer>> = Vec::with_capacity(n);
        let mut followers = vec![Vec::new(); n];
        for (u, p) in us.iter().enumerate() {
            let mut list: Vec<Peer> = Vec::new();
            for t in &p.req.machine_of {
                let peer = match index.get(t.as_str()) {
                    Some(&i) => Peer::Unit(i),
                    None => Peer::Missing(t),
                };
                if !list.contains(&peer) {
                    list.push(peer);
                    if let Peer::Unit(i) = peer {
                        followers[i].push(u);
                    }
                }
            }
            peers.push(list);
        }

        // Kahn's algorithm, smallest name first among the ready.
        let mut waiting: Vec<usize> = peers
            .iter()
            .map(|l| l.iter().filter(|p| matches!(p, Peer::Unit(_))).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&u| waiting[u] == 0).map(Reverse).collect();
        let mut rank = vec![None; n];
        let mut next = 0;
        while let Some(Reverse(u)) = ready.pop() {
            rank[u] = Some(next);
            next += 1;
            for &f in &followers[u] {
                waiting[f] -= 1;
                if waiting[f] == 0 {
                    ready.push(Reverse(f));
                }
            }
        }

        Input {
            units: us,
            index,
            machines: ms,
            patterns,
            conflicts,
            replaces,
            conflicted_by,
            replaced_by,
            matched_by,
            peers,
            followers,
            rank,
        }
    }

    fn name(&self, u: usize) -> &'a UnitName {
        &self.units[u].name
    }

    /// True if one of `a`'s `Replaces` patterns matches `b`.
    fn replaces_unit(&self, a: usize, b: usize) -> bool {
        self.replaces[a]
            .iter()
            .any(|p| self.replaced_by[b].contains(p))
    }

    /// True if a unit now on `m` (that may stay there by the machine's own
    /// rules) replaces `u`, and `u` does not replace it back: then `u`
    /// moves even if it was there first.
    fn replaced_here(&self, u: usize, m: usize, now_on: &[usize]) -> bool {
        if self.replaced_by[u].is_empty() {
            return false;
        }
        now_on.iter().any(|&a| {
            a != u
                && self.replaces_unit(a, u)
                && !self.replaces_unit(u, a)
                && static_rule(&self.units[a].req, self.machines[m]).is_none()
        })
    }

    /// The sentence for a unit that is in, or behind, a MachineOf cycle.
    fn cycle_reason(&self, u: usize) -> String {
        let stuck = |v: usize| {
            self.peers[v].iter().find_map(|p| match p {
                Peer::Unit(t) if self.rank[*t].is_none() => Some(*t),
                _ => None,
            })
        };
        let name = self.name(u);
        let Some(first) = stuck(u) else {
            return format!("no machine fits {name}: its MachineOf targets cannot be placed");
        };
        let mut path = vec![u];
        let mut v = first;
        while !path.contains(&v) {
            path.push(v);
            match stuck(v) {
                Some(t) => v = t,
                None => break,
            }
        }
        if v == u {
            let chain: Vec<&str> = path.iter().map(|&i| self.name(i).as_str()).collect();
            format!(
                "no machine fits {name}: MachineOf forms a cycle ({} -> {name}); a unit cannot \
                 follow a unit that follows it",
                chain.join(" -> ")
            )
        } else {
            let t = self.name(first);
            format!(
                "no machine fits {name}: MachineOf={t}, but {t} cannot be placed either (it waits \
                 on a MachineOf cycle)"
            )
        }
    }
}

/// Hashes a pattern index with one multiplication: the per-machine counts
/// are looked up for every machine a unit is tried on, so SipHash's cost
/// would show. Not exposed to untrusted keys (indexes are ours).
#[derive(Default)]
struct PidHasher(u64);

impl Hasher for PidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Counts = HashMap<Pid, u32, BuildHasherDefault<PidHasher>>;

/// One machine's units and per-pattern counts.
#[derive(Default)]
struct Host {
    /// Unit indexes, so in name order.
    units: BTreeSet<usize>,
    /// How many units here each pattern matches.
    matched: Counts,
    /// How many units here have each pattern among their Conflicts.
    conflict_owners: Counts,
    /// How many units here have each pattern among their Replaces.
    replace_owners: Counts,
}

fn count(map: &Counts, p: Pid) -> u32 {
    if map.is_empty() {
        return 0;
    }
    map.get(&p).copied().unwrap_or(0)
}

fn bump(map: &mut Counts, pids: &[Pid], up: bool) {
    for &p in pids {
        if up {
            *map.entry(p).or_insert(0) += 1;
        } else if let Some(c) = map.get_mut(&p) {
            *c -= 1;
            if *c == 0 {
                map.remove(&p);
            }
        }
    }
}

/// The assignment being built.
struct Work<'i, 'a> {
    input: &'i Input<'a>,
    hosts: Vec<Host>,
    host_of: Vec<Option<usize>>,
    /// (units placed, machine index): the least-loaded machine first.
    load: BTreeSet<(usize, usize)>,
    /// Units already moved once by a Replaces in this plan.
    moved: Vec<bool>,
}

impl<'i, 'a> Work<'i, 'a> {
    fn new(input: &'i Input<'a>) -> Self {
        let m = input.machines.len();
        Work {
            input,
            hosts: (0..m).map(|_| Host::default()).collect(),
            host_of: vec![None; input.units.len()],
            load: (0..m).map(|i| (0, i)).collect(),
            moved: vec![false; input.units.len()],
        }
    }

    fn host(&mut self, u: usize, m: usize) {
        let inp = self.input;
        let h = &mut self.hosts[m];
        self.load.remove(&(h.units.len(), m));
        h.units.insert(u);
        self.load.insert((h.units.len(), m));
        bump(&mut h.matched, &inp.matched_by[u], true);
        bump(&mut h.conflict_owners, &inp.conflicts[u], true);
        bump(&mut h.replace_owners, &inp.replaces[u], true);
        self.host_of[u] = Some(m);
    }

    fn unhost(&mut self, u: usize) {
        let Some(m) = self.host_of[u].take() else {
            return;
        };
        let inp = self.input;
        let h = &mut self.hosts[m];
        self.load.remove(&(h.units.len(), m));
        h.units.remove(&u);
        self.load.insert((h.units.len(), m));
        bump(&mut h.matched, &inp.matched_by[u], false);
        bump(&mut h.conflict_owners, &inp.conflicts[u], false);
        bump(&mut h.replace_owners, &inp.replaces[u], false);
    }

    /// Units on `m` that `u`'s pattern `p` replaces (not circularly).
    fn replaced_on(&self, u: usize, m: usize, p: Pid) -> impl Iterator<Item = usize> + '_ {
        let inp = self.input;
        self.hosts[m]
            .units
            .range(inp.patterns[p].range.clone())
            .copied()
            .filter(move |&e| e != u && inp.replaced_by[e].contains(&p) && !inp.replaces_unit(e, u))
    }

    /// Units on `m` that `u` moves by landing there.
    fn replaced_by_landing(&self, u: usize, m: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for &p in &self.input.replaces[u] {
            if count(&self.hosts[m].matched, p) > 0 {
                out.extend(self.replaced_on(u, m, p));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Takes `r` off its machine, with every unit there that follows it
    /// (directly or through others); returns them all.
    fn evict(&mut self, r: usize) -> Vec<usize> {
        let Some(m) = self.host_of[r] else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut stack = vec![r];
        while let Some(e) = stack.pop() {
            if self.host_of[e] != Some(m) {
                continue;
            }
            self.unhost(e);
            out.push(e);
            stack.extend(self.input.followers[e].iter().copied());
        }
        out
    }

    /// The first rule that keeps `u` off `m`, or `None` if it may run there.
    /// fleet's order: MachineID, metadata, MachineOf, Conflicts, Replaces.
    fn check(&self, u: usize, m: usize) -> Option<Rule<'a>> {
        let inp = self.input;
        if let Some(rule) = static_rule(&inp.units[u].req, inp.machines[m]) {
            return Some(rule);
        }
        for &peer in &inp.peers[u] {
            if !matches!(peer, Peer::Unit(t) if self.host_of[t] == Some(m)) {
                return Some(Rule::MachineOf(peer));
            }
        }
        let h = &self.hosts[m];
        if let Some(&p) = inp.conflicts[u].iter().find(|&&p| count(&h.matched, p) > 0) {
            return Some(Rule::Conflicts(p));
        }
        if let Some(&p) = inp.conflicted_by[u]
            .iter()
            .find(|&&p| count(&h.conflict_owners, p) > 0)
        {
            return Some(Rule::ConflictedBy(p));
        }
        for &p in &inp.replaced_by[u] {
            if count(&h.replace_owners, p) > 0 {
                let by =
                    h.units.iter().copied().find(|&e| {
                        e != u && inp.replaces[e].contains(&p) && !inp.replaces_unit(u, e)
                    });
                if let Some(e) = by {
                    return Some(Rule::ReplacedBy(p, e));
                }
            }
        }
        for &p in &inp.replaces[u] {
            if count(&h.matched, p) > 0 {
                if let Some(e) = self.replaced_on(u, m, p).find(|&e| self.moved[e]) {
                    return Some(Rule::AlreadyMoved(p, e));
                }
            }
        }
        None
    }

    /// The machine for `u`, or the sentence saying why there is none.
    fn choose(&self, u: usize) -> Result<usize, String> {
        let inp = self.input;
        let name = inp.name(u);
        if inp.machines.is_empty() {
            return Err(format!(
                "no machine fits {name}: there are no live machines"
            ));
        }
        // Followers go where their targets are, or nowhere.
        let mut target: Option<(usize, usize)> = None;
        for &peer in &inp.peers[u] {
            let t = match peer {
                Peer::Missing(t) => {
                    return Err(format!(
                        "no machine fits {name}: MachineOf={t}, but {t} is not placed (it is \
                         unknown, inactive, global or a template)"
                    ))
                }
                Peer::Unit(t) => t,
            };
            let tn = inp.name(t);
            let Some(m) = self.host_of[t] else {
                return Err(format!(
                    "no machine fits {name}: MachineOf={tn}, but {tn} cannot be placed either"
                ));
            };
            match target {
                None => target = Some((t, m)),
                Some((t0, m0)) if m0 != m => {
                    return Err(format!(
                        "no machine fits {name}: its MachineOf targets are on different \
                         machines ({} on {}, {tn} on {})",
                        inp.name(t0),
                        inp.machines[m0].id.short(),
                        inp.machines[m].id.short()
                    ))
                }
                Some(_) => {}
            }
        }
        let fits = |m: &usize| self.check(u, *m).is_none();
        if let Some((_, m)) = target {
            return Some(m).filter(fits).ok_or_else(|| self.explain(u));
        }
        if let Some(id) = &inp.units[u].req.machine_id {
            return (0..inp.machines.len())
                .filter(|&m| id_matches(id, &inp.machines[m].id))
                .filter(fits)
                .min_by_key(|&m| (self.hosts[m].units.len(), m))
                .ok_or_else(|| self.explain(u));
        }
        // Least loaded first. A unit that fits nowhere has been checked on
        // every machine by then: the sentence reuses those checks.
        let mut refused = Vec::with_capacity(inp.machines.len());
        for &(_, m) in &self.load {
            match self.check(u, m) {
                None => return Ok(m),
                Some(rule) => refused.push((m, rule)),
            }
        }
        refused.sort_unstable_by_key(|&(m, _)| m);
        Err(self.sentence(u, &refused))
    }
}
