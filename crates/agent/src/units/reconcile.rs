//! Reconcile: the units this machine must have ([`Want`], from the
//! leader's desired set) and what its unit directories say ([`Seen`]) →
//! what to do to each unit now ([`Action`]). Level-based: the manager runs
//! it again every round, so a step that must wait (a stop still running,
//! a dependency still starting) is simply planned again later.
//!
//! Pure. Among the units on this machine it keeps systemd's `[Unit]`
//! rules: a unit starts only once the units it is ordered `After=` have
//! finished starting (cycles are ignored); it does not start while a unit
//! it `Requires=`/`BindsTo=` has failed; it stops while a unit it
//! `BindsTo=` is not active once started, or a unit it `Requires=`/
//! `BindsTo=` is stopped on purpose; and units stop in the reverse of their
//! start order. Dependencies on units elsewhere are ignored (fleet's rule).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use corral_api::units::UnitTarget;

use super::service::Deps;

/// A unit the machine must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub name: String,
    pub hash: String,
    pub target: UnitTarget,
    pub deps: Deps,
}

/// A unit's state as its status file says, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// inactive.
    Stopped,
    /// activating (start-pre ... start-post, auto-restart).
    Starting,
    /// active.
    Active,
    /// deactivating.
    Stopping,
    /// failed.
    Failed,
}

/// A unit directory on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    pub hash: String,
    /// What its `target` file says.
    pub target: Option<UnitTarget>,
    /// The target its supervisor last acted on.
    pub applied: Option<UnitTarget>,
    pub phase: Phase,
    /// Its supervisor runs.
    pub supervisor: bool,
    /// It cannot load here (no supervisor is ever started for it).
    pub load_error: bool,
    /// Its recorded main process is still alive.
    pub main_alive: bool,
    pub deps: Deps,
}

/// What to do to one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write its directory and start its supervisor with `target` (a new
    /// unit, a replacement once the old supervisor is gone, or a unit whose
    /// supervisor died with nothing left running).
    Install { name: String, target: UnitTarget },
    /// Tell its supervisor to start it.
    Start { name: String },
    /// Tell its supervisor to stop it; `why` when a dependency, not the
    /// leader, stops it.
    Stop { name: String, why: Option<String> },
    /// Not wanted here any more: its supervisor stops it and exits.
    Remove { name: String },
    /// Not wanted and its supervisor is gone: delete its directory.
    Delete { name: String },
    /// Its unit file changed: the old supervisor stops it and exits; an
    /// [`Action::Install`] follows.
    Replace { name: String },
    /// Left as it is for now, and why.
    Wait { name: String, why: String },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |t: &UnitTarget| match t {
            UnitTarget::Loaded => "loaded",
            UnitTarget::Launched => "launched",
        };
        match self {
            Action::Install { name, target } => write!(f, "install {name} ({})", t(target)),
            Action::Start { name } => write!(f, "start {name}"),
            Action::Stop { name, why: None } => write!(f, "stop {name}"),
            Action::Stop {
                name,
                why: Some(why),
            } => write!(f, "stop {name}: {why}"),
            Action::Remove { name } => write!(f, "remove {name}"),
            Action::Delete { name } => write!(f, "delete {name}"),
            Action::Replace { name } => write!(f, "replace {name}"),
            Action::Wait { name, why } => write!(f, "wait {name}: {why}"),
        }
    }
}

/// A local dependency's state, as far as starting and stopping others go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dep {
    /// Not on this machine.
    Absent,
    /// Stopped on purpose: wanted `loaded`, or being removed.
    Stopped,
    /// Told to start, not started yet.
    Pending,
    Starting,
    Active,
    Failed,
    /// Started, and ran to its end (inactive).
    Done,
    Stopping,
}

