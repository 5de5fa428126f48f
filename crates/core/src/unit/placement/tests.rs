//! Placement as data: a cluster and its units as lines in, the plan as
//! lines out. Every case is also planned from reversed input (same plan)
//! and its result checked against the rules by a naive checker.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::unit::file::UnitFile;
use crate::unit::glob::glob_match;

mod generated;

/// `3f2a1b9c` → a 32-digit id starting with it.
fn mid(short: &str) -> MachineId {
    if short.len() >= 32 {
        MachineId(short.to_owned())
    } else {
        MachineId(format!("{short:0<32}"))
    }
}

struct Case {
    units: Vec<Placed>,
    machines: Vec<Machine>,
    current: BTreeMap<UnitName, MachineId>,
}

/// Lines:
/// - `machine <id> [key=value...]`
/// - `unit <name> [@<machine>] [| <X-Fleet line>]...`: a unit that wants a
///   machine, where it is now, and its `[X-Fleet]` lines;
/// - `current <name> @<machine>`: an assignment of a unit not wanted.
fn parse_case(text: &str) -> Case {
    let mut case = Case {
        units: Vec::new(),
        machines: Vec::new(),
        current: BTreeMap::new(),
    };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "machine" => {
                let mut words = rest.split_whitespace();
                let id = mid(words.next().expect("machine id"));
                let metadata = words
                    .map(|w| {
                        let (k, v) = w.split_once('=').expect("key=value");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                case.machines.push(Machine { id, metadata });
            }
            "unit" | "current" => {
                let mut fields = rest.split(" | ");
                let mut head = fields.next().unwrap_or_default().split_whitespace();
                let name = UnitName::parse(head.next().expect("unit name")).unwrap();
                if let Some(at) = head.next() {
                    let m = at.strip_prefix('@').expect("@machine");
                    case.current.insert(name.clone(), mid(m));
                }
                if kind == "unit" {
                    let lines: Vec<&str> = fields.collect();
                    let file = UnitFile::parse(&format!("[X-Fleet]\n{}\n", lines.join("\n")))
                        .unwrap_or_else(|e| panic!("{line}: {e}"));
                    let req =
                        Requirements::of(&name, &file).unwrap_or_else(|e| panic!("{line}: {e}"));
                    case.units.push(Placed { name, req });
                }
            }
            _ => panic!("unknown line: {line}"),
        }
    }
    case
}

fn render(plan: &Plan) -> String {
    let mut out = Vec::new();
    for (name, m) in &plan.assign {
        out.push(format!("assign {name} {}", &m.0[..8]));
    }
    for name in &plan.unassign {
        out.push(format!("unassign {name}"));
    }
    for reason in plan.unplaceable.values() {
        out.push(format!("unplaceable: {reason}"));
    }
    if out.is_empty() {
        out.push("(no change)".into());
    }
    out.join("\n")
}

/// Where every wanted unit is after `plan`.
fn after(case: &Case, plan: &Plan) -> BTreeMap<UnitName, MachineId> {
    let mut out: BTreeMap<UnitName, MachineId> = case.current.clone();
    for name in &plan.unassign {
        out.remove(name);
    }
    for (name, m) in &plan.assign {
        out.insert(name.clone(), m.clone());
    }
    out
}

