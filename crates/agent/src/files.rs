//! `/files/browse` and `/files/read` on :5051 (Mesos's sandbox file API):
//! a task's stdout, stderr and other sandbox files, one command away. Only
//! paths inside the sandboxes directory are served: the requested path is
//! resolved (symlinks and `..` included) and must stay under it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::native::ApiError;
use serde::Deserialize;

use crate::AgentShared;

/// Largest read answered at once.
pub const MAX_READ: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct FileQuery {
    pub path: String,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub length: Option<u64>,
}

fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message,
            field: Some("path".into()),
        }),
    )
        .into_response()
}

/// Resolves `path` and checks it is inside `root`.
pub fn resolve_inside(root: &Path, path: &str) -> Result<PathBuf, (StatusCode, String)> {
    let root = root.canonicalize().map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("sandboxes root: {e}"),
        )
    })?;
    let requested = Path::new(path);
    let joined = if requested.is_absolute() {
        requested.to_path_buf()
    } else {
        root.join(requested)
    };
    let real = joined
        .canonicalize()
        .map_err(|_| (StatusCode::NOT_FOUND, format!("{path} does not exist")))?;
    if !real.starts_with(&root) {
        return Err((
            StatusCode::FORBIDDEN,
            format!("{path} is outside the task sandboxes"),
        ));
    }
    Ok(real)
}

/// `GET /files/read?path=P&offset=N&length=M`: `{"data": ..., "offset": N}`.
/// Without `offset` (or with -1) it answers only the file's size, as Mesos does.
pub async fn read(State(s): State<Arc<AgentShared>>, Query(q): Query<FileQuery>) -> Response {
    let path = match resolve_inside(s.driver.root(), &q.path) {
        Ok(p) => p,
        Err((status, msg)) => return refuse(status, "bad_path", msg),
    };
    let mut f = match std::fs::File::open(&path) {
        Ok(f) if path.is_file() => f,
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "not_a_file",
                format!("{} is not a file", q.path),
            )
        }
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let offset = match q.offset {
        None | Some(-1) => {
            return Json(serde_json::json!({ "data": "", "offset": size })).into_response()
        }
        Some(o) if o < 0 => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_offset",
                format!("offset {o} is negative"),
            )
        }
        Some(o) => (o as u64).min(size),
    };
    let length = q.length.unwrap_or(MAX_READ).min(MAX_READ);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(offset)).is_err() || f.take(length).read_to_end(&mut buf).is_err() {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "read_failed",
            format!("cannot read {}", q.path),
        );
    }
    Json(serde_json::json!({ "data": String::from_utf8_lossy(&buf), "offset": offset }))
        .into_response()
}

/// `GET /files/browse?path=P`: the directory's entries.
pub async fn browse(State(s): State<Arc<AgentShared>>, Query(q): Query<FileQuery>) -> Response {
    let path = match resolve_inside(s.driver.root(), &q.path) {
        Ok(p) => p,
        Err((status, msg)) => return refuse(status, "bad_path", msg),
    };
    let Ok(entries) = std::fs::read_dir(&path) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "not_a_directory",
            format!("{} is not a directory", q.path),
        );
    };
    let mut out: Vec<serde_json::Value> = entries
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs();
            Some(serde_json::json!({
                "path": e.path().display().to_string(),
                "size": m.len(),
                "mode": if m.is_dir() { "drwxr-xr-x" } else { "-rw-r--r--" },
                "mtime": mtime,
                "nlink": 1,
            }))
        })
        .collect();
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Json(out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sandboxes");
        std::fs::create_dir_all(root.join("t1")).unwrap();
        std::fs::write(root.join("t1/stdout"), "hi").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("t1/link")).unwrap();
        let ok = |p: &str| {
            resolve_inside(&root, p)
                .map(|_| ())
                .map_err(|e| e.0.as_u16())
        };
        assert_eq!(ok("t1/stdout"), Ok(()));
        assert_eq!(ok(&root.join("t1/stdout").display().to_string()), Ok(()));
        assert_eq!(ok("t1/../../secret"), Err(403));
        assert_eq!(ok("/etc/passwd"), Err(403));
        assert_eq!(ok("t1/link"), Err(403), "a symlink out of the sandbox");
        assert_eq!(ok("t1/nope"), Err(404));
    }
}
