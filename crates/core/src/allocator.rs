//! The allocator: who gets offered which agent's free resources. Pure — the
//! master feeds it a snapshot and a time, and sends the offers it returns.
//!
//! Policy (Mesos's, simplified to one level): every agent's free resources
//! go, whole, to the eligible framework with the lowest weighted dominant
//! share (Dominant Resource Fairness); its share then grows by what it was
//! offered before the next agent is considered. A framework is eligible for
//! an agent unless it is suppressed or has an unexpired decline filter for
//! that agent. Ties break by framework id, agents go in id order, so the
//! same input always gives the same offers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::framework::FrameworkId;
use crate::machine::{MachineId, Resources};

/// Below this much free cpu *and* memory an agent is not worth offering
/// (Mesos: 0.01 cpus or 32 MB).
pub const MIN_OFFER_CPUS: f64 = 0.01;
pub const MIN_OFFER_MEM_MB: u64 = 32;
/// Decline filter when the framework gives none (Mesos: 5 s).
pub const DEFAULT_REFUSE_MS: u64 = 5_000;
/// Longest decline filter accepted (Mesos: 365 days).
pub const MAX_REFUSE_MS: u64 = 365 * 24 * 3600 * 1000;

/// An offer's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OfferId(pub String);

/// An agent as the allocator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocAgent {
    pub id: MachineId,
    pub total: Resources,
    /// Held by tasks and by outstanding offers.
    pub used: Resources,
    /// Only active (heartbeating) agents are offered.
    pub active: bool,
}

/// "Don't offer me this agent before `until_ms`" (a declined offer's filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub agent: MachineId,
    pub until_ms: u64,
}

/// A framework as the allocator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocFramework {
    pub id: FrameworkId,
    pub role: String,
    /// SUPPRESS: no offers until REVIVE.
    pub suppressed: bool,
    /// Held by its tasks and its outstanding offers.
    pub allocated: Resources,
    pub filters: Vec<Filter>,
}

/// One offer to make: all of an agent's free resources, to one framework.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub framework: FrameworkId,
    pub agent: MachineId,
    pub resources: Resources,
}

/// An offer that was sent and not yet answered.
#[derive(Debug, Clone, PartialEq)]
pub struct OutstandingOffer {
    pub id: OfferId,
    pub framework: FrameworkId,
    pub agent: MachineId,
    pub resources: Resources,
    pub created_ms: u64,
}

/// The share of the cluster `allocated` holds in its most-used resource.
pub fn dominant_share(allocated: &Resources, total: &Resources) -> f64 {
    let share = |used: f64, all: f64| if all > 0.0 { used / all } else { 0.0 };
    share(allocated.cpus, total.cpus)
        .max(share(allocated.mem_mb as f64, total.mem_mb as f64))
        .max(share(allocated.disk_mb as f64, total.disk_mb as f64))
}

fn worth_offering(free: &Resources) -> bool {
    free.cpus >= MIN_OFFER_CPUS || free.mem_mb >= MIN_OFFER_MEM_MB
}

