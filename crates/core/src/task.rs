//! Tasks as the replicated state remembers them: where they were assigned,
//! what they hold, and the states their agent reported. Only the agent's
//! reports move a task's state (the master writes assignments).
//!
//! It also owns the rules for what a task fetches ([`FetchUri::check`]:
//! which URIs an agent can fetch and the name each gets in the sandbox)
//! and for the user it runs as ([`check_user`]), so the leader refuses
//! what the agent could not do, with the same words. Pure: nothing here
//! touches a file or the network.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::framework::FrameworkId;
use crate::machine::{MachineId, Resources};

/// A task's id (`TaskID.value`), unique in the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub String);

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Mesos's task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    Staging,
    Starting,
    Running,
    Killing,
    Finished,
    Failed,
    Killed,
    Error,
    Lost,
    Dropped,
    Unreachable,
    Gone,
}

impl TaskState {
    /// Terminal states never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
        )
    }

    /// Every state, for lookups by name.
    pub const ALL: [TaskState; 12] = [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Failed,
        TaskState::Killed,
        TaskState::Error,
        TaskState::Lost,
        TaskState::Dropped,
        TaskState::Unreachable,
        TaskState::Gone,
    ];

    /// The state a Mesos name (`TASK_RUNNING`) stands for.
    pub fn from_mesos_name(name: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.mesos_name() == name)
    }

    /// The Mesos name, e.g. `TASK_RUNNING`.
    pub fn mesos_name(self) -> &'static str {
        match self {
            TaskState::Staging => "TASK_STAGING",
            TaskState::Starting => "TASK_STARTING",
            TaskState::Running => "TASK_RUNNING",
            TaskState::Killing => "TASK_KILLING",
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
            TaskState::Error => "TASK_ERROR",
            TaskState::Lost => "TASK_LOST",
            TaskState::Dropped => "TASK_DROPPED",
            TaskState::Unreachable => "TASK_UNREACHABLE",
            TaskState::Gone => "TASK_GONE",
        }
    }
}

/// What a framework asked to run (validated by the leader before it is
/// written: resources fit the offer, the id is new, the command is set,
/// the URIs are fetchable and the user name is one).
///
/// Part of the Raft log: fields are added only with defaults, and left out
/// of the JSON when empty, so older entries read the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: TaskId,
    pub name: String,
    pub resources: Resources,
    /// Run with `/bin/sh -c`.
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Put into the sandbox, in order, before the command starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<FetchUri>,
    /// Run the command (and the fetch) as this user; none: as the agent's
    /// user. Only `CommandInfo.user` and Marathon's `user` set it, never
    /// `FrameworkInfo.user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A file the agent puts into the task's sandbox before the command
/// starts: Mesos's `CommandInfo.URI`, Marathon's `fetch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchUri {
    /// `file:///PATH`, an absolute path (both read on the agent), or
    /// `http://HOST[:PORT]/PATH`.
    pub uri: String,
    /// Mode 0755 once fetched.
    #[serde(default, skip_serializing_if = "is_false")]
    pub executable: bool,
    /// Unpacked into the sandbox when its name is an archive the agent
    /// knows (`.tar`, `.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`, `.txz`,
    /// `.zip`); other files are just fetched, as Mesos does.
    #[serde(default, skip_serializing_if = "is_false")]
    pub extract: bool,
    /// Accepted and ignored: corral's fetcher keeps no cache.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cache: bool,
    /// Where it goes, relative to the sandbox; none: the URI's last path
    /// segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Where a checked fetch URI is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriSource {
    /// A file on the agent: the absolute path of a `file://` URI or the
    /// path given.
    Local(String),
    /// An `http://` URL, as given.
    Http(String),
}

/// A fetch URI the agent can fetch: where from, and the path in the
/// sandbox it is saved under (relative, never leaving the sandbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUri {
    pub source: UriSource,
    pub output: String,
}

/// Why a fetch URI cannot be fetched. [`FetchUriError::field`] says which
/// field of the URI is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchUriError {
    #[error("is empty: give file:///PATH, an absolute path or http://HOST/PATH")]
    Empty,
    #[error(
        "is https, and corral's fetcher has no TLS: serve the file over http:// or copy it to the agents and give file:///PATH"
    )]
    Https,
    #[error(
        "has scheme {0:?}, which corral cannot fetch: give file:///PATH, an absolute path or http://HOST/PATH"
    )]
    Scheme(String),
    #[error("is a relative path: give an absolute path or file:///PATH")]
    Relative,
    #[error("names host {0:?}, but file:// URIs are read on the agent itself: give file:///PATH")]
    FileHost(String),
    #[error("has no host: give http://HOST[:PORT]/PATH")]
    NoHost,
    #[error("has no file name to save it under (it ends in {0:?}): give output_file")]
    NoFileName(String),
    #[error("is not a relative path inside the sandbox: give a name like \"bin/tool\"")]
    BadOutputFile(String),
}

