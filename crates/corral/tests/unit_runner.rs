//! The agent's unit runner (issue 5) on a real one-machine cluster: the
//! test plays the leader and PUTs desired unit sets to the agent's :5051
//! with the current epoch, then watches systemd's states, the journal and
//! marker files the units write: ExecStartPre with `-`, Environment=,
//! Restart= and the start limit, ExecStop/ExecStopPost, BindsTo= and
//! After= among units on the machine, the epoch fence, and units that
//! keep running (same pid) across a SIGKILLed and restarted agent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use corral_api::units::{UnitOption, UnitRun, UnitStatus, UnitTarget, UnitsDesired};
use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(20);

/// The cluster (its drop also kills every unit process the node left
/// behind: unit supervisors outlive the node by design).
struct Rig {
    c: Cluster,
}

impl Rig {
    fn units_dir(&self) -> PathBuf {
        self.c.machines[0].data_dir.join("agent").join("units")
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only probes for the process.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// A unit from unit-file text (`[Section]` and `Key=Value` lines).
fn unit(name: &str, target: UnitTarget, text: &str) -> UnitRun {
    let mut section = String::new();
    let mut options = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else {
            let (k, v) = line.split_once('=').expect("Key=Value");
            options.push(UnitOption {
                section: section.clone(),
                name: k.to_string(),
                value: v.to_string(),
            });
        }
    }
    UnitRun {
        name: name.to_string(),
        hash: format!("{:x}", text.len()),
        options,
        target,
    }
}

async fn put_units(
    c: &Cluster,
    epoch: u64,
    units: &BTreeMap<String, UnitRun>,
) -> (u16, serde_json::Value) {
    let body = UnitsDesired {
        epoch,
        units: units.values().cloned().collect(),
    };
    let r = c
        .http
        .put(c.agent_url(0, "/v1/agent/units"))
        .json(&body)
        .send()
        .await
        .expect("PUT /v1/agent/units");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn must_put(c: &Cluster, epoch: u64, units: &BTreeMap<String, UnitRun>) {
    let (status, body) = put_units(c, epoch, units).await;
    assert_eq!(status, 200, "PUT refused: {body}");
}

async fn statuses(c: &Cluster) -> Result<Vec<UnitStatus>, String> {
    let r = c
        .http
        .get(c.agent_url(0, "/v1/agent/units"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    r.json().await.map_err(|e| e.to_string())
}

async fn status(c: &Cluster, name: &str) -> Result<UnitStatus, String> {
    statuses(c)
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or(format!("no unit {name}"))
}

/// Waits until `name` is in `active/sub`; returns its status.
async fn must_state(c: &Cluster, name: &str, active: &str, sub: &str) -> UnitStatus {
    wait_for(&format!("{name} {active}/{sub}"), T, || async {
        let s = status(c, name).await?;
        if s.active_state == active && s.sub_state == sub {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await
}

async fn journal(c: &Cluster, name: &str, lines: usize) -> String {
    let url = c.agent_url(0, &format!("/v1/agent/units/{name}/journal?lines={lines}"));
    let r = c.http.get(&url).send().await.expect("GET journal");
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

async fn must_journal_line(c: &Cluster, name: &str, text: &str) {
    wait_for(&format!("{name}'s journal to say {text:?}"), T, || async {
        let j = journal(c, name, 100).await;
        if j.lines().any(|l| l.contains(text)) {
            Ok(())
        } else {
            Err(j)
        }
    })
    .await
}

/// Adds `u` to the desired set, or replaces the unit of that name.
fn add(want: &mut BTreeMap<String, UnitRun>, u: UnitRun) {
    want.insert(u.name.clone(), u);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_run_with_systemd_semantics_and_survive_an_agent_restart() {
    let mut rig = Rig {
        c: Cluster::start(
            Path::new(BIN),
            ClusterSpec {
                machines: 1,
                servers: 1,
                // This test is the leader: it PUTs the machine's unit set
                // itself, so the server's own unit engine stays off.
                extra_args: vec!["--disable-unit-engine".into()],
                ..Default::default()
            },
        ),
    };
    rig.c.must_leader(T).await;
    let epoch = rig.c.must_all_agents_registered(T).await.term;
    let files = rig.c.dir.path().to_path_buf();
    let mut want: BTreeMap<String, UnitRun> = BTreeMap::new();

    phase("a unit with an ignored failing ExecStartPre and Environment= runs");
    add(
        &mut want,
        unit(
            "hello.service",
            UnitTarget::Launched,
            r#"[Unit]
               Description=Says hello
               [Service]
               ExecStartPre=-/bin/false
               ExecStart=/bin/sh -c 'echo hello $FOO; exec sleep 600'
               Environment="FOO=bar baz"
               [X-Fleet]
               Global=true"#,
        ),
    );
    must_put(&rig.c, epoch, &want).await;
    let hello = must_state(&rig.c, "hello.service", "active", "running").await;
    let pid = hello.main_pid.expect("a running unit has a main pid");
    assert!(alive(pid));
    assert_eq!((hello.load_state.as_str(), hello.restarts), ("loaded", 0));
    must_journal_line(&rig.c, "hello.service", "hello bar baz").await;
    let j = journal(&rig.c, "hello.service", 100).await;
    assert!(
        j.contains("Control process exited, code=exited, status=1/FAILURE (ignoring)")
            && j.contains("Started Says hello (hello.service)."),
        "{j}"
    );
    let line = j.lines().find(|l| l.contains("hello bar baz")).unwrap();
    assert!(
        line.contains(&format!(" m1 sh[{pid}]: hello bar baz")),
        "journalctl's short format: {line}"
    );
    assert_eq!(journal(&rig.c, "hello.service", 1).await.lines().count(), 1);

    phase("Restart=on-failure restarts until the start limit; Restart=no fails");
    add(
        &mut want,
        unit(
            "flaky.service",
            UnitTarget::Launched,
            "[Service]
             ExecStart=/bin/sh -c 'exit 1'
             Restart=on-failure
             RestartSec=100ms",
        ),
    );
    add(
        &mut want,
        unit(
            "once.service",
            UnitTarget::Launched,
            "[Service]\nExecStart=/bin/sh -c 'exit 3'\nRestart=no",
        ),
    );
    must_put(&rig.c, epoch, &want).await;
    wait_for("flaky.service to restart twice", T, || async {
        let s = status(&rig.c, "flaky.service").await?;
        if s.restarts >= 2 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let flaky = must_state(&rig.c, "flaky.service", "failed", "failed").await;
    assert_eq!(
        (flaky.result.as_deref(), flaky.restarts),
        (Some("start-limit-hit"), 5),
        "5 starts in 10 s at most: {flaky:?}"
    );
    let once = must_state(&rig.c, "once.service", "failed", "failed").await;
    assert_eq!(
        (once.result.as_deref(), once.restarts),
        (Some("exit-code"), 0)
    );
    must_journal_line(
        &rig.c,
        "once.service",
        "Main process exited, code=exited, status=3",
    )
    .await;

    phase("stopping a unit runs ExecStop, signals it, runs ExecStopPost");
    let stop_marker = files.join("stop-ran");
    let post_marker = files.join("stop-post-ran");
    let stoppable = |target| {
        unit(
            "stoppable.service",
            target,
            &format!(
                "[Service]
                 ExecStart=/bin/sleep 600
                 ExecStop=/bin/sh -c 'echo $MAINPID > {}'
                 ExecStopPost=/bin/sh -c 'echo done > {}'",
                stop_marker.display(),
                post_marker.display()
            ),
        )
    };
    add(&mut want, stoppable(UnitTarget::Launched));
    must_put(&rig.c, epoch, &want).await;
    let running = must_state(&rig.c, "stoppable.service", "active", "running").await;
    let stoppable_pid = running.main_pid.unwrap();
    add(&mut want, stoppable(UnitTarget::Loaded));
    must_put(&rig.c, epoch, &want).await;
    let stopped = must_state(&rig.c, "stoppable.service", "inactive", "dead").await;
    assert_eq!(
        stopped.result.as_deref(),
        Some("success"),
        "SIGTERM is a clean end"
    );
    assert_eq!(
        std::fs::read_to_string(&stop_marker).unwrap().trim(),
        stoppable_pid.to_string(),
        "ExecStop ran, with $MAINPID"
    );
    assert_eq!(
        std::fs::read_to_string(&post_marker).unwrap().trim(),
        "done"
    );
    assert!(!alive(stoppable_pid), "the main process was stopped");

    phase("bad options are refused with the unit and key named; nothing changes");
    let mut bad = want.clone();
    add(
        &mut bad,
        unit(
            "bad.service",
            UnitTarget::Launched,
            "[Service]\nExecStart=/bin/true\nRestart=sometimes",
        ),
    );
    let (code, body) = put_units(&rig.c, epoch, &bad).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("bad.service")
            && body["field"].as_str().unwrap().ends_with("options.Restart"),
        "{body}"
    );
    assert!(status(&rig.c, "bad.service").await.is_err());

    phase("SIGKILL the node and start it again: units run on, nothing restarts");
    let supervisor_pid =
        std::fs::read_to_string(rig.units_dir().join("hello.service/supervisor.pid")).unwrap();
    rig.c.kill(0);
    assert!(alive(pid), "the unit died with its agent");
    rig.c.start_machine(0);
    rig.c.must_leader(T).await;
    let epoch = rig.c.must_all_agents_registered(T).await.term;
    let hello = must_state(&rig.c, "hello.service", "active", "running").await;
    assert_eq!(
        (hello.main_pid, hello.restarts),
        (Some(pid), 0),
        "{hello:?}"
    );
    assert!(alive(pid));
    assert_eq!(
        std::fs::read_to_string(rig.units_dir().join("hello.service/supervisor.pid")).unwrap(),
        supervisor_pid,
        "the same supervisor"
    );
    let stopped_still = status(&rig.c, "stoppable.service").await.unwrap();
    assert_eq!(
        stopped_still.active_state, "inactive",
        "a stopped unit stays stopped"
    );

    phase("After= orders starts among this machine's units");
    let order = files.join("order");
    let ordered = |name: &str, after: Option<&str>, sleep: &str| {
        unit(
            name,
            UnitTarget::Launched,
            &format!(
                "[Unit]
                 {}
                 [Service]
                 ExecStartPre=/bin/sh -c 'sleep {sleep}; echo \"{name} $(date +%%s%%N)\" >> {}'
                 ExecStart=/bin/sleep 600",
                after.map(|a| format!("After={a}")).unwrap_or_default(),
                order.display()
            ),
        )
    };
    // The second one's ExecStartPre is quick, so without After= it would
    // write first.
    add(
        &mut want,
        ordered("second.service", Some("first.service"), "0"),
    );
    add(&mut want, ordered("first.service", None, "0.5"));
    must_put(&rig.c, epoch, &want).await;
    must_state(&rig.c, "second.service", "active", "running").await;
    let text = std::fs::read_to_string(&order).unwrap();
    let stamps: Vec<(&str, u128)> = text
        .lines()
        .map(|l| {
            let (n, t) = l.split_once(' ').unwrap();
            (n, t.parse().unwrap())
        })
        .collect();
    assert_eq!(
        stamps.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["first.service", "second.service"],
        "{text}"
    );
    assert!(stamps[0].1 < stamps[1].1, "{text}");

    phase("BindsTo=: stopping a unit stops the units bound to it");
    add(
        &mut want,
        unit(
            "base.service",
            UnitTarget::Launched,
            "[Service]\nExecStart=/bin/sleep 600",
        ),
    );
    add(
        &mut want,
        unit(
            "bound.service",
            UnitTarget::Launched,
            "[Unit]\nBindsTo=base.service\nAfter=base.service\n[Service]\nExecStart=/bin/sleep 600",
        ),
    );
    must_put(&rig.c, epoch, &want).await;
    let bound = must_state(&rig.c, "bound.service", "active", "running").await;
    must_state(&rig.c, "base.service", "active", "running").await;
    add(
        &mut want,
        unit(
            "base.service",
            UnitTarget::Loaded,
            "[Service]\nExecStart=/bin/sleep 600",
        ),
    );
    must_put(&rig.c, epoch, &want).await;
    must_state(&rig.c, "base.service", "inactive", "dead").await;
    must_state(&rig.c, "bound.service", "inactive", "dead").await;
    assert!(!alive(bound.main_pid.unwrap()));

    phase("the journal can be followed");
    add(
        &mut want,
        unit(
            "ticker.service",
            UnitTarget::Launched,
            "[Service]\nExecStart=/bin/sh -c 'while true; do echo tick; sleep 0.2; done'",
        ),
    );
    must_put(&rig.c, epoch, &want).await;
    must_journal_line(&rig.c, "ticker.service", "tick").await;
    let mut r = rig
        .c
        .http
        .get(rig.c.agent_url(
            0,
            "/v1/agent/units/ticker.service/journal?lines=1&follow=true",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut seen = String::new();
    while seen.matches("tick").count() < 3 {
        let chunk = tokio::time::timeout(T, r.chunk())
            .await
            .expect("new journal lines within the deadline")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(r);
    let r = rig
        .c
        .http
        .get(rig.c.agent_url(0, "/v1/agent/units/nope.service/journal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    phase("removing a unit from the set stops it and deletes its directory");
    let ticker = status(&rig.c, "ticker.service").await.unwrap();
    want.remove("ticker.service");
    must_put(&rig.c, epoch, &want).await;
    wait_for("ticker.service to be gone", T, || async {
        match status(&rig.c, "ticker.service").await {
            Err(_) => Ok(()),
            Ok(s) => Err(format!("{s:?}")),
        }
    })
    .await;
    assert!(!rig.units_dir().join("ticker.service").exists());
    assert!(!alive(ticker.main_pid.unwrap()));

    phase("a set from an older epoch is refused with 409 and changes nothing");
    let (code, body) = put_units(&rig.c, epoch - 1, &BTreeMap::new()).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (409, Some("stale_epoch")),
        "{body}"
    );
    let hello = status(&rig.c, "hello.service").await.unwrap();
    assert_eq!(
        (hello.active_state.as_str(), hello.main_pid),
        ("active", Some(pid))
    );
}
