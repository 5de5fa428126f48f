//! Apply, command by command, as data: setup commands, one command, and
//! the expected response, events and resulting state as text.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::*;
use crate::machine::AgentRegistration;

fn reg(n: u8) -> AgentRegistration {
    AgentRegistration {
        id: MachineId(format!("{n:0>32}")),
        hostname: format!("m{n}"),
        ip: format!("127.0.0.{}", 100 + n),
        agent_port: 5051,
        resources: Resources {
            cpus: 2.0,
            mem_mb: 1024,
            disk_mb: 4096,
            ports: vec![(31000, 32000)],
        },
        attributes: BTreeMap::from([("role".into(), "web".into())]),
        server_id: Some(n as u64),
        version: "0.1.0".into(),
    }
}

fn id(n: u8) -> MachineId {
    MachineId(format!("{n:0>32}"))
}

fn set(key: &str, value: &str, ttl_ms: Option<u64>) -> Command {
    Command::KvSet {
        key: key.into(),
        value: value.into(),
        ttl_ms,
    }
}

/// Renders the state compactly so cases can state it as text.
fn dump(s: &State) -> String {
    let mut out = String::new();
    for (id, a) in &s.agents {
        let _ = write!(
            out,
            "agent {} {:?} reg={} rereg={} unreachable={:?};",
            &id.0[30..],
            a.status,
            a.registered_at_ms,
            a.reregistered_at_ms,
            a.unreachable_since_ms
        );
    }
    for (k, e) in &s.kv {
        let _ = write!(
            out,
            "kv {k}={} c={} m={} exp={:?};",
            e.value, e.create_revision, e.mod_revision, e.expires_at_ms
        );
    }
    for (id, f) in &s.frameworks {
        let _ = write!(
            out,
            "fw {id} {} reg={} rereg={} removed={:?};",
            f.info.name, f.registered_at_ms, f.reregistered_at_ms, f.removed_at_ms
        );
    }
    for (id, a) in &s.apps {
        let _ = write!(
            out,
            "app {id} v={} cfg={} scaled={} n={} versions={};",
            a.version_ms,
            a.config_version_ms,
            a.scaled_at_ms,
            a.spec.instances,
            a.versions.len()
        );
    }
    for (id, d) in &s.deployments {
        let _ = write!(out, "dep {id} {:?} v={};", d.change, d.version_ms);
    }
    for (id, t) in &s.tasks {
        let states: Vec<&str> = t.statuses.iter().map(|st| st.state.mesos_name()).collect();
        let _ = write!(
            out,
            "task {id} fw={} on={} [{}] unacked={:?};",
            t.framework,
            &t.agent.0[30..],
            states.join(","),
            t.unacked
        );
    }
    out
}

/// Applies `setup` (revisions 1..), then `cmd` at time `now`, and
/// compares response, events and the resulting state.
fn check(setup: &[(u64, Command)], now: u64, cmd: Command, want: &str) {
    let mut s = State::default();
    for (t, c) in setup {
        s.apply(&Request {
            now_ms: *t,
            command: c.clone(),
        });
    }
    let req = Request {
        now_ms: now,
        command: cmd,
    };
    let (resp, events) = s.apply(&req);
    let got = format!("{resp:?} | {events:?} | {}", dump(&s));
    assert_eq!(got, want, "\n got: {got}\nwant: {want}");
    assert_eq!(s.revision, setup.len() as u64 + 1);

    // Determinism: the same log replayed gives the same state.
    let mut again = State::default();
    for (t, c) in setup
        .iter()
        .chain(std::iter::once(&(now, req.command.clone())))
    {
        again.apply(&Request {
            now_ms: *t,
            command: c.clone(),
        });
    }
    assert_eq!(again, s, "replay differs");
}

#[test]
fn register_agent() {
    check(
        &[],
        10,
        Command::RegisterAgent(reg(1)),
        r#"AgentRegistered { id: MachineId("00000000000000000000000000000001"), reregistered: false } | [AgentAdmitted { id: MachineId("00000000000000000000000000000001") }] | agent 01 Active reg=10 rereg=10 unreachable=None;"#,
    );
    // Re-registration keeps the first registration time and clears unreachability.
    check(
        &[
            (10, Command::RegisterAgent(reg(1))),
            (
                20,
                Command::MarkAgentUnreachable {
                    id: id(1),
                    reason: "r".into(),
                },
            ),
        ],
        30,
        Command::RegisterAgent(reg(1)),
        r#"AgentRegistered { id: MachineId("00000000000000000000000000000001"), reregistered: true } | [AgentReregistered { id: MachineId("00000000000000000000000000000001") }] | agent 01 Active reg=10 rereg=30 unreachable=None;"#,
    );
}