impl Dep {
    fn describe(self) -> &'static str {
        match self {
            Dep::Absent => "not on this machine",
            Dep::Stopped => "stopped",
            Dep::Pending => "not started yet",
            Dep::Starting => "starting",
            Dep::Active => "active",
            Dep::Failed => "failed",
            Dep::Done => "inactive",
            Dep::Stopping => "stopping",
        }
    }
}

struct World<'a> {
    wants: BTreeMap<&'a str, &'a Want>,
    seen: BTreeMap<&'a str, &'a Seen>,
    /// `after[a]`: the local units `a` starts after (After= of `a`, Before=
    /// of the others), cycles removed.
    after: BTreeMap<&'a str, BTreeSet<&'a str>>,
}

impl<'a> World<'a> {
    fn deps(&self, name: &str) -> Option<&'a Deps> {
        self.wants
            .get(name)
            .map(|w| &w.deps)
            .or_else(|| self.seen.get(name).map(|s| &s.deps))
    }

    fn dep(&self, name: &str) -> Dep {
        let (want, seen) = (self.wants.get(name), self.seen.get(name));
        let Some(want) = want else {
            return if seen.is_some() {
                Dep::Stopped
            } else {
                Dep::Absent
            };
        };
        if want.target == UnitTarget::Loaded {
            return Dep::Stopped;
        }
        let Some(seen) = seen.filter(|s| s.hash == want.hash) else {
            return Dep::Pending;
        };
        if seen.load_error {
            return Dep::Failed;
        }
        if !seen.supervisor
            || seen.target != Some(UnitTarget::Launched)
            || seen.applied != Some(UnitTarget::Launched)
        {
            return Dep::Pending;
        }
        match seen.phase {
            Phase::Starting => Dep::Starting,
            Phase::Active => Dep::Active,
            Phase::Failed => Dep::Failed,
            Phase::Stopped => Dep::Done,
            Phase::Stopping => Dep::Stopping,
        }
    }

    /// Whether `name` is up: its supervisor runs it or is stopping it.
    fn up(&self, name: &str) -> bool {
        self.seen.get(name).is_some_and(|s| {
            s.supervisor && matches!(s.phase, Phase::Starting | Phase::Active | Phase::Stopping)
        })
    }

    /// What `want` should be told now, and why when held back.
    fn effective(&self, want: &Want) -> (UnitTarget, Option<String>) {
        if want.target == UnitTarget::Loaded {
            return (UnitTarget::Loaded, None);
        }
        let started = self
            .seen
            .get(want.name.as_str())
            .is_some_and(|s| s.hash == want.hash && s.target == Some(UnitTarget::Launched));
        let hold = |why: String| (UnitTarget::Loaded, Some(why));
        for b in &want.deps.binds_to {
            match self.dep(b) {
                Dep::Absent | Dep::Active => {}
                Dep::Stopped => return hold(format!("BindsTo={b}, which is stopped")),
                d @ (Dep::Failed | Dep::Done) => {
                    return hold(format!("BindsTo={b}, which is {}", d.describe()))
                }
                // Once running, it rides out its dependency's restart or stop.
                Dep::Pending | Dep::Starting | Dep::Stopping if started => {}
                d => {
                    return hold(format!(
                        "waits for BindsTo={b} to be active (it is {})",
                        d.describe()
                    ))
                }
            }
        }
        for b in &want.deps.requires {
            match self.dep(b) {
                Dep::Stopped => return hold(format!("Requires={b}, which is stopped")),
                Dep::Failed if !started => return hold(format!("Requires={b}, which failed")),
                _ => {}
            }
        }
        if !started {
            for b in self.after.get(want.name.as_str()).into_iter().flatten() {
                let d = self.dep(b);
                if matches!(d, Dep::Pending | Dep::Starting | Dep::Stopping) {
                    return hold(format!(
                        "waits for {b} to finish starting (After=; it is {})",
                        d.describe()
                    ));
                }
            }
        }
        (UnitTarget::Launched, None)
    }
}

