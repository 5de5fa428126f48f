//! A unit's `[Unit]` and `[Service]` options, as `(section, name, value)`
//! triples, read into a [`ServiceSpec`] with systemd's defaults and rules.
//!
//! Pure. Unknown keys and other sections (`[X-Fleet]`, `[Install]`) are
//! ignored, as systemd ignores them (with a warning); a known key with a
//! bad value is an [`ServiceError::Invalid`] naming the key (the unit is
//! refused); a valid setting this runner cannot honour (`Type=forking`, a
//! `.socket` unit) is [`ServiceError::Unsupported`] (the unit loads with
//! `load_state` `error` and its journal says why).

use corral_api::units::UnitOption;

use super::exec_line::{self, ExecLine};
use super::{environment, timespan};

/// `Type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    /// The main process is the service; active once it is spawned
    /// (`exec` and `idle` are read as this too).
    Simple,
    /// Each `ExecStart=` runs to completion in turn; then the unit is done.
    Oneshot,
}

/// `Restart=`: when an ended service is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    Always,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnAbort,
    OnWatchdog,
}

/// `KillMode=`: who gets the stop signals. This runner has no cgroups:
/// a unit's "control group" is the main process's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillMode {
    /// SIGTERM, then SIGKILL, to the main process's whole group (default).
    ControlGroup,
    /// Only the main process.
    Process,
    /// SIGTERM to the main process, SIGKILL to its group.
    Mixed,
    /// No signal; only `ExecStop=`.
    None,
}

/// One `EnvironmentFile=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub path: String,
    /// `-` prefix: a missing file is not an error.
    pub optional: bool,
}

/// `WorkingDirectory=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingDir {
    /// An absolute path, or `~` for the user's home.
    pub path: String,
    /// `-` prefix: a missing directory is not an error.
    pub optional: bool,
}

/// `[Unit]` dependencies, as unit names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deps {
    pub requires: Vec<String>,
    pub binds_to: Vec<String>,
    pub wants: Vec<String>,
    pub after: Vec<String>,
    pub before: Vec<String>,
}

/// Everything the runner needs to run one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub description: Option<String>,
    pub kind: ServiceType,
    pub exec_start_pre: Vec<ExecLine>,
    pub exec_start: Vec<ExecLine>,
    pub exec_start_post: Vec<ExecLine>,
    pub exec_stop: Vec<ExecLine>,
    pub exec_stop_post: Vec<ExecLine>,
    /// `Environment=` assignments, in order (later ones win).
    pub environment: Vec<(String, String)>,
    pub environment_files: Vec<EnvFile>,
    pub working_directory: Option<WorkingDir>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub restart: Restart,
    pub restart_ms: u64,
    /// `None`: no limit.
    pub timeout_start_ms: Option<u64>,
    pub timeout_stop_ms: Option<u64>,
    pub kill_mode: KillMode,
    pub remain_after_exit: bool,
    /// At most `start_limit_burst` starts within this window (0: no limit).
    pub start_limit_interval_ms: u64,
    pub start_limit_burst: u32,
    pub deps: Deps,
}

impl ServiceSpec {
    /// "Description (name)" or the name, for log lines.
    pub fn title(&self) -> String {
        match &self.description {
            Some(d) => format!("{d} ({})", self.name),
            None => self.name.clone(),
        }
    }
}

/// Why a unit cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// A known setting holds a value systemd would refuse too.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// A valid setting this runner does not implement.
    #[error("{key}: {message}")]
    Unsupported { key: String, message: String },
}

impl ServiceError {
    pub fn key(&self) -> &str {
        match self {
            ServiceError::Invalid { key, .. } | ServiceError::Unsupported { key, .. } => key,
        }
    }
}

fn invalid(key: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// systemd's booleans.
fn boolean(key: &str, v: &str) -> Result<bool, ServiceError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Ok(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Ok(false),
        _ => Err(invalid(
            key,
            format!("{v:?} is not a boolean; use yes or no"),
        )),
    }
}

fn span(key: &str, v: &str) -> Result<timespan::Span, ServiceError> {
    timespan::parse(v).map_err(|m| invalid(key, m))
}

/// Reads the unit-file paths of a list setting; an empty value empties it.
fn names(list: &mut Vec<String>, v: &str) {
    if v.trim().is_empty() {
        list.clear();
    } else {
        list.extend(v.split_whitespace().map(str::to_string));
    }
}