#[test]
fn mark_agent_unreachable() {
    check(
        &[(10, Command::RegisterAgent(reg(1)))],
        20,
        Command::MarkAgentUnreachable {
            id: id(1),
            reason: "missed 5 heartbeats".into(),
        },
        r#"Done | [AgentUnreachable { id: MachineId("00000000000000000000000000000001") }] | agent 01 Unreachable reg=10 rereg=10 unreachable=Some(20);"#,
    );
    // Already unreachable: no second event, the first time stays.
    check(
        &[
            (10, Command::RegisterAgent(reg(1))),
            (
                20,
                Command::MarkAgentUnreachable {
                    id: id(1),
                    reason: "r".into(),
                },
            ),
        ],
        30,
        Command::MarkAgentUnreachable {
            id: id(1),
            reason: "r".into(),
        },
        "Done | [] | agent 01 Unreachable reg=10 rereg=10 unreachable=Some(20);",
    );
    // Unknown agent: nothing happens.
    check(
        &[],
        30,
        Command::MarkAgentUnreachable {
            id: id(9),
            reason: "r".into(),
        },
        "Done | [] | ",
    );
}

#[test]
fn remove_agent() {
    check(
        &[
            (10, Command::RegisterAgent(reg(1))),
            (10, Command::RegisterAgent(reg(2))),
        ],
        20,
        Command::RemoveAgent { id: id(1) },
        r#"Done | [AgentRemoved { id: MachineId("00000000000000000000000000000001") }] | agent 02 Active reg=10 rereg=10 unreachable=None;"#,
    );
    check(
        &[],
        20,
        Command::RemoveAgent { id: id(1) },
        r#"Refused { reason: "no machine 00000000000000000000000000000001 in the cluster" } | [] | "#,
    );
}

#[test]
fn kv_set() {
    check(
        &[],
        100,
        set("/a", "1", None),
        r#"KvSet { revision: 1, prev: None } | [KvPut { key: "/a", entry: KvEntry { value: "1", create_revision: 1, mod_revision: 1, expires_at_ms: None } }] | kv /a=1 c=1 m=1 exp=None;"#,
    );
    // Overwrite keeps create_revision; a TTL is counted from the request's time.
    check(
        &[(100, set("/a", "1", None))],
        200,
        set("/a", "2", Some(5000)),
        r#"KvSet { revision: 2, prev: Some(KvEntry { value: "1", create_revision: 1, mod_revision: 1, expires_at_ms: None }) } | [KvPut { key: "/a", entry: KvEntry { value: "2", create_revision: 1, mod_revision: 2, expires_at_ms: Some(5200) } }] | kv /a=2 c=1 m=2 exp=Some(5200);"#,
    );
}

#[test]
fn kv_delete() {
    check(
        &[(100, set("/a", "1", None)), (100, set("/b", "2", None))],
        200,
        Command::KvDelete { key: "/a".into() },
        r#"KvDeleted { revision: 3, prev: Some(KvEntry { value: "1", create_revision: 1, mod_revision: 1, expires_at_ms: None }) } | [KvDelete { key: "/a", revision: 3, expired: false }] | kv /b=2 c=2 m=2 exp=None;"#,
    );
    check(
        &[],
        200,
        Command::KvDelete { key: "/a".into() },
        "KvDeleted { revision: 1, prev: None } | [] | ",
    );
}

#[test]
fn kv_expire() {
    // Due keys go; a key refreshed after the leader saw it due stays.
    check(
        &[
            (100, set("/due", "x", Some(100))),
            (100, set("/later", "y", Some(10_000))),
            (100, set("/plain", "z", None)),
        ],
        500,
        Command::KvExpire {
            keys: vec![
                "/due".into(),
                "/later".into(),
                "/plain".into(),
                "/gone".into(),
            ],
        },
        r#"KvExpired { keys: ["/due"] } | [KvDelete { key: "/due", revision: 4, expired: true }] | kv /later=y c=2 m=2 exp=Some(10100);kv /plain=z c=3 m=3 exp=None;"#,
    );
}

