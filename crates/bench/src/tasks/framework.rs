//! One framework on the leader's v1 scheduler API, as the benchmarks
//! drive it (subscribe, events with deadlines, calls in the background),
//! and the pure helpers that read offers and write task infos.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use corral_testkit::scheduler::{subscribe_at, EventStream};
use corral_testkit::Cluster;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{SIM_ATTRIBUTE, TASK_CPUS, TASK_MEM_MB};

/// True for an offer of a simulated agent.
pub fn is_simulated(offer: &Value) -> bool {
    offer["attributes"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["name"] == SIM_ATTRIBUTE))
}

/// An offer's scalar resource `name` (0 if absent).
fn scalar(offer: &Value, name: &str) -> f64 {
    offer["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == name))
        .and_then(|r| r["scalar"]["value"].as_f64())
        .unwrap_or(0.0)
}

/// How many tasks of `cpus` and `mem_mb` fit in `offer`.
pub fn fit(offer: &Value, cpus: f64, mem_mb: f64) -> u64 {
    // The master compares cpus with a 1e-9 tolerance; so does this.
    let by_cpus = ((scalar(offer, "cpus") + 1e-9) / cpus).floor();
    let by_mem = (scalar(offer, "mem") / mem_mb).floor();
    by_cpus.min(by_mem).max(0.0) as u64
}

/// A throughput task: 0.01 cpus, 1 MB, no ports, `sleep 3600`.
pub fn bench_task(id: &str, agent: &Value) -> Value {
    json!({
        "name": id, "task_id": {"value": id}, "agent_id": agent,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": TASK_CPUS}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": TASK_MEM_MB}}
        ],
        "command": {"value": "sleep 3600"}
    })
}

/// ACKNOWLEDGE calls in flight at once: a framework talks over a few
/// connections (pymesos over one); unbounded, 100,000 acknowledgements
/// opened thousands and overflowed the leader's accept queue.
const ACKS_IN_FLIGHT: usize = 64;

/// One subscribed framework on the leader's v1 scheduler API.
pub struct Framework {
    pub stream: EventStream,
    pub id: String,
    base: String,
    http: reqwest::Client,
    acks: std::sync::Arc<tokio::sync::Semaphore>,
    /// True once the leader ended the stream (it lost its leadership).
    pub ended: bool,
}

