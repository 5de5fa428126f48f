//! The files of a sandbox, shared by the driver and the supervisor, and
//! small helpers to read and write them safely.

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

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads and decodes a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a pid file, if it is there and holds a number.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
