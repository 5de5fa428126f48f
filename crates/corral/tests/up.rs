//! `corral up` through the real binary, as the README tells a user to run it:
//! `up -d`, list the machines, `status`, `down`; plus the inputs `up` must
//! refuse (a bad corral.toml, an unknown flag) with exit code 2.
//!
//! Each test works in a fresh temporary directory with its own addresses
//! (127.0.0.201-203, ports 25050/28080/25051/22380) so it cannot meet another
//! test's cluster, and a guard stops whatever it started, even on panic.

use std::path::{Path, PathBuf};
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

/// A fresh directory holding a corral.toml; on drop, runs `corral down`,
/// kills any pid it saw that is still a node, and deletes the directory.
struct Sandbox {
    dir: PathBuf,
    pids: Vec<u32>,
}

impl Sandbox {
    fn new(name: &str, config: &str) -> Sandbox {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("corral-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("corral.toml"), config).unwrap();
        Sandbox {
            dir,
            pids: Vec::new(),
        }
    }

    /// Runs `corral ARGS` in the sandbox and waits for it.
    fn corral(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
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

    /// The machines' logs, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for m in ["m1", "m2", "m3"] {
            let p = self.dir.join(".corral").join(m).join("node.log");
            if let Ok(text) = std::fs::read_to_string(&p) {
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out.push_str(&format!("--- {}\n", p.display()));
                for l in tail.into_iter().rev() {
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
        if self.dir.join(".corral").join("cluster.json").exists() {
            let _ = self.corral(&["down"]);
        }
        for &pid in &self.pids {
            if is_node(pid) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// True while `pid` is a live (not zombie) `corral node` process.
fn is_node(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some(Some('Z' | 'X'))) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).nth(1) == Some(b"node".as_slice()))
        .unwrap_or(false)
}

/// Every `"pid": N` in a JSON text (enough for `corral status --json`).
fn pids_in(json: &str) -> Vec<u32> {
    json.split("\"pid\":")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// How many of this test's machines `corral machines --json` lists, whatever
/// the exact shape: each machine's address appears in it.
fn machine_count(json: &str) -> usize {
    ["\"127.0.0.201\"", "\"127.0.0.202\"", "\"127.0.0.203\""]
        .iter()
        .filter(|ip| json.contains(*ip))
        .count()
}

/// Waits for `cond` with a deadline, polling.
#[track_caller]
fn must_become(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        pause();
    }
}

/// The interval between two polls of a real multi-process system: processes
/// run on the wall clock, so tokio's paused time cannot stand in here.
#[allow(clippy::disallowed_methods)]
fn pause() {
    std::thread::sleep(Duration::from_millis(100));
}

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
    assert!(summary.contains("(leader)"), "{summary}");

    eprintln!("--- the cluster file lists three live node processes");
    let status_json = sb.must_succeed(&["status", "--json"]);
    sb.pids = pids_in(&status_json);
    assert_eq!(sb.pids.len(), 3, "{status_json}");
    assert!(
        sb.pids.iter().all(|&p| is_node(p)),
        "pids {:?} not all nodes",
        sb.pids
    );

    eprintln!("--- corral machines lists all three machines");
    let mut last = String::new();
    must_become(
        "3 machines in `corral machines --json`",
        Duration::from_secs(30),
        || {
            let out = sb.corral(&["machines", "--json", "--endpoint", ENDPOINTS]);
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            out.status.success() && machine_count(&last) == 3
        },
    );

    eprintln!("--- corral status summarises it");
    let status = sb.must_succeed(&["status"]);
    assert!(status.contains("leader: m"), "{status}");
    for ip in ["127.0.0.201", "127.0.0.202", "127.0.0.203"] {
        assert!(status.contains(ip), "{ip} missing from status:\n{status}");
    }

    eprintln!("--- a second up from the same directory is refused");
    let again = sb.corral(&["up", "-d"]);
    assert_eq!(again.status.code(), Some(2), "second up: {again:?}");
    assert!(one_line(&again.stderr).contains("still running"));

    eprintln!("--- corral down stops every process");
    let down = sb.must_succeed(&["down"]);
    assert_eq!(down.matches("stopped m").count(), 3, "{down}");
    must_become("node processes to exit", Duration::from_secs(15), || {
        sb.pids.iter().all(|&p| !is_node(p))
    });
    assert!(!sb.dir.join(".corral/cluster.json").exists());
    assert!(sb.dir.join(".corral/m1").is_dir(), "down keeps the data");

    eprintln!("--- with nothing running, status and down say so and exit 1");
    let status = sb.corral(&["status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(one_line(&status.stderr).contains("no cluster is running"));
    let down = sb.corral(&["down"]);
    assert_eq!(down.status.code(), Some(1));
    assert!(one_line(&down.stderr).contains("no cluster is running"));
}

#[test]
fn bad_config_is_one_line_naming_the_field() {
    let sb = Sandbox::new("badcfg", "machines = 3\n[ports]\nmaster = \"five\"\n");
    let out = sb.corral(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let line = one_line(&out.stderr);
    assert!(line.contains("corral.toml: ports.master:"), "{line}");

    std::fs::write(sb.dir.join("other.toml"), "servers = 4\n").unwrap();
    let out = sb.corral(&["up", "-d", "--config", "other.toml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        one_line(&out.stderr),
        "corral: other.toml: servers = 4 is more than machines = 3"
    );
    assert!(
        !Path::new(&sb.dir.join(".corral")).exists(),
        "nothing was started"
    );
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
}
