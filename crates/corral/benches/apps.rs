//! `cargo bench -p corral --bench apps`: the app-scheduler benchmarks of
//! issue 4 (`corral_bench::apps`): an app of 10,000 instances on 1,000
//! simulated agents created, scaled to 0 and back; POST → RUNNING of a
//! one-instance app on real agents; `GET /v2/apps?embed=apps.tasks` with
//! 1,000 apps × 10 tasks. `BENCH_QUICK=1` makes it a smoke run (1,000
//! instances on 100 agents, 5 launches, 100 apps). `scripts/bench-apps`
//! runs it and keeps the output.
//!
//! The report goes to stdout, progress to stderr. The whole run is capped
//! ([`Plan::cap`]): past it, or on SIGINT/SIGTERM, it prints what it has
//! and exits 1; so does a run that came up short. A missed target is only
//! a line of the report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use corral_bench::apps::{self, AppsReport, Plan};
use corral_bench::report;

const BIN: &str = env!("CARGO_BIN_EXE_corral");

fn main() {
    let plan = Plan::from_env();
    println!("# corral app-scheduler benchmarks (issue 4)");
    println!("# {}", report::machine_header(&std::env::temp_dir()));
    println!(
        "# plan: {} instances on {} simulated agents; {} launches; {} apps x {} instances on {} agents, {} GETs per server; cap {} s{}",
        plan.instances,
        plan.agents,
        plan.samples,
        plan.list_apps,
        plan.list_instances,
        plan.list_agents,
        plan.gets,
        plan.cap.as_secs(),
        if plan.quick { " (BENCH_QUICK)" } else { "" }
    );
    let rep = Arc::new(Mutex::new(AppsReport::new(plan.clone())));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let run = apps::run(PathBuf::from(BIN), plan.clone(), rep.clone());
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
    // them the clusters and simulated agents, whose Drop SIGKILLs them.
    drop(rt);
    let rep = match rep.lock() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    if let Some(why) = &stopped {
        println!("# {why}: every process the bench started is killed");
    }
    println!("\n{}", apps::render(&rep));
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
