//! `corral up` through the real binary, as the README tells a user to run it:
//! `up -d`, list the machines, `status`, `down`; plus the inputs `up` must
//! refuse (a bad corral.toml, an unknown flag) with exit code 2.
//!
//! Each test works in a fresh temporary directory; the cluster uses addresses
//! and ports no other test uses (127.0.0.201-203, ports 25050/28080/25051/22380),
//! and a guard stops whatever it started, even when the test panics.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_corral");

const CONFIG: &str = r#"
machines = 3
servers = 3
base_ip = "127.0.0.201"
[ports]
master = 25050
apps = 28080
agent = 25051
raft = 22380
[machine.1]
metadata = "zookeeper=true,mesos-master=true"
"#;

const ENDPOINTS: &str = "127.0.0.201:25050,127.0.0.202:25050,127.0.0.203:25050";

/// A fresh directory holding a corral.toml. On drop it runs `corral down`,
/// SIGKILLs any node pid it saw that is still alive, then deletes the directory.
struct Sandbox {
    tmp: tempfile::TempDir,
    pids: Vec<u32>,
}

impl Sandbox {
    fn new(name: &str, config: &str) -> Sandbox {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("corral-{name}-"))
            .tempdir()
            .unwrap();
        std::fs::write(tmp.path().join("corral.toml"), config).unwrap();
        Sandbox {
            tmp,
            pids: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.tmp.path().join(rel)
    }

    /// Runs `corral ARGS` in the sandbox and waits for it.
    fn corral(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.tmp.path())
            .env_remove("CORRAL_ENDPOINT")
            .output()
            .unwrap_or_else(|e| panic!("cannot run corral {args:?}: {e}"))
    }

    #[track_caller]
    fn must_succeed(&self, args: &[&str]) -> String {
        let out = self.corral(args);
        assert!(
            out.status.success(),
            "corral {args:?} failed ({}):\nstdout: {}\nstderr: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The end of every machine's log, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for m in ["m1", "m2", "m3"] {
            let p = self.path(&format!(".corral/{m}/node.log"));
            if let Ok(text) = std::fs::read_to_string(&p) {
                let lines: Vec<&str> = text.lines().collect();
                out.push_str(&format!("--- {}\n", p.display()));
                for l in &lines[lines.len().saturating_sub(15)..] {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.path(".corral/cluster.json").exists() {
            let _ = self.corral(&["down"]);
        }
        for &pid in &self.pids {
            if is_node(pid) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        // `tmp` deletes the directory after this.
    }
}

/// True while `pid` is a live (not zombie) `corral node` process.
fn is_node(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some('Z' | 'X')) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).nth(1) == Some(b"node".as_slice()))
        .unwrap_or(false)
}

/// The pids `corral status --json` reports.
fn pids_in(status_json: &str) -> Vec<u32> {
    let v: serde_json::Value = serde_json::from_str(status_json)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {status_json}"));
    v["machines"]
        .as_array()
        .unwrap_or_else(|| panic!("status --json has no machines: {status_json}"))
        .iter()
        .map(|m| m["pid"].as_u64().expect("a pid") as u32)
        .collect()
}

/// How many machines `corral machines --json` lists (an array, or an object
/// with a `machines` array); `None` when it is not JSON.
fn machine_count(json: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.as_array()
        .or_else(|| v["machines"].as_array())
        .map(Vec::len)
}

/// Polls `probe` until it returns `Ok`, or panics after `within` with what
/// was awaited and the last thing seen.
#[track_caller]
fn must_become<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {within:?} waiting for {what}; last: {last}")
            }
            Err(_) => pause(),
        }
    }
}

/// The interval between two polls of a real multi-process system. The
/// processes run on the wall clock, so tokio's paused time cannot stand in
/// for it (the reason clippy.toml bans `std::thread::sleep`).
#[allow(clippy::disallowed_methods)]
fn pause() {
    std::thread::sleep(Duration::from_millis(100));
}

/// Stderr that must be exactly one line.
#[track_caller]
fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).trim_end().to_string();
    assert_eq!(text.lines().count(), 1, "expected one line, got:\n{text}");
    text
}