#[test]
fn queries() {
    let mut s = State::default();
    for (i, k) in ["/a/1", "/a/2", "/ab", "/b"].iter().enumerate() {
        s.apply(&Request {
            now_ms: 0,
            command: set(k, "v", Some(10 * i as u64)),
        });
    }
    let keys = |p| s.kv_list(p).map(|(k, _)| k.as_str()).collect::<Vec<_>>();
    assert_eq!(keys("/a/"), ["/a/1", "/a/2"]);
    assert_eq!(keys("/a"), ["/a/1", "/a/2", "/ab"]);
    assert_eq!(keys(""), ["/a/1", "/a/2", "/ab", "/b"]);
    assert_eq!(keys("/"), ["/a/1", "/a/2", "/ab", "/b"]);
    assert_eq!(s.expired_keys(15, 10), ["/a/1", "/a/2"]);
    assert_eq!(s.expired_keys(15, 1), ["/a/1"]);
}

fn fw(id: &str, name: &str) -> Command {
    Command::RegisterFramework {
        id: FrameworkId(id.into()),
        info: crate::framework::FrameworkInfo {
            name: name.into(),
            ..Default::default()
        },
    }
}

fn launch(fw: &str, agent: u8, ids: &[&str]) -> Command {
    Command::LaunchTasks {
        framework: FrameworkId(fw.into()),
        agent: id(agent),
        tasks: ids
            .iter()
            .map(|t| crate::task::TaskSpec {
                id: TaskId(t.to_string()),
                name: t.to_string(),
                resources: Resources {
                    cpus: 0.5,
                    mem_mb: 64,
                    disk_mb: 0,
                    ports: vec![(31000, 31000)],
                },
                command: "sleep 1".into(),
                env: BTreeMap::new(),
                ..Default::default()
            })
            .collect(),
    }
}

fn update(task: &str, from: Option<u8>, state: TaskState) -> Command {
    Command::UpdateTask {
        id: TaskId(task.into()),
        from_agent: from.map(id),
        status: crate::task::StatusRecord {
            state,
            at_ms: 0,
            reason: None,
            message: None,
            revision: None,
        },
    }
}

fn ack(fw: &str, task: &str, revision: u64) -> Command {
    Command::AcknowledgeTask {
        framework: FrameworkId(fw.into()),
        id: TaskId(task.into()),
        revision,
    }
}

#[test]
fn register_and_remove_framework() {
    check(
        &[],
        10,
        fw("f1", "web"),
        r#"FrameworkRegistered { id: FrameworkId("f1"), reregistered: false } | [FrameworkRegistered { id: FrameworkId("f1") }] | fw f1 web reg=10 rereg=10 removed=None;"#,
    );
    // Back with the same id: info replaced, first registration kept.
    check(
        &[(10, fw("f1", "web"))],
        20,
        fw("f1", "web2"),
        r#"FrameworkRegistered { id: FrameworkId("f1"), reregistered: true } | [FrameworkRegistered { id: FrameworkId("f1") }] | fw f1 web2 reg=10 rereg=20 removed=None;"#,
    );
    let remove = || Command::RemoveFramework {
        id: FrameworkId("f1".into()),
        reason: "teardown".into(),
    };
    check(
        &[(10, fw("f1", "web"))],
        30,
        remove(),
        r#"Done | [FrameworkRemoved { id: FrameworkId("f1") }] | fw f1 web reg=10 rereg=10 removed=Some(30);"#,
    );
    // Removed is final: no second removal, no coming back under that id.
    check(
        &[(10, fw("f1", "web")), (30, remove())],
        40,
        remove(),
        r#"Refused { reason: "no active framework f1" } | [] | fw f1 web reg=10 rereg=10 removed=Some(30);"#,
    );
    check(
        &[(10, fw("f1", "web")), (30, remove())],
        40,
        fw("f1", "web"),
        r#"Refused { reason: "framework f1 was removed; subscribe without an id to get a new one" } | [] | fw f1 web reg=10 rereg=10 removed=Some(30);"#,
    );
}

