//! Reports task states to the leader, at least once: every change the
//! driver sees is sent until the leader has recorded it, and what was
//! recorded is kept in the sandbox (`reported`), so a restarted agent sends
//! only what the leader has not got. What to report is decided by
//! [`report_for`], a pure function; [`send_batch`] delivers a tick's
//! reports in one call (the simulated agents of [`crate::sim`] use it too).

use std::sync::Arc;
use std::time::Duration;

use corral_api::client::Method;
use corral_api::native::{TaskStatusBatch, TaskStatusBatchAck, TaskStatusReport, MAX_STATUS_BATCH};
use corral_api::{Client, ClientError};

use crate::driver::{files, Exit, TaskState};
use crate::AgentShared;

/// How often task states are checked.
pub const INTERVAL: Duration = Duration::from_millis(200);
/// How often right after a launch or kill, so RUNNING and KILLED reach
/// the framework in milliseconds, not at the next tick.
pub const FAST_INTERVAL: Duration = Duration::from_millis(10);
/// How long the fast checks go on after a launch or kill.
pub const FAST_WINDOW: Duration = Duration::from_secs(1);
/// Marker file: a kill was asked for, so a signal death is TASK_KILLED.
pub const KILL_REQUESTED: &str = "kill_requested";
/// What the leader last recorded for this task.
pub const REPORTED: &str = "reported";

/// The Mesos state, reason and message for a driver state.
pub fn report_for(
    state: &TaskState,
    kill_requested: bool,
) -> (&'static str, Option<String>, Option<String>) {
    match state {
        TaskState::Starting => ("TASK_STARTING", None, None),
        TaskState::Running { .. } => ("TASK_RUNNING", None, None),
        TaskState::Finished(Exit::Exited { code: 0 }) => (
            "TASK_FINISHED",
            None,
            Some("Command exited with status 0".into()),
        ),
        TaskState::Finished(Exit::Exited { code }) => (
            "TASK_FAILED",
            Some("REASON_COMMAND_EXECUTOR_FAILED".into()),
            Some(format!("Command exited with status {code}")),
        ),
        TaskState::Finished(Exit::Signaled { signal }) if kill_requested => (
            "TASK_KILLED",
            None,
            Some(format!("Command terminated with signal {signal}")),
        ),
        TaskState::Finished(Exit::Signaled { signal }) => (
            "TASK_FAILED",
            Some("REASON_COMMAND_EXECUTOR_FAILED".into()),
            Some(format!("Command terminated with signal {signal}")),
        ),
        TaskState::Finished(Exit::Failed { message }) => (
            "TASK_FAILED",
            Some("REASON_EXECUTOR_TERMINATED".into()),
            Some(message.clone()),
        ),
        TaskState::Lost { reason } => (
            "TASK_GONE",
            Some("REASON_EXECUTOR_TERMINATED".into()),
            Some(reason.clone()),
        ),
    }
}

/// Sends reports in one call (`POST /v1/agents/statuses`, at most
/// [`MAX_STATUS_BATCH`]): one answer per report, `true` once it is
/// recorded (now or before), `false` when the leader refuses it (a task it
/// never assigned to this machine).
pub async fn send_batch(
    client: &Client,
    reports: Vec<TaskStatusReport>,
) -> Result<Vec<bool>, ClientError> {
    let batch = TaskStatusBatch { reports };
    client
        .call::<_, TaskStatusBatchAck>(Method::POST, "/v1/agents/statuses", Some(&batch))
        .await
        .map(|ack| ack.recorded)
}

/// The client reports go through: one report may take up to 5 s.
pub fn client(servers: Vec<String>) -> Client {
    Client::with_timeout(servers, Duration::from_secs(5))
}

