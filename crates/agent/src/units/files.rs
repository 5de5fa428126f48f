//! A unit's directory (`<agent dir>/units/<name>/`), shared by the manager
//! and the unit's supervisor: what each file holds and who writes it, unit
//! name rules, and whether a recorded process is still the one we started.
//!
//! | file             | written by | holds |
//! |------------------|------------|-------|
//! | `unit.json`      | manager    | [`UnitFile`]: name, hash, options (machine specifiers expanded) |
//! | `target`         | manager    | `loaded` or `launched`: what the supervisor must do |
//! | `status.json`    | supervisor (manager before one runs) | [`StatusFile`] |
//! | `supervisor.pid` | both       | the supervisor's pid |
//! | `supervisor.log` | supervisor | its own stderr (not the unit's output) |
//! | `journal`, `journal.1` | supervisor | the unit's output and lifecycle lines |
//!
//! Every JSON file is written atomically (temporary file and rename).
//! `supervisor.pid` is written by the manager (right after it starts the
//! supervisor) and by the supervisor (first thing) at the same moment, so
//! each writer goes through a temporary file of its own
//! ([`write_supervisor_pid`]).

use std::path::Path;

use corral_api::units::{UnitOption, UnitTarget};
use serde::{Deserialize, Serialize};

pub use crate::driver::files::{read_json, read_pid, write_atomic};

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

pub const UNIT: &str = "unit.json";
pub const TARGET: &str = "target";
pub const STATUS: &str = "status.json";
pub const SUPERVISOR_PID: &str = "supervisor.pid";
pub const SUPERVISOR_LOG: &str = "supervisor.log";

/// The unit as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitFile {
    pub name: String,
    pub hash: String,
    pub options: Vec<UnitOption>,
    /// The machine's name, for journal lines (`%H`).
    #[serde(default)]
    pub host: String,
}

/// What the supervisor says about its unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    pub hash: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    #[serde(default)]
    pub main_pid: Option<u32>,
    /// The running `ExecStartPre=`/`ExecStop=`/... process, if any.
    #[serde(default)]
    pub control_pid: Option<u32>,
    pub since_ms: u64,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub restarts: u32,
    /// The target the supervisor last acted on (`None`: none yet).
    #[serde(default)]
    pub applied: Option<UnitTarget>,
    /// Why the unit cannot load (`load_state` `error`).
    #[serde(default)]
    pub error: Option<String>,
}

impl StatusFile {
    /// A unit that is installed and has not run.
    pub fn fresh(hash: &str, now_ms: u64) -> StatusFile {
        StatusFile {
            hash: hash.to_string(),
            load_state: "loaded".into(),
            active_state: "inactive".into(),
            sub_state: "dead".into(),
            since_ms: now_ms,
            ..StatusFile::default()
        }
    }

    /// A unit that cannot run here, and why.
    pub fn load_error(hash: &str, now_ms: u64, why: &str) -> StatusFile {
        StatusFile {
            load_state: "error".into(),
            error: Some(why.to_string()),
            ..StatusFile::fresh(hash, now_ms)
        }
    }
}

