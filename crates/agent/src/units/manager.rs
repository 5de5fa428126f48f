//! The unit manager: owns `<agent dir>/units/<name>/`, takes the leader's
//! desired set (fenced by epoch), and every round compares it with what the
//! unit directories say ([`reconcile::plan`]) and carries the plan out:
//! writes unit directories, starts detached supervisors, tells them to
//! start or stop (the `target` file and SIGHUP), SIGTERMs the ones whose
//! unit goes away, deletes directories once their supervisor is gone.
//!
//! Everything it knows is on disk (the desired set in
//! `<agent dir>/units-desired.json`), so a restarted agent picks up where
//! it was: running supervisors keep running and nothing is restarted.
//! It decides nothing itself; the pure parts do.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_api::units::{UnitRun, UnitStatus, UnitTarget, UnitsDesired};
use tokio::sync::watch;

use super::files::{self, StatusFile, UnitFile};
use super::journal::Journal;
use super::reconcile::{self, Action, Phase, Seen, Want};
use super::service::{self, ServiceError};
use super::specifier::{self, Machine};
use super::{credentials, journal};
use crate::fence::{Fence, Stale};

/// How often the manager looks at every unit when nothing wakes it.
pub const ROUND: Duration = Duration::from_millis(200);
const DESIRED: &str = "units-desired.json";

/// Why a desired set or a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum UnitsError {
    #[error(transparent)]
    Stale(#[from] Stale),
    /// A unit is malformed; `field` names where (`units[2].options`).
    #[error("unit {unit:?}: {message}")]
    BadUnit {
        unit: String,
        field: String,
        message: String,
    },
    #[error("no unit {0} on this machine")]
    Unknown(String),
    #[error("{0}")]
    Io(String),
}

/// Runs this machine's units.
pub struct Manager {
    root: PathBuf,
    desired_path: PathBuf,
    /// The `corral` binary, run as `corral unit-supervise DIR`.
    exe: PathBuf,
    machine: Machine,
    /// The desired set (options with machine specifiers expanded); `None`
    /// until a leader sent one. Held while a round runs, so rounds and
    /// desired-set changes never interleave.
    desired: Mutex<Option<UnitsDesired>>,
    states: watch::Sender<Vec<UnitStatus>>,
}

