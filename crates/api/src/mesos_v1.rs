//! The Mesos v1 scheduler API's JSON (`/api/v1/scheduler`): calls in,
//! events out, RecordIO framing. Field names are Mesos's (protobuf JSON,
//! snake_case); the master converts them to core types by hand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"value": "..."}`, Mesos's id wrapper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Id {
    pub value: String,
}

/// A framework's `Capability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    #[serde(rename = "type")]
    pub kind: String,
}

/// `FrameworkInfo` as frameworks send it. Unknown fields are ignored, as
/// protobuf's JSON parser does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FrameworkInfo {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
}

/// `Call.subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
}

/// A scheduler `Call`. Payloads this version does not read yet stay in
/// `rest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub framework_id: Option<Id>,
    #[serde(default)]
    pub subscribe: Option<Subscribe>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `MasterInfo` inside SUBSCRIBED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MasterInfo {
    pub id: String,
    /// IPv4 in network order, as Mesos sends it.
    pub ip: u32,
    pub port: u16,
    pub pid: String,
    pub hostname: String,
    pub version: String,
    pub address: Address,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub hostname: String,
    pub ip: String,
    pub port: u16,
}

/// `Event.subscribed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub framework_id: Id,
    pub heartbeat_interval_seconds: f64,
    pub master_info: MasterInfo,
}

/// A scheduler event. Only the kinds this version sends are here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    Subscribed { subscribed: Subscribed },
    Heartbeat,
    Error { error: ErrorMessage },
    Offers { offers: OffersPayload },
    Rescind { rescind: RescindPayload },
    Update { update: UpdatePayload },
}

/// `Event.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatePayload {
    pub status: TaskStatus,
}

/// `TaskStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: Id,
    /// `TASK_RUNNING`, ...
    pub state: String,
    /// `SOURCE_MASTER` or `SOURCE_AGENT`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Id>,
    /// Seconds since the epoch.
    pub timestamp: f64,
    /// Base64 of 16 bytes naming this update; the framework acknowledges it
    /// with the same string. None on updates not to be acknowledged
    /// (reconciliation answers, errors for launches never recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// `Call.acknowledge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledge {
    #[serde(default)]
    pub agent_id: Option<Id>,
    pub task_id: Id,
    pub uuid: String,
}

/// `Call.accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    pub offer_ids: Vec<Id>,
    #[serde(default)]
    pub operations: Vec<Operation>,
    #[serde(default)]
    pub filters: Option<Filters>,
}

/// An ACCEPT operation; only LAUNCH is read so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub launch: Option<Launch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    #[serde(default)]
    pub task_infos: Vec<TaskInfo>,
}

/// `TaskInfo` (command tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    #[serde(default)]
    pub name: String,
    pub task_id: Id,
    #[serde(default)]
    pub agent_id: Option<Id>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub command: Option<CommandInfo>,
}

/// `CommandInfo`: the shell command, its environment, the URIs fetched
/// into the sandbox first and the user it runs as. Of the framework's
/// users only this one is applied: `FrameworkInfo.user` switches nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<CommandUri>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `CommandInfo.URI`: one file to fetch into the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandUri {
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// Absent means true, as in Mesos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

impl CommandInfo {
    /// The URIs as corral's fetch list, in order (unchecked: the leader's
    /// launch plan checks them).
    pub fn fetch(&self) -> Vec<corral_core::task::FetchUri> {
        self.uris
            .iter()
            .map(|u| corral_core::task::FetchUri {
                uri: u.value.clone(),
                executable: u.executable.unwrap_or(false),
                extract: u.extract.unwrap_or(true),
                cache: u.cache.unwrap_or(false),
                output_file: u.output_file.clone().filter(|o| !o.is_empty()),
            })
            .collect()
    }

