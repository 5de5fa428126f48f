//! One service's life as systemd runs it: a state machine from events
//! (start, stop, a process exited, a timer fired) to a new ActiveState /
//! SubState and the [`Action`]s that carry it out (spawn a command, signal
//! a process group, arm the one timer, write a journal line).
//!
//! Pure: no process, no clock, no IO. The time of each event is an
//! argument; the supervisor (`supervisor.rs`) spawns, signals and waits.
//!
//! The path, as in systemd: inactive/dead → activating/start-pre (each
//! `ExecStartPre=` in turn; a failure without `-` fails the start) →
//! activating/start (oneshot: each `ExecStart=` in turn) → activating/
//! start-post → active/running (simple: the main process runs) or
//! active/exited (oneshot with `RemainAfterExit=`). Stopping, or the main
//! process ending on its own: deactivating/stop (`ExecStop=`, only after a
//! successful start) → SIGTERM to the main process group, SIGKILL after
//! `TimeoutStopSec=` → deactivating/stop-post (`ExecStopPost=`, always) →
//! inactive/dead, or failed/failed with the first failure's result → and,
//! unless stopped on purpose, activating/auto-restart per `Restart=`,
//! `RestartSec=` later. `TimeoutStartSec=` bounds start-pre..running;
//! `StartLimitBurst=` starts within `StartLimitIntervalSec=` at most.

use super::exec_line::ExecLine;
use super::service::{KillMode, Restart, ServiceSpec, ServiceType};

/// Which of the unit's two process slots: the main process (`ExecStart=`)
/// or the one control process (every other `Exec*=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Main,
    Control,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitHow {
    /// It exited with this status (the supervisor reports a command it
    /// could not start as 203, systemd's EXEC).
    Code(i32),
    /// A signal ended it; `core` if it dumped core.
    Signal { signal: i32, core: bool },
}

/// What happens to a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Its target became `launched`: start it (queued while it stops).
    Start,
    /// Its target became `loaded`, or it is being removed: stop it, and do
    /// not restart it.
    Stop,
    /// A process the unit started ended.
    Exited { which: Which, how: ExitHow },
    /// The timer armed with [`Timer::Timeout`] fired.
    Timeout,
    /// The timer armed with [`Timer::RestartDue`] fired.
    RestartDue,
}

/// What the one timer's expiry means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    Timeout,
    RestartDue,
}

/// Who a signal goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalTo {
    /// The main process only.
    Main,
    /// The main process's process group (what is left of it, even after the
    /// main process itself ended).
    MainGroup,
    /// The control process's process group.
    ControlGroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

impl Sig {
    pub fn number(self) -> i32 {
        match self {
            Sig::Term => 15,
            Sig::Kill => 9,
        }
    }
}

/// What the supervisor must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start `line` in the slot `which` (the slot was empty).
    Spawn {
        which: Which,
        line: ExecLine,
    },
    /// Send a signal; a process or group already gone is no error.
    Signal {
        to: SignalTo,
        sig: Sig,
    },
    /// (Re)arm the one timer to fire in `after_ms`, replacing any other.
    ArmTimer {
        after_ms: u64,
        fires: Timer,
    },
    DisarmTimer,
    /// A line for the unit's journal, in systemd's words.
    Log(String),
}

/// systemd's `ActiveState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveState {
    Active,
    Inactive,
    Failed,
    Activating,
    Deactivating,
}

impl ActiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveState::Active => "active",
            ActiveState::Inactive => "inactive",
            ActiveState::Failed => "failed",
            ActiveState::Activating => "activating",
            ActiveState::Deactivating => "deactivating",
        }
    }
}

/// systemd's service `SubState` (stop-sigterm/-sigkill show as `stop`,
/// final-sigterm/-sigkill as `stop-post`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState {
    Dead,
    StartPre,
    Start,
    StartPost,
    Running,
    Exited,
    Stop,
    StopPost,
    Failed,
    AutoRestart,
}

impl SubState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubState::Dead => "dead",
            SubState::StartPre => "start-pre",
            SubState::Start => "start",
            SubState::StartPost => "start-post",
            SubState::Running => "running",
            SubState::Exited => "exited",
            SubState::Stop => "stop",
            SubState::StopPost => "stop-post",
            SubState::Failed => "failed",
            SubState::AutoRestart => "auto-restart",
        }
    }
}

/// systemd's `Result=`: the first failure of a run, or success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitResult {
    Success,
    ExitCode,
    Signal,
    CoreDump,
    Timeout,
    StartLimitHit,
}

