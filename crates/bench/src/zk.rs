//! A 3-member ZooKeeper 3.8 ensemble (Debian's `zookeeper` package) as
//! child JVMs running `QuorumPeerMain` on 127.0.0.31–33 (client 2181,
//! quorum 2888, election 3888), each with a generated zoo.cfg and its own
//! data dir in a fresh temp dir, spoken to with the small client in
//! [`client`].
//!
//! Invariants: tickTime, init/sync limits and forceSync stay the Debian
//! defaults (2000 ms, 10, 5, fsync on); the JVM gets no flags beyond what
//! Debian's zkServer.sh passes (classpath and the log dir). The only
//! settings added are `maxClientCnxns=0` (the default 60 per address would
//! refuse the 64-client level), `admin.enableServer=false` (the admin
//! server binds 0.0.0.0:8080) and the `srvr`/`stat`/`mntr` four-letter
//! words. Every JVM is SIGKILLed on drop.

pub mod client;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::driver::{self, first_ack, wait_for, Ack, Stats};
use crate::process;
use crate::suite::System;
use client::{four_letter, ZkConn};

/// The members' addresses.
pub const IPS: [&str; 3] = ["127.0.0.31", "127.0.0.32", "127.0.0.33"];
const CLIENT_PORT: u16 = 2181;
/// Session timeout the bench asks for (the server clamps it to 2–20 ticks).
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const READY_WITHIN: Duration = Duration::from_secs(90);
const FAILOVER_WITHIN: Duration = Duration::from_secs(30);
/// Parent of every znode the bench creates.
const ROOT: &str = "/bench";
/// The server's jar; its manifest's Class-Path names the other jars.
const JAR: &str = "/usr/share/java/zookeeper.jar";
/// An SLF4J binding so the servers' logs land in their log files (without
/// one SLF4J logs nothing); used when installed.
const SLF4J_SIMPLE: &str = "/usr/share/java/slf4j-simple.jar";

/// Where the Java runtime and ZooKeeper's jars are.
#[derive(Debug, Clone)]
pub struct Install {
    pub java: PathBuf,
    pub classpath: String,
}

/// ZooKeeper as Debian installs it, if it is installed; else why not.
pub fn find() -> Result<Install, String> {
    let java = process::find_in_path("java").ok_or("`java` not on PATH")?;
    if !Path::new(JAR).is_file() {
        return Err(format!("{JAR} not found"));
    }
    let mut classpath = JAR.to_string();
    if Path::new(SLF4J_SIMPLE).is_file() {
        classpath = format!("{classpath}:{SLF4J_SIMPLE}");
    }
    Ok(Install { java, classpath })
}

/// What the `srvr` four-letter word says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srvr {
    pub version: String,
    /// `leader`, `follower` or `standalone`.
    pub mode: String,
    pub zxid: u64,
}

impl Srvr {
    /// The ZAB epoch: the high 32 bits of the zxid, bumped by every election.
    pub fn epoch(&self) -> u64 {
        self.zxid >> 32
    }
}

/// Parses a `srvr` answer. Pure.
pub fn parse_srvr(text: &str) -> Result<Srvr> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(str::trim)
            .ok_or_else(|| anyhow!("no {name:?} in srvr answer: {:?}", text.trim()))
    };
    let zxid = field("Zxid")?;
    let zxid = u64::from_str_radix(zxid.trim_start_matches("0x"), 16)
        .with_context(|| format!("Zxid {zxid:?}"))?;
    let version = field("Zookeeper version")?;
    let version = version
        .split(['-', ','])
        .next()
        .unwrap_or(version)
        .to_string();
    Ok(Srvr {
        version,
        mode: field("Mode")?.to_string(),
        zxid,
    })
}

/// The zoo.cfg of member `id` (1-based). Pure.
fn zoo_cfg(id: usize, data_dir: &Path) -> String {
    let mut cfg = format!(
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPortAddress={}\nclientPort={CLIENT_PORT}\n\
         maxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,stat,mntr\n",
        data_dir.display(),
        IPS[id - 1]
    );
    for (i, ip) in IPS.iter().enumerate() {
        cfg.push_str(&format!("server.{}={ip}:2888:3888\n", i + 1));
    }
    cfg
}

struct Member {
    name: String,
    cfg: PathBuf,
    log: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

/// A running ZooKeeper ensemble.
pub struct ZooKeeper {
    install: Install,
    version: String,
    _dir: tempfile::TempDir,
    members: Vec<Member>,
}

impl ZooKeeper {
    /// Writes the configs, starts 3 members, waits for a leader with two
    /// followers, and creates the bench's parent znode.
    pub async fn start(install: Install) -> Result<ZooKeeper> {
        let dir = tempfile::Builder::new().prefix("bench-zk-").tempdir()?;
        let mut members = Vec::new();
        for (i, ip) in IPS.iter().enumerate() {
            let name = format!("zk{}", i + 1);
            let home = dir.path().join(&name);
            let data = home.join("data");
            std::fs::create_dir_all(&data)?;
            std::fs::write(data.join("myid"), format!("{}\n", i + 1))?;
            let cfg = home.join("zoo.cfg");
            std::fs::write(&cfg, zoo_cfg(i + 1, &data))?;
            members.push(Member {
                log: dir.path().join(format!("{name}.log")),
                name,
                cfg,
                addr: format!("{ip}:{CLIENT_PORT}").parse()?,
                child: None,
            });
        }
        let mut zk = ZooKeeper {
            install,
            version: "?".into(),
            _dir: dir,
            members,
        };
        for i in 0..IPS.len() {
            zk.spawn(i)?;
        }
        let leader = zk.wait_ready().await?;
        zk.version = zk.srvr(leader).await?.version;
        let mut c = ZkConn::connect(zk.members[leader].addr, SESSION_TIMEOUT).await?;
        c.ensure(ROOT).await?;
        c.close().await?;
        Ok(zk)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let m = &self.members[i];
        let mut cmd = Command::new(&self.install.java);
        cmd.arg("-cp")
            .arg(&self.install.classpath)
            .arg(format!(
                "-Dzookeeper.log.dir={}",
                m.log.parent().unwrap_or(Path::new(".")).display()
            ))
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&m.cfg);
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