impl Manager {
    /// Opens `agent_dir/units/` and the last desired set.
    pub fn open(
        agent_dir: &Path,
        exe: PathBuf,
        hostname: &str,
        machine_id: &str,
    ) -> Result<Manager, UnitsError> {
        let root = agent_dir.join("units");
        std::fs::create_dir_all(&root)
            .map_err(|e| UnitsError::Io(format!("{}: {e}", root.display())))?;
        let desired_path = agent_dir.join(DESIRED);
        // Without a readable set the units are left as they are until the
        // leader sends one.
        let desired = match std::fs::read(&desired_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .inspect_err(|e| {
                    tracing::warn!(path = %desired_path.display(), error = %e,
                        "ignoring an unreadable desired unit set until the leader sends one")
                })
                .ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(UnitsError::Io(format!("{}: {e}", desired_path.display()))),
        };
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|t| specifier::boot_id_from(&t))
            .unwrap_or_default();
        let m = Manager {
            root,
            desired_path,
            exe,
            machine: Machine {
                hostname: hostname.to_string(),
                machine_id: machine_id.to_string(),
                boot_id,
            },
            desired: Mutex::new(desired),
            states: watch::channel(Vec::new()).0,
        };
        m.publish();
        Ok(m)
    }

    /// Every unit's status; changes whenever one does (seen within a round).
    pub fn subscribe(&self) -> watch::Receiver<Vec<UnitStatus>> {
        self.states.subscribe()
    }

    /// Checks and takes a desired set from the leader of `desired.epoch`
    /// (refused if `fence` has seen a newer one), runs a round at once,
    /// and returns every unit's status.
    pub fn apply(
        &self,
        fence: &Mutex<Fence>,
        mut desired: UnitsDesired,
    ) -> Result<Vec<UnitStatus>, UnitsError> {
        let mut current = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        fence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .observe_and_persist(desired.epoch)?;
        check(&desired)?;
        for u in &mut desired.units {
            for o in &mut u.options {
                o.value = specifier::expand(&o.value, &self.machine);
            }
        }
        let json = serde_json::to_vec(&desired).map_err(|e| UnitsError::Io(e.to_string()))?;
        files::write_atomic(&self.desired_path, &json).map_err(UnitsError::Io)?;
        *current = Some(desired);
        self.round_with(current.as_ref());
        drop(current);
        Ok(self.publish())
    }

    /// Every unit on this machine, by name.
    pub fn states(&self) -> Vec<UnitStatus> {
        let mut out: Vec<UnitStatus> = self.dirs().iter().filter_map(|d| status_of(d)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The directory of unit `name` (for its journal).
    pub fn unit_dir(&self, name: &str) -> Result<PathBuf, UnitsError> {
        files::check_name(name).map_err(|_| UnitsError::Unknown(name.to_string()))?;
        let dir = self.root.join(name);
        if !dir.join(files::UNIT).exists() {
            return Err(UnitsError::Unknown(name.to_string()));
        }
        Ok(dir)
    }

    /// Runs rounds for ever (spawn it once).
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(ROUND).await;
            let m = self.clone();
            let _ = tokio::task::spawn_blocking(move || m.round()).await;
        }
    }

    /// One round: plan against the unit directories and carry it out.
    pub fn round(&self) {
        let desired = self.desired.lock().unwrap_or_else(|p| p.into_inner());
        self.round_with(desired.as_ref());
        drop(desired);
        self.publish();
    }

    fn publish(&self) -> Vec<UnitStatus> {
        let now = self.states();
        self.states.send_if_modified(|old| {
            if *old == now {
                false
            } else {
                *old = now.clone();
                true
            }
        });
        now
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                files::check_name(&name).is_ok() && e.path().is_dir()
            })
            .map(|e| e.path())
            .collect();
        out.sort();
        out
    }

    fn round_with(&self, desired: Option<&UnitsDesired>) {
        // Without a desired set (a new agent) nothing is changed.
        let Some(desired) = desired else { return };
        let wants: Vec<Want> = desired
            .units
            .iter()
            .map(|u| Want {
                name: u.name.clone(),
                hash: u.hash.clone(),
                target: u.target,
                deps: service::deps(&u.options),
            })
            .collect();
        let seen: Vec<Seen> = self.dirs().iter().filter_map(|d| seen(d)).collect();
        for action in reconcile::plan(&wants, &seen) {
            if let Err(e) = self.carry_out(&action, desired) {
                tracing::warn!(%action, error = %e, "unit action failed");
            }
        }
    }

    fn carry_out(&self, action: &Action, desired: &UnitsDesired) -> Result<(), String> {
        match action {
            Action::Install { name, target } => {
                let unit = desired
                    .units
                    .iter()
                    .find(|u| &u.name == name)
                    .ok_or_else(|| format!("{name} is not in the desired set"))?;
                self.install(unit, *target)?;
                tracing::info!(unit = %name, ?target, "unit installed");
            }
            Action::Start { name } | Action::Stop { name, .. } => {
                let target = match action {
                    Action::Start { .. } => UnitTarget::Launched,
                    _ => UnitTarget::Loaded,
                };
                let dir = self.root.join(name);
                files::write_target(&dir, target)?;
                if let Some(pid) = files::supervisor_alive(&dir) {
                    // SAFETY: kill(2) on the unit's own supervisor (checked above).
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) };
                }
                tracing::info!(%action, "unit target changed");
            }
            Action::Remove { name } | Action::Replace { name } => {
                if let Some(pid) = files::supervisor_alive(&self.root.join(name)) {
                    // SAFETY: as above; SIGTERM makes it stop the unit and exit.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
                }
            }
            Action::Delete { name } => {
                let dir = self.root.join(name);
                std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                tracing::info!(unit = %name, "unit removed");
            }
            Action::Wait { name, why } => tracing::debug!(unit = %name, %why, "unit waits"),
        }
        Ok(())
    }

    /// Writes the unit's directory (its journal is kept across versions)
    /// and starts its supervisor, or records why it cannot run here.
    fn install(&self, unit: &UnitRun, target: UnitTarget) -> Result<(), String> {
        let dir = self.root.join(&unit.name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = UnitFile {
            name: unit.name.clone(),
            hash: unit.hash.clone(),
            options: unit.options.clone(),
            host: self.machine.hostname.clone(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        files::write_atomic(&dir.join(files::UNIT), &json)?;
        files::write_target(&dir, target)?;
        let _ = std::fs::remove_file(dir.join(files::SUPERVISOR_PID));
        let now = super::supervisor::now_ms();
        let problem = service::parse(&unit.name, &unit.options)
            .map_err(|e| e.to_string())
            .and_then(|s| credentials::resolve(s.user.as_deref(), s.group.as_deref()).map(|_| ()));
        let status = match &problem {
            Ok(()) => StatusFile::fresh(&unit.hash, now),
            Err(why) => StatusFile::load_error(&unit.hash, now, why),
        };
        let json = serde_json::to_vec_pretty(&status).map_err(|e| e.to_string())?;
        files::write_atomic(&dir.join(files::STATUS), &json)?;
        if let Err(why) = problem {
            Journal::new(&dir, &self.machine.hostname, journal::LIMIT).append(
                "corral",
                std::process::id(),
                &format!("Cannot load {}: {why}", unit.name),
            );
            tracing::warn!(unit = %unit.name, %why, "unit cannot run here");
            return Ok(());
        }
        self.start_supervisor(&dir).inspect_err(|why| {
            // Recorded as a load error, so the next round does not retry
            // in a loop; a new version of the unit tries again.
            let status = StatusFile::load_error(&unit.hash, now, why);
            if let Ok(json) = serde_json::to_vec_pretty(&status) {
                let _ = files::write_atomic(&dir.join(files::STATUS), &json);
            }
        })
    }

    fn start_supervisor(&self, dir: &Path) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(files::SUPERVISOR_LOG))
            .map_err(|e| format!("{}: {e}", dir.join(files::SUPERVISOR_LOG).display()))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("unit-supervise")
            .arg(dir)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
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
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {} unit-supervise: {e}", self.exe.display()))?;
        files::write_supervisor_pid(dir, child.id())?;
        // Reap the supervisor when it ends (after an agent restart, init does).
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(())
    }
}