/// Local ordering: `a` after `b` for `a`'s After=b and `b`'s Before=a,
/// without the edges that close a cycle (systemd drops those too).
fn ordering<'a>(
    names: &BTreeSet<&'a str>,
    deps: impl Fn(&str) -> Option<&'a Deps>,
) -> BTreeMap<&'a str, BTreeSet<&'a str>> {
    let mut after: BTreeMap<&'a str, BTreeSet<&'a str>> = BTreeMap::new();
    for &a in names {
        let Some(d) = deps(a) else { continue };
        for b in &d.after {
            if let Some(&b) = names.get(b.as_str()) {
                after.entry(a).or_default().insert(b);
            }
        }
        for c in &d.before {
            if let Some(&c) = names.get(c.as_str()) {
                after.entry(c).or_default().insert(a);
            }
        }
    }
    let reaches = |from: &'a str, to: &'a str| {
        let mut stack = vec![from];
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                stack.extend(after.get(n).into_iter().flatten().copied());
            }
        }
        false
    };
    let mut acyclic: BTreeMap<&'a str, BTreeSet<&'a str>> = BTreeMap::new();
    for (&a, bs) in &after {
        for &b in bs {
            if a != b && !reaches(b, a) {
                acyclic.entry(a).or_default().insert(b);
            }
        }
    }
    acyclic
}

/// An install, and why its start is held back when it is.
fn install(out: &mut Vec<Action>, name: String, (target, why): (UnitTarget, Option<String>)) {
    out.push(Action::Install {
        name: name.clone(),
        target,
    });
    if let Some(why) = why {
        out.push(Action::Wait { name, why });
    }
}

