//! `cargo bench -p corral --bench units`: the unit benchmarks of issue 5
//! (`corral_bench::units`): 1,000 instances of a `sleep` template on 3
//! real machines, PUT → all active/running, then destroyed until the
//! machines list none; 20,000 instances on 500 simulated machines
//! (`corral sim-agents`), PUT → all placed and reported active.
//! `BENCH_QUICK=1` makes it a smoke run (100 real instances; 2,000 on 50
//! simulated machines); `BENCH_ONLY=real` or `BENCH_ONLY=sim` runs one of
//! the two. `scripts/bench-units` runs it and keeps the output.
//!
//! The report goes to stdout, progress to stderr. The whole run is capped
//! ([`Plan::cap`]): past it, or on SIGINT/SIGTERM, it prints what it has
//! and exits 1; so does a run that came up short. A missed target is only
//! a line of the report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use corral_bench::report;
use corral_bench::units::{self, Plan, UnitsReport};

const BIN: &str = env!("CARGO_BIN_EXE_corral");

fn main() {
    let plan = Plan::from_env();
    println!("# corral unit benchmarks (issue 5)");
    println!("# {}", report::machine_header(&std::env::temp_dir()));
    println!(
        "# plan: {}{}; {} PUTs in flight; cap {} s{}",
        if plan.run_real {
            format!("{} instances on 3 real machines", plan.real_units)
        } else {
            "no real machines".to_string()
        },
        if plan.run_sim {
            format!(
                "; {} instances on {} simulated machines",
                plan.sim_units, plan.sim_machines
            )
        } else {
            String::new()
        },
        plan.in_flight,
        plan.cap.as_secs(),
        if plan.quick { " (BENCH_QUICK)" } else { "" }
    );
    let rep = Arc::new(Mutex::new(UnitsReport::new(plan.clone())));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let run = units::run(PathBuf::from(BIN), plan.clone(), rep.clone());
    let stopped: Option<String> = rt.block_on(async {
        tokio::select! {
            r = tokio::time::timeout(plan.cap, run) => match r {
                Ok(()) => None,
                Err(_) => Some(format!("stopped at the {} s cap", plan.cap.as_secs())),
            },
            why = signalled() => Some(why.to_string()),
        }
    });
    // The runtime takes every task still running down with it, and with
    // them the clusters and simulated machines, whose Drop SIGKILLs them
    // (and the real machines' unit processes).
    drop(rt);
    let rep = match rep.lock() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    if let Some(why) = &stopped {
        println!("# {why}: every process the bench started is killed");
    }
    println!("\n{}", units::render(&rep));
    println!("# at the end: {}", report::load_average());
    if stopped.is_some() || rep.failed() {
        std::process::exit(1);
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn signalled() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
        _ = term.recv() => "terminated (SIGTERM)",
    }
}