#[test]
fn up_detached_then_machines_status_down() {
    let mut sb = Sandbox::new("up", CONFIG);

    eprintln!("--- corral up -d");
    let summary = sb.must_succeed(&["up", "-d", "--timeout", "60"]);
    assert!(summary.contains("running in the background"), "{summary}");
    assert!(
        summary.contains("master http://127.0.0.201:25050"),
        "{summary}"
    );
    assert!(summary.contains("server (leader)"), "{summary}");

    eprintln!("--- status --json lists three live node processes");
    let status_json = sb.must_succeed(&["status", "--json"]);
    sb.pids = pids_in(&status_json);
    assert_eq!(sb.pids.len(), 3, "{status_json}");
    assert!(
        sb.pids.iter().all(|&p| is_node(p)),
        "pids {:?} are not all nodes",
        sb.pids
    );

    eprintln!("--- corral machines lists all three machines");
    must_become(
        "3 machines in `corral machines --json`",
        Duration::from_secs(30),
        || {
            let out = sb.corral(&["machines", "--json", "--endpoint", ENDPOINTS]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            match machine_count(&text) {
                Some(3) if out.status.success() => Ok(()),
                _ => Err(format!(
                    "{}: {text} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )),
            }
        },
    );

    eprintln!("--- corral status summarises it");
    let status = sb.must_succeed(&["status"]);
    assert!(status.contains("leader: m"), "{status}");
    for ip in ["127.0.0.201", "127.0.0.202", "127.0.0.203"] {
        assert!(status.contains(ip), "{ip} missing from status:\n{status}");
    }

    eprintln!("--- corral logs shows a machine's node log; an unknown machine is bad input");
    let logs = sb.must_succeed(&["logs", "m1", "-n", "200"]);
    assert!(logs.contains("node running"), "{logs}");
    let unknown = sb.corral(&["logs", "m9"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("m1, m2, m3"),
        "{unknown:?}"
    );

    eprintln!("--- a second up from the same directory is refused");
    let again = sb.corral(&["up", "-d"]);
    assert_eq!(again.status.code(), Some(2), "second up: {again:?}");
    assert!(one_line(&again.stderr).contains("still running"));

    eprintln!("--- a unit runs (its supervisor outlives a node by design)");
    std::fs::write(
        sb.path("idle.service"),
        "[Service]\nExecStart=/bin/sleep 3600\n",
    )
    .unwrap();
    let idle = sb.path("idle.service").display().to_string();
    sb.must_succeed(&["start", &idle, "--endpoint", ENDPOINTS]);
    let rows = sb.must_succeed(&["list-units", "--json", "--endpoint", ENDPOINTS]);
    let rows: serde_json::Value = serde_json::from_str(&rows).expect("list-units --json");
    let unit_pid = rows[0]["states"][0]["main_pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("a main pid in {rows}")) as i32;
    let unit_alive = || std::path::Path::new(&format!("/proc/{unit_pid}")).exists();
    assert!(unit_alive());

    eprintln!("--- corral down stops every process, the unit's too, and keeps the data");
    let down = sb.must_succeed(&["down"]);
    assert_eq!(down.matches("stopped m").count(), 3, "{down}");
    assert!(down.contains("stopped 0 tasks and 1 unit"), "{down}");
    must_become("the unit's process to end", Duration::from_secs(15), || {
        if unit_alive() {
            Err(format!("pid {unit_pid} still runs"))
        } else {
            Ok(())
        }
    });
    must_become("node processes to exit", Duration::from_secs(15), || {
        let alive: Vec<u32> = sb.pids.iter().copied().filter(|&p| is_node(p)).collect();
        if alive.is_empty() {
            Ok(())
        } else {
            Err(format!("still running: {alive:?}"))
        }
    });
    assert!(!sb.path(".corral/cluster.json").exists());
    assert!(sb.path(".corral/m1").is_dir(), "down keeps the data");

    eprintln!("--- with nothing running, status and down say so and exit 1");
    let status = sb.corral(&["status"]);
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    assert!(one_line(&status.stderr).contains("no cluster is running"));
    let down = sb.corral(&["down"]);
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(one_line(&down.stderr).contains("no cluster is running"));

    eprintln!("--- down --purge deletes the machines' data");
    sb.must_succeed(&["down", "--purge"]);
    assert!(!sb.path(".corral/m1").exists());
}

#[test]
fn bad_config_is_one_line_naming_the_field() {
    let sb = Sandbox::new("badcfg", "machines = 3\n[ports]\nmaster = \"five\"\n");
    let out = sb.corral(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let line = one_line(&out.stderr);
    assert!(
        line.starts_with("corral: corral.toml: ports.master: "),
        "{line}"
    );

    std::fs::write(sb.path("other.toml"), "servers = 4\n").unwrap();
    let out = sb.corral(&["up", "-d", "--config", "other.toml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        one_line(&out.stderr),
        "corral: other.toml: servers = 4 is more than machines = 3"
    );

    std::fs::write(sb.path("other.toml"), "[agents]\nheartbeat = 5\n").unwrap();
    let out = sb.corral(&["up", "-d", "--config", "other.toml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(one_line(&out.stderr).contains("agents.heartbeat: unknown key"));

    assert!(!sb.path(".corral").exists(), "nothing was started");
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let sb = Sandbox::new("flag", CONFIG);
    for args in [
        &["up", "--bogus"][..],
        &["down", "--bogus"],
        &["status", "--bogus"],
    ] {
        let out = sb.corral(args);
        assert_eq!(out.status.code(), Some(2), "corral {args:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
    }
    assert!(!sb.path(".corral").exists(), "nothing was started");
}
