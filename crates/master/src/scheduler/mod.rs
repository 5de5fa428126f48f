//! The leader's side of the Mesos v1 scheduler API: which framework is
//! subscribed on which event stream. Leader memory only; frameworks
//! themselves are in the replicated state, and a framework re-subscribes to
//! a new leader with its id.

pub mod failover;
pub mod launch;
pub mod offers;
pub mod redelivery;
pub mod streams;
pub mod tasks;

pub use streams::{StreamError, Streams};

use std::io::Read;

/// A fresh random id in the UUID text form (frameworks, streams).
pub fn new_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut b = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        // No /dev/urandom: time and a counter; ids need to be unique, not secret.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as u128;
        b = (t ^ (n << 64)).to_le_bytes();
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
