//! What the app scheduler remembers while this server leads (leader
//! memory, reset on a new term): offers in hand, kills sent, launch
//! backoff and last failure per app, why an app waits, and health and
//! readiness check results.

use std::collections::HashMap;

use corral_api::mesos_v1::Offer;
use corral_core::app::AppId;
use corral_core::deploy::Backoff;
use corral_core::TaskId;

use super::health::HealthBook;
use super::readiness::ReadinessBook;

/// A task of the app that ended without being asked to.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub task: TaskId,
    pub state: String,
    pub message: String,
    pub agent: String,
    pub host: String,
    pub at_ms: u64,
    pub version: String,
}

#[derive(Debug, Default)]
pub struct Book {
    pub term: u64,
    /// Offers received and not yet used or declined.
    pub offers: Vec<Offer>,
    /// Tasks whose end this leader has already taken in (a status sent
    /// again is not a second failure).
    pub ended: std::collections::HashSet<TaskId>,
    /// Kills sent, by task, with when.
    pub killing: HashMap<TaskId, u64>,
    /// Launch backoff per app, for the config version it applies to.
    pub backoff: HashMap<AppId, (u64, Backoff)>,
    pub last_failure: HashMap<AppId, Failure>,
    /// Why an app's next instance has no place (for the queue and status).
    pub waiting: HashMap<AppId, String>,
    /// When each `waiting` sentence was worked out.
    pub waiting_since: HashMap<AppId, u64>,
    /// Instances asked for and not yet placed, per app.
    pub queued: HashMap<AppId, u32>,
    /// Since when each app has been waiting for a place.
    pub queued_since: HashMap<AppId, u64>,
    pub last_revive_ms: u64,
    /// Offers are suppressed (nothing to launch).
    pub suppressed: bool,
    /// Health check results per instance (`health`).
    pub health: HealthBook,
    /// Readiness check results per instance (`readiness`).
    pub readiness: ReadinessBook,
}

impl Book {
    pub fn reset(&mut self, term: u64) {
        *self = Book {
            term,
            ..Book::default()
        };
    }

    /// The app's backoff for `config_version`, started fresh when the
    /// config changed.
    pub fn backoff(&mut self, app: &AppId, config_version: u64) -> &mut Backoff {
        let entry = self
            .backoff
            .entry(app.clone())
            .or_insert((config_version, Backoff::default()));
        if entry.0 != config_version {
            *entry = (config_version, Backoff::default());
        }
        &mut entry.1
    }
}