impl Framework {
    /// SUBSCRIBEs to machine `leader` of `c` as a new framework called
    /// `name`, or again as framework `id` (after a leader change).
    pub async fn subscribe(
        c: &Cluster,
        leader: usize,
        name: &str,
        id: Option<&str>,
    ) -> Result<Framework> {
        let base = c.api_url(leader, "");
        let mut body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "root", "name": name, "failover_timeout": 60}}});
        if let Some(id) = id {
            body["framework_id"] = json!({ "value": id });
            body["subscribe"]["framework_info"]["id"] = json!({ "value": id });
        }
        // The test kit's subscribe panics on anything but 200 (a server
        // that just lost its leadership answers 307): here that is an error.
        let (http, at) = (c.http.clone(), base.clone());
        let mut stream = tokio::spawn(async move { subscribe_at(&http, &at, body).await })
            .await
            .map_err(|e| anyhow!("SUBSCRIBE at {base} failed: {e}"))?;
        // Waits are bounded by the callers' deadlines, not the stream's.
        stream.deadline = Duration::from_secs(3600);
        let ev = stream
            .next()
            .await
            .ok_or_else(|| anyhow!("the stream ended before SUBSCRIBED"))?;
        let id = ev["subscribed"]["framework_id"]["value"]
            .as_str()
            .ok_or_else(|| anyhow!("not SUBSCRIBED: {ev}"))?
            .to_string();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Framework {
            stream,
            id,
            base,
            http,
            acks: std::sync::Arc::new(tokio::sync::Semaphore::new(ACKS_IN_FLIGHT)),
            ended: false,
        })
    }

    /// SUBSCRIBEs again as this framework to whichever server leads now
    /// (after the leader ended the stream), trying until `within`.
    pub async fn follow_leader(&mut self, c: &Cluster, name: &str, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let attempt = match c.leader_index().await {
                Ok(leader) => Framework::subscribe(c, leader, name, Some(&self.id)).await,
                Err(e) => Err(anyhow!(e)),
            };
            match attempt {
                Ok(f) => {
                    *self = f;
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{name}: {e:#}; trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    return Err(e.context(format!("no leader took {name} back within {within:?}")))
                }
            }
        }
    }

    /// The next event, by `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> Result<Value> {
        match tokio::time::timeout_at(deadline, self.stream.next()).await {
            Ok(Some(ev)) => Ok(ev),
            Ok(None) => {
                self.ended = true;
                bail!("the leader ended the event stream (a new leader?)")
            }
            Err(_) => bail!("no event by the deadline"),
        }
    }

    /// A call body: `{"type": kind, "framework_id": .., key: value}`.
    pub fn body(&self, kind: &str, payload: Option<(&str, Value)>) -> Value {
        let mut b = json!({"type": kind, "framework_id": {"value": self.id}});
        if let Some((key, value)) = payload {
            b[key] = value;
        }
        b
    }

    /// A call, sent when the future is first polled (so a semaphore can
    /// hold it back); resolves to its answer time, or why it was not 202
    /// (unlike the test kit's `call`, which panics when nothing answers).
    pub fn send(
        &self,
        body: Value,
    ) -> impl Future<Output = Result<Duration, String>> + Send + 'static {
        let request = self
            .http
            .post(format!("{}/api/v1/scheduler", self.base))
            .header("Mesos-Stream-Id", self.stream.stream_id.as_str())
            .json(&body);
        async move {
            let t = Instant::now();
            let answer = request
                .send()
                .await
                .map_err(|e| format!("not answered: {e}"))?;
            match answer.status().as_u16() {
                202 => Ok(t.elapsed()),
                status => Err(format!(
                    "HTTP {status}: {}",
                    answer.text().await.unwrap_or_default().trim()
                )),
            }
        }
    }

    /// [`Framework::send`] in the background.
    pub fn call(&self, body: Value) -> JoinHandle<Result<Duration, String>> {
        tokio::spawn(self.send(body))
    }

    /// ACKNOWLEDGEs an update that carries a `uuid`, as Mesos frameworks do.
    pub fn acknowledge(&self, status: &Value) {
        if let Some(uuid) = status.get("uuid") {
            let ack =
                json!({"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": uuid});
            let (permit, call) = (
                self.acks.clone().acquire_owned(),
                self.send(self.body("ACKNOWLEDGE", Some(("acknowledge", ack)))),
            );
            tokio::spawn(async move {
                let _permit = permit.await;
                // A lost acknowledgement only means the update comes again.
                let _ = call.await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(cpus: f64, mem: f64, simulated: bool) -> Value {
        let attributes = if simulated {
            json!([{"name": "simulated", "type": "TEXT", "text": {"value": "true"}}])
        } else {
            json!([{"name": "role", "type": "TEXT", "text": {"value": "server"}}])
        };
        json!({"id": {"value": "o1"}, "agent_id": {"value": "a1"}, "attributes": attributes,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}}
        ]})
    }

    #[test]
    fn fitting_tasks() {
        let cases = [
            (1.0, 262_144.0, 100),
            (0.999_999_999_9, 262_144.0, 100),
            (64.0, 262_144.0, 6400),
            (1.0, 50.0, 50),
            (0.005, 100.0, 0),
            (0.0, 0.0, 0),
        ];
        for (cpus, mem, want) in cases {
            assert_eq!(
                fit(&offer(cpus, mem, true), TASK_CPUS, TASK_MEM_MB),
                want,
                "{cpus} cpus {mem} MB"
            );
        }
        assert!(is_simulated(&offer(1.0, 1.0, true)));
        assert!(!is_simulated(&offer(1.0, 1.0, false)));
    }
}