/// The rules, checked the slow and obvious way.
fn verify(case: &Case, plan: &Plan) {
    let placed = after(case, plan);
    let wanted: BTreeMap<&UnitName, &Requirements> = case
        .units
        .iter()
        .filter(|p| !p.req.global && !p.name.is_template())
        .map(|p| (&p.name, &p.req))
        .collect();
    for name in placed.keys() {
        assert!(wanted.contains_key(name), "{name} is placed but not wanted");
    }
    for name in wanted.keys() {
        assert_eq!(
            placed.contains_key(*name),
            !plan.unplaceable.contains_key(*name),
            "{name}: placed xor unplaceable"
        );
    }
    let assigned: BTreeSet<&UnitName> = plan.assign.iter().map(|(n, _)| n).collect();
    assert!(
        plan.unassign.iter().all(|n| !assigned.contains(n)),
        "assign and unassign share a unit"
    );
    for (name, m) in &placed {
        let req = wanted[name];
        let machine = case
            .machines
            .iter()
            .find(|x| &x.id == m)
            .unwrap_or_else(|| panic!("{name} is on {m}, which is not live"));
        if let Some(id) = &req.machine_id {
            assert!(m.0 == *id || m.0[..8] == *id, "{name}: MachineID");
        }
        for (k, vs) in &req.metadata {
            let v = machine.metadata.get(k);
            assert!(v.is_some_and(|v| vs.contains(v)), "{name}: metadata {k}");
        }
        for t in &req.machine_of {
            assert_eq!(placed.get(t), Some(m), "{name}: MachineOf={t}");
        }
        for (other, om) in &placed {
            if other == name || om != m {
                continue;
            }
            let oreq = wanted[other];
            let hits =
                |pats: &[String], n: &UnitName| pats.iter().any(|p| glob_match(p, n.as_str()));
            assert!(
                !hits(&req.conflicts, other),
                "{name} conflicts with {other}"
            );
            assert!(
                !hits(&oreq.replaces, name) || hits(&req.replaces, other),
                "{other} replaces {name} on the same machine (and {name} not it)"
            );
        }
    }
}

/// A second plan from the first one's result moves nothing: it may only
/// place units the first left without a machine.
fn assert_stable(current: &BTreeMap<UnitName, MachineId>, again: &Plan) {
    assert!(
        again.unassign.is_empty(),
        "a second plan unassigns {:?}",
        again.unassign
    );
    for (name, _) in &again.assign {
        assert!(!current.contains_key(name), "a second plan moves {name}");
    }
}

fn run(case: &Case) -> Plan {
    let plan = plan(&case.units, &case.machines, &case.current);
    // The same input in another order gives the same plan.
    let mut units = case.units.clone();
    units.reverse();
    let mut machines = case.machines.clone();
    machines.reverse();
    assert_eq!(
        plan,
        super::plan(&units, &machines, &case.current),
        "order-independent"
    );
    verify(case, &plan);
    plan
}

fn check(cluster: &str, want: &str) {
    let case = parse_case(cluster);
    let got = render(&run(&case));
    let want: Vec<&str> = want
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(got, want.join("\n"), "\ncluster:\n{cluster}");
}

#[test]
fn conflicts_spread_template_instances() {
    // Three machines take three instances; the fourth fits nowhere, and
    // the sentence names each machine's blocker.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        machine cccccccc
        unit web@1.service | Conflicts=web@*.service
        unit web@2.service | Conflicts=web@*.service
        unit web@3.service | Conflicts=web@*.service
        unit web@4.service | Conflicts=web@*.service
        ",
        "
        assign web@1.service aaaaaaaa
        assign web@2.service bbbbbbbb
        assign web@3.service cccccccc
        unplaceable: no machine fits web@4.service: aaaaaaaa... has web@1.service (Conflicts=web@*.service); bbbbbbbb... has web@2.service (Conflicts=web@*.service); cccccccc... has web@3.service (Conflicts=web@*.service)
        ",
    );
    // Several globs on one line, and repeated lines.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit a.service @aaaaaaaa
        unit b.service @bbbbbbbb
        unit c.service | Conflicts=a.service x.service | Conflicts=b*
        ",
        "unplaceable: no machine fits c.service: aaaaaaaa... has a.service (Conflicts=a.service); bbbbbbbb... has b.service (Conflicts=b*)",
    );
}

