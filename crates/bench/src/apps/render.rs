//! The report's text: figures in, text out. Pure.

use std::time::Duration;

use super::listing::{CREATES_IN_FLIGHT, LISTING};
use super::{
    AppsReport, Settle, AGENT_CPUS, AGENT_MEM_MB, LAUNCH_TARGET_MS, LIST_TARGET_MS, SCALE_TARGET,
    SIM_CPUS, SIM_MEM_MB,
};
use crate::driver::percentile;
use crate::tasks::cpu::CpuUse;
use crate::tasks::render::{met, ms, spread};

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

/// `leader m1 2.1, follower m2 0.4, ...; machine 97% busy`, or `-`.
fn cpu(u: &CpuUse) -> String {
    if u.procs.is_empty() {
        return "-".into();
    }
    let each: Vec<String> = u
        .procs
        .iter()
        .map(|(label, s)| format!("{label} {s:.1}"))
        .collect();
    let machine = u
        .machine
        .map(|(busy, io)| format!("; machine {busy:.0}% busy, {io:.0}% iowait"))
        .unwrap_or_default();
    format!("{}{machine}", each.join(", "))
}

/// `target p50 < 50 ms: met` for `samples`.
fn p50_target(samples: &[Duration], target_ms: f64) -> String {
    let mut s = samples.to_vec();
    s.sort_unstable();
    let verdict = percentile(&s, 0.5).map_or("-", |p| met(ms(p) < target_ms));
    format!("target p50 < {target_ms:.0} ms: {verdict}")
}

/// The lines of one scale change.
fn settle_lines(s: &Settle, line: &mut impl FnMut(String)) {
    let reached = if s.label.ends_with(" 0") {
        "no live task"
    } else {
        "all RUNNING"
    };
    let verdict = match (s.reached, s.deployed) {
        (Some(a), Some(b)) => met(a.max(b) < SCALE_TARGET),
        _ => "MISSED (did not settle)",
    };
    line(format!(
        "{:<27} answered {}; {reached} {}; deployment done {}   target < {} s: {verdict}",
        s.label,
        s.answered
            .map_or("-".into(), |d| format!("{:.0} ms", ms(d))),
        secs(s.reached),
        secs(s.deployed),
        SCALE_TARGET.as_secs()
    ));
    line(format!("  CPU s meanwhile           {}", cpu(&s.cpu)));
    if s.reached.is_none() || s.deployed.is_none() {
        line(format!("  last seen                 {}", s.last));
    }
}

