//! The handle on a running local cluster: the node processes `up` started,
//! waiting until they have formed a cluster, watching them in the foreground,
//! and stopping them (SIGTERM, then SIGKILL); also Ctrl-C/SIGTERM for `up`
//! itself. It never starts a process (that is [`super::spawn`]), never signals
//! a pid it did not spawn, and leaves the wording of progress to
//! [`super::progress`].

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use corral_api::native::ClusterView;
use corral_api::Client;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;

use super::progress::{log_tail, missing, registered_agents, Progress};
use super::UpError;
use crate::cluster_file::ClusterFile;
use crate::config::MachinePlan;

/// How often `up` asks the servers how far the cluster got.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// After this long with no news, `up` says what it is still waiting for.
const QUIET_FOR: Duration = Duration::from_secs(5);
/// How long a node gets to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Log lines shown when a node dies.
const TAIL_LINES: usize = 20;

/// A running local cluster started by [`super::start`]. Dropping it without
/// [`Cluster::stop`] or [`Cluster::detach`] kills its processes (SIGKILL).
#[derive(Debug)]
pub struct Cluster {
    pub plan: Vec<MachinePlan>,
    /// True when the machines share 127.0.0.1 with port offsets.
    pub fallback: bool,
    pub data_dir: PathBuf,
    /// When the processes were started, ms since the epoch.
    pub started_at_ms: u64,
    /// From the first spawn to ready (leader known, every agent active).
    pub ready_in: Duration,
    /// The cluster as the servers described it when it became ready.
    pub view: ClusterView,
    children: Vec<Node>,
    /// Ctrl-C/SIGTERM, when the caller asked `up` to handle them.
    signals: Option<Signals>,
    detached: bool,
}

#[derive(Debug)]
struct Node {
    name: String,
    child: Child,
    log: PathBuf,
    /// Where this run's part of the log starts.
    log_from: u64,
    /// Set once the process has been reaped.
    exited: Option<std::process::ExitStatus>,
}

/// A node process that has exited.
struct Exited {
    name: String,
    status: String,
    log: PathBuf,
    log_from: u64,
}

/// Why the foreground `up` stops waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C (`SIGINT`) or `SIGTERM`.
    Signal(&'static str),
    /// Every node exited and cluster.json is gone: `corral down` did it.
    StoppedElsewhere,
    /// Every node exited on its own.
    AllExited,
}

impl Cluster {
    /// A cluster of `plan` with no processes yet; `signals` are Ctrl-C/SIGTERM
    /// when the caller asked `up` to handle them.
    pub(super) fn new(
        plan: Vec<MachinePlan>,
        fallback: bool,
        data_dir: PathBuf,
        started_at_ms: u64,
        signals: Option<Signals>,
    ) -> Cluster {
        Cluster {
            plan,
            fallback,
            data_dir,
            started_at_ms,
            ready_in: Duration::ZERO,
            view: empty_view(),
            children: Vec::new(),
            signals,
            detached: false,
        }
    }

    /// Starts one node process per machine, in plan order. When one cannot be
    /// started, those already running stay in `self` (dropping it kills them).
    pub(super) fn spawn_nodes(&mut self, exe: &Path) -> Result<(), UpError> {
        for m in &self.plan {
            let (child, log_from) = super::spawn::spawn(exe, m)?;
            self.children.push(Node {
                name: m.name.clone(),
                child,
                log: m.log_path(),
                log_from,
                exited: None,
            });
        }
        Ok(())
    }

    /// Server master API endpoints (`ip:port`).
    pub fn endpoints(&self) -> Vec<String> {
        self.plan
            .iter()
            .filter(|m| m.is_server())
            .map(|m| m.master_addr())
            .collect()
    }