    async fn srvr(&self, i: usize) -> Result<Srvr> {
        let text = four_letter(self.members[i].addr, "srvr").await?;
        parse_srvr(&text).with_context(|| self.members[i].name.clone())
    }

    /// Index of the one leader, once every running member serves as
    /// leader or follower.
    async fn serving_leader(&self) -> Result<usize> {
        let mut leaders = Vec::new();
        for i in self.running() {
            let s = self.srvr(i).await?;
            match s.mode.as_str() {
                "leader" => leaders.push(i),
                "follower" => {}
                other => bail!("{} is {other}", self.members[i].name),
            }
        }
        match leaders[..] {
            [l] => Ok(l),
            _ => bail!("{} leaders", leaders.len()),
        }
    }

    async fn wait_ready(&self) -> Result<usize> {
        wait_for(
            "zookeeper: one leader, every other member following",
            READY_WITHIN,
            || self.serving_leader(),
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

/// One probe: a new session on `addr`, then one create.
async fn connect_and_create(addr: SocketAddr, path: String) -> Result<()> {
    let mut c = ZkConn::connect(addr, SESSION_TIMEOUT).await?;
    c.create(&path, crate::VALUE.as_bytes()).await
}

impl System for ZooKeeper {
    fn label(&self) -> String {
        format!("zookeeper {}", self.version)
    }

    fn member_pids(&self) -> Vec<u32> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref().map(Child::id))
            .collect()
    }

    async fn term(&self) -> Result<u64> {
        let leader = self.serving_leader().await?;
        Ok(self.srvr(leader).await?.epoch())
    }

    /// Each client gets its own session on the leader, opened before the
    /// clock starts and closed after it stops.
    async fn writes(&self, clients: usize, duration: Duration, tag: &str) -> Result<Stats> {
        let leader = self.serving_leader().await?;
        let addr = self.members[leader].addr;
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            conns.push(Mutex::new(ZkConn::connect(addr, SESSION_TIMEOUT).await?));
        }
        let conns = Arc::new(conns);
        let tag = tag.to_string();
        let op_conns = conns.clone();
        let stats = driver::run(clients, duration, move |c, seq| {
            let (conns, path) = (op_conns.clone(), format!("{ROOT}/{tag}-c{c}-{seq}"));
            async move {
                conns[c]
                    .lock()
                    .await
                    .create(&path, crate::VALUE.as_bytes())
                    .await
            }
        })
        .await;
        if let Ok(conns) = Arc::try_unwrap(conns) {
            for c in conns {
                let _ = tokio::time::timeout(Duration::from_secs(2), c.into_inner().close()).await;
            }
        }
        Ok(stats)
    }

    async fn failover(&mut self, round: usize) -> Result<Ack> {
        let leader = self.wait_ready().await?;
        let survivors: Vec<SocketAddr> = self
            .running()
            .filter(|i| *i != leader)
            .map(|i| self.members[i].addr)
            .collect();
        self.kill(leader);
        let since = Instant::now();
        let ack = first_ack(since, FAILOVER_WITHIN, |n| {
            connect_and_create(
                survivors[n as usize % survivors.len()],
                format!("{ROOT}/failover-r{round}-p{n}"),
            )
        })
        .await;
        self.spawn(leader)?;
        self.wait_ready().await?;
        ack
    }
}

impl Drop for ZooKeeper {
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
    fn srvr_answers() {
        let text = "Zookeeper version: 3.8.0-debian--1, built on 2022-07-01 00:00 UTC\n\
                    Latency min/avg/max: 0/0.0/0\nReceived: 4\nSent: 3\nConnections: 1\nOutstanding: 0\n\
                    Zxid: 0x300000002\nMode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n";
        let s = parse_srvr(text).unwrap();
        assert_eq!(
            s,
            Srvr {
                version: "3.8.0".into(),
                mode: "leader".into(),
                zxid: 0x3_0000_0002
            }
        );
        assert_eq!(s.epoch(), 3);
        let down = "This ZooKeeper instance is not currently serving requests\n";
        assert!(parse_srvr(down).is_err());
    }

    #[test]
    fn config_of_member_2() {
        let cfg = zoo_cfg(2, Path::new("/d/zk2/data"));
        for line in [
            "dataDir=/d/zk2/data",
            "clientPortAddress=127.0.0.32",
            "clientPort=2181",
            "maxClientCnxns=0",
            "server.1=127.0.0.31:2888:3888",
            "server.3=127.0.0.33:2888:3888",
        ] {
            assert!(
                cfg.lines().any(|l| l == line),
                "{line} missing from:\n{cfg}"
            );
        }
        assert!(
            !cfg.contains("forceSync"),
            "fsync stays ZooKeeper's default"
        );
    }
}
