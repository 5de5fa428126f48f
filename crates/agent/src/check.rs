//! Checks the leader asks this agent to run (`POST /v1/agent/check`), as
//! Mesos's executor runs them on the task's machine:
//! - COMMAND health checks: `/bin/sh -c <command>` in the task's sandbox
//!   with the task's environment (from its `task.json`, plus
//!   `MESOS_SANDBOX`), in a process group of its own that is killed whole
//!   at the timeout;
//! - HTTPS health and readiness checks: `curl -k` (corral has no TLS of its
//!   own; certificates are not verified, as in Marathon).
//!
//! Invariants:
//! - It answers facts ([`AgentCheckResult`]: exit code, last line of
//!   output, HTTP status); what they mean (healthy, ready) is the leader's
//!   decision. A check that ran answers 200 whatever its outcome; 4xx
//!   means the request was wrong (bad input, unknown task, stale epoch).
//! - Like every leader→agent message it is fenced: a request from an
//!   epoch older than the highest seen is refused.
//! - It never touches the task itself: no signal to the task, no file
//!   written in its sandbox. Only the check's own process group is killed.
//! - Deciding is pure ([`validate`], [`curl_args`], [`curl_result`],
//!   [`last_line`]); [`run_command`] and [`run_curl`] are the thin shells.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use corral_api::native::{AgentCheck, AgentCheckRequest, AgentCheckResult, ApiError};
use tokio::io::AsyncReadExt;

use crate::driver::DriverError;
use crate::AgentShared;

/// The longest timeout a check may ask for.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// How much of a command's output is kept (its end).
const TAIL_BYTES: usize = 8192;
/// The longest `last_line` answered, in characters.
const LAST_LINE_CHARS: usize = 300;
/// The longest readiness body answered, in bytes.
pub const BODY_BYTES: usize = 64 * 1024;
/// How long output is still read after a command ended (a background
/// process it left may hold the pipe open).
const DRAIN: Duration = Duration::from_millis(500);
/// curl gets this much longer than its own `--max-time` before it is
/// killed.
const CURL_SLACK: Duration = Duration::from_secs(5);

fn error(status: StatusCode, code: &str, message: String, field: Option<&str>) -> Response {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message,
            field: field.map(str::to_string),
        }),
    )
        .into_response()
}

/// `POST /v1/agent/check`: runs one check and answers what happened.
pub async fn check(State(s): State<Arc<AgentShared>>, body: Bytes) -> Response {
    let req: AgentCheckRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid check request: {e}"),
                None,
            )
        }
    };
    if let Err(stale) = s.fence().observe_and_persist(req.epoch) {
        return error(
            StatusCode::CONFLICT,
            "stale_epoch",
            stale.to_string(),
            Some("epoch"),
        );
    }
    if let Err((field, message)) = validate(&req.check) {
        return error(StatusCode::BAD_REQUEST, "bad_request", message, Some(field));
    }
    let result = match req.check {
        AgentCheck::Command {
            task_id,
            command,
            timeout_ms,
        } => {
            let found = s
                .driver
                .sandbox(&task_id)
                .and_then(|dir| Ok((s.driver.task(&task_id)?, dir)));
            let (stored, sandbox) = match found {
                Ok(found) => found,
                Err(e) => {
                    let (status, code) = match &e {
                        DriverError::BadId(_) => (StatusCode::BAD_REQUEST, "bad_task_id"),
                        DriverError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_task"),
                        _ => (StatusCode::INTERNAL_SERVER_ERROR, "driver"),
                    };
                    return error(status, code, e.to_string(), Some("check.task_id"));
                }
            };
            run_command(
                &sandbox,
                &stored.spec.env,
                stored.spec.user.as_deref(),
                &command,
                Duration::from_millis(timeout_ms),
            )
            .await
        }
        AgentCheck::Https {
            url,
            timeout_ms,
            keep_body,
        } => run_curl(&url, timeout_ms, keep_body).await,
    };
    Json(result).into_response()
}

