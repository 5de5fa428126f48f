//! The report's text: figures in, text out. Pure.

use std::time::Duration;

use super::{Sent, Settle, UnitsReport, LISTING_SPACING, TARGET, TEMPLATE};
use crate::tasks::cpu::CpuUse;
use crate::tasks::render::{met, spread};
use crate::tasks::SIM_ATTRIBUTE;

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

/// `1000 instances in 2.10 s (16 in flight): 476/s; 0 failed`.
fn sent(s: &Sent, what: &str, in_flight: usize) -> String {
    let mut out = format!(
        "{} {what}s in {} ({in_flight} in flight)",
        s.ok,
        secs(s.took)
    );
    if let Some(r) = s.rate() {
        out.push_str(&format!(": {r:.0}/s"));
    }
    out.push_str(&format!("; {} failed", s.errors));
    if let Some(e) = &s.first_error {
        out.push_str(&format!(" (first: {e})"));
    }
    out
}

/// `target < 10 s: met`, or MISSED.
fn verdict(d: Option<Duration>) -> String {
    let v = match d {
        Some(d) => met(d < TARGET),
        None => "MISSED (did not happen)",
    };
    format!("target < {} s: {v}", TARGET.as_secs())
}

/// The lines of instances submitted until active; the target is on
/// `placed` (placement) or on `active`.
fn settle_lines(
    s: &Settle,
    in_flight: usize,
    target_on_placed: bool,
    poll: Duration,
    line: &mut impl FnMut(String),
) {
    line(format!(
        "submit                      {}",
        sent(&s.submitted, "instance", in_flight)
    ));
    let lag = s
        .placed_after_last
        .map(|d| format!(" ({:.2} s after the last POST answered)", d.as_secs_f64()))
        .unwrap_or_default();
    let (on_placed, on_active) = if target_on_placed {
        (format!("   {}", verdict(s.placed)), String::new())
    } else {
        (String::new(), format!("   {}", verdict(s.active)))
    };
    line(format!(
        "first POST -> all placed     {}{lag}{on_placed}",
        secs(s.placed)
    ));
    line(format!(
        "first POST -> all active     {} (reported active/running by their machine){on_active}",
        secs(s.active)
    ));
    line(format!("  CPU s meanwhile           {}", cpu(&s.cpu)));
    if s.placed.is_none() || s.active.is_none() {
        line(format!("  last seen                 {}", s.last));
    }
    line(format!("GET /v1/units               {}", spread(&s.gets)));
    line(format!(
        "  when                      the last POSTs' instances (probed every {} ms) say so, else every >= {LISTING_SPACING}x its time; a figure is late by a probe or so",
        poll.as_millis()
    ));
}

fn mib(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |m| format!("{m:.1} MiB"))
}

/// The real measurement's lines.
fn real_lines(r: &UnitsReport, line: &mut impl FnMut(String)) {
    let (p, x) = (&r.plan, &r.real);
    line(format!(
        "== real: {} instances of {TEMPLATE} (ExecStart=/bin/sleep 3600, no [X-Fleet] rule) on 3 machines ==",
        p.real_units
    ));
    settle_lines(&x.settle, p.in_flight, false, p.real_poll, line);
    line(format!(
        "destroy                     {}",
        sent(&x.destroyed, "DELETE", p.in_flight)
    ));
    line(format!(
        "first DELETE -> none listed {} by the machines; {} until the leader holds no report",
        secs(x.machines_clear),
        secs(x.reports_clear)
    ));
    if x.machines_clear.is_none() || x.reports_clear.is_none() {
        line(format!("  last seen                 {}", x.stop_last));
    }
    line(format!(
        "processes left              {} (unit supervisors and their processes, after the destroy)",
        x.processes_left.map_or("-".into(), |n| n.to_string())
    ));
    line(format!(
        "leader RSS                  {} (after the destroy)",
        mib(x.leader_rss_mib)
    ));
    if let Some(n) = &x.note {
        line(format!("real: {n}"));
    }
}

/// The simulated measurement's lines.
fn sim_lines(r: &UnitsReport, line: &mut impl FnMut(String)) {
    let (p, s) = (&r.plan, &r.sim);
    line(format!(
        "== sim: {} instances on {} simulated machines (MachineMetadata={SIM_ATTRIBUTE}=true) ==",
        p.sim_units, p.sim_machines
    ));
    line(format!(
        "machines                    {} simulated + 3 real (excluded by MachineMetadata){}",
        s.machines,
        s.registered_in
            .map(|d| format!("; all registered {:.1} s after start", d.as_secs_f64()))
            .unwrap_or_default()
    ));
    settle_lines(&s.settle, p.in_flight, true, p.sim_poll, line);
    match s.terms {
        (Some(a), Some(b)) if a == b => {
            line(format!("elections meanwhile         none (term {a})"))
        }
        (Some(a), Some(b)) => line(format!("elections meanwhile         YES (term {a} -> {b})")),
        _ => {}
    }
    line(format!(
        "leader RSS                  {} (with every instance placed)",
        mib(s.leader_rss_mib)
    ));
    if let Some(n) = &s.note {
        line(format!("sim: {n}"));
    }
}

