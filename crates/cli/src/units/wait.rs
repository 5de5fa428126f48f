//! The decision of `start`, `load` and `stop` while they block: given what
//! the server says about a unit at each poll, keep waiting, be done (with
//! fleetctl's line, `Unit web@1.service launched on 1243aa1c.../10.0.0.3`),
//! or fail with the reason — never wait silently forever.
//!
//! - `start` is done when the unit's machine reports it `active`; `load`
//!   when its machine has it loaded and not running; `stop` when no
//!   machine reports it running.
//! - It fails as soon as the unit's machine reports it `failed` running
//!   the unit's current file (with the result and a pointer to
//!   `corral journal`), when the server has said
//!   for [`UNPLACEABLE_MS`] (and at least two polls in a row) why it has
//!   no machine, when the unit is destroyed, or after the attempts or the
//!   time allowed, naming the state last seen.
//!
//! Invariants: pure — the shell polls and passes the elapsed time in; no
//! clock, no IO here.

use corral_api::unit_view::{UnitRow, UnitStateRow};

use super::render::machine_legend;

/// How long the server must keep saying why a unit cannot be placed before
/// waiting stops (the engine places every round; one round's reason may be
/// a machine that has not registered yet).
pub const UNPLACEABLE_MS: u64 = 2_000;

/// What a command waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// `start`: running on its machine.
    Launched,
    /// `load`: loaded on its machine, not running.
    Loaded,
    /// `stop`: running nowhere.
    Stopped,
}

impl Goal {
    /// The word in fleetctl's messages.
    pub fn word(self) -> &'static str {
        match self {
            Goal::Launched => "launched",
            Goal::Loaded => "loaded",
            Goal::Stopped => "stopped",
        }
    }
}

/// When to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// fleetctl's `--block-attempts`: at most this many polls (`None`: no
    /// limit but the time).
    pub attempts: Option<u32>,
    /// Give up after this long.
    pub timeout_ms: u64,
}

/// Why waiting for a unit failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("unit {name} cannot be placed: {why}")]
    Unplaceable { name: String, why: String },
    #[error(
        "unit {name} failed on {machine} (result: {result}); \
         see its output with `corral journal {name}`"
    )]
    Failed {
        name: String,
        machine: String,
        result: String,
    },
    #[error("unit {name} was destroyed while waiting for it to be {goal}")]
    Gone { name: String, goal: &'static str },
    #[error(
        "unit {name} is not {goal} after {waited}: {last}; \
         `corral status {name}` and `corral journal {name}` say more"
    )]
    TimedOut {
        name: String,
        goal: &'static str,
        waited: String,
        last: String,
    },
}

/// What to do after one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Poll again.
    Waiting,
    /// Reached the goal: print this line.
    Done(String),
    /// Stop waiting: the unit will not get there.
    Failed(WaitError),
}

/// One unit being waited for.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub name: String,
    goal: Goal,
    limits: Limits,
    polls: u32,
    /// Since when (elapsed ms) and for how many polls the server has said
    /// why the unit has no machine.
    unplaced: Option<(u64, u32)>,
}

fn is_up(s: &UnitStateRow) -> bool {
    matches!(
        s.active.as_str(),
        "active" | "activating" | "deactivating" | "reloading"
    )
}

/// The reports that count: the machine the unit is placed on (every
/// machine's for a global unit).
fn target_states(row: &UnitRow) -> Vec<&UnitStateRow> {
    row.states
        .iter()
        .filter(|s| row.global || row.machine.as_deref() == Some(s.machine.as_str()))
        .collect()
}

/// The state of `row` in a few words, for a timeout's message.
pub fn describe(row: &UnitRow) -> String {
    let mut s = format!("desired {}, current {}", row.desired, row.current);
    match (&row.machine, &row.why) {
        (None, Some(why)) if !row.global => s.push_str(&format!("; no machine: {why}")),
        (None, None) if !row.global => s.push_str("; no machine yet"),
        _ => {}
    }
    let states = target_states(row);
    if states.is_empty() && row.machine.is_some() {
        s.push_str("; its machine has not reported it yet");
    }
    for st in states {
        s.push_str(&format!(
            "; on {}: {} {} ({})",
            machine_legend(&st.machine, &st.machine_ip, false),
            st.load,
            st.active,
            st.sub
        ));
    }
    s
}

