//! Fleet units end to end on real multi-machine clusters (issue 5): units
//! go in through the master's `/v1/units`, the leader's engine places them
//! and the machines' runners run real processes; the tests read placements
//! and states from `/v1/units`, registrations from the kv, journals from
//! the agents.
//!
//! - the example layout (`examples/units/`, rendered by its provision.sh):
//!   three `web@N` instances (`Conflicts=web@*.service`) on three distinct
//!   machines, serving their pages; each `web-register@N` sidekick on its
//!   instance's machine, keeping `/services/web/N` in the kv with a TTL;
//!   stopping `web@1` stops its sidekick (`BindsTo=`) and its key goes;
//!   after a power cut on `web@2`'s machine its key expires after the TTL
//!   and `web@2` has nowhere to go (`Conflicts=`);
//! - a `Global=true` unit runs on every machine, and on a 4th that joins;
//! - `MachineMetadata=` pins units (same key: OR; different keys: AND,
//!   with the engine's reason when no machine fits);
//! - machine loss: a unit and its `MachineOf=` sidekick move to another
//!   machine that fits after the machine TTL, and when the lost machine
//!   comes back its old copies stop: nothing runs twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use corral_api::client::{ClientError, Method};
use corral_api::native::KvNode;
use corral_api::unit_view::{UnitPut, UnitRow};
use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);
/// The sidekicks' key TTL in examples/units/web-register@.service.
const REGISTER_TTL: Duration = Duration::from_secs(10);

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/units")
}

/// A cluster (its drop also kills every unit process the machines left
/// behind), and on drop the example web units' page directories.
struct Rig {
    c: Cluster,
}

impl Rig {
    fn start(spec: ClusterSpec, first: usize) -> Rig {
        Rig {
            c: Cluster::start_first(Path::new(BIN), spec, first),
        }
    }
}

