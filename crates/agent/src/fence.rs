//! Fencing: the highest leader epoch (Raft term) this agent has seen. A
//! message from an older epoch comes from a deposed leader and is refused,
//! so a former leader can never launch or kill anything.
//!
//! [`Fence::observe`] is pure; [`Fence::load`]/[`Fence::persist`] keep the
//! epoch in `agent/epoch` so a restarted agent still refuses old leaders.

use std::path::{Path, PathBuf};

use crate::AgentError;

/// Refused: the sender's epoch is older than one already seen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "message from leader epoch {got} refused: this agent has seen epoch {seen} (a newer leader)"
)]
pub struct Stale {
    pub seen: u64,
    pub got: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    epoch: u64,
    path: Option<PathBuf>,
}

impl Fence {
    /// A fence kept only in memory (tests).
    pub fn in_memory(epoch: u64) -> Fence {
        Fence { epoch, path: None }
    }

    /// Loads the recorded epoch from `dir/epoch` (0 if none yet).
    pub fn load(dir: &Path) -> Result<Fence, AgentError> {
        let path = dir.join("epoch");
        let epoch = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse().map_err(|_| {
                AgentError::Corrupt(format!(
                    "{} does not hold a number; delete it to reset",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(AgentError::Io { path, source }),
        };
        Ok(Fence {
            epoch,
            path: Some(path),
        })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Accepts `got` if it is not older than what was seen; records it if newer.
    /// Returns true when the epoch advanced (the caller should persist).
    pub fn observe(&mut self, got: u64) -> Result<bool, Stale> {
        if got < self.epoch {
            return Err(Stale {
                seen: self.epoch,
                got,
            });
        }
        let advanced = got > self.epoch;
        self.epoch = got;
        Ok(advanced)
    }

    /// [`Fence::observe`], then writes the new epoch to disk if it advanced.
    pub fn observe_and_persist(&mut self, got: u64) -> Result<(), Stale> {
        if self.observe(got)? {
            if let Err(e) = self.persist() {
                tracing::warn!(error = %e, "could not record the leader epoch on disk");
            }
        }
        Ok(())
    }

    fn persist(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.epoch.to_string())?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_cases() {
        // (seen, got) → accepted?, epoch after
        let cases = [
            (0, 0, Ok(false), 0),
            (0, 3, Ok(true), 3),
            (3, 3, Ok(false), 3),
            (5, 4, Err(Stale { seen: 5, got: 4 }), 5),
        ];
        for (seen, got, want, after) in cases {
            let mut f = Fence::in_memory(seen);
            assert_eq!(f.observe(got), want, "seen {seen} got {got}");
            assert_eq!(f.epoch(), after);
        }
    }

    #[test]
    fn survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fence::load(dir.path()).unwrap();
        assert_eq!(f.epoch(), 0);
        f.observe_and_persist(7).unwrap();
        let mut again = Fence::load(dir.path()).unwrap();
        assert_eq!(again.epoch(), 7);
        assert_eq!(again.observe(6), Err(Stale { seen: 7, got: 6 }));
    }
}
