//! The leader's offer book and one allocation round. Offers, decline
//! filters and suppression live in leader memory (a new leader starts with
//! none, and frameworks get fresh offers). [`round`] is pure: state, book
//! and time in; offers to send and offers to rescind out.

use std::collections::{BTreeMap, HashMap, HashSet};

use corral_core::allocator::{
    self, decline_filter, expired_offers, AllocAgent, AllocFramework, Filter, OfferId,
    OutstandingOffer,
};
use corral_core::{AgentStatus, FrameworkId, MachineId, Resources, State};

/// Offers, filters and suppression, as the leader keeps them.
#[derive(Debug, Default)]
pub struct OfferBook {
    pub outstanding: BTreeMap<OfferId, OutstandingOffer>,
    pub filters: HashMap<FrameworkId, Vec<Filter>>,
    pub suppressed: HashSet<FrameworkId>,
    /// The term these offers belong to (offer ids carry it).
    pub term: u64,
    next: u64,
}

/// What one round decided.
#[derive(Debug, Default, PartialEq)]
pub struct Round {
    /// New offers, to send to their frameworks.
    pub offers: Vec<OutstandingOffer>,
    /// Offers taken back (expired, agent gone, framework gone), to tell
    /// their frameworks.
    pub rescinded: Vec<OutstandingOffer>,
}

impl OfferBook {
    /// Forgets everything (a new term): offers of an old term mean nothing.
    pub fn reset(&mut self, term: u64) {
        *self = OfferBook {
            term,
            ..OfferBook::default()
        };
    }

    /// What the outstanding offers hold, by agent and by framework (one
    /// pass, however many agents and frameworks ask).
    fn offered(
        &self,
    ) -> (
        HashMap<&MachineId, Resources>,
        HashMap<&FrameworkId, Resources>,
    ) {
        let mut by_agent: HashMap<&MachineId, Resources> = HashMap::new();
        let mut by_framework: HashMap<&FrameworkId, Resources> = HashMap::new();
        for o in self.outstanding.values() {
            let a = by_agent.entry(&o.agent).or_default();
            *a = a.plus(&o.resources);
            let f = by_framework.entry(&o.framework).or_default();
            *f = f.plus(&o.resources);
        }
        (by_agent, by_framework)
    }

    /// A DECLINE: the framework's named offers go back, with a filter per agent.
    pub fn decline(
        &mut self,
        framework: &FrameworkId,
        ids: &[OfferId],
        refuse_seconds: Option<f64>,
        now_ms: u64,
    ) -> usize {
        let mut n = 0;
        for id in ids {
            if self
                .outstanding
                .get(id)
                .is_some_and(|o| &o.framework == framework)
            {
                if let Some(o) = self.outstanding.remove(id) {
                    n += 1;
                    if let Some(f) = decline_filter(&o.agent, now_ms, refuse_seconds) {
                        self.filters.entry(framework.clone()).or_default().push(f);
                    }
                }
            }
        }
        n
    }

    /// Takes the framework's named offers out of the book (an ACCEPT);
    /// unknown or foreign ids are skipped.
    pub fn take(&mut self, framework: &FrameworkId, ids: &[OfferId]) -> Vec<OutstandingOffer> {
        let mine: Vec<OfferId> = ids
            .iter()
            .filter(|id| {
                self.outstanding
                    .get(*id)
                    .is_some_and(|o| &o.framework == framework)
            })
            .cloned()
            .collect();
        mine.iter()
            .filter_map(|id| self.outstanding.remove(id))
            .collect()
    }

    /// Filters `agent` for `framework` (the unused part of an ACCEPT).
    pub fn filter(
        &mut self,
        framework: &FrameworkId,
        agent: &MachineId,
        refuse_seconds: Option<f64>,
        now_ms: u64,
    ) {
        if let Some(f) = decline_filter(agent, now_ms, refuse_seconds) {
            self.filters.entry(framework.clone()).or_default().push(f);
        }
    }

    /// SUPPRESS: no offers until REVIVE.
    pub fn suppress(&mut self, framework: &FrameworkId) {
        self.suppressed.insert(framework.clone());
    }

    /// REVIVE: offers again, and every decline filter is forgotten.
    pub fn revive(&mut self, framework: &FrameworkId) {
        self.suppressed.remove(framework);
        self.filters.remove(framework);
    }
}

