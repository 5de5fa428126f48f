//! A 3-member etcd 3.4 cluster (Debian's `etcd-server`) as child processes
//! on 127.0.0.21–23 (client port 2379, peer port 2380), each with its own
//! data dir in a fresh temp dir, spoken to through etcd's v3 JSON gateway.
//!
//! Invariants: only the addresses, names and data dirs are set on the
//! command line — fsync, heartbeat (100 ms) and election timeout (1 s) stay
//! etcd's defaults; every member is SIGKILLed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use tokio::time::Instant;

use crate::driver::{self, first_ack, wait_for, Ack, Stats};
use crate::process;
use crate::suite::System;

/// The members' addresses.
pub const IPS: [&str; 3] = ["127.0.0.21", "127.0.0.22", "127.0.0.23"];
const CLIENT_PORT: u16 = 2379;
const PEER_PORT: u16 = 2380;
/// Bound on a first start or a restart becoming healthy.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Bound on a failover reaching its first acknowledged write.
const FAILOVER_WITHIN: Duration = Duration::from_secs(30);

/// The `etcd` binary on `PATH`, if installed.
pub fn find() -> Option<PathBuf> {
    process::find_in_path("etcd")
}

struct Member {
    name: String,
    ip: &'static str,
    log: PathBuf,
    child: Option<Child>,
}

/// A running etcd cluster.
pub struct Etcd {
    bin: PathBuf,
    version: String,
    dir: tempfile::TempDir,
    members: Vec<Member>,
    http: reqwest::Client,
}

/// What `/v3/maintenance/status` says about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub member_id: u64,
    pub leader: u64,
    pub raft_term: u64,
}

/// etcd's gateway writes uint64 as JSON strings.
fn uint(v: &Value, what: &str) -> Result<u64> {
    match v {
        Value::String(s) => s.parse().with_context(|| format!("{what}: {s:?}")),
        Value::Number(n) => n.as_u64().ok_or_else(|| anyhow!("{what}: {n}")),
        other => bail!("{what} missing or not a number: {other}"),
    }
}

/// Parses a `/v3/maintenance/status` answer. Pure.
pub fn parse_status(v: &Value) -> Result<Status> {
    Ok(Status {
        member_id: uint(&v["header"]["member_id"], "header.member_id")?,
        leader: uint(&v["leader"], "leader")?,
        raft_term: uint(&v["raftTerm"], "raftTerm")?,
    })
}

/// The HTTP client for etcd's gateway: no proxy, no redirects, bounded.
fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(driver::OP_TIMEOUT)
        .tcp_nodelay(true)
        .build()?)
}

