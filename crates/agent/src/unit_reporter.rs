//! Reports this machine's units to the leader (`POST /v1/agents/units`):
//! the full set of statuses whenever the unit runner's watch changes, and
//! again every [`RESEND`] (a new leader, or a report lost on the way), so
//! the replicated state always ends up with what really runs here.
//!
//! Owns nothing but the sending; the leader commits a report only when it
//! differs from what the state holds.

use std::sync::Arc;
use std::time::Duration;

use corral_api::client::Method;
use corral_api::unit_view::UnitsReport;
use corral_api::units::UnitStatus;

use crate::AgentShared;

/// How often the full set is sent even when nothing changed.
pub const RESEND: Duration = Duration::from_secs(10);

pub async fn run(shared: Arc<AgentShared>) {
    let client = crate::reporter::client(shared.cfg.servers.clone());
    let mut watch = shared.units.subscribe();
    let mut last_sent: Option<Vec<UnitStatus>> = None;
    let mut resend = tokio::time::interval(RESEND);
    resend.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry_soon = false;
    loop {
        let forced = tokio::select! {
            changed = watch.changed() => {
                if changed.is_err() {
                    return;
                }
                false
            }
            _ = resend.tick() => true,
            _ = tokio::time::sleep(Duration::from_millis(500)), if retry_soon => true,
        };
        let units = watch.borrow_and_update().clone();
        if !forced && !retry_soon && last_sent.as_ref() == Some(&units) {
            continue;
        }
        let report = UnitsReport {
            machine: shared.registration.id.0.clone(),
            units: units.clone(),
        };
        match client
            .call::<_, serde_json::Value>(Method::POST, "/v1/agents/units", Some(&report))
            .await
        {
            Ok(_) => {
                last_sent = Some(units);
                retry_soon = false;
            }
            Err(e) => {
                tracing::debug!(error = %e, "unit states not delivered; retrying");
                retry_soon = true;
            }
        }
    }
}
