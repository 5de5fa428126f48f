//! What `up` tells the user: the progress lines while the cluster forms, how
//! many agents have registered and what is still missing, the summary once it
//! is ready (with commands spelled the way the user can type them), and the
//! tail of a node's log. Apart from reading a log and looking the program up
//! on PATH, everything here is pure; it never starts, polls or stops anything.

use std::ffi::OsStr;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use corral_api::native::ClusterView;

use crate::config::MachinePlan;

/// What happens while a cluster forms, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The configured addresses cannot be bound; every machine uses 127.0.0.1
    /// with port offsets instead.
    Fallback { reason: String },
    /// A cluster.json whose processes are all gone was removed.
    StaleClusterFile { path: PathBuf },
    /// All node processes are running.
    Started { processes: usize },
    /// A (new) leader is known.
    Leader {
        machine: String,
        addr: String,
        term: u64,
    },
    /// The number of registered, active agents changed.
    Agents { registered: usize, total: usize },
    /// Nothing changed for a while; this is what is missing.
    Waiting { missing: String },
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Fallback { reason } => {
                write!(f, "{reason}; using 127.0.0.1 with port offsets")
            }
            Progress::StaleClusterFile { path } => {
                write!(
                    f,
                    "removed stale {} (its processes are gone)",
                    path.display()
                )
            }
            Progress::Started { processes } => {
                write!(f, "{processes}/{processes} processes started")
            }
            Progress::Leader {
                machine,
                addr,
                term,
            } => {
                write!(f, "leader elected: {machine} ({addr}), term {term}")
            }
            Progress::Agents { registered, total } => {
                write!(f, "agents registered: {registered}/{total}")
            }
            Progress::Waiting { missing } => write!(f, "still waiting: {missing}"),
        }
    }
}

/// How many planned machines have an agent that registered (or re-registered)
/// since this start and is active. Pure.
pub fn registered_agents(plan: &[MachinePlan], view: &ClusterView, since_ms: u64) -> usize {
    plan.iter()
        .filter(|m| {
            crate::status::machine_view(view, &m.name, &m.ip.to_string(), m.ports.agent)
                .is_some_and(|v| {
                    v.status == "active" && v.registered_at_ms.max(v.reregistered_at_ms) >= since_ms
                })
        })
        .count()
}

/// What keeps the cluster from being ready, as one phrase. Pure.
pub(super) fn missing(
    plan: &[MachinePlan],
    view: Option<&ClusterView>,
    since_ms: u64,
    last_error: &str,
) -> String {
    let Some(view) = view else {
        return format!("no server answered yet ({last_error})");
    };
    let mut parts = Vec::new();
    if view.leader.is_none() {
        parts.push(format!("no leader elected yet (term {})", view.term));
    }
    let waiting: Vec<&str> = plan
        .iter()
        .filter(|m| {
            !crate::status::machine_view(view, &m.name, &m.ip.to_string(), m.ports.agent)
                .is_some_and(|v| {
                    v.status == "active" && v.registered_at_ms.max(v.reregistered_at_ms) >= since_ms
                })
        })
        .map(|m| m.name.as_str())
        .collect();
    if !waiting.is_empty() {
        parts.push(format!(
            "agents registered {}/{} (waiting for {})",
            plan.len() - waiting.len(),
            plan.len(),
            waiting.join(", ")
        ));
    }
    parts.join("; ")
}

/// The summary `up` prints once the cluster is ready; the commands it
/// suggests start with `program`, how the user runs corral (see
/// [`program_name`]). Pure.
pub fn summary(
    plan: &[MachinePlan],
    view: &ClusterView,
    ready_in: Duration,
    data_dir: &Path,
    program: &str,
) -> String {
    let leader_id = view.leader.as_ref().map(|l| l.id);
    let leader_name = plan
        .iter()
        .find(|m| m.server_id.is_some() && m.server_id == leader_id)
        .map_or("?", |m| m.name.as_str());
    let servers = plan.iter().filter(|m| m.is_server()).count();
    let mut out = format!(
        "corral cluster ready in {:.1}s: {} machines, {} servers, leader {} (term {})\n\n",
        ready_in.as_secs_f64(),
        plan.len(),
        servers,
        leader_name,
        view.term
    );
    let ip_width = plan
        .iter()
        .map(|m| m.ip.to_string().len())
        .max()
        .unwrap_or(0);
    let name_width = plan.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in plan {
        let role = match m.server_id {
            Some(id) if Some(id) == leader_id => "server (leader)",
            Some(_) => "server",
            None => "worker",
        };
        let addrs = if m.is_server() {
            format!(
                "master http://{}:{}  apps http://{}:{}",
                m.ip, m.ports.master, m.ip, m.ports.apps
            )
        } else {
            format!("agent  http://{}:{}", m.ip, m.ports.agent)
        };
        out.push_str(&format!(
            "  {:name_width$}  {:ip_width$}  {role:15}  {addrs}\n",
            m.name,
            m.ip.to_string()
        ));
    }
    let endpoints = plan
        .iter()
        .filter(|m| m.is_server())
        .map(|m| m.master_addr())
        .collect::<Vec<_>>()
        .join(",");
    out.push_str(&format!(
        "\nlogs:  {}\ntry:   {program} machines\n       {program} kv set /hello world\n       \
         {program} status\n       {program} down\n       (from another directory: \
         CORRAL_ENDPOINT={endpoints})\n",
        data_dir.join("mN").join("node.log").display()
    ));
    out
}

