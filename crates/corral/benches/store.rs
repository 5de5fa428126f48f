//! `cargo bench -p corral --bench store`: corral's replicated store against
//! a 3-member etcd 3.4 and a 3-member ZooKeeper 3.8 started in the same
//! run on the same machine (loopback only, fsync on everywhere).
//!
//! Order: corral (bring-up ×5, idle RSS, writes with 1/16/64 clients,
//! SIGKILL-the-leader failover ×20), then etcd, then ZooKeeper (idle RSS,
//! writes, failover); a peer that is not installed is skipped with a line
//! saying so. `BENCH_QUICK=1` makes it a smoke run (1 s per level, 3
//! failovers). `BENCH_ONLY=corral` (comma-separated names) runs only those
//! systems. `scripts/bench` installs the peers and keeps the output.
//!
//! Each system runs in a task of its own, one after another, so a crash in
//! one (the test kit's `must_*` helpers panic on timeout) still leaves the
//! figures of the others and whatever it had measured.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use corral_bench::corral::Corral;
use corral_bench::report::{self, SystemReport};
use corral_bench::suite::{self, Plan};
use corral_bench::{etcd, zk};

const BIN: &str = env!("CARGO_BIN_EXE_corral");

fn main() {
    let plan = Plan::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let reports = rt.block_on(async {
        tokio::select! {
            reports = run(plan) => Some(reports),
            why = stop_signal() => {
                println!("# {why}: stopping; every process the bench started is killed");
                None
            }
        }
    });
    // Dropping the runtime drops every task still running, and with them
    // the clusters, whose Drop SIGKILLs the processes they started.
    drop(rt);
    let Some(reports) = reports else {
        std::process::exit(130)
    };
    println!("\n{}", report::render(&reports));
    println!("# at the end: {}", report::load_average());
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

async fn run(plan: Plan) -> Vec<SystemReport> {
    println!("# corral store benchmarks");
    println!("# {}", report::machine_header(&std::env::temp_dir()));
    println!(
        "# plan: writes {:?} clients × {:?} each, {} failovers, {} corral bring-ups{}",
        plan.levels,
        plan.level_time,
        plan.failovers,
        plan.bring_ups,
        if plan.failovers < Plan::full().failovers {
            " (BENCH_QUICK)"
        } else {
            ""
        }
    );
    let mut reports = Vec::new();
    if wanted("corral") {
        let plan = plan.clone();
        reports.push(section("corral", move |rep| corral(plan, rep)).await);
    }
    if wanted("etcd") {
        let plan = plan.clone();
        reports.push(section("etcd", move |rep| etcd(plan, rep)).await);
    }
    if wanted("zookeeper") {
        reports.push(section("zookeeper", move |rep| zookeeper(plan, rep)).await);
    }
    reports
}

/// True unless `BENCH_ONLY` names other systems.
fn wanted(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |v| v.split(',').any(|s| s.trim() == name))
}

/// Runs one system's measurements in a task of its own; a failure or a
/// panic becomes the report's note.
async fn section<F, Fut>(name: &str, f: F) -> SystemReport
where
    F: FnOnce(Arc<Mutex<SystemReport>>) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    println!("\n--- {name}");
    let rep = Arc::new(Mutex::new(SystemReport::new(name)));
    let outcome = tokio::spawn(f(rep.clone())).await;
    let mut rep = rep.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let note = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(e) if e.is_panic() => {
            Some("ABORTED: panicked (message and cluster logs above)".to_string())
        }
        Err(e) => Some(format!("ABORTED: {e}")),
    };
    if let Some(n) = &note {
        println!("{}: {n}", rep.label);
    }
    rep.note = rep.note.take().or(note);
    rep
}

async fn corral(plan: Plan, rep: Arc<Mutex<SystemReport>>) -> Result<(), String> {
    let mut cluster = None;
    for k in 1..=plan.bring_ups {
        // The previous cluster is SIGKILLed before the next one starts.
        drop(cluster.take());
        let (c, took) = Corral::bring_up(Path::new(BIN))
            .await
            .map_err(|e| format!("bring-up: {e:#}"))?;
        println!(
            "corral: bring-up {k}/{}: {:.0} ms",
            plan.bring_ups,
            took.as_secs_f64() * 1e3
        );
        rep.lock()
            .unwrap_or_else(|p| p.into_inner())
            .bring_up
            .push(took);
        cluster = Some(c);
    }
    let Some(mut c) = cluster else {
        return Err("no bring-up planned".into());
    };
    suite::measure(&mut c, &plan, &rep).await;
    Ok(())
}

async fn etcd(plan: Plan, rep: Arc<Mutex<SystemReport>>) -> Result<(), String> {
    let Some(bin) = etcd::find() else {
        return Err("SKIPPED: `etcd` is not on PATH (Debian package etcd-server; scripts/bench installs it)".into());
    };
    let mut e = etcd::Etcd::start(&bin)
        .await
        .map_err(|e| format!("start: {e:#}"))?;
    suite::measure(&mut e, &plan, &rep).await;
    Ok(())
}

async fn zookeeper(plan: Plan, rep: Arc<Mutex<SystemReport>>) -> Result<(), String> {
    let install = zk::find().map_err(|why| {
        format!("SKIPPED: {why} (Debian packages zookeeper and a JRE; scripts/bench installs them)")
    })?;
    let mut z = zk::ZooKeeper::start(install)
        .await
        .map_err(|e| format!("start: {e:#}"))?;
    suite::measure(&mut z, &plan, &rep).await;
    Ok(())
}