#[test]
fn conflicts_work_both_ways() {
    // web.service has no rules, but db.service's Conflicts keep it off
    // the less loaded machine.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit db.service @aaaaaaaa | Conflicts=web*.service
        unit x.service @bbbbbbbb
        unit y.service @bbbbbbbb
        unit web.service
        ",
        "assign web.service bbbbbbbb",
    );
    check(
        "
        machine aaaaaaaa
        unit db.service @aaaaaaaa | Conflicts=web*.service
        unit web.service
        ",
        "unplaceable: no machine fits web.service: aaaaaaaa... has db.service, whose Conflicts=web*.service matches web.service",
    );
    // Two units that came to conflict where they run: the first by name
    // stays, the other moves.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit p.service @aaaaaaaa | Conflicts=q.service
        unit q.service @aaaaaaaa
        ",
        "assign q.service bbbbbbbb",
    );
}

#[test]
fn the_sentence_from_the_issue() {
    check(
        "
        machine 3f2a1b9c region=us-east
        machine 9c1e22aa
        unit web@1.service @3f2a1b9c | Conflicts=web@*.service | MachineMetadata=region=us-east
        unit web@2.service | Conflicts=web@*.service | MachineMetadata=region=us-east
        ",
        "unplaceable: no machine fits web@2.service: 3f2a1b9c... has web@1.service (Conflicts=web@*.service); 9c1e22aa... lacks MachineMetadata region=us-east",
    );
}

#[test]
fn many_machines_are_counted_in_groups() {
    check(
        "
        machine 11111111 zone=a
        machine 22222222 zone=a
        machine 33333333 zone=a
        machine 44444444 zone=a
        machine 55555555 zone=a
        machine 66666666 zone=a
        machine 77777777
        machine 88888888 zone=b
        machine 99999999 zone=a
        unit web@1.service @11111111 | Conflicts=web@*.service | MachineMetadata=zone=a
        unit web@2.service @22222222 | Conflicts=web@*.service | MachineMetadata=zone=a
        unit web@3.service @33333333 | Conflicts=web@*.service | MachineMetadata=zone=a
        unit web@4.service @44444444 | Conflicts=web@*.service | MachineMetadata=zone=a
        unit web@5.service @55555555 | Conflicts=web@*.service | MachineMetadata=zone=a
        unit web@6.service @66666666 | Conflicts=web@*.service | MachineMetadata=zone=a
        unit db.service @99999999 | Conflicts=web@7.service
        unit web@7.service | Conflicts=web@*.service | MachineMetadata=zone=a
        ",
        "unplaceable: no machine fits web@7.service: 6 machines have a unit matching Conflicts=web@*.service (e.g. 11111111... has web@1.service); 2 machines lack MachineMetadata zone=a; 99999999... has db.service, whose Conflicts=web@7.service matches web@7.service",
    );
    check(
        "
        machine 11111111
        machine 22222222
        machine 33333333
        machine 44444444
        machine 55555555
        machine 66666666
        unit x.service | MachineID=77777777
        ",
        "unplaceable: no machine fits x.service: 6 machines are not MachineID=77777777",
    );
}

#[test]
fn machine_of_follows_its_target() {
    // app.service sorts first but waits for zdb.service, placed in the
    // same plan.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit app.service | MachineOf=zdb.service
        unit b.service
        unit zdb.service
        ",
        "
        assign app.service bbbbbbbb
        assign b.service aaaaaaaa
        assign zdb.service bbbbbbbb
        ",
    );
    // The target's machine is gone: both move, together.
    check(
        "
        machine bbbbbbbb
        machine cccccccc
        unit zdb.service @aaaaaaaa
        unit app.service @aaaaaaaa | MachineOf=zdb.service
        unit other.service @bbbbbbbb
        ",
        "
        assign app.service cccccccc
        assign zdb.service cccccccc
        ",
    );
    // A chain: c follows b follows a.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit x.service @aaaaaaaa
        unit c.service | MachineOf=b.service
        unit b.service | MachineOf=a.service
        unit a.service
        ",
        "
        assign a.service bbbbbbbb
        assign b.service bbbbbbbb
        assign c.service bbbbbbbb
        ",
    );
    // Following onto a machine where a conflict waits.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit db.service @aaaaaaaa
        unit x.service @aaaaaaaa | Conflicts=web.service
        unit web.service | MachineOf=db.service
        ",
        "unplaceable: no machine fits web.service: aaaaaaaa... has x.service, whose Conflicts=web.service matches web.service; bbbbbbbb... does not host db.service (MachineOf=db.service)",
    );
}

