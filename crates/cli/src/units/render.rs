//! What the unit commands print: fleetctl's tables (`list-units`,
//! `list-unit-files`, with `--fields`, `--full`, `--no-legend`) and a
//! systemd-style status block per unit (`corral status UNIT`).
//!
//! `list-units` prints one row per machine's report (fleetctl's UnitState
//! rows). Unlike fleetctl it also prints a unit that is wanted (desired
//! `loaded` or `launched`) but reported by no machine yet: MACHINE is its
//! placement (`-` while it has none; `corral status UNIT` says why), and
//! LOAD, ACTIVE, SUB and HASH are `-` — so a unit that cannot be placed
//! does not vanish from the listing.
//!
//! Invariants: pure — rows and the time (`now_ms`) in, text out.

use corral_api::unit_view::{UnitRow, UnitStateRow};
use corral_core::unit::{expand, Specifiers, UnitName};

use super::fields::{self, FileField, StateField};
use crate::output::table;

/// Options shared by both listings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Full machine ids and hashes.
    pub full: bool,
    /// No header row.
    pub no_legend: bool,
}

/// fleetctl's machine legend: `1243aa1c.../10.0.0.3` (the full id with
/// `full`; no `/ip` when the address is unknown).
pub fn machine_legend(id: &str, ip: &str, full: bool) -> String {
    let mut s = if full {
        id.to_string()
    } else {
        format!("{}...", id.chars().take(8).collect::<String>())
    };
    if !ip.is_empty() {
        s.push('/');
        s.push_str(ip);
    }
    s
}

fn short_hash(hash: &str, full: bool) -> String {
    if full {
        hash.to_string()
    } else {
        hash.chars().take(7).collect()
    }
}

fn render_table(header: Vec<String>, rows: Vec<Vec<String>>, opts: ListOptions) -> String {
    if opts.no_legend {
        // Widths from the rows alone, as fleetctl's tabwriter without a
        // header: an empty header row, dropped.
        let blank = vec![""; header.len()];
        let text = table(&blank, &rows);
        return text
            .split_once('\n')
            .map_or(String::new(), |(_, r)| r.to_string());
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&header, &rows)
}

/// One line of `list-units`: a unit and one machine's report of it, or a
/// wanted unit no machine reports yet.
fn state_lines(rows: &[UnitRow]) -> Vec<(&UnitRow, Option<&UnitStateRow>)> {
    let mut lines = Vec::new();
    for r in rows {
        if r.states.is_empty() {
            if r.desired != "inactive" {
                lines.push((r, None));
            }
            continue;
        }
        let mut states: Vec<&UnitStateRow> = r.states.iter().collect();
        states.sort_by(|a, b| a.machine.cmp(&b.machine));
        lines.extend(states.into_iter().map(|s| (r, Some(s))));
    }
    lines.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    lines
}

/// `list-units`: fleetctl's `UNIT MACHINE ACTIVE SUB` by default.
pub fn list_units(rows: &[UnitRow], fields: &[StateField], opts: ListOptions) -> String {
    let dash = || "-".to_string();
    let cells = state_lines(rows)
        .into_iter()
        .map(|(r, s)| {
            fields
                .iter()
                .map(|f| match (f, s) {
                    (StateField::Unit, _) => r.name.clone(),
                    (StateField::Machine, Some(s)) => {
                        machine_legend(&s.machine, &s.machine_ip, opts.full)
                    }
                    (StateField::Machine, None) => r.machine.as_ref().map_or_else(dash, |m| {
                        machine_legend(m, r.machine_ip.as_deref().unwrap_or(""), opts.full)
                    }),
                    (StateField::Active, Some(s)) => s.active.clone(),
                    (StateField::Sub, Some(s)) => s.sub.clone(),
                    (StateField::Load, Some(s)) => s.load.clone(),
                    (StateField::Hash, Some(s)) => short_hash(&s.hash, opts.full),
                    (_, None) => dash(),
                })
                .collect()
        })
        .collect();
    render_table(fields::header(fields), cells, opts)
}

/// `list-unit-files`: fleetctl's `UNIT HASH DSTATE STATE TARGET` by
/// default (STATE `-` for global units; TARGET `global`, `-` while
/// unplaced, or the machine).
pub fn list_unit_files(rows: &[UnitRow], fields: &[FileField], opts: ListOptions) -> String {
    let mut rows: Vec<&UnitRow> = rows.iter().collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    let target = |r: &UnitRow| match (&r.machine, r.global) {
        (_, true) => "global".to_string(),
        (None, false) => "-".to_string(),
        (Some(m), false) => machine_legend(m, r.machine_ip.as_deref().unwrap_or(""), opts.full),
    };
    let cells = rows
        .into_iter()
        .map(|r| {
            fields
                .iter()
                .map(|f| match f {
                    FileField::Unit => r.name.clone(),
                    FileField::Hash => short_hash(&r.hash, opts.full),
                    FileField::Dstate => r.desired.clone(),
                    FileField::State if r.global => "-".to_string(),
                    FileField::State => r.current.clone(),
                    FileField::Target => target(r),
                    FileField::Global => r.global.to_string(),
                    FileField::Desc => r.description.clone().unwrap_or_else(|| "-".into()),
                    FileField::Tmachine if r.global => "-".to_string(),
                    FileField::Tmachine => target(r),
                })
                .collect()
        })
        .collect();
    render_table(fields::header(fields), cells, opts)
}