/// Refuses a desired set with a bad name, a duplicate, or options systemd
/// would refuse (a setting this runner does not support is not refused:
/// that unit loads with an error instead).
fn check(desired: &UnitsDesired) -> Result<(), UnitsError> {
    let mut names = std::collections::BTreeSet::new();
    for (i, u) in desired.units.iter().enumerate() {
        let bad = |field: &str, message: String| UnitsError::BadUnit {
            unit: u.name.clone(),
            field: format!("units[{i}].{field}"),
            message,
        };
        files::check_name(&u.name).map_err(|m| bad("name", m))?;
        if !names.insert(u.name.as_str()) {
            return Err(bad("name", "is listed twice".into()));
        }
        if let Err(e @ ServiceError::Invalid { .. }) = service::parse(&u.name, &u.options) {
            return Err(bad(&format!("options.{}", e.key()), e.to_string()));
        }
    }
    Ok(())
}

fn phase(active: &str) -> Phase {
    match active {
        "active" | "reloading" => Phase::Active,
        "activating" => Phase::Starting,
        "deactivating" => Phase::Stopping,
        "failed" => Phase::Failed,
        _ => Phase::Stopped,
    }
}

/// What reconcile needs to know about one unit directory.
fn seen(dir: &Path) -> Option<Seen> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let unit: Option<UnitFile> = files::read_json(&dir.join(files::UNIT)).ok();
    let status: Option<StatusFile> = files::read_json(&dir.join(files::STATUS)).ok();
    let supervisor = files::supervisor_alive(dir).is_some();
    Some(Seen {
        hash: unit.as_ref().map(|u| u.hash.clone()).unwrap_or_default(),
        target: files::read_target(dir),
        applied: status.as_ref().and_then(|s| s.applied),
        phase: phase(
            status
                .as_ref()
                .map_or("inactive", |s| s.active_state.as_str()),
        ),
        supervisor,
        load_error: status.as_ref().is_some_and(|s| s.load_state == "error"),
        main_alive: status
            .as_ref()
            .and_then(|s| s.main_pid)
            .is_some_and(files::pid_alive),
        deps: unit
            .as_ref()
            .map(|u| service::deps(&u.options))
            .unwrap_or_default(),
        name,
    })
}