/// `65_000` → `65s`, `500` → `0.5s`.
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

impl Waiter {
    pub fn new(name: &str, goal: Goal, limits: Limits) -> Waiter {
        Waiter {
            name: name.to_string(),
            goal,
            limits,
            polls: 0,
            unplaced: None,
        }
    }

    /// fleetctl's line for a unit that reached the goal.
    fn done(&self, row: &UnitRow, on: Option<&UnitStateRow>) -> Verdict {
        let word = match self.goal {
            Goal::Stopped => row.current.as_str(),
            g => g.word(),
        };
        let mut line = format!("Unit {} {word}", self.name);
        let legend = match (on, &row.machine) {
            (Some(s), _) => Some(machine_legend(&s.machine, &s.machine_ip, false)),
            (None, Some(m)) => Some(machine_legend(
                m,
                row.machine_ip.as_deref().unwrap_or(""),
                false,
            )),
            (None, None) => None,
        };
        if let Some(l) = legend {
            line.push_str(&format!(" on {l}"));
        }
        Verdict::Done(line)
    }

    /// The verdict on the unit's row as of this poll (`None`: the server
    /// no longer has the unit), `elapsed_ms` after waiting began.
    pub fn observe(&mut self, row: Option<&UnitRow>, elapsed_ms: u64) -> Verdict {
        self.polls += 1;
        let Some(row) = row else {
            return Verdict::Failed(WaitError::Gone {
                name: self.name.clone(),
                goal: self.goal.word(),
            });
        };
        let states = target_states(row);
        // A failure reported for another file (the one this submit
        // replaced) is stale: the machine is about to run the new one.
        let failed = states
            .iter()
            .find(|s| s.active == "failed" && (s.hash == row.hash || s.hash.is_empty()));
        match self.goal {
            Goal::Launched => {
                if let Some(s) = states.iter().find(|s| s.active == "active") {
                    return self.done(row, Some(s));
                }
            }
            Goal::Loaded => {
                if let Some(s) = states.iter().find(|s| s.load == "loaded" && !is_up(s)) {
                    return self.done(row, Some(s));
                }
            }
            Goal::Stopped => {
                if !row.states.iter().any(is_up) {
                    return self.done(row, states.first().copied());
                }
            }
        }
        if let (Goal::Launched, Some(s)) = (self.goal, failed) {
            return Verdict::Failed(WaitError::Failed {
                name: self.name.clone(),
                machine: machine_legend(&s.machine, &s.machine_ip, false),
                result: s.result.clone().unwrap_or_else(|| s.sub.clone()),
            });
        }
        let unplaced = self.goal != Goal::Stopped && !row.global && row.machine.is_none();
        match (&row.why, unplaced) {
            (Some(why), true) => {
                let (since, polls) = self.unplaced.unwrap_or((elapsed_ms, 0));
                self.unplaced = Some((since, polls + 1));
                if polls + 1 >= 2 && elapsed_ms.saturating_sub(since) >= UNPLACEABLE_MS {
                    return Verdict::Failed(WaitError::Unplaceable {
                        name: self.name.clone(),
                        why: why.clone(),
                    });
                }
            }
            _ => self.unplaced = None,
        }
        let out_of_attempts = self.limits.attempts.is_some_and(|a| self.polls >= a);
        if out_of_attempts || elapsed_ms >= self.limits.timeout_ms {
            let waited = if out_of_attempts {
                format!("{} attempts ({})", self.polls, seconds(elapsed_ms))
            } else {
                seconds(elapsed_ms)
            };
            return Verdict::Failed(WaitError::TimedOut {
                name: self.name.clone(),
                goal: self.goal.word(),
                waited,
                last: describe(row),
            });
        }
        Verdict::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M1: &str = "1243aa1c9f0e4d2b8a7c6e5f4d3c2b1a";
    const M2: &str = "9c1e00aa11bb22cc33dd44ee55ff6677";

    /// A row from a short text: `desired current [@machine] [why=...]
    /// [M1:load/active/sub[:result]]...`, e.g.
    /// `launched launched @M1 M1:loaded/active/running`.
    fn row(text: &str) -> UnitRow {
        let mut words = text.split(' ');
        let desired = words.next().unwrap().to_string();
        let current = words.next().unwrap().to_string();
        let mut r = UnitRow {
            name: "web@1.service".into(),
            hash: "a".repeat(40),
            desired,
            current,
            global: false,
            machine: None,
            machine_ip: None,
            why: None,
            description: None,
            states: Vec::new(),
        };
        let id = |m: &str| if m == "M1" { M1 } else { M2 };
        let ip = |m: &str| if m == "M1" { "10.0.0.1" } else { "10.0.0.2" };
        for w in words {
            if let Some(m) = w.strip_prefix('@') {
                r.machine = Some(id(m).into());
                r.machine_ip = Some(ip(m).into());
            } else if let Some(why) = w.strip_prefix("why=") {
                r.why = Some(why.replace('_', " "));
            } else if w == "global" {
                r.global = true;
            } else {
                let (m, st) = w.split_once(':').unwrap();
                let mut parts = st.split(['/', ':']);
                r.states.push(UnitStateRow {
                    machine: id(m).into(),
                    machine_ip: ip(m).into(),
                    agent: format!("{}:5051", ip(m)),
                    hash: "a".repeat(40),
                    load: parts.next().unwrap().into(),
                    active: parts.next().unwrap().into(),
                    sub: parts.next().unwrap().into(),
                    since_ms: 1,
                    main_pid: None,
                    result: parts.next().map(str::to_string),
                    restarts: 0,
                });
            }
        }
        r
    }

    const LIMITS: Limits = Limits {
        attempts: None,
        timeout_ms: 60_000,
    };

    /// Feeds `polls` (elapsed ms, row text or `gone`) to one waiter and
    /// compares each verdict: `wait`, `done: LINE` or `fail: MESSAGE`.
    fn check(goal: Goal, limits: Limits, polls: &[(u64, &str)], expected: &[&str]) {
        let mut w = Waiter::new("web@1.service", goal, limits);
        let got: Vec<String> = polls
            .iter()
            .map(|(ms, text)| {
                let r = (*text != "gone").then(|| row(text));
                match w.observe(r.as_ref(), *ms) {
                    Verdict::Waiting => "wait".to_string(),
                    Verdict::Done(l) => format!("done: {l}"),
                    Verdict::Failed(e) => format!("fail: {e}"),
                }
            })
            .collect();
        assert_eq!(got, expected, "{goal:?} {polls:?}");
    }

    #[test]
    fn start_waits_until_active_on_its_machine() {
        check(
            Goal::Launched,
            LIMITS,
            &[
                (0, "launched inactive"),
                (250, "launched inactive @M1"),
                (500, "launched loaded @M1 M1:loaded/activating/start"),
                (750, "launched launched @M1 M1:loaded/active/running"),
            ],
            &[
                "wait",
                "wait",
                "wait",
                "done: Unit web@1.service launched on 1243aa1c.../10.0.0.1",
            ],
        );
        // A report from a machine it is not placed on does not count.
        check(
            Goal::Launched,
            LIMITS,
            &[(0, "launched loaded @M1 M2:loaded/active/running")],
            &["wait"],
        );
        // A global unit: any machine.
        check(
            Goal::Launched,
            LIMITS,
            &[(0, "launched launched global M2:loaded/active/running")],
            &["done: Unit web@1.service launched on 9c1e00aa.../10.0.0.2"],
        );
    }

    #[test]
    fn start_fails_when_the_unit_fails() {
        check(
            Goal::Launched,
            LIMITS,
            &[
                (0, "launched loaded @M1 M1:loaded/activating/start"),
                (250, "launched loaded @M1 M1:loaded/failed/failed:exit-code"),
            ],
            &[
                "wait",
                "fail: unit web@1.service failed on 1243aa1c.../10.0.0.1 (result: exit-code); \
                 see its output with `corral journal web@1.service`",
            ],
        );
    }

    #[test]
    fn a_failure_of_the_replaced_file_is_stale() {
        let mut stale = row("launched loaded @M1 M1:loaded/failed/failed:exit-code");
        stale.hash = "b".repeat(40);
        let mut w = Waiter::new("web@1.service", Goal::Launched, LIMITS);
        assert_eq!(w.observe(Some(&stale), 0), Verdict::Waiting);
    }

    #[test]
    fn start_fails_fast_when_it_cannot_be_placed() {
        let why = "why=Conflicts=web@*.service_excludes_every_machine";
        let p = |ms: u64| (ms, format!("launched inactive {why}"));
        let polls: Vec<(u64, String)> = [0, 500, 1000, 1500, 2000].map(p).to_vec();
        let polls: Vec<(u64, &str)> = polls.iter().map(|(m, s)| (*m, s.as_str())).collect();
        check(
            Goal::Launched,
            LIMITS,
            &polls,
            &[
                "wait",
                "wait",
                "wait",
                "wait",
                "fail: unit web@1.service cannot be placed: Conflicts=web@*.service excludes \
                 every machine",
            ],
        );
        // A reason that goes away (a machine registered) starts over.
        check(
            Goal::Launched,
            LIMITS,
            &[
                (0, "launched inactive why=no_machines"),
                (1500, "launched inactive"),
                (2000, "launched inactive why=no_machines"),
                (3500, "launched inactive why=no_machines"),
                (4000, "launched inactive why=no_machines"),
            ],
            &[
                "wait",
                "wait",
                "wait",
                "wait",
                "fail: unit web@1.service cannot be placed: no machines",
            ],
        );
        // One slow poll is not enough: two in a row are needed.
        check(
            Goal::Launched,
            LIMITS,
            &[
                (0, "launched loaded @M1"),
                (5000, "launched inactive why=x"),
            ],
            &["wait", "wait"],
        );
    }

    #[test]
    fn load_waits_until_loaded_and_not_running() {
        check(
            Goal::Loaded,
            LIMITS,
            &[
                (0, "loaded inactive @M1"),
                (250, "loaded launched @M1 M1:loaded/active/running"),
                (500, "loaded loaded @M1 M1:loaded/inactive/dead"),
            ],
            &[
                "wait",
                "wait",
                "done: Unit web@1.service loaded on 1243aa1c.../10.0.0.1",
            ],
        );
    }

    #[test]
    fn stop_waits_until_running_nowhere() {
        check(
            Goal::Stopped,
            LIMITS,
            &[
                (0, "loaded launched @M1 M1:loaded/active/running"),
                (250, "loaded launched @M1 M1:loaded/deactivating/stop"),
                (500, "loaded loaded @M1 M1:loaded/inactive/dead"),
            ],
            &[
                "wait",
                "wait",
                "done: Unit web@1.service loaded on 1243aa1c.../10.0.0.1",
            ],
        );
        // Never placed: nothing to stop; a reason to have no machine does
        // not fail a stop.
        check(
            Goal::Stopped,
            LIMITS,
            &[(0, "loaded inactive why=x")],
            &["done: Unit web@1.service inactive"],
        );
    }

    #[test]
    fn gone_and_out_of_time() {
        check(
            Goal::Launched,
            LIMITS,
            &[(0, "gone")],
            &["fail: unit web@1.service was destroyed while waiting for it to be launched"],
        );
        check(
            Goal::Launched,
            Limits {
                attempts: None,
                timeout_ms: 1000,
            },
            &[
                (0, "launched loaded @M1 M1:loaded/activating/start"),
                (1000, "launched loaded @M1 M1:loaded/activating/start"),
            ],
            &[
                "wait",
                "fail: unit web@1.service is not launched after 1s: desired launched, current \
                 loaded; on 1243aa1c.../10.0.0.1: loaded activating (start); `corral status \
                 web@1.service` and `corral journal web@1.service` say more",
            ],
        );
        check(
            Goal::Launched,
            Limits {
                attempts: Some(2),
                timeout_ms: 60_000,
            },
            &[(0, "launched inactive @M1"), (250, "launched inactive @M1")],
            &[
                "wait",
                "fail: unit web@1.service is not launched after 2 attempts (0.2s): desired \
                 launched, current inactive; its machine has not reported it yet; `corral \
                 status web@1.service` and `corral journal web@1.service` say more",
            ],
        );
    }
}
