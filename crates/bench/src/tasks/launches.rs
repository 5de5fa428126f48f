//! The throughput framework's bookkeeping: which tasks to launch next
//! (fresh ones first, then ones whose launch failed, each attempt under an
//! id of its own), and what an update or a failed ACCEPT means for them.
//! Pure: ids and states in, decisions out.

use std::collections::VecDeque;

/// Launches of one task before it is given up on.
pub const MAX_ATTEMPTS: u8 = 5;

/// `bench-17` (first attempt) or `bench-17.2` (third).
fn task_id(n: u64, attempt: u8) -> String {
    match attempt {
        0 => format!("bench-{n}"),
        a => format!("bench-{n}.{a}"),
    }
}

/// (task number, attempt) of a throughput task id.
fn parse_id(id: &str) -> Option<(u64, u8)> {
    let rest = id.strip_prefix("bench-")?;
    match rest.split_once('.') {
        None => Some((rest.parse().ok()?, 0)),
        Some((n, a)) => Some((n.parse().ok()?, a.parse().ok()?)),
    }
}

/// Where each of `target` tasks stands.
#[derive(Debug, Clone)]
pub struct Launches {
    target: u64,
    /// Task numbers below this were launched at least once.
    next_fresh: u64,
    /// Failed tasks waiting for an offer, oldest first.
    again: VecDeque<u64>,
    /// The current attempt of each task launched so far.
    attempt: Vec<u8>,
    /// Whether each task has been seen RUNNING.
    seen_running: Vec<bool>,
    /// Launches sent.
    pub launched: u64,
    /// Launches that were another attempt.
    pub relaunched: u64,
    /// Tasks seen RUNNING.
    pub running: u64,
    /// Tasks given up on.
    pub gave_up: u64,
}

impl Launches {
    pub fn new(target: u64) -> Launches {
        Launches {
            target,
            next_fresh: 0,
            again: VecDeque::new(),
            attempt: Vec::new(),
            seen_running: Vec::new(),
            launched: 0,
            relaunched: 0,
            running: 0,
            gave_up: 0,
        }
    }

    /// True once every task is RUNNING or given up on.
    pub fn done(&self) -> bool {
        self.running + self.gave_up >= self.target
    }

    /// Ids of up to `room` tasks to launch now: failed ones first (their
    /// next attempt), then fresh ones.
    pub fn take(&mut self, room: u64) -> Vec<String> {
        let mut ids = Vec::new();
        while (ids.len() as u64) < room {
            if let Some(n) = self.again.pop_front() {
                self.relaunched += 1;
                ids.push(task_id(n, self.attempt[n as usize]));
            } else if self.next_fresh < self.target {
                let n = self.next_fresh;
                self.next_fresh += 1;
                self.attempt.push(0);
                self.seen_running.push(false);
                ids.push(task_id(n, 0));
            } else {
                break;
            }
        }
        self.launched += ids.len() as u64;
        ids
    }

    /// `id` is RUNNING (any attempt: a launch thought failed may have run
    /// after all). True when its task was not RUNNING before.
    pub fn run(&mut self, id: &str) -> bool {
        let Some((n, _)) = parse_id(id) else {
            return false;
        };
        match self.seen_running.get_mut(n as usize) {
            Some(seen) if !*seen => {
                *seen = true;
                self.running += 1;
                true
            }
            _ => false,
        }
    }

    /// `id`'s launch failed (refused ACCEPT, TASK_ERROR, ended before
    /// RUNNING): its task is launched again, or given up on after
    /// [`MAX_ATTEMPTS`]. True when this counted (the task's current
    /// attempt, not RUNNING yet); stale or unknown ids change nothing.
    pub fn fail(&mut self, id: &str) -> bool {
        let Some((n, a)) = parse_id(id) else {
            return false;
        };
        let i = n as usize;
        if i >= self.attempt.len() || self.attempt[i] != a || self.seen_running[i] {
            return false;
        }
        if a + 1 >= MAX_ATTEMPTS {
            // Never current again: a late report of it changes nothing.
            self.attempt[i] = MAX_ATTEMPTS;
            self.gave_up += 1;
        } else {
            self.attempt[i] = a + 1;
            self.again.push_back(n);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(task_id(17, 0), "bench-17");
        assert_eq!(task_id(17, 2), "bench-17.2");
        assert_eq!(parse_id("bench-17"), Some((17, 0)));
        assert_eq!(parse_id("bench-17.2"), Some((17, 2)));
        assert_eq!(parse_id("latency-1"), None);
        assert_eq!(parse_id("bench-x"), None);
    }

    #[test]
    fn launch_fail_relaunch_run() {
        let mut l = Launches::new(3);
        assert_eq!(l.take(2), ["bench-0", "bench-1"]);
        assert!(l.fail("bench-1"), "its ACCEPT was refused");
        assert!(!l.fail("bench-1"), "the same failure twice counts once");
        assert_eq!(l.take(5), ["bench-1.1", "bench-2"], "the failed one first");
        assert!(l.run("bench-0"));
        assert!(!l.run("bench-0"), "RUNNING twice counts once");
        assert!(
            !l.fail("bench-0"),
            "a task already RUNNING is not relaunched"
        );
        assert!(l.run("bench-1"), "the first attempt ran after all");
        assert!(!l.run("bench-1.1"));
        assert!(!l.fail("bench-9"), "unknown");
        assert_eq!((l.launched, l.relaunched, l.running), (4, 1, 2));
        assert!(!l.done());
        assert!(l.run("bench-2"));
        assert!(l.done());
        assert!(l.take(10).is_empty());
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let mut l = Launches::new(1);
        let mut id = l.take(1).remove(0);
        for _ in 1..MAX_ATTEMPTS {
            assert!(l.fail(&id));
            id = l.take(1).remove(0);
        }
        assert_eq!(id, format!("bench-0.{}", MAX_ATTEMPTS - 1));
        assert!(l.fail(&id));
        assert_eq!((l.gave_up, l.launched), (1, u64::from(MAX_ATTEMPTS)));
        assert!(l.done());
        assert!(l.take(1).is_empty());
        assert!(!l.fail(&id), "given up: changes nothing");
    }
}