/// What to do now, unit by unit: stops and removals first (a unit ordered
/// after another stops first), then installs and starts.
pub fn plan(wants: &[Want], seen: &[Seen]) -> Vec<Action> {
    let wants_by: BTreeMap<&str, &Want> = wants.iter().map(|w| (w.name.as_str(), w)).collect();
    let seen_by: BTreeMap<&str, &Seen> = seen.iter().map(|s| (s.name.as_str(), s)).collect();
    let names: BTreeSet<&str> = wants_by.keys().chain(seen_by.keys()).copied().collect();
    let mut world = World {
        wants: wants_by,
        seen: seen_by,
        after: BTreeMap::new(),
    };
    world.after = ordering(&names, |n| world.deps(n));

    let mut stops = Vec::new();
    let mut starts = Vec::new();
    for &name in &names {
        let (want, seen) = (world.wants.get(name), world.seen.get(name));
        let n = name.to_string();
        match (want, seen) {
            (None, None) => {}
            (None, Some(s)) => stops.push(if s.supervisor {
                Action::Remove { name: n }
            } else {
                Action::Delete { name: n }
            }),
            (Some(w), None) => {
                install(&mut starts, n, world.effective(w));
            }
            (Some(w), Some(s)) if s.hash != w.hash => {
                if s.supervisor {
                    stops.push(Action::Replace { name: n })
                } else {
                    install(&mut starts, n, world.effective(w));
                }
            }
            (Some(_), Some(s)) if s.load_error => {}
            (Some(w), Some(s)) if !s.supervisor => {
                if s.main_alive {
                    starts.push(Action::Wait {
                        name: n,
                        why: "its supervisor is gone but its main process still runs; not starting a second one".into(),
                    });
                } else {
                    // The supervisor died (a reboot, a kill) and nothing of
                    // the unit runs: supervise it again.
                    install(&mut starts, n, world.effective(w));
                }
            }
            (Some(w), Some(s)) => {
                let (target, why) = world.effective(w);
                match (s.target, target) {
                    (Some(UnitTarget::Launched), UnitTarget::Launched) => {}
                    (_, UnitTarget::Launched) => starts.push(Action::Start { name: n }),
                    (Some(UnitTarget::Launched), UnitTarget::Loaded) => {
                        stops.push(Action::Stop { name: n, why })
                    }
                    (_, UnitTarget::Loaded) => {
                        if let Some(why) = why {
                            starts.push(Action::Wait { name: n, why });
                        }
                    }
                }
            }
        }
    }

    // Reverse order for stops: `b` waits while a unit ordered after it is
    // stopping too and still up.
    let stopping: BTreeSet<String> = stops
        .iter()
        .filter_map(|a| match a {
            Action::Stop { name, .. } | Action::Remove { name } | Action::Replace { name } => {
                Some(name.clone())
            }
            _ => None,
        })
        .chain(
            seen.iter()
                .filter(|s| s.target == Some(UnitTarget::Loaded) && s.phase == Phase::Stopping)
                .map(|s| s.name.clone()),
        )
        .collect();
    let stops = stops.into_iter().map(|a| {
        let name = match &a {
            Action::Stop { name, .. } | Action::Remove { name } | Action::Replace { name } => name,
            _ => return a,
        };
        let first = world.after.iter().find(|(later, before)| {
            before.contains(name.as_str()) && stopping.contains(**later) && world.up(later)
        });
        match first {
            Some((later, _)) => Action::Wait {
                name: name.clone(),
                why: format!("stops after {later} (ordered After= it) has stopped"),
            },
            None => a,
        }
    });
    stops.chain(starts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps_of(words: &[&str]) -> Deps {
        let mut d = Deps::default();
        for w in words {
            let (k, v) = w
                .split_once('=')
                .unwrap_or_else(|| panic!("not Key=units: {w}"));
            let list = match k {
                "After" => &mut d.after,
                "Before" => &mut d.before,
                "Requires" => &mut d.requires,
                "BindsTo" => &mut d.binds_to,
                "Wants" => &mut d.wants,
                other => panic!("unknown dependency {other}"),
            };
            list.extend(v.split(',').map(str::to_string));
        }
        d
    }

    fn target(s: &str) -> Option<UnitTarget> {
        match s {
            "launched" => Some(UnitTarget::Launched),
            "loaded" => Some(UnitTarget::Loaded),
            "-" => None,
            other => panic!("unknown target {other}"),
        }
    }

    /// `want NAME HASH TARGET [Dep=a,b]...`,
    /// `seen NAME HASH TARGET/APPLIED PHASE [nosup] [error] [main] [Dep=a,b]...`
    /// then `=> ACTION` lines (the expected plan, in order).
    fn check(case: &str) {
        let mut wants = Vec::new();
        let mut seen = Vec::new();
        let mut expected = Vec::new();
        for line in case.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(a) = line.strip_prefix("=>") {
                expected.push(a.trim().to_string());
                continue;
            }
            let w: Vec<&str> = line.split_whitespace().collect();
            match w[0] {
                "want" => wants.push(Want {
                    name: w[1].into(),
                    hash: w[2].into(),
                    target: target(w[3]).unwrap(),
                    deps: deps_of(&w[4..]),
                }),
                "seen" => {
                    let (t, a) = w[3].split_once('/').expect("TARGET/APPLIED");
                    let flags: Vec<&str> = w[5..]
                        .iter()
                        .copied()
                        .filter(|f| !f.contains('='))
                        .collect();
                    let deps: Vec<&str> =
                        w[5..].iter().copied().filter(|f| f.contains('=')).collect();
                    seen.push(Seen {
                        name: w[1].into(),
                        hash: w[2].into(),
                        target: target(t),
                        applied: target(a),
                        phase: match w[4] {
                            "stopped" => Phase::Stopped,
                            "starting" => Phase::Starting,
                            "active" => Phase::Active,
                            "stopping" => Phase::Stopping,
                            "failed" => Phase::Failed,
                            other => panic!("unknown phase {other}"),
                        },
                        supervisor: !flags.contains(&"nosup"),
                        load_error: flags.contains(&"error"),
                        main_alive: flags.contains(&"main"),
                        deps: deps_of(&deps),
                    })
                }
                other => panic!("unknown line kind {other}: {line}"),
            }
        }
        let got: Vec<String> = plan(&wants, &seen).iter().map(|a| a.to_string()).collect();
        assert_eq!(got, expected, "case:\n{case}");
    }

    #[test]
    fn install_start_stop_remove_replace() {
        for case in [
            // New units are installed with their target.
            "want a.service h1 launched
             want b.service h1 loaded
             => install a.service (launched)
             => install b.service (loaded)",
            // In place: nothing to do.
            "want a.service h1 launched
             seen a.service h1 launched/launched active
             want b.service h1 loaded
             seen b.service h1 loaded/loaded stopped",
            // Target changes.
            "want a.service h1 loaded
             seen a.service h1 launched/launched active
             want b.service h1 launched
             seen b.service h1 loaded/loaded stopped
             => stop a.service
             => start b.service",
            // A failed unit is not restarted by reconcile (systemd would not either).
            "want a.service h1 launched
             seen a.service h1 launched/launched failed",
            // Not wanted: stop (supervisor exits), then delete.
            "seen a.service h1 launched/launched active
             seen b.service h1 loaded/loaded stopped nosup
             => remove a.service
             => delete b.service",
            // A new hash: stop the old one; install once its supervisor is gone.
            "want a.service h2 launched
             seen a.service h1 launched/launched active
             => replace a.service",
            "want a.service h2 launched
             seen a.service h1 launched/launched stopped nosup
             => install a.service (launched)",
            // A unit that cannot load is left alone (its status says why).
            "want a.service h1 launched
             seen a.service h1 launched/- stopped nosup error",
            // ... and removed without a supervisor to stop.
            "seen a.service h1 launched/- stopped nosup error
             => delete a.service",
            // A supervisor that died: supervise again, unless its process lives on.
            "want a.service h1 launched
             seen a.service h1 launched/launched active nosup
             want b.service h1 launched
             seen b.service h1 launched/launched active nosup main
             => install a.service (launched)
             => wait b.service: its supervisor is gone but its main process still runs; not starting a second one",
        ] {
            check(case);
        }
    }

    #[test]
    fn after_orders_starts() {
        for case in [
            // Both new: d first; c waits.
            "want c.service h launched After=d.service
             want d.service h launched
             => install c.service (loaded)
             => wait c.service: waits for d.service to finish starting (After=; it is not started yet)
             => install d.service (launched)",
            // d still starting.
            "want c.service h launched After=d.service
             seen c.service h loaded/loaded stopped
             want d.service h launched
             seen d.service h launched/launched starting
             => wait c.service: waits for d.service to finish starting (After=; it is starting)",
            // d's supervisor has not acted on its target yet.
            "want c.service h launched After=d.service
             seen c.service h loaded/loaded stopped
             want d.service h launched
             seen d.service h launched/loaded stopped
             => wait c.service: waits for d.service to finish starting (After=; it is not started yet)",
            // d active (or failed, or a oneshot done): c starts.
            "want c.service h launched After=d.service
             seen c.service h loaded/loaded stopped
             want d.service h launched
             seen d.service h launched/launched active
             => start c.service",
            "want c.service h launched After=d.service
             seen c.service h loaded/loaded stopped
             want d.service h launched
             seen d.service h launched/launched failed
             => start c.service",
            // Before= is the same edge seen from the other side.
            "want c.service h launched
             want d.service h launched Before=c.service
             => install c.service (loaded)
             => wait c.service: waits for d.service to finish starting (After=; it is not started yet)
             => install d.service (launched)",
            // Ordering on a unit elsewhere, or wanted loaded, does not hold.
            "want c.service h launched After=elsewhere.service,d.service
             want d.service h loaded
             => install c.service (launched)
             => install d.service (loaded)",
            // A running unit is not stopped because its After= unit restarts.
            "want c.service h launched After=d.service
             seen c.service h launched/launched active
             want d.service h launched
             seen d.service h launched/launched starting",
            // A cycle is ignored rather than deadlocking.
            "want a.service h launched After=b.service
             want b.service h launched After=a.service
             => install a.service (launched)
             => install b.service (launched)",
        ] {
            check(case);
        }
    }

    #[test]
    fn requires_and_binds_to() {
        for case in [
            // Requires= a failed unit: not started.
            "want a.service h launched Requires=b.service
             seen a.service h loaded/loaded stopped
             want b.service h launched
             seen b.service h launched/launched failed
             => wait a.service: Requires=b.service, which failed",
            // ... but a running one is not stopped by its failure.
            "want a.service h launched Requires=b.service
             seen a.service h launched/launched active
             want b.service h launched
             seen b.service h launched/launched failed",
            // Requires= a unit stopped on purpose: stopped too.
            "want a.service h launched Requires=b.service
             seen a.service h launched/launched active
             want b.service h loaded
             seen b.service h loaded/loaded stopped
             => stop a.service: Requires=b.service, which is stopped",
            // BindsTo= a unit that stopped (on purpose or not): stopped.
            "want a.service h launched BindsTo=b.service
             seen a.service h launched/launched active
             want b.service h loaded
             seen b.service h launched/launched active
             => stop a.service: BindsTo=b.service, which is stopped
             => stop b.service",
            "want a.service h launched BindsTo=b.service
             seen a.service h launched/launched active
             want b.service h launched
             seen b.service h launched/launched failed
             => stop a.service: BindsTo=b.service, which is failed",
            "want a.service h launched BindsTo=b.service
             seen a.service h launched/launched active
             want b.service h launched
             seen b.service h launched/launched stopped
             => stop a.service: BindsTo=b.service, which is inactive",
            // BindsTo= a unit being removed.
            "want a.service h launched BindsTo=b.service
             seen a.service h launched/launched active
             seen b.service h launched/launched active
             => stop a.service: BindsTo=b.service, which is stopped
             => remove b.service",
            // Not started until its BindsTo= unit is active...
            "want a.service h launched BindsTo=b.service
             want b.service h launched
             seen b.service h launched/launched starting
             => install a.service (loaded)
             => wait a.service: waits for BindsTo=b.service to be active (it is starting)",
            // ... and started once it is.
            "want a.service h launched BindsTo=b.service
             seen a.service h loaded/loaded stopped
             want b.service h launched
             seen b.service h launched/launched active
             => start a.service",
            // A running unit rides out its BindsTo= unit's auto-restart.
            "want a.service h launched BindsTo=b.service
             seen a.service h launched/launched active
             want b.service h launched
             seen b.service h launched/launched starting",
        ] {
            check(case);
        }
    }

    #[test]
    fn stops_in_reverse_order() {
        for case in [
            // a After=b, both stopping: a first, b waits while a is up.
            "want a.service h loaded After=b.service
             seen a.service h launched/launched active
             want b.service h loaded
             seen b.service h launched/launched active
             => stop a.service
             => wait b.service: stops after a.service (ordered After= it) has stopped",
            "want a.service h loaded After=b.service
             seen a.service h loaded/loaded stopping
             want b.service h loaded
             seen b.service h launched/launched active
             => wait b.service: stops after a.service (ordered After= it) has stopped",
            "want a.service h loaded After=b.service
             seen a.service h loaded/loaded stopped
             want b.service h loaded
             seen b.service h launched/launched active
             => stop b.service",
            // Removal keeps the order too.
            "seen a.service h launched/launched active After=b.service
             seen b.service h launched/launched active
             => remove a.service
             => wait b.service: stops after a.service (ordered After= it) has stopped",
            // A unit that keeps running does not hold up a stop.
            "want a.service h launched After=b.service
             seen a.service h launched/launched active
             want b.service h loaded
             seen b.service h launched/launched active
             => stop b.service",
        ] {
            check(case);
        }
    }
}