impl UnitResult {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitResult::Success => "success",
            UnitResult::ExitCode => "exit-code",
            UnitResult::Signal => "signal",
            UnitResult::CoreDump => "core-dump",
            UnitResult::Timeout => "timeout",
            UnitResult::StartLimitHit => "start-limit-hit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Dead,
    Failed,
    StartPre(usize),
    /// Oneshot: `ExecStart=` number i runs as the main process.
    Start(usize),
    StartPost(usize),
    Running,
    Exited,
    Stop(usize),
    /// The stop signal was sent; waiting for the processes to end.
    Kill(Sig),
    StopPost(usize),
    /// An `ExecStopPost=` command timed out and is being killed.
    FinalKill(Sig),
    AutoRestart,
}

/// One service's state machine.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    spec: ServiceSpec,
    phase: Phase,
    result: Option<UnitResult>,
    main: bool,
    /// A main process was started in this run, so its group may hold
    /// leftovers to signal.
    ran_main: bool,
    control: bool,
    main_ignore: bool,
    control_ignore: bool,
    stop_requested: bool,
    pending_start: bool,
    restarts: u32,
    /// When recent starts happened, for the start limit.
    starts: Vec<u64>,
    since_ms: u64,
}

/// The actions of one step and its time.
struct Out {
    now: u64,
    actions: Vec<Action>,
}

impl Out {
    fn log(&mut self, line: String) {
        self.actions.push(Action::Log(line));
    }
    fn timer(&mut self, ms: Option<u64>, fires: Timer) {
        self.actions.push(match ms {
            Some(after_ms) => Action::ArmTimer { after_ms, fires },
            None => Action::DisarmTimer,
        });
    }
}

/// Signals that end a daemon cleanly (systemd: HUP, INT, TERM, PIPE).
fn clean_signal(signal: i32) -> bool {
    matches!(signal, 1 | 2 | 13 | 15)
}

fn failure_of(how: ExitHow) -> UnitResult {
    match how {
        ExitHow::Code(_) => UnitResult::ExitCode,
        ExitHow::Signal { core: true, .. } => UnitResult::CoreDump,
        ExitHow::Signal { .. } => UnitResult::Signal,
    }
}

/// `code=exited, status=1/FAILURE` as systemd writes it.
pub fn describe_exit(how: ExitHow) -> String {
    match how {
        ExitHow::Code(c) => {
            let name = match c {
                0 => "/SUCCESS",
                1 => "/FAILURE",
                2 => "/INVALIDARGUMENT",
                3 => "/NOTIMPLEMENTED",
                4 => "/NOPERMISSION",
                5 => "/NOTINSTALLED",
                6 => "/NOTCONFIGURED",
                7 => "/NOTRUNNING",
                200 => "/CHDIR",
                203 => "/EXEC",
                217 => "/USER",
                _ => "",
            };
            format!("code=exited, status={c}{name}")
        }
        ExitHow::Signal { signal, core } => {
            let name = match signal {
                1 => "/HUP",
                2 => "/INT",
                3 => "/QUIT",
                6 => "/ABRT",
                9 => "/KILL",
                11 => "/SEGV",
                13 => "/PIPE",
                15 => "/TERM",
                _ => "",
            };
            let code = if core { "dumped" } else { "killed" };
            format!("code={code}, status={signal}{name}")
        }
    }
}

/// Whether `Restart=` restarts after a run that ended with `result`.
pub fn should_restart(policy: Restart, result: UnitResult) -> bool {
    use UnitResult::*;
    match result {
        StartLimitHit => false,
        Success => matches!(policy, Restart::Always | Restart::OnSuccess),
        ExitCode => matches!(policy, Restart::Always | Restart::OnFailure),
        Signal | CoreDump => matches!(
            policy,
            Restart::Always | Restart::OnFailure | Restart::OnAbnormal | Restart::OnAbort
        ),
        Timeout => matches!(
            policy,
            Restart::Always | Restart::OnFailure | Restart::OnAbnormal
        ),
    }
}

impl Lifecycle {
    /// A unit that has not run yet: inactive/dead since `now_ms`.
    pub fn new(spec: ServiceSpec, now_ms: u64) -> Lifecycle {
        Lifecycle {
            spec,
            phase: Phase::Dead,
            result: None,
            main: false,
            ran_main: false,
            control: false,
            main_ignore: false,
            control_ignore: false,
            stop_requested: false,
            pending_start: false,
            restarts: 0,
            starts: Vec::new(),
            since_ms: now_ms,
        }
    }

    pub fn states(&self) -> (ActiveState, SubState) {
        use ActiveState as A;
        use SubState as S;
        match self.phase {
            Phase::Dead => (A::Inactive, S::Dead),
            Phase::Failed => (A::Failed, S::Failed),
            Phase::StartPre(_) => (A::Activating, S::StartPre),
            Phase::Start(_) => (A::Activating, S::Start),
            Phase::StartPost(_) => (A::Activating, S::StartPost),
            Phase::Running => (A::Active, S::Running),
            Phase::Exited => (A::Active, S::Exited),
            Phase::Stop(_) | Phase::Kill(_) => (A::Deactivating, S::Stop),
            Phase::StopPost(_) | Phase::FinalKill(_) => (A::Deactivating, S::StopPost),
            Phase::AutoRestart => (A::Activating, S::AutoRestart),
        }
    }

