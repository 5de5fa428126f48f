//! `corral sim-agents` as a child process of the bench (SIGKILLed on
//! drop), and what the leader says about the agents it has admitted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use corral_testkit::Cluster;
use serde_json::Value;
use tokio::time::Instant;

use super::SIM_ATTRIBUTE;
use crate::process;

/// A running `corral sim-agents`, SIGKILLed on drop.
pub struct SimAgents {
    child: Option<Child>,
    pub log: PathBuf,
    pub count: u32,
}

/// How to start `corral sim-agents`.
#[derive(Debug, Clone)]
pub struct SimSpec {
    pub count: u32,
    pub first_ip: String,
    pub cpus: f64,
    pub mem_mb: u64,
    pub heartbeat_ms: u64,
}

impl SimAgents {
    /// Starts `bin sim-agents` registering with `servers`, output to `log`.
    pub fn start(bin: &Path, servers: &[String], spec: &SimSpec, log: &Path) -> Result<SimAgents> {
        let mut cmd = Command::new(bin);
        cmd.arg("sim-agents")
            .arg(format!("--count={}", spec.count))
            .arg(format!("--servers={}", servers.join(",")))
            .arg(format!("--first-ip={}", spec.first_ip))
            .arg(format!("--cpus={}", spec.cpus))
            .arg(format!("--mem-mb={}", spec.mem_mb))
            .arg(format!("--heartbeat-ms={}", spec.heartbeat_ms));
        let child = process::spawn_logged(cmd, log)?;
        Ok(SimAgents {
            child: Some(child),
            log: log.to_path_buf(),
            count: spec.count,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails when the process has exited (saying how, with its log).
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(c) = &mut self.child {
            if let Ok(Some(status)) = c.try_wait() {
                bail!(
                    "corral sim-agents exited ({status}):\n{}",
                    process::log_tail(&self.log, 20)
                );
            }
        }
        Ok(())
    }
}

impl Drop for SimAgents {
    fn drop(&mut self) {
        process::kill(&mut self.child);
        if std::thread::panicking() {
            eprintln!(
                "===== log of corral sim-agents =====\n{}",
                process::log_tail(&self.log, 40)
            );
        }
    }
}

/// `(all agents, simulated agents)` the leader lists as active in
/// `/master/slaves`.
pub async fn active_agents(c: &Cluster) -> Result<(usize, usize)> {
    let leader = c.leader_index().await.map_err(|e| anyhow!(e))?;
    let url = c.api_url(leader, "/master/slaves");
    let v: Value = c
        .http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: not JSON"))?;
    let slaves = v["slaves"]
        .as_array()
        .ok_or_else(|| anyhow!("GET {url}: no slaves list"))?;
    let active = slaves.iter().filter(|s| s["active"] == true);
    let sims = active
        .clone()
        .filter(|s| s["attributes"][SIM_ATTRIBUTE] == "true")
        .count();
    Ok((active.count(), sims))
}

/// Waits until the leader lists `total` active agents, `sims` of them
/// simulated; fails after `within` (or when `sim` exits).
pub async fn wait_active(
    c: &Cluster,
    sim: &mut SimAgents,
    total: usize,
    sims: usize,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        sim.check_alive()?;
        let last = match active_agents(c).await {
            Ok((t, s)) if t >= total && s >= sims => return Ok(()),
            Ok((t, s)) => format!("{t} active, {s} of them simulated"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!("timed out after {within:?} waiting for {total} active agents ({sims} simulated); last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
