//! An unmodified pymesos framework (tests/py/pymesos_driver.py, driven line
//! by line) through the two failures Mesos users feared most:
//! - the leading master dies: the framework, which found the master with
//!   `zk://.../mesos` (corral's ZooKeeper-protocol leader detection),
//!   re-subscribes to the new leader with its framework id, reconciles, and
//!   finds every task still running;
//! - an agent process is SIGKILLed and started again: its tasks keep
//!   running, and the status updates of tasks that ended while it was down
//!   reach the framework once it is back.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use corral_testkit::{phase, wait_for, Cluster, ClusterSpec};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_corral");
const T: Duration = Duration::from_secs(30);

fn driver_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/pymesos_driver.py")
}

/// The framework process: commands in, event lines out; killed on drop.
struct Framework {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Framework {
    fn start(master: &str) -> Framework {
        let ok = std::process::Command::new("python3")
            .args(["-c", "import pymesos, addict, kazoo"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 with pymesos 0.3.15 and kazoo is required: run scripts/install-test-deps (scripts/test does)");
        let mut child = Command::new("python3")
            .arg(driver_script())
            .args(["--master", master])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start python3");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Framework {
            _child: child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, cmd: &str) {
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .expect("the framework reads its commands");
        self.stdin.flush().await.expect("flush");
    }

    /// Reads lines until `want` matches one (returned), within `within`.
    async fn expect(
        &mut self,
        what: &str,
        within: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {what} within {within:?}; saw:\n{}",
                        self.seen.join("\n")
                    )
                })
                .expect("read the framework's output")
                .unwrap_or_else(|| {
                    panic!(
                        "the framework exited before {what}; saw:\n{}",
                        self.seen.join("\n")
                    )
                });
            self.seen.push(line.clone());
            if want(&line) {
                return line;
            }
        }
    }

    /// Waits until each of `tasks` had an update in `state` (with `reason`
    /// when given), counting lines already seen.
    async fn expect_states(&mut self, tasks: &[String], state: &str, reason: Option<&str>) {
        let has = |seen: &[String], t: &String| {
            seen.iter().any(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                w.len() >= 4
                    && w[0] == "update"
                    && w[1] == t
                    && w[2] == state
                    && reason.is_none_or(|r| w[3] == r)
            })
        };
        while !tasks.iter().all(|t| has(&self.seen, t)) {
            self.expect(&format!("{state} for all of {tasks:?}"), T, |l| {
                l.starts_with("update")
            })
            .await;
        }
    }

    /// Updates seen for `task`, as (state, reason).
    fn updates(&self, task: &str) -> Vec<(String, String)> {
        self.seen
            .iter()
            .filter_map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                (w.len() >= 4 && w[0] == "update" && w[1] == task)
                    .then(|| (w[2].to_string(), w[3].to_string()))
            })
            .collect()
    }

    /// The agent each task's last update named.
    fn agent_of(&self, task: &str) -> String {
        self.seen
            .iter()
            .rev()
            .find_map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                (w.len() >= 5 && w[0] == "update" && w[1] == task).then(|| w[4].to_string())
            })
            .unwrap_or_default()
    }
}