    /// The last run's result; `None` before the first start.
    pub fn result(&self) -> Option<UnitResult> {
        self.result
    }

    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// When the unit entered its current (active, sub) state.
    pub fn since_ms(&self) -> u64 {
        self.since_ms
    }

    /// True while the main process runs (as far as the unit knows).
    pub fn main_running(&self) -> bool {
        self.main
    }

    /// True when nothing runs and nothing will happen without an event
    /// from outside: the supervisor may exit.
    pub fn is_down(&self) -> bool {
        matches!(self.phase, Phase::Dead | Phase::Failed) && !self.main && !self.control
    }

    /// Feeds one event that happened at `now_ms`; returns what to do.
    pub fn step(&mut self, event: Event, now_ms: u64) -> Vec<Action> {
        let mut out = Out {
            now: now_ms,
            actions: Vec::new(),
        };
        match event {
            Event::Start => self.on_start(&mut out),
            Event::Stop => self.on_stop(&mut out),
            Event::Exited { which, how } => match which {
                Which::Main if self.main => {
                    self.main = false;
                    self.main_exited(how, &mut out)
                }
                Which::Control if self.control => {
                    self.control = false;
                    self.control_exited(how, &mut out)
                }
                // An exit the unit no longer waits for (it gave up on it).
                _ => {}
            },
            Event::Timeout => self.on_timeout(&mut out),
            Event::RestartDue => {
                if self.phase == Phase::AutoRestart {
                    self.restarts += 1;
                    out.log(format!(
                        "Scheduled restart job, restart counter is at {}.",
                        self.restarts
                    ));
                    self.begin(&mut out);
                }
            }
        }
        out.actions
    }

    fn set(&mut self, phase: Phase, out: &Out) {
        let before = self.states();
        self.phase = phase;
        if self.states() != before {
            self.since_ms = out.now;
        }
    }

    fn set_result(&mut self, r: UnitResult) {
        if matches!(self.result, None | Some(UnitResult::Success)) {
            self.result = Some(r);
        }
    }

    fn failed(&self) -> bool {
        !matches!(self.result, None | Some(UnitResult::Success))
    }

    fn on_start(&mut self, out: &mut Out) {
        match self.phase {
            Phase::Dead | Phase::Failed => {
                self.restarts = 0;
                self.begin(out)
            }
            Phase::AutoRestart => {
                self.restarts = 0;
                out.actions.push(Action::DisarmTimer);
                self.begin(out)
            }
            Phase::Stop(_) | Phase::Kill(_) | Phase::StopPost(_) | Phase::FinalKill(_) => {
                self.pending_start = true
            }
            // Starting or started already.
            Phase::StartPre(_)
            | Phase::Start(_)
            | Phase::StartPost(_)
            | Phase::Running
            | Phase::Exited => {}
        }
    }

    fn on_stop(&mut self, out: &mut Out) {
        self.pending_start = false;
        match self.phase {
            Phase::Dead | Phase::Failed => {}
            Phase::AutoRestart => {
                self.stop_requested = true;
                out.actions.push(Action::DisarmTimer);
                let next = if self.failed() {
                    Phase::Failed
                } else {
                    Phase::Dead
                };
                self.set(next, out);
            }
            Phase::StartPre(_) | Phase::Start(_) | Phase::StartPost(_) => {
                // The start did not complete: ExecStop= does not run.
                self.stop_requested = true;
                out.log(format!("Stopping {}...", self.spec.title()));
                self.kill(Sig::Term, out);
            }
            Phase::Running | Phase::Exited => {
                self.stop_requested = true;
                out.log(format!("Stopping {}...", self.spec.title()));
                self.stop_commands(0, out);
            }
            Phase::Stop(_) | Phase::Kill(_) | Phase::StopPost(_) | Phase::FinalKill(_) => {
                self.stop_requested = true
            }
        }
    }