    /// Pids of the node processes, in machine order.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|n| n.child.id()).collect()
    }

    /// Leaves the processes running (`up -d`); `corral down` stops them.
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// Polls the servers until ready; fails early when a node exits, on a
    /// signal, or at the deadline.
    pub(super) async fn wait_ready(
        &mut self,
        timeout: Duration,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<ClusterView, UpError> {
        let client = Client::with_timeout(self.endpoints(), Duration::from_secs(1));
        let deadline = Instant::now() + timeout;
        let mut last_leader: Option<(u64, u64)> = None;
        let mut last_agents = 0usize;
        let mut last_news = Instant::now();
        let mut last_error = String::from("no answer yet");
        let mut last_view: Option<ClusterView> = None;
        let total = self.plan.len();
        loop {
            if let Some(gone) = self.reap().into_iter().next() {
                return Err(UpError::NodeExited {
                    machine: gone.name,
                    status: gone.status,
                    tail: log_tail(&gone.log, gone.log_from, TAIL_LINES),
                    log: gone.log,
                });
            }
            match tokio::time::timeout(Duration::from_secs(2), client.cluster()).await {
                Ok(Ok(view)) => {
                    if let Some(l) = &view.leader {
                        if last_leader != Some((l.id, view.term)) {
                            last_leader = Some((l.id, view.term));
                            last_news = Instant::now();
                            let machine = self
                                .plan
                                .iter()
                                .find(|m| m.server_id == Some(l.id))
                                .map_or_else(|| format!("server {}", l.id), |m| m.name.clone());
                            progress(&Progress::Leader {
                                machine,
                                addr: l.api_addr.clone(),
                                term: view.term,
                            });
                        }
                    }
                    let registered = registered_agents(&self.plan, &view, self.started_at_ms);
                    if registered != last_agents {
                        last_agents = registered;
                        last_news = Instant::now();
                        progress(&Progress::Agents { registered, total });
                    }
                    if view.leader.is_some() && registered == total {
                        return Ok(view);
                    }
                    last_view = Some(view);
                }
                Ok(Err(corral_api::ClientError::Unreachable { last, .. })) => last_error = last,
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = "the servers did not answer within 2s".to_string(),
            }
            let now = Instant::now();
            if now >= deadline || now.duration_since(last_news) >= QUIET_FOR {
                let what = missing(
                    &self.plan,
                    last_view.as_ref(),
                    self.started_at_ms,
                    &last_error,
                );
                if now >= deadline {
                    return Err(UpError::Timeout {
                        secs: timeout.as_secs(),
                        missing: what,
                        logs: self
                            .data_dir
                            .join("mN")
                            .join("node.log")
                            .display()
                            .to_string(),
                    });
                }
                last_news = now;
                progress(&Progress::Waiting { missing: what });
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY.min(deadline - now)) => {}
                _ = Signals::recv(&mut self.signals) => return Err(UpError::Interrupted),
            }
        }
    }

    /// Waits (foreground `up`) for Ctrl-C or SIGTERM, reporting machines that
    /// exit on their own meanwhile.
    pub async fn wait_for_stop(&mut self) -> StopReason {
        if self.signals.is_none() {
            self.signals = Signals::new().ok();
        }
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                name = Signals::recv(&mut self.signals) => return StopReason::Signal(name),
                _ = tick.tick() => {}
            }
            for gone in self.reap() {
                if !crate::cluster_file::path(&self.data_dir).exists() {
                    continue;
                }
                eprintln!(
                    "corral: {} exited ({}); last lines of {}:",
                    gone.name,
                    gone.status,
                    gone.log.display()
                );
                for line in log_tail(&gone.log, gone.log_from, TAIL_LINES) {
                    eprintln!("    {line}");
                }
            }
            if self.children.iter().all(|n| n.exited.is_some()) {
                return if crate::cluster_file::path(&self.data_dir).exists() {
                    StopReason::AllExited
                } else {
                    StopReason::StoppedElsewhere
                };
            }
        }
    }

    /// Reaps exited children; returns those newly gone.
    fn reap(&mut self) -> Vec<Exited> {
        let mut gone = Vec::new();
        for n in self.children.iter_mut().filter(|n| n.exited.is_none()) {
            if let Ok(Some(status)) = n.child.try_wait() {
                n.exited = Some(status);
                gone.push(Exited {
                    name: n.name.clone(),
                    status: status.to_string(),
                    log: n.log.clone(),
                    log_from: n.log_from,
                });
            }
        }
        gone
    }

    /// Stops every machine: SIGTERM, up to [`STOP_GRACE`] to exit, then
    /// SIGKILL; removes cluster.json. Returns one line per machine.
    pub async fn stop(mut self) -> Vec<String> {
        self.detached = true; // Drop has nothing left to do.
        let mut lines = Vec::new();
        self.reap();
        for n in self.children.iter().filter(|n| n.exited.is_none()) {
            signal_child(&n.child, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && self.children.iter().any(|n| n.exited.is_none()) {
            tokio::time::sleep(Duration::from_millis(25)).await;
            self.reap();
        }
        for n in self.children.iter_mut() {
            let pid = n.child.id();
            match n.exited {
                Some(status) => lines.push(format!("stopped {} (pid {pid}, {status})", n.name)),
                None => {
                    let _ = n.child.kill();
                    let _ = n.child.wait();
                    lines.push(format!(
                        "killed {} (pid {pid}): still running {}s after SIGTERM",
                        n.name,
                        STOP_GRACE.as_secs()
                    ));
                }
            }
        }
        let _ = ClusterFile::remove(&self.data_dir);
        lines
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        for n in self.children.iter_mut().filter(|n| n.exited.is_none()) {
            let _ = n.child.kill();
            let _ = n.child.wait();
        }
        let _ = ClusterFile::remove(&self.data_dir);
    }
}

fn signal_child(child: &Child, sig: libc::c_int) {
    // The child is not reaped yet, so its pid cannot have been reused.
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Ctrl-C and SIGTERM as one stream.
#[derive(Debug)]
pub(super) struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    pub(super) fn new() -> Result<Signals, UpError> {
        let err = |e: std::io::Error| UpError::Signals(e.to_string());
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(err)?,
            term: signal(SignalKind::terminate()).map_err(err)?,
        })
    }

    /// The next signal's name; never resolves when `signals` is `None`.
    async fn recv(signals: &mut Option<Signals>) -> &'static str {
        match signals {
            Some(s) => tokio::select! {
                _ = s.int.recv() => "interrupted",
                _ = s.term.recv() => "terminated",
            },
            None => std::future::pending().await,
        }
    }
}

/// What the cluster looks like before any server has answered.
fn empty_view() -> ClusterView {
    ClusterView {
        answered_by: 0,
        leader: None,
        term: 0,
        revision: 0,
        servers: Vec::new(),
        machines: Vec::new(),
    }
}
