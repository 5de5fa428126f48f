//! `cargo bench -p corral --bench tasks`: the task benchmarks of issue 3
//! (`corral_bench::tasks`): tasks RUNNING per second with 1,000 simulated
//! agents and 100,000 tasks, then submit → RUNNING latency of one real
//! `sleep` task. `BENCH_QUICK=1` makes it a smoke run (100 agents, 10,000
//! tasks, 10 samples); `BENCH_AGENTS=N` and `BENCH_TASKS=N` change the
//! throughput scale. `scripts/bench-tasks` runs it and keeps the output.
//!
//! The report goes to stdout, progress to stderr. Each measurement runs in
//! a task of its own, so a panic in one (the test kit's `must_*` helpers
//! panic on timeout) still leaves the other's figures. The whole run is
//! capped ([`Plan::cap`]): past it, or on Ctrl-C/SIGTERM, it prints what it
//! has and fails; so does a run that lost tasks or samples. A missed
//! target is only a line of the report.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use corral_bench::report;
use corral_bench::tasks::{self, Plan, Shared, TasksReport};

const BIN: &str = env!("CARGO_BIN_EXE_corral");

fn main() {
    let plan = Plan::from_env();
    let rep: Shared = Arc::new(Mutex::new(TasksReport::new(plan.clone())));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stopped = rt.block_on(async {
        tokio::select! {
            done = tokio::time::timeout(plan.cap, run(plan.clone(), rep.clone())) => {
                done.err().map(|_| format!("stopped at the {} s cap", plan.cap.as_secs()))
            }
            why = interrupted() => Some(why.to_string()),
        }
    });
    // Dropping the runtime drops every task still running, and with them
    // the clusters and simulated agents, whose Drop SIGKILLs them.
    drop(rt);
    let rep = rep.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(why) = &stopped {
        println!("# {why}: every process the bench started is killed");
    }
    println!("\n{}", tasks::render(&rep));
    println!("# at the end: {}", report::load_average());
    if stopped.is_some() || rep.failed() {
        std::process::exit(1);
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, saying which.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = (
        signal(SignalKind::interrupt()).expect("SIGINT handler"),
        signal(SignalKind::terminate()).expect("SIGTERM handler"),
    );
    tokio::select! {
        _ = int.recv() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

async fn run(plan: Plan, rep: Shared) {
    println!("# corral task benchmarks (issue 3)");
    println!("# {}", report::machine_header(&std::env::temp_dir()));
    println!(
        "# plan: {} simulated agents, {} tasks of {} cpus / {} MB; {} latency samples; cap {} s{}",
        plan.agents,
        plan.tasks,
        tasks::TASK_CPUS,
        tasks::TASK_MEM_MB,
        plan.samples,
        plan.cap.as_secs(),
        if plan.quick { " (BENCH_QUICK)" } else { "" }
    );
    let (p, r) = (plan.clone(), rep.clone());
    let note = section("throughput", async move {
        tasks::throughput(Path::new(BIN), &p, &r).await
    })
    .await;
    set_note(&rep, note, |r| &mut r.throughput.note);
    let (p, r) = (plan.clone(), rep.clone());
    let note = section("latency", async move {
        tasks::latency(Path::new(BIN), &p, &r).await
    })
    .await;
    set_note(&rep, note, |r| &mut r.latency.note);
}

/// Runs one measurement in a task of its own; its error or panic becomes
/// a note.
async fn section<F>(name: &str, f: F) -> Option<String>
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    eprintln!("\n--- {name}");
    let note = match tokio::spawn(f).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("FAILED: {e:#}")),
        Err(e) if e.is_panic() => Some("ABORTED: panicked (message and logs above)".into()),
        Err(e) => Some(format!("ABORTED: {e}")),
    };
    if let Some(n) = &note {
        eprintln!("{name}: {n}");
    }
    note
}

fn set_note(
    rep: &Shared,
    note: Option<String>,
    field: impl FnOnce(&mut TasksReport) -> &mut Option<String>,
) {
    if let Some(n) = note {
        let mut r = rep.lock().unwrap_or_else(|p| p.into_inner());
        *field(&mut r) = Some(n);
    }
}