    /// A start: the start limit, then start-pre.
    fn begin(&mut self, out: &mut Out) {
        let (interval, burst) = (
            self.spec.start_limit_interval_ms,
            self.spec.start_limit_burst,
        );
        if interval > 0 && burst > 0 {
            self.starts
                .retain(|t| out.now.saturating_sub(*t) < interval);
            if self.starts.len() >= burst as usize {
                self.result = Some(UnitResult::StartLimitHit);
                out.log("Start request repeated too quickly.".into());
                out.log("Failed with result 'start-limit-hit'.".into());
                out.actions.push(Action::DisarmTimer);
                self.set(Phase::Failed, out);
                return;
            }
            self.starts.push(out.now);
        }
        self.result = Some(UnitResult::Success);
        self.ran_main = false;
        self.stop_requested = false;
        self.pending_start = false;
        out.log(format!("Starting {}...", self.spec.title()));
        out.timer(self.spec.timeout_start_ms, Timer::Timeout);
        self.start_pre(0, out);
    }

    fn spawn(&mut self, which: Which, line: ExecLine, out: &mut Out) {
        match which {
            Which::Main => {
                self.main = true;
                self.ran_main = true;
                self.main_ignore = line.ignore_failure;
            }
            Which::Control => {
                self.control = true;
                self.control_ignore = line.ignore_failure;
            }
        }
        out.actions.push(Action::Spawn { which, line });
    }

    fn start_pre(&mut self, i: usize, out: &mut Out) {
        match self.spec.exec_start_pre.get(i).cloned() {
            Some(line) => {
                self.set(Phase::StartPre(i), out);
                self.spawn(Which::Control, line, out);
            }
            None => self.start_main(0, out),
        }
    }

    fn start_main(&mut self, i: usize, out: &mut Out) {
        let line = self.spec.exec_start.get(i).cloned();
        match (self.spec.kind, line) {
            (ServiceType::Simple, Some(line)) if i == 0 => {
                self.spawn(Which::Main, line, out);
                self.start_post(0, out);
            }
            (ServiceType::Oneshot, Some(line)) => {
                self.set(Phase::Start(i), out);
                self.spawn(Which::Main, line, out);
            }
            _ => self.start_post(0, out),
        }
    }

    fn start_post(&mut self, i: usize, out: &mut Out) {
        match self.spec.exec_start_post.get(i).cloned() {
            Some(line) => {
                self.set(Phase::StartPost(i), out);
                self.spawn(Which::Control, line, out);
            }
            None => self.running(out),
        }
    }

    /// The start is complete.
    fn running(&mut self, out: &mut Out) {
        out.actions.push(Action::DisarmTimer);
        if self.main {
            self.set(Phase::Running, out);
            out.log(format!("Started {}.", self.spec.title()));
        } else if self.spec.remain_after_exit && !self.failed() {
            self.set(Phase::Exited, out);
            out.log(format!("Finished {}.", self.spec.title()));
        } else {
            // The work is done (oneshot) or the main process already ended:
            // the unit stops on its own, ExecStop= included.
            self.stop_commands(0, out);
        }
    }

    fn stop_commands(&mut self, i: usize, out: &mut Out) {
        match self.spec.exec_stop.get(i).cloned() {
            Some(line) => {
                self.set(Phase::Stop(i), out);
                out.timer(self.spec.timeout_stop_ms, Timer::Timeout);
                self.spawn(Which::Control, line, out);
            }
            None => self.kill(Sig::Term, out),
        }
    }

    /// Sends `sig` to whatever still runs, then waits for it (or goes on to
    /// stop-post when nothing needs waiting for).
    fn kill(&mut self, sig: Sig, out: &mut Out) {
        let mode = self.spec.kill_mode;
        let to_main = match (mode, sig) {
            (KillMode::None, _) => None,
            (KillMode::ControlGroup, _) | (KillMode::Mixed, Sig::Kill) => {
                self.ran_main.then_some(SignalTo::MainGroup)
            }
            (KillMode::Process, _) | (KillMode::Mixed, Sig::Term) => {
                self.main.then_some(SignalTo::Main)
            }
        };
        if let Some(to) = to_main {
            out.actions.push(Action::Signal { to, sig });
        }
        if self.control {
            out.actions.push(Action::Signal {
                to: SignalTo::ControlGroup,
                sig,
            });
        }
        if mode == KillMode::None && self.main {
            out.log(
                "The main process remains running after the unit stopped (KillMode=none).".into(),
            );
            self.main = false;
        }
        if self.main || self.control {
            self.set(Phase::Kill(sig), out);
            out.timer(self.spec.timeout_stop_ms, Timer::Timeout);
        } else {
            self.stop_post(0, out);
        }
    }

    fn stop_post(&mut self, i: usize, out: &mut Out) {
        match self.spec.exec_stop_post.get(i).cloned() {
            Some(line) => {
                self.set(Phase::StopPost(i), out);
                out.timer(self.spec.timeout_stop_ms, Timer::Timeout);
                self.spawn(Which::Control, line, out);
            }
            None => self.dead(out),
        }
    }

