//! A Mesos v1 scheduler client for tests and benchmarks, speaking the wire
//! format directly (JSON over HTTP, RecordIO stream): subscribe, read
//! events, send calls, and the waits tests need (offers from N agents, a
//! task's UPDATE in a given state).

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use corral_api::mesos_v1::take_records;
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};

use crate::Cluster;

/// Default bound on waiting for one event.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(20);

/// A SUBSCRIBE body for a framework named `wire-test` (failover timeout
/// 100 s), re-subscribing as `framework_id` when given.
pub fn subscribe_body(framework_id: Option<&str>) -> Value {
    let mut b = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "wire-test", "failover_timeout": 100}}});
    if let Some(id) = framework_id {
        b["framework_id"] = json!({"value": id});
        b["subscribe"]["framework_info"]["id"] = json!({"value": id});
    }
    b
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// An open event stream: its id and a reader of whole records.
pub struct EventStream {
    pub stream_id: String,
    body: Body,
    buf: Vec<u8>,
    ready: VecDeque<Vec<u8>>,
    /// UPDATE statuses read but not yet asked for.
    pub updates: Vec<Value>,
    /// Bound on waiting for one event (panics past it).
    pub deadline: Duration,
}

impl EventStream {
    /// The next event, or None when the server ended the stream.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(rec) = self.ready.pop_front() {
                return Some(serde_json::from_slice(&rec).expect("a JSON record"));
            }
            self.ready
                .extend(take_records(&mut self.buf).expect("RecordIO framing"));
            if !self.ready.is_empty() {
                continue;
            }
            match tokio::time::timeout(self.deadline, self.body.next())
                .await
                .expect("an event within the deadline")
            {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    }
}

/// SUBSCRIBE at `base` (`http://host:port`) with `body`; asserts the
/// stream's shape (200, chunked, JSON, a stream id).
pub async fn subscribe_at(http: &reqwest::Client, base: &str, body: Value) -> EventStream {
    let r = http
        .post(format!("{base}/api/v1/scheduler"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        // The stream outlives a client's usual request limit; each read has
        // its own deadline in EventStream::next.
        .timeout(Duration::from_secs(3600))
        .json(&body)
        .send()
        .await
        .expect("SUBSCRIBE sent");
    assert_eq!(r.status(), 200, "SUBSCRIBE: {:?}", r.text().await);
    assert_eq!(
        r.headers()["transfer-encoding"],
        "chunked",
        "pymesos requires a chunked response"
    );
    assert_eq!(r.headers()["content-type"], "application/json");
    let stream_id = r.headers()["mesos-stream-id"]
        .to_str()
        .expect("an ASCII stream id")
        .to_string();
    EventStream {
        stream_id,
        body: Box::pin(r.bytes_stream()),
        buf: Vec::new(),
        ready: Default::default(),
        updates: Vec::new(),
        deadline: EVENT_DEADLINE,
    }
}

/// SUBSCRIBE to machine `i` of `c` as a new framework or as `framework_id`.
pub async fn subscribe(c: &Cluster, i: usize, framework_id: Option<&str>) -> EventStream {
    subscribe_with(c, i, subscribe_body(framework_id)).await
}

/// SUBSCRIBE to machine `i` of `c` with `body`.
pub async fn subscribe_with(c: &Cluster, i: usize, body: Value) -> EventStream {
    subscribe_at(&c.http, &c.api_url(i, ""), body).await
}

/// A scheduler call at `base`: (status, body, Content-Length header).
pub async fn call_at(
    http: &reqwest::Client,
    base: &str,
    stream_id: Option<&str>,
    body: &Value,
) -> (u16, String, Option<String>) {
    let mut req = http
        .post(format!("{base}/api/v1/scheduler"))
        .header("content-type", "application/json")
        .json(body);
    if let Some(s) = stream_id {
        req = req.header("Mesos-Stream-Id", s);
    }
    let r = req.send().await.expect("call sent");
    let status = r.status().as_u16();
    let len = r
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    (status, r.text().await.unwrap_or_default(), len)
}

/// A scheduler call to machine `i` of `c`.
pub async fn call(
    c: &Cluster,
    i: usize,
    stream_id: Option<&str>,
    body: Value,
) -> (u16, String, Option<String>) {
    call_at(&c.http, &c.api_url(i, ""), stream_id, &body).await
}

/// Reads SUBSCRIBED off a fresh stream; returns the stream and the framework id.
pub async fn subscribed(mut s: EventStream) -> (EventStream, String) {
    let ev = s.next().await.expect("SUBSCRIBED");
    let fw = ev["subscribed"]["framework_id"]["value"]
        .as_str()
        .expect("a framework id")
        .to_string();
    (s, fw)
}

/// Reads events until offers for `agents` distinct agents arrived.
pub async fn next_offers(s: &mut EventStream, agents: usize) -> Vec<Value> {
    let mut offers: Vec<Value> = Vec::new();
    for _ in 0..100 {
        let ev = s.next().await.expect("the stream stays open");
        if ev["type"] == "OFFERS" {
            offers.extend(ev["offers"]["offers"].as_array().unwrap().iter().cloned());
        }
        let mut distinct: Vec<&str> = offers
            .iter()
            .map(|o| o["agent_id"]["value"].as_str().unwrap())
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() >= agents {
            return offers;
        }
    }
    panic!("no offers from {agents} agents in 100 events: {offers:?}");
}

/// The UPDATE for `task` in state `want`, from updates seen before or read
/// now (updates of several tasks interleave).
pub async fn next_update(s: &mut EventStream, task: &str, want: &str) -> Value {
    let matches = |st: &Value| st["task_id"]["value"] == task && st["state"] == want;
    if let Some(pos) = s.updates.iter().position(matches) {
        return s.updates.remove(pos);
    }
    for _ in 0..200 {
        let ev = s.next().await.expect("the stream stays open");
        if ev["type"] == "UPDATE" {
            let st = ev["update"]["status"].clone();
            if matches(&st) {
                return st;
            }
            s.updates.push(st);
        }
    }
    panic!("no {want} for {task}; saw {:?}", s.updates);
}

/// A command TaskInfo for `agent` (0.1 cpus, 32 MB, `WHO=corral` in its env).
pub fn task_info(id: &str, agent: &Value, cmd: &str) -> Value {
    json!({
        "name": id, "task_id": {"value": id}, "agent_id": agent,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}
        ],
        "command": {"value": cmd, "environment": {"variables": [{"name": "WHO", "value": "corral"}]}}
    })
}