/// Writes `dir/supervisor.pid` atomically through a temporary file named
/// after the writing process. [`write_atomic`]'s one temporary name would
/// be shared by the manager and the new supervisor writing at once: one
/// removes or renames the other's file, whose rename then fails, and the
/// manager records a load error for a unit whose supervisor runs (or the
/// supervisor exits). Like [`write_atomic`], never writes through a link.
pub fn write_supervisor_pid(dir: &Path, pid: u32) -> Result<(), String> {
    let path = dir.join(SUPERVISOR_PID);
    let tmp = dir.join(format!("{SUPERVISOR_PID}.{}.tmp", std::process::id()));
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", tmp.display())),
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn read_target(dir: &Path) -> Option<UnitTarget> {
    match std::fs::read_to_string(dir.join(TARGET)).ok()?.trim() {
        "launched" => Some(UnitTarget::Launched),
        "loaded" => Some(UnitTarget::Loaded),
        _ => None,
    }
}

pub fn write_target(dir: &Path, target: UnitTarget) -> Result<(), String> {
    let text = match target {
        UnitTarget::Launched => "launched",
        UnitTarget::Loaded => "loaded",
    };
    write_atomic(&dir.join(TARGET), text.as_bytes())
}

/// True if a process with this pid exists (a zombie counts).
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence and permission.
    pid > 1 && unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// The pid of `dir`'s supervisor if it is alive and really is that
/// supervisor: its command line names `unit-supervise` and `dir`, or it
/// is this agent's child not yet past exec. A recycled pid is not.
pub fn supervisor_alive(dir: &Path) -> Option<u32> {
    let pid = read_pid(&dir.join(SUPERVISOR_PID))?;
    if !pid_alive(pid) {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let dir_bytes = dir.as_os_str().as_encoded_bytes();
    if args.contains(&&b"unit-supervise"[..]) && args.contains(&dir_bytes) {
        return Some(pid);
    }
    // Between fork and exec a child still runs the agent's program.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ppid = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse::<u32>().ok());
    (ppid == Some(std::process::id())).then_some(pid)
}

/// fleet's unit name rules (`ValidateName`), which also make the name a
/// safe directory name.
pub fn check_name(name: &str) -> Result<(), String> {
    const SUFFIXES: &[&str] = &[
        "automount",
        "busname",
        "device",
        "mount",
        "path",
        "scope",
        "service",
        "slice",
        "snapshot",
        "socket",
        "swap",
        "target",
        "timer",
    ];
    const TEMPLATED: &[&str] = &["path", "service", "socket", "target", "timer"];
    let bad = |why: &str| Err(format!("unit name {name:?} {why}"));
    if name.is_empty() || name.len() > 256 {
        return bad("must be 1 to 256 characters long");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":_.@-\\".contains(*c)))
    {
        return bad(&format!(
            "holds {c:?}; use letters, digits and : _ . @ - \\"
        ));
    }
    if name.starts_with('@') {
        return bad("starts with '@'");
    }
    let Some((_, suffix)) = name.rsplit_once('.') else {
        return bad("has no type suffix such as .service");
    };
    if !SUFFIXES.contains(&suffix) {
        return bad(&format!("has the unknown type .{suffix}"));
    }
    if name.contains('@') && !TEMPLATED.contains(&suffix) {
        return bad(&format!(".{suffix} units cannot be templates"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        for (name, want) in [
            ("web.service", "ok"),
            ("web@1.service", "ok"),
            ("web@.service", "ok"),
            ("a:b_c-d.timer", "ok"),
            ("", "unit name \"\" must be 1 to 256 characters long"),
            (
                "web",
                "unit name \"web\" has no type suffix such as .service",
            ),
            ("web.", "unit name \"web.\" has the unknown type ."),
            (
                "../x.service",
                "unit name \"../x.service\" holds '/'; use letters, digits and : _ . @ - \\",
            ),
            ("web.exe", "unit name \"web.exe\" has the unknown type .exe"),
            ("@web.service", "unit name \"@web.service\" starts with '@'"),
            (
                "w@1.mount",
                "unit name \"w@1.mount\" .mount units cannot be templates",
            ),
            (
                "sp ace.service",
                "unit name \"sp ace.service\" holds ' '; use letters, digits and : _ . @ - \\",
            ),
        ] {
            let got = match check_name(name) {
                Ok(()) => "ok".to_string(),
                Err(e) => e,
            };
            assert_eq!(got, want, "{name:?}");
        }
        assert!(check_name(&format!("{}.service", "a".repeat(300))).is_err());
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_target(dir.path()), None);
        write_target(dir.path(), UnitTarget::Launched).unwrap();
        assert_eq!(read_target(dir.path()), Some(UnitTarget::Launched));
        let s = StatusFile::load_error("h", 5, "Type=forking is not supported");
        write_atomic(&dir.path().join(STATUS), &serde_json::to_vec(&s).unwrap()).unwrap();
        let back: StatusFile = read_json(&dir.path().join(STATUS)).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.load_state, "error");
        // No supervisor recorded, or a pid that is not one.
        assert_eq!(supervisor_alive(dir.path()), None);
        write_supervisor_pid(dir.path(), 4242).unwrap();
        assert_eq!(read_pid(&dir.path().join(SUPERVISOR_PID)), Some(4242));
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "no temporary file is left: {left:?}");
        std::fs::write(dir.path().join(SUPERVISOR_PID), "1").unwrap();
        assert_eq!(supervisor_alive(dir.path()), None);
    }
}