    fn final_kill(&mut self, sig: Sig, out: &mut Out) {
        out.actions.push(Action::Signal {
            to: SignalTo::ControlGroup,
            sig,
        });
        self.set(Phase::FinalKill(sig), out);
        out.timer(self.spec.timeout_stop_ms, Timer::Timeout);
    }

    /// Every process is gone: inactive/dead or failed, then maybe a start
    /// that waited or an automatic restart.
    fn dead(&mut self, out: &mut Out) {
        out.actions.push(Action::DisarmTimer);
        let result = self.result.unwrap_or(UnitResult::Success);
        if result == UnitResult::Success {
            out.log("Deactivated successfully.".into());
        } else {
            out.log(format!("Failed with result '{}'.", result.as_str()));
        }
        if self.pending_start {
            self.set(Phase::Dead, out);
            self.restarts = 0;
            self.begin(out);
        } else if !self.stop_requested && should_restart(self.spec.restart, result) {
            self.set(Phase::AutoRestart, out);
            out.actions.push(Action::ArmTimer {
                after_ms: self.spec.restart_ms,
                fires: Timer::RestartDue,
            });
        } else if result == UnitResult::Success {
            self.set(Phase::Dead, out);
        } else {
            self.set(Phase::Failed, out);
        }
    }

    fn main_exited(&mut self, how: ExitHow, out: &mut Out) {
        let daemon = self.spec.kind == ServiceType::Simple;
        let stopping = matches!(self.phase, Phase::Kill(_));
        let clean = match how {
            ExitHow::Code(c) => c == 0,
            // The stop signals we sent end a process cleanly.
            ExitHow::Signal { signal, core } => {
                !core
                    && ((daemon && clean_signal(signal))
                        || (stopping && (signal == 9 || signal == 15)))
            }
        };
        let failed = !clean && !self.main_ignore;
        if !clean {
            out.log(format!(
                "Main process exited, {}{}",
                describe_exit(how),
                if self.main_ignore { " (ignoring)" } else { "" }
            ));
        }
        if failed {
            self.set_result(failure_of(how));
        }
        match self.phase {
            Phase::Start(i) => {
                if failed {
                    self.kill(Sig::Term, out)
                } else {
                    self.start_main(i + 1, out)
                }
            }
            Phase::Running => self.stop_commands(0, out),
            Phase::Kill(_) => self.killed(out),
            // start-post or ExecStop= still runs; its end moves on.
            _ => {}
        }
    }

    fn control_exited(&mut self, how: ExitHow, out: &mut Out) {
        let clean = how == ExitHow::Code(0);
        let failed = !clean && !self.control_ignore;
        if !clean {
            out.log(format!(
                "Control process exited, {}{}",
                describe_exit(how),
                if self.control_ignore {
                    " (ignoring)"
                } else {
                    ""
                }
            ));
        }
        if failed && !matches!(self.phase, Phase::Kill(_) | Phase::FinalKill(_)) {
            self.set_result(failure_of(how));
        }
        match self.phase {
            Phase::StartPre(i) if !failed => self.start_pre(i + 1, out),
            Phase::StartPost(i) if !failed => self.start_post(i + 1, out),
            Phase::Stop(i) if !failed => self.stop_commands(i + 1, out),
            Phase::StartPre(_) | Phase::StartPost(_) | Phase::Stop(_) => self.kill(Sig::Term, out),
            Phase::Kill(_) => self.killed(out),
            Phase::StopPost(i) if !failed => self.stop_post(i + 1, out),
            Phase::StopPost(_) | Phase::FinalKill(_) => self.dead(out),
            _ => {}
        }
    }

    /// In stop-sigterm/-sigkill: go on once nothing is left to wait for.
    fn killed(&mut self, out: &mut Out) {
        if !self.main && !self.control {
            self.stop_post(0, out);
        }
    }

    fn on_timeout(&mut self, out: &mut Out) {
        match self.phase {
            Phase::StartPre(_) | Phase::Start(_) | Phase::StartPost(_) => {
                out.log("Start operation timed out. Terminating.".into());
                self.set_result(UnitResult::Timeout);
                self.kill(Sig::Term, out);
            }
            Phase::Stop(_) => {
                out.log("Stopping timed out. Terminating.".into());
                self.set_result(UnitResult::Timeout);
                self.kill(Sig::Term, out);
            }
            Phase::Kill(Sig::Term) => {
                out.log("State 'stop-sigterm' timed out. Killing.".into());
                self.set_result(UnitResult::Timeout);
                self.kill(Sig::Kill, out);
            }
            Phase::Kill(Sig::Kill) => {
                out.log("Processes still around after SIGKILL. Ignoring.".into());
                self.main = false;
                self.control = false;
                self.stop_post(0, out);
            }
            Phase::StopPost(_) => {
                out.log("State 'stop-post' timed out. Terminating.".into());
                self.set_result(UnitResult::Timeout);
                self.final_kill(Sig::Term, out);
            }
            Phase::FinalKill(Sig::Term) => {
                out.log("State 'final-sigterm' timed out. Killing.".into());
                self.final_kill(Sig::Kill, out);
            }
            Phase::FinalKill(Sig::Kill) => {
                out.log("Processes still around after final SIGKILL. Ignoring.".into());
                self.control = false;
                self.dead(out);
            }
            // A timer from a state already left.
            Phase::Dead | Phase::Failed | Phase::Running | Phase::Exited | Phase::AutoRestart => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::service;

    fn spec(text: &str) -> ServiceSpec {
        let mut section = String::new();
        let mut opts = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                opts.push(corral_api::units::UnitOption::new(&section, k, v));
            }
        }
        service::parse("t.service", &opts).expect("a valid test unit")
    }

