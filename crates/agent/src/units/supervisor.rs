//! `corral unit-supervise DIR`: one unit's supervisor, a detached process
//! (the manager starts it with setsid, so an agent restart or crash does
//! not reach it) that runs the unit's [`Lifecycle`] with real processes.
//!
//! It reads the unit from `DIR/unit.json` and what to do from `DIR/target`
//! (`launched`: start, `loaded`: stop), re-read on SIGHUP and every second;
//! SIGTERM (or SIGINT) means stop the unit, then exit. Each command runs
//! from its argv (never through a shell) in a process group of its own,
//! with the unit's environment, working directory and user, its stdout and
//! stderr going line by line into the unit's journal. After every change
//! it writes `DIR/status.json` atomically.
//!
//! It decides nothing itself: the lifecycle does. It waits for signals
//! (SIGCHLD, SIGTERM, SIGHUP) with `sigtimedwait`, bounded by the one timer.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use corral_api::units::UnitTarget;

use super::credentials::{self, Creds};
use super::environment;
use super::exec_line::ExecLine;
use super::files::{self, StatusFile, UnitFile};
use super::journal::{self, Journal, Lines};
use super::lifecycle::{Action, Event, ExitHow, Lifecycle, SignalTo, Timer, Which};
use super::service::{self, ServiceSpec};

/// How often the target file is read even without a SIGHUP.
const POLL: Duration = Duration::from_secs(1);

/// The wall clock in ms, for the lifecycle's `since` and start limit.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Supervises the unit in `dir` until told to exit; returns the exit code.
pub fn run(dir: &Path) -> i32 {
    match supervise(dir) {
        Ok(()) => 0,
        Err(e) => {
            // Only a start that failed gets here: say so where the manager
            // looks (a unit that cannot load is not supervised again).
            let hash = files::read_json::<UnitFile>(&dir.join(files::UNIT))
                .map(|u| u.hash)
                .unwrap_or_default();
            let _ = write_status(dir, &StatusFile::load_error(&hash, now_ms(), &e));
            eprintln!("corral unit-supervise {}: {e}", dir.display());
            1
        }
    }
}

fn write_status(dir: &Path, status: &StatusFile) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(status).map_err(|e| e.to_string())?;
    files::write_atomic(&dir.join(files::STATUS), &json)
}

fn supervise(dir: &Path) -> Result<(), String> {
    let me = std::process::id();
    files::write_supervisor_pid(dir, me)?;
    let unit: UnitFile = files::read_json(&dir.join(files::UNIT))?;
    let journal = Arc::new(Journal::new(dir, &unit.host, journal::LIMIT));
    let loaded = service::parse(&unit.name, &unit.options)
        .map_err(|e| e.to_string())
        .and_then(|spec| {
            let creds = credentials::resolve(spec.user.as_deref(), spec.group.as_deref())?;
            Ok((spec, creds))
        });
    let (spec, creds) = match loaded {
        Ok(l) => l,
        Err(why) => {
            journal.append("corral", me, &format!("Cannot load {}: {why}", unit.name));
            return Err(why);
        }
    };
    let set = signals::set();
    signals::block(&set)?;
    let mut s = Supervisor {
        dir: dir.to_path_buf(),
        hash: unit.hash,
        life: Lifecycle::new(spec.clone(), now_ms()),
        spec,
        creds,
        journal,
        me,
        main: None,
        main_group: None,
        control: None,
        timer: None,
        applied: None,
        events: VecDeque::new(),
        written: None,
    };
    s.run(&set)
}

struct Supervisor {
    dir: PathBuf,
    hash: String,
    spec: ServiceSpec,
    creds: Option<Creds>,
    journal: Arc<Journal>,
    life: Lifecycle,
    me: u32,
    main: Option<u32>,
    /// The process group of the last main process (what is left of it is
    /// signalled on stop even after the main process ended).
    main_group: Option<u32>,
    control: Option<u32>,
    timer: Option<(Instant, Timer)>,
    applied: Option<UnitTarget>,
    events: VecDeque<Event>,
    written: Option<StatusFile>,
}

impl Supervisor {
    fn run(&mut self, set: &libc::sigset_t) -> Result<(), String> {
        let mut terminate = false;
        let mut exiting = false;
        loop {
            if terminate && !exiting {
                exiting = true;
                self.events.push_back(Event::Stop);
            }
            if !exiting {
                if let Some(t) = files::read_target(&self.dir) {
                    if self.applied != Some(t) {
                        self.applied = Some(t);
                        self.events.push_back(match t {
                            UnitTarget::Launched => Event::Start,
                            UnitTarget::Loaded => Event::Stop,
                        });
                    }
                }
            }
            while let Some(event) = self.events.pop_front() {
                for action in self.life.step(event, now_ms()) {
                    self.act(action);
                }
            }
            self.write_status();
            if exiting && self.life.is_down() {
                return Ok(());
            }
            let wait = self
                .timer
                .map_or(POLL, |(at, _)| at.saturating_duration_since(Instant::now()))
                .min(POLL);
            if let Some(libc::SIGTERM | libc::SIGINT) = signals::wait(set, wait) {
                terminate = true;
            }
            self.reap();
            if let Some((at, fires)) = self.timer {
                if Instant::now() >= at {
                    self.timer = None;
                    self.events.push_back(match fires {
                        Timer::Timeout => Event::Timeout,
                        Timer::RestartDue => Event::RestartDue,
                    });
                }
            }
        }
    }

