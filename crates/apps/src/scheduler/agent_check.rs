//! Checks the task's own agent runs for the leader (`POST /v1/agent/check`
//! on :5051), as Mesos's executor runs them: COMMAND health checks, and
//! HTTPS health and readiness checks (through the agent's `curl`; corral
//! has no TLS of its own).
//!
//! Invariants:
//! - The agent answers facts (exit code, last output line, HTTP status);
//!   what they mean is decided here by pure functions
//!   ([`command_verdict`], [`https_verdict`], [`https_response`]), with
//!   the agent's answer (or why there is none) as an argument.
//! - [`Asker::ask`] is the thin shell: one request, carrying this leader's
//!   term (the agent refuses a stale leader's), waited for no longer than
//!   the check's own timeout plus [`ANSWER_SLACK`].
//! - Nothing here kills or records anything.

use std::time::Duration;

use corral_api::native::{AgentCheck, AgentCheckRequest, AgentCheckResult, ApiError};

use super::health::http_verdict;
use super::readiness::HttpResponse;

/// The failure cause of an HTTPS health check on an agent without curl.
pub const CURL_MISSING: &str = "HTTPS health checks need curl on the agent; install curl";
/// The failure cause of an HTTPS readiness check on an agent without curl.
pub const CURL_MISSING_READINESS: &str =
    "HTTPS readiness checks need curl on the agent; install curl";
/// How much longer than the check's own timeout the leader waits for the
/// agent's answer (the agent kills the check at its timeout).
pub const ANSWER_SLACK: Duration = Duration::from_secs(5);
/// The longest command text quoted in a failure cause.
const QUOTED_COMMAND_CHARS: usize = 80;

/// Sends checks to agents on behalf of this leader.
#[derive(Debug, Clone)]
pub struct Asker {
    pub http: reqwest::Client,
    /// This leader's term: the agent refuses checks from an older one.
    pub epoch: u64,
    pub leader_id: u64,
}

impl Asker {
    /// Asks the agent at `agent` (`ip:port`) to run `check`. `Err`: no
    /// answer, or a refusal, in words.
    pub async fn ask(&self, agent: &str, check: AgentCheck) -> Result<AgentCheckResult, String> {
        let timeout_ms = match &check {
            AgentCheck::Command { timeout_ms, .. } | AgentCheck::Https { timeout_ms, .. } => {
                *timeout_ms
            }
        };
        let req = AgentCheckRequest {
            epoch: self.epoch,
            leader_id: self.leader_id,
            check,
        };
        let resp = self
            .http
            .post(format!("http://{agent}/v1/agent/check"))
            .timeout(Duration::from_millis(timeout_ms) + ANSWER_SLACK)
            .json(&req)
            .send()
            .await
            .map_err(|e| format!("agent {agent} did not answer: {}", root_cause(&e)))?;
        let status = resp.status();
        if status.is_success() {
            return resp
                .json::<AgentCheckResult>()
                .await
                .map_err(|e| format!("agent {agent} answered something unreadable: {e}"));
        }
        let why = match resp.json::<ApiError>().await {
            Ok(e) => e.message,
            // An agent from before checks ran on agents.
            Err(_) if status == reqwest::StatusCode::NOT_FOUND => {
                "it does not run checks (upgrade its corral)".to_string()
            }
            Err(_) => status.to_string(),
        };
        Err(format!("agent {agent} refused the check: {why}"))
    }
}

/// The innermost error of a chain ("Connection refused (os error 111)").
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// `command` quoted for a cause, cut when long.
fn quoted(command: &str) -> String {
    let n = command.chars().count();
    if n > QUOTED_COMMAND_CHARS {
        let head: String = command.chars().take(QUOTED_COMMAND_CHARS).collect();
        format!("{:?}", format!("{head}…"))
    } else {
        format!("{command:?}")
    }
}

fn output(last_line: &str) -> String {
    if last_line.is_empty() {
        "no output".to_string()
    } else {
        format!("last output: {last_line:?}")
    }
}

/// What the agent's `answer` to a COMMAND health check of `command`
/// means: exit 0 passes; anything else fails, with a cause naming the
/// exit code (or signal, or timeout) and the last line of output.
pub fn command_verdict(
    command: &str,
    answer: &Result<AgentCheckResult, String>,
) -> Result<(), String> {
    let c = quoted(command);
    match answer {
        Ok(AgentCheckResult::Exited { code: 0, .. }) => Ok(()),
        Ok(AgentCheckResult::Exited { code, last_line }) => Err(format!(
            "command {c} exited with status {code} ({})",
            output(last_line)
        )),
        Ok(AgentCheckResult::Signaled { signal, last_line }) => Err(format!(
            "command {c} was ended by signal {signal} ({})",
            output(last_line)
        )),
        Ok(AgentCheckResult::TimedOut {
            timeout_ms,
            last_line,
        }) => Err(format!(
            "command {c} did not end within {} s and was killed ({})",
            seconds(*timeout_ms),
            output(last_line)
        )),
        Ok(AgentCheckResult::NotStarted { reason }) => {
            Err(format!("command {c} could not start: {reason}"))
        }
        Ok(other) => Err(format!(
            "command {c}: the agent answered with an HTTP result ({other:?})"
        )),
        Err(why) => Err(format!("command {c}: {why}")),
    }
}

/// What the agent's `answer` to an HTTPS health check of `url` means:
/// like HTTP, 200–399 passes; `None` (no result) for a 1xx with
/// `ignore_1xx`.
pub fn https_verdict(
    url: &str,
    ignore_1xx: bool,
    answer: &Result<AgentCheckResult, String>,
) -> Option<Result<(), String>> {
    match https_response(url, answer, CURL_MISSING) {
        Ok(r) => {
            http_verdict(r.status, ignore_1xx).map(|v| v.map_err(|w| format!("GET {url}: {w}")))
        }
        Err(why) => Some(Err(why)),
    }
}