    fn event(text: &str) -> Event {
        let w: Vec<&str> = text.split_whitespace().collect();
        let which = |s: &str| match s {
            "main" => Which::Main,
            "control" => Which::Control,
            other => panic!("no process slot {other}"),
        };
        match w[..] {
            ["start"] => Event::Start,
            ["stop"] => Event::Stop,
            ["timeout"] => Event::Timeout,
            ["restart-due"] => Event::RestartDue,
            [slot, "exit", code] => Event::Exited {
                which: which(slot),
                how: ExitHow::Code(code.parse().unwrap()),
            },
            [slot, "signal", sig] => Event::Exited {
                which: which(slot),
                how: ExitHow::Signal {
                    signal: sig.parse().unwrap(),
                    core: false,
                },
            },
            [slot, "core", sig] => Event::Exited {
                which: which(slot),
                how: ExitHow::Signal {
                    signal: sig.parse().unwrap(),
                    core: true,
                },
            },
            _ => panic!("unknown event {text:?}"),
        }
    }

    fn show(a: &Action) -> Option<String> {
        Some(match a {
            Action::Spawn { which, line } => format!(
                "{} {}",
                if *which == Which::Main {
                    "main"
                } else {
                    "control"
                },
                line.args.join(" ")
            ),
            Action::Signal { to, sig } => format!(
                "{sig:?} {}",
                match to {
                    SignalTo::Main => "main",
                    SignalTo::MainGroup => "main-group",
                    SignalTo::ControlGroup => "control-group",
                }
            )
            .to_uppercase(),
            Action::ArmTimer { after_ms, fires } => match fires {
                Timer::Timeout => format!("timeout {after_ms}"),
                Timer::RestartDue => format!("restart in {after_ms}"),
            },
            Action::DisarmTimer => "disarm".into(),
            Action::Log(_) => return None,
        })
    }