/// The journal lines under a status block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Journal {
    /// The agent's last lines (possibly none).
    Lines(String),
    /// The agent did not answer; why.
    Unavailable(String),
    /// No machine has the unit: nothing to read.
    Nowhere,
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// `ms` since the epoch as systemd prints it, in UTC:
/// `Tue 2024-01-02 03:04:05 UTC`.
pub fn timestamp(ms: u64) -> String {
    let iso = corral_api::marathon::time::iso8601(ms);
    let weekday = WEEKDAYS[((ms / 86_400_000) % 7) as usize];
    format!("{weekday} {} {} UTC", &iso[..10], &iso[11..19])
}

/// How long ago, as systemd says it: `450ms`, `5s`, `2min 3s`,
/// `1h 5min`, `3 days 4h`.
pub fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}min {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}min", s / 3600, s / 60 % 60),
        _ => {
            let days = s / 86_400;
            let unit = if days == 1 { "day" } else { "days" };
            format!("{days} {unit} {}h", s / 3600 % 24)
        }
    }
}

/// `Description=` with its specifiers expanded, as systemd shows it
/// (`Web %i` → `Web 1` for `web@1.service`).
fn description(row: &UnitRow, raw: &str, state: Option<&UnitStateRow>) -> String {
    match UnitName::parse(&row.name) {
        Ok(name) => expand(
            raw,
            &Specifiers {
                name: &name,
                hostname: None,
                machine_id: state.map(|s| s.machine.as_str()),
                boot_id: None,
            },
        ),
        Err(_) => raw.to_string(),
    }
}