/// Whether `check` can be run: a timeout within 1 ms..=1 h, a command, an
/// `https://` URL. Else the field to blame and what to do.
pub fn validate(check: &AgentCheck) -> Result<(), (&'static str, String)> {
    let timeout = match check {
        AgentCheck::Command { timeout_ms, .. } | AgentCheck::Https { timeout_ms, .. } => {
            *timeout_ms
        }
    };
    if timeout == 0 || timeout > MAX_TIMEOUT_MS {
        return Err((
            "check.timeout_ms",
            format!("timeout_ms {timeout} is out of range: use 1 to {MAX_TIMEOUT_MS}"),
        ));
    }
    match check {
        AgentCheck::Command { command, .. } if command.trim().is_empty() => Err((
            "check.command",
            "the command is empty: give a shell command to run".to_string(),
        )),
        AgentCheck::Https { url, .. }
            if !url.starts_with("https://") || url.chars().any(char::is_whitespace) =>
        {
            Err((
                "check.url",
                format!("{url:?} is not an https:// URL without spaces"),
            ))
        }
        _ => Ok(()),
    }
}

/// The end of a stream, at most [`TAIL_BYTES`].
#[derive(Debug, Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > TAIL_BYTES {
            let cut = self.0.len() - TAIL_BYTES;
            self.0.drain(..cut);
        }
    }
}

/// The last non-empty line of `output`, trimmed and at most
/// [`LAST_LINE_CHARS`] characters (its end, when longer).
pub fn last_line(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    let n = line.chars().count();
    if n > LAST_LINE_CHARS {
        let tail: String = line.chars().skip(n - LAST_LINE_CHARS).collect();
        format!("…{tail}")
    } else {
        line.to_string()
    }
}

/// Kills a check's process group (its id: the shell's pid) unless
/// disarmed, at the latest when dropped.
struct GroupGuard(Option<libc::pid_t>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: kill(2) on the check's own process group, whose
            // leader has not been reaped (so the id is not reused).
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `command` with `/bin/sh -c` in `sandbox` with `env`, as the task's
/// `user` (as its command runs, `crate::driver::user`), in a process group
/// of its own, killed whole after `timeout`.
pub async fn run_command(
    sandbox: &Path,
    env: &BTreeMap<String, String>,
    user: Option<&str>,
    command: &str,
    timeout: Duration,
) -> AgentCheckResult {
    let not_started = |reason: String| AgentCheckResult::NotStarted { reason };
    let run_as = match crate::driver::user::resolve(user) {
        Ok(r) => r,
        Err(e) => return not_started(e.to_string()),
    };
    // One pipe for stdout and stderr: the last line is the last written.
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return not_started(format!("cannot make a pipe for the check's output: {e}")),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return not_started(format!("cannot make a pipe for the check's output: {e}")),
    };
    let rx = match tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader)) {
        Ok(rx) => rx,
        Err(e) => return not_started(format!("cannot read the check's output: {e}")),
    };
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(sandbox)
        .envs(env)
        .env("MESOS_SANDBOX", sandbox)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .process_group(0)
        .kill_on_drop(true);
    match run_as {
        crate::driver::user::RunAs::Agent => {}
        crate::driver::user::RunAs::Same(account) => {
            cmd.envs(account.env());
        }
        crate::driver::user::RunAs::Switch(account) => {
            cmd.envs(account.env());
            // SAFETY: `become_user` only makes async-signal-safe calls
            // and allocates nothing (the account was looked up before).
            unsafe {
                cmd.pre_exec(move || crate::driver::user::become_user(&account));
            }
        }
    }
    let spawned = cmd.spawn();
    // The command holds our copies of the pipe's write end: close them, so
    // the read ends when the check's processes are gone.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return not_started(format!(
                "cannot start /bin/sh in {}: {e}",
                sandbox.display()
            ))
        }
    };
    let tail = Arc::new(Mutex::new(Tail::default()));
    let reading = {
        let tail = tail.clone();
        let mut rx = rx;
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = rx.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(&buf[..n]);
            }
        })
    };
    // Declared after `child`, so dropped first: a check whose request goes
    // away (the leader hung up) leaves nothing running.
    let mut group = GroupGuard(child.id().map(|pid| pid as libc::pid_t));
    let ended = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // Reaped: its pid, the group's id, may be reused from now on.
            group.disarm();
            Some(status)
        }
        Ok(Err(e)) => {
            group.kill();
            reading.abort();
            return not_started(format!("cannot wait for the check's shell: {e}"));
        }
        Err(_) => {
            // Not reaped yet, so the group id is still the shell's own.
            group.kill();
            let _ = child.wait().await;
            None
        }
    };
    let mut reading = reading;
    if tokio::time::timeout(DRAIN, &mut reading).await.is_err() {
        reading.abort();
    }
    let last_line = last_line(&tail.lock().unwrap_or_else(|p| p.into_inner()).0);
    match ended {
        None => AgentCheckResult::TimedOut {
            timeout_ms: timeout.as_millis() as u64,
            last_line,
        },
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => AgentCheckResult::Exited { code, last_line },
            (None, Some(signal)) => AgentCheckResult::Signaled { signal, last_line },
            (None, None) => AgentCheckResult::NotStarted {
                reason: format!("the check's shell ended without a status ({status})"),
            },
        },
    }
}