/// The report's text (the measurements that ran). Pure.
pub fn render(r: &UnitsReport) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(s.trim_end());
        out.push('\n');
    };
    if r.plan.run_real {
        real_lines(r, &mut line);
    }
    if r.plan.run_real && r.plan.run_sim {
        line(String::new());
    }
    if r.plan.run_sim {
        sim_lines(r, &mut line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Plan, Real, Sim};
    use super::*;

    #[test]
    fn report() {
        let ms = Duration::from_millis;
        let mut r = UnitsReport::new(Plan::quick());
        r.real = Real {
            settle: Settle {
                submitted: Sent {
                    ok: 100,
                    took: Some(ms(500)),
                    errors: 0,
                    first_error: None,
                },
                placed: Some(ms(800)),
                active: Some(ms(2500)),
                placed_after_last: Some(ms(300)),
                cpu: CpuUse {
                    procs: vec![("leader m1".into(), 1.5), ("bench".into(), 0.25)],
                    machine: Some((90.0, 1.0)),
                },
                gets: vec![ms(4), ms(6)],
                last: String::new(),
            },
            destroyed: Sent {
                ok: 100,
                took: Some(ms(400)),
                ..Sent::default()
            },
            machines_clear: Some(ms(1200)),
            reports_clear: None,
            processes_left: Some(0),
            stop_last: "machines list 0 instances; the leader holds 3 reports".into(),
            leader_rss_mib: Some(40.0),
            note: Some("FAILED: instances not gone".into()),
        };
        r.sim = Sim {
            machines: 50,
            registered_in: Some(ms(1500)),
            settle: Settle {
                submitted: Sent {
                    ok: 1990,
                    took: None,
                    errors: 10,
                    first_error: Some("PUT /v1/units/bench@7.service: boom".into()),
                },
                last: "1990 of 2000 listed".into(),
                ..Settle::default()
            },
            terms: (Some(2), Some(2)),
            leader_rss_mib: None,
            note: None,
        };
        let want = "\
== real: 100 instances of bench@.service (ExecStart=/bin/sleep 3600, no [X-Fleet] rule) on 3 machines ==
submit                      100 instances in 0.50 s (16 in flight): 200/s; 0 failed
first POST -> all placed     0.80 s (0.30 s after the last POST answered)
first POST -> all active     2.50 s (reported active/running by their machine)   target < 10 s: met
  CPU s meanwhile           leader m1 1.5, bench 0.2; machine 90% busy, 1% iowait
GET /v1/units               p50 4.0 ms  p99 6.0 ms  max 6.0 ms  (2 samples)
  when                      the last POSTs' instances (probed every 100 ms) say so, else every >= 3x its time; a figure is late by a probe or so
destroy                     100 DELETEs in 0.40 s (16 in flight): 250/s; 0 failed
first DELETE -> none listed 1.20 s by the machines; - until the leader holds no report
  last seen                 machines list 0 instances; the leader holds 3 reports
processes left              0 (unit supervisors and their processes, after the destroy)
leader RSS                  40.0 MiB (after the destroy)
real: FAILED: instances not gone

== sim: 2000 instances on 50 simulated machines (MachineMetadata=simulated=true) ==
machines                    50 simulated + 3 real (excluded by MachineMetadata); all registered 1.5 s after start
submit                      1990 instances in - (16 in flight); 10 failed (first: PUT /v1/units/bench@7.service: boom)
first POST -> all placed     -   target < 10 s: MISSED (did not happen)
first POST -> all active     - (reported active/running by their machine)
  CPU s meanwhile           -
  last seen                 1990 of 2000 listed
GET /v1/units               -
  when                      the last POSTs' instances (probed every 250 ms) say so, else every >= 3x its time; a figure is late by a probe or so
elections meanwhile         none (term 2)
leader RSS                  - (with every instance placed)
";
        assert_eq!(render(&r), want);
        assert!(r.failed());
        // One measurement alone: only its lines.
        r.plan.run_real = false;
        assert!(render(&r).starts_with("== sim: 2000 instances"));
    }
}