fn task_ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("t-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_follows_the_leader_through_zk_detection_and_loses_no_task() {
    // The killed server's agent counts as gone only after 40 missed
    // heartbeats (8 s): the machine is restarted well within that.
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            max_missed_heartbeats: 40,
            ..Default::default()
        },
    );
    let leader = c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let zk: Vec<String> = c
        .machines
        .iter()
        .map(|m| format!("{}:2181", m.ip))
        .collect();
    let mut fw = Framework::start(&format!("zk://{}/mesos", zk.join(",")));
    let registered = fw
        .expect("SUBSCRIBED", T, |l| l.starts_with("registered "))
        .await;
    let fw_id = registered.split(' ').nth(1).unwrap().to_string();

    phase("six long tasks run");
    fw.send("launch 6 600").await;
    let tasks = task_ids(0..6);
    fw.expect_states(&tasks, "TASK_RUNNING", None).await;

    phase("SIGKILL the leading server; the framework follows the new leader");
    c.kill(leader);
    let back = fw
        .expect("re-subscription to the new leader", T, |l| {
            l.starts_with("reregistered ")
        })
        .await;
    assert_eq!(
        back,
        format!("reregistered {fw_id}"),
        "the same framework id"
    );
    let new_leader = c.must_leader(T).await;
    assert_ne!(new_leader, leader);
    c.start_machine(leader);
    c.must_all_agents_registered(T).await;

    phase("reconciliation: every task still runs");
    fw.send("reconcile").await;
    fw.expect_states(&tasks, "TASK_RUNNING", Some("REASON_RECONCILIATION"))
        .await;
    for t in &tasks {
        let states: Vec<String> = fw.updates(t).into_iter().map(|(s, _)| s).collect();
        assert!(
            states
                .iter()
                .all(|s| s == "TASK_STARTING" || s == "TASK_RUNNING"),
            "{t} was never anything but running: {states:?}"
        );
    }

    phase("kills still reach every task, through the new leader");
    for t in &tasks {
        fw.send(&format!("kill {t}")).await;
    }
    fw.expect_states(&tasks, "TASK_KILLED", None).await;
    fw.send("stop").await;
    fw.expect("stop", T, |l| l == "stopped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_restart_keeps_tasks_running_and_delivers_what_ended_meanwhile() {
    // Three servers and one agent-only machine (index 3). An agent counts
    // as gone after 40 missed heartbeats (8 s), longer than it is down here.
    let mut c = Cluster::start(
        Path::new(BIN),
        ClusterSpec {
            machines: 4,
            max_missed_heartbeats: 40,
            ..Default::default()
        },
    );
    c.must_leader(T).await;
    c.must_all_agents_registered(T).await;
    let worker = 3;
    let host = c.machines[worker].ip.clone();
    let mut fw = Framework::start(&c.machines[0].api_addr());
    fw.expect("SUBSCRIBED", T, |l| l.starts_with("registered "))
        .await;

    phase("two long and two short tasks on the worker");
    fw.send(&format!("launch 2 600 {host}")).await;
    fw.send(&format!("launch 2 2 {host}")).await;
    let (long, short) = (task_ids(0..2), task_ids(2..4));
    fw.expect_states(
        &[long.clone(), short.clone()].concat(),
        "TASK_RUNNING",
        None,
    )
    .await;
    let agent = fw.agent_of("t-0");
    assert!(
        [&long[..], &short[..]]
            .concat()
            .iter()
            .all(|t| fw.agent_of(t) == agent),
        "all on the worker"
    );

    phase("SIGKILL the worker's node; the short tasks end while it is down");
    c.kill(worker);
    let sandboxes = c.machines[worker].data_dir.join("agent/sandboxes");
    for t in &short {
        let exit = sandboxes.join(t).join("exit.json");
        wait_for(&format!("{t} to end under its supervisor"), T, || async {
            if exit.exists() {
                Ok(())
            } else {
                Err(format!("no {}", exit.display()))
            }
        })
        .await;
    }
    for t in &long {
        let pid: i32 = std::fs::read_to_string(sandboxes.join(t).join("task.pid"))
            .expect("task.pid")
            .trim()
            .parse()
            .expect("a pid");
        // SAFETY: signal 0 only checks that the process exists.
        assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "{t} outlived its agent");
    }

    phase("the agent comes back: its short tasks' FINISHED arrives, the long ones still run");
    c.start_machine(worker);
    c.must_all_agents_registered(T).await;
    fw.expect_states(&short, "TASK_FINISHED", None).await;
    fw.send("reconcile").await;
    fw.expect_states(&long, "TASK_RUNNING", Some("REASON_RECONCILIATION"))
        .await;
    for t in [&long[..], &short[..]].concat() {
        let ups = fw.updates(&t);
        assert!(
            !ups.iter()
                .any(|(s, _)| s == "TASK_LOST" || s == "TASK_FAILED" || s == "TASK_KILLED"),
            "{t}: {ups:?}"
        );
        let finished = ups.iter().filter(|(s, _)| s == "TASK_FINISHED").count();
        assert!(
            finished <= 1,
            "{t}: FINISHED once, not {finished} times: {ups:?}"
        );
    }
    for t in &long {
        fw.send(&format!("kill {t}")).await;
    }
    fw.expect_states(&long, "TASK_KILLED", None).await;
    fw.send("stop").await;
    fw.expect("stop", T, |l| l == "stopped").await;
}