    /// The user to run as; an empty `user` is none.
    pub fn user(&self) -> Option<String> {
        self.user.clone().filter(|u| !u.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(default)]
    pub variables: Vec<Variable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// `Call.kill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: Id,
    #[serde(default)]
    pub agent_id: Option<Id>,
}

/// Mesos resources as corral's; names other than cpus, mem, disk and ports
/// are refused so a task never asks for what nobody accounts.
pub fn to_core(resources: &[Resource]) -> Result<corral_core::Resources, String> {
    let mut r = corral_core::Resources::default();
    for res in resources {
        let scalar = || {
            res.scalar
                .as_ref()
                .map(|s| s.value)
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("resource {:?} needs a non-negative scalar value", res.name))
        };
        match res.name.as_str() {
            "cpus" => r.cpus += scalar()?,
            "mem" => r.mem_mb += scalar()?.ceil() as u64,
            "disk" => r.disk_mb += scalar()?.ceil() as u64,
            "ports" => {
                let ranges = res
                    .ranges
                    .as_ref()
                    .ok_or("resource \"ports\" needs ranges")?;
                for rg in &ranges.range {
                    if rg.begin == 0 || rg.begin > rg.end || rg.end > 65535 {
                        return Err(format!(
                            "port range {}-{} is not within 1-65535",
                            rg.begin, rg.end
                        ));
                    }
                    r.ports.push((rg.begin as u16, rg.end as u16));
                }
            }
            other => {
                return Err(format!(
                    "resource {other:?} is not offered by corral (cpus, mem, disk, ports)"
                ))
            }
        }
    }
    r.ports = corral_core::resources::normalize_ranges(&r.ports);
    Ok(r)
}

/// `Event.offers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffersPayload {
    pub offers: Vec<Offer>,
}

/// `Event.rescind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RescindPayload {
    pub offer_id: Id,
}

/// One offer on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: Id,
    pub framework_id: Id,
    pub agent_id: Id,
    pub hostname: String,
    pub resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
}

/// A `Resource`: a scalar (`cpus`, `mem`, `disk`) or ranges (`ports`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default = "any_role")]
    pub role: String,
}

fn any_role() -> String {
    "*".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranges {
    pub range: Vec<Range>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub begin: u64,
    pub end: u64,
}

/// A TEXT attribute (machine metadata).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub value: String,
}

/// `Call.decline` (also the filters of an ACCEPT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    pub offer_ids: Vec<Id>,
    #[serde(default)]
    pub filters: Option<Filters>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    pub refuse_seconds: Option<f64>,
}

/// corral's resources as Mesos resources (role `*`).
pub fn resources(r: &corral_core::Resources) -> Vec<Resource> {
    let scalar = |name: &str, value: f64| Resource {
        name: name.into(),
        kind: "SCALAR".into(),
        scalar: Some(Scalar { value }),
        ranges: None,
        role: any_role(),
    };
    let mut out = vec![
        scalar("cpus", r.cpus),
        scalar("mem", r.mem_mb as f64),
        scalar("disk", r.disk_mb as f64),
    ];
    if !r.ports.is_empty() {
        out.push(Resource {
            name: "ports".into(),
            kind: "RANGES".into(),
            scalar: None,
            ranges: Some(Ranges {
                range: r
                    .ports
                    .iter()
                    .map(|(b, e)| Range {
                        begin: u64::from(*b),
                        end: u64::from(*e),
                    })
                    .collect(),
            }),
            role: any_role(),
        });
    }
    out
}

/// An outstanding offer on the wire; `agent` gives its hostname and attributes.
pub fn offer(
    o: &corral_core::allocator::OutstandingOffer,
    agent: Option<&corral_core::Agent>,
) -> Offer {
    Offer {
        id: Id {
            value: o.id.0.clone(),
        },
        framework_id: Id {
            value: o.framework.0.clone(),
        },
        agent_id: Id {
            value: o.agent.0.clone(),
        },
        hostname: agent.map(|a| a.info.ip.clone()).unwrap_or_default(),
        resources: resources(&o.resources),
        attributes: agent
            .map(|a| attributes(&a.info.attributes))
            .unwrap_or_default(),
    }
}

