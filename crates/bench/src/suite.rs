//! The one sequence of measurements every system goes through, and the
//! trait each system (corral, etcd, ZooKeeper) implements for it. The
//! sequence decides the order and the bounds; the systems only know how
//! to write, report their term and fail over.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use crate::driver::{Ack, Stats};
use crate::report::{Level, SystemReport};

/// What to measure and for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Concurrent clients of each write level.
    pub levels: Vec<usize>,
    /// Length of each write level.
    pub level_time: Duration,
    /// Unrecorded writes (16 clients) before the first level, so no system
    /// is measured cold (the JVM's JIT, first segment files, connection
    /// set-up).
    pub warmup: Duration,
    /// Leader kills.
    pub failovers: usize,
    /// Corral bring-ups.
    pub bring_ups: usize,
    /// Quiet time before reading idle RSS (the one plain sleep: letting the
    /// system idle, not waiting on a condition).
    pub idle: Duration,
}

impl Plan {
    /// The full plan: 5 s per level, 20 failovers, 5 bring-ups.
    pub fn full() -> Plan {
        Plan {
            levels: vec![1, 16, 64],
            level_time: Duration::from_secs(5),
            warmup: Duration::from_secs(2),
            failovers: 20,
            bring_ups: 5,
            idle: Duration::from_secs(3),
        }
    }

    /// A smoke run: 1 s per level, 3 failovers.
    pub fn quick() -> Plan {
        Plan {
            level_time: Duration::from_secs(1),
            warmup: Duration::from_secs(1),
            failovers: 3,
            ..Plan::full()
        }
    }

    /// `quick()` when `BENCH_QUICK=1`, else `full()`.
    pub fn from_env() -> Plan {
        if std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") {
            Plan::quick()
        } else {
            Plan::full()
        }
    }
}

/// A running 3-member system under test.
pub trait System: Sync {
    /// Name and version, e.g. `etcd 3.4.23`.
    fn label(&self) -> String;
    /// Pids of the running members, in member order.
    fn member_pids(&self) -> Vec<u32>;
    /// The current leader's Raft term (ZooKeeper: its ZAB epoch); a change
    /// means an election happened.
    fn term(&self) -> impl Future<Output = Result<u64>> + Send;
    /// Closed-loop writes of [`crate::VALUE`] to new keys from `clients`
    /// clients for `duration`, through the leader; `tag` keeps the keys of
    /// different levels apart.
    fn writes(
        &self,
        clients: usize,
        duration: Duration,
        tag: &str,
    ) -> impl Future<Output = Result<Stats>> + Send;
    /// SIGKILLs the leader, returns when a write was first acknowledged
    /// through a survivor (counted from the kill), then restarts the killed member and waits until
    /// the system is whole again. `round` keeps probe keys apart.
    fn failover(&mut self, round: usize) -> impl Future<Output = Result<Ack>> + Send;
}

/// Clients of the warm-up.
const WARMUP_CLIENTS: usize = 16;

/// Failovers in a row that may fail before the series is abandoned.
const MAX_FAILED_FAILOVERS_IN_A_ROW: usize = 3;

/// Runs the plan's idle-RSS, warm-up, write and failover phases against `sys`,
/// recording into `report` as it goes (so a crash keeps what was measured)
/// and printing one progress line per measurement.
pub async fn measure<S: System>(sys: &mut S, plan: &Plan, report: &Arc<Mutex<SystemReport>>) {
    let label = sys.label();
    let rec =
        |f: &dyn Fn(&mut SystemReport)| f(&mut report.lock().unwrap_or_else(|p| p.into_inner()));
    rec(&|r| r.label = label.clone());

    tokio::time::sleep(plan.idle).await;
    let mut rss = Vec::new();
    for pid in sys.member_pids() {
        match crate::process::rss_mib(pid) {
            Ok(m) => rss.push(m),
            Err(e) => println!("{label}: idle RSS of pid {pid}: {e:#}"),
        }
    }
    println!(
        "{label}: idle RSS per member: {}",
        crate::report::mib_list(&rss)
    );
    rec(&|r| r.rss_mib = rss.clone());

    match sys.writes(WARMUP_CLIENTS, plan.warmup, "warmup").await {
        Ok(s) => println!(
            "{label}: warm-up: {} writes in {:.1} s, {} errors",
            s.ops, s.secs, s.errors
        ),
        Err(e) => println!("{label}: warm-up failed: {e:#}"),
    }
    for &clients in &plan.levels {
        let term_before = sys.term().await.ok();
        let pids = sys.member_pids();
        let cpu_before = crate::process::cpu_secs_of(&pids);
        let result = sys
            .writes(clients, plan.level_time, &format!("l{clients}"))
            .await
            .map_err(|e| format!("{e:#}"));
        let cpu_after = crate::process::cpu_secs_of(&pids);
        let term_after = sys.term().await.ok();
        let level = Level {
            clients,
            result,
            term_before,
            term_after,
            member_cpu_secs: cpu_after.zip(cpu_before).map(|(a, b)| a - b),
        };
        println!("{label}: {}", level.describe());
        rec(&|r| r.levels.push(level.clone()));
    }

    let mut failed_in_a_row = 0;
    for round in 0..plan.failovers {
        match sys.failover(round).await {
            Ok(ack) => {
                failed_in_a_row = 0;
                println!(
                    "{label}: failover {}/{}: {}",
                    round + 1,
                    plan.failovers,
                    ack.describe()
                );
                rec(&|r| r.failovers.push(ack.after));
            }
            Err(e) => {
                failed_in_a_row += 1;
                let e = format!("{e:#}");
                println!(
                    "{label}: failover {}/{} FAILED: {e}",
                    round + 1,
                    plan.failovers
                );
                rec(&|r| r.failover_errors.push(e.clone()));
                if failed_in_a_row >= MAX_FAILED_FAILOVERS_IN_A_ROW {
                    println!(
                        "{label}: {failed_in_a_row} failovers failed in a row; stopping the series"
                    );
                    break;
                }
            }
        }
    }
}
