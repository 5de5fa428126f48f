//! The files of a sandbox, shared by the driver and the supervisor, and
//! small helpers to read and write them safely.
//!
//! A task that runs as another user owns its sandbox directory, so it can
//! put anything under these names. The agent and the supervisor (root)
//! therefore never follow a symlink here, never block on a FIFO, write
//! through a fresh file and a rename, and trust a pid file only when they
//! wrote it themselves (same owner).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use serde::de::DeserializeOwned;

/// The task's spec and limits ([`super::StoredTask`]).
pub const SPEC: &str = "task.json";
/// The task's stdout and stderr.
pub const STDOUT: &str = "stdout";
pub const STDERR: &str = "stderr";
/// The task's pid (= its process group id), written by the supervisor.
pub const PID: &str = "task.pid";
/// The supervisor's pid, written by the driver.
pub const SUPERVISOR_PID: &str = "supervisor.pid";
/// How the task ended, written by the supervisor.
pub const EXIT: &str = "exit.json";
/// A kill was asked for (the reporter's marker too): a supervisor still
/// fetching ends the task before it starts the command.
pub const KILL_REQUESTED: &str = "kill_requested";

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file. The temporary file is made anew (never
/// through a link someone left under its name).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
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
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Creates `path` empty if it is not there (a marker), without following
/// a link under its name.
pub fn touch(path: &Path) -> Result<(), String> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map(drop)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Opens a regular file for reading: not through a link, never blocking
/// on a FIFO.
fn open_regular(path: &Path) -> Result<File, String> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    Ok(f)
}

/// Reads and decodes a JSON file (at most 16 MiB).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let mut bytes = Vec::new();
    open_regular(path)?
        .take(16 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a small text file (at most 4 KiB), not through a link and never
/// blocking on a FIFO: `None` when it is missing or not a regular file.
pub fn read_small(path: &Path) -> Option<String> {
    let mut s = String::new();
    open_regular(path)
        .ok()?
        .take(4096)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

/// Reads a pid file, if it is there, holds a pid above 1 (never 0 or
/// init: the driver signals `-pid`), and was written by this user (a pid
/// file a task's user made names no process to signal).
pub fn read_pid(path: &Path) -> Option<u32> {
    let f = open_regular(path).ok()?;
    // SAFETY: geteuid(2) cannot fail.
    let me = unsafe { libc::geteuid() };
    if f.metadata().ok()?.uid() != me {
        return None;
    }
    let mut s = String::new();
    f.take(32).read_to_string(&mut s).ok()?;
    s.trim().parse().ok().filter(|pid| *pid > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_through_links_nor_fifos_issue_4() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        // A link left under the temporary name is replaced, not followed.
        std::os::unix::fs::symlink(&victim, d.join("exit.tmp")).unwrap();
        write_atomic(&d.join("exit.json"), b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(d.join("exit.json")).unwrap(), "{}");
        // A marker is not made through a link.
        std::os::unix::fs::symlink(&victim, d.join(KILL_REQUESTED)).unwrap();
        assert!(touch(&d.join(KILL_REQUESTED)).is_err());
        touch(&d.join("fresh")).unwrap();
        touch(&d.join("fresh")).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        // Pid and JSON files are read only when they are regular files.
        std::fs::write(d.join("real.pid"), "42\n").unwrap();
        assert_eq!(read_pid(&d.join("real.pid")), Some(42));
        std::os::unix::fs::symlink(d.join("real.pid"), d.join("link.pid")).unwrap();
        assert_eq!(read_pid(&d.join("link.pid")), None);
        let fifo = std::ffi::CString::new(d.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert_eq!(read_pid(&d.join("fifo")), None);
        let err = read_json::<serde_json::Value>(&d.join("fifo")).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        assert_eq!(read_pid(&d.join("missing")), None);
        for not_a_task in ["0", "1", "-1"] {
            std::fs::write(d.join("odd.pid"), not_a_task).unwrap();
            assert_eq!(read_pid(&d.join("odd.pid")), None, "{not_a_task}");
        }
    }
}
