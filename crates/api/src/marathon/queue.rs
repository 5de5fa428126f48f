//! The launch queue (`GET /v2/queue`): apps with instances waiting to
//! start, how many, their launch delay, and what the offers said.
//!
//! corral's addition: each item says in words why it waits
//! (`processedOffersSummary.waitingReason`, e.g. "UNIQUE hostname: every
//! one of the 3 agents already runs an instance"). It lives inside
//! `processedOffersSummary` because marathon-python 0.13.0's
//! `MarathonQueueItem` accepts no key beyond Marathon's at the item level
//! (`app, overdue, count, delay, since, processedOffersSummary,
//! lastUnusedOffers`) and keeps `processedOffersSummary` as a plain dict.

use serde::{Deserialize, Serialize};

use super::app_view::AppView;
use super::time::iso8601;

/// One `queue[]` item. `app` and `delay` are always present (the client
/// parses both unconditionally).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    pub app: AppView,
    /// Instances still to launch.
    pub count: u32,
    pub delay: Delay,
    /// When the app started waiting.
    pub since: String,
    pub processed_offers_summary: OffersSummary,
    /// Only with `embed=lastUnusedOffers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_unused_offers: Option<Vec<UnusedOffer>>,
}

/// The launch delay (backoff after failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delay {
    pub time_left_seconds: u64,
    /// The delay has passed: the app may launch now.
    pub overdue: bool,
}

