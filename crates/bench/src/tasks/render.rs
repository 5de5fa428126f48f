//! The report's text: figures in, text out. Pure.

use std::time::Duration;

use super::{TasksReport, LATENCY_TARGET_MS, THROUGHPUT_TARGET};
use crate::driver::percentile;

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `p50 12.3 ms  p99 45.6 ms  max 50.0 ms  (n samples)`, or `-`.
pub fn spread(samples: &[Duration]) -> String {
    let mut s = samples.to_vec();
    s.sort_unstable();
    match (percentile(&s, 0.5), percentile(&s, 0.99), s.last()) {
        (Some(p50), Some(p99), Some(max)) => format!(
            "p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} samples)",
            ms(p50),
            ms(p99),
            ms(*max),
            s.len()
        ),
        _ => "-".to_string(),
    }
}

pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// The report's text. Pure.
pub fn render(r: &TasksReport) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(s.trim_end());
        out.push('\n');
    };
    let t = &r.throughput;
    line(
        "== throughput: simulated agents, one framework launching as fast as offers allow =="
            .into(),
    );
    line(format!(
        "agents                     {} simulated ({:.2} cpus each) + {} real (declined){}",
        t.agents,
        r.plan.cpus_per_agent(),
        3,
        t.registered_in
            .map(|d| format!("; all registered {:.1} s after start", d.as_secs_f64()))
            .unwrap_or_default()
    ));
    line(format!(
        "tasks                      {} RUNNING of {}; {} launches in {} ACCEPTs ({} again after a failed launch), {} given up{}",
        t.running,
        r.plan.tasks,
        t.launched,
        t.accepts,
        t.relaunched,
        t.failed,
        t.first_failure
            .as_ref()
            .map(|f| format!("\n  first failed launch:     {f}"))
            .unwrap_or_default()
    ));
    match t.elapsed.filter(|d| !d.is_zero()) {
        Some(d) => {
            let rate = t.running as f64 / d.as_secs_f64();
            line(format!(
                "first ACCEPT -> last RUNNING {:.2} s{}",
                d.as_secs_f64(),
                if t.running < r.plan.tasks {
                    format!(" (only {} of {} RUNNING)", t.running, r.plan.tasks)
                } else {
                    String::new()
                }
            ));
            line(format!(
                "tasks RUNNING/s            {rate:.0}   target >= {THROUGHPUT_TARGET:.0}/s: {}",
                met(rate >= THROUGHPUT_TARGET && t.running >= r.plan.tasks)
            ));
        }
        None => line("tasks RUNNING/s            -   (nothing RUNNING)".into()),
    }
    if !t.tenths.is_empty() {
        let per_tenth = r.plan.tasks as f64 / 10.0;
        let mut prev = Duration::ZERO;
        let rates: Vec<String> = t
            .tenths
            .iter()
            .map(|&at| {
                let d = at.saturating_sub(prev).as_secs_f64();
                prev = at;
                if d > 0.0 {
                    format!("{:.0}", per_tenth / d)
                } else {
                    "-".into()
                }
            })
            .collect();
        line(format!("RUNNING/s by tenth          {}", rates.join(" ")));
    }
    if !t.cpu.is_empty() {
        let each: Vec<String> = t
            .cpu
            .iter()
            .map(|(label, secs)| format!("{label} {secs:.1}"))
            .collect();
        line(format!("CPU s, ACCEPT -> RUNNING    {}", each.join(", ")));
    }
    if t.leader_changes > 0 {
        line(format!(
            "leader changes followed    {} (re-subscribed, then RECONCILE)",
            t.leader_changes
        ));
    }
    match t.terms {
        (Some(a), Some(b)) if a == b => line(format!("elections during the load none (term {a})")),
        (Some(a), Some(b)) => line(format!("elections during the load YES (term {a} -> {b})")),
        (None, _) => {}
        (Some(a), None) => line(format!(
            "elections during the load unknown (term {a}, then no leader)"
        )),
    }
    if let Some((busy, iowait)) = t.machine {
        line(format!(
            "machine meanwhile          {busy:.0}% busy, {iowait:.0}% iowait (all cores, other work included)"
        ));
    }
    let mib = |v: Option<f64>| v.map_or("-".to_string(), |m| format!("{m:.1} MiB"));
    line(format!(
        "leader RSS                 {} (after {} launches)",
        mib(t.leader_rss_mib),
        t.launched
    ));
    line(format!(
        "sim-agents RSS             {}{}",
        mib(t.sim_rss_mib),
        match (t.sim_rss_mib, t.agents) {
            (Some(m), n) if n > 0 => format!(" ({:.0} KiB per agent)", m * 1024.0 / f64::from(n)),
            _ => String::new(),
        }
    ));
    line(format!(
        "TEARDOWN answered after    {}",
        match &t.teardown {
            Some(Ok(d)) => format!(
                "{:.1} s (the leader kills every task first)",
                d.as_secs_f64()
            ),
            Some(Err(e)) => format!("FAILED: {e}"),
            None => "-".into(),
        }
    ));
    if let Some(n) = &t.note {
        line(format!("throughput: {n}"));
    }
    line(String::new());
    let l = &r.latency;
    line("== latency: one `sleep 30` task at a time on a real agent (3-machine cluster) ==".into());
    line(format!(
        "ACCEPT sent -> TASK_RUNNING  {}",
        spread(&l.running)
    ));
    let mut sorted = l.running.clone();
    sorted.sort_unstable();
    match percentile(&sorted, 0.5) {
        Some(p50) => line(format!(
            "target p50 < {LATENCY_TARGET_MS:.0} ms: {}",
            met(ms(p50) < LATENCY_TARGET_MS)
        )),
        None => line(format!("target p50 < {LATENCY_TARGET_MS:.0} ms: -")),
    }
    line(format!(
        "ACCEPT sent -> 202 answer    {}",
        spread(&l.answered)
    ));
    line(format!(
        "ACCEPT sent -> TASK_STARTING {}",
        spread(&l.starting)
    ));
    line(format!(
        "KILL sent -> TASK_KILLED     {}",
        spread(&l.killed)
    ));
    if l.leader_changes > 0 {
        line(format!(
            "leader changes followed      {} (the sample in flight each time is lost)",
            l.leader_changes
        ));
    }
    if !l.failures.is_empty() {
        line(format!(
            "samples not RUNNING: {} (first: {})",
            l.failures.len(),
            l.failures[0]
        ));
    }
    if let Some(n) = &l.note {
        line(format!("latency: {n}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Latency, Plan, Throughput};
    use super::*;

    #[test]
    fn report() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let mut r = TasksReport::new(Plan::quick());
        r.throughput = Throughput {
            agents: 100,
            registered_in: Some(ms(1500)),
            launched: 10_000,
            relaunched: 0,
            running: 10_000,
            failed: 0,
            first_failure: None,
            accepts: 100,
            elapsed: Some(s(2)),
            tenths: (1..=10).map(|i| ms(200 * i)).collect(),
            cpu: vec![("leader".into(), 1.5), ("sim-agents".into(), 0.25)],
            machine: Some((97.4, 12.0)),
            terms: (Some(3), Some(3)),
            leader_changes: 0,
            leader_rss_mib: Some(80.0),
            sim_rss_mib: Some(10.0),
            teardown: Some(Ok(s(3))),
            note: None,
        };
        r.latency = Latency {
            running: vec![ms(120), ms(80), ms(100)],
            answered: vec![ms(20)],
            starting: vec![],
            killed: vec![],
            failures: vec![],
            leader_changes: 0,
            note: Some("ABORTED: panicked".into()),
        };
        let want = "\
== throughput: simulated agents, one framework launching as fast as offers allow ==
agents                     100 simulated (1.00 cpus each) + 3 real (declined); all registered 1.5 s after start
tasks                      10000 RUNNING of 10000; 10000 launches in 100 ACCEPTs (0 again after a failed launch), 0 given up
first ACCEPT -> last RUNNING 2.00 s
tasks RUNNING/s            5000   target >= 5000/s: met
RUNNING/s by tenth          5000 5000 5000 5000 5000 5000 5000 5000 5000 5000
CPU s, ACCEPT -> RUNNING    leader 1.5, sim-agents 0.2
elections during the load none (term 3)
machine meanwhile          97% busy, 12% iowait (all cores, other work included)
leader RSS                 80.0 MiB (after 10000 launches)
sim-agents RSS             10.0 MiB (102 KiB per agent)
TEARDOWN answered after    3.0 s (the leader kills every task first)

== latency: one `sleep 30` task at a time on a real agent (3-machine cluster) ==
ACCEPT sent -> TASK_RUNNING  p50 100.0 ms  p99 120.0 ms  max 120.0 ms  (3 samples)
target p50 < 100 ms: MISSED
ACCEPT sent -> 202 answer    p50 20.0 ms  p99 20.0 ms  max 20.0 ms  (1 samples)
ACCEPT sent -> TASK_STARTING -
KILL sent -> TASK_KILLED     -
latency: ABORTED: panicked
";
        assert_eq!(render(&r), want);
        assert!(r.failed(), "a latency note fails the run");
    }
}