/// The `[Unit]` dependencies only; never fails (bad values are the
/// parser's business), so even a unit that cannot load is ordered.
pub fn deps(options: &[UnitOption]) -> Deps {
    let mut d = Deps::default();
    for o in options.iter().filter(|o| o.section == "Unit") {
        match o.name.as_str() {
            "Requires" => names(&mut d.requires, &o.value),
            "BindsTo" => names(&mut d.binds_to, &o.value),
            "Wants" => names(&mut d.wants, &o.value),
            "After" => names(&mut d.after, &o.value),
            "Before" => names(&mut d.before, &o.value),
            _ => {}
        }
    }
    d
}

/// Reads `options` of unit `name` into a spec.
pub fn parse(name: &str, options: &[UnitOption]) -> Result<ServiceSpec, ServiceError> {
    if name.contains("@.") {
        return Err(ServiceError::Unsupported {
            key: "name".into(),
            message: format!("{name} is a template; only its instances (name@1.service) run"),
        });
    }
    if !name.ends_with(".service") {
        let kind = name.rsplit('.').next().unwrap_or(name);
        return Err(ServiceError::Unsupported {
            key: "name".into(),
            message: format!(
                "{name}: .{kind} units are not run by corral's unit runner; only .service units are"
            ),
        });
    }
    let mut s = ServiceSpec {
        name: name.to_string(),
        description: None,
        kind: ServiceType::Simple,
        exec_start_pre: Vec::new(),
        exec_start: Vec::new(),
        exec_start_post: Vec::new(),
        exec_stop: Vec::new(),
        exec_stop_post: Vec::new(),
        environment: Vec::new(),
        environment_files: Vec::new(),
        working_directory: None,
        user: None,
        group: None,
        restart: Restart::No,
        restart_ms: 100,
        timeout_start_ms: Some(90_000),
        timeout_stop_ms: Some(90_000),
        kill_mode: KillMode::ControlGroup,
        remain_after_exit: false,
        start_limit_interval_ms: 10_000,
        start_limit_burst: 5,
        deps: deps(options),
    };
    let mut timeout_start_set = false;
    for o in options {
        let (key, v) = (o.name.as_str(), o.value.as_str());
        match (o.section.as_str(), key) {
            ("Unit", "Description") => {
                s.description = Some(v.trim().to_string()).filter(|d| !d.is_empty())
            }
            ("Unit", "StartLimitIntervalSec") | ("Service", "StartLimitInterval") => {
                s.start_limit_interval_ms = match span(key, v)? {
                    timespan::Span::Millis(ms) => ms,
                    timespan::Span::Infinite => 0,
                }
            }
            ("Unit" | "Service", "StartLimitBurst") => {
                s.start_limit_burst = v.trim().parse().map_err(|_| {
                    invalid(key, format!("{v:?} is not a count of starts"))
                })?
            }
            ("Service", "Type") => {
                s.kind = match v.trim() {
                    "simple" | "exec" | "idle" => ServiceType::Simple,
                    "oneshot" => ServiceType::Oneshot,
                    t @ ("forking" | "notify" | "notify-reload" | "dbus") => {
                        return Err(ServiceError::Unsupported {
                            key: key.into(),
                            message: format!(
                                "Type={t} is not supported by corral's unit runner; use Type=simple (the main process stays in the foreground) or Type=oneshot"
                            ),
                        })
                    }
                    other => {
                        return Err(invalid(
                            key,
                            format!("{other:?} is not a service type; use simple or oneshot"),
                        ))
                    }
                }
            }
            ("Service", "ExecStartPre") => exec(&mut s.exec_start_pre, key, v)?,
            ("Service", "ExecStart") => exec(&mut s.exec_start, key, v)?,
            ("Service", "ExecStartPost") => exec(&mut s.exec_start_post, key, v)?,
            ("Service", "ExecStop") => exec(&mut s.exec_stop, key, v)?,
            ("Service", "ExecStopPost") => exec(&mut s.exec_stop_post, key, v)?,
            ("Service", "Environment") => {
                if v.trim().is_empty() {
                    s.environment.clear();
                } else {
                    let pairs =
                        environment::parse_assignments(v).map_err(|m| invalid(key, m))?;
                    s.environment.extend(pairs);
                }
            }
            ("Service", "EnvironmentFile") => {
                let t = v.trim();
                if t.is_empty() {
                    s.environment_files.clear();
                    continue;
                }
                let (optional, path) = match t.strip_prefix('-') {
                    Some(p) => (true, p.trim()),
                    None => (false, t),
                };
                if !path.starts_with('/') {
                    return Err(invalid(
                        key,
                        format!("{path:?} is not an absolute path"),
                    ));
                }
                s.environment_files.push(EnvFile {
                    path: path.to_string(),
                    optional,
                });
            }
            ("Service", "WorkingDirectory") => {
                let t = v.trim();
                if t.is_empty() {
                    s.working_directory = None;
                    continue;
                }
                let (optional, path) = match t.strip_prefix('-') {
                    Some(p) => (true, p.trim()),
                    None => (false, t),
                };
                if path != "~" && !path.starts_with('/') {
                    return Err(invalid(
                        key,
                        format!("{path:?} is neither an absolute path nor ~"),
                    ));
                }
                s.working_directory = Some(WorkingDir {
                    path: path.to_string(),
                    optional,
                });
            }
            ("Service", "User") => s.user = Some(v.trim().to_string()).filter(|u| !u.is_empty()),
            ("Service", "Group") => {
                s.group = Some(v.trim().to_string()).filter(|g| !g.is_empty())
            }
            ("Service", "Restart") => {
                s.restart = match v.trim() {
                    "no" => Restart::No,
                    "always" => Restart::Always,
                    "on-success" => Restart::OnSuccess,
                    "on-failure" => Restart::OnFailure,
                    "on-abnormal" => Restart::OnAbnormal,
                    "on-abort" => Restart::OnAbort,
                    "on-watchdog" => Restart::OnWatchdog,
                    other => return Err(invalid(key, format!(
                        "{other:?} is not a restart policy; use no, always, on-success, on-failure, on-abnormal, on-abort or on-watchdog"
                    ))),
                }
            }
            ("Service", "RestartSec") => {
                s.restart_ms = match span(key, v)? {
                    timespan::Span::Millis(ms) => ms,
                    timespan::Span::Infinite => {
                        return Err(invalid(key, "infinity: a restart must come some time"))
                    }
                }
            }
            ("Service", "TimeoutStartSec") => {
                s.timeout_start_ms = span(key, v)?.as_timeout();
                timeout_start_set = true;
            }
            ("Service", "TimeoutStopSec") => s.timeout_stop_ms = span(key, v)?.as_timeout(),
            ("Service", "TimeoutSec") => {
                let t = span(key, v)?.as_timeout();
                s.timeout_start_ms = t;
                s.timeout_stop_ms = t;
                timeout_start_set = true;
            }
            ("Service", "KillMode") => {
                s.kill_mode = match v.trim() {
                    "control-group" => KillMode::ControlGroup,
                    "process" => KillMode::Process,
                    "mixed" => KillMode::Mixed,
                    "none" => KillMode::None,
                    other => {
                        return Err(invalid(
                            key,
                            format!(
                                "{other:?} is not a kill mode; use control-group, process, mixed or none"
                            ),
                        ))
                    }
                }
            }
            ("Service", "RemainAfterExit") => s.remain_after_exit = boolean(key, v)?,
            _ => {}
        }
    }
    // systemd: a oneshot service has no start timeout unless one is set.
    if s.kind == ServiceType::Oneshot && !timeout_start_set {
        s.timeout_start_ms = None;
    }
    match (s.kind, s.exec_start.len()) {
        (ServiceType::Simple, 0) => {
            return Err(invalid(
                "ExecStart",
                "missing: Type=simple needs one ExecStart= (the main process)",
            ))
        }
        (ServiceType::Simple, n) if n > 1 => {
            return Err(invalid(
                "ExecStart",
                format!("{n} commands given but Type=simple takes one; use Type=oneshot to run several in turn"),
            ))
        }
        _ => {}
    }
    Ok(s)
}

