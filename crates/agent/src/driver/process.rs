//! The process driver: each task runs as `/bin/sh -c COMMAND` under its own
//! `corral supervise` process, in a session of its own, so the agent's death
//! does not reach it. All state lives in the sandbox files, so a restarted
//! agent finds its tasks again with [`ProcessDriver::recover`].

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{files, valid_task_id, DriverError, Exit, Limits, StoredTask, TaskSpec, TaskState};

/// Runs tasks as supervised processes under `root/<task id>/`.
#[derive(Debug, Clone)]
pub struct ProcessDriver {
    root: PathBuf,
    /// The `corral` binary, run as `corral supervise SANDBOX`.
    supervisor: PathBuf,
}

fn io(e: impl std::fmt::Display) -> DriverError {
    DriverError::Io(e.to_string())
}

/// True if a process with this pid exists (signal 0 probes without sending).
fn alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

impl ProcessDriver {
    pub fn new(root: PathBuf, supervisor: PathBuf) -> Result<ProcessDriver, DriverError> {
        std::fs::create_dir_all(&root).map_err(|e| io(format!("{}: {e}", root.display())))?;
        Ok(ProcessDriver { root, supervisor })
    }

    /// The sandbox directory of task `id`.
    pub fn sandbox(&self, id: &str) -> Result<PathBuf, DriverError> {
        if !valid_task_id(id) {
            return Err(DriverError::BadId(id.to_string()));
        }
        Ok(self.root.join(id))
    }

    /// Starts a task without limits. Refuses an id that already has a
    /// sandbox: a task never runs twice on one machine.
    pub fn launch(&self, spec: &TaskSpec) -> Result<(), DriverError> {
        self.launch_limited(spec, Limits::default(), None)
    }

    /// Starts a task with `limits`, enforced in a cgroup under
    /// `cgroup_parent` when there is one (else only measured).
    pub fn launch_limited(
        &self,
        spec: &TaskSpec,
        limits: Limits,
        cgroup_parent: Option<&Path>,
    ) -> Result<(), DriverError> {
        let dir = self.sandbox(&spec.id)?;
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(DriverError::Duplicate(spec.id.clone()))
            }
            Err(e) => return Err(io(format!("{}: {e}", dir.display()))),
        }
        let stored = StoredTask {
            spec: spec.clone(),
            limits,
            cgroup_parent: cgroup_parent.map(Path::to_path_buf),
        };
        let json = serde_json::to_vec_pretty(&stored).map_err(io)?;
        files::write_atomic(&dir.join(files::SPEC), &json).map_err(io)?;
        let mut cmd = Command::new(&self.supervisor);
        cmd.arg("supervise")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe; it makes the supervisor the
        // leader of a new session, out of reach of the agent's signals.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            io(format!(
                "cannot start {} supervise: {e}",
                self.supervisor.display()
            ))
        })?;
        files::write_atomic(
            &dir.join(files::SUPERVISOR_PID),
            child.id().to_string().as_bytes(),
        )
        .map_err(io)?;
        // Reap the supervisor when it ends (after an agent restart, init does).
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(())
    }

    /// What task `id` is doing now.
    pub fn state(&self, id: &str) -> Result<TaskState, DriverError> {
        let dir = self.sandbox(id)?;
        if !dir.join(files::SPEC).exists() {
            return Err(DriverError::Unknown(id.to_string()));
        }
        if dir.join(files::EXIT).exists() {
            let exit: Exit = files::read_json(&dir.join(files::EXIT)).map_err(io)?;
            return Ok(TaskState::Finished(exit));
        }
        if let Some(pid) = files::read_pid(&dir.join(files::PID)) {
            if alive(pid) {
                return Ok(TaskState::Running { pid });
            }
        }
        // No exit record: the supervisor is starting, finishing, or gone.
        let supervisor = files::read_pid(&dir.join(files::SUPERVISOR_PID));
        if supervisor.is_some_and(alive) || supervisor.is_none() {
            return Ok(TaskState::Starting);
        }
        // The supervisor may have written exit.json just now.
        if dir.join(files::EXIT).exists() {
            return self.state(id);
        }
        Ok(TaskState::Lost {
            reason: "its supervisor ended without recording an exit".into(),
        })
    }

    /// Task `id` as launched: its spec and limits (from `task.json`).
    pub fn task(&self, id: &str) -> Result<StoredTask, DriverError> {
        let path = self.sandbox(id)?.join(files::SPEC);
        if !path.exists() {
            return Err(DriverError::Unknown(id.to_string()));
        }
        files::read_json(&path).map_err(io)
    }

    /// Sends `signal` to the task's whole process group.
    pub fn signal(&self, id: &str, signal: i32) -> Result<(), DriverError> {
        let dir = self.sandbox(id)?;
        let Some(pid) = files::read_pid(&dir.join(files::PID)) else {
            return Err(DriverError::Unknown(id.to_string()));
        };
        // SAFETY: kill(2) on the task's process group (pgid = its pid).
        unsafe { libc::kill(-(pid as libc::pid_t), signal) };
        Ok(())
    }

    /// SIGTERM, then SIGKILL if the task is still running after `grace`.
    /// Returns how it ended.
    pub async fn kill(&self, id: &str, grace: Duration) -> Result<Exit, DriverError> {
        let wait_exit = |within: Duration| async move {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                if let TaskState::Finished(exit) = self.state(id)? {
                    return Ok::<_, DriverError>(Some(exit));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        // A task still starting (its supervisor fetching its URIs) has no
        // process group yet: the marker stops the fetch and keeps the
        // command from starting; if it started meanwhile, it is signalled.
        let dir = self.sandbox(id)?;
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(10);
        let mut marked = false;
        loop {
            match self.state(id)? {
                TaskState::Finished(exit) => return Ok(exit),
                TaskState::Starting => {
                    if !marked {
                        files::touch(&dir.join(files::KILL_REQUESTED)).map_err(io)?;
                        marked = true;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(io(format!(
                            "task {id} was still starting {:?} after the kill",
                            grace + Duration::from_secs(10)
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                TaskState::Running { .. } | TaskState::Lost { .. } => break,
            }
        }
        self.signal(id, libc::SIGTERM)?;
        if let Some(exit) = wait_exit(grace).await? {
            return Ok(exit);
        }
        self.signal(id, libc::SIGKILL)?;
        wait_exit(Duration::from_secs(10))
            .await?
            .ok_or_else(|| io(format!("task {id} survived SIGKILL for 10 s")))
    }

    /// Every task with a sandbox here and its state: what a restarted agent
    /// knows without asking anyone.
    pub fn recover(&self) -> Result<Vec<(String, TaskState)>, DriverError> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| io(format!("{}: {e}", self.root.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if valid_task_id(&name) && entry.path().join(files::SPEC).exists() {
                out.push((name.clone(), self.state(&name)?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The sandbox root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
