//! [`StoreConfig`] and its translation into openraft's `Config`.
//!
//! Owns: defaults, validation (errors name the `StoreConfig` field), and the
//! fixed tuning the store applies on top. Never starts anything.

use std::path::PathBuf;
use std::sync::Arc;

use openraft::{Config, ConfigError, SnapshotPolicy};

use crate::error::StoreError;

/// How many entries one AppendEntries RPC carries at most. An entry is a
/// batch of up to `batcher::MAX_BATCH` requests, and the RPC must finish
/// within the heartbeat interval, so this stays small.
const MAX_PAYLOAD_ENTRIES: u64 = 16;
/// Logs kept after a snapshot, so a briefly lagging follower catches up from
/// the log rather than by a full snapshot.
const LOGS_KEPT_AFTER_SNAPSHOT: u64 = 1000;
/// Snapshot chunk size on the wire (chunks travel as JSON arrays, ~4x).
const SNAPSHOT_CHUNK_BYTES: u64 = 1024 * 1024;
/// Time for one snapshot chunk to be sent and, for the last, installed.
const SNAPSHOT_CHUNK_TIMEOUT_MS: u64 = 5000;

/// Settings of one server's store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Raft node id; stable for the life of the server.
    pub id: u64,
    /// Data dir for this server's store (created if missing).
    pub dir: PathBuf,
    /// Leader heartbeat interval; also the time limit of one AppendEntries RPC.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout (must be > heartbeat_ms).
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout (must be > election_min_ms).
    pub election_max_ms: u64,
    /// Logs since the last snapshot before a new one is taken.
    pub snapshot_every: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            id: 0,
            dir: PathBuf::from("."),
            heartbeat_ms: 40,
            election_min_ms: 90,
            election_max_ms: 140,
            snapshot_every: 5_000,
        }
    }
}

impl StoreConfig {
    /// Builds and validates openraft's config from this one.
    pub(crate) fn raft_config(&self) -> Result<Arc<Config>, StoreError> {
        if self.heartbeat_ms == 0 {
            return Err(StoreError::Config {
                field: "heartbeat_ms",
                reason: "must be > 0".into(),
            });
        }
        if self.snapshot_every == 0 {
            return Err(StoreError::Config {
                field: "snapshot_every",
                reason: "must be > 0".into(),
            });
        }
        let config = Config {
            cluster_name: "corral".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            enable_tick: true,
            enable_heartbeat: true,
            enable_elect: true,
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: LOGS_KEPT_AFTER_SNAPSHOT,
            // openraft advises a lag threshold above the snapshot interval.
            replication_lag_threshold: self.snapshot_every + LOGS_KEPT_AFTER_SNAPSHOT,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            install_snapshot_timeout: SNAPSHOT_CHUNK_TIMEOUT_MS,
            ..Config::default()
        };
        config
            .validate()
            .map(Arc::new)
            .map_err(|e| self.config_error(e))
    }

    /// Names the `StoreConfig` field behind an openraft config error.
    fn config_error(&self, e: ConfigError) -> StoreError {
        match e {
            ConfigError::ElectionTimeout { min, max } => StoreError::Config {
                field: "election_min_ms",
                reason: format!("must be < election_max_ms ({min} >= {max})"),
            },
            ConfigError::ElectionTimeoutLTHeartBeat {
                election_timeout_min,
                heartbeat_interval,
            } => StoreError::Config {
                field: "election_min_ms",
                reason: format!(
                    "must be > heartbeat_ms ({election_timeout_min} <= {heartbeat_interval})"
                ),
            },
            other => StoreError::Config {
                field: "(raft config)",
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cfg: StoreConfig, want: &str) {
        let got = match cfg.raft_config() {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, want);
    }

    #[test]
    fn validation_names_the_field() {
        check(StoreConfig::default(), "ok");
        check(
            StoreConfig {
                election_min_ms: 300,
                election_max_ms: 300,
                ..Default::default()
            },
            "invalid store config: election_min_ms: must be < election_max_ms (300 >= 300)",
        );
        check(
            StoreConfig {
                heartbeat_ms: 200,
                ..Default::default()
            },
            "invalid store config: election_min_ms: must be > heartbeat_ms (90 <= 200)",
        );
        check(
            StoreConfig {
                snapshot_every: 0,
                ..Default::default()
            },
            "invalid store config: snapshot_every: must be > 0",
        );
        check(
            StoreConfig {
                heartbeat_ms: 0,
                ..Default::default()
            },
            "invalid store config: heartbeat_ms: must be > 0",
        );
    }
}
