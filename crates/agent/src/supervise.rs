//! `corral supervise SANDBOX`: the small per-task supervisor. It runs in a
//! session of its own (the agent starts it with setsid), so the agent can
//! die, restart or be upgraded while the task runs on.
//!
//! It reads the task from `SANDBOX/task.json`, works out who runs it
//! (`crate::driver::user`), fetches its URIs into the sandbox
//! (`crate::fetch`, progress on the task's stderr), starts
//! `sh -c COMMAND` in a new process group (so a kill reaches the task's
//! children too) with stdout/stderr appended to `SANDBOX/stdout` and
//! `SANDBOX/stderr`, records the task's pid in `SANDBOX/task.pid`, waits,
//! and records how the task ended in `SANDBOX/exit.json` (written
//! atomically). It never restarts a task: deciding that is the
//! scheduler's job. A task that cannot start (unknown user, a failed
//! fetch, limits that cannot be set up) ends as `Exit::Failed` with the
//! reason, which the reporter sends as TASK_FAILED; the reason is also
//! the last line of the task's stderr.
//!
//! A task for another user (the supervisor runs as root): the sandbox and
//! its stdout/stderr are handed to the user, the fetch runs in a child
//! process that has become the user for good (so it reads, writes and
//! unpacks only what the user may), and the command drops to the user's
//! groups, gid and uid before exec, with `HOME`, `USER` and `LOGNAME` set.
//! The directories above the sandbox must be searchable by the user.
//!
//! A kill asked for while the task still fetches (`kill_requested` in the
//! sandbox) stops the fetch and the command never starts; the task ends
//! as killed by SIGTERM.
//!
//! When the agent enforces limits (`cgroup_parent` in `task.json`), it
//! first makes the task's cgroup with `memory.max` and `cpu.max`, moves the
//! task into it before exec, and removes it once the task has ended. A task
//! whose limits cannot be set up does not run.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};

use corral_api::native::FetchUri;

use crate::cgroup::TaskCgroup;
use crate::driver::user::{self, Account, RunAs};
use crate::driver::{files, Exit, StoredTask};
use crate::fetch;

/// Runs the task described in `sandbox`; returns the supervisor's exit code.
pub fn run(sandbox: &Path) -> i32 {
    match supervise(sandbox) {
        Ok(()) => 0,
        Err(e) => {
            // Leave the reason where the task's owner looks, then where
            // the agent looks.
            if let Ok(mut f) = open_log(sandbox, files::STDERR) {
                let _ = writeln!(f, "corral supervise: {e}");
            }
            let exit = Exit::Failed { message: e.clone() };
            let _ = files::write_atomic(&sandbox.join(files::EXIT), &exit.to_json());
            eprintln!("corral supervise: {e}");
            1
        }
    }
}

