//! Marathon's placement constraints: parsing `[field, OPERATOR, value?]`,
//! checking one agent against them, and explaining in one sentence why an
//! app cannot be placed anywhere.
//!
//! Pure: no IO, no clock, no randomness. The app scheduler hands in the
//! agents and the sites of the instances already placed; nothing here
//! remembers anything between calls.
//!
//! Invariants:
//! - A [`Constraint`] only exists once it has been validated: operator names
//!   are Marathon's (case-sensitive), counts are positive, regexes compile.
//! - A constraint serializes as Marathon's parts (`["rack","LIKE","r[12]"]`)
//!   and deserializes through [`parse`], so the replicated state never holds
//!   an invalid one.
//! - `LIKE`/`UNLIKE` are full matches, as in Marathon (Java's `matches`).
//! - Every rejection names the constraint and the fact that failed it;
//!   [`Rejection::class`] is stable so rejections can be counted per kind.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::machine::Resources;
use crate::resources::{count_ports, normalize_ranges, subtract_ranges};

/// One placement constraint of an app, e.g. `["hostname", "UNIQUE"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Constraint {
    /// `hostname` or `@hostname` (the agent's hostname), or the name of an
    /// agent attribute. Kept as written, so the app reads back unchanged.
    pub field: String,
    pub op: Operator,
}

/// Marathon's constraint operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// At most one instance per distinct value of the field.
    Unique,
    /// Every instance on agents whose field equals the value; without a
    /// value, the value of the instances already placed.
    Cluster(Option<String>),
    /// Spread instances evenly over the distinct values of the field; the
    /// optional count is how many distinct values are expected.
    GroupBy(Option<u32>),
    /// The field must fully match the regex.
    Like(Pattern),
    /// The field must not fully match the regex (an agent without the field
    /// is accepted).
    Unlike(Pattern),
    /// At most this many instances per distinct value of the field.
    MaxPer(u32),
    /// The field must equal the value exactly.
    Is(String),
}

impl Operator {
    /// The operator's name as Marathon spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster(_) => "CLUSTER",
            Operator::GroupBy(_) => "GROUP_BY",
            Operator::Like(_) => "LIKE",
            Operator::Unlike(_) => "UNLIKE",
            Operator::MaxPer(_) => "MAX_PER",
            Operator::Is(_) => "IS",
        }
    }

    /// The third part of the Marathon form, if there is one.
    pub fn value(&self) -> Option<String> {
        match self {
            Operator::Unique | Operator::Cluster(None) | Operator::GroupBy(None) => None,
            Operator::Cluster(Some(v)) | Operator::Is(v) => Some(v.clone()),
            Operator::GroupBy(Some(n)) | Operator::MaxPer(n) => Some(n.to_string()),
            Operator::Like(p) | Operator::Unlike(p) => Some(p.as_str().to_owned()),
        }
    }
}

/// A `LIKE`/`UNLIKE` regex: its source text, and the compiled full match.
/// Compared and printed by its source text; clones share the compiled regex.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    full: Arc<regex_lite::Regex>,
}

impl Pattern {
    /// Compiles `source` to match whole values only (`^(?:source)$`).
    pub fn new(source: &str) -> Result<Pattern, regex_lite::Error> {
        // Compiled alone first: wrapping could make an unbalanced pattern
        // such as `a)|(b` valid, with a meaning nobody wrote.
        regex_lite::Regex::new(source)?;
        let full = regex_lite::Regex::new(&format!("^(?:{source})$"))?;
        Ok(Pattern {
            source: source.to_owned(),
            full: Arc::new(full),
        })
    }

    /// The regex as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the whole of `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        self.full.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

/// Why `[field, OPERATOR, value?]` is not a constraint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("a constraint is [field, OPERATOR] or [field, OPERATOR, value], got {0:?}")]
    Shape(Vec<String>),
    #[error("constraint field is empty; name an agent attribute, or hostname")]
    EmptyField,
    #[error(
        "unknown constraint operator {0:?}; use one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS"
    )]
    UnknownOperator(String),
    #[error("constraint operators are upper case: use {want:?}, not {got:?}")]
    LowerCase { got: String, want: &'static str },
    #[error("{op} needs a value: [{field:?}, \"{op}\", \"{example}\"]")]
    MissingValue {
        field: String,
        op: &'static str,
        example: &'static str,
    },
    #[error(
        "UNIQUE takes no value, got {value:?}; use [{field:?}, \"UNIQUE\"], or MAX_PER to allow more than one instance per value"
    )]
    UnexpectedValue { field: String, value: String },
    #[error("{op} needs a positive integer, got {value:?}: e.g. [{field:?}, \"{op}\", \"2\"]")]
    NotPositive {
        field: String,
        op: &'static str,
        value: String,
    },
    #[error("{op} value {value:?} is not a valid regular expression: {reason}")]
    BadRegex {
        op: &'static str,
        value: String,
        reason: String,
    },
}

const OPERATOR_NAMES: [&str; 7] = [
    "UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS",
];

