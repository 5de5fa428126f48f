//! Test kit: starts real `corral node` processes as a cluster on loopback
//! addresses of its own, and gives tests `must_*` helpers that wait on
//! conditions with deadlines (never fixed sleeps) and panic with a clear
//! message.
//!
//! Invariants: every process it starts is SIGKILLed on drop; each cluster
//! gets a fresh temp dir and a /24 of 127.x.y.0 no other cluster in this
//! process uses, so tests run in parallel without port clashes.

pub mod cli;
pub mod scheduler;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use corral_api::client::Method;
use corral_api::native::{
    AgentCommand, AgentCommandEnvelope, AgentStateView, ClusterView, KvList, KvPutBody,
    KvWriteResult,
};

/// Log line for a test phase: `--- kill the leader`.
pub fn phase(msg: &str) {
    eprintln!("--- {msg}");
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `within`
/// saying what was awaited and the last thing seen.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

static NEXT_BLOCK: AtomicU32 = AtomicU32::new(0);

/// A fresh 127.A.B.0/24 for one cluster: A from the process id, B counting.
fn address_block() -> (u8, u8) {
    let n = NEXT_BLOCK.fetch_add(1, Ordering::SeqCst);
    let a = 20 + (std::process::id() % 200) as u8;
    (a, (n % 250) as u8 + 1)
}

/// Settings of a test cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub machines: usize,
    pub servers: usize,
    pub heartbeat_ms: u64,
    pub max_missed_heartbeats: u32,
    /// More `corral node` flags for every machine.
    pub extra_args: Vec<String>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            machines: 3,
            servers: 3,
            heartbeat_ms: 200,
            max_missed_heartbeats: 5,
            extra_args: Vec::new(),
        }
    }
}