/// Opens a sandbox log for appending (created if missing, never through a
/// link left under its name, never waiting on a FIFO).
fn open_log(sandbox: &Path, name: &str) -> Result<File, String> {
    let path = sandbox.join(name);
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn supervise(sandbox: &Path) -> Result<(), String> {
    let stored: StoredTask = files::read_json(&sandbox.join(files::SPEC))?;
    let spec = &stored.spec;
    let stdout = open_log(sandbox, files::STDOUT)?;
    let mut stderr = open_log(sandbox, files::STDERR)?;
    let run_as = user::resolve(spec.user.as_deref()).map_err(|e| e.to_string())?;
    if let RunAs::Switch(account) = &run_as {
        hand_over(sandbox, &[&stdout, &stderr], account)?;
    }
    let killed = || sandbox.join(files::KILL_REQUESTED).exists();
    if !spec.fetch.is_empty() {
        let fetched = match &run_as {
            RunAs::Switch(account) => fetch_as(account, sandbox, &spec.fetch, &stderr, &killed),
            RunAs::Agent | RunAs::Same(_) => {
                fetch::fetch_all(sandbox, &spec.fetch, &mut stderr, &killed)
                    .map_err(|e| e.to_string())
            }
        };
        if fetched.is_err() && killed() {
            return killed_before_start(sandbox);
        }
        fetched?;
    }
    if killed() {
        return killed_before_start(sandbox);
    }
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .current_dir(sandbox)
        .envs(&spec.env)
        .env("MESOS_SANDBOX", sandbox)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr.try_clone().map_err(|e| format!("stderr: {e}"))?)
        .process_group(0);
    if let RunAs::Same(account) | RunAs::Switch(account) = &run_as {
        cmd.envs(account.env());
    }
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
    if let RunAs::Switch(account) = &run_as {
        // After the cgroup hook: joining the cgroup needs root.
        let account = account.clone();
        // SAFETY: become_user only calls setgroups, setgid and setuid
        // (async-signal-safe) on values prepared before the fork.
        unsafe { cmd.pre_exec(move || user::become_user(&account)) };
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
            let _ = writeln!(stderr, "corral supervise: {e}");
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

/// A kill came while the task was fetching: it ends as killed by SIGTERM
/// without its command having run.
fn killed_before_start(sandbox: &Path) -> Result<(), String> {
    let exit = Exit::Signaled {
        signal: libc::SIGTERM,
    };
    files::write_atomic(&sandbox.join(files::EXIT), &exit.to_json())
}

/// Gives the sandbox directory and the task's logs to `account`, so the
/// fetch and the command (as that user) can write there.
fn hand_over(sandbox: &Path, logs: &[&File], account: &Account) -> Result<(), String> {
    let (uid, gid) = (Some(account.uid), Some(account.gid));
    std::os::unix::fs::lchown(sandbox, uid, gid).map_err(|e| {
        format!(
            "cannot give the sandbox {} to user {:?}: {e}",
            sandbox.display(),
            account.name
        )
    })?;
    for log in logs {
        std::os::unix::fs::fchown(log, uid, gid).map_err(|e| {
            format!(
                "cannot give the task's logs to user {:?}: {e}",
                account.name
            )
        })?;
    }
    Ok(())
}

/// Fetches `uris` as `account`: in a child process that becomes the user
/// for good, so a URI can only read, and an archive only write, what the
/// user may. The child's error comes back through a pipe.
fn fetch_as(
    account: &Account,
    sandbox: &Path,
    uris: &[FetchUri],
    log: &File,
    cancelled: &dyn Fn() -> bool,
) -> Result<(), String> {
    // fork without exec is sound only with one thread: the child runs
    // ordinary Rust code (it allocates). The supervisor starts none.
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
    if threads != 1 {
        return Err(format!(
            "the supervisor runs {threads} threads and cannot fork a fetcher safely"
        ));
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors of `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot start the fetcher: pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: both descriptors were just made and are owned by these Files.
    let (mut reader, mut writer) =
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    // SAFETY: this process has one thread (checked above), so the child
    // may run anything; it leaves with _exit and never returns here.
    match unsafe { libc::fork() } {
        -1 => Err(format!(
            "cannot start the fetcher: fork: {}",
            std::io::Error::last_os_error()
        )),
        0 => {
            drop(reader);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fetch_in_child(account, sandbox, uris, log, cancelled)
            }));
            let code = match outcome {
                Ok(Ok(())) => 0,
                Ok(Err(message)) => {
                    let _ = writer.write_all(message.as_bytes());
                    1
                }
                Err(_) => {
                    let _ = writer.write_all(b"the fetcher panicked");
                    2
                }
            };
            drop(writer);
            // SAFETY: _exit ends the child without running the parent's
            // exit handlers or unwinding into its stack.
            unsafe { libc::_exit(code) }
        }
        pid => {
            drop(writer);
            let mut message = String::new();
            let _ = reader.read_to_string(&mut message);
            let mut status = 0;
            loop {
                // SAFETY: waits for the child forked above.
                let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
                if rc == pid {
                    break;
                }
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(format!("waiting for the fetcher: {e}"));
                }
            }
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                Ok(())
            } else if !message.is_empty() {
                Err(message)
            } else {
                Err(format!(
                    "the fetcher ended with {}",
                    std::process::ExitStatus::from_raw(status)
                ))
            }
        }
    }
}

/// The fetcher's child: become the user, then fetch.
fn fetch_in_child(
    account: &Account,
    sandbox: &Path,
    uris: &[FetchUri],
    log: &File,
    cancelled: &dyn Fn() -> bool,
) -> Result<(), String> {
    user::become_user(account)
        .map_err(|e| format!("cannot become user {:?}: {e}", account.name))?;
    std::fs::read_dir(sandbox).map_err(|e| {
        format!(
            "user {:?} cannot open the sandbox {}: {e}; every directory above it must be searchable by that user (e.g. chmod o+x on the agent's data directory)",
            account.name,
            sandbox.display()
        )
    })?;
    let mut log = log;
    fetch::fetch_all(sandbox, uris, &mut log, cancelled).map_err(|e| e.to_string())
}