/// One allocation round. `weights` maps role → weight (absent = 1).
pub fn allocate(
    agents: &[AllocAgent],
    frameworks: &[AllocFramework],
    weights: &BTreeMap<String, f64>,
    now_ms: u64,
) -> Vec<Offer> {
    let total = agents
        .iter()
        .filter(|a| a.active)
        .fold(Resources::default(), |acc, a| acc.plus(&a.total));
    let mut allocated: Vec<Resources> = frameworks.iter().map(|f| f.allocated.clone()).collect();
    let mut agents: Vec<&AllocAgent> = agents.iter().filter(|a| a.active).collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    let mut offers = Vec::new();
    for agent in agents {
        let free = agent.total.minus(&agent.used);
        if !worth_offering(&free) {
            continue;
        }
        let pick = frameworks
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.suppressed)
            .filter(|(_, f)| {
                !f.filters
                    .iter()
                    .any(|flt| flt.agent == agent.id && flt.until_ms > now_ms)
            })
            .map(|(i, f)| {
                let weight = weights
                    .get(&f.role)
                    .copied()
                    .filter(|w| *w > 0.0)
                    .unwrap_or(1.0);
                (dominant_share(&allocated[i], &total) / weight, &f.id, i)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        if let Some((_, _, i)) = pick {
            allocated[i] = allocated[i].plus(&free);
            offers.push(Offer {
                framework: frameworks[i].id.clone(),
                agent: agent.id.clone(),
                resources: free,
            });
        }
    }
    offers
}

/// The filter a DECLINE (or the unused part of an ACCEPT) leaves:
/// `refuse_seconds` absent → 5 s; capped at 365 days; negative → none.
pub fn decline_filter(
    agent: &MachineId,
    now_ms: u64,
    refuse_seconds: Option<f64>,
) -> Option<Filter> {
    let ms = match refuse_seconds {
        None => DEFAULT_REFUSE_MS,
        Some(s) if !s.is_finite() || s < 0.0 => return None,
        Some(s) => ((s * 1000.0) as u64).min(MAX_REFUSE_MS),
    };
    Some(Filter {
        agent: agent.clone(),
        until_ms: now_ms.saturating_add(ms),
    })
}

/// Offers to take back because their agent was lost.
pub fn rescind_for_lost_agent(outstanding: &[OutstandingOffer], agent: &MachineId) -> Vec<OfferId> {
    outstanding
        .iter()
        .filter(|o| &o.agent == agent)
        .map(|o| o.id.clone())
        .collect()
}

/// Offers unanswered for longer than `timeout_ms`: rescinded, their
/// resources go back to the pool.
pub fn expired_offers(
    outstanding: &[OutstandingOffer],
    now_ms: u64,
    timeout_ms: u64,
) -> Vec<OfferId> {
    outstanding
        .iter()
        .filter(|o| now_ms.saturating_sub(o.created_ms) >= timeout_ms)
        .map(|o| o.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(cpus: f64, mem: u64) -> Resources {
        Resources {
            cpus,
            mem_mb: mem,
            disk_mb: 0,
            ports: vec![],
        }
    }

    fn agent(n: &str, cpus: f64, mem: u64, used: (f64, u64)) -> AllocAgent {
        AllocAgent {
            id: MachineId(n.into()),
            total: res(cpus, mem),
            used: res(used.0, used.1),
            active: true,
        }
    }

    fn fw(id: &str, role: &str, alloc: (f64, u64)) -> AllocFramework {
        AllocFramework {
            id: FrameworkId(id.into()),
            role: role.into(),
            suppressed: false,
            allocated: res(alloc.0, alloc.1),
            filters: vec![],
        }
    }

    /// Runs one round and renders the offers as `fw<-agent(cpus,mem)` lines.
    fn check(
        agents: &[AllocAgent],
        fws: &[AllocFramework],
        weights: &[(&str, f64)],
        now: u64,
        want: &str,
    ) {
        let weights = weights.iter().map(|(r, w)| (r.to_string(), *w)).collect();
        let got: Vec<String> = allocate(agents, fws, &weights, now)
            .iter()
            .map(|o| {
                format!(
                    "{}<-{}({},{})",
                    o.framework.0, o.agent.0, o.resources.cpus, o.resources.mem_mb
                )
            })
            .collect();
        assert_eq!(got.join(" "), want);
    }

    #[test]
    fn drf_shares() {
        let three = [
            agent("a1", 4.0, 4096, (0.0, 0)),
            agent("a2", 4.0, 4096, (0.0, 0)),
            agent("a3", 4.0, 4096, (0.0, 0)),
        ];
        // One framework takes everything.
        check(
            &three,
            &[fw("f1", "*", (0.0, 0))],
            &[],
            0,
            "f1<-a1(4,4096) f1<-a2(4,4096) f1<-a3(4,4096)",
        );
        // Two equal frameworks alternate; ties go to the smaller id.
        check(
            &three,
            &[fw("f2", "*", (0.0, 0)), fw("f1", "*", (0.0, 0))],
            &[],
            0,
            "f1<-a1(4,4096) f2<-a2(4,4096) f1<-a3(4,4096)",
        );
        // The framework already holding more (dominant share in memory) waits.
        check(
            &three,
            &[fw("big", "*", (0.5, 6000)), fw("small", "*", (3.0, 100))],
            &[],
            0,
            "small<-a1(4,4096) big<-a2(4,4096) small<-a3(4,4096)",
        );
        // Weights: a role of weight 3 may hold three times the share: after
        // light's first offer (1/3), heavy at 2/3 ÷ 3 = 2/9 still ranks lower.
        check(
            &three,
            &[
                fw("heavy", "prod", (4.0, 4096)),
                fw("light", "dev", (0.0, 0)),
            ],
            &[("prod", 3.0)],
            0,
            "light<-a1(4,4096) heavy<-a2(4,4096) heavy<-a3(4,4096)",
        );
    }

    #[test]
    fn free_resources_only() {
        // Used resources are not offered; a nearly full agent is skipped.
        let agents = [
            agent("a1", 4.0, 4096, (3.5, 1024)),
            agent("a2", 4.0, 4096, (4.0, 4080)),
        ];
        check(
            &agents,
            &[fw("f1", "*", (0.0, 0))],
            &[],
            0,
            "f1<-a1(0.5,3072)",
        );
        // Inactive agents are neither offered nor counted.
        let mut gone = agent("a3", 64.0, 65536, (0.0, 0));
        gone.active = false;
        check(
            &[agents[0].clone(), gone],
            &[fw("f1", "*", (0.0, 0))],
            &[],
            0,
            "f1<-a1(0.5,3072)",
        );
        check(&agents, &[], &[], 0, "");
    }

    #[test]
    fn filters_and_suppress() {
        let two = [
            agent("a1", 2.0, 2048, (0.0, 0)),
            agent("a2", 2.0, 2048, (0.0, 0)),
        ];
        let mut f1 = fw("f1", "*", (0.0, 0));
        f1.filters = vec![Filter {
            agent: MachineId("a1".into()),
            until_ms: 5_000,
        }];
        // Filtered on a1 until 5 s: a1 goes to the other framework, or to nobody.
        check(
            &two,
            &[f1.clone(), fw("f2", "*", (0.0, 0))],
            &[],
            1_000,
            "f2<-a1(2,2048) f1<-a2(2,2048)",
        );
        check(&two, &[f1.clone()], &[], 1_000, "f1<-a2(2,2048)");
        // The filter expires.
        check(
            &two,
            &[f1.clone()],
            &[],
            5_000,
            "f1<-a1(2,2048) f1<-a2(2,2048)",
        );
        // Suppressed frameworks get nothing; revived (unsuppressed, filters cleared) they do.
        let mut s = fw("f1", "*", (0.0, 0));
        s.suppressed = true;
        check(&two, &[s.clone()], &[], 0, "");
        s.suppressed = false;
        check(&two, &[s], &[], 0, "f1<-a1(2,2048) f1<-a2(2,2048)");
    }

    #[test]
    fn decline_filters() {
        let a = MachineId("a1".into());
        assert_eq!(
            decline_filter(&a, 1_000, None).map(|f| f.until_ms),
            Some(6_000)
        );
        assert_eq!(
            decline_filter(&a, 1_000, Some(0.5)).map(|f| f.until_ms),
            Some(1_500)
        );
        assert_eq!(
            decline_filter(&a, 0, Some(1e12)).map(|f| f.until_ms),
            Some(MAX_REFUSE_MS)
        );
        assert_eq!(decline_filter(&a, 0, Some(-1.0)), None);
        assert_eq!(decline_filter(&a, 0, Some(f64::NAN)), None);
    }

    #[test]
    fn rescind_and_expire() {
        let o = |id: &str, agent: &str, at: u64| OutstandingOffer {
            id: OfferId(id.into()),
            framework: FrameworkId("f".into()),
            agent: MachineId(agent.into()),
            resources: res(1.0, 1),
            created_ms: at,
        };
        let out = [o("o1", "a1", 0), o("o2", "a2", 0), o("o3", "a1", 9_000)];
        let ids = |v: Vec<OfferId>| v.into_iter().map(|i| i.0).collect::<Vec<_>>().join(",");
        assert_eq!(
            ids(rescind_for_lost_agent(&out, &MachineId("a1".into()))),
            "o1,o3"
        );
        assert_eq!(ids(expired_offers(&out, 10_000, 10_000)), "o1,o2");
        assert_eq!(ids(expired_offers(&out, 9_999, 10_000)), "");
    }

    #[test]
    fn dominant_shares() {
        let total = res(10.0, 1000);
        assert_eq!(dominant_share(&res(1.0, 500), &total), 0.5);
        assert_eq!(dominant_share(&res(5.0, 100), &total), 0.5);
        assert_eq!(dominant_share(&res(1.0, 1), &Resources::default()), 0.0);
    }
}
