//! Store benchmarks: corral against a 3-member etcd 3.4 and a 3-member
//! ZooKeeper 3.8, started side by side on this machine in the same run, all
//! on loopback, all with fsync on.
//!
//! What it measures, for each system (see [`suite::measure`]): idle RSS per
//! member, closed-loop write throughput and latency at several client
//! counts (100-byte values to new keys), whether the Raft term / ZAB epoch
//! moved during load (a spurious election), and leader failover (SIGKILL the
//! leader → first write acknowledged through a survivor). For corral also
//! bring-up (processes started → leader elected and every agent registered).
//!
//! Invariants:
//! - Only 127.0.0.0/8 is ever a target: corral gets a block of its own from
//!   the test kit, etcd 127.0.0.2X, ZooKeeper 127.0.0.3X.
//! - Everything is bounded: load stops by itself at its duration or after
//!   [`driver::MAX_OPS`] ops, every op and probe has a timeout, every wait
//!   on a condition polls against a deadline (the only plain sleep is the
//!   idle pause before an RSS reading).
//! - Every process started here is SIGKILLed on drop, and every data dir
//!   is a fresh temp dir removed on drop.
//! - The bench never tunes a peer away from its packaged defaults (fsync,
//!   election timeouts, tick time); the few settings it does write (addresses,
//!   `maxClientCnxns=0` so 64 clients fit, the admin HTTP server off so it
//!   does not bind 0.0.0.0:8080) are listed where they are written.
//!
//! Errors are `anyhow` throughout: this is a test harness, like the tests.

pub mod apps;
pub mod corral;
pub mod driver;
pub mod etcd;
pub mod process;
pub mod report;
pub mod suite;
pub mod tasks;
pub mod units;
pub mod zk;

/// The value every benchmark write stores: 100 bytes.
pub const VALUE: &str = "corral-bench-value-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789-padding";

#[cfg(test)]
mod tests {
    #[test]
    fn value_is_100_bytes() {
        assert_eq!(super::VALUE.len(), 100);
    }
}