    /// Runs a script against `unit`: one step a line,
    /// `[@TIME] EVENT => ACTIVE/SUB [result] | ACTIONS, comma-separated`
    /// (journal lines left out). Time advances by 10 ms a line unless given.
    fn check(unit: &str, script: &str) {
        let mut l = Lifecycle::new(spec(unit), 0);
        let mut now = 0;
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (input, want) = line.split_once("=>").expect("EVENT => STATE | ACTIONS");
            let mut input = input.trim();
            if let Some(rest) = input.strip_prefix('@') {
                let (t, ev) = rest.split_once(' ').unwrap();
                now = t.parse().unwrap();
                input = ev;
            } else {
                now += 10;
            }
            let actions = l.step(event(input), now);
            let (a, s) = l.states();
            let shown: Vec<String> = actions.iter().filter_map(show).collect();
            let result = match l.result() {
                Some(UnitResult::Success) | None => String::new(),
                Some(r) => format!(" {}", r.as_str()),
            };
            let got = format!(
                "{}/{}{result} | {}",
                a.as_str(),
                s.as_str(),
                shown.join(", ")
            );
            let want = want.trim();
            assert_eq!(got.trim_end(), want, "after `{input}` in:\n{script}");
        }
    }

    #[test]
    fn simple_start_run_and_stop() {
        check(
            "[Service]
             ExecStartPre=-/bin/false
             ExecStartPre=/bin/prepare
             ExecStart=/bin/sleep 600
             ExecStartPost=/bin/announce
             ExecStop=/bin/drain
             ExecStopPost=/bin/cleanup",
            "start        => activating/start-pre | timeout 90000, control /bin/false
             control exit 1 => activating/start-pre | control /bin/prepare
             control exit 0 => activating/start-post | main /bin/sleep 600, control /bin/announce
             control exit 0 => active/running | disarm
             start          => active/running |
             stop           => deactivating/stop | timeout 90000, control /bin/drain
             control exit 0 => deactivating/stop | TERM MAIN-GROUP, timeout 90000
             main signal 15 => deactivating/stop-post | timeout 90000, control /bin/cleanup
             control exit 0 => inactive/dead | disarm
             stop           => inactive/dead |",
        );
    }

    #[test]
    fn a_failing_start_pre_fails_the_start_and_still_runs_stop_post() {
        check(
            "[Service]
             ExecStartPre=/bin/false
             ExecStart=/bin/sleep 600
             ExecStop=/bin/never
             ExecStopPost=/bin/cleanup",
            "start          => activating/start-pre | timeout 90000, control /bin/false
             control exit 1 => deactivating/stop-post exit-code | timeout 90000, control /bin/cleanup
             control exit 0 => failed/failed exit-code | disarm",
        );
    }

    #[test]
    fn main_exit_runs_exec_stop_and_restart_policy() {
        // Restart=no: failed with exit-code.
        check(
            "[Service]
             ExecStart=/bin/sh -c 'exit 1'
             ExecStopPost=/bin/cleanup",
            "start          => active/running | timeout 90000, main /bin/sh -c exit 1, disarm
             main exit 1    => deactivating/stop-post exit-code | TERM MAIN-GROUP, timeout 90000, control /bin/cleanup
             control exit 0 => failed/failed exit-code | disarm",
        );
        // Restart=on-failure: auto-restart after RestartSec, counting.
        check(
            "[Service]
             ExecStart=/bin/fail
             Restart=on-failure
             RestartSec=100ms",
            "start       => active/running | timeout 90000, main /bin/fail, disarm
             main exit 1 => activating/auto-restart exit-code | TERM MAIN-GROUP, disarm, restart in 100
             restart-due => active/running | timeout 90000, main /bin/fail, disarm
             main exit 0 => inactive/dead | TERM MAIN-GROUP, disarm",
        );
        // Restart=always restarts a clean exit; a stop ends it for good.
        check(
            "[Service]
             ExecStart=/bin/work
             Restart=always",
            "start       => active/running | timeout 90000, main /bin/work, disarm
             main exit 0 => activating/auto-restart | TERM MAIN-GROUP, disarm, restart in 100
             stop        => inactive/dead | disarm
             restart-due => inactive/dead |",
        );
        // on-abnormal: a signal restarts, an exit code does not.
        check(
            "[Service]
             ExecStart=/bin/work
             Restart=on-abnormal",
            "start        => active/running | timeout 90000, main /bin/work, disarm
             main signal 9 => activating/auto-restart signal | TERM MAIN-GROUP, disarm, restart in 100
             restart-due  => active/running | timeout 90000, main /bin/work, disarm
             main core 11 => activating/auto-restart core-dump | TERM MAIN-GROUP, disarm, restart in 100
             restart-due  => active/running | timeout 90000, main /bin/work, disarm
             main exit 2  => failed/failed exit-code | TERM MAIN-GROUP, disarm",
        );
        // SIGTERM from outside is a clean end for a daemon.
        check(
            "[Service]
             ExecStart=/bin/work
             Restart=on-failure",
            "start          => active/running | timeout 90000, main /bin/work, disarm
             main signal 15 => inactive/dead | TERM MAIN-GROUP, disarm",
        );
    }

    #[test]
    fn start_limit() {
        check(
            "[Unit]
             StartLimitBurst=2
             StartLimitIntervalSec=1s
             [Service]
             ExecStart=/bin/fail
             Restart=always",
            "@0 start         => active/running | timeout 90000, main /bin/fail, disarm
             @10 main exit 1  => activating/auto-restart exit-code | TERM MAIN-GROUP, disarm, restart in 100
             @110 restart-due => active/running | timeout 90000, main /bin/fail, disarm
             @120 main exit 1 => activating/auto-restart exit-code | TERM MAIN-GROUP, disarm, restart in 100
             @220 restart-due => failed/failed start-limit-hit | disarm
             @500 start       => failed/failed start-limit-hit | disarm
             @1200 start      => active/running | timeout 90000, main /bin/fail, disarm",
        );
    }

    #[test]
    fn stop_escalates_to_sigkill_after_the_stop_timeout() {
        check(
            "[Service]
             ExecStart=/bin/stubborn
             TimeoutStopSec=2s",
            "start         => active/running | timeout 90000, main /bin/stubborn, disarm
             stop          => deactivating/stop | TERM MAIN-GROUP, timeout 2000
             timeout       => deactivating/stop timeout | KILL MAIN-GROUP, timeout 2000
             main signal 9 => failed/failed timeout | disarm",
        );
        check(
            "[Service]
             ExecStart=/bin/stubborn
             KillMode=mixed",
            "start         => active/running | timeout 90000, main /bin/stubborn, disarm
             stop          => deactivating/stop | TERM MAIN, timeout 90000
             timeout       => deactivating/stop timeout | KILL MAIN-GROUP, timeout 90000
             timeout       => failed/failed timeout | disarm",
        );
        check(
            "[Service]
             ExecStart=/bin/polite
             KillMode=process",
            "start          => active/running | timeout 90000, main /bin/polite, disarm
             stop           => deactivating/stop | TERM MAIN, timeout 90000
             main exit 0    => inactive/dead | disarm",
        );
        check(
            "[Service]
             ExecStart=/bin/left-alone
             ExecStop=/bin/ask-nicely
             KillMode=none",
            "start          => active/running | timeout 90000, main /bin/left-alone, disarm
             stop           => deactivating/stop | timeout 90000, control /bin/ask-nicely
             control exit 0 => inactive/dead | disarm
             main exit 0    => inactive/dead |",
        );
    }

    #[test]
    fn start_timeout() {
        check(
            "[Service]
             ExecStartPre=/bin/slow
             ExecStart=/bin/never
             TimeoutStartSec=5s
             TimeoutStopSec=1s",
            "start            => activating/start-pre | timeout 5000, control /bin/slow
             timeout          => deactivating/stop timeout | TERM CONTROL-GROUP, timeout 1000
             control signal 15 => failed/failed timeout | disarm",
        );
    }

    #[test]
    fn oneshot() {
        check(
            "[Service]
             Type=oneshot
             ExecStart=/bin/one
             ExecStart=-/bin/two
             ExecStart=/bin/three
             RemainAfterExit=yes
             ExecStop=/bin/undo",
            "start          => activating/start | disarm, main /bin/one
             main exit 0    => activating/start | main /bin/two
             main exit 1    => activating/start | main /bin/three
             main exit 0    => active/exited | disarm
             stop           => deactivating/stop | timeout 90000, control /bin/undo
             control exit 0 => inactive/dead | TERM MAIN-GROUP, disarm",
        );
        check(
            "[Service]
             Type=oneshot
             ExecStart=/bin/job",
            "start       => activating/start | disarm, main /bin/job
             main exit 0 => inactive/dead | disarm, TERM MAIN-GROUP, disarm
             start       => activating/start | disarm, main /bin/job
             main exit 3 => failed/failed exit-code | TERM MAIN-GROUP, disarm",
        );
        // A oneshot whose job fails is not "exited" even with RemainAfterExit.
        check(
            "[Service]
             Type=oneshot
             RemainAfterExit=yes
             ExecStart=/bin/job",
            "start       => activating/start | disarm, main /bin/job
             main signal 15 => failed/failed signal | TERM MAIN-GROUP, disarm",
        );
    }

    #[test]
    fn start_while_stopping_is_queued_and_stop_while_starting_kills() {
        check(
            "[Service]
             ExecStart=/bin/work
             ExecStop=/bin/drain",
            "start          => active/running | timeout 90000, main /bin/work, disarm
             stop           => deactivating/stop | timeout 90000, control /bin/drain
             start          => deactivating/stop |
             control exit 0 => deactivating/stop | TERM MAIN-GROUP, timeout 90000
             main signal 15 => active/running | disarm, timeout 90000, main /bin/work, disarm",
        );
        check(
            "[Service]
             ExecStartPre=/bin/slow
             ExecStart=/bin/work
             ExecStop=/bin/not-run",
            "start             => activating/start-pre | timeout 90000, control /bin/slow
             stop              => deactivating/stop | TERM CONTROL-GROUP, timeout 90000
             control signal 15 => inactive/dead | disarm",
        );
    }

    #[test]
    fn journal_lines() {
        let mut l = Lifecycle::new(
            spec("[Unit]\nDescription=Demo\n[Service]\nExecStart=/bin/x\nRestart=on-failure"),
            0,
        );
        let mut logs = Vec::new();
        for (ev, t) in [
            (Event::Start, 1),
            (
                Event::Exited {
                    which: Which::Main,
                    how: ExitHow::Code(1),
                },
                2,
            ),
            (Event::RestartDue, 3),
            (Event::Stop, 4),
        ] {
            for a in l.step(ev, t) {
                if let Action::Log(s) = a {
                    logs.push(s);
                }
            }
        }
        assert_eq!(
            logs,
            [
                "Starting Demo (t.service)...",
                "Started Demo (t.service).",
                "Main process exited, code=exited, status=1/FAILURE",
                "Failed with result 'exit-code'.",
                "Scheduled restart job, restart counter is at 1.",
                "Starting Demo (t.service)...",
                "Started Demo (t.service).",
                "Stopping Demo (t.service)...",
            ]
        );
        assert_eq!(l.since_ms(), 4);
        assert_eq!(l.restarts(), 1);
    }
}