#[test]
fn machine_of_targets_that_cannot_be_followed() {
    check(
        "
        machine aaaaaaaa region=eu
        unit db.service | MachineMetadata=region=us
        unit web.service | MachineOf=db.service
        unit cache.service | MachineOf=nothere.service
        unit x.service | MachineOf=y.service
        unit y.service | MachineOf=x.service
        unit z.service | MachineOf=x.service
        ",
        "
        unplaceable: no machine fits cache.service: MachineOf=nothere.service, but nothere.service is not placed (it is unknown, inactive, global or a template)
        unplaceable: no machine fits db.service: aaaaaaaa... lacks MachineMetadata region=us (it has region=eu)
        unplaceable: no machine fits web.service: MachineOf=db.service, but db.service cannot be placed either
        unplaceable: no machine fits x.service: MachineOf forms a cycle (x.service -> y.service -> x.service); a unit cannot follow a unit that follows it
        unplaceable: no machine fits y.service: MachineOf forms a cycle (y.service -> x.service -> y.service); a unit cannot follow a unit that follows it
        unplaceable: no machine fits z.service: MachineOf=x.service, but x.service cannot be placed either (it waits on a MachineOf cycle)
        ",
    );
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit a.service @aaaaaaaa
        unit b.service @bbbbbbbb
        unit c.service | MachineOf=a.service | MachineOf=b.service
        ",
        "unplaceable: no machine fits c.service: its MachineOf targets are on different machines (a.service on aaaaaaaa..., b.service on bbbbbbbb...)",
    );
    // A follower left where its target was loses its machine too.
    check(
        "
        machine aaaaaaaa
        unit db.service @aaaaaaaa | MachineMetadata=disk=ssd
        unit web.service @aaaaaaaa | MachineOf=db.service
        ",
        "
        unassign db.service
        unassign web.service
        unplaceable: no machine fits db.service: aaaaaaaa... lacks MachineMetadata disk=ssd
        unplaceable: no machine fits web.service: MachineOf=db.service, but db.service cannot be placed either
        ",
    );
}

#[test]
fn machine_metadata_or_and() {
    // Same key: any value (OR). Different keys: all (AND). A missing key
    // excludes the machine. Keys are checked in name order.
    check(
        "
        machine aaaaaaaa region=us-east disk=hdd
        machine bbbbbbbb region=us-west disk=ssd
        machine cccccccc region=eu disk=ssd
        machine dddddddd disk=ssd
        unit or.service | MachineMetadata=region=us-east | MachineMetadata=region=us-west
        unit and.service | MachineMetadata=\"region=us-west\" \"disk=ssd\"
        unit none.service | MachineMetadata=region=eu | MachineMetadata=disk=hdd
        unit far.service | MachineMetadata=region=ap | MachineMetadata=region=sa
        unit any.service
        ",
        "
        assign and.service bbbbbbbb
        assign any.service aaaaaaaa
        assign or.service aaaaaaaa
        unplaceable: no machine fits far.service: aaaaaaaa... lacks MachineMetadata region=ap or region=sa (it has region=us-east); bbbbbbbb... lacks MachineMetadata region=ap or region=sa (it has region=us-west); cccccccc... lacks MachineMetadata region=ap or region=sa (it has region=eu); dddddddd... lacks MachineMetadata region=ap or region=sa
        unplaceable: no machine fits none.service: aaaaaaaa... lacks MachineMetadata region=eu (it has region=us-east); bbbbbbbb... lacks MachineMetadata disk=hdd (it has disk=ssd); cccccccc... lacks MachineMetadata disk=hdd (it has disk=ssd); dddddddd... lacks MachineMetadata disk=hdd (it has disk=ssd)
        ",
    );
}