/// `corral status UNIT`: systemd's status block for `row` as one machine
/// (`state`) reports it, then its last journal lines.
pub fn status(
    row: &UnitRow,
    state: Option<&UnitStateRow>,
    journal: &Journal,
    now_ms: u64,
) -> String {
    let mut out = format!("● {}", row.name);
    if let Some(d) = &row.description {
        out.push_str(&format!(" - {}", description(row, d, state)));
    }
    out.push('\n');
    match state {
        Some(s) => {
            out.push_str(&format!("   Loaded: {}\n", s.load));
            let mut active = if s.active == "failed" {
                format!("failed (Result: {})", s.result.as_deref().unwrap_or(&s.sub))
            } else {
                format!("{} ({})", s.active, s.sub)
            };
            if s.since_ms > 0 {
                active.push_str(&format!(
                    " since {}; {} ago",
                    timestamp(s.since_ms),
                    ago(now_ms.saturating_sub(s.since_ms))
                ));
            }
            out.push_str(&format!("   Active: {active}\n"));
            if let Some(pid) = s.main_pid {
                out.push_str(&format!(" Main PID: {pid}\n"));
            }
            if s.restarts > 0 {
                out.push_str(&format!(" Restarts: {}\n", s.restarts));
            }
            out.push_str(&format!(
                "  Machine: {}\n",
                machine_legend(&s.machine, &s.machine_ip, false)
            ));
        }
        None => {
            out.push_str(&format!(
                "   Loaded: not loaded (desired {}, current {})\n",
                row.desired, row.current
            ));
            out.push_str("   Active: inactive (dead)\n");
            let machine = match (&row.machine, row.global) {
                (_, true) => "- (global: no machine runs it)".to_string(),
                (Some(m), false) => format!(
                    "{} (not reported yet)",
                    machine_legend(m, row.machine_ip.as_deref().unwrap_or(""), false)
                ),
                (None, false) => "-".to_string(),
            };
            out.push_str(&format!("  Machine: {machine}\n"));
            if let Some(why) = &row.why {
                out.push_str(&format!("      Why: {why}\n"));
            }
        }
    }
    match journal {
        Journal::Nowhere => {}
        Journal::Unavailable(why) => out.push_str(&format!("\n(journal unavailable: {why})\n")),
        Journal::Lines(text) if text.trim().is_empty() => out.push_str("\n-- No entries --\n"),
        Journal::Lines(text) => {
            out.push('\n');
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::fields::Field;

    const M1: &str = "1243aa1c9f0e4d2b8a7c6e5f4d3c2b1a";
    const M2: &str = "9c1e00aa11bb22cc33dd44ee55ff6677";
    const M3: &str = "3f2a77bb11bb22cc33dd44ee55ff6677";

    fn ip(m: &str) -> &'static str {
        match m {
            M1 => "127.0.0.101",
            M2 => "127.0.0.102",
            _ => "127.0.0.103",
        }
    }

    fn state(m: &str, active: &str, sub: &str) -> UnitStateRow {
        UnitStateRow {
            machine: m.into(),
            machine_ip: ip(m).into(),
            agent: format!("{}:5051", ip(m)),
            hash: "e55a1d0d2a8b1ba0f3b8e3d6b0c1f2a3b4c5d6e7".into(),
            load: "loaded".into(),
            active: active.into(),
            sub: sub.into(),
            since_ms: 1_704_164_645_000,
            main_pid: Some(1234),
            result: None,
            restarts: 0,
        }
    }

    fn unit(name: &str, desired: &str, current: &str, machine: Option<&str>) -> UnitRow {
        UnitRow {
            name: name.into(),
            hash: "4f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39".into(),
            desired: desired.into(),
            current: current.into(),
            global: false,
            machine: machine.map(str::to_string),
            machine_ip: machine.map(|m| ip(m).to_string()),
            why: None,
            description: None,
            states: Vec::new(),
        }
    }

    /// Three instances running (web@1's description as written, with a
    /// specifier), one that cannot be placed, a template, a global unit on
    /// two machines.
    fn cluster() -> Vec<UnitRow> {
        let mut rows = Vec::new();
        for (i, m) in [(1, M1), (2, M2), (3, M3)] {
            let mut u = unit(&format!("web@{i}.service"), "launched", "launched", Some(m));
            u.states.push(state(m, "active", "running"));
            u.description = Some(if i == 1 {
                "Web %i".into()
            } else {
                format!("Web {i}")
            });
            rows.push(u);
        }
        let mut four = unit("web@4.service", "launched", "inactive", None);
        four.why = Some("Conflicts=web@*.service excludes 3 machines".into());
        rows.push(four);
        rows.push(unit("web@.service", "inactive", "inactive", None));
        let mut g = unit("log.service", "launched", "launched", None);
        g.global = true;
        g.states.push(state(M2, "active", "running"));
        g.states.push(state(M1, "failed", "failed"));
        rows.push(g);
        rows
    }

    fn check_units(fields: Option<&str>, opts: ListOptions, expected: &str) {
        let fields = fields::parse::<StateField>(fields).unwrap();
        assert_eq!(list_units(&cluster(), &fields, opts), expected);
    }

    fn check_files(fields: Option<&str>, opts: ListOptions, expected: &str) {
        let fields = fields::parse::<FileField>(fields).unwrap();
        assert_eq!(list_unit_files(&cluster(), &fields, opts), expected);
    }

    #[test]
    fn list_units_table() {
        check_units(
            None,
            ListOptions::default(),
            "\
UNIT            MACHINE                   ACTIVE   SUB
log.service     1243aa1c.../127.0.0.101   failed   failed
log.service     9c1e00aa.../127.0.0.102   active   running
web@1.service   1243aa1c.../127.0.0.101   active   running
web@2.service   9c1e00aa.../127.0.0.102   active   running
web@3.service   3f2a77bb.../127.0.0.103   active   running
web@4.service   -                         -        -
",
        );
        check_units(
            Some("unit,load,hash"),
            ListOptions {
                no_legend: true,
                full: false,
            },
            "\
log.service     loaded   e55a1d0
log.service     loaded   e55a1d0
web@1.service   loaded   e55a1d0
web@2.service   loaded   e55a1d0
web@3.service   loaded   e55a1d0
web@4.service   -        -
",
        );
        check_units(
            Some("machine,unit"),
            ListOptions {
                full: true,
                no_legend: false,
            },
            "\
MACHINE                                        UNIT
1243aa1c9f0e4d2b8a7c6e5f4d3c2b1a/127.0.0.101   log.service
9c1e00aa11bb22cc33dd44ee55ff6677/127.0.0.102   log.service
1243aa1c9f0e4d2b8a7c6e5f4d3c2b1a/127.0.0.101   web@1.service
9c1e00aa11bb22cc33dd44ee55ff6677/127.0.0.102   web@2.service
3f2a77bb11bb22cc33dd44ee55ff6677/127.0.0.103   web@3.service
-                                              web@4.service
",
        );
    }

    #[test]
    fn a_placed_unit_not_reported_yet_shows_its_machine() {
        let rows = vec![unit("db.service", "loaded", "inactive", Some(M3))];
        assert_eq!(
            list_units(&rows, StateField::DEFAULT, ListOptions::default()),
            "UNIT         MACHINE                   ACTIVE   SUB\n\
             db.service   3f2a77bb.../127.0.0.103   -        -\n"
        );
    }

    #[test]
    fn list_unit_files_table() {
        check_files(
            None,
            ListOptions::default(),
            "\
UNIT            HASH      DSTATE     STATE      TARGET
log.service     4f1c2a9   launched   -          global
web@.service    4f1c2a9   inactive   inactive   -
web@1.service   4f1c2a9   launched   launched   1243aa1c.../127.0.0.101
web@2.service   4f1c2a9   launched   launched   9c1e00aa.../127.0.0.102
web@3.service   4f1c2a9   launched   launched   3f2a77bb.../127.0.0.103
web@4.service   4f1c2a9   launched   inactive   -
",
        );
        check_files(
            Some("unit,global,desc,tmachine,hash"),
            ListOptions {
                full: true,
                no_legend: true,
            },
            "\
log.service     true    -        -                                              4f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
web@.service    false   -        -                                              4f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
web@1.service   false   Web %i   1243aa1c9f0e4d2b8a7c6e5f4d3c2b1a/127.0.0.101   4f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
web@2.service   false   Web 2    9c1e00aa11bb22cc33dd44ee55ff6677/127.0.0.102   4f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
web@3.service   false   Web 3    3f2a77bb11bb22cc33dd44ee55ff6677/127.0.0.103   4f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
web@4.service   false   -        -                                              4f1c2a9e8d7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
",
        );
    }

    #[test]
    fn empty_listings() {
        assert_eq!(
            list_units(&[], StateField::DEFAULT, ListOptions::default()),
            "UNIT   MACHINE   ACTIVE   SUB\n"
        );
        let quiet = ListOptions {
            no_legend: true,
            full: false,
        };
        assert_eq!(list_units(&[], StateField::DEFAULT, quiet), "");
    }

    fn check_status(row: &UnitRow, state: Option<&UnitStateRow>, journal: Journal, expected: &str) {
        // 2 min 3 s after the unit started.
        let now = 1_704_164_645_000 + 123_000;
        assert_eq!(status(row, state, &journal, now), expected);
    }

    #[test]
    fn status_blocks() {
        let rows = cluster();
        check_status(
            &rows[0],
            rows[0].states.first(),
            Journal::Lines("Jan 02 03:04:05 web[1234]: listening on :8000\n".into()),
            "\
● web@1.service - Web 1
   Loaded: loaded
   Active: active (running) since Tue 2024-01-02 03:04:05 UTC; 2min 3s ago
 Main PID: 1234
  Machine: 1243aa1c.../127.0.0.101

Jan 02 03:04:05 web[1234]: listening on :8000
",
        );
        let mut failed = state(M1, "failed", "failed");
        failed.result = Some("exit-code".into());
        failed.main_pid = None;
        failed.restarts = 3;
        check_status(
            &rows[5],
            Some(&failed),
            Journal::Lines(String::new()),
            "\
● log.service
   Loaded: loaded
   Active: failed (Result: exit-code) since Tue 2024-01-02 03:04:05 UTC; 2min 3s ago
 Restarts: 3
  Machine: 1243aa1c.../127.0.0.101

-- No entries --
",
        );
        check_status(
            &rows[3],
            None,
            Journal::Nowhere,
            "\
● web@4.service
   Loaded: not loaded (desired launched, current inactive)
   Active: inactive (dead)
  Machine: -
      Why: Conflicts=web@*.service excludes 3 machines
",
        );
        check_status(
            &unit("db.service", "launched", "inactive", Some(M3)),
            None,
            Journal::Unavailable("agent 127.0.0.103:5051: connection refused".into()),
            "\
● db.service
   Loaded: not loaded (desired launched, current inactive)
   Active: inactive (dead)
  Machine: 3f2a77bb.../127.0.0.103 (not reported yet)

(journal unavailable: agent 127.0.0.103:5051: connection refused)
",
        );
    }

    #[test]
    fn times() {
        assert_eq!(timestamp(0), "Thu 1970-01-01 00:00:00 UTC");
        assert_eq!(timestamp(1_704_164_645_999), "Tue 2024-01-02 03:04:05 UTC");
        let cases = [
            (450, "450ms"),
            (5_000, "5s"),
            (123_000, "2min 3s"),
            (3_900_000, "1h 5min"),
            (86_400_000 + 3_600_000, "1 day 1h"),
            (3 * 86_400_000 + 4 * 3_600_000, "3 days 4h"),
        ];
        for (ms, want) in cases {
            assert_eq!(ago(ms), want, "{ms}");
        }
    }
}