/// The HTTP answer in the agent's `answer` to a GET of `url`, or why
/// there is none (`curl_missing` when the agent has no curl).
pub fn https_response(
    url: &str,
    answer: &Result<AgentCheckResult, String>,
    curl_missing: &str,
) -> Result<HttpResponse, String> {
    match answer {
        Ok(AgentCheckResult::HttpAnswer {
            status,
            content_type,
            body,
        }) => Ok(HttpResponse {
            status: *status,
            content_type: content_type.clone(),
            body: body.clone(),
        }),
        Ok(AgentCheckResult::HttpFailed { message, .. }) => Err(format!("GET {url}: {message}")),
        Ok(AgentCheckResult::CurlMissing) => Err(curl_missing.to_string()),
        Ok(other) => Err(format!(
            "GET {url}: the agent answered with a command result ({other:?})"
        )),
        Err(why) => Err(format!("GET {url}: {why}")),
    }
}

fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{:.1}", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the agent answered, or why it did not.
    type Answer = Result<AgentCheckResult, String>;

    fn exited(code: i32, last: &str) -> Answer {
        Ok(AgentCheckResult::Exited {
            code,
            last_line: last.into(),
        })
    }

    #[test]
    fn command_answers_as_health_results() {
        let long = "x".repeat(100);
        let cases: Vec<(&str, Answer, Result<(), String>)> = vec![
            ("true", exited(0, "fine"), Ok(())),
            (
                "test ! -e flag",
                exited(1, ""),
                Err("command \"test ! -e flag\" exited with status 1 (no output)".into()),
            ),
            (
                "check.sh",
                exited(2, "db down"),
                Err("command \"check.sh\" exited with status 2 (last output: \"db down\")".into()),
            ),
            (
                "check.sh",
                Ok(AgentCheckResult::Signaled {
                    signal: 9,
                    last_line: "oom".into(),
                }),
                Err("command \"check.sh\" was ended by signal 9 (last output: \"oom\")".into()),
            ),
            (
                "sleep 60",
                Ok(AgentCheckResult::TimedOut {
                    timeout_ms: 2000,
                    last_line: String::new(),
                }),
                Err(
                    "command \"sleep 60\" did not end within 2 s and was killed (no output)".into(),
                ),
            ),
            (
                "x",
                Ok(AgentCheckResult::NotStarted {
                    reason: "cannot start /bin/sh in /s: gone".into(),
                }),
                Err("command \"x\" could not start: cannot start /bin/sh in /s: gone".into()),
            ),
            (
                "x",
                Err("agent 10.0.0.1:5051 did not answer: Connection refused".into()),
                Err("command \"x\": agent 10.0.0.1:5051 did not answer: Connection refused".into()),
            ),
            (
                &long,
                exited(1, ""),
                Err(format!(
                    "command \"{}…\" exited with status 1 (no output)",
                    "x".repeat(80)
                )),
            ),
        ];
        for (n, (command, answer, want)) in cases.into_iter().enumerate() {
            assert_eq!(command_verdict(command, &answer), want, "case {n}");
        }
    }

    #[test]
    fn https_answers_as_health_results() {
        let url = "https://10.0.0.1:31000/health";
        let answer = |status| {
            Ok(AgentCheckResult::HttpAnswer {
                status,
                content_type: String::new(),
                body: String::new(),
            })
        };
        // (answer, ignoreHttp1xx) → result (None: no result)
        type Verdict = Option<Result<(), String>>;
        let cases: Vec<(Answer, bool, Verdict)> = vec![
            (answer(200), false, Some(Ok(()))),
            (answer(302), false, Some(Ok(()))),
            (
                answer(503),
                false,
                Some(Err(format!("GET {url}: answered HTTP 503"))),
            ),
            (answer(101), true, None),
            (
                Ok(AgentCheckResult::HttpFailed {
                    curl_exit: 7,
                    message: "curl: (7) Failed to connect".into(),
                }),
                false,
                Some(Err(format!("GET {url}: curl: (7) Failed to connect"))),
            ),
            (
                Ok(AgentCheckResult::CurlMissing),
                false,
                Some(Err(CURL_MISSING.into())),
            ),
            (
                Err("agent 10.0.0.1:5051 refused the check: no".into()),
                false,
                Some(Err(format!(
                    "GET {url}: agent 10.0.0.1:5051 refused the check: no"
                ))),
            ),
        ];
        for (n, (a, ignore, want)) in cases.into_iter().enumerate() {
            assert_eq!(https_verdict(url, ignore, &a), want, "case {n}");
        }
    }

    #[test]
    fn https_answers_as_responses() {
        let url = "https://h:1/ready";
        let got = https_response(
            url,
            &Ok(AgentCheckResult::HttpAnswer {
                status: 503,
                content_type: "text/plain".into(),
                body: "warming up".into(),
            }),
            CURL_MISSING_READINESS,
        );
        assert_eq!(
            got,
            Ok(HttpResponse {
                status: 503,
                content_type: "text/plain".into(),
                body: "warming up".into()
            })
        );
        assert_eq!(
            https_response(
                url,
                &Ok(AgentCheckResult::CurlMissing),
                CURL_MISSING_READINESS
            ),
            Err(CURL_MISSING_READINESS.to_string())
        );
        assert!(https_response(url, &exited(0, ""), CURL_MISSING_READINESS).is_err());
    }
}