/// Parses Marathon's `[field, OPERATOR]` or `[field, OPERATOR, value]`.
///
/// An empty value counts as no value (Marathon's own representation does
/// not tell them apart), so `["rack", "CLUSTER", ""]` is `CLUSTER` alone.
pub fn parse(parts: &[String]) -> Result<Constraint, ConstraintError> {
    let (field, name, value) = match parts {
        [field, name] => (field, name.as_str(), None),
        [field, name, value] => (field, name.as_str(), Some(value.as_str())),
        _ => return Err(ConstraintError::Shape(parts.to_vec())),
    };
    let value = value.filter(|v| !v.is_empty());
    if field.is_empty() {
        return Err(ConstraintError::EmptyField);
    }
    let missing = |op, example| ConstraintError::MissingValue {
        field: field.clone(),
        op,
        example,
    };
    let positive = |op, v: &str| match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConstraintError::NotPositive {
            field: field.clone(),
            op,
            value: v.to_owned(),
        }),
    };
    let pattern = |op, v: &str| {
        Pattern::new(v).map_err(|e| ConstraintError::BadRegex {
            op,
            value: v.to_owned(),
            reason: e.to_string(),
        })
    };
    let op = match (name, value) {
        ("UNIQUE", None) => Operator::Unique,
        ("UNIQUE", Some(v)) => {
            return Err(ConstraintError::UnexpectedValue {
                field: field.clone(),
                value: v.to_owned(),
            })
        }
        ("CLUSTER", v) => Operator::Cluster(v.map(str::to_owned)),
        ("GROUP_BY", None) => Operator::GroupBy(None),
        ("GROUP_BY", Some(v)) => Operator::GroupBy(Some(positive("GROUP_BY", v)?)),
        ("LIKE", Some(v)) => Operator::Like(pattern("LIKE", v)?),
        ("UNLIKE", Some(v)) => Operator::Unlike(pattern("UNLIKE", v)?),
        ("MAX_PER", Some(v)) => Operator::MaxPer(positive("MAX_PER", v)?),
        ("IS", Some(v)) => Operator::Is(v.to_owned()),
        ("LIKE", None) => return Err(missing("LIKE", "<regex>")),
        ("UNLIKE", None) => return Err(missing("UNLIKE", "<regex>")),
        ("MAX_PER", None) => return Err(missing("MAX_PER", "<count>")),
        ("IS", None) => return Err(missing("IS", "<value>")),
        (other, _) => {
            let upper = other.to_ascii_uppercase();
            return Err(match OPERATOR_NAMES.iter().find(|n| **n == upper) {
                Some(want) => ConstraintError::LowerCase {
                    got: other.to_owned(),
                    want,
                },
                None => ConstraintError::UnknownOperator(other.to_owned()),
            });
        }
    };
    Ok(Constraint {
        field: field.clone(),
        op,
    })
}

impl Constraint {
    /// Whether checking it looks at the instances already placed (UNIQUE,
    /// CLUSTER without a value, GROUP_BY, MAX_PER); LIKE, UNLIKE, IS and
    /// CLUSTER with a value judge the agent alone.
    pub fn needs_placed(&self) -> bool {
        matches!(
            self.op,
            Operator::Unique | Operator::Cluster(None) | Operator::GroupBy(_) | Operator::MaxPer(_)
        )
    }

    /// The Marathon form: `[field, OPERATOR]` or `[field, OPERATOR, value]`.
    pub fn parts(&self) -> Vec<String> {
        let mut parts = vec![self.field.clone(), self.op.name().to_owned()];
        parts.extend(self.op.value());
        parts
    }

    /// True when the field is the agent's hostname (`hostname`, `@hostname`).
    pub fn is_hostname(&self) -> bool {
        self.field == "hostname" || self.field == "@hostname"
    }

    /// The field's value on `site`, if it has one.
    fn value_of<'s>(&self, site: &Site<'s>) -> Option<&'s str> {
        if self.is_hostname() {
            Some(site.hostname)
        } else {
            site.attributes.get(&self.field).map(String::as_str)
        }
    }

    /// How messages name the constraint: `UNIQUE hostname`, `LIKE rack:r[12]`.
    fn label(&self) -> String {
        match self.op.value() {
            Some(v) => format!("{} {}:{v}", self.op.name(), self.field),
            None => format!("{} {}", self.op.name(), self.field),
        }
    }

    /// How messages name a value of the field: a bare hostname, or
    /// `rack "r1"` for an attribute.
    fn subject(&self, value: &str) -> String {
        if self.is_hostname() {
            value.to_owned()
        } else {
            format!("{} {value:?}", self.field)
        }
    }
}

impl fmt::Display for Constraint {
    /// The Marathon form joined by colons: `hostname:UNIQUE`, `rack:LIKE:r[12]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.field, self.op.name())?;
        match self.op.value() {
            Some(v) => write!(f, ":{v}"),
            None => Ok(()),
        }
    }
}

impl TryFrom<Vec<String>> for Constraint {
    type Error = ConstraintError;

    fn try_from(parts: Vec<String>) -> Result<Constraint, ConstraintError> {
        parse(&parts)
    }
}

impl From<Constraint> for Vec<String> {
    fn from(c: Constraint) -> Vec<String> {
        c.parts()
    }
}

/// An agent as placement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site<'a> {
    pub hostname: &'a str,
    pub attributes: &'a BTreeMap<String, String>,
}

/// Why a constraint excludes an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Boxed to keep `Result<(), Rejection>` small (clippy's result_large_err).
    pub constraint: Box<Constraint>,
    pub reason: Reason,
}

/// The fact that failed a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The agent has no such attribute (every operator but UNLIKE).
    MissingField,
    /// UNIQUE: an instance already runs where the field has this value.
    Taken { value: String },
    /// CLUSTER with a value, IS: the agent's value is another.
    Differs { value: String },
    /// CLUSTER without a value: the instances placed are on these values
    /// (sorted), and the agent's is not the only one of them.
    Pinned { pinned: Vec<String> },
    /// LIKE: the agent's value does not fully match.
    NoMatch { value: String },
    /// UNLIKE: the agent's value fully matches.
    Matches { value: String },
    /// MAX_PER: the agent's value already has `count` instances, the limit.
    Full { value: String, count: usize },
    /// GROUP_BY: the agent's value has more instances than the least used one.
    Uneven {
        value: String,
        count: usize,
        least: Least,
    },
}

/// GROUP_BY: where the next instance should go instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Least {
    /// A known value with fewer instances (the first such, in order).
    Value { value: String, count: usize },
    /// Only `known` of the `expected` distinct values have agents; the
    /// missing ones count as having no instances.
    Missing { known: usize, expected: u32 },
}