    fn log(&self, line: &str) {
        self.journal.append("corral", self.me, line);
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Spawn { which, line } => match self.spawn(&line, which) {
                Ok(pid) => match which {
                    Which::Main => {
                        self.main = Some(pid);
                        self.main_group = Some(pid);
                    }
                    Which::Control => self.control = Some(pid),
                },
                Err(why) => {
                    self.log(&format!("Failed to start {}: {why}", line.path));
                    self.events.push_back(Event::Exited {
                        which,
                        how: ExitHow::Code(203),
                    });
                }
            },
            Action::Signal { to, sig } => {
                let target = match to {
                    SignalTo::Main => self.main.map(|p| p as i32),
                    SignalTo::MainGroup => self.main_group.map(|p| -(p as i32)),
                    SignalTo::ControlGroup => self.control.map(|p| -(p as i32)),
                };
                if let Some(t) = target.filter(|t| t.abs() > 1) {
                    // SAFETY: kill(2) on a process (group) this supervisor started.
                    unsafe { libc::kill(t, sig.number()) };
                }
            }
            Action::ArmTimer { after_ms, fires } => {
                self.timer = Some((Instant::now() + Duration::from_millis(after_ms), fires))
            }
            Action::DisarmTimer => self.timer = None,
            Action::Log(line) => self.log(&line),
        }
    }

    /// Reaps every ended child; the unit's own become events.
    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid(2) on any child, without blocking.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            let how = if libc::WIFEXITED(status) {
                ExitHow::Code(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                ExitHow::Signal {
                    signal: libc::WTERMSIG(status),
                    core: libc::WCOREDUMP(status),
                }
            } else {
                continue;
            };
            let pid = pid as u32;
            let which = if self.main == Some(pid) {
                self.main = None;
                Which::Main
            } else if self.control == Some(pid) {
                self.control = None;
                Which::Control
            } else {
                continue;
            };
            self.events.push_back(Event::Exited { which, how });
        }
    }

    /// The environment `line` starts with (environment files read now).
    fn environment(&self, which: Which) -> Result<BTreeMap<String, String>, String> {
        let mut file_envs = Vec::new();
        for f in &self.spec.environment_files {
            match std::fs::read_to_string(&f.path) {
                Ok(text) => file_envs.push(environment::parse_file(&text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && f.optional => {}
                Err(e) => return Err(format!("EnvironmentFile={}: {e}", f.path)),
            }
        }
        let mut extra = Vec::new();
        if which == Which::Control {
            if let Some(pid) = self.main.filter(|_| self.life.main_running()) {
                extra.push(("MAINPID".to_string(), pid.to_string()));
            }
        }
        let base = self
            .creds
            .as_ref()
            .map(|c| c.env.clone())
            .unwrap_or_default();
        Ok(environment::compose(
            &base,
            &self.spec.environment,
            &file_envs,
            &extra,
        ))
    }

    fn working_directory(&self, env: &BTreeMap<String, String>) -> Result<PathBuf, String> {
        let Some(w) = &self.spec.working_directory else {
            return Ok(PathBuf::from("/"));
        };
        let path = if w.path == "~" {
            self.creds
                .as_ref()
                .and_then(|c| c.home.clone())
                .or_else(|| env.get("HOME").cloned())
                .unwrap_or_else(|| "/".into())
        } else {
            w.path.clone()
        };
        match (Path::new(&path).is_dir(), w.optional) {
            (true, _) => Ok(PathBuf::from(path)),
            (false, true) => Ok(PathBuf::from("/")),
            (false, false) => Err(format!("WorkingDirectory={path}: no such directory")),
        }
    }

    /// Starts `line` in a process group of its own; returns its pid.
    fn spawn(&self, line: &ExecLine, which: Which) -> Result<u32, String> {
        let env = self.environment(which)?;
        let argv = line.argv(&env);
        let program = find_program(&line.path, env.get("PATH").map_or("", String::as_str))?;
        let cwd = self.working_directory(&env)?;
        let (read, write) = pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
        let write2 = write
            .try_clone()
            .map_err(|e| format!("cannot make a pipe: {e}"))?;
        let mut cmd = Command::new(&program);
        if let Some(arg0) = argv.first() {
            cmd.arg0(arg0);
        }
        cmd.args(argv.iter().skip(1))
            .env_clear()
            .envs(&env)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write2))
            .process_group(0);
        if let Some(c) = self.creds.as_ref().filter(|c| c.switch) {
            cmd.uid(c.uid).gid(c.gid);
        }
        // SAFETY: the hook only calls sigaction and sigprocmask, which are
        // async-signal-safe, and allocates nothing.
        unsafe { cmd.pre_exec(signals::reset_for_child) };
        let child = cmd.spawn().map_err(|e| e.to_string())?;
        // Dropping the command closes our copies of the pipe's write end.
        drop(cmd);
        let pid = child.id();
        // The child is reaped by `reap` (waitpid on any pid), not by `child`.
        drop(child);
        let ident = Path::new(argv.first().map_or(line.path.as_str(), String::as_str))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| line.path.clone());
        let journal = self.journal.clone();
        std::thread::spawn(move || copy_output(read, &journal, &ident, pid));
        Ok(pid)
    }

    fn write_status(&mut self) {
        let (active, sub) = self.life.states();
        let status = StatusFile {
            hash: self.hash.clone(),
            load_state: "loaded".into(),
            active_state: active.as_str().into(),
            sub_state: sub.as_str().into(),
            main_pid: self.main.filter(|_| self.life.main_running()),
            control_pid: self.control,
            since_ms: self.life.since_ms(),
            result: self.life.result().map(|r| r.as_str().to_string()),
            restarts: self.life.restarts(),
            applied: self.applied,
            error: None,
        };
        if self.written.as_ref() == Some(&status) {
            return;
        }
        match write_status(&self.dir, &status) {
            Ok(()) => self.written = Some(status),
            Err(e) => eprintln!("corral unit-supervise: {e}"),
        }
    }
}

