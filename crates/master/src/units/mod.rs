//! The unit engine (fleet's role) on the leader: places units on machines
//! by their [X-Fleet] rules (`corral_core::unit::plan`, pure), commits the
//! placement, and tells every machine the complete set of units it must
//! run (`PUT /v1/agent/units`, fenced by the leader's term).
//!
//! - `desired.rs` (pure): the placement input and each machine's set.
//! - `engine.rs`: the loop that carries it out.
//! - `view.rs` (pure): units, their states and machines as fleet's API and
//!   the CLI show them.
//!
//! Invariants: placement is committed before any machine is told; a
//! machine's set is pushed whole (idempotent), again when it changes and
//! at least every [`engine::REPUSH`]; why a unit cannot be placed is leader
//! memory ([`UnitBook`]), reset on a new term.

use std::collections::BTreeMap;

use corral_core::unit::UnitName;
use corral_core::MachineId;

pub mod desired;
pub mod engine;
pub mod view;

/// The engine's memory (leader only).
#[derive(Default)]
pub struct UnitBook {
    /// The term this memory belongs to.
    pub term: u64,
    /// Why each unit that wants a machine has none, as of the last round.
    pub unplaceable: BTreeMap<UnitName, String>,
    /// Requirements parsed per unit file.
    pub reqs: desired::RequirementCache,
    /// Digest of the set last acknowledged by each machine, and when (ms).
    pub pushed: BTreeMap<MachineId, (String, u64)>,
    /// Machines with a push in flight.
    pub pushing: std::collections::BTreeSet<MachineId>,
    /// A fingerprint of the inputs of the last round that computed sets.
    pub last_inputs: Option<String>,
}

impl UnitBook {
    /// Forgets everything when `term` is a new one.
    pub fn reset(&mut self, term: u64) {
        if self.term != term {
            *self = UnitBook {
                term,
                ..Default::default()
            };
        }
    }
}