impl FetchUriError {
    /// The field of Mesos's `CommandInfo.URI` at fault: `value` or
    /// `output_file`.
    pub fn field(&self) -> &'static str {
        match self {
            FetchUriError::BadOutputFile(_) => "output_file",
            _ => "value",
        }
    }
}

impl FetchUri {
    /// Whether an agent can fetch this URI, and where it would put it.
    pub fn check(&self) -> Result<CheckedUri, FetchUriError> {
        let uri = self.uri.trim();
        if uri.is_empty() {
            return Err(FetchUriError::Empty);
        }
        let (source, path) = if let Some(rest) = strip_scheme(uri, "file") {
            let (host, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            if !host.is_empty() && host != "localhost" {
                return Err(FetchUriError::FileHost(host.to_string()));
            }
            if path.is_empty() {
                return Err(FetchUriError::Relative);
            }
            (UriSource::Local(path.to_string()), path)
        } else if uri.starts_with('/') {
            (UriSource::Local(uri.to_string()), uri)
        } else if let Some(rest) = strip_scheme(uri, "http") {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            if rest[..end].is_empty() {
                return Err(FetchUriError::NoHost);
            }
            let path = &rest[end..];
            let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
            (UriSource::Http(uri.to_string()), path)
        } else if strip_scheme(uri, "https").is_some() {
            return Err(FetchUriError::Https);
        } else {
            match uri.split_once("://") {
                Some((scheme, _)) => return Err(FetchUriError::Scheme(scheme.to_string())),
                None => return Err(FetchUriError::Relative),
            }
        };
        let output = match &self.output_file {
            Some(out) => {
                let clean = out.trim_start_matches("./");
                let bad = clean.is_empty()
                    || clean.starts_with('/')
                    || clean.contains('\0')
                    || clean.ends_with('/')
                    || clean.split('/').any(|c| c == "..");
                if bad {
                    return Err(FetchUriError::BadOutputFile(out.clone()));
                }
                clean.to_string()
            }
            None => {
                let name = path.rsplit('/').next().unwrap_or_default();
                if name.is_empty() || name == "." || name == ".." {
                    let tail = if name.is_empty() { "/" } else { name };
                    return Err(FetchUriError::NoFileName(tail.to_string()));
                }
                name.to_string()
            }
        };
        Ok(CheckedUri { source, output })
    }
}

/// `uri` without `scheme://` (the scheme in any case), if it has it.
fn strip_scheme<'a>(uri: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = uri.split_once("://")?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Whether `name` can be a user name on an agent (the agent looks it up;
/// this only refuses what no system accepts).
pub fn check_user(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && !name.starts_with('-')
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a user name: give the name of a user that exists on the agents"
        ))
    }
}

/// One reported state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub state: TaskState,
    pub at_ms: u64,
    /// Mesos's reason code, e.g. `REASON_COMMAND_EXECUTOR_FAILED`.
    pub reason: Option<String>,
    /// For a human: what happened and what to do.
    pub message: Option<String>,
    /// The revision that recorded it (set by apply; whatever a command
    /// carries here is ignored). Frameworks acknowledge a status by it: it
    /// is the `uuid` of its UPDATE ([`status_uuid`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// A task in the replicated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub spec: TaskSpec,
    pub framework: FrameworkId,
    pub agent: MachineId,
    pub state: TaskState,
    /// Every distinct state it went through, oldest first (at most [`MAX_STATUSES`]).
    pub statuses: Vec<StatusRecord>,
    /// The revision of the latest status its framework has not acknowledged
    /// yet; the leader sends that status again until it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unacked: Option<u64>,
}

impl Task {
    /// The latest status, as its framework should see it.
    pub fn latest(&self) -> Option<&StatusRecord> {
        self.statuses.last()
    }
}

/// The 16 bytes a status update's `uuid` stands for: a tag and the
/// revision that recorded the status (unique in the cluster).
pub fn status_uuid(revision: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(STATUS_UUID_TAG);
    b[8..].copy_from_slice(&revision.to_be_bytes());
    b
}

/// The revision a status update's `uuid` bytes carry, if they are ours.
pub fn status_revision(uuid: &[u8]) -> Option<u64> {
    let (tag, rev) = uuid.split_at_checked(8)?;
    if tag != STATUS_UUID_TAG || rev.len() != 8 {
        return None;
    }
    Some(u64::from_be_bytes(rev.try_into().ok()?))
}

const STATUS_UUID_TAG: &[u8; 8] = b"corral\0\x01";