/// Copies a command's output into the journal, line by line, until every
/// writer (the command and whatever inherited its output) is gone.
fn copy_output(mut read: File, journal: &Journal, ident: &str, pid: u32) {
    let mut lines = Lines::new(journal::MAX_LINE);
    let mut buf = [0u8; 8192];
    loop {
        match read.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for l in lines.push(&buf[..n]) {
                    journal.append(ident, pid, &l);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if let Some(l) = lines.finish() {
        journal.append(ident, pid, &l);
    }
}

fn pipe() -> std::io::Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills `fds` with two new descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// The program to run: an absolute path as is, a bare name looked up in
/// the unit's `PATH`.
fn find_program(path: &str, search: &str) -> Result<PathBuf, String> {
    if path.starts_with('/') {
        return Ok(PathBuf::from(path));
    }
    search
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(path))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| format!("{path} is not in PATH ({search})"))
}

/// The signals the supervisor waits for instead of handling them.
mod signals {
    use std::time::Duration;

    pub fn set() -> libc::sigset_t {
        // SAFETY: sigemptyset/sigaddset initialise the set we own.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&mut set, s);
            }
            set
        }
    }

    /// Blocks them, so they wait for [`wait`]. Their dispositions are set
    /// to the default first: one inherited as ignored would never arrive
    /// (and an ignored SIGCHLD would reap children behind our back).
    pub fn block(set: &libc::sigset_t) -> Result<(), String> {
        for s in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: resets a disposition; no handler is installed.
            unsafe { libc::signal(s, libc::SIG_DFL) };
        }
        // SAFETY: changes this thread's mask; threads started later inherit it.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(format!(
                "cannot block signals: {}",
                std::io::Error::from_raw_os_error(rc)
            ));
        }
        Ok(())
    }

    /// In a command's child before exec: every signal back to its default
    /// disposition and none blocked, as systemd starts services (neither
    /// the supervisor's blocked signals nor signals ignored by whoever
    /// started the agent reach the unit).
    pub fn reset_for_child() -> std::io::Result<()> {
        // SAFETY: signal(2) and sigprocmask(2) are async-signal-safe; the
        // set is on the stack.
        unsafe {
            for s in 1..32 {
                if s != libc::SIGKILL && s != libc::SIGSTOP {
                    libc::signal(s, libc::SIG_DFL);
                }
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// The next pending signal of `set`, or `None` after `timeout`.
    pub fn wait(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: sigtimedwait reads `set` and `ts`, both valid.
        let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
        (sig > 0).then_some(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_in_path() {
        assert_eq!(find_program("/bin/x", "").unwrap(), PathBuf::from("/bin/x"));
        let sh = find_program("sh", environment::DEFAULT_PATH).unwrap();
        assert!(sh.ends_with("sh"), "{sh:?}");
        assert_eq!(
            find_program("no-such-program-corral", "/bin").unwrap_err(),
            "no-such-program-corral is not in PATH (/bin)"
        );
    }
}