/// curl's arguments for a GET of `url` within `timeout_ms`: only the
/// status (`-w '%{http_code}'`, the body to /dev/null), or with
/// `keep_body` the body on stdout followed by a line with the status and
/// one with the content type.
pub fn curl_args(url: &str, timeout_ms: u64, keep_body: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "-q", // no ~/.curlrc
        "-k",
        "-s",
        "-S",
        "--noproxy",
        "*",
        "--max-time",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("{:.3}", timeout_ms as f64 / 1000.0));
    if keep_body {
        args.extend(["-w".into(), "\n%{http_code}\n%{content_type}".into()]);
    } else {
        args.extend([
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{http_code}".into(),
        ]);
    }
    args.push(url.to_string());
    args
}

/// What a curl run of [`curl_args`] means: its exit code (`None`: killed),
/// stdout and stderr.
pub fn curl_result(
    exit: Option<i32>,
    stdout: &[u8],
    stderr: &[u8],
    keep_body: bool,
) -> AgentCheckResult {
    let failed =
        |curl_exit: i32, message: String| AgentCheckResult::HttpFailed { curl_exit, message };
    let Some(code) = exit else {
        return failed(-1, "curl did not end in time and was killed".into());
    };
    if code != 0 {
        let message = match last_line(stderr) {
            m if m.is_empty() => format!("curl exited with status {code}"),
            m => m,
        };
        return failed(code, message);
    }
    let out = String::from_utf8_lossy(stdout);
    let (body, status, content_type) = if keep_body {
        let mut parts = out.rsplitn(3, '\n');
        let content_type = parts.next().unwrap_or("");
        let status = parts.next().unwrap_or("");
        (parts.next().unwrap_or(""), status, content_type)
    } else {
        ("", out.as_ref(), "")
    };
    match status.trim().parse::<u16>() {
        Ok(status) if status >= 100 => AgentCheckResult::HttpAnswer {
            status,
            content_type: content_type.trim().to_string(),
            body: truncate(body, BODY_BYTES),
        },
        _ => failed(
            0,
            format!(
                "curl gave no HTTP status (it wrote {:?})",
                last_line(stdout)
            ),
        ),
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// GETs `url` with curl (see [`curl_args`]).
pub async fn run_curl(url: &str, timeout_ms: u64, keep_body: bool) -> AgentCheckResult {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(curl_args(url, timeout_ms, keep_body))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let run = cmd.output();
    let within = Duration::from_millis(timeout_ms) + CURL_SLACK;
    match tokio::time::timeout(within, run).await {
        Err(_) => curl_result(None, b"", b"", keep_body),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => AgentCheckResult::CurlMissing,
        Ok(Err(e)) => AgentCheckResult::HttpFailed {
            curl_exit: -1,
            message: format!("cannot run curl: {e}"),
        },
        Ok(Ok(out)) => curl_result(out.status.code(), &out.stdout, &out.stderr, keep_body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines() {
        let long = "x".repeat(400);
        let cases: Vec<(&[u8], String)> = vec![
            (b"", String::new()),
            (b"one\ntwo\n", "two".into()),
            (b"one\ntwo", "two".into()),
            (b"one\n\n  \n", "one".into()),
            (b"  padded  \r\n", "padded".into()),
            (b"bad \xff byte\n", "bad \u{fffd} byte".into()),
            (long.as_bytes(), format!("…{}", "x".repeat(300))),
        ];
        for (input, want) in cases {
            assert_eq!(
                last_line(input),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_tail_keeps_the_end() {
        let mut t = Tail::default();
        t.push(&vec![b'a'; TAIL_BYTES]);
        t.push(b"\nlast");
        assert_eq!(t.0.len(), TAIL_BYTES);
        assert!(t.0.ends_with(b"\nlast"));
    }

    #[test]
    fn requests_are_validated() {
        let cmd = |command: &str, timeout_ms| AgentCheck::Command {
            task_id: "web.1".into(),
            command: command.into(),
            timeout_ms,
        };
        let https = |url: &str| AgentCheck::Https {
            url: url.into(),
            timeout_ms: 1000,
            keep_body: false,
        };
        let cases = [
            (cmd("true", 1000), None),
            (cmd("true", 0), Some("check.timeout_ms")),
            (cmd("true", MAX_TIMEOUT_MS + 1), Some("check.timeout_ms")),
            (cmd("  ", 1000), Some("check.command")),
            (https("https://10.0.0.1:31000/health"), None),
            (https("http://10.0.0.1:31000/health"), Some("check.url")),
            (https("https://10.0.0.1:31000/a b"), Some("check.url")),
        ];
        for (check, want) in cases {
            assert_eq!(validate(&check).err().map(|e| e.0), want, "{check:?}");
        }
    }

    #[test]
    fn curl_arguments() {
        assert_eq!(
            curl_args("https://h:1/x", 2500, false).join(" "),
            "-q -k -s -S --noproxy * --max-time 2.500 -o /dev/null -w %{http_code} https://h:1/x"
        );
        assert_eq!(
            curl_args("https://h:1/x", 1000, true).join(" "),
            "-q -k -s -S --noproxy * --max-time 1.000 -w \n%{http_code}\n%{content_type} https://h:1/x"
        );
    }

    #[test]
    fn curl_results() {
        let answer = |status, content_type: &str, body: &str| AgentCheckResult::HttpAnswer {
            status,
            content_type: content_type.into(),
            body: body.into(),
        };
        let failed = |curl_exit, message: &str| AgentCheckResult::HttpFailed {
            curl_exit,
            message: message.into(),
        };
        // (exit, stdout, stderr, keep_body) → result
        let cases: Vec<(Option<i32>, &str, &str, bool, AgentCheckResult)> = vec![
            (Some(0), "200", "", false, answer(200, "", "")),
            (Some(0), "503", "", false, answer(503, "", "")),
            (
                Some(7),
                "000",
                "curl: (7) Failed to connect to 10.0.0.1 port 31000: Connection refused\n",
                false,
                failed(
                    7,
                    "curl: (7) Failed to connect to 10.0.0.1 port 31000: Connection refused",
                ),
            ),
            (
                Some(28),
                "000",
                "",
                false,
                failed(28, "curl exited with status 28"),
            ),
            (
                None,
                "",
                "",
                false,
                failed(-1, "curl did not end in time and was killed"),
            ),
            (
                Some(0),
                "000",
                "",
                false,
                failed(0, "curl gave no HTTP status (it wrote \"000\")"),
            ),
            (
                Some(0),
                "not ready\n503\ntext/plain; charset=utf-8",
                "",
                true,
                answer(503, "text/plain; charset=utf-8", "not ready"),
            ),
            (
                Some(0),
                "line 1\nline 2\n\n200\n",
                "",
                true,
                answer(200, "", "line 1\nline 2\n"),
            ),
            (Some(0), "\n204\n", "", true, answer(204, "", "")),
        ];
        for (n, (exit, stdout, stderr, keep, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                curl_result(exit, stdout.as_bytes(), stderr.as_bytes(), keep),
                want,
                "case {n}"
            );
        }
        assert_eq!(truncate("héllo", 2), "h");
    }

    #[test]
    fn command_checks_run_as_the_tasks_user() {
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: switching users needs root (the CI machine runs as root)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(run_command(
            dir.path(),
            &BTreeMap::new(),
            Some("nobody"),
            "echo \"$(id -un) $USER\"",
            Duration::from_secs(5),
        ));
        assert_eq!(
            r,
            AgentCheckResult::Exited {
                code: 0,
                last_line: "nobody nobody".into()
            }
        );
        let r = rt.block_on(run_command(
            dir.path(),
            &BTreeMap::new(),
            Some("no-such-user-here"),
            "true",
            Duration::from_secs(5),
        ));
        assert!(
            matches!(&r, AgentCheckResult::NotStarted { reason } if reason.contains("does not exist")),
            "{r:?}"
        );
    }

    fn run(command: &str, timeout_ms: u64) -> (AgentCheckResult, std::time::Duration) {
        let dir = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([("GREETING".to_string(), "hi".to_string())]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let start = std::time::Instant::now();
        let r = rt.block_on(run_command(
            dir.path(),
            &env,
            None,
            command,
            Duration::from_millis(timeout_ms),
        ));
        (r, start.elapsed())
    }

    #[test]
    fn commands_run_in_the_sandbox_with_the_task_environment() {
        let exited = |code, last: &str| AgentCheckResult::Exited {
            code,
            last_line: last.into(),
        };
        let cases = [
            ("true", exited(0, "")),
            ("echo $GREETING; exit 3", exited(3, "hi")),
            // stdout and stderr together: the last written line.
            ("echo out; echo err >&2; exit 1", exited(1, "err")),
            (
                "test \"$PWD\" = \"$MESOS_SANDBOX\" && touch x && test -e \"$MESOS_SANDBOX/x\"",
                exited(0, ""),
            ),
        ];
        for (command, want) in cases {
            assert_eq!(run(command, 5000).0, want, "{command}");
        }
    }

    #[test]
    fn a_command_past_its_timeout_is_killed_with_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        // A child in the same group that would outlive the shell.
        let command = format!(
            "echo starting; sleep 30 & echo $! > {}; wait",
            pidfile.display()
        );
        let (r, took) = run(&command, 300);
        assert_eq!(
            r,
            AgentCheckResult::TimedOut {
                timeout_ms: 300,
                last_line: "starting".into()
            }
        );
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The sleep was killed with the group (it may linger as a zombie of
        // init for a moment: wait for it to go).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .chars()
                    .next();
                if stat.is_empty() || state == Some('Z') {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the check's child {pid} survived its timeout: {stat}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    #[test]
    fn a_missing_sandbox_is_named() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = rt.block_on(run_command(
            Path::new("/nonexistent/corral-sandbox"),
            &BTreeMap::new(),
            None,
            "true",
            Duration::from_secs(1),
        ));
        match r {
            AgentCheckResult::NotStarted { reason } => {
                assert!(reason.contains("/nonexistent/corral-sandbox"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
}