impl Rig {
    /// A power cut on machine `i`: its node and every unit process it ran
    /// are SIGKILLed, so no ExecStop* runs.
    fn cut_power(&mut self, i: usize) {
        self.c.kill(i);
        corral_testkit::kill_units(&self.c.machines[i].data_dir);
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Cluster's own drop kills the nodes and every unit process.
        // web@N's page directories (ExecStopPost removes them on a clean stop).
        for m in &self.c.machines {
            let Ok(id) = std::fs::read_to_string(m.data_dir.join("agent").join("machine-id"))
            else {
                continue;
            };
            let prefix = format!("corral-web-{}-", id.trim());
            if let Ok(entries) = std::fs::read_dir("/tmp") {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
    }
}

/// True while `pid` is a live process (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Each running machine's id and name (`m1`, the unit specifier `%H`).
async fn machines(c: &Cluster) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (i, m) in c.machines.iter().enumerate() {
        if !m.is_running() {
            continue;
        }
        let st = wait_for(&format!("{}'s agent state", m.name), T, || c.agent_state(i)).await;
        out.insert(st.id, m.name.clone());
    }
    out
}

/// The examples' units as provision.sh sends them: rendered by
/// `provision.sh --render` with this cluster's servers, the corral binary
/// under test and `port_base` for the web instances.
fn render(c: &Cluster, port_base: u16) -> PathBuf {
    let out = c.dir.path().join("units");
    let o = Command::new("bash")
        .arg(examples().join("provision.sh"))
        .arg("--render")
        .arg(&out)
        .env("CORRAL", BIN)
        .env("CORRAL_ENDPOINT", c.server_endpoints().join(","))
        .env("WEB_PORT_BASE", port_base.to_string())
        .output()
        .expect("run bash provision.sh --render");
    assert!(
        o.status.success(),
        "provision.sh --render failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn unit_text(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
    assert!(
        !text.contains("/usr/local/bin/corral") && !text.contains("127.0.0.101:5050"),
        "provision.sh substituted the binary and the servers in {name}:\n{text}"
    );
    text
}

/// A base port with `base+1..=base+n` free on every address.
fn free_port_base(n: u16) -> u16 {
    let start = 20_000 + (std::process::id() % 3_000) as u16 * 10;
    (0..3_000u16)
        .map(|k| 20_000 + (start - 20_000 + k * 10) % 30_000)
        .find(|base| (1..=n).all(|i| std::net::TcpListener::bind(("0.0.0.0", base + i)).is_ok()))
        .expect("a free port range")
}

fn client(c: &Cluster) -> corral_api::Client {
    c.client().retrying(Duration::from_secs(5))
}

/// PUT `/v1/units/{name}` (the file, if given, and the desired state).
async fn put_unit(c: &Cluster, name: &str, text: Option<&str>, desired: &str) -> UnitRow {
    let body = UnitPut {
        text: text.map(str::to_string),
        desired: Some(desired.to_string()),
    };
    client(c)
        .call(Method::PUT, &format!("/v1/units/{name}"), Some(&body))
        .await
        .unwrap_or_else(|e| panic!("PUT /v1/units/{name} ({desired}): {e}"))
}

async fn unit(c: &Cluster, name: &str) -> Result<UnitRow, String> {
    client(c)
        .get(&format!("/v1/units/{name}"))
        .await
        .map_err(|e| e.to_string())
}

/// A key's value on the leader (linearizable), `None` when it is absent.
async fn kv(c: &Cluster, key: &str) -> Result<Option<KvNode>, String> {
    match client(c).get::<KvNode>(&format!("/v1/kv{key}")).await {
        Ok(n) => Ok(Some(n)),
        Err(ClientError::Rejected { status: 404, .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Waits until `key` holds `want`.
async fn must_kv(c: &Cluster, key: &str, want: &str) -> KvNode {
    wait_for(&format!("{key} = {want}"), T, || async {
        match kv(c, key).await? {
            Some(n) if n.value == want => Ok(n),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// A unit's placement and every machine's report, in one line.
fn show(row: &UnitRow, names: &BTreeMap<String, String>) -> String {
    let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let states: Vec<String> = row
        .states
        .iter()
        .map(|s| {
            format!(
                "{}:{}/{}/{} pid {:?}",
                name(&s.machine),
                s.load,
                s.active,
                s.sub,
                s.main_pid
            )
        })
        .collect();
    format!(
        "{} desired {} current {} on {:?} why {:?} states [{}]",
        row.name,
        row.desired,
        row.current,
        row.machine.as_deref().map(name),
        row.why,
        states.join(", ")
    )
}

/// [`show`], plus the journal tail of each machine where the unit failed
/// or could not load, for failure messages.
async fn show_why(c: &Cluster, row: &UnitRow, names: &BTreeMap<String, String>) -> String {
    let mut out = show(row, names);
    for s in &row.states {
        if s.load != "loaded" || s.active == "failed" {
            // A load error is in the unit's status file, not in its journal.
            let error = c
                .machines
                .iter()
                .find(|m| names.get(&s.machine) == Some(&m.name))
                .and_then(|m| {
                    let path = m
                        .data_dir
                        .join("agent/units")
                        .join(&row.name)
                        .join("status.json");
                    std::fs::read(path).ok()
                })
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .map(|v| v["error"].clone())
                .unwrap_or_default();
            out.push_str(&format!("\n  status error: {error}"));
            let j = journal(c, &s.agent, &row.name).await.unwrap_or_else(|e| e);
            let tail: Vec<&str> = j.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            out.push_str(&format!(
                "\n  journal on {}: {}",
                names.get(&s.machine).unwrap_or(&s.machine),
                tail.join("\n    ")
            ));
        }
    }
    out
}

/// Waits until `name` is active/running on its placed machine and no other
/// machine reports it up; returns that machine's id and the main pid.
async fn must_run_once(c: &Cluster, names: &BTreeMap<String, String>, name: &str) -> (String, u32) {
    wait_for(
        &format!("{name} running on exactly one machine, the one it is placed on"),
        T,
        || async {
            let row = unit(c, name).await?;
            let up: Vec<_> = row
                .states
                .iter()
                .filter(|s| s.active != "inactive" && s.active != "failed")
                .collect();
            match (up.as_slice(), &row.machine) {
                ([s], Some(m)) if &s.machine == m && s.active == "active" && s.sub == "running" => {
                    let pid = s.main_pid.ok_or("a running unit without a main pid")?;
                    Ok((m.clone(), pid))
                }
                _ => Err(show_why(c, &row, names).await),
            }
        },
    )
    .await
}

/// Waits until `name` reports inactive (stopped, not failed) on `machine`;
/// returns the row.
async fn must_stop_on(
    c: &Cluster,
    names: &BTreeMap<String, String>,
    name: &str,
    machine: &str,
) -> UnitRow {
    wait_for(
        &format!("{name} inactive on {}", names[machine]),
        T,
        || async {
            let row = unit(c, name).await?;
            match row.states.iter().find(|s| s.machine == machine) {
                Some(s) if s.active == "inactive" => Ok(row),
                _ => Err(show(&row, names)),
            }
        },
    )
    .await
}

/// Waits until `pid` has ended.
async fn must_end(what: &str, pid: u32) {
    wait_for(&format!("{what} (pid {pid}) to end"), T, || async {
        if alive(pid) {
            Err("still alive".to_string())
        } else {
            Ok(())
        }
    })
    .await
}

/// Waits until the global unit `name` runs on exactly the machines `on`;
/// returns each machine's main pid.
async fn must_run_on_each(
    c: &Cluster,
    names: &BTreeMap<String, String>,
    name: &str,
    on: &BTreeSet<String>,
) -> BTreeMap<String, u32> {
    let want: Vec<&String> = on.iter().map(|id| &names[id]).collect();
    wait_for(&format!("{name} running on {want:?}"), T, || async {
        let row = unit(c, name).await?;
        let running: BTreeMap<String, u32> = row
            .states
            .iter()
            .filter(|s| s.active == "active" && s.sub == "running")
            .filter_map(|s| s.main_pid.map(|p| (s.machine.clone(), p)))
            .collect();
        let machines: BTreeSet<String> = running.keys().cloned().collect();
        if row.global && row.machine.is_none() && &machines == on && row.states.len() == on.len() {
            Ok(running)
        } else {
            Err(show_why(c, &row, names).await)
        }
    })
    .await
}

/// An agent's journal of `unit` (last `lines`).
async fn journal(c: &Cluster, agent: &str, unit: &str) -> Result<String, String> {
    let r = c
        .http
        .get(format!(
            "http://{agent}/v1/agent/units/{unit}/journal?lines=200"
        ))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("HTTP {}", r.status()));
    }
    r.text().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_example_layout_spreads_web_instances_and_their_sidekicks_register_them() {
    let mut rig = Rig::start(ClusterSpec::default(), 3);
    let c = &rig.c;
    c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let names = machines(c).await;
    let base = free_port_base(3);
    let dir = render(c, base);

    phase("submit the templates of examples/units; start web@1..3 and their sidekicks");
    for t in ["web@.service", "web-register@.service"] {
        let row = put_unit(c, t, Some(&unit_text(&dir, t)), "inactive").await;
        assert_eq!(row.desired, "inactive", "{}", show(&row, &names));
    }
    for i in 1..=3 {
        put_unit(c, &format!("web@{i}.service"), None, "launched").await;
        put_unit(c, &format!("web-register@{i}.service"), None, "launched").await;
    }

    phase(
        "Conflicts=web@*: three distinct machines; MachineOf=: each sidekick beside its instance",
    );
    let mut web: BTreeMap<u16, (String, u32, u32)> = BTreeMap::new();
    for i in 1..=3u16 {
        let (m, pid) = must_run_once(c, &names, &format!("web@{i}.service")).await;
        let (sm, spid) = must_run_once(c, &names, &format!("web-register@{i}.service")).await;
        assert_eq!(
            names[&sm], names[&m],
            "web-register@{i} runs beside web@{i}"
        );
        web.insert(i, (m, pid, spid));
    }
    let hosts: BTreeSet<&String> = web.values().map(|(m, _, _)| m).collect();
    assert_eq!(hosts.len(), 3, "three distinct machines: {web:?}");

    phase(
        "each sidekick keeps /services/web/N = HOST:PORT with a TTL; each instance serves its page",
    );
    for (i, (m, _, _)) in &web {
        let host = &names[m];
        let port = base + i;
        let node = must_kv(c, &format!("/services/web/{i}"), &format!("{host}:{port}")).await;
        assert!(node.expires_at_ms.is_some(), "the key has a TTL: {node:?}");
        let page = format!("web@{i} on {host}");
        wait_for(&format!("web@{i}'s page on port {port}"), T, || async {
            let r = c
                .http
                .get(format!("http://127.0.0.1:{port}/"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let body = r.text().await.map_err(|e| e.to_string())?;
            if body.contains(&page) {
                Ok(())
            } else {
                Err(body)
            }
        })
        .await;
    }

    phase("stop web@1 (desired loaded): its sidekick stops with it (BindsTo=)");
    let (m1, web1_pid, reg1_pid) = web[&1].clone();
    put_unit(c, "web@1.service", None, "loaded").await;
    must_stop_on(c, &names, "web@1.service", &m1).await;
    let reg = must_stop_on(c, &names, "web-register@1.service", &m1).await;
    assert_eq!(reg.desired, "launched", "only its BindsTo= holds it back");
    must_end("web@1's server", web1_pid).await;
    must_end("web-register@1's loop", reg1_pid).await;

    phase("its key is gone within the TTL; the other instances stay registered");
    wait_for("/services/web/1 to go", REGISTER_TTL + T, || async {
        match kv(c, "/services/web/1").await? {
            None => Ok(()),
            Some(n) => Err(format!("{n:?}")),
        }
    })
    .await;
    for i in [2u16, 3] {
        let (m, pid, spid) = &web[&i];
        must_kv(
            c,
            &format!("/services/web/{i}"),
            &format!("{}:{}", names[m], base + i),
        )
        .await;
        assert!(
            alive(*pid) && alive(*spid),
            "web@{i} and its sidekick run on"
        );
    }
    let r = c
        .http
        .get(format!("http://127.0.0.1:{}/", base + 1))
        .send()
        .await;
    assert!(r.is_err(), "web@1's port no longer answers: {r:?}");

    let (m2, _, _) = web[&2].clone();
    phase(&format!(
        "cut {}'s power (web@2's machine): nobody removes /services/web/2, it expires after the TTL",
        names[&m2]
    ));
    let lost = c
        .machines
        .iter()
        .position(|m| m.name == names[&m2])
        .expect("web@2's machine");
    rig.cut_power(lost);
    let c = &rig.c;
    let node = kv(c, "/services/web/2")
        .await
        .unwrap()
        .expect("the key outlives its sidekick until the TTL");
    assert!(node.expires_at_ms.is_some(), "{node:?}");
    wait_for("/services/web/2 to expire", REGISTER_TTL + T, || async {
        match kv(c, "/services/web/2").await? {
            None => Ok(()),
            Some(n) => Err(format!("{n:?}")),
        }
    })
    .await;

    phase("web@2 has nowhere to go: the other machines hold web@1 and web@3 (Conflicts=)");
    let row = wait_for("web@2's reason", T, || async {
        let row = unit(c, "web@2.service").await?;
        match &row.why {
            Some(w) if row.machine.is_none() && w.contains("Conflicts") => Ok(row),
            _ => Err(show(&row, &names)),
        }
    })
    .await;
    assert_eq!(row.desired, "launched", "{}", show(&row, &names));
    let (m3, _, _) = &web[&3];
    must_kv(c, "/services/web/3", &format!("{}:{}", names[m3], base + 3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_global_unit_runs_on_every_machine_and_on_one_that_joins_later() {
    let spec = ClusterSpec {
        machines: 4,
        servers: 3,
        ..Default::default()
    };
    let mut rig = Rig::start(spec, 3);
    rig.c.must_leader(T).await;
    rig.c.must_all_agents_registered(T).await;
    let names = machines(&rig.c).await;
    let dir = render(&rig.c, 8000);

    phase("start presence.service (Global=true) on 3 machines");
    let c = &rig.c;
    let row = put_unit(
        c,
        "presence.service",
        Some(&unit_text(&dir, "presence.service")),
        "launched",
    )
    .await;
    assert!(row.global, "{}", show(&row, &names));
    let three: BTreeSet<String> = names.keys().cloned().collect();
    let before = must_run_on_each(c, &names, "presence.service", &three).await;
    for (id, name) in &names {
        must_kv(c, &format!("/presence/{name}"), id).await;
    }

    phase("a 4th machine joins: the global unit starts there too; the others keep running");
    rig.c.start_machine(3);
    rig.c.must_all_agents_registered(T).await;
    let c = &rig.c;
    let names = machines(c).await;
    assert_eq!(names.len(), 4);
    let (m4, _) = names
        .iter()
        .find(|(_, n)| *n == "m4")
        .expect("m4 registered");
    let four: BTreeSet<String> = names.keys().cloned().collect();
    let after = must_run_on_each(c, &names, "presence.service", &four).await;
    must_kv(c, "/presence/m4", m4).await;
    for (id, pid) in &before {
        assert_eq!(
            after.get(id),
            Some(pid),
            "presence.service on {} was not restarted",
            names[id]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_machine_metadata_pins_units_to_the_machines_that_have_it() {
    // m1..m3 are servers (role=server), m4 a worker; each has index=N.
    let spec = ClusterSpec {
        machines: 4,
        servers: 3,
        ..Default::default()
    };
    let rig = Rig::start(spec, 4);
    let c = &rig.c;
    c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let names = machines(c).await;
    let dir = render(c, 8000);

    phase("registry-watch.service (MachineMetadata=role=server) lands on a server");
    put_unit(
        c,
        "registry-watch.service",
        Some(&unit_text(&dir, "registry-watch.service")),
        "launched",
    )
    .await;
    let (watch_on, _) = must_run_once(c, &names, "registry-watch.service").await;
    assert_ne!(names[&watch_on], "m4", "m4 is a worker");

    phase("index=4 pins a unit to m4; index=1 or index=3 (one key twice: OR) to m1 or m3");
    let sleeper =
        |rules: &str| format!("[Service]\nExecStart=/bin/sleep 600\n\n[X-Fleet]\n{rules}\n");
    put_unit(
        c,
        "pinned.service",
        Some(&sleeper("MachineMetadata=index=4")),
        "launched",
    )
    .await;
    put_unit(
        c,
        "either.service",
        Some(&sleeper("MachineMetadata=index=1\nMachineMetadata=index=3")),
        "launched",
    )
    .await;
    let (pinned_on, _) = must_run_once(c, &names, "pinned.service").await;
    assert_eq!(names[&pinned_on], "m4");
    let (either_on, _) = must_run_once(c, &names, "either.service").await;
    assert!(
        ["m1", "m3"].contains(&names[&either_on].as_str()),
        "either.service on {}",
        names[&either_on]
    );

    phase("role=worker and index=2 (two keys: AND) fit no machine; the reason says so");
    put_unit(
        c,
        "nowhere.service",
        Some(&sleeper(
            "MachineMetadata=role=worker\nMachineMetadata=index=2",
        )),
        "launched",
    )
    .await;
    let row = wait_for("nowhere.service's reason", T, || async {
        let row = unit(c, "nowhere.service").await?;
        match &row.why {
            Some(w) if w.contains("MachineMetadata") => Ok(row),
            _ => Err(show(&row, &names)),
        }
    })
    .await;
    assert!(
        row.machine.is_none() && row.states.is_empty(),
        "{}",
        show(&row, &names)
    );

    phase("registry-watch prints registry changes in its journal");
    let agent = unit(c, "registry-watch.service")
        .await
        .unwrap()
        .states
        .into_iter()
        .find(|s| s.machine == watch_on)
        .expect("registry-watch's state")
        .agent;
    let mut tries = 0u32;
    wait_for("/services/web/42 in registry-watch's journal", T, || {
        tries += 1;
        // Written again every second: the watch may not be connected yet.
        let write = tries % 20 == 1;
        let agent = agent.clone();
        async move {
            if write {
                c.must_put("/services/web/42", &format!("m9:{tries}")).await;
            }
            let j = journal(c, &agent, "registry-watch.service").await?;
            if j.contains("/services/web/42") {
                Ok(())
            } else {
                Err(j)
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_lost_machine_units_move_with_their_sidekick_and_never_run_twice() {
    // m1..m3 are servers, m4 and m5 workers; the units want a worker.
    let spec = ClusterSpec {
        machines: 5,
        servers: 3,
        heartbeat_ms: 200,
        max_missed_heartbeats: 5,
        ..Default::default()
    };
    let mut rig = Rig::start(spec, 5);
    rig.c.must_leader(T).await;
    rig.c.must_all_agents_registered(T).await;
    let names = machines(&rig.c).await;
    let index_of = |id: &str| -> usize {
        names[id]
            .trim_start_matches('m')
            .parse::<usize>()
            .expect("mN")
            - 1
    };

    phase("start app.service (role=worker) and its sidekick (MachineOf=, BindsTo=)");
    let c = &rig.c;
    put_unit(
        c,
        "app.service",
        Some(
            "[Unit]\nDescription=An app\n\n[Service]\n\
             ExecStart=/bin/sh -c 'echo app on %H; exec sleep 600'\n\n\
             [X-Fleet]\nMachineMetadata=role=worker\n",
        ),
        "launched",
    )
    .await;
    put_unit(
        c,
        "app-sidekick.service",
        Some(
            "[Unit]\nBindsTo=app.service\nAfter=app.service\n\n\
             [Service]\nExecStart=/bin/sleep 600\n\n\
             [X-Fleet]\nMachineOf=app.service\n",
        ),
        "launched",
    )
    .await;
    let (lost, app_pid) = must_run_once(c, &names, "app.service").await;
    let (side_on, side_pid) = must_run_once(c, &names, "app-sidekick.service").await;
    assert_eq!(side_on, lost, "the sidekick runs beside app");
    let w = index_of(&lost);
    assert!(w >= 3, "app is on a worker, not {}", names[&lost]);
    let other = 7 - w; // the other worker: 3 <-> 4

    phase(&format!(
        "kill {}'s node and keep it down: after the machine TTL both move to m{}",
        names[&lost],
        other + 1
    ));
    rig.c.kill(w);
    let c = &rig.c;
    let mut moved = BTreeMap::new();
    for u in ["app.service", "app-sidekick.service"] {
        let pid = wait_for(
            &format!("{u} placed on and running on m{}", other + 1),
            T,
            || async {
                let row = unit(c, u).await?;
                let on_other = row.machine.as_deref().map(index_of) == Some(other);
                let s = row.states.iter().find(|s| index_of(&s.machine) == other);
                match s {
                    Some(s) if on_other && s.active == "active" && s.sub == "running" => {
                        s.main_pid.ok_or_else(|| show(&row, &names))
                    }
                    _ => Err(show(&row, &names)),
                }
            },
        )
        .await;
        moved.insert(u, pid);
    }
    // Only the node died: the lost machine's copies run on, cut off, as on
    // a machine behind a partition.
    assert!(alive(app_pid) && alive(side_pid));

    phase(&format!(
        "{} comes back: its old copies stop; each unit runs once, on m{}",
        names[&lost],
        other + 1
    ));
    rig.c.start_machine(w);
    rig.c.must_all_agents_registered(T).await;
    let c = &rig.c;
    must_end("app on the returning machine", app_pid).await;
    must_end("the sidekick on the returning machine", side_pid).await;
    for u in ["app.service", "app-sidekick.service"] {
        wait_for(
            &format!("{}'s report of {u} to go (or say inactive)", names[&lost]),
            T,
            || async {
                let row = unit(c, u).await?;
                match row.states.iter().find(|s| s.machine == lost) {
                    Some(s) if s.active != "inactive" => Err(show(&row, &names)),
                    _ => Ok(()),
                }
            },
        )
        .await;
        let (on, pid) = must_run_once(c, &names, u).await;
        assert_eq!(
            (index_of(&on), pid),
            (other, moved[u]),
            "{u} stays where it moved, not restarted"
        );
    }
}
