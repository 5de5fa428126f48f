//! corral under the same measurements, through the test kit: a real
//! 3-server cluster of `corral node` processes on a loopback block of its
//! own. Writes are `PUT /v1/kv/KEY` to the leader; a 307 from a follower is
//! followed by hand (its `Location` is `//leader:5050/...`).
//!
//! Invariants: the cluster runs with the test kit's defaults, nothing tuned
//! for the bench; the test kit SIGKILLs every process on drop. Waits use the
//! test kit's `must_*` helpers, which panic with the cluster's logs after
//! their deadline (the bench runs each system in its own task to survive
//! that).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use corral_testkit::{Cluster, ClusterSpec};
use tokio::time::Instant;

use crate::driver::{self, first_ack, Ack, Stats};
use crate::suite::System;

/// Bound on bring-up and on a restarted machine rejoining.
const UP_WITHIN: Duration = Duration::from_secs(60);
const FAILOVER_WITHIN: Duration = Duration::from_secs(30);
/// 307s followed before giving up on one write.
const MAX_REDIRECTS: usize = 3;

/// A running corral cluster of 3 servers (each also an agent).
pub struct Corral {
    pub cluster: Cluster,
    http: reqwest::Client,
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(driver::OP_TIMEOUT)
        .tcp_nodelay(true)
        .build()?)
}

/// `PUT /v1/kv{key}` with `value` through `base` (`http://ip:5050`),
/// following 307s to the leader by hand.
pub async fn put(http: &reqwest::Client, base: &str, key: &str, value: &str) -> Result<()> {
    let body = serde_json::json!({ "value": value, "ttl": null }).to_string();
    let mut url = format!("{base}/v1/kv{key}");
    for _ in 0..=MAX_REDIRECTS {
        let r = http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
            // The context names the URL already.
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("PUT {url}"))?;
        let status = r.status();
        if status.is_success() {
            return Ok(());
        }
        if status != reqwest::StatusCode::TEMPORARY_REDIRECT {
            let text = r.text().await.unwrap_or_default();
            bail!("PUT {url}: {status}: {}", text.trim());
        }
        let location = r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| anyhow!("PUT {url}: 307 without Location"))?;
        url = match location.strip_prefix("//") {
            Some(rest) => format!("http://{rest}"),
            None => location.to_string(),
        };
    }
    bail!("PUT {key}: more than {MAX_REDIRECTS} redirects")
}

impl Corral {
    /// Starts a 3-machine, 3-server cluster and returns it with the time
    /// from starting the processes to a leader elected and every agent
    /// registered with it.
    pub async fn bring_up(bin: &Path) -> Result<(Corral, Duration)> {
        let t = Instant::now();
        let cluster = Cluster::start(
            bin,
            ClusterSpec {
                machines: 3,
                servers: 3,
                ..Default::default()
            },
        );
        cluster.must_leader(UP_WITHIN).await;
        cluster.must_all_agents_registered(UP_WITHIN).await;
        let took = t.elapsed();
        Ok((
            Corral {
                cluster,
                http: http_client()?,
            },
            took,
        ))
    }

    fn base(&self, i: usize) -> String {
        format!("http://{}", self.cluster.machines[i].api_addr())
    }

    async fn leader(&self) -> Result<usize> {
        self.cluster
            .leader_index()
            .await
            .map_err(|e| anyhow!("corral: {e}"))
    }
}

impl System for Corral {
    fn label(&self) -> String {
        format!("corral {}", env!("CARGO_PKG_VERSION"))
    }

    fn member_pids(&self) -> Vec<u32> {
        self.cluster
            .machines
            .iter()
            .filter_map(|m| m.pid())
            .collect()
    }

    async fn term(&self) -> Result<u64> {
        let leader = self.leader().await?;
        Ok(self
            .cluster
            .cluster_view(leader)
            .await
            .map_err(|e| anyhow!("GET /v1/cluster: {e}"))?
            .term)
    }

    async fn writes(&self, clients: usize, duration: Duration, tag: &str) -> Result<Stats> {
        let base = self.base(self.leader().await?);
        let http = self.http.clone();
        let tag = tag.to_string();
        Ok(driver::run(clients, duration, move |c, seq| {
            let (http, base, key) = (
                http.clone(),
                base.clone(),
                format!("/bench/{tag}/c{c}/{seq}"),
            );
            async move { put(&http, &base, &key, crate::VALUE).await }
        })
        .await)
    }

    async fn failover(&mut self, round: usize) -> Result<Ack> {
        let leader = self.cluster.must_leader(UP_WITHIN).await;
        let survivors: Vec<String> = (0..self.cluster.machines.len())
            .filter(|i| {
                *i != leader
                    && self.cluster.machines[*i].is_running()
                    && self.cluster.machines[*i].server_id.is_some()
            })
            .map(|i| self.base(i))
            .collect();
        self.cluster.kill(leader);
        let since = Instant::now();
        let http = self.http.clone();
        let ack = first_ack(since, FAILOVER_WITHIN, |n| {
            let (http, base) = (
                http.clone(),
                survivors[n as usize % survivors.len()].clone(),
            );
            async move {
                put(
                    &http,
                    &base,
                    &format!("/bench/failover/r{round}/p{n}"),
                    crate::VALUE,
                )
                .await
            }
        })
        .await;
        self.cluster.start_machine(leader);
        self.cluster.must_leader(UP_WITHIN).await;
        self.cluster.must_all_agents_registered(UP_WITHIN).await;
        ack
    }
}
