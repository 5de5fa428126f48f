//! fleetctl-style unit commands (issue 5) through the real binary against a
//! 3-machine cluster, the endpoint in CORRAL_ENDPOINT (a follower first:
//! the unit API is leader-only, the client follows its 307):
//! `start` of an instance submits its template from the current directory;
//! three instances of a template with `Conflicts=web@*.service` land on
//! three machines (list-units: 3 rows, distinct machines, active running);
//! a fourth fails fast naming Conflicts; list-unit-files --json; cat;
//! journal --lines 5 shows what the unit printed; status says active
//! (running); stop; destroy ends the units' processes; a bad unit file is
//! exit 2 naming its line; bad arguments are exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use corral_testkit::cli::{err, must_exit, must_succeed, out};
use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

/// What every instance prints first, to find in its journal.
const MARKER: &str = "unit-cli-marker";

const TEMPLATE: &str = "\
[Unit]
Description=Test web %i

[Service]
ExecStart=/bin/sh -c \"echo unit-cli-marker %i; exec sleep 120\"

[X-Fleet]
Conflicts=web@*.service
";

/// Runs `corral ARGS` in `dir` against `endpoint`.
fn corral_in(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("FLEETCTL_ENDPOINT")
        .env("CORRAL_ENDPOINT", endpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run corral")
}

/// `list-units --no-legend` as rows of words.
fn unit_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// The main pids in a `list-units --json` answer.
fn main_pids(json: &[u8]) -> Vec<i32> {
    let rows: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    let mut pids = Vec::new();
    for unit in rows.as_array().into_iter().flatten() {
        for s in unit["states"].as_array().into_iter().flatten() {
            if let Some(pid) = s["main_pid"].as_i64().filter(|p| *p > 1) {
                pids.push(pid as i32);
            }
        }
    }
    pids
}

/// True while `pid` is a live process (a zombie counts as gone).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Kills what the units ran when the test ends, passed or not: unit
/// processes live in sessions of their own, like tasks, and outlive the
/// nodes. Dropped before the cluster (declared after it), while the
/// servers still answer.
struct UnitReaper {
    dir: PathBuf,
    endpoint: String,
    seen: std::sync::Mutex<Vec<i32>>,
}

impl UnitReaper {
    /// Remembers the units' main pids as the cluster reports them now.
    fn remember(&self) -> Vec<i32> {
        let o = corral_in(&self.dir, &self.endpoint, &["list-units", "--json"]);
        let pids = main_pids(&o.stdout);
        self.seen.lock().unwrap().extend(&pids);
        pids
    }
}

impl Drop for UnitReaper {
    fn drop(&mut self) {
        self.remember();
        for pid in self.seen.lock().unwrap().iter().copied() {
            // SAFETY: kill(2) on pids this test's units reported.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_commands_drive_the_unit_api() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let ep = format!(
        "{},{}",
        c.machines[follower].api_addr(),
        c.machines[leader].api_addr()
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let reaper = UnitReaper {
        dir: d.clone(),
        endpoint: ep.clone(),
        seen: Default::default(),
    };
    let corral = |args: &[&str]| corral_in(&d, &ep, args);
    std::fs::write(d.join("web@.service"), TEMPLATE).unwrap();

    phase("start web@1.service: its template comes from the current directory");
    let o = must_succeed(corral(&["start", "web@1.service"]), "start web@1");
    assert!(o.starts_with("Unit web@1.service launched on "), "{o}");

    phase("submit the same template again, start two more instances");
    must_succeed(corral(&["submit", "web@.service"]), "submit web@.service");
    let o = must_succeed(
        corral(&["start", "web@2.service", "./web@3.service"]),
        "start web@2 web@3",
    );
    for i in [2, 3] {
        assert!(
            o.contains(&format!("Unit web@{i}.service launched on ")),
            "{o}"
        );
    }

    phase("list-units: three rows on three machines, active running");
    let o = must_succeed(corral(&["list-units"]), "list-units");
    assert_eq!(
        o.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["UNIT", "MACHINE", "ACTIVE", "SUB"],
        "{o}"
    );
    let rows = unit_rows(&must_succeed(
        corral(&["list-units", "--no-legend"]),
        "list-units --no-legend",
    ));
    assert_eq!(rows.len(), 3, "{rows:?}");
    let mut machines: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    machines.sort();
    machines.dedup();
    assert_eq!(machines.len(), 3, "three distinct machines: {rows:?}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], format!("web@{}.service", i + 1), "{rows:?}");
        assert!(r[1].contains(".../127."), "MACHINE is id.../ip: {rows:?}");
        assert_eq!(&r[2..], ["active", "running"], "{rows:?}");
    }
    let pids = reaper.remember();
    assert_eq!(
        pids.len(),
        3,
        "each instance reports its main pid: {pids:?}"
    );
    let o = must_succeed(
        corral(&[
            "list-units",
            "--no-legend",
            "--fields",
            "unit,hash",
            "--full",
        ]),
        "list-units --fields unit,hash --full",
    );
    assert!(
        unit_rows(&o)
            .iter()
            .all(|r| r.len() == 2 && r[1].len() == 40),
        "{o}"
    );

    phase("start a 4th instance: no machine is left, exit 1 naming Conflicts");
    let began = Instant::now();
    let o = corral(&["start", "web@4.service"]);
    let took = began.elapsed();
    must_exit(&o, 1, "start web@4");
    assert!(
        err(&o).contains("cannot be placed") && err(&o).contains("Conflicts"),
        "{}",
        err(&o)
    );
    assert!(
        took < T,
        "the 4th instance failed after {took:?}, not fast (the default timeout is 60 s)"
    );

    phase("list-unit-files --json");
    let o = must_succeed(
        corral(&["list-unit-files", "--json"]),
        "list-unit-files --json",
    );
    let files: Value = serde_json::from_str(&o).expect("list-unit-files --json is JSON");
    let unit = |name: &str| -> Value {
        files
            .as_array()
            .and_then(|a| a.iter().find(|u| u["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {files}"))
    };
    assert_eq!(unit("web@.service")["desired"], "inactive", "{files}");
    for i in 1..=3 {
        let u = unit(&format!("web@{i}.service"));
        assert_eq!(u["desired"], "launched", "{u}");
        assert_eq!(u["current"], "launched", "{u}");
        assert_eq!(u["hash"].as_str().map(str::len), Some(40), "{u}");
    }
    let four = unit("web@4.service");
    assert_eq!(four["desired"], "launched", "{four}");
    assert!(four["machine"].is_null(), "{four}");
    assert!(
        four["why"]
            .as_str()
            .is_some_and(|w| w.contains("Conflicts")),
        "{four}"
    );
    let o = must_succeed(corral(&["list-unit-files"]), "list-unit-files");
    assert_eq!(
        o.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["UNIT", "HASH", "DSTATE", "STATE", "TARGET"],
        "{o}"
    );

    phase("cat the template");
    let o = must_succeed(corral(&["cat", "web@.service"]), "cat web@.service");
    assert!(o.contains("ExecStart="), "{o}");
    assert!(o.contains("Conflicts=web@*.service"), "{o}");

    phase("journal --lines 5 shows what web@1 printed");
    wait_for("web@1's marker in its journal", T, || {
        let o = corral(&["journal", "--lines", "5", "web@1.service"]);
        async move {
            (o.status.success() && out(&o).contains(MARKER))
                .then_some(())
                .ok_or_else(|| format!("{}{}", out(&o), err(&o)))
        }
    })
    .await;

    phase("status web@1.service: active (running)");
    let o = must_succeed(corral(&["status", "web@1.service"]), "status web@1");
    assert!(o.starts_with("● web@1.service - Test web 1\n"), "{o}");
    assert!(o.contains(MARKER), "the last journal lines: {o}");
    assert!(o.contains("   Active: active (running) since "), "{o}");
    assert!(o.contains("  Machine: "), "{o}");

    phase("stop web@1.service: it stays loaded, not active");
    let o = must_succeed(corral(&["stop", "web@1.service"]), "stop web@1");
    assert!(o.starts_with("Unit web@1.service loaded"), "{o}");
    let rows = unit_rows(&must_succeed(
        corral(&["list-units", "--no-legend"]),
        "list-units after stop",
    ));
    let one = rows
        .iter()
        .find(|r| r[0] == "web@1.service")
        .unwrap_or_else(|| panic!("web@1 still has its machine: {rows:?}"));
    assert_ne!(one[2], "active", "{rows:?}");

    // web@4 first: destroying another instance first would free a
    // machine, and web@4 would start there.
    phase("destroy every unit");
    let o = must_succeed(
        corral(&[
            "destroy",
            "web@4.service",
            "web@1.service",
            "web@2.service",
            "web@3.service",
            "web@.service",
        ]),
        "destroy",
    );
    assert_eq!(
        o.lines().collect::<Vec<_>>(),
        [
            "Destroyed web@4.service",
            "Destroyed web@1.service",
            "Destroyed web@2.service",
            "Destroyed web@3.service",
            "Destroyed web@.service"
        ],
        "{o}"
    );
    let o = must_succeed(
        corral(&["list-unit-files", "--json"]),
        "list-unit-files after destroy",
    );
    let files: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(files.as_array().map(Vec::len), Some(0), "{files}");
    let o = corral(&["cat", "web@1.service"]);
    must_exit(&o, 1, "cat a destroyed unit");
    let o = must_succeed(
        corral(&["list-units", "--no-legend"]),
        "list-units after destroy",
    );
    assert_eq!(o, "", "no unit is left");
    wait_for("the instances' processes to end", T, || {
        let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        async move {
            left.is_empty()
                .then_some(())
                .ok_or_else(|| format!("still running: {left:?}"))
        }
    })
    .await;

    phase("a bad unit file: exit 2 naming its line");
    std::fs::write(
        d.join("bad.service"),
        "[Service]\nExecStart=/bin/true\nthis line has no equals sign\n",
    )
    .unwrap();
    let o = corral(&["submit", "bad.service"]);
    must_exit(&o, 2, "submit bad.service");
    assert!(err(&o).contains("line 3"), "{}", err(&o));

    phase("bad arguments: exit 2 before any request");
    let o = corral(&["submit", "./missing/web.service"]);
    must_exit(&o, 2, "submit a missing file");
    assert!(err(&o).contains("no such unit file"), "{}", err(&o));
    let o = corral(&["start", "web.txt"]);
    must_exit(&o, 2, "start a name that is no unit name");
    let o = corral(&["start", "web@.service"]);
    must_exit(&o, 2, "start a template");
    assert!(err(&o).contains("template"), "{}", err(&o));
}