/// `PUT key value` through the member at `url` (`http://ip:2379`); etcd
/// forwards the proposal to its leader. Keys and values go as base64.
pub async fn put(http: &reqwest::Client, url: &str, key: &str, value: &str) -> Result<()> {
    let body = format!(
        r#"{{"key":"{}","value":"{}"}}"#,
        corral_api::base64::encode(key.as_bytes()),
        corral_api::base64::encode(value.as_bytes())
    );
    let r = http
        .post(format!("{url}/v3/kv/put"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("put {key} via {url}"))?;
    let status = r.status();
    if !status.is_success() {
        let text = r.text().await.unwrap_or_default();
        bail!("put {key} via {url}: {status}: {}", text.trim());
    }
    Ok(())
}

impl Etcd {
    /// Starts 3 members and waits until they agree on a leader.
    pub async fn start(bin: &Path) -> Result<Etcd> {
        let out = Command::new(bin)
            .arg("--version")
            .output()
            .with_context(|| format!("{} --version", bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix("etcd Version:"))
            .map_or("?".to_string(), |v| v.trim().to_string());
        let dir = tempfile::Builder::new().prefix("bench-etcd-").tempdir()?;
        let members = IPS
            .iter()
            .enumerate()
            .map(|(i, ip)| Member {
                name: format!("e{}", i + 1),
                ip,
                log: dir.path().join(format!("e{}.log", i + 1)),
                child: None,
            })
            .collect();
        let mut etcd = Etcd {
            bin: bin.to_path_buf(),
            version,
            dir,
            members,
            http: http_client()?,
        };
        for i in 0..IPS.len() {
            etcd.spawn(i)?;
        }
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    fn client_url(&self, i: usize) -> String {
        format!("http://{}:{CLIENT_PORT}", self.members[i].ip)
    }

    /// (Re)starts member `i` on its data dir. After the first start etcd
    /// ignores the `--initial-*` flags and rejoins from its data dir.
    fn spawn(&mut self, i: usize) -> Result<()> {
        let cluster: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}=http://{}:{PEER_PORT}", m.name, m.ip))
            .collect();
        let m = &self.members[i];
        let mut cmd = Command::new(&self.bin);
        cmd.arg(format!("--name={}", m.name))
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join(&m.name).display()
            ))
            .arg(format!(
                "--listen-client-urls=http://{}:{CLIENT_PORT}",
                m.ip
            ))
            .arg(format!(
                "--advertise-client-urls=http://{}:{CLIENT_PORT}",
                m.ip
            ))
            .arg(format!("--listen-peer-urls=http://{}:{PEER_PORT}", m.ip))
            .arg(format!(
                "--initial-advertise-peer-urls=http://{}:{PEER_PORT}",
                m.ip
            ))
            .arg(format!("--initial-cluster={}", cluster.join(",")))
            .arg(format!(
                "--initial-cluster-token=corral-bench-{}",
                std::process::id()
            ))
            .arg("--initial-cluster-state=new");
        let child = process::spawn_logged(cmd, &m.log)?;
        self.members[i].child = Some(child);
        Ok(())
    }

    fn kill(&mut self, i: usize) {
        process::kill(&mut self.members[i].child);
    }

    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.members.len()).filter(|i| self.members[*i].child.is_some())
    }

    /// `/v3/maintenance/status` of member `i`.
    pub async fn status(&self, i: usize) -> Result<Status> {
        let url = format!("{}/v3/maintenance/status", self.client_url(i));
        let r = self
            .http
            .post(&url)
            .body("{}")
            .timeout(Duration::from_secs(2))
            .send()
            .await?;
        let v: Value = r.error_for_status()?.json().await?;
        parse_status(&v).with_context(|| format!("status of {}", self.members[i].name))
    }

    /// Index of the leader every running member agrees on, once each of
    /// them is healthy.
    async fn agreed_leader(&self) -> Result<usize> {
        let mut leader: Option<u64> = None;
        let mut ids = Vec::new();
        for i in self.running() {
            let url = format!("{}/health", self.client_url(i));
            let health: Value = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await?
                .json()
                .await?;
            if health["health"] != "true" {
                bail!("{} not healthy: {health}", self.members[i].name);
            }
            let s = self.status(i).await?;
            if s.leader == 0 {
                bail!("{} knows no leader", self.members[i].name);
            }
            if let Some(l) = leader.filter(|l| *l != s.leader) {
                bail!("members disagree on the leader ({l:x} vs {:x})", s.leader);
            }
            leader = Some(s.leader);
            ids.push((i, s.member_id));
        }
        let leader = leader.ok_or_else(|| anyhow!("no running member"))?;
        ids.iter()
            .find(|(_, id)| *id == leader)
            .map(|(i, _)| *i)
            .ok_or_else(|| anyhow!("leader {leader:x} is not a running member"))
    }

    async fn wait_ready(&self) -> Result<usize> {
        wait_for(
            "etcd: every member healthy, one agreed leader",
            READY_WITHIN,
            || self.agreed_leader(),
        )
        .await
        .map_err(|e| {
            anyhow!(
                "{e:#}\n--- last lines of {} ---\n{}",
                self.members[0].name,
                process::log_tail(&self.members[0].log, 20)
            )
        })
    }
}

impl System for Etcd {
    fn label(&self) -> String {
        format!("etcd {}", self.version)
    }

    fn member_pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref().map(Child::id))
            .collect()
    }

    async fn term(&self) -> Result<u64> {
        let leader = self.agreed_leader().await?;
        Ok(self.status(leader).await?.raft_term)
    }

    async fn writes(&self, clients: usize, duration: Duration, tag: &str) -> Result<Stats> {
        let leader = self.agreed_leader().await?;
        let url = self.client_url(leader);
        let http = self.http.clone();
        let tag = tag.to_string();
        Ok(driver::run(clients, duration, move |c, seq| {
            let (http, url, key) = (
                http.clone(),
                url.clone(),
                format!("/bench/{tag}/c{c}/{seq}"),
            );
            async move { put(&http, &url, &key, crate::VALUE).await }
        })
        .await)
    }

    async fn failover(&mut self, round: usize) -> Result<Ack> {
        let leader = self.wait_ready().await?;
        let survivors: Vec<String> = self
            .running()
            .filter(|i| *i != leader)
            .map(|i| self.client_url(i))
            .collect();
        self.kill(leader);
        let since = Instant::now();
        let http = self.http.clone();
        let ack = first_ack(since, FAILOVER_WITHIN, |n| {
            let (http, url) = (
                http.clone(),
                survivors[n as usize % survivors.len()].clone(),
            );
            async move {
                put(
                    &http,
                    &url,
                    &format!("/bench/failover/r{round}/p{n}"),
                    crate::VALUE,
                )
                .await
            }
        })
        .await;
        self.spawn(leader)?;
        self.wait_ready().await?;
        ack
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_as_etcd_3_4_writes_it() {
        let v: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"154313718982900942","member_id":"289217356207681098","revision":"1","raft_term":"2"},"version":"3.4.23","dbSize":"20480","leader":"289217356207681098","raftIndex":"5","raftTerm":"2","raftAppliedIndex":"5","dbSizeInUse":"16384"}"#,
        )
        .unwrap();
        let want = Status {
            member_id: 289217356207681098,
            leader: 289217356207681098,
            raft_term: 2,
        };
        assert_eq!(parse_status(&v).unwrap(), want);
        let no_term: Value =
            serde_json::from_str(r#"{"header":{"member_id":"1"},"leader":"1"}"#).unwrap();
        assert!(parse_status(&no_term)
            .unwrap_err()
            .to_string()
            .contains("raftTerm"));
    }
}