/// Status history kept per task.
pub const MAX_STATUSES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    /// One case a line, split by ` | `: the URI, its output_file (`-` for
    /// none), and what the check says: `local PATH -> OUT`, `http -> OUT`,
    /// or `FIELD: error`.
    fn check_cases(table: &str) {
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split(" | ").map(str::trim).collect();
            let [uri, out, want] = cols[..] else {
                panic!("a case has 3 columns: {line}");
            };
            let f = FetchUri {
                uri: uri.to_string(),
                output_file: (out != "-").then(|| out.to_string()),
                ..Default::default()
            };
            let got = match f.check() {
                Ok(CheckedUri {
                    source: UriSource::Local(p),
                    output,
                }) => format!("local {p} -> {output}"),
                Ok(CheckedUri {
                    source: UriSource::Http(u),
                    output,
                }) => {
                    assert_eq!(u, uri, "{line}");
                    format!("http -> {output}")
                }
                Err(e) => format!("{}: {e}", e.field()),
            };
            assert_eq!(got, want, "case: {line}");
        }
    }

    #[test]
    fn fetch_uris_issue_4() {
        check_cases(
            r#"
            file:///opt/app/run.sh            | -            | local /opt/app/run.sh -> run.sh
            FILE://localhost/opt/a.tgz        | -            | local /opt/a.tgz -> a.tgz
            /opt/app/run.sh                   | -            | local /opt/app/run.sh -> run.sh
            /opt/app/run.sh                   | bin/start    | local /opt/app/run.sh -> bin/start
            /opt/app/run.sh                   | ./start      | local /opt/app/run.sh -> start
            http://127.0.0.1:8000/x.tgz       | -            | http -> x.tgz
            http://h/dl/x.tar.gz?sig=1#frag   | -            | http -> x.tar.gz
            HTTP://h/x                        | -            | http -> x
            http://h/dl/                      | x.zip        | http -> x.zip
            http://h                          | -            | value: has no file name to save it under (it ends in "/"): give output_file
            http://h/dl/                      | -            | value: has no file name to save it under (it ends in "/"): give output_file
            /opt/..                           | -            | value: has no file name to save it under (it ends in ".."): give output_file
            http:///x                         | -            | value: has no host: give http://HOST[:PORT]/PATH
            https://h/x.tgz                   | -            | value: is https, and corral's fetcher has no TLS: serve the file over http:// or copy it to the agents and give file:///PATH
            ftp://h/x.tgz                     | -            | value: has scheme "ftp", which corral cannot fetch: give file:///PATH, an absolute path or http://HOST/PATH
            hdfs://nn/x                       | -            | value: has scheme "hdfs", which corral cannot fetch: give file:///PATH, an absolute path or http://HOST/PATH
            run.sh                            | -            | value: is a relative path: give an absolute path or file:///PATH
            file://other/opt/x                | -            | value: names host "other", but file:// URIs are read on the agent itself: give file:///PATH
            file://                           | -            | value: is a relative path: give an absolute path or file:///PATH
            /opt/x                            | ../x         | output_file: is not a relative path inside the sandbox: give a name like "bin/tool"
            /opt/x                            | a/../../x    | output_file: is not a relative path inside the sandbox: give a name like "bin/tool"
            /opt/x                            | /etc/x       | output_file: is not a relative path inside the sandbox: give a name like "bin/tool"
            /opt/x                            | dir/         | output_file: is not a relative path inside the sandbox: give a name like "bin/tool"
            "#,
        );
        assert_eq!(
            FetchUri::default().check().unwrap_err(),
            FetchUriError::Empty
        );
    }

    #[test]
    fn user_names_issue_4() {
        for ok in ["nobody", "www-data", "svc.web", "ci_1", "user@REALM"] {
            assert_eq!(check_user(ok), Ok(()), "{ok}");
        }
        for bad in ["", "-rf", "a b", "a/b", "a:b", "a\nb"] {
            let err = check_user(bad).unwrap_err();
            assert!(err.contains("is not a user name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn task_specs_keep_their_json_issue_4() {
        // Entries written before fetch and user existed read the same, and
        // a spec without them is written as it was.
        let old = r#"{"id":"t1","name":"t1","resources":{"cpus":0.5,"mem_mb":64,"disk_mb":0,"ports":[]},"command":"sleep 1","env":{}}"#;
        let spec: TaskSpec = serde_json::from_str(old).unwrap();
        assert_eq!((spec.fetch.len(), spec.user.clone()), (0, None));
        assert_eq!(serde_json::to_string(&spec).unwrap(), old);
        let new = TaskSpec {
            fetch: vec![FetchUri {
                uri: "http://h/x.tgz".into(),
                extract: true,
                ..Default::default()
            }],
            user: Some("nobody".into()),
            ..spec
        };
        let json = serde_json::to_string(&new).unwrap();
        assert!(
            json.ends_with(r#""fetch":[{"uri":"http://h/x.tgz","extract":true}],"user":"nobody"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<TaskSpec>(&json).unwrap(), new);
    }
}