#[test]
fn machine_id_full_or_short() {
    check(
        "
        machine 3f2a1b9c
        machine 9c1e22aa
        unit short.service | MachineID=9c1e22aa
        unit full.service | MachineID=3f2a1b9c000000000000000000000000
        unit nowhere.service | MachineID=12345678
        unit prefix.service | MachineID=3f2a
        ",
        "
        assign full.service 3f2a1b9c
        assign short.service 9c1e22aa
        unplaceable: no machine fits nowhere.service: 3f2a1b9c... is not MachineID=12345678; 9c1e22aa... is not MachineID=12345678
        unplaceable: no machine fits prefix.service: 3f2a1b9c... is not MachineID=3f2a; 9c1e22aa... is not MachineID=3f2a
        ",
    );
    // A pinned unit ignores load, and stays when its machine stays.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit a.service @aaaaaaaa
        unit b.service @aaaaaaaa
        unit pinned.service | MachineID=aaaaaaaa
        unit kept.service @bbbbbbbb | MachineID=bbbbbbbb
        ",
        "assign pinned.service aaaaaaaa",
    );
}

#[test]
fn replaces_moves_the_replaced_unit() {
    // new.service lands on the least loaded machine, which runs
    // old.service; old.service moves.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit old.service @aaaaaaaa
        unit x.service @bbbbbbbb
        unit y.service @bbbbbbbb
        unit new.service | Replaces=old.service
        ",
        "
        assign new.service aaaaaaaa
        assign old.service bbbbbbbb
        ",
    );
    // Nowhere else to go: the replaced unit loses its machine.
    check(
        "
        machine aaaaaaaa
        unit old.service @aaaaaaaa
        unit new.service | Replaces=old*
        ",
        "
        assign new.service aaaaaaaa
        unassign old.service
        unplaceable: no machine fits old.service: aaaaaaaa... has new.service, whose Replaces=old* matches old.service
        ",
    );
    // Both already together (Replaces added later): the replaced one moves.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit new.service @aaaaaaaa | Replaces=old.service
        unit old.service @aaaaaaaa
        ",
        "assign old.service bbbbbbbb",
    );
    // What follows the replaced unit moves with it.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit old.service @aaaaaaaa
        unit side.service @aaaaaaaa | MachineOf=old.service
        unit x.service @bbbbbbbb
        unit y.service @bbbbbbbb
        unit new.service | Replaces=old.service
        ",
        "
        assign new.service aaaaaaaa
        assign old.service bbbbbbbb
        assign side.service bbbbbbbb
        ",
    );
    // Circular replaces are ignored, as in fleet.
    check(
        "
        machine aaaaaaaa
        unit a.service @aaaaaaaa | Replaces=b.service
        unit b.service @aaaaaaaa | Replaces=a.service
        unit c.service | Replaces=d.service
        unit d.service | Replaces=c.service
        ",
        "
        assign c.service aaaaaaaa
        assign d.service aaaaaaaa
        ",
    );
}

#[test]
fn replaces_chains_end() {
    // a replaces b replaces c replaces a: each unit is moved at most once.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit a.service | Replaces=b.service
        unit b.service | Replaces=c.service
        unit c.service | Replaces=a.service
        ",
        "
        assign a.service bbbbbbbb
        assign b.service aaaaaaaa
        unplaceable: no machine fits c.service: aaaaaaaa... has b.service, whose Replaces=c.service matches c.service; bbbbbbbb... has a.service (Replaces=a.service), which was already moved once in this plan
        ",
    );
}

