//! Units in the state, as data: a list of commands in, then each unit as
//! one line (`name desired machine global hash7`) and the last response.

use std::collections::BTreeMap;

use super::units::{DesiredState, UnitRuntime};
use super::State;
use crate::command::{Command, Request, Response};
use crate::machine::{AgentRegistration, MachineId, Resources};
use crate::unit::{UnitFile, UnitName};

fn name(s: &str) -> UnitName {
    UnitName::parse(s).unwrap()
}

fn m(n: u8) -> MachineId {
    MachineId(format!("{n:0>32}"))
}

fn agent(n: u8) -> Command {
    Command::RegisterAgent(AgentRegistration {
        id: m(n),
        hostname: format!("m{n}"),
        ip: format!("127.0.0.{n}"),
        agent_port: 5051,
        resources: Resources::default(),
        attributes: BTreeMap::new(),
        server_id: None,
        version: "0".into(),
    })
}

fn put(unit: &str, text: &str, desired: DesiredState) -> Command {
    Command::PutUnit {
        name: name(unit),
        options: if text.is_empty() {
            Vec::new()
        } else {
            UnitFile::parse(text).unwrap().options().to_vec()
        },
        desired,
    }
}

fn render(s: &State, last: &Response) -> String {
    let mut out = String::new();
    for u in s.units.values() {
        out.push_str(&format!(
            "{} {} {} {}{}\n",
            u.name,
            u.desired.as_str(),
            u.machine
                .as_ref()
                .map(|m| m.0[30..].to_string())
                .unwrap_or("-".into()),
            if u.global { "global " } else { "" },
            &u.hash[..7],
        ));
    }
    match last {
        Response::Refused { reason } => out.push_str(&format!("refused: {reason}\n")),
        other => out.push_str(&format!("{other:?}\n")),
    }
    out
}

fn check(commands: Vec<Command>, expected: &str) {
    let mut s = State::default();
    let mut last = Response::Done;
    for (i, c) in commands.into_iter().enumerate() {
        last = s
            .apply(&Request {
                now_ms: 1000 + i as u64,
                command: c,
            })
            .0;
    }
    let got = render(&s, &last);
    assert_eq!(got.trim(), expected.trim(), "\n--- got ---\n{got}");
}

const WEB: &str = "[Service]\nExecStart=/bin/sleep 60\n[X-Fleet]\nConflicts=web@*.service\n";
const GLOBAL: &str = "[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n";

#[test]
fn templates_are_only_inactive_and_lend_their_file_to_instances() {
    let t = name("web@.service").to_string();
    let hash = UnitFile::parse(WEB).unwrap().hash();
    let h = &hash[..7];
    check(
        vec![put(&t, WEB, DesiredState::Launched)],
        "refused: web@.service is a template: it can only be submitted (inactive); start its instances, e.g. web@1.service",
    );
    check(
        vec![
            put(&t, WEB, DesiredState::Inactive),
            put("web@1.service", "", DesiredState::Launched),
        ],
        &format!("web@.service inactive - {h}\nweb@1.service launched - {h}\nDone"),
    );
    check(
        vec![put("web@1.service", "", DesiredState::Launched)],
        "refused: unit web@1.service has no options and no template to take them from; submit its unit file or the template web@.service",
    );
    check(
        vec![
            put(&t, WEB, DesiredState::Inactive),
            Command::SetUnitDesired { name: name(&t), desired: DesiredState::Loaded },
        ],
        &format!("web@.service inactive - {h}\nrefused: web@.service is a template: it can only be inactive; start its instances instead"),
    );
}

#[test]
fn placement_is_kept_across_replacement_dropped_when_inactive_and_skips_stale_entries() {
    let a = "[Service]\nExecStart=/bin/sleep 1\n";
    let b = "[Service]\nExecStart=/bin/sleep 2\n";
    let (ha, hb) = (
        UnitFile::parse(a).unwrap().hash(),
        UnitFile::parse(b).unwrap().hash(),
    );
    let place = |u: &str, n: u8| Command::PlaceUnits {
        assign: vec![(name(u), m(n))],
        unassign: vec![],
    };
    check(
        vec![
            agent(1),
            put("a.service", a, DesiredState::Launched),
            place("a.service", 1),
            put("a.service", b, DesiredState::Launched),
        ],
        &format!("a.service launched 01 {}\nDone", &hb[..7]),
    );
    check(
        vec![
            agent(1),
            put("a.service", a, DesiredState::Launched),
            place("a.service", 1),
            Command::SetUnitDesired {
                name: name("a.service"),
                desired: DesiredState::Inactive,
            },
        ],
        &format!("a.service inactive - {}\nDone", &ha[..7]),
    );
    // An inactive unit, a global unit and an unknown machine are not placed.
    check(
        vec![
            agent(1),
            put("a.service", a, DesiredState::Inactive),
            put("g.service", GLOBAL, DesiredState::Launched),
            put("b.service", b, DesiredState::Launched),
            place("a.service", 1),
            place("g.service", 1),
            place("b.service", 9),
        ],
        &format!(
            "a.service inactive - {}\nb.service launched - {}\ng.service launched - global {}\nDone",
            &ha[..7],
            &hb[..7],
            &UnitFile::parse(GLOBAL).unwrap().hash()[..7]
        ),
    );
}

#[test]
fn bad_files_are_refused_and_destroy_needs_a_unit() {
    check(
        vec![put(
            "a.service",
            "[X-Fleet]\nBogus=1\n",
            DesiredState::Launched,
        )],
        r#"refused: unit a.service: unknown [X-Fleet] option "Bogus"; use MachineID, MachineOf, MachineMetadata, Conflicts, Global or Replaces"#,
    );
    check(
        vec![Command::DestroyUnit {
            name: name("a.service"),
        }],
        "refused: unit a.service does not exist",
    );
}

#[test]
fn reports_replace_what_a_machine_said_before_and_go_with_the_machine() {
    let run = |active: &str| UnitRuntime {
        hash: "h".into(),
        load: "loaded".into(),
        active: active.into(),
        sub: "running".into(),
        since_ms: 1,
        main_pid: Some(7),
        result: None,
        restarts: 0,
    };
    let mut s = State::default();
    let mut apply = |c: Command| {
        s.apply(&Request {
            now_ms: 1,
            command: c,
        })
    };
    apply(agent(1));
    let report = |units: Vec<(&str, UnitRuntime)>| Command::ReportUnits {
        machine: m(1),
        units: units.into_iter().map(|(n, r)| (name(n), r)).collect(),
    };
    let (_, events) = apply(report(vec![
        ("a.service", run("active")),
        ("b.service", run("active")),
    ]));
    assert_eq!(events.len(), 1);
    let (_, events) = apply(report(vec![
        ("a.service", run("active")),
        ("b.service", run("active")),
    ]));
    assert!(events.is_empty(), "the same report changes nothing");
    apply(report(vec![("b.service", run("failed"))]));
    let (r, _) = apply(Command::ReportUnits {
        machine: m(9),
        units: BTreeMap::new(),
    });
    assert!(matches!(r, Response::Refused { .. }));
    apply(Command::RemoveAgent { id: m(1) });
    assert!(
        s.unit_states.is_empty(),
        "a removed machine's reports go with it"
    );
}