impl Rejection {
    /// A stable name for this kind of rejection, to count agents by:
    /// `excluded by UNIQUE hostname`,
    /// `excluded by LIKE rack:r[12] (no attribute "rack")`.
    pub fn class(&self) -> String {
        match self.reason {
            Reason::MissingField => format!(
                "excluded by {} (no attribute {:?})",
                self.constraint.label(),
                self.constraint.field
            ),
            _ => format!("excluded by {}", self.constraint.label()),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.constraint;
        write!(f, "{}: ", c.label())?;
        match &self.reason {
            Reason::MissingField => write!(f, "agent has no attribute {:?}", c.field),
            Reason::Taken { value } => {
                write!(f, "an instance already runs on {}", c.subject(value))
            }
            Reason::Differs { value } => write!(f, "{} is {value:?}", c.field),
            Reason::Pinned { pinned } => {
                let values: Vec<String> = if c.is_hostname() {
                    pinned.clone()
                } else {
                    pinned.iter().map(|v| format!("{v:?}")).collect()
                };
                f.write_str("instances already run on ")?;
                if !c.is_hostname() {
                    write!(f, "{} ", c.field)?;
                }
                f.write_str(&values.join(", "))
            }
            Reason::NoMatch { value } => write!(f, "{value:?} does not match"),
            Reason::Matches { value } => write!(f, "{value:?} matches"),
            Reason::Full { value, count } => {
                write!(f, "{} has {}", c.subject(value), instances(*count))
            }
            Reason::Uneven {
                value,
                count,
                least,
            } => {
                write!(f, "{} has {}", c.subject(value), instances(*count))?;
                match least {
                    Least::Value { value, count } => {
                        write!(f, ", {} has {count}", c.subject(value))
                    }
                    Least::Missing { known, expected } => write!(
                        f,
                        ", and only {known} of the {expected} expected values of {} have agents",
                        c.field
                    ),
                }
            }
        }
    }
}

impl std::error::Error for Rejection {}

fn instances(n: usize) -> String {
    match n {
        1 => "1 instance".to_owned(),
        n => format!("{n} instances"),
    }
}

/// Whether `candidate` may take one more instance under `c`.
///
/// `placed` are the sites of the app's instances already placed (running,
/// or planned earlier in the same round), one entry per instance. `sites`
/// are all agents that could take tasks; GROUP_BY spreads over their values.
pub fn check(
    c: &Constraint,
    candidate: &Site,
    placed: &[Site],
    sites: &[Site],
) -> Result<(), Rejection> {
    let reject = |reason| {
        Err(Rejection {
            constraint: Box::new(c.clone()),
            reason,
        })
    };
    let Some(value) = c.value_of(candidate) else {
        return match c.op {
            Operator::Unlike(_) => Ok(()),
            _ => reject(Reason::MissingField),
        };
    };
    // Counted only for the operators that look at the placed instances.
    let here = if c.needs_placed() {
        placed
            .iter()
            .filter(|s| c.value_of(s) == Some(value))
            .count()
    } else {
        0
    };
    let value_owned = || value.to_owned();
    match &c.op {
        Operator::Unique if here > 0 => reject(Reason::Taken {
            value: value_owned(),
        }),
        Operator::Cluster(Some(want)) | Operator::Is(want) if want != value => {
            reject(Reason::Differs {
                value: value_owned(),
            })
        }
        Operator::Cluster(None) => {
            let pinned: BTreeSet<&str> = placed.iter().filter_map(|s| c.value_of(s)).collect();
            if pinned.iter().all(|p| *p == value) {
                Ok(())
            } else {
                reject(Reason::Pinned {
                    pinned: pinned.into_iter().map(str::to_owned).collect(),
                })
            }
        }
        Operator::Like(p) if !p.matches(value) => reject(Reason::NoMatch {
            value: value_owned(),
        }),
        Operator::Unlike(p) if p.matches(value) => reject(Reason::Matches {
            value: value_owned(),
        }),
        Operator::MaxPer(n) if here >= *n as usize => reject(Reason::Full {
            value: value_owned(),
            count: here,
        }),
        Operator::GroupBy(expected) => match less_used(c, value, placed, sites, *expected) {
            Some(least) => reject(Reason::Uneven {
                value: value_owned(),
                count: here,
                least,
            }),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// GROUP_BY: where the next instance should go instead of the candidate's
/// value, or `None` when that value is among the least used. The values are
/// those of `sites` and the candidate's own; with `expected` values and
/// fewer known, the missing ones count as holding no instance.
fn less_used(
    c: &Constraint,
    value: &str,
    placed: &[Site],
    sites: &[Site],
    expected: Option<u32>,
) -> Option<Least> {
    let mut counts: BTreeMap<&str, usize> = sites
        .iter()
        .filter_map(|s| c.value_of(s))
        .map(|v| (v, 0))
        .collect();
    counts.insert(value, 0);
    for v in placed.iter().filter_map(|s| c.value_of(s)) {
        if let Some(n) = counts.get_mut(v) {
            *n += 1;
        }
    }
    let known = counts.len();
    let missing = expected.filter(|e| known < *e as usize);
    let least = match missing {
        Some(_) => 0,
        None => counts.values().copied().min().unwrap_or(0),
    };
    if counts[value] <= least {
        return None;
    }
    // Name a known value when one is least used: the first, in order.
    match counts.iter().find(|(_, n)| **n == least) {
        Some((v, n)) => Some(Least::Value {
            value: (*v).to_owned(),
            count: *n,
        }),
        None => Some(Least::Missing {
            known,
            expected: missing.unwrap_or_default(),
        }),
    }
}

/// [`check`] for every constraint; the first that rejects wins.
pub fn check_all(
    cs: &[Constraint],
    candidate: &Site,
    placed: &[Site],
    sites: &[Site],
) -> Result<(), Rejection> {
    cs.iter()
        .try_for_each(|c| check(c, candidate, placed, sites))
}

/// An agent as [`explain`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFit<'a> {
    pub site: Site<'a>,
    /// What is left on the agent after its tasks and outstanding offers.
    pub free: Resources,
    /// False when the agent is unreachable (or otherwise takes no tasks).
    pub active: bool,
}

/// Why an app's next instance fits on no agent, or on how many it does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unplaced {
    /// Agents that could take one more instance.
    pub fitting: usize,
    /// What keeps the others out and on how many agents: most agents
    /// first, then alphabetical. The text agrees with its count
    /// (`lacks` for one agent, `lack` for several).
    pub reasons: Vec<(String, usize)>,
}

/// The first thing that keeps an agent from taking an instance, in the
/// order they are checked. Ordered for grouping only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Shortfall {
    Unreachable,
    Cpus,
    Mem,
    Disk,
    /// Fewer free ports than the app asks for.
    PortCount,
    /// The specific ports asked for (`needs.ports`) are not all free.
    PortsTaken,
    /// A constraint rejects it; the rejection's class.
    Excluded(String),
}

/// For every agent, the first reason it cannot take one more instance of
/// an app needing `needs` and `ports` ports under `constraints`, with
/// `placed` the sites of the instances already placed: unreachable, then
/// too few cpus, memory, disk, ports, then a constraint. GROUP_BY spreads
/// over the active agents.
pub fn explain(
    needs: &Resources,
    ports: usize,
    constraints: &[Constraint],
    agents: &[AgentFit],
    placed: &[Site],
) -> Unplaced {
    let only = |cpus, mem_mb, disk_mb| Resources {
        cpus,
        mem_mb,
        disk_mb,
        ports: vec![],
    };
    let sites: Vec<Site> = agents.iter().filter(|a| a.active).map(|a| a.site).collect();
    let mut fitting = 0;
    // Per shortfall: how many agents, and the most any of them has free.
    let mut groups: BTreeMap<Shortfall, (usize, f64)> = BTreeMap::new();
    for agent in agents {
        let free = &agent.free;
        let free_ports = count_ports(&free.ports);
        let shortfall = if !agent.active {
            Some((Shortfall::Unreachable, 0.0))
        } else if !free.contains(&only(needs.cpus, 0, 0)) {
            Some((Shortfall::Cpus, free.cpus))
        } else if !free.contains(&only(0.0, needs.mem_mb, 0)) {
            Some((Shortfall::Mem, free.mem_mb as f64))
        } else if !free.contains(&only(0.0, 0, needs.disk_mb)) {
            Some((Shortfall::Disk, free.disk_mb as f64))
        } else if free_ports < ports as u64 {
            Some((Shortfall::PortCount, free_ports as f64))
        } else if !subtract_ranges(&needs.ports, &free.ports).is_empty() {
            Some((Shortfall::PortsTaken, 0.0))
        } else if let Err(r) = check_all(constraints, &agent.site, placed, &sites) {
            Some((Shortfall::Excluded(r.class()), 0.0))
        } else {
            None
        };
        match shortfall {
            Some((s, amount)) => {
                let g = groups.entry(s).or_insert((0, 0.0));
                g.0 += 1;
                g.1 = g.1.max(amount);
            }
            None => fitting += 1,
        }
    }
    let mut reasons: Vec<(String, usize)> = groups
        .into_iter()
        .map(|(s, (n, largest))| (phrase(&s, n, largest, needs, ports), n))
        .collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Unplaced { fitting, reasons }
}

/// What `n` agents share, in words agreeing with `n`.
fn phrase(s: &Shortfall, n: usize, largest: f64, needs: &Resources, ports: usize) -> String {
    let lack = if n == 1 { "lacks" } else { "lack" };
    match s {
        Shortfall::Unreachable => "unreachable".to_owned(),
        Shortfall::Cpus => {
            let unit = if needs.cpus == 1.0 { "cpu" } else { "cpus" };
            format!(
                "{lack} {} {unit} (largest free: {})",
                cpus(needs.cpus),
                cpus(largest)
            )
        }
        Shortfall::Mem => format!(
            "{lack} {} MB of memory (largest free: {largest} MB)",
            needs.mem_mb
        ),
        Shortfall::Disk => format!(
            "{lack} {} MB of disk (largest free: {largest} MB)",
            needs.disk_mb
        ),
        Shortfall::PortCount => {
            let unit = if ports == 1 { "port" } else { "ports" };
            format!("{lack} {ports} {unit} (largest free: {largest})")
        }
        Shortfall::PortsTaken => {
            let ranges = normalize_ranges(&needs.ports);
            let unit = if count_ports(&ranges) == 1 {
                "port"
            } else {
                "ports"
            };
            let list: Vec<String> = ranges
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            format!("{lack} free {unit} {}", list.join(", "))
        }
        Shortfall::Excluded(class) => class.clone(),
    }
}

/// Cpus as people write them: at most three decimals, no trailing zeros
/// (`0.5`, `1`, and `0.2` for `0.19999999999999996`).
fn cpus(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

impl fmt::Display for Unplaced {
    /// `1 agent fits, 3 agents lack 0.5 cpus (largest free: 0.2), 1 agent
    /// excluded by UNIQUE hostname, 1 agent unreachable`, or `no agents`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let agents = |n: usize| {
            if n == 1 {
                "1 agent".to_owned()
            } else {
                format!("{n} agents")
            }
        };
        let mut parts = Vec::new();
        if self.fitting > 0 {
            let fit = if self.fitting == 1 { "fits" } else { "fit" };
            parts.push(format!("{} {fit}", agents(self.fitting)));
        }
        for (reason, n) in &self.reasons {
            parts.push(format!("{} {reason}", agents(*n)));
        }
        if parts.is_empty() {
            return f.write_str("no agents");
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test cluster: a hostname, then `key=value` attributes.
    const HOSTS: &str = "
        h1 rack=r1 zone=a
        h2 rack=r1 zone=b
        h3 rack=r2 zone=a
        h4 rack=r2
        h5 rack=r3
        h6
    ";

    type Hosts = Vec<(String, BTreeMap<String, String>)>;

    fn hosts(text: &str) -> Hosts {
        text.lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let name = words.next()?;
                let attrs = words
                    .map(|w| {
                        let (k, v) = w.split_once('=').expect("key=value");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                Some((name.to_owned(), attrs))
            })
            .collect()
    }

    /// The sites named in `names` (space separated, repeats allowed), or
    /// every host for `*`.
    fn sites<'a>(hosts: &'a Hosts, names: &str) -> Vec<Site<'a>> {
        let site = |name: &str| {
            let (hostname, attributes) = hosts
                .iter()
                .find(|(h, _)| h == name)
                .unwrap_or_else(|| panic!("no host {name}"));
            Site {
                hostname,
                attributes,
            }
        };
        if names == "*" {
            hosts.iter().map(|(h, _)| site(h)).collect()
        } else {
            names.split_whitespace().map(site).collect()
        }
    }