impl Delay {
    /// The delay at `now_ms` of an app that may launch from `launch_at_ms`
    /// (whole seconds, rounded up, so a waiting app never shows 0).
    pub fn until(now_ms: u64, launch_at_ms: u64) -> Delay {
        let left_ms = launch_at_ms.saturating_sub(now_ms);
        Delay {
            time_left_seconds: left_ms.div_ceil(1000),
            overdue: left_ms == 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffersSummary {
    pub processed_offers_count: u64,
    pub unused_offers_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_unused_offer_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_offer_at: Option<String>,
    /// Per reason, over the last offers: how many reached that check
    /// (`processed`) and how many it declined.
    pub reject_summary_last_offers: Vec<RejectCount>,
    /// corral's addition: why the app waits, for a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectCount {
    pub reason: RejectReason,
    pub declined: u64,
    pub processed: u64,
}

/// Why an offer did not fit, in the order Marathon checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RejectReason {
    UnfulfilledRole,
    UnfulfilledConstraint,
    NoCorrespondingReservationFound,
    AgentMaintenance,
    InsufficientCpus,
    InsufficientMemory,
    InsufficientDisk,
    InsufficientGpus,
    InsufficientPorts,
    DeclinedScarceResources,
}

impl RejectReason {
    pub const ALL: [RejectReason; 10] = [
        RejectReason::UnfulfilledRole,
        RejectReason::UnfulfilledConstraint,
        RejectReason::NoCorrespondingReservationFound,
        RejectReason::AgentMaintenance,
        RejectReason::InsufficientCpus,
        RejectReason::InsufficientMemory,
        RejectReason::InsufficientDisk,
        RejectReason::InsufficientGpus,
        RejectReason::InsufficientPorts,
        RejectReason::DeclinedScarceResources,
    ];
}

/// Marathon's funnel over `offers` offers: every reason in order, each
/// seeing the offers the earlier ones let through. `declined` lists the
/// offers each reason declined (first failing check only).
pub fn reject_summary(offers: u64, declined: &[(RejectReason, u64)]) -> Vec<RejectCount> {
    let mut left = offers;
    RejectReason::ALL
        .iter()
        .map(|reason| {
            let n = declined
                .iter()
                .filter(|(r, _)| r == reason)
                .map(|(_, n)| n)
                .sum::<u64>()
                .min(left);
            let row = RejectCount {
                reason: *reason,
                declined: n,
                processed: left,
            };
            left -= n;
            row
        })
        .collect()
}

/// One offer the app could not use (`embed=lastUnusedOffers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnusedOffer {
    pub offer: OfferView,
    pub timestamp: String,
    pub reason: Vec<RejectReason>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferView {
    pub id: String,
    pub agent_id: String,
    pub hostname: String,
    pub resources: Vec<OfferResource>,
    pub attributes: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferResource {
    pub name: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<PortRange>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub begin: u16,
    pub end: u16,
}

impl UnusedOffer {
    pub fn new(offer: OfferView, at_ms: u64, reason: Vec<RejectReason>) -> UnusedOffer {
        UnusedOffer {
            offer,
            timestamp: iso8601(at_ms),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marathon::app::to_spec;
    use crate::marathon::app_view::definition_view;
    use crate::marathon::whitelist;
    use serde_json::json;

    fn item(last_unused: Option<Vec<UnusedOffer>>) -> QueueItem {
        let spec = to_spec(
            &serde_json::from_value(json!({"id": "/shop/web", "cmd": "web", "instances": 3,
                "constraints": [["hostname", "UNIQUE"]]}))
            .unwrap(),
            None,
            false,
        )
        .unwrap();
        QueueItem {
            app: definition_view(&spec, 1000),
            count: 1,
            delay: Delay::until(5_000, 7_500),
            since: iso8601(2000),
            processed_offers_summary: OffersSummary {
                processed_offers_count: 3,
                unused_offers_count: 3,
                last_unused_offer_at: Some(iso8601(4000)),
                last_used_offer_at: None,
                reject_summary_last_offers: reject_summary(
                    3,
                    &[(RejectReason::UnfulfilledConstraint, 3)],
                ),
                waiting_reason: Some(
                    "UNIQUE hostname: every one of the 3 agents already runs an instance".into(),
                ),
            },
            last_unused_offers: last_unused,
        }
    }

    #[test]
    fn an_item_waiting_for_a_constraint() {
        let got = serde_json::to_value(item(None)).unwrap();
        whitelist::check(&got, &whitelist::QUEUE_ITEM, "queue item");
        assert_eq!(got["count"], 1);
        assert_eq!(
            got["delay"],
            json!({"timeLeftSeconds": 3, "overdue": false})
        );
        assert_eq!(got["since"], "1970-01-01T00:00:02.000Z");
        assert_eq!(got.get("lastUnusedOffers"), None, "only on request");
        let summary = &got["processedOffersSummary"];
        assert_eq!(
            summary["waitingReason"],
            "UNIQUE hostname: every one of the 3 agents already runs an instance"
        );
        assert_eq!(
            summary["rejectSummaryLastOffers"][1],
            json!({"reason": "UnfulfilledConstraint", "declined": 3, "processed": 3})
        );
        assert_eq!(
            summary["rejectSummaryLastOffers"][2],
            json!({"reason": "NoCorrespondingReservationFound", "declined": 0, "processed": 0})
        );
    }

    #[test]
    fn last_unused_offers_on_request() {
        let offer = OfferView {
            id: "o-1".into(),
            agent_id: "m1".into(),
            hostname: "node-1".into(),
            resources: vec![
                OfferResource {
                    name: "cpus".into(),
                    role: "*".into(),
                    scalar: Some(2.0),
                    ranges: None,
                },
                OfferResource {
                    name: "ports".into(),
                    role: "*".into(),
                    scalar: None,
                    ranges: Some(vec![PortRange {
                        begin: 31000,
                        end: 32000,
                    }]),
                },
            ],
            attributes: vec![],
        };
        let got = serde_json::to_value(item(Some(vec![UnusedOffer::new(
            offer,
            4000,
            vec![RejectReason::InsufficientMemory],
        )])))
        .unwrap();
        whitelist::check(&got, &whitelist::QUEUE_ITEM, "queue item");
        assert_eq!(
            got["lastUnusedOffers"],
            json!([{
                "offer": {"id": "o-1", "agentId": "m1", "hostname": "node-1",
                          "resources": [{"name": "cpus", "role": "*", "scalar": 2.0},
                                        {"name": "ports", "role": "*", "ranges": [{"begin": 31000, "end": 32000}]}],
                          "attributes": []},
                "timestamp": "1970-01-01T00:00:04.000Z",
                "reason": ["InsufficientMemory"]
            }])
        );
    }

    #[test]
    fn delays_and_funnels() {
        let cases = [
            (
                0,
                0,
                Delay {
                    time_left_seconds: 0,
                    overdue: true,
                },
            ),
            (
                5000,
                1000,
                Delay {
                    time_left_seconds: 0,
                    overdue: true,
                },
            ),
            (
                1000,
                1001,
                Delay {
                    time_left_seconds: 1,
                    overdue: false,
                },
            ),
            (
                1000,
                4000,
                Delay {
                    time_left_seconds: 3,
                    overdue: false,
                },
            ),
        ];
        for (now, at, want) in cases {
            assert_eq!(Delay::until(now, at), want, "now {now}, launch at {at}");
        }
        let rows = reject_summary(
            10,
            &[
                (RejectReason::InsufficientCpus, 4),
                (RejectReason::UnfulfilledRole, 1),
                (RejectReason::InsufficientPorts, 99),
            ],
        );
        let got: Vec<(RejectReason, u64, u64)> = rows
            .iter()
            .filter(|r| r.declined > 0)
            .map(|r| (r.reason, r.declined, r.processed))
            .collect();
        assert_eq!(
            got,
            [
                (RejectReason::UnfulfilledRole, 1, 10),
                (RejectReason::InsufficientCpus, 4, 9),
                (RejectReason::InsufficientPorts, 5, 5),
            ]
        );
        assert_eq!(rows.len(), 10);
    }
}