pub async fn run(shared: Arc<AgentShared>) {
    let client = client(shared.cfg.servers.clone());
    let mut refused: std::collections::HashSet<(String, &'static str)> = Default::default();
    let mut announced: std::collections::HashSet<String> = Default::default();
    let mut fast_until = tokio::time::Instant::now();
    loop {
        let wait = if tokio::time::Instant::now() < fast_until {
            FAST_INTERVAL
        } else {
            INTERVAL
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.activity.notified() => {
                fast_until = tokio::time::Instant::now() + FAST_WINDOW;
            }
        }
        let Ok(tasks) = shared.driver.recover() else {
            continue;
        };
        // This tick's reports, with the sandbox and state name of each.
        let mut pending = Vec::new();
        for (id, state) in tasks {
            let Ok(dir) = shared.driver.sandbox(&id) else {
                continue;
            };
            let killed = dir.join(KILL_REQUESTED).exists();
            let (name, reason, message) = report_for(&state, killed);
            // The task's user owns its sandbox: never follow a link or block on a
            // FIFO it may have put there.
            let reported = files::read_small(&dir.join(REPORTED)).unwrap_or_default();
            // A live task is announced once per agent process even if it was
            // reported before: after an agent restart the leader learns what
            // still runs (and kills what it had given up on).
            let live = matches!(state, TaskState::Starting | TaskState::Running { .. });
            let announce = live && !announced.contains(&id);
            if (reported.trim() == name && !announce) || refused.contains(&(id.clone(), name)) {
                continue;
            }
            pending.push((
                TaskStatusReport {
                    agent_id: shared.registration.id.0.clone(),
                    task_id: id.clone(),
                    state: name.to_string(),
                    reason,
                    message,
                },
                dir,
                name,
            ));
        }
        for chunk in pending.chunks(MAX_STATUS_BATCH) {
            let reports = chunk.iter().map(|(r, _, _)| r.clone()).collect();
            let answers = match send_batch(&client, reports).await {
                Ok(a) if a.len() == chunk.len() => a,
                Ok(a) => {
                    tracing::warn!(
                        sent = chunk.len(),
                        answered = a.len(),
                        "the leader answered a different number of reports; retrying"
                    );
                    continue;
                }
                Err(e) => {
                    tracing::debug!(reports = chunk.len(), error = %e, "statuses not delivered; retrying");
                    continue;
                }
            };
            for ((report, dir, name), recorded) in chunk.iter().zip(answers) {
                let id = &report.task_id;
                if recorded {
                    let _ = files::write_atomic(&dir.join(REPORTED), name.as_bytes());
                    announced.insert(id.clone());
                } else if refused.insert((id.clone(), name)) {
                    // The leader refused it (a task it never assigned): say
                    // so once per process, not every tick.
                    tracing::warn!(task = %id, state = name, "the leader does not know this task");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        let cases = [
            (TaskState::Starting, false, "TASK_STARTING"),
            (TaskState::Running { pid: 1 }, false, "TASK_RUNNING"),
            (
                TaskState::Finished(Exit::Exited { code: 0 }),
                false,
                "TASK_FINISHED",
            ),
            (
                TaskState::Finished(Exit::Exited { code: 3 }),
                false,
                "TASK_FAILED",
            ),
            (
                TaskState::Finished(Exit::Signaled { signal: 15 }),
                true,
                "TASK_KILLED",
            ),
            (
                TaskState::Finished(Exit::Signaled { signal: 9 }),
                false,
                "TASK_FAILED",
            ),
            (
                TaskState::Finished(Exit::Failed {
                    message: "x".into(),
                }),
                false,
                "TASK_FAILED",
            ),
            (TaskState::Lost { reason: "x".into() }, false, "TASK_GONE"),
        ];
        for (state, killed, want) in cases {
            assert_eq!(
                report_for(&state, killed).0,
                want,
                "{state:?} killed={killed}"
            );
        }
        assert_eq!(
            report_for(&TaskState::Finished(Exit::Exited { code: 3 }), false)
                .2
                .unwrap(),
            "Command exited with status 3"
        );
    }
}