#[test]
fn stability_and_least_loaded() {
    // Units stay put even when another machine is emptier; new ones go to
    // the least loaded, ties to the lowest id, counting this plan's own.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit a.service @aaaaaaaa
        unit b.service @aaaaaaaa
        unit c.service @aaaaaaaa
        unit n1.service
        unit n2.service
        unit n3.service
        unit n4.service
        ",
        "
        assign n1.service bbbbbbbb
        assign n2.service bbbbbbbb
        assign n3.service bbbbbbbb
        assign n4.service aaaaaaaa
        ",
    );
    // Nothing to do twice: planning the result again changes nothing.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb
        unit a.service @aaaaaaaa
        unit b.service @aaaaaaaa
        unit c.service @aaaaaaaa
        unit n1.service @bbbbbbbb
        unit n2.service @bbbbbbbb
        unit n3.service @bbbbbbbb
        unit n4.service @aaaaaaaa
        ",
        "(no change)",
    );
    // A unit whose rules changed moves; the others stay.
    check(
        "
        machine aaaaaaaa
        machine bbbbbbbb disk=ssd
        unit a.service @aaaaaaaa
        unit b.service @aaaaaaaa | MachineMetadata=disk=ssd
        ",
        "assign b.service bbbbbbbb",
    );
}

#[test]
fn machine_loss_and_unwanted_units() {
    check(
        "
        machine aaaaaaaa
        machine cccccccc
        unit a.service @aaaaaaaa
        unit b.service @bbbbbbbb
        unit c.service @bbbbbbbb | MachineMetadata=disk=ssd
        current gone.service @aaaaaaaa
        current lost.service @bbbbbbbb
        unit g.service @aaaaaaaa | Global=true
        unit t@.service @aaaaaaaa
        ",
        "
        assign b.service cccccccc
        unassign c.service
        unassign g.service
        unassign gone.service
        unassign lost.service
        unassign t@.service
        unplaceable: no machine fits c.service: aaaaaaaa... lacks MachineMetadata disk=ssd; cccccccc... lacks MachineMetadata disk=ssd
        ",
    );
    check(
        "unit x.service @aaaaaaaa",
        "
        unassign x.service
        unplaceable: no machine fits x.service: there are no live machines
        ",
    );
    check("", "(no change)");
}

#[test]
fn global_targets_check_conflicts_both_ways() {
    let case = parse_case(
        "
        machine aaaaaaaa role=web
        machine bbbbbbbb role=web
        machine cccccccc role=db
        machine dddddddd role=web
        machine eeeeeeee role=web
        unit a.service @aaaaaaaa | Conflicts=mon.service
        unit b.service @bbbbbbbb
        unit c.service @cccccccc
        unit e.service @eeeeeeee | Conflicts=other.service
        ",
    );
    let name = UnitName::parse("mon.service").unwrap();
    let file =
        UnitFile::parse("[X-Fleet]\nGlobal=true\nMachineMetadata=role=web\nConflicts=b.service\n")
            .unwrap();
    let req = Requirements::of(&name, &file).unwrap();
    let got = global_targets_with(&name, &req, &case.machines, &case.units, &case.current);
    assert_eq!(got, [mid("dddddddd"), mid("eeeeeeee")]);
    // Without a.service's rules, only mon.service's own Conflicts apply.
    let got = global_targets(&name, &req, &case.machines, &case.current);
    assert_eq!(got, [mid("aaaaaaaa"), mid("dddddddd"), mid("eeeeeeee")]);
    // A placed unit on a machine that is not live is ignored; the global
    // unit itself in `placed` does not conflict with itself.
    let mut placed = case.current.clone();
    placed.insert(name.clone(), mid("dddddddd"));
    placed.insert(UnitName::parse("b2.service").unwrap(), mid("ffffffff"));
    let got = global_targets_with(&name, &req, &case.machines, &case.units, &placed);
    assert_eq!(got, [mid("dddddddd"), mid("eeeeeeee")]);
    // Global units are never placed by plan.
    let p = plan(
        &[Placed {
            name: name.clone(),
            req,
        }],
        &case.machines,
        &BTreeMap::new(),
    );
    assert_eq!(p, Plan::default());
}