#[test]
fn launch_tasks() {
    let setup = [(1, Command::RegisterAgent(reg(1))), (2, fw("f1", "web"))];
    check(
        &setup,
        5,
        launch("f1", 1, &["t1", "t2"]),
        r#"TasksLaunched { count: 2 } | [TaskLaunched { id: TaskId("t1"), framework: FrameworkId("f1"), agent: MachineId("00000000000000000000000000000001") }, TaskLaunched { id: TaskId("t2"), framework: FrameworkId("f1"), agent: MachineId("00000000000000000000000000000001") }] | agent 01 Active reg=1 rereg=1 unreachable=None;fw f1 web reg=2 rereg=2 removed=None;task t1 fw=f1 on=01 [TASK_STAGING] unacked=None;task t2 fw=f1 on=01 [TASK_STAGING] unacked=None;"#,
    );
    // Refused whole: a known id, a duplicate in the batch, an unknown framework or agent.
    let mut with_t1 = setup.to_vec();
    with_t1.push((5, launch("f1", 1, &["t1"])));
    let refused = |cmd: Command, why: &str| {
        let mut s = State::default();
        for (t, c) in &with_t1 {
            s.apply(&Request {
                now_ms: *t,
                command: c.clone(),
            });
        }
        let before = s.tasks.clone();
        let (resp, events) = s.apply(&Request {
            now_ms: 9,
            command: cmd,
        });
        assert_eq!(resp, Response::Refused { reason: why.into() });
        assert!(events.is_empty());
        assert_eq!(s.tasks, before, "nothing half-applied");
    };
    refused(
        launch("f1", 1, &["t9", "t1"]),
        "task id t1 is already in use; task ids must be unique",
    );
    refused(
        launch("f1", 1, &["t9", "t9"]),
        "task id t9 is already in use; task ids must be unique",
    );
    refused(
        launch("nope", 1, &["t9"]),
        "framework nope is not registered",
    );
    refused(
        launch("f1", 7, &["t9"]),
        "machine 00000000000000000000000000000007 is not an active agent",
    );
    refused(launch("f1", 1, &[]), "no tasks to launch");
}

#[test]
fn update_task() {
    let setup = [
        (1, Command::RegisterAgent(reg(1))),
        (1, Command::RegisterAgent(reg(2))),
        (2, fw("f1", "web")),
        (3, launch("f1", 1, &["t1"])),
    ];
    check(
        &setup,
        4,
        update("t1", Some(1), TaskState::Running),
        r#"TaskUpdated { changed: true, revision: Some(5) } | [TaskUpdated { id: TaskId("t1"), framework: FrameworkId("f1"), state: Running }] | agent 01 Active reg=1 rereg=1 unreachable=None;agent 02 Active reg=1 rereg=1 unreachable=None;fw f1 web reg=2 rereg=2 removed=None;task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING] unacked=Some(5);"#,
    );
    let mut done = setup.to_vec();
    done.push((4, update("t1", Some(1), TaskState::Running)));
    // A repeat changes nothing (at-least-once delivery is deduplicated).
    check(
        &done,
        5,
        update("t1", Some(1), TaskState::Running),
        r#"TaskUpdated { changed: false, revision: None } | [] | agent 01 Active reg=1 rereg=1 unreachable=None;agent 02 Active reg=1 rereg=1 unreachable=None;fw f1 web reg=2 rereg=2 removed=None;task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING] unacked=Some(5);"#,
    );
    // Another machine may not report on it; the master may (LOST).
    check(
        &done,
        5,
        update("t1", Some(2), TaskState::Failed),
        r#"Refused { reason: "task t1 runs on 00000000000000000000000000000001, not on the reporting machine" } | [] | agent 01 Active reg=1 rereg=1 unreachable=None;agent 02 Active reg=1 rereg=1 unreachable=None;fw f1 web reg=2 rereg=2 removed=None;task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING] unacked=Some(5);"#,
    );
    done.push((6, update("t1", None, TaskState::Lost)));
    // Terminal is final: a late RUNNING or FINISHED changes nothing.
    check(
        &done,
        7,
        update("t1", Some(1), TaskState::Finished),
        r#"TaskUpdated { changed: false, revision: None } | [] | agent 01 Active reg=1 rereg=1 unreachable=None;agent 02 Active reg=1 rereg=1 unreachable=None;fw f1 web reg=2 rereg=2 removed=None;task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING,TASK_LOST] unacked=Some(6);"#,
    );
    check(
        &[],
        7,
        update("t9", None, TaskState::Lost),
        r#"Refused { reason: "no task t9" } | [] | "#,
    );
}