    fn strings(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    /// `rack:LIKE:r[12]` → the constraint (the value may hold colons).
    fn constraint(text: &str) -> Constraint {
        let parts: Vec<&str> = text.splitn(3, ':').collect();
        parse(&strings(&parts)).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parse_accepts_and_rejects() {
        // One case a line: the parts as JSON, `=>`, then the Display form
        // and the operator, or `error:` and the whole message.
        let table = r#"
            ["hostname","UNIQUE"]             => hostname:UNIQUE Unique
            ["@hostname","UNIQUE"]            => @hostname:UNIQUE Unique
            ["hostname","UNIQUE",""]          => hostname:UNIQUE Unique
            ["rack","CLUSTER"]                => rack:CLUSTER Cluster(None)
            ["rack","CLUSTER",""]             => rack:CLUSTER Cluster(None)
            ["rack","CLUSTER","r1"]           => rack:CLUSTER:r1 Cluster(Some("r1"))
            ["rack","GROUP_BY"]               => rack:GROUP_BY GroupBy(None)
            ["rack","GROUP_BY","3"]           => rack:GROUP_BY:3 GroupBy(Some(3))
            ["rack","LIKE","r[12]"]           => rack:LIKE:r[12] Like(Pattern("r[12]"))
            ["rack","UNLIKE","r[12]"]         => rack:UNLIKE:r[12] Unlike(Pattern("r[12]"))
            ["url","LIKE","http://.*"]        => url:LIKE:http://.* Like(Pattern("http://.*"))
            ["rack","MAX_PER","2"]            => rack:MAX_PER:2 MaxPer(2)
            ["rack","IS","r1"]                => rack:IS:r1 Is("r1")
            ["hostname","UNIQ"]               => error: unknown constraint operator "UNIQ"; use one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS
            ["hostname","unique"]             => error: constraint operators are upper case: use "UNIQUE", not "unique"
            ["rack","Max_Per","2"]            => error: constraint operators are upper case: use "MAX_PER", not "Max_Per"
            ["hostname"]                      => error: a constraint is [field, OPERATOR] or [field, OPERATOR, value], got ["hostname"]
            []                                => error: a constraint is [field, OPERATOR] or [field, OPERATOR, value], got []
            ["rack","IS","r1","r2"]           => error: a constraint is [field, OPERATOR] or [field, OPERATOR, value], got ["rack", "IS", "r1", "r2"]
            ["","UNIQUE"]                     => error: constraint field is empty; name an agent attribute, or hostname
            ["hostname","UNIQUE","1"]         => error: UNIQUE takes no value, got "1"; use ["hostname", "UNIQUE"], or MAX_PER to allow more than one instance per value
            ["rack","LIKE"]                   => error: LIKE needs a value: ["rack", "LIKE", "<regex>"]
            ["rack","UNLIKE",""]              => error: UNLIKE needs a value: ["rack", "UNLIKE", "<regex>"]
            ["rack","MAX_PER"]                => error: MAX_PER needs a value: ["rack", "MAX_PER", "<count>"]
            ["rack","IS"]                     => error: IS needs a value: ["rack", "IS", "<value>"]
            ["rack","MAX_PER","0"]            => error: MAX_PER needs a positive integer, got "0": e.g. ["rack", "MAX_PER", "2"]
            ["rack","MAX_PER","two"]          => error: MAX_PER needs a positive integer, got "two": e.g. ["rack", "MAX_PER", "2"]
            ["rack","MAX_PER","99999999999"]  => error: MAX_PER needs a positive integer, got "99999999999": e.g. ["rack", "MAX_PER", "2"]
            ["rack","GROUP_BY","-1"]          => error: GROUP_BY needs a positive integer, got "-1": e.g. ["rack", "GROUP_BY", "2"]
            ["rack","GROUP_BY","2.5"]         => error: GROUP_BY needs a positive integer, got "2.5": e.g. ["rack", "GROUP_BY", "2"]
        "#;
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (parts, want) = line.split_once(" => ").expect("parts => want");
            let parts: Vec<String> = serde_json::from_str(parts.trim()).expect(line);
            let got = match parse(&parts) {
                Ok(c) => format!("{c} {:?}", c.op),
                Err(e) => format!("error: {e}"),
            };
            assert_eq!(got, want, "case: {line}");
        }
        // Bad regexes: the message names the operator and the pattern (the
        // parser's own words follow). `a)|(b` is only valid once wrapped,
        // so it must be refused as written.
        let bad: &[(&[&str], &str)] = &[
            (
                &["rack", "LIKE", "r[12"],
                r#"LIKE value "r[12" is not a valid regular expression: "#,
            ),
            (
                &["rack", "UNLIKE", "(r1"],
                r#"UNLIKE value "(r1" is not a valid regular expression: "#,
            ),
            (
                &["rack", "LIKE", "a)|(b"],
                r#"LIKE value "a)|(b" is not a valid regular expression: "#,
            ),
        ];
        for (parts, want) in bad {
            let err = parse(&strings(parts)).expect_err(&format!("{parts:?}"));
            assert!(matches!(err, ConstraintError::BadRegex { .. }), "{err:?}");
            assert!(err.to_string().starts_with(want), "{err}");
        }
    }

    #[test]
    fn display_and_serde_round_trip() {
        let cases: &[(&[&str], &str)] = &[
            (&["hostname", "UNIQUE"], r#"["hostname","UNIQUE"]"#),
            (&["@hostname", "UNIQUE"], r#"["@hostname","UNIQUE"]"#),
            (&["rack", "CLUSTER"], r#"["rack","CLUSTER"]"#),
            (&["rack", "CLUSTER", "r1"], r#"["rack","CLUSTER","r1"]"#),
            (&["rack", "GROUP_BY"], r#"["rack","GROUP_BY"]"#),
            (&["rack", "GROUP_BY", "3"], r#"["rack","GROUP_BY","3"]"#),
            (&["rack", "LIKE", "r[12]"], r#"["rack","LIKE","r[12]"]"#),
            (&["rack", "UNLIKE", "r\\d"], r#"["rack","UNLIKE","r\\d"]"#),
            (&["rack", "MAX_PER", "2"], r#"["rack","MAX_PER","2"]"#),
            (&["rack", "IS", "r1"], r#"["rack","IS","r1"]"#),
            (
                &["url", "LIKE", "http://a:80"],
                r#"["url","LIKE","http://a:80"]"#,
            ),
        ];
        for (parts, json) in cases {
            let c = parse(&strings(parts)).unwrap();
            assert_eq!(c.parts(), strings(parts));
            assert_eq!(c.to_string(), parts.join(":"));
            assert_eq!(constraint(&c.to_string()), c, "{c} back from Display");
            assert_eq!(parse(&c.parts()).unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), *json);
            assert_eq!(serde_json::from_str::<Constraint>(json).unwrap(), c);
        }
        // Deserializing validates: the replicated state holds no bad constraint.
        let bad: &[(&str, &str)] = &[
            (
                r#"["hostname","UNIQ"]"#,
                "unknown constraint operator \"UNIQ\"",
            ),
            (
                r#"["rack","MAX_PER","0"]"#,
                "MAX_PER needs a positive integer",
            ),
            (r#"["rack","LIKE","r[1"]"#, "not a valid regular expression"),
            (r#""hostname:UNIQUE""#, "expected a sequence"),
        ];
        for (json, want) in bad {
            let err = serde_json::from_str::<Constraint>(json).unwrap_err();
            assert!(err.to_string().contains(want), "{json}: {err}");
        }
        // A list of them, as an app holds them.
        let list: Vec<Constraint> =
            serde_json::from_str(r#"[["hostname","UNIQUE"],["rack","MAX_PER","2"]]"#).unwrap();
        assert_eq!(
            list,
            [constraint("hostname:UNIQUE"), constraint("rack:MAX_PER:2")]
        );
    }

    /// One case a line, columns split by ` | `: the constraint, the hosts
    /// of the instances placed (`-` for none), the candidate, the agents
    /// that could take tasks (`*` = all of HOSTS), and `ok` or the
    /// rejection.
    fn check_cases(table: &str) {
        let hosts = hosts(HOSTS);
        let names = |s: &str| {
            if s == "-" {
                String::new()
            } else {
                s.to_owned()
            }
        };
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split(" | ").map(str::trim).collect();
            let [c, placed, candidate, all, want] = cols[..] else {
                panic!("a case has 5 columns: {line}");
            };
            let c = constraint(c);
            let placed = sites(&hosts, &names(placed));
            let candidate = sites(&hosts, candidate)[0];
            let all = sites(&hosts, all);
            let got = match check(&c, &candidate, &placed, &all) {
                Ok(()) => "ok".to_owned(),
                Err(r) => r.to_string(),
            };
            assert_eq!(got, want, "case: {line}");
        }
    }

    #[test]
    fn unique() {
        check_cases(
            r#"
            hostname:UNIQUE  | -     | h1 | * | ok
            hostname:UNIQUE  | h2 h3 | h1 | * | ok
            hostname:UNIQUE  | h2 h1 | h1 | * | UNIQUE hostname: an instance already runs on h1
            @hostname:UNIQUE | h1    | h1 | * | UNIQUE @hostname: an instance already runs on h1
            @hostname:UNIQUE | h1    | h2 | * | ok
            rack:UNIQUE      | h1    | h2 | * | UNIQUE rack: an instance already runs on rack "r1"
            rack:UNIQUE      | h1 h5 | h3 | * | ok
            rack:UNIQUE      | h6    | h1 | * | ok
            rack:UNIQUE      | -     | h6 | * | UNIQUE rack: agent has no attribute "rack"
            "#,
        );
    }

    #[test]
    fn cluster() {
        // With a value: that value. Without: anything for the first
        // instance, then the value of those placed (an instance on an agent
        // without the field pins nothing).
        check_cases(
            r#"
            rack:CLUSTER:r1     | -        | h2 | * | ok
            rack:CLUSTER:r1     | h1 h2    | h1 | * | ok
            rack:CLUSTER:r1     | -        | h3 | * | CLUSTER rack:r1: rack is "r2"
            rack:CLUSTER:r1     | -        | h6 | * | CLUSTER rack:r1: agent has no attribute "rack"
            hostname:CLUSTER:h4 | -        | h4 | * | ok
            hostname:CLUSTER:h4 | -        | h5 | * | CLUSTER hostname:h4: hostname is "h5"
            rack:CLUSTER        | -        | h3 | * | ok
            rack:CLUSTER        | -        | h5 | * | ok
            rack:CLUSTER        | h3       | h4 | * | ok
            rack:CLUSTER        | h3 h4 h3 | h3 | * | ok
            rack:CLUSTER        | h3       | h1 | * | CLUSTER rack: instances already run on rack "r2"
            rack:CLUSTER        | h3 h1    | h1 | * | CLUSTER rack: instances already run on rack "r1", "r2"
            hostname:CLUSTER    | h2       | h2 | * | ok
            hostname:CLUSTER    | h2       | h1 | * | CLUSTER hostname: instances already run on h2
            rack:CLUSTER        | h6       | h5 | * | ok
            rack:CLUSTER        | -        | h6 | * | CLUSTER rack: agent has no attribute "rack"
            "#,
        );
    }

    #[test]
    fn like_and_unlike() {
        // Full matches only: a prefix or a substring is not enough, and the
        // anchors hold the whole alternation. UNLIKE is the one operator
        // that accepts an agent without the field.
        check_cases(
            r#"
            rack:LIKE:r[12]       | -     | h3 | * | ok
            rack:LIKE:r[12]       | h1 h3 | h1 | * | ok
            rack:LIKE:r[12]       | -     | h5 | * | LIKE rack:r[12]: "r3" does not match
            rack:LIKE:r           | -     | h1 | * | LIKE rack:r: "r1" does not match
            rack:LIKE:1           | -     | h1 | * | LIKE rack:1: "r1" does not match
            rack:LIKE:r1|r3       | -     | h5 | * | ok
            rack:LIKE:x|r         | -     | h1 | * | LIKE rack:x|r: "r1" does not match
            hostname:LIKE:h[1-3]  | -     | h3 | * | ok
            @hostname:LIKE:h[1-3] | -     | h4 | * | LIKE @hostname:h[1-3]: "h4" does not match
            rack:LIKE:.*          | -     | h6 | * | LIKE rack:.*: agent has no attribute "rack"
            rack:UNLIKE:r[12]     | -     | h5 | * | ok
            rack:UNLIKE:r[12]     | -     | h1 | * | UNLIKE rack:r[12]: "r1" matches
            rack:UNLIKE:r         | -     | h1 | * | ok
            rack:UNLIKE:x|r       | -     | h1 | * | ok
            rack:UNLIKE:r[12]     | -     | h6 | * | ok
            rack:UNLIKE:.*        | -     | h6 | * | ok
            hostname:UNLIKE:h6    | -     | h6 | * | UNLIKE hostname:h6: "h6" matches
            "#,
        );
    }

    #[test]
    fn max_per_and_is() {
        // MAX_PER n: fewer than n already on the value. IS: exact equality,
        // no prefix, no regex.
        check_cases(
            r#"
            rack:MAX_PER:2     | -              | h1 | * | ok
            rack:MAX_PER:2     | h1             | h2 | * | ok
            rack:MAX_PER:2     | h1 h2          | h1 | * | MAX_PER rack:2: rack "r1" has 2 instances
            rack:MAX_PER:2     | h1 h2          | h3 | * | ok
            rack:MAX_PER:2     | h1 h3 h5 h6 h6 | h2 | * | ok
            rack:MAX_PER:1     | h3             | h4 | * | MAX_PER rack:1: rack "r2" has 1 instance
            hostname:MAX_PER:2 | h1 h1          | h1 | * | MAX_PER hostname:2: h1 has 2 instances
            hostname:MAX_PER:3 | h1 h1          | h1 | * | ok
            hostname:MAX_PER:3 | h1 h1 h1       | h1 | * | MAX_PER hostname:3: h1 has 3 instances
            rack:MAX_PER:5     | -              | h6 | * | MAX_PER rack:5: agent has no attribute "rack"
            rack:IS:r2         | -              | h4 | * | ok
            rack:IS:r2         | -              | h1 | * | IS rack:r2: rack is "r1"
            rack:IS:r          | -              | h1 | * | IS rack:r: rack is "r1"
            rack:IS:r.         | -              | h1 | * | IS rack:r.: rack is "r1"
            zone:IS:a          | -              | h4 | * | IS zone:a: agent has no attribute "zone"
            hostname:IS:h5     | -              | h5 | * | ok
            "#,
        );
    }

    #[test]
    fn group_by() {
        // Racks r1, r2, r3 among all agents; h6 has none. Instances on
        // agents without the field are not spread. Only the values of the
        // agents that can take tasks count, plus the candidate's own. With
        // n, fewer known values than n count the missing ones as empty; n
        // below the known values changes nothing.
        check_cases(
            r#"
            rack:GROUP_BY     | -           | h1 | *     | ok
            rack:GROUP_BY     | h1          | h3 | *     | ok
            rack:GROUP_BY     | h1          | h2 | *     | GROUP_BY rack: rack "r1" has 1 instance, rack "r2" has 0
            rack:GROUP_BY     | h1 h3       | h5 | *     | ok
            rack:GROUP_BY     | h1 h3       | h4 | *     | GROUP_BY rack: rack "r2" has 1 instance, rack "r3" has 0
            rack:GROUP_BY     | h1 h3 h5    | h2 | *     | ok
            rack:GROUP_BY     | h1 h3 h5 h2 | h1 | *     | GROUP_BY rack: rack "r1" has 2 instances, rack "r2" has 1
            rack:GROUP_BY     | h6 h6       | h1 | *     | ok
            rack:GROUP_BY     | -           | h6 | *     | GROUP_BY rack: agent has no attribute "rack"
            rack:GROUP_BY     | h1 h3       | h2 | h1 h3 | ok
            rack:GROUP_BY     | h1          | h2 | h1 h2 | ok
            rack:GROUP_BY     | h1          | h3 | h1    | ok
            rack:GROUP_BY     | h3          | h3 | h1    | GROUP_BY rack: rack "r2" has 1 instance, rack "r1" has 0
            rack:GROUP_BY:3   | h1          | h3 | h1 h3 | ok
            rack:GROUP_BY:3   | h1 h3       | h2 | h1 h3 | GROUP_BY rack:3: rack "r1" has 1 instance, and only 2 of the 3 expected values of rack have agents
            rack:GROUP_BY:3   | h1          | h2 | h1 h3 | GROUP_BY rack:3: rack "r1" has 1 instance, rack "r2" has 0
            rack:GROUP_BY:2   | h1 h3       | h2 | h1 h3 | ok
            rack:GROUP_BY:2   | h1 h3       | h4 | *     | GROUP_BY rack:2: rack "r2" has 1 instance, rack "r3" has 0
            hostname:GROUP_BY | h1          | h2 | h1 h2 | ok
            hostname:GROUP_BY | h1          | h1 | h1 h2 | GROUP_BY hostname: h1 has 1 instance, h2 has 0
            "#,
        );
    }

    #[test]
    fn check_all_reports_the_first_rejection() {
        let hosts = hosts(HOSTS);
        let cs = [constraint("hostname:UNIQUE"), constraint("rack:MAX_PER:1")];
        let all = sites(&hosts, "*");
        let placed = sites(&hosts, "h1");
        let cases: &[(&str, &str, &str)] = &[
            (
                "h1",
                "UNIQUE hostname: an instance already runs on h1",
                "excluded by UNIQUE hostname",
            ),
            (
                "h2",
                r#"MAX_PER rack:1: rack "r1" has 1 instance"#,
                "excluded by MAX_PER rack:1",
            ),
            (
                "h6",
                r#"MAX_PER rack:1: agent has no attribute "rack""#,
                r#"excluded by MAX_PER rack:1 (no attribute "rack")"#,
            ),
            ("h3", "ok", "ok"),
        ];
        for (candidate, want, class) in cases {
            let candidate = sites(&hosts, candidate)[0];
            let got = check_all(&cs, &candidate, &placed, &all);
            let (got, got_class) = match got {
                Ok(()) => ("ok".to_owned(), "ok".to_owned()),
                Err(r) => (r.to_string(), r.class()),
            };
            assert_eq!((got.as_str(), got_class.as_str()), (*want, *class));
        }
        assert_eq!(check_all(&[], &all[0], &all, &all), Ok(()));
    }

    /// An agent line: `host free-cpus free-mem free-disk ports [down] [key=value...]`,
    /// where ports is `lo-hi` or `-` for none.
    fn agents(text: &str) -> Vec<(String, BTreeMap<String, String>, Resources, bool)> {
        text.lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let [host, cpus, mem, disk, ports, rest @ ..] = words.as_slice() else {
                    return None;
                };
                let ports = match ports.split_once('-') {
                    Some((a, b)) if *ports != "-" => vec![(a.parse().unwrap(), b.parse().unwrap())],
                    _ => vec![],
                };
                let free = Resources {
                    cpus: cpus.parse().unwrap(),
                    mem_mb: mem.parse().unwrap(),
                    disk_mb: disk.parse().unwrap(),
                    ports,
                };
                let active = !rest.contains(&"down");
                let attrs = rest
                    .iter()
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                Some((host.to_string(), attrs, free, active))
            })
            .collect()
    }

    /// (cpus, mem, disk, ports, constraints, placed hostnames) against the
    /// agents → the sentence and the count of fitting agents.
    fn check_explain(
        agent_text: &str,
        needs: (f64, u64, u64, usize),
        constraints: &[&str],
        placed: &str,
        want: &str,
        want_fitting: usize,
    ) {
        let table = agents(agent_text);
        let fits: Vec<AgentFit> = table
            .iter()
            .map(|(hostname, attributes, free, active)| AgentFit {
                site: Site {
                    hostname,
                    attributes,
                },
                free: free.clone(),
                active: *active,
            })
            .collect();
        let placed: Vec<Site> = placed
            .split_whitespace()
            .map(|h| fits.iter().find(|a| a.site.hostname == h).unwrap().site)
            .collect();
        let cs: Vec<Constraint> = constraints.iter().map(|c| constraint(c)).collect();
        let needs_res = Resources {
            cpus: needs.0,
            mem_mb: needs.1,
            disk_mb: needs.2,
            ports: vec![],
        };
        let got = explain(&needs_res, needs.3, &cs, &fits, &placed);
        assert_eq!(got.to_string(), want, "{got:?}");
        assert_eq!(got.fitting, want_fitting, "{got:?}");
        let counted: usize = got.reasons.iter().map(|(_, n)| n).sum();
        assert_eq!(
            counted + got.fitting,
            fits.len(),
            "every agent counted once"
        );
    }

    #[test]
    fn explain_sentences() {
        let app = (0.5, 128, 0, 1);
        let portless = (0.5, 128, 0, 0);
        // Each agent falls at its first shortfall, in the documented order.
        check_explain(
            "
            a1 4 4096 1000 31000-32000 down
            a2 0.2 4096 1000 31000-32000
            a3 0.1 16 0 -
            a4 0.30000000000000004 4096 1000 31000-32000
            a5 1 64 1000 31000-32000
            a6 1 4096 1000 -
            a7 1 4096 1000 31000-32000
            a8 1 4096 1000 31000-32000
            ",
            app,
            &["hostname:UNIQUE"],
            "a7",
            "1 agent fits, 3 agents lack 0.5 cpus (largest free: 0.3), \
             1 agent excluded by UNIQUE hostname, 1 agent lacks 1 port (largest free: 0), \
             1 agent lacks 128 MB of memory (largest free: 64 MB), 1 agent unreachable",
            1,
        );
        // Plurals, disk, and the largest free amount among those short.
        check_explain(
            "
            a1 2 256 100 1-2
            a2 2 256 500 1-2
            a3 2 256 5000 1-1
            a4 2 100 5000 1-5
            a5 2 120 5000 1-5
            ",
            (1.0, 128, 1024, 2),
            &[],
            "",
            "2 agents lack 1024 MB of disk (largest free: 500 MB), \
             2 agents lack 128 MB of memory (largest free: 120 MB), \
             1 agent lacks 2 ports (largest free: 1)",
            0,
        );
        check_explain(
            "
            a1 0.5 256 0 -
            a2 0.25 256 0 -
            ",
            (1.0, 128, 0, 0),
            &[],
            "",
            "2 agents lack 1 cpu (largest free: 0.5)",
            0,
        );
        // Constraints group by class; missing attributes are their own class.
        check_explain(
            "
            a1 1 1024 0 - rack=r1
            a2 1 1024 0 - rack=r1
            a3 1 1024 0 - rack=r2
            a4 1 1024 0 -
            a5 1 1024 0 -
            a6 1 1024 0 - down rack=r1
            ",
            portless,
            &["rack:LIKE:r1", "hostname:UNIQUE"],
            "a1",
            "1 agent fits, 2 agents excluded by LIKE rack:r1 (no attribute \"rack\"), \
             1 agent excluded by LIKE rack:r1, 1 agent excluded by UNIQUE hostname, \
             1 agent unreachable",
            1,
        );
        // MAX_PER counts repeated placements on one host.
        check_explain(
            "
            a1 4 4096 0 -
            a2 4 4096 0 -
            ",
            portless,
            &["hostname:MAX_PER:2"],
            "a1 a1 a2",
            "1 agent fits, 1 agent excluded by MAX_PER hostname:2",
            1,
        );
        // GROUP_BY spreads over the active agents only: r2's one agent is
        // unreachable, so r1 may take a second instance.
        check_explain(
            "
            a1 4 4096 0 - rack=r1
            a2 4 4096 0 - down rack=r2
            a3 4 4096 0 - rack=r3
            ",
            portless,
            &["rack:GROUP_BY"],
            "a1",
            "1 agent fits, 1 agent excluded by GROUP_BY rack, 1 agent unreachable",
            1,
        );
        check_explain(
            "
            a1 4 4096 0 - rack=r1
            a2 4 4096 0 - down rack=r2
            ",
            portless,
            &["rack:GROUP_BY"],
            "a1",
            "1 agent fits, 1 agent unreachable",
            1,
        );
        check_explain("", app, &[], "", "no agents", 0);
        check_explain(
            "
            a1 4 4096 0 -
            a2 4 4096 0 -
            ",
            (0.5, 128, 0, 0),
            &[],
            "",
            "2 agents fit",
            2,
        );
    }

    #[test]
    fn explain_specific_ports_and_the_reasons_list() {
        let (h, attrs) = ("h1".to_owned(), BTreeMap::new());
        let agent = |ports: Vec<(u16, u16)>| AgentFit {
            site: Site {
                hostname: &h,
                attributes: &attrs,
            },
            free: Resources {
                cpus: 1.0,
                mem_mb: 1024,
                disk_mb: 0,
                ports,
            },
            active: true,
        };
        let needs = |ports: Vec<(u16, u16)>| Resources {
            cpus: 0.1,
            mem_mb: 32,
            disk_mb: 0,
            ports,
        };
        let agents = [agent(vec![(8000, 8079)]), agent(vec![(8000, 9000)])];
        let got = explain(&needs(vec![(8080, 8080)]), 1, &[], &agents, &[]);
        assert_eq!(
            got,
            Unplaced {
                fitting: 1,
                reasons: vec![("lacks free port 8080".to_owned(), 1)],
            }
        );
        let got = explain(
            &needs(vec![(8080, 8081), (9000, 9000)]),
            3,
            &[],
            &agents[..1],
            &[],
        );
        assert_eq!(got.to_string(), "1 agent lacks free ports 8080-8081, 9000");
    }
}