/// Machine metadata as Mesos TEXT attributes.
pub fn attributes(meta: &BTreeMap<String, String>) -> Vec<Attribute> {
    meta.iter()
        .map(|(k, v)| Attribute {
            name: k.clone(),
            kind: "TEXT".into(),
            text: Text { value: v.clone() },
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub message: String,
}

/// Frames one JSON payload as a RecordIO record: `<length>\n<bytes>`.
pub fn recordio(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Splits complete RecordIO records off the front of `buf` (a client's
/// reader; chunk boundaries are independent of records).
pub fn take_records(buf: &mut Vec<u8>) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
            return Ok(out);
        };
        let len: usize = std::str::from_utf8(&buf[..nl])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                format!(
                    "bad RecordIO length {:?}",
                    String::from_utf8_lossy(&buf[..nl])
                )
            })?;
        if buf.len() < nl + 1 + len {
            return Ok(out);
        }
        out.push(buf[nl + 1..nl + 1 + len].to_vec());
        buf.drain(..nl + 1 + len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordio_round_trip() {
        let hb = serde_json::to_vec(&Event::Heartbeat).unwrap();
        assert_eq!(hb, br#"{"type":"HEARTBEAT"}"#);
        let framed = recordio(&hb);
        assert_eq!(framed, b"20\n{\"type\":\"HEARTBEAT\"}");
        // Records split across reads come out whole.
        let mut stream = [framed.clone(), framed].concat();
        let mut buf = stream.drain(..7).collect::<Vec<u8>>();
        assert!(take_records(&mut buf).unwrap().is_empty());
        buf.extend(stream);
        assert_eq!(take_records(&mut buf).unwrap(), vec![hb.clone(), hb]);
        assert!(buf.is_empty());
        assert!(take_records(&mut b"x\n{}".to_vec()).is_err());
    }

    #[test]
    fn command_uris_and_user_as_pymesos_sends_them_issue_4() {
        let t: TaskInfo = serde_json::from_str(
            r#"{"name":"t","task_id":{"value":"t1"},"command":{"value":"./run.sh",
                "user":"nobody","uris":[
                {"value":"http://h/app.tgz"},
                {"value":"/opt/run.sh","executable":true,"extract":false,"cache":true,"output_file":"bin/run.sh"},
                {"value":"file:///opt/x","output_file":""}]}}"#,
        )
        .unwrap();
        let c = t.command.unwrap();
        let got: Vec<String> = c
            .fetch()
            .iter()
            .map(|f| {
                format!(
                    "{} x={} e={} c={} out={:?}",
                    f.uri, f.executable, f.extract, f.cache, f.output_file
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "http://h/app.tgz x=false e=true c=false out=None",
                "/opt/run.sh x=true e=false c=true out=Some(\"bin/run.sh\")",
                "file:///opt/x x=false e=true c=false out=None",
            ]
        );
        assert_eq!(c.user().as_deref(), Some("nobody"));
        // Without uris and user the JSON is as before; an empty user is none.
        let bare: CommandInfo = serde_json::from_str(r#"{"value":"true","user":""}"#).unwrap();
        assert_eq!((bare.fetch().len(), bare.user()), (0, None));
        let plain = CommandInfo { user: None, ..bare };
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"value":"true","environment":null}"#
        );
    }

    #[test]
    fn calls_as_pymesos_sends_them() {
        let c: Call = serde_json::from_str(
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"demo","failover_timeout":100,"capabilities":[{"type":"GPU_RESOURCES"}],"unknown_field":1}}}"#,
        )
        .unwrap();
        assert_eq!(c.kind, "SUBSCRIBE");
        let info = c.subscribe.unwrap().framework_info;
        assert_eq!(
            (info.name.as_str(), info.failover_timeout),
            ("demo", Some(100.0))
        );
        let c: Call =
            serde_json::from_str(r#"{"type":"TEARDOWN","framework_id":{"value":"f1"}}"#).unwrap();
        assert_eq!(c.framework_id.unwrap().value, "f1");
    }
}
