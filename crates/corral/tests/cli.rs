//! The client commands through the real binary: tables, --json, exit codes
//! (0 ok, 1 failure, 2 bad input) and one-line errors.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use corral_testkit::{phase, Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(20);

fn corral(endpoint: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("CORRAL_ENDPOINT", endpoint)
        .output()
        .expect("run corral")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_and_kv_commands() {
    let c = Cluster::start(Path::new(BIN), ClusterSpec::default());
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    // A follower first: the CLI must follow the redirect to the leader.
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let ep = format!(
        "{},{}",
        c.machines[follower].api_addr(),
        c.machines[leader].api_addr()
    );

    phase("corral machines prints fleetctl's columns");
    let o = corral(&ep, &["machines"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["MACHINE", "IP", "METADATA", "SERVER", "STATUS"]);
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let cells: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(cells[0].len(), 11, "short id: {r}");
        assert!(cells[0].ends_with("..."));
        assert!(cells[2].contains("role=server"), "{r}");
    }
    assert_eq!(
        rows.iter().filter(|r| r.contains("leader")).count(),
        1,
        "{out}"
    );
    let o = corral(&ep, &["list-machines", "--full"]);
    assert!(o.status.success());
    assert!(
        stdout(&o)
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .len()
            == 32
    );
    let o = corral(&ep, &["machines", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json is JSON");
    assert_eq!(v.as_array().unwrap().len(), 3);

    phase("kv set/get/ls/rm");
    let o = corral(&ep, &["kv", "set", "/svc/web/1", "127.0.0.1:31000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = corral(&ep, &["kv", "get", "/svc/web/1"]);
    assert_eq!(stdout(&o).trim(), "127.0.0.1:31000");
    let o = corral(&ep, &["kv", "ls", "/svc", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["nodes"][0]["key"], "/svc/web/1");
    let o = corral(&ep, &["kv", "rm", "/svc/web/1"]);
    assert!(o.status.success());
    let o = corral(&ep, &["kv", "get", "/svc/web/1"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "missing key is a failure, not bad input"
    );
    assert!(stderr(&o).contains("not found"));

    phase("kv watch prints changes as they happen");
    let mut watcher = Command::new(BIN)
        .args(["kv", "watch", "/w", "--count", "2"])
        .env("CORRAL_ENDPOINT", &ep)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The watcher may subscribe after the first writes: keep writing until
    // it has seen two events and exited.
    let deadline = std::time::Instant::now() + T;
    let mut n = 0;
    while watcher.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "watch never printed two events"
        );
        n += 1;
        corral(&ep, &["kv", "set", &format!("/w/{n}"), "v"]);
    }
    let out = watcher.wait_with_output().unwrap();
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|l| l.contains("put /w/")), "{text}");

    phase("bad input: exit 2, one line, nothing sent");
    for args in [
        vec!["kv", "set", "nokey", "v"],
        vec!["kv", "set", "/a b", "v"],
        vec!["kv", "get", "/trailing/"],
        vec!["kv", "set", "/k", "v", "--ttl", "0"],
        vec!["machines", "--bogus"],
        vec!["frobnicate"],
    ] {
        let o = corral(&ep, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let big = "x".repeat(corral_core::kv::MAX_VALUE_BYTES + 1);
    let mut child = Command::new(BIN)
        .args(["kv", "set", "/big"])
        .env("CORRAL_ENDPOINT", &ep)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(big.as_bytes());
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("limit"), "{err}");
    let o = corral(&ep, &["kv", "ls", "/", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["key"] != "/big" && n["key"] != "/k"));

    phase("no server reachable: exit 1 with a hint");
    let o = corral("127.0.0.1:1", &["machines"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("corral up"), "{}", stderr(&o));
}