/// Adds the commands of one `Exec*=` value; an empty value empties the list.
fn exec(list: &mut Vec<ExecLine>, key: &str, v: &str) -> Result<(), ServiceError> {
    if v.trim().is_empty() {
        list.clear();
        return Ok(());
    }
    let lines = exec_line::parse(v).map_err(|e| invalid(key, format!("{v:?}: {e}")))?;
    list.extend(lines);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options as unit-file text: `[Section]` headers and `Key=Value` lines.
    pub fn options(text: &str) -> Vec<UnitOption> {
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                out.push(UnitOption::new(&section, k, v));
            }
        }
        out
    }

    /// The spec's interesting fields, one per line, or `error: ...`.
    fn summary(name: &str, text: &str) -> String {
        let s = match parse(name, &options(text)) {
            Ok(s) => s,
            Err(e @ ServiceError::Invalid { .. }) => return format!("invalid {e}"),
            Err(e @ ServiceError::Unsupported { .. }) => return format!("unsupported {e}"),
        };
        let cmds = |l: &[ExecLine]| {
            l.iter()
                .map(|c| {
                    format!(
                        "{}{}",
                        if c.ignore_failure { "-" } else { "" },
                        c.args.join(" ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut out = vec![
            format!(
                "type={:?} restart={:?}/{}ms",
                s.kind, s.restart, s.restart_ms
            ),
            format!(
                "timeouts start={:?} stop={:?} kill={:?} remain={}",
                s.timeout_start_ms, s.timeout_stop_ms, s.kill_mode, s.remain_after_exit
            ),
        ];
        for (k, l) in [
            ("pre", &s.exec_start_pre),
            ("start", &s.exec_start),
            ("post", &s.exec_start_post),
            ("stop", &s.exec_stop),
            ("stoppost", &s.exec_stop_post),
        ] {
            if !l.is_empty() {
                out.push(format!("{k}: {}", cmds(l)));
            }
        }
        if !s.environment.is_empty() {
            let env: Vec<String> = s
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push(format!("env: {}", env.join(" | ")));
        }
        for f in &s.environment_files {
            out.push(format!("envfile: {} optional={}", f.path, f.optional));
        }
        if let Some(w) = &s.working_directory {
            out.push(format!("workdir: {} optional={}", w.path, w.optional));
        }
        if s.user.is_some() || s.group.is_some() {
            out.push(format!("user={:?} group={:?}", s.user, s.group));
        }
        if let Some(d) = &s.description {
            out.push(format!("description: {d}"));
        }
        if s.deps != Deps::default() {
            out.push(format!(
                "deps: requires={:?} binds_to={:?} wants={:?} after={:?} before={:?}",
                s.deps.requires, s.deps.binds_to, s.deps.wants, s.deps.after, s.deps.before
            ));
        }
        if (s.start_limit_interval_ms, s.start_limit_burst) != (10_000, 5) {
            out.push(format!(
                "start limit {} in {}ms",
                s.start_limit_burst, s.start_limit_interval_ms
            ));
        }
        out.join("\n")
    }

    fn check(name: &str, text: &str, want: &str) {
        let want: Vec<&str> = want
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(summary(name, text), want.join("\n"), "unit:\n{text}");
    }

    #[test]
    fn defaults_for_a_simple_service() {
        check(
            "web.service",
            "[Service]\nExecStart=/bin/sleep 600",
            "type=Simple restart=No/100ms
             timeouts start=Some(90000) stop=Some(90000) kill=ControlGroup remain=false
             start: /bin/sleep 600",
        );
    }

    #[test]
    fn the_integration_tests_unit() {
        check(
            "hello.service",
            r#"
            [Unit]
            Description=Says hello
            After=db.service
            [Service]
            ExecStartPre=-/bin/false
            ExecStart=/bin/sh -c 'echo hello $FOO; exec sleep 600'
            Environment="FOO=bar baz"
            [X-Fleet]
            MachineMetadata=role=worker
            "#,
            r#"type=Simple restart=No/100ms
               timeouts start=Some(90000) stop=Some(90000) kill=ControlGroup remain=false
               pre: -/bin/false
               start: /bin/sh -c echo hello $FOO; exec sleep 600
               env: FOO=bar baz
               description: Says hello
               deps: requires=[] binds_to=[] wants=[] after=["db.service"] before=[]"#,
        );
    }

    #[test]
    fn every_setting() {
        check(
            "all.service",
            r#"
            [Unit]
            Requires=a.service b.service
            BindsTo=c.service
            Wants=d.service
            Before=e.service
            Before=f.service
            StartLimitIntervalSec=1min
            StartLimitBurst=3
            [Service]
            Type=oneshot
            RemainAfterExit=yes
            ExecStart=/bin/echo one
            ExecStart=@/bin/echo two 2
            ExecStartPost=/bin/echo post ; -/bin/false
            ExecStop=/bin/echo stop
            ExecStopPost=/bin/echo stopped
            Environment=A=1 "B=2 3"
            Environment=C=4
            EnvironmentFile=-/etc/default/all
            EnvironmentFile=/etc/all.env
            WorkingDirectory=-/srv/all
            User=nobody
            Group=nogroup
            Restart=on-failure
            RestartSec=1min 30s
            TimeoutStopSec=infinity
            KillMode=mixed
            SomethingNew=ignored
            "#,
            r#"type=Oneshot restart=OnFailure/90000ms
               timeouts start=None stop=None kill=Mixed remain=true
               start: /bin/echo one; two 2
               post: /bin/echo post; -/bin/false
               stop: /bin/echo stop
               stoppost: /bin/echo stopped
               env: A=1 | B=2 3 | C=4
               envfile: /etc/default/all optional=true
               envfile: /etc/all.env optional=false
               workdir: /srv/all optional=true
               user=Some("nobody") group=Some("nogroup")
               deps: requires=["a.service", "b.service"] binds_to=["c.service"] wants=["d.service"] after=[] before=["e.service", "f.service"]
               start limit 3 in 60000ms"#,
        );
    }

    #[test]
    fn resets_and_overrides() {
        check(
            "r.service",
            r#"
            [Service]
            ExecStart=/bin/a
            ExecStart=
            ExecStart=/bin/b
            Environment=A=1
            Environment=
            Environment=B=2
            TimeoutSec=5s
            TimeoutStartSec=0
            Type=exec
            "#,
            "type=Simple restart=No/100ms
             timeouts start=None stop=Some(5000) kill=ControlGroup remain=false
             start: /bin/b
             env: B=2",
        );
        check(
            "o.service",
            "[Service]\nType=oneshot\nTimeoutStartSec=10s\nExecStart=/bin/true",
            "type=Oneshot restart=No/100ms
             timeouts start=Some(10000) stop=Some(90000) kill=ControlGroup remain=false
             start: /bin/true",
        );
    }

    #[test]
    fn refusals_name_the_key() {
        for (name, text, want) in [
            ("a.service", "[Service]\nType=simple", "invalid ExecStart: missing: Type=simple needs one ExecStart= (the main process)"),
            ("a.service", "[Service]\nExecStart=/bin/a\nExecStart=/bin/b", "invalid ExecStart: 2 commands given but Type=simple takes one; use Type=oneshot to run several in turn"),
            ("a.service", "[Service]\nExecStart=/bin/sh -c 'oops", "invalid ExecStart: \"/bin/sh -c 'oops\": unterminated single quote; close it or escape it with a backslash"),
            ("a.service", "[Service]\nExecStart=/bin/a\nType=forking", "unsupported Type: Type=forking is not supported by corral's unit runner; use Type=simple (the main process stays in the foreground) or Type=oneshot"),
            ("a.service", "[Service]\nExecStart=/bin/a\nType=notify", "unsupported Type: Type=notify is not supported by corral's unit runner; use Type=simple (the main process stays in the foreground) or Type=oneshot"),
            ("a.service", "[Service]\nExecStart=/bin/a\nType=weird", "invalid Type: \"weird\" is not a service type; use simple or oneshot"),
            ("a.service", "[Service]\nExecStart=/bin/a\nRestart=sometimes", "invalid Restart: \"sometimes\" is not a restart policy; use no, always, on-success, on-failure, on-abnormal, on-abort or on-watchdog"),
            ("a.service", "[Service]\nExecStart=/bin/a\nRestartSec=soon", "invalid RestartSec: \"soon\" is not a time span (a number is missing); write e.g. 5s, 500ms, 1min 30s or infinity"),
            ("a.service", "[Service]\nExecStart=/bin/a\nRemainAfterExit=maybe", "invalid RemainAfterExit: \"maybe\" is not a boolean; use yes or no"),
            ("a.service", "[Service]\nExecStart=/bin/a\nKillMode=all", "invalid KillMode: \"all\" is not a kill mode; use control-group, process, mixed or none"),
            ("a.service", "[Service]\nExecStart=/bin/a\nEnvironment=NOPE", "invalid Environment: \"NOPE\" is not a KEY=VALUE assignment; quote assignments that hold spaces: \"KEY=a b\""),
            ("a.service", "[Service]\nExecStart=/bin/a\nEnvironmentFile=etc/env", "invalid EnvironmentFile: \"etc/env\" is not an absolute path"),
            ("a.service", "[Service]\nExecStart=/bin/a\nWorkingDirectory=srv", "invalid WorkingDirectory: \"srv\" is neither an absolute path nor ~"),
            ("a.service", "[Unit]\nStartLimitBurst=many\n[Service]\nExecStart=/bin/a", "invalid StartLimitBurst: \"many\" is not a count of starts"),
            ("a.socket", "[Socket]\nListenStream=80", "unsupported name: a.socket: .socket units are not run by corral's unit runner; only .service units are"),
            ("web@.service", "[Service]\nExecStart=/bin/a", "unsupported name: web@.service is a template; only its instances (name@1.service) run"),
        ] {
            assert_eq!(summary(name, text), want, "unit {name}:\n{text}");
        }
    }
}