/// How the user can type this program, `exe` (the running executable): its
/// bare file name when looking that name up on PATH finds this very file (as
/// after `cargo install`), else its path, quoted for the shell if needed (as
/// under `cargo run`, which runs target/…/corral).
pub fn program_name(exe: &Path) -> String {
    typed_name(exe, std::env::var_os("PATH").as_deref())
}

/// [`program_name`] with PATH given.
fn typed_name(exe: &Path, path_var: Option<&OsStr>) -> String {
    let found_on_path = exe.file_name().filter(|name| {
        path_var
            .and_then(|dirs| find_on_path(name, dirs))
            .is_some_and(|found| same_file(&found, exe))
    });
    match found_on_path {
        Some(name) => shell_word(&name.to_string_lossy()),
        None => shell_word(&exe.to_string_lossy()),
    }
}

/// The first executable file called `name` in the directories of `path_var`,
/// the one a shell would run.
fn find_on_path(name: &OsStr, path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `word` as a POSIX shell reads it back: unchanged when it holds only safe
/// characters, else in single quotes. Pure.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The last `n` lines of a log file written from byte `from` on (reads at
/// most its last 64 KiB).
pub fn log_tail(path: &Path, from: u64, n: usize) -> Vec<String> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return vec![format!("(no log at {})", path.display())];
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024).max(from)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs::OpenOptions;
    use std::io::Write;

    use corral_api::native::{MachineView, ResourcesView, ServerView};

    use super::*;
    use crate::config::{plan, Config};

    fn machine(name: &str, ip: &str, status: &str, registered_at_ms: u64) -> MachineView {
        MachineView {
            id: format!("{name:0>32}"),
            hostname: name.to_string(),
            ip: ip.to_string(),
            agent_port: 5051,
            metadata: BTreeMap::new(),
            server_id: None,
            leader: false,
            status: status.to_string(),
            resources: ResourcesView {
                cpus: 1.0,
                mem_mb: 1,
                disk_mb: 1,
                ports: String::new(),
            },
            registered_at_ms,
            reregistered_at_ms: registered_at_ms,
            unreachable_since_ms: None,
            unreachable_reason: None,
            version: "0.1.0".to_string(),
        }
    }

    fn view(leader: Option<u64>, machines: Vec<MachineView>) -> ClusterView {
        ClusterView {
            answered_by: 1,
            leader: leader.map(|id| ServerView {
                id,
                api_addr: format!("127.0.0.10{id}:5050"),
                raft_addr: format!("127.0.0.10{id}:2380"),
                voter: true,
                leader: true,
            }),
            term: 4,
            revision: 9,
            servers: Vec::new(),
            machines,
        }
    }

    fn four_machines() -> Vec<MachinePlan> {
        plan(&Config::parse("machines = 4").unwrap(), false)
    }

    #[test]
    fn agents_count_only_when_active_and_registered_in_this_run() {
        let plan = four_machines();
        let v = view(
            Some(2),
            vec![
                machine("m1", "127.0.0.101", "active", 1_000),
                machine("m2", "127.0.0.102", "unreachable", 1_000),
                // Registered before this start (a store from an earlier run).
                machine("m3", "127.0.0.103", "active", 999),
                // Matched by address even under another hostname.
                machine("host-4", "127.0.0.104", "active", 1_500),
            ],
        );
        assert_eq!(registered_agents(&plan, &v, 1_000), 2);
        assert_eq!(
            missing(&plan, Some(&v), 1_000, "-"),
            "agents registered 2/4 (waiting for m2, m3)"
        );
        assert_eq!(
            missing(&plan, Some(&view(None, vec![])), 1_000, "-"),
            "no leader elected yet (term 4); agents registered 0/4 (waiting for m1, m2, m3, m4)"
        );
        assert_eq!(
            missing(&plan, None, 1_000, "connection refused"),
            "no server answered yet (connection refused)"
        );
    }

    /// The summary of a four-machine cluster led by m2, with `program` in the hints.
    fn four_machine_summary(program: &str) -> String {
        summary(
            &four_machines(),
            &view(Some(2), vec![]),
            Duration::from_millis(1340),
            Path::new("/d"),
            program,
        )
    }

    #[test]
    fn summary_names_the_leader_and_every_address() {
        let expected = "\
corral cluster ready in 1.3s: 4 machines, 3 servers, leader m2 (term 4)

  m1  127.0.0.101  server           master http://127.0.0.101:5050  apps http://127.0.0.101:8080
  m2  127.0.0.102  server (leader)  master http://127.0.0.102:5050  apps http://127.0.0.102:8080
  m3  127.0.0.103  server           master http://127.0.0.103:5050  apps http://127.0.0.103:8080
  m4  127.0.0.104  worker           agent  http://127.0.0.104:5051

logs:  /d/mN/node.log
try:   corral machines
       corral kv set /hello world
       corral status
       corral down
       (from another directory: CORRAL_ENDPOINT=127.0.0.101:5050,127.0.0.102:5050,127.0.0.103:5050)
";
        assert_eq!(four_machine_summary("corral"), expected);
    }

    #[test]
    fn summary_hints_use_the_program_as_given() {
        let text = four_machine_summary("/src/corral/target/release/corral");
        let hints = &text[text.find("try:").unwrap()..];
        let expected = "\
try:   /src/corral/target/release/corral machines
       /src/corral/target/release/corral kv set /hello world
       /src/corral/target/release/corral status
       /src/corral/target/release/corral down
       (from another directory: CORRAL_ENDPOINT=127.0.0.101:5050,127.0.0.102:5050,127.0.0.103:5050)
";
        assert_eq!(hints, expected);
    }

    /// An executable file at `dir/name`.
    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn program_is_its_bare_name_only_when_path_finds_this_very_file() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        let release = tmp.path().join("target/release");
        let empty = tmp.path().join("empty");
        for dir in [&bin, &release, &empty] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let installed = executable(&bin, "corral");
        let built = executable(&release, "corral");
        let path_var = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();

        // Installed and on PATH (after directories without it): `corral`.
        assert_eq!(
            typed_name(&installed, Some(&path_var(&[&empty, &bin]))),
            "corral"
        );
        // `cargo run`: PATH finds another corral, or none at all: the path.
        let built_path = built.to_str().unwrap();
        assert_eq!(typed_name(&built, Some(&path_var(&[&bin]))), built_path);
        assert_eq!(typed_name(&built, Some(&path_var(&[&empty]))), built_path);
        assert_eq!(typed_name(&built, None), built_path);
        // A file of that name that is not executable is not what a shell runs.
        std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            typed_name(&built, Some(&path_var(&[&bin, &release]))),
            "corral"
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("/src/corral/target/release/corral"),
            "/src/corral/target/release/corral"
        );
        assert_eq!(
            shell_word("/home/me/my code/corral"),
            "'/home/me/my code/corral'"
        );
        assert_eq!(shell_word("/tmp/it's/corral"), "'/tmp/it'\\''s/corral'");
    }

    #[test]
    fn progress_lines() {
        let lines: Vec<String> = [
            Progress::Fallback {
                reason: "127.0.0.101 cannot be bound (os error 99)".into(),
            },
            Progress::Started { processes: 3 },
            Progress::Leader {
                machine: "m2".into(),
                addr: "127.0.0.102:5050".into(),
                term: 2,
            },
            Progress::Agents {
                registered: 2,
                total: 3,
            },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            lines,
            [
                "127.0.0.101 cannot be bound (os error 99); using 127.0.0.1 with port offsets",
                "3/3 processes started",
                "leader elected: m2 (127.0.0.102:5050), term 2",
                "agents registered: 2/3",
            ]
        );
    }

    #[test]
    fn log_tail_reads_only_this_run() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        std::fs::write(&log, "old 1\nold 2\n").unwrap();
        let from = std::fs::metadata(&log).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"new 1\nnew 2\nnew 3\n").unwrap();
        assert_eq!(log_tail(&log, from, 2), ["new 2", "new 3"]);
        assert_eq!(log_tail(&log, from, 10), ["new 1", "new 2", "new 3"]);
        assert_eq!(log_tail(&log, 0, 10).len(), 5);
    }
}