/// One machine of a test cluster.
pub struct Machine {
    pub name: String,
    pub ip: String,
    pub server_id: Option<u64>,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Machine {
    pub fn api_addr(&self) -> String {
        format!("{}:5050", self.ip)
    }
    pub fn agent_addr(&self) -> String {
        format!("{}:5051", self.ip)
    }
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

/// A running multi-process cluster.
pub struct Cluster {
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub machines: Vec<Machine>,
    pub http: reqwest::Client,
    block: (u8, u8),
}

impl Cluster {
    /// Starts `spec.machines` machines, the first `spec.servers` of them servers.
    pub fn start(bin: &Path, spec: ClusterSpec) -> Cluster {
        let n = spec.machines;
        Cluster::start_first(bin, spec, n)
    }

    /// Lays out `spec.machines` machines like [`Cluster::start`] but starts
    /// only the first `n`; the others join later with
    /// [`Cluster::start_machine`] (a machine added to a running cluster).
    pub fn start_first(bin: &Path, spec: ClusterSpec, n: usize) -> Cluster {
        assert!(
            n <= spec.machines,
            "start_first: {n} of {} machines",
            spec.machines
        );
        let dir = tempfile::Builder::new()
            .prefix("corral-test-")
            .tempdir()
            .expect("temp dir");
        let block = address_block();
        let ip = |i: usize| format!("127.{}.{}.{}", block.0, block.1, i + 1);
        let bootstrap: Vec<String> = (0..spec.servers)
            .map(|i| format!("{}={}:2380/{}:5050", i + 1, ip(i), ip(i)))
            .collect();
        let servers: Vec<String> = (0..spec.servers)
            .map(|i| format!("{}:5050", ip(i)))
            .collect();
        let mut machines = Vec::new();
        for i in 0..spec.machines {
            let name = format!("m{}", i + 1);
            let data_dir = dir.path().join(&name);
            let mut args = vec![
                "node".to_string(),
                format!("--name={name}"),
                format!("--ip={}", ip(i)),
                format!("--data-dir={}", data_dir.display()),
                format!("--servers={}", servers.join(",")),
                format!(
                    "--metadata=role={},index={}",
                    if i < spec.servers { "server" } else { "worker" },
                    i + 1
                ),
                format!("--heartbeat-ms={}", spec.heartbeat_ms),
                format!("--max-missed-heartbeats={}", spec.max_missed_heartbeats),
            ];
            args.extend(spec.extra_args.iter().cloned());
            let server_id = (i < spec.servers).then_some(i as u64 + 1);
            if let Some(id) = server_id {
                args.push(format!("--server-id={id}"));
                args.push(format!("--bootstrap={}", bootstrap.join(",")));
            }
            machines.push(Machine {
                log: dir.path().join(format!("{name}.log")),
                name,
                ip: ip(i),
                server_id,
                data_dir,
                args,
                child: None,
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let mut c = Cluster {
            bin: bin.to_path_buf(),
            dir,
            machines,
            http,
            block,
        };
        for i in 0..n {
            c.start_machine(i);
        }
        c
    }

    /// Adds a fresh server that joins through `seed` (index of a machine).
    pub fn add_server(&mut self, server_id: u64, seed: usize) -> usize {
        let i = self.machines.len();
        let ip = format!("127.{}.{}.{}", self.block.0, self.block.1, i + 1);
        let name = format!("m{}", i + 1);
        let data_dir = self.dir.path().join(&name);
        let args = vec![
            "node".to_string(),
            format!("--name={name}"),
            format!("--ip={ip}"),
            format!("--data-dir={}", data_dir.display()),
            format!("--servers={}", self.machines[seed].api_addr()),
            format!("--server-id={server_id}"),
            format!("--join={}", self.machines[seed].api_addr()),
            "--heartbeat-ms=200".to_string(),
        ];
        self.machines.push(Machine {
            log: self.dir.path().join(format!("{name}.log")),
            name,
            ip,
            server_id: Some(server_id),
            data_dir,
            args,
            child: None,
        });
        self.start_machine(i);
        i
    }

    /// (Re)starts machine `i` with its original arguments and data dir.
    pub fn start_machine(&mut self, i: usize) {
        let m = &mut self.machines[i];
        assert!(m.child.is_none(), "{} is already running", m.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("log file");
        let child = Command::new(&self.bin)
            .args(&m.args)
            .env("CORRAL_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        m.child = Some(child);
    }

    /// SIGKILLs machine `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.machines[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM to machine `i` and waits for it to exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.machines[i].child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    /// The last `n` lines of machine `i`'s log, for failure messages.
    pub fn log_tail(&self, i: usize, n: usize) -> String {
        let text = std::fs::read_to_string(&self.machines[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn api_url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.machines[i].api_addr())
    }

    pub fn agent_url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.machines[i].agent_addr())
    }

    /// Master API addresses of the running servers.
    pub fn server_endpoints(&self) -> Vec<String> {
        self.machines
            .iter()
            .filter(|m| m.server_id.is_some())
            .map(|m| m.api_addr())
            .collect()
    }

    /// A corral client over every server.
    pub fn client(&self) -> corral_api::Client {
        corral_api::Client::new(self.server_endpoints())
    }

    /// GETs `url` and decodes its JSON; panics with the URL on failure.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> T {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        r.json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: not the expected JSON: {e}"))
    }

    /// `/v1/cluster` as machine `i` sees it.
    pub async fn cluster_view(&self, i: usize) -> Result<ClusterView, String> {
        let r = self
            .http
            .get(self.api_url(i, "/v1/cluster"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }

    /// `/v1/agent/state` of machine `i`'s agent.
    pub async fn agent_state(&self, i: usize) -> Result<AgentStateView, String> {
        let r = self
            .http
            .get(self.agent_url(i, "/v1/agent/state"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }

    /// Sends machine `i`'s agent `command` as a leader of `epoch` would;
    /// returns the HTTP status and the JSON body.
    pub async fn agent_command(
        &self,
        i: usize,
        epoch: u64,
        command: AgentCommand,
    ) -> (u16, serde_json::Value) {
        let env = AgentCommandEnvelope {
            epoch,
            leader_id: 1,
            command,
        };
        let r = self
            .http
            .post(self.agent_url(i, "/v1/agent/command"))
            .json(&env)
            .send()
            .await
            .unwrap_or_else(|e| panic!("command to {}'s agent: {e}", self.machines[i].name));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// [`Cluster::agent_command`] with a `Ping`.
    pub async fn ping_agent(&self, i: usize, epoch: u64) -> (u16, serde_json::Value) {
        self.agent_command(i, epoch, AgentCommand::Ping).await
    }

    /// Index of the machine whose server leads, agreed by every running
    /// server, once a leader is elected; panics after `within`.
    pub async fn must_leader(&self, within: Duration) -> usize {
        wait_for("an agreed leader", within, || async {
            let mut seen = None;
            for (i, m) in self.machines.iter().enumerate() {
                if m.server_id.is_none() || !m.is_running() {
                    continue;
                }
                let v = self.cluster_view(i).await?;
                let l = v.leader.ok_or(format!("{} knows no leader", m.name))?;
                if seen.is_some_and(|s| s != l.id) {
                    return Err(format!(
                        "servers disagree on the leader ({seen:?} vs {})",
                        l.id
                    ));
                }
                seen = Some(l.id);
            }
            let id = seen.ok_or("no running server")?;
            self.machines
                .iter()
                .position(|m| m.server_id == Some(id) && m.is_running())
                .ok_or(format!("leader {id} is not a running machine"))
        })
        .await
    }

    /// Waits until every running machine is admitted and active, and each
    /// running agent is registered under the current leader's epoch.
    pub async fn must_all_agents_registered(&self, within: Duration) -> ClusterView {
        let running: Vec<usize> = (0..self.machines.len())
            .filter(|i| self.machines[*i].is_running())
            .collect();
        wait_for("every agent registered with the leader", within, || async {
            let leader = self.leader_index().await?;
            let view = self.cluster_view(leader).await?;
            let leader_id = view.leader.as_ref().map(|l| l.id).ok_or("no leader")?;
            for &i in &running {
                let st = self.agent_state(i).await?;
                let m = view
                    .machines
                    .iter()
                    .find(|m| m.id == st.id)
                    .ok_or(format!("{} not admitted", self.machines[i].name))?;
                if m.status != "active" {
                    return Err(format!("{} is {}", self.machines[i].name, m.status));
                }
                if !st.registered || st.leader_id != Some(leader_id) || st.epoch != view.term {
                    return Err(format!(
                        "{} registered={} with leader {:?} epoch {} (leader {leader_id}, term {})",
                        self.machines[i].name, st.registered, st.leader_id, st.epoch, view.term
                    ));
                }
            }
            Ok(view)
        })
        .await
    }

    /// Sets `key` through any server (following redirects, riding out an
    /// election); panics if the write is not acknowledged. Returns its revision.
    pub async fn must_put(&self, key: &str, value: &str) -> u64 {
        let body = KvPutBody {
            value: value.into(),
            ttl: None,
        };
        let r: KvWriteResult = self
            .client()
            .call(Method::PUT, &format!("/v1/kv{key}"), Some(&body))
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
        r.revision
    }

    /// Waits until machine `i`'s own copy (a stale read) holds every key of
    /// `want` with its value.
    pub async fn must_hold(&self, i: usize, want: &BTreeMap<String, String>) {
        let name = self.machines[i].name.clone();
        wait_for(
            &format!("{name} to hold all {} acknowledged keys", want.len()),
            Duration::from_secs(30),
            || async {
                let r = self
                    .http
                    .get(self.api_url(i, "/v1/kv?prefix=/&stale=true"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let list: KvList = r.json().await.map_err(|e| e.to_string())?;
                let got: BTreeMap<String, String> =
                    list.nodes.into_iter().map(|n| (n.key, n.value)).collect();
                let missing: Vec<&String> = want
                    .keys()
                    .filter(|k| got.get(*k) != want.get(*k))
                    .collect();
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(format!("missing or wrong: {missing:?}"))
                }
            },
        )
        .await
    }

    /// Waits until the leader's `/master/tasks` shows `task` in `state`
    /// (e.g. `TASK_FINISHED`).
    pub async fn must_task_state(&self, task: &str, state: &str, within: Duration) {
        wait_for(&format!("task {task} in {state}"), within, || async {
            let leader = self.leader_index().await?;
            let r = self
                .http
                .get(self.api_url(leader, "/master/tasks"))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            let found = v["tasks"]
                .as_array()
                .and_then(|ts| ts.iter().find(|t| t["id"] == task))
                .map(|t| t["state"].clone());
            match found {
                Some(s) if s == state => Ok(()),
                other => Err(format!("state {other:?}")),
            }
        })
        .await
    }

    /// The leading machine's index right now, per the first server that knows.
    pub async fn leader_index(&self) -> Result<usize, String> {
        for (i, m) in self.machines.iter().enumerate() {
            if m.server_id.is_none() || !m.is_running() {
                continue;
            }
            if let Ok(v) = self.cluster_view(i).await {
                if let Some(l) = v.leader {
                    if let Some(j) = self
                        .machines
                        .iter()
                        .position(|m| m.server_id == Some(l.id) && m.is_running())
                    {
                        return Ok(j);
                    }
                }
            }
        }
        Err("no running server knows a running leader".into())
    }
}

/// SIGKILLs every task (process group) and supervisor whose pid is
/// recorded under `data_dir/agent/sandboxes/*/`: they run in sessions of
/// their own and outlive the node by design.
fn kill_tasks(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("agent").join("sandboxes")) else {
        return;
    };
    for e in entries.flatten() {
        for (file, group) in [("task.pid", true), ("supervisor.pid", false)] {
            let pid = std::fs::read_to_string(e.path().join(file))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|p| *p > 1) {
                // SAFETY: kill(2) on pids this cluster's agents recorded for their tasks.
                unsafe { libc::kill(if group { -pid } else { pid }, libc::SIGKILL) };
            }
        }
    }
}

/// SIGKILLs every unit process a machine's agent recorded under
/// `data_dir/agent/units/*/`: the supervisors first (so none restarts its
/// unit), then the process groups of the units' main and control
/// processes. Cluster's drop does this for every machine; a test may do it
/// for one machine to simulate a power cut.
pub fn kill_units(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("agent").join("units")) else {
        return;
    };
    let dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    for d in &dirs {
        let supervisor = std::fs::read_to_string(d.join("supervisor.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(pid) = supervisor.filter(|p| *p > 1) {
            // SAFETY: kill(2) on a pid this cluster's agent recorded for a unit's supervisor.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for d in &dirs {
        let status: serde_json::Value = std::fs::read(d.join("status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for key in ["main_pid", "control_pid"] {
            if let Some(pid) = status[key].as_i64().filter(|p| *p > 1) {
                // SAFETY: each unit command leads its own process group.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.machines.len() {
            self.kill(i);
        }
        for m in &self.machines {
            kill_tasks(&m.data_dir);
            kill_units(&m.data_dir);
        }
        if std::thread::panicking() {
            for (i, m) in self.machines.iter().enumerate() {
                eprintln!(
                    "===== log of {} ({}) =====\n{}",
                    m.name,
                    m.ip,
                    self.log_tail(i, 40)
                );
            }
        }
    }
}

/// Runs `python3 SCRIPT ARGS...` (bounded by `timeout_secs`, off the async
/// runtime) and returns its stdout; panics with stdout, stderr and
/// `context` when it fails.
pub async fn run_python(
    script: &Path,
    args: &[String],
    timeout_secs: u32,
    context: &str,
) -> String {
    let (script, args) = (script.to_path_buf(), args.to_vec());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .arg(timeout_secs.to_string())
            .arg("python3")
            .arg(&script)
            .args(&args)
            .output()
            .expect("run python3")
    })
    .await
    .expect("the python3 runner");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the script failed:\n{stdout}\n{stderr}\n{context}"
    );
    stdout
}
