//! `corral supervise SANDBOX`: the small per-task supervisor. It runs in a
//! session of its own (the agent starts it with setsid), so the agent can
//! die, restart or be upgraded while the task runs on.
//!
//! It reads the task from `SANDBOX/task.json`, starts `sh -c COMMAND` in a
//! new process group (so a kill reaches the task's children too) with
//! stdout/stderr appended to `SANDBOX/stdout` and `SANDBOX/stderr`, records
//! the task's pid in `SANDBOX/task.pid`, waits, and records how the task
//! ended in `SANDBOX/exit.json` (written atomically). It never restarts a
//! task: deciding that is the scheduler's job.
//!
//! When the agent enforces limits (`cgroup_parent` in `task.json`), it
//! first makes the task's cgroup with `memory.max` and `cpu.max`, moves the
//! task into it before exec, and removes it once the task has ended. A task
//! whose limits cannot be set up does not run.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cgroup::TaskCgroup;
use crate::driver::{files, Exit, StoredTask};

/// Runs the task described in `sandbox`; returns the supervisor's exit code.
pub fn run(sandbox: &Path) -> i32 {
    match supervise(sandbox) {
        Ok(()) => 0,
        Err(e) => {
            // Leave the reason where the agent will look for it.
            let exit = Exit::Failed { message: e.clone() };
            let _ = files::write_atomic(&sandbox.join(files::EXIT), &exit.to_json());
            eprintln!("corral supervise: {e}");
            1
        }
    }
}

fn supervise(sandbox: &Path) -> Result<(), String> {
    let stored: StoredTask = files::read_json(&sandbox.join(files::SPEC))?;
    let spec = &stored.spec;
    let open = |name: &str| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(sandbox.join(name))
            .map_err(|e| format!("{}: {e}", sandbox.join(name).display()))
    };
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .current_dir(sandbox)
        .envs(&spec.env)
        .env("MESOS_SANDBOX", sandbox)
        .stdin(Stdio::null())
        .stdout(open(files::STDOUT)?)
        .stderr(open(files::STDERR)?)
        .process_group(0);
    let cgroup = match &stored.cgroup_parent {
        Some(parent) => Some(TaskCgroup::create(parent, &spec.id, &stored.limits)?),
        None => None,
    };
    if let Some(cg) = &cgroup {
        let procs = cg.procs_file();
        // SAFETY: the hook only calls open, write, close and getpid, which
        // are async-signal-safe, and allocates nothing.
        unsafe { cmd.pre_exec(move || procs.join()) };
    }
    let spawned = cmd
        .spawn()
        .map_err(|e| format!("cannot start /bin/sh for task {}: {e}", spec.id));
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            if let Some(cg) = cgroup {
                let _ = cg.remove();
            }
            return Err(e);
        }
    };
    files::write_atomic(&sandbox.join(files::PID), child.id().to_string().as_bytes())?;
    let status = child
        .wait()
        .map_err(|e| format!("waiting for task {}: {e}", spec.id))?;
    if let Some(cg) = cgroup {
        if let Err(e) = cg.remove() {
            // Leave the reason where the task's owner looks.
            if let Ok(mut f) = open(files::STDERR) {
                let _ = writeln!(f, "corral supervise: {e}");
            }
        }
    }
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Exited { code },
        (None, Some(signal)) => Exit::Signaled { signal },
        (None, None) => Exit::Failed {
            message: format!("task ended with {status}"),
        },
    };
    files::write_atomic(&sandbox.join(files::EXIT), &exit.to_json())
}