/// The report's text. Pure.
pub fn render(r: &AppsReport) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(s.trim_end());
        out.push('\n');
    };
    let p = &r.plan;
    let mib = |v: Option<f64>| v.map_or("-".to_string(), |m| format!("{m:.1} MiB"));

    let s = &r.scale;
    line(format!(
        "== scale: one app of {} instances ({SIM_CPUS} cpus / {SIM_MEM_MB} MB) on {} simulated agents ==",
        p.instances, p.agents
    ));
    line(format!(
        "agents                      {} simulated ({AGENT_CPUS} cpus, {AGENT_MEM_MB} MB each) + 3 real (excluded by a constraint){}",
        s.agents,
        s.registered_in
            .map(|d| format!("; all registered {:.1} s after start", d.as_secs_f64()))
            .unwrap_or_default()
    ));
    for step in &s.steps {
        settle_lines(step, &mut line);
    }
    match s.terms {
        (Some(a), Some(b)) if a == b => {
            line(format!("elections meanwhile         none (term {a})"))
        }
        (Some(a), Some(b)) => line(format!("elections meanwhile         YES (term {a} -> {b})")),
        _ => {}
    }
    line(format!(
        "leader RSS                  {} (after the changes)",
        mib(s.leader_rss_mib)
    ));
    line(format!(
        "polled every                {} ms (a figure is late by up to one poll)",
        p.poll.as_millis()
    ));
    if let Some(n) = &s.note {
        line(format!("scale: {n}"));
    }
    line(String::new());

    let l = &r.launch;
    line(
        "== launch: POST an app of one `sleep 300` instance on real agents (3-machine cluster) =="
            .into(),
    );
    line(format!(
        "POST -> tasksRunning 1      {}",
        spread(&l.running)
    ));
    line(p50_target(&l.running, LAUNCH_TARGET_MS));
    line(format!(
        "POST -> 201 answer          {}",
        spread(&l.answered)
    ));
    line(format!(
        "POST -> deployment done     {}",
        spread(&l.deployed)
    ));
    line(format!("DELETE -> task gone         {}", spread(&l.gone)));
    line("polled every                5 ms".into());
    if !l.failures.is_empty() {
        line(format!(
            "samples failed              {} (first: {})",
            l.failures.len(),
            l.failures[0]
        ));
    }
    if let Some(n) = &l.note {
        line(format!("launch: {n}"));
    }
    line(String::new());

    let g = &r.listing;
    line(format!(
        "== listing: GET {LISTING}, {} apps x {} instances on {} simulated agents ==",
        p.list_apps, p.list_instances, g.agents
    ));
    line(format!(
        "apps                        {} created in {} ({CREATES_IN_FLIGHT} POSTs in flight); all RUNNING, no deployment {} after the first POST",
        g.created,
        secs(g.created_in),
        secs(g.settled_in)
    ));
    if let Some(s) = &g.short {
        line(format!("  {s}"));
    }
    if let Some((bytes, apps, tasks)) = g.answer {
        line(format!(
            "answer                      {:.2} MiB: {apps} apps, {tasks} tasks embedded",
            bytes as f64 / 1024.0 / 1024.0
        ));
    }
    line(format!("leader :8080                {}", spread(&g.leader)));
    line(p50_target(&g.leader, LIST_TARGET_MS));
    line(format!(
        "through a follower :8080    {}",
        spread(&g.follower)
    ));
    line(format!("CPU s over the GETs         {}", cpu(&g.cpu)));
    line(format!(
        "leader RSS                  {} (after the GETs)",
        mib(g.leader_rss_mib)
    ));
    if let Some(n) = &g.note {
        line(format!("listing: {n}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Launch, Listing, Plan, Scale};
    use super::*;

    #[test]
    fn report() {
        let ms = Duration::from_millis;
        let mut r = AppsReport::new(Plan::quick());
        let used = CpuUse {
            procs: vec![("leader m1".into(), 1.5), ("sim-agents".into(), 0.25)],
            machine: Some((90.0, 1.0)),
        };
        r.scale = Scale {
            agents: 100,
            registered_in: Some(ms(1500)),
            steps: vec![
                Settle {
                    label: "POST 1000 instances".into(),
                    answered: Some(ms(12)),
                    reached: Some(ms(2100)),
                    deployed: Some(ms(2150)),
                    cpu: used.clone(),
                    last: String::new(),
                },
                Settle {
                    label: "PUT instances 0".into(),
                    answered: Some(ms(8)),
                    reached: Some(ms(6000)),
                    deployed: Some(ms(900)),
                    cpu: CpuUse::default(),
                    last: String::new(),
                },
                Settle {
                    label: "PUT instances 1000".into(),
                    answered: Some(ms(9)),
                    reached: None,
                    deployed: None,
                    cpu: CpuUse::default(),
                    last: "10 running, 0 staged; deployments [\"d1\"]".into(),
                },
            ],
            terms: (Some(2), Some(2)),
            leader_rss_mib: Some(80.0),
            note: Some("FAILED: not settled".into()),
        };
        r.launch = Launch {
            running: vec![ms(150), ms(120), ms(300)],
            answered: vec![ms(20)],
            deployed: vec![],
            gone: vec![],
            failures: vec!["/bench-launch/s3: not RUNNING".into()],
            note: None,
        };
        r.listing = Listing {
            agents: 100,
            created: 100,
            created_in: Some(ms(1000)),
            settled_in: Some(ms(3000)),
            short: None,
            leader: vec![ms(40), ms(60)],
            follower: vec![],
            answer: Some((3 * 1024 * 1024, 100, 1000)),
            cpu: used,
            leader_rss_mib: None,
            note: None,
        };
        let want = "\
== scale: one app of 1000 instances (0.01 cpus / 1 MB) on 100 simulated agents ==
agents                      100 simulated (16 cpus, 16384 MB each) + 3 real (excluded by a constraint); all registered 1.5 s after start
POST 1000 instances         answered 12 ms; all RUNNING 2.10 s; deployment done 2.15 s   target < 5 s: met
  CPU s meanwhile           leader m1 1.5, sim-agents 0.2; machine 90% busy, 1% iowait
PUT instances 0             answered 8 ms; no live task 6.00 s; deployment done 0.90 s   target < 5 s: MISSED
  CPU s meanwhile           -
PUT instances 1000          answered 9 ms; all RUNNING -; deployment done -   target < 5 s: MISSED (did not settle)
  CPU s meanwhile           -
  last seen                 10 running, 0 staged; deployments [\"d1\"]
elections meanwhile         none (term 2)
leader RSS                  80.0 MiB (after the changes)
polled every                25 ms (a figure is late by up to one poll)
scale: FAILED: not settled

== launch: POST an app of one `sleep 300` instance on real agents (3-machine cluster) ==
POST -> tasksRunning 1      p50 150.0 ms  p99 300.0 ms  max 300.0 ms  (3 samples)
target p50 < 200 ms: met
POST -> 201 answer          p50 20.0 ms  p99 20.0 ms  max 20.0 ms  (1 samples)
POST -> deployment done     -
DELETE -> task gone         -
polled every                5 ms
samples failed              1 (first: /bench-launch/s3: not RUNNING)

== listing: GET /v2/apps?embed=apps.tasks, 100 apps x 10 instances on 100 simulated agents ==
apps                        100 created in 1.00 s (16 POSTs in flight); all RUNNING, no deployment 3.00 s after the first POST
answer                      3.00 MiB: 100 apps, 1000 tasks embedded
leader :8080                p50 40.0 ms  p99 60.0 ms  max 60.0 ms  (2 samples)
target p50 < 50 ms: met
through a follower :8080    -
CPU s over the GETs         leader m1 1.5, sim-agents 0.2; machine 90% busy, 1% iowait
leader RSS                  - (after the GETs)
";
        assert_eq!(render(&r), want);
        assert!(r.failed());
    }
}