#[test]
fn acknowledge_task() {
    const AGENTS: &str =
        "agent 01 Active reg=1 rereg=1 unreachable=None;fw f1 web reg=2 rereg=2 removed=None;";
    let setup = [
        (1, Command::RegisterAgent(reg(1))),
        (2, fw("f1", "web")),
        (3, launch("f1", 1, &["t1"])),
        (4, update("t1", Some(1), TaskState::Running)),
    ];
    // The latest status (revision 4) acknowledged: nothing pending.
    check(
        &setup,
        5,
        ack("f1", "t1", 4),
        &format!(
            "Done | [] | {AGENTS}task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING] unacked=None;"
        ),
    );
    // An older status's acknowledgement leaves the newer one pending.
    let mut later = setup.to_vec();
    later.push((5, update("t1", Some(1), TaskState::Finished)));
    check(
        &later,
        6,
        ack("f1", "t1", 4),
        &format!("Done | [] | {AGENTS}task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING,TASK_FINISHED] unacked=Some(5);"),
    );
    check(
        &setup,
        5,
        ack("f2", "t1", 4),
        &format!("Refused {{ reason: \"task t1 belongs to another framework\" }} | [] | {AGENTS}task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING] unacked=Some(4);"),
    );
    check(&setup, 5, ack("f1", "t9", 4), &format!("Refused {{ reason: \"no task t9\" }} | [] | {AGENTS}task t1 fw=f1 on=01 [TASK_STAGING,TASK_RUNNING] unacked=Some(4);"));
}

#[test]
fn status_uuids_carry_the_revision() {
    use crate::task::{status_revision, status_uuid};
    for rev in [0, 1, 4, u64::MAX] {
        assert_eq!(status_revision(&status_uuid(rev)), Some(rev));
    }
    assert_eq!(status_revision(b"0123456789abcdef"), None, "not ours");
    assert_eq!(status_revision(b"short"), None);
}

#[test]
fn resources_held_by_live_tasks() {
    let mut s = State::default();
    for c in [
        Command::RegisterAgent(reg(1)),
        fw("f1", "web"),
        launch("f1", 1, &["t1", "t2", "t3"]),
        update("t3", Some(1), TaskState::Finished),
    ] {
        s.apply(&Request {
            now_ms: 0,
            command: c,
        });
    }
    let used = s.used_on_agent(&id(1));
    assert_eq!(
        (used.cpus, used.mem_mb),
        (1.0, 128),
        "t3 ended, its resources are free"
    );
    assert_eq!(s.allocated_to(&FrameworkId("f1".into())), used);
    assert!(s.used_on_agent(&id(2)).is_empty());
}

/// The task indexes apply keeps answer exactly what a scan of the tasks
/// answers (a state loaded from JSON has no index and scans).
#[test]
fn task_indexes_agree_with_a_scan() {
    let mut s = State::default();
    let f1 = FrameworkId("f1".into());
    let steps = [
        Command::RegisterAgent(reg(1)),
        Command::RegisterAgent(reg(2)),
        fw("f1", "web"),
        launch("f1", 1, &["t1", "t2", "t3"]),
        launch("f1", 2, &["t4"]),
        update("t1", Some(1), TaskState::Running),
        update("t3", Some(1), TaskState::Finished),
        ack("f1", "t1", 6),
        update("t4", None, TaskState::Lost),
    ];
    for (i, c) in steps.into_iter().enumerate() {
        s.apply(&Request {
            now_ms: i as u64,
            command: c,
        });
        let scan: State = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        for agent in [id(1), id(2), id(3)] {
            assert_eq!(
                s.used_on_agent(&agent),
                scan.used_on_agent(&agent),
                "step {i}"
            );
        }
        assert_eq!(s.allocated_to(&f1), scan.allocated_to(&f1), "step {i}");
        let ids = |st: &State| -> (Vec<String>, Vec<String>, Vec<String>) {
            (
                st.live_tasks().map(|t| t.spec.id.0.clone()).collect(),
                st.unacked_tasks().map(|t| t.spec.id.0.clone()).collect(),
                st.live_of_framework(&f1)
                    .map(|t| t.spec.id.0.clone())
                    .collect(),
            )
        };
        assert_eq!(ids(&s), ids(&scan), "step {i}");
    }
    assert_eq!(
        s.live_tasks()
            .map(|t| t.spec.id.0.as_str())
            .collect::<Vec<_>>(),
        ["t1", "t2"]
    );
    assert_eq!(
        s.unacked_tasks()
            .map(|t| t.spec.id.0.as_str())
            .collect::<Vec<_>>(),
        ["t3", "t4"]
    );
}