/// One allocation round at `now_ms` for the `subscribed` frameworks.
pub fn round(
    book: &mut OfferBook,
    state: &State,
    subscribed: &[FrameworkId],
    weights: &BTreeMap<String, f64>,
    now_ms: u64,
    offer_timeout_ms: u64,
) -> Round {
    let mut result = Round::default();
    // Take back what can no longer stand: expired, agent not active,
    // framework gone or no longer listening.
    let mut gone: Vec<OfferId> = expired_offers(
        &book.outstanding.values().cloned().collect::<Vec<_>>(),
        now_ms,
        offer_timeout_ms,
    );
    for o in book.outstanding.values() {
        let agent_ok = state
            .agents
            .get(&o.agent)
            .is_some_and(|a| a.status == AgentStatus::Active);
        let fw_ok = subscribed.contains(&o.framework);
        if !agent_ok || !fw_ok {
            gone.push(o.id.clone());
        }
    }
    for id in gone {
        if let Some(o) = book.outstanding.remove(&id) {
            result.rescinded.push(o);
        }
    }
    for filters in book.filters.values_mut() {
        filters.retain(|f| f.until_ms > now_ms);
    }

    let (offered_on, offered_to) = book.offered();
    let none = Resources::default();
    let agents: Vec<AllocAgent> = state
        .agents
        .values()
        .map(|a| AllocAgent {
            id: a.info.id.clone(),
            total: a.info.resources.clone(),
            used: state
                .used_on_agent(&a.info.id)
                .plus(offered_on.get(&a.info.id).unwrap_or(&none)),
            active: a.status == AgentStatus::Active,
        })
        .collect();
    let frameworks: Vec<AllocFramework> = subscribed
        .iter()
        .filter_map(|id| state.frameworks.get(id).filter(|f| f.is_active()))
        .map(|f| AllocFramework {
            id: f.id.clone(),
            role: f.info.roles.first().cloned().unwrap_or_else(|| "*".into()),
            suppressed: book.suppressed.contains(&f.id),
            allocated: state
                .allocated_to(&f.id)
                .plus(offered_to.get(&f.id).unwrap_or(&none)),
            filters: book.filters.get(&f.id).cloned().unwrap_or_default(),
        })
        .collect();
    for offer in allocator::allocate(&agents, &frameworks, weights, now_ms) {
        book.next += 1;
        let o = OutstandingOffer {
            id: OfferId(format!("T{}-O{}", book.term, book.next)),
            framework: offer.framework,
            agent: offer.agent,
            resources: offer.resources,
            created_ms: now_ms,
        };
        book.outstanding.insert(o.id.clone(), o.clone());
        result.offers.push(o);
    }
    result
}

/// Offers on `agent` (for rescinding when it is lost).
pub fn on_agent<'a>(
    book: &'a OfferBook,
    agent: &'a MachineId,
) -> impl Iterator<Item = &'a OutstandingOffer> {
    book.outstanding.values().filter(move |o| &o.agent == agent)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use corral_core::{AgentRegistration, Command, FrameworkInfo, MachineId, Request};

    use super::*;

    fn state() -> State {
        let mut s = State::default();
        for n in 1..=2u8 {
            let reg = AgentRegistration {
                id: MachineId(format!("a{n}")),
                hostname: format!("m{n}"),
                ip: "127.0.0.1".into(),
                agent_port: 5051,
                resources: Resources {
                    cpus: 2.0,
                    mem_mb: 1024,
                    disk_mb: 0,
                    ports: vec![],
                },
                attributes: BTreeMap::new(),
                server_id: None,
                version: "0".into(),
            };
            s.apply(&Request {
                now_ms: 0,
                command: Command::RegisterAgent(reg),
            });
        }
        for f in ["f1", "f2"] {
            s.apply(&Request {
                now_ms: 0,
                command: Command::RegisterFramework {
                    id: FrameworkId(f.into()),
                    info: FrameworkInfo::default(),
                },
            });
        }
        s
    }

    fn ids(v: &[OutstandingOffer]) -> String {
        v.iter()
            .map(|o| format!("{}:{}>{}", o.id.0, o.agent.0, o.framework.0))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn offers_decline_suppress_revive_expire() {
        let s = state();
        let f1 = FrameworkId("f1".into());
        let mut book = OfferBook::default();
        book.reset(3);
        let w = BTreeMap::new();
        // Only subscribed frameworks are offered; everything free goes out once.
        let r = round(&mut book, &s, std::slice::from_ref(&f1), &w, 0, 10_000);
        assert_eq!(ids(&r.offers), "T3-O1:a1>f1 T3-O2:a2>f1");
        assert!(
            round(&mut book, &s, std::slice::from_ref(&f1), &w, 1, 10_000)
                .offers
                .is_empty(),
            "nothing is offered twice"
        );
        // Declined with a 5 s filter: back in the pool, not for f1 until then.
        assert_eq!(
            book.decline(&f1, &[OfferId("T3-O1".into())], None, 1_000),
            1
        );
        assert!(
            round(&mut book, &s, std::slice::from_ref(&f1), &w, 2_000, 10_000)
                .offers
                .is_empty()
        );
        assert_eq!(
            ids(&round(&mut book, &s, std::slice::from_ref(&f1), &w, 6_000, 10_000).offers),
            "T3-O3:a1>f1"
        );
        // Unanswered offers are rescinded after the timeout, and their
        // resources are offered afresh in the same round.
        let r = round(&mut book, &s, std::slice::from_ref(&f1), &w, 10_000, 10_000);
        assert_eq!(ids(&r.rescinded), "T3-O2:a2>f1");
        assert_eq!(ids(&r.offers), "T3-O4:a2>f1");
        // Suppressed: declined resources are not offered; revived: they are.
        book.suppress(&f1);
        book.decline(&f1, &[OfferId("T3-O4".into())], Some(0.0), 10_000);
        assert!(
            round(&mut book, &s, std::slice::from_ref(&f1), &w, 10_001, 10_000)
                .offers
                .is_empty()
        );
        book.revive(&f1);
        assert_eq!(
            ids(&round(&mut book, &s, std::slice::from_ref(&f1), &w, 10_002, 10_000).offers),
            "T3-O5:a2>f1"
        );
        // A framework that stops listening loses its offers.
        let r = round(&mut book, &s, &[], &w, 10_003, 10_000);
        assert_eq!(r.rescinded.len(), 2);
    }
}
