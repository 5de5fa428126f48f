//! Framework failover timeouts: a framework whose event stream is gone has
//! `failover_timeout` to subscribe again; after that it is removed and its
//! tasks are killed (Mesos's semantics). Leader memory: a new leader gives
//! every framework a full timeout from its election. [`expired`] is pure.

use std::collections::HashMap;

use corral_core::{FrameworkId, State};

/// Since when each framework has been without a stream (leader memory).
#[derive(Debug, Default)]
pub struct Disconnected {
    since: HashMap<FrameworkId, u64>,
    term: u64,
}

impl Disconnected {
    /// Starts over for a new term.
    pub fn reset(&mut self, term: u64) {
        *self = Disconnected {
            since: HashMap::new(),
            term,
        };
    }

    pub fn term(&self) -> u64 {
        self.term
    }
}

/// Active frameworks without a stream for longer than their failover
/// timeout at `now_ms`, updating the bookkeeping.
pub fn expired(
    d: &mut Disconnected,
    state: &State,
    subscribed: &[FrameworkId],
    now_ms: u64,
) -> Vec<FrameworkId> {
    let mut out = Vec::new();
    for f in state.frameworks.values().filter(|f| f.is_active()) {
        if subscribed.contains(&f.id) {
            d.since.remove(&f.id);
            continue;
        }
        let since = *d.since.entry(f.id.clone()).or_insert(now_ms);
        if now_ms.saturating_sub(since) >= f.info.failover_timeout_ms {
            out.push(f.id.clone());
        }
    }
    d.since
        .retain(|id, _| state.frameworks.get(id).is_some_and(|f| f.is_active()));
    out
}

#[cfg(test)]
mod tests {
    use corral_core::{Command, FrameworkInfo, Request};

    use super::*;

    #[test]
    fn timeouts() {
        let mut s = State::default();
        for (id, ms) in [("f1", 1_000), ("f2", 5_000)] {
            let info = FrameworkInfo {
                failover_timeout_ms: ms,
                ..Default::default()
            };
            s.apply(&Request {
                now_ms: 0,
                command: Command::RegisterFramework {
                    id: FrameworkId(id.into()),
                    info,
                },
            });
        }
        let f1 = FrameworkId("f1".into());
        let mut d = Disconnected::default();
        let names = |v: Vec<FrameworkId>| v.into_iter().map(|f| f.0).collect::<Vec<_>>().join(",");
        // Subscribed frameworks never expire.
        assert_eq!(
            names(expired(
                &mut d,
                &s,
                &[f1.clone(), FrameworkId("f2".into())],
                0
            )),
            ""
        );
        // Both go away at 10 s; f1 (1 s) expires first, f2 (5 s) later.
        assert_eq!(names(expired(&mut d, &s, &[], 10_000)), "");
        assert_eq!(names(expired(&mut d, &s, &[], 11_000)), "f1");
        assert_eq!(names(expired(&mut d, &s, &[], 15_000)), "f1,f2");
        // Coming back resets the clock.
        assert_eq!(
            names(expired(&mut d, &s, std::slice::from_ref(&f1), 15_001)),
            "f2"
        );
        assert_eq!(names(expired(&mut d, &s, &[], 15_500)), "f2");
    }
}