/// A unit directory as the API shows it. A unit whose supervisor is gone
/// while its status says it was busy is reported failed: nobody runs it.
fn status_of(dir: &Path) -> Option<UnitStatus> {
    let unit: UnitFile = files::read_json(&dir.join(files::UNIT)).ok()?;
    let s: StatusFile = files::read_json(&dir.join(files::STATUS))
        .unwrap_or_else(|_| StatusFile::fresh(&unit.hash, 0));
    let mut st = UnitStatus {
        name: unit.name,
        hash: unit.hash,
        load_state: s.load_state,
        active_state: s.active_state,
        sub_state: s.sub_state,
        main_pid: s.main_pid.filter(|p| files::pid_alive(*p)),
        since_ms: s.since_ms,
        result: s.result,
        restarts: s.restarts,
    };
    let busy = !matches!(st.active_state.as_str(), "inactive" | "failed");
    if busy
        && st.load_state == "loaded"
        && files::supervisor_alive(dir).is_none()
        && st.main_pid.is_none()
    {
        st.active_state = "failed".into();
        st.sub_state = "failed".into();
        st.result = Some("resources".into());
    }
    Some(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::units::UnitOption;

    fn run(name: &str, opts: &[(&str, &str, &str)]) -> UnitRun {
        UnitRun {
            name: name.into(),
            hash: "h".into(),
            options: opts
                .iter()
                .map(|(s, k, v)| UnitOption::new(s, k, v))
                .collect(),
            target: UnitTarget::Launched,
        }
    }

    #[test]
    fn units_checks_name_the_unit_and_field() {
        let ok = [("Service", "ExecStart", "/bin/true")];
        for (units, want) in [
            (vec![run("a.service", &ok)], "ok".to_string()),
            (
                vec![run("a.service", &[("Service", "Type", "forking"), ok[0]])],
                "ok".to_string(),
            ),
            (
                vec![run("a.service", &ok), run("a.service", &ok)],
                "units[1].name: unit \"a.service\": is listed twice".to_string(),
            ),
            (
                vec![run("../a.service", &ok)],
                "units[0].name: unit \"../a.service\": unit name \"../a.service\" holds '/'; use letters, digits and : _ . @ - \\".to_string(),
            ),
            (
                vec![run("a.service", &ok), run("b.service", &[("Service", "Restart", "maybe"), ok[0]])],
                "units[1].options.Restart: unit \"b.service\": Restart: \"maybe\" is not a restart policy; use no, always, on-success, on-failure, on-abnormal, on-abort or on-watchdog".to_string(),
            ),
        ] {
            let got = match check(&UnitsDesired { epoch: 1, units }) {
                Ok(()) => "ok".to_string(),
                Err(e @ UnitsError::BadUnit { .. }) => {
                    let UnitsError::BadUnit { field, .. } = &e else { unreachable!() };
                    format!("{field}: {e}")
                }
                Err(e) => format!("other: {e}"),
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn refuses_an_older_epoch_and_keeps_the_set_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manager::open(dir.path(), "/nonexistent/corral".into(), "m1", "0123").unwrap();
        let fence = Mutex::new(Fence::in_memory(0));
        // Loaded only: nothing would start, but the supervisor binary does
        // not exist here, so a target of Loaded with a bad Type shows the
        // load error path without any process.
        let mut u = run(
            "a.service",
            &[
                ("Service", "ExecStart", "/bin/echo %H %m %%"),
                ("Service", "Type", "forking"),
            ],
        );
        u.target = UnitTarget::Loaded;
        let st = m
            .apply(
                &fence,
                UnitsDesired {
                    epoch: 5,
                    units: vec![u],
                },
            )
            .unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(
            (st[0].load_state.as_str(), st[0].active_state.as_str()),
            ("error", "inactive")
        );
        let j = journal::tail(&dir.path().join("units/a.service"), 5).unwrap();
        assert!(j[0].ends_with("Cannot load a.service: Type: Type=forking is not supported by corral's unit runner; use Type=simple (the main process stays in the foreground) or Type=oneshot"), "{j:?}");
        let err = m
            .apply(
                &fence,
                UnitsDesired {
                    epoch: 4,
                    units: vec![],
                },
            )
            .unwrap_err();
        assert!(
            matches!(err, UnitsError::Stale(Stale { seen: 5, got: 4 })),
            "{err}"
        );
        // The set survives a restart, specifiers expanded.
        let again = Manager::open(dir.path(), "/nonexistent/corral".into(), "m1", "0123").unwrap();
        let d = again.desired.lock().unwrap().clone().unwrap();
        assert_eq!(d.epoch, 5);
        assert_eq!(d.units[0].options[0].value, "/bin/echo m1 0123 %");
        // Removing it deletes its directory (no supervisor to stop).
        again
            .apply(
                &fence,
                UnitsDesired {
                    epoch: 5,
                    units: vec![],
                },
            )
            .unwrap();
        assert!(!dir.path().join("units/a.service").exists());
        assert!(again.states().is_empty());
    }
}