#[test]
fn commands_round_trip_as_stored() {
    // The log stores JSON; this pins the shape of one command so a silent
    // rename shows up here.
    let req = Request {
        now_ms: 7,
        command: set("/k", "v", Some(1)),
    };
    let json = serde_json::to_string(&req).unwrap();
    assert_eq!(
        json,
        r#"{"now_ms":7,"command":{"KvSet":{"key":"/k","value":"v","ttl_ms":1}}}"#
    );
    assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
}

#[test]
fn tasks_of_unreachable_agents_are_lost_after_the_timeout() {
    let mut s = State::default();
    for (t, c) in [
        (0, Command::RegisterAgent(reg(1))),
        (0, Command::RegisterAgent(reg(2))),
        (0, fw("f1", "web")),
        (0, launch("f1", 1, &["t1", "t2"])),
        (0, launch("f1", 2, &["t3"])),
        (0, update("t2", Some(1), TaskState::Finished)),
        (
            1_000,
            Command::MarkAgentUnreachable {
                id: id(1),
                reason: "r".into(),
            },
        ),
    ] {
        s.apply(&Request {
            now_ms: t,
            command: c,
        });
    }
    let lost = |now| {
        s.tasks_to_declare_lost(now, 5_000)
            .into_iter()
            .map(|(t, _, away)| format!("{t}:{away}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(lost(5_999), "", "not yet: away 4.999 s");
    assert_eq!(
        lost(6_000),
        "t1:5000",
        "t2 already ended; t3's agent is fine"
    );
}

#[test]
fn a_live_report_for_an_ended_task_means_kill() {
    let mut s = State::default();
    for c in [
        Command::RegisterAgent(reg(1)),
        fw("f1", "web"),
        launch("f1", 1, &["t1", "t2"]),
        update("t1", None, TaskState::Lost),
    ] {
        s.apply(&Request {
            now_ms: 0,
            command: c,
        });
    }
    let t = |n: &str| TaskId(n.into());
    assert!(s.must_kill_reported(&t("t1"), &id(1), TaskState::Running));
    assert!(
        !s.must_kill_reported(&t("t1"), &id(1), TaskState::Killed),
        "an end report is fine"
    );
    assert!(
        !s.must_kill_reported(&t("t1"), &id(2), TaskState::Running),
        "not its machine"
    );
    assert!(
        !s.must_kill_reported(&t("t2"), &id(1), TaskState::Running),
        "t2 is live"
    );
    assert!(
        !s.must_kill_reported(&t("t9"), &id(1), TaskState::Running),
        "unknown task"
    );
}

fn app_spec(id: &str, cmd: &str, instances: u32) -> crate::app::AppSpec {
    crate::app::AppSpec {
        id: crate::app::AppId::parse(id).unwrap(),
        cmd: Some(cmd.into()),
        args: vec![],
        user: None,
        cpus: 0.1,
        mem_mb: 32.0,
        disk_mb: 0.0,
        instances,
        env: BTreeMap::new(),
        labels: BTreeMap::new(),
        constraints: vec![],
        port_definitions: vec![],
        require_ports: false,
        health_checks: vec![],
        readiness_checks: vec![],
        dependencies: vec![],
        upgrade_strategy: Default::default(),
        backoff_seconds: 1.0,
        backoff_factor: 1.15,
        max_launch_delay_seconds: 3600.0,
        kill_selection: Default::default(),
        fetch: vec![],
        task_kill_grace_period_seconds: None,
        accepted_resource_roles: vec![],
    }
}

fn put(id: &str, cmd: &str, n: u32, dep: &str, force: bool) -> Command {
    Command::PutApp {
        spec: Box::new(app_spec(id, cmd, n)),
        deployment: dep.into(),
        force,
    }
}

fn end(dep: &str) -> Command {
    Command::EndDeployment {
        id: dep.into(),
        outcome: "finished".into(),
    }
}

#[test]
fn apps_and_deployments() {
    let web = || crate::app::AppId::parse("/web").unwrap();
    check(
        &[],
        10,
        put("/web", "sleep 1", 2, "d1", false),
        r#"AppWritten { deployment: "d1", version_ms: 10, created: true } | [DeploymentStarted { id: "d1", apps: [AppId("/web")] }, AppChanged { id: AppId("/web"), removed: false }] | app /web v=10 cfg=10 scaled=10 n=2 versions=0;dep d1 Create v=10;"#,
    );
    // While d1 runs the app is locked; nothing changes.
    check(
        &[(10, put("/web", "sleep 1", 2, "d1", false))],
        20,
        put("/web", "sleep 1", 5, "d2", false),
        r#"Locked { deployments: ["d1"] } | [] | app /web v=10 cfg=10 scaled=10 n=2 versions=0;dep d1 Create v=10;"#,
    );
    // Forced: d1 is dropped; an instance count change is a scale.
    check(
        &[(10, put("/web", "sleep 1", 2, "d1", false))],
        20,
        put("/web", "sleep 1", 5, "d2", true),
        r#"AppWritten { deployment: "d2", version_ms: 20, created: false } | [DeploymentEnded { id: "d1", outcome: "replaced by a forced change" }, DeploymentStarted { id: "d2", apps: [AppId("/web")] }, AppChanged { id: AppId("/web"), removed: false }] | app /web v=20 cfg=10 scaled=20 n=5 versions=1;dep d2 Scale v=20;"#,
    );
    let done = [
        (10, put("/web", "sleep 1", 2, "d1", false)),
        (15, end("d1")),
    ];
    // A new command is a new configuration version; the same ms still
    // gives a later version.
    check(
        &done,
        10,
        put("/web", "sleep 2", 2, "d2", false),
        r#"AppWritten { deployment: "d2", version_ms: 11, created: false } | [DeploymentStarted { id: "d2", apps: [AppId("/web")] }, AppChanged { id: AppId("/web"), removed: false }] | app /web v=11 cfg=11 scaled=10 n=2 versions=1;dep d2 Upgrade v=11;"#,
    );
    check(
        &done,
        30,
        Command::RestartApp {
            id: web(),
            deployment: "d3".into(),
            force: false,
        },
        r#"AppWritten { deployment: "d3", version_ms: 30, created: false } | [DeploymentStarted { id: "d3", apps: [AppId("/web")] }, AppChanged { id: AppId("/web"), removed: false }] | app /web v=30 cfg=30 scaled=10 n=2 versions=1;dep d3 Restart v=30;"#,
    );
    check(
        &done,
        40,
        Command::DeleteApp {
            id: web(),
            deployment: "d4".into(),
            force: false,
        },
        r#"AppWritten { deployment: "d4", version_ms: 40, created: false } | [DeploymentStarted { id: "d4", apps: [AppId("/web")] }, AppChanged { id: AppId("/web"), removed: true }] | dep d4 Delete v=40;"#,
    );
    check(
        &[],
        40,
        Command::DeleteApp {
            id: web(),
            deployment: "d4".into(),
            force: false,
        },
        r#"Refused { reason: "App '/web' does not exist" } | [] | "#,
    );
    check(
        &done,
        40,
        put("/web", "sleep 1", 2, "d1", false),
        r#"AppWritten { deployment: "d1", version_ms: 40, created: false } | [DeploymentStarted { id: "d1", apps: [AppId("/web")] }, AppChanged { id: AppId("/web"), removed: false }] | app /web v=40 cfg=10 scaled=40 n=2 versions=1;dep d1 Scale v=40;"#,
    );
    check(
        &[],
        5,
        end("nope"),
        r#"Refused { reason: "no deployment nope in progress" } | [] | "#,
    );
}
