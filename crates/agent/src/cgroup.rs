//! cgroups v2 for tasks: whether this agent can enforce memory and CPU
//! limits ([`detect`], which gathers [`Facts`] for the pure [`decide`]), and
//! the cgroup that enforces them for one task ([`TaskCgroup`], made by the
//! task's supervisor, with its file contents from the pure [`memory_max`]
//! and [`cpu_max`]).
//!
//! Invariants:
//! - The mode is decided once, when the agent starts, and `/state` says it.
//! - Detection writes nothing unless the agent's own cgroup v2 directory
//!   offers both `cpu` and `memory`; then it creates `<agent cgroup>/corral`
//!   and enables both controllers for its children, and only if that works
//!   are limits enforced.
//! - A task's cgroup is `<agent cgroup>/corral/task-<id>`. Only the task's
//!   supervisor creates, joins (the task, before exec) and removes it; the
//!   supervisor itself stays outside, so its memory is not the task's.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::driver::Limits;

/// The controllers a task's limits need.
pub const CONTROLLERS: [&str; 2] = ["cpu", "memory"];
/// The agent's child cgroup that holds its tasks' cgroups.
pub const CORRAL: &str = "corral";
/// The period of `cpu.max`, in microseconds (the kernel's default).
pub const CPU_PERIOD_US: u64 = 100_000;
/// The smallest quota we write: 1% of a CPU (the kernel refuses < 1 ms).
pub const MIN_CPU_QUOTA_US: u64 = 1_000;

/// How this agent handles its tasks' resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// cgroups v2: each task runs in a cgroup under `parent` (the agent's
    /// `corral` cgroup) with `memory.max` and `cpu.max` set.
    Enforced { parent: PathBuf },
    /// Limits are not enforced; usage is still measured from /proc.
    Measured { reason: String },
}

impl Mode {
    /// As `/state` shows it: `cgroups-v2: ...` or `measured: <reason>`.
    pub fn describe(&self) -> String {
        match self {
            Mode::Enforced { .. } => "cgroups-v2: cpu and memory enforced".to_string(),
            Mode::Measured { reason } => format!("measured: {reason}"),
        }
    }

    /// Where tasks' cgroups go, when limits are enforced.
    pub fn cgroup_parent(&self) -> Option<&Path> {
        match self {
            Mode::Enforced { parent } => Some(parent),
            Mode::Measured { .. } => None,
        }
    }
}

/// What detection looked at.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `/proc/self/mounts`.
    pub mounts: String,
    /// `/proc/self/cgroup`.
    pub own_cgroup: String,
    /// `cgroup.controllers` of the agent's cgroup v2 directory, if read.
    pub controllers: Option<String>,
    /// Creating `corral/` and enabling the controllers for tasks; `None`
    /// when not tried (the controllers were not there).
    pub setup: Option<Result<(), String>>,
}

fn unavailable(why: &str) -> Mode {
    Mode::Measured {
        reason: format!("cgroups v2 with cpu and memory controllers not available ({why})"),
    }
}

/// Mount points of `fstype` in a mounts table.
fn mounts_of<'a>(mounts: &'a str, fstype: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    mounts.lines().filter_map(move |l| {
        let mut f = l.split_whitespace();
        let (_dev, at, ty) = (f.next()?, f.next()?, f.next()?);
        (ty == fstype).then_some(at)
    })
}

/// The agent's cgroup v2 directory: the cgroup2 mount (`/sys/fs/cgroup`
/// preferred) joined with the `0::<path>` line of `/proc/self/cgroup`.
/// The error says why there is none.
pub fn own_dir(mounts: &str, own_cgroup: &str) -> Result<PathBuf, String> {
    let v2: Vec<&str> = mounts_of(mounts, "cgroup2").collect();
    let Some(mount) = v2
        .iter()
        .find(|m| **m == "/sys/fs/cgroup")
        .or_else(|| v2.first())
    else {
        return Err(if mounts_of(mounts, "cgroup").next().is_some() {
            "found cgroup v1".to_string()
        } else {
            "no cgroup filesystem is mounted".to_string()
        });
    };
    let Some(path) = own_cgroup.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Err("/proc/self/cgroup has no cgroup v2 entry".to_string());
    };
    let rel = path.trim().trim_start_matches('/');
    Ok(if rel.is_empty() {
        PathBuf::from(mount)
    } else {
        Path::new(mount).join(rel)
    })
}

/// Whether limits can be enforced, from what detection saw.
pub fn decide(facts: &Facts) -> Mode {
    let dir = match own_dir(&facts.mounts, &facts.own_cgroup) {
        Ok(dir) => dir,
        Err(why) => return unavailable(&why),
    };
    let Some(list) = &facts.controllers else {
        return unavailable(&format!("cannot read {}/cgroup.controllers", dir.display()));
    };
    let offered: Vec<&str> = list.split_whitespace().collect();
    if !CONTROLLERS.iter().all(|c| offered.contains(c)) {
        // A hybrid host binds the controllers to v1 hierarchies and leaves
        // the v2 one empty: say so, that is what an operator must change.
        if mounts_of(&facts.mounts, "cgroup").next().is_some() {
            return unavailable("found cgroup v1");
        }
        let offered = if offered.is_empty() {
            "none".to_string()
        } else {
            offered.join(" ")
        };
        return unavailable(&format!("{} offers only: {offered}", dir.display()));
    }
    match &facts.setup {
        Some(Ok(())) => Mode::Enforced {
            parent: dir.join(CORRAL),
        },
        Some(Err(e)) => Mode::Measured {
            reason: format!(
                "cgroups v2 found, but cpu and memory cannot be delegated to tasks under {}: {e}",
                dir.display()
            ),
        },
        None => unavailable("the controllers were not set up"),
    }
}

/// Writes `+cpu +memory` to `dir/cgroup.subtree_control`.
fn enable_controllers(dir: &Path) -> Result<(), String> {
    let file = dir.join("cgroup.subtree_control");
    let want: Vec<String> = CONTROLLERS.iter().map(|c| format!("+{c}")).collect();
    std::fs::write(&file, want.join(" ")).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::EBUSY) {
            " (the cgroup holds processes; start the agent in a leaf of a cgroup delegated to it)"
        } else {
            ""
        };
        format!("{}: {e}{hint}", file.display())
    })
}

/// Prepares `dir/corral` so tasks' cgroups under it get both controllers.
fn prepare(dir: &Path) -> Result<(), String> {
    enable_controllers(dir)?;
    let corral = dir.join(CORRAL);
    match std::fs::create_dir(&corral) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e}", corral.display())),
    }
    enable_controllers(&corral)
}

/// Looks at this host and decides the mode (sets up `corral/` when it can
/// enforce).
pub fn detect() -> Mode {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let mut facts = Facts {
        mounts: read("/proc/self/mounts"),
        own_cgroup: read("/proc/self/cgroup"),
        ..Facts::default()
    };
    if let Ok(dir) = own_dir(&facts.mounts, &facts.own_cgroup) {
        facts.controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).ok();
        let offers_both = facts.controllers.as_deref().is_some_and(|list| {
            let offered: Vec<&str> = list.split_whitespace().collect();
            CONTROLLERS.iter().all(|c| offered.contains(c))
        });
        if offers_both {
            facts.setup = Some(prepare(&dir));
        }
    }
    decide(&facts)
}

/// `memory.max` for a task: its memory in bytes, or `max` for no limit.
pub fn memory_max(mem_mb: u64) -> String {
    if mem_mb == 0 {
        "max".to_string()
    } else {
        mem_mb.saturating_mul(1024 * 1024).to_string()
    }
}

/// `cpu.max` for a task: `<quota> <period>` with quota = cpus × period
/// (at least [`MIN_CPU_QUOTA_US`]), or `max <period>` for no limit.
pub fn cpu_max(cpus: f64) -> String {
    if !(cpus.is_finite() && cpus > 0.0) {
        return format!("max {CPU_PERIOD_US}");
    }
    let quota = ((cpus * CPU_PERIOD_US as f64).round() as u64).max(MIN_CPU_QUOTA_US);
    format!("{quota} {CPU_PERIOD_US}")
}

/// The task's cgroup directory name: `task-<id>`, any character other than
/// letters, digits, `.`, `_` and `-` replaced by `_`.
pub fn task_dir_name(id: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("task-{safe}")
}

/// `n` in decimal into `buf`, without allocating (for use after fork).
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// A cgroup's `cgroup.procs`, ready to be joined after fork.
#[derive(Debug, Clone)]
pub struct ProcsFile(CString);

impl ProcsFile {
    /// Moves the calling process into the cgroup. Meant for `pre_exec` in
    /// the task's child: only async-signal-safe calls, no allocation.
    pub fn join(&self) -> std::io::Result<()> {
        let mut buf = [0u8; 10];
        // SAFETY: getpid cannot fail.
        let pid = decimal(unsafe { libc::getpid() } as u32, &mut buf);
        // SAFETY: `self.0` is a valid NUL-terminated path; `pid` a live buffer.
        unsafe {
            let fd = libc::open(self.0.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let n = libc::write(fd, pid.as_ptr().cast(), pid.len());
            let err = (n < 0).then(std::io::Error::last_os_error);
            libc::close(fd);
            err.map_or(Ok(()), Err)
        }
    }
}

/// One task's cgroup, made by its supervisor.
#[derive(Debug)]
pub struct TaskCgroup {
    dir: PathBuf,
    procs: ProcsFile,
}

impl TaskCgroup {
    /// Creates `parent/task-<id>` with the task's limits.
    pub fn create(parent: &Path, id: &str, limits: &Limits) -> Result<TaskCgroup, String> {
        let dir = parent.join(task_dir_name(id));
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            // Left by a supervisor of this very task that died: reuse it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create cgroup {}: {e}", dir.display())),
        }
        for (file, value) in [
            ("memory.max", memory_max(limits.mem_mb)),
            ("cpu.max", cpu_max(limits.cpus)),
        ] {
            if let Err(e) = std::fs::write(dir.join(file), &value) {
                let _ = std::fs::remove_dir(&dir);
                return Err(format!(
                    "cannot write {value:?} to {}/{file}: {e}",
                    dir.display()
                ));
            }
        }
        let procs = CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
            .map_err(|_| format!("cgroup path {} holds a NUL byte", dir.display()))?;
        Ok(TaskCgroup {
            dir,
            procs: ProcsFile(procs),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the task's child joins before exec.
    pub fn procs_file(&self) -> ProcsFile {
        self.procs.clone()
    }

    /// SIGKILLs every process left in the cgroup: `cgroup.kill` (Linux
    /// 5.14+), else one by one from `cgroup.procs`.
    fn kill_leftovers(&self) {
        if std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        let procs = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs
            .lines()
            .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
        {
            // SAFETY: kill(2) on a process of this task's cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    /// Removes the cgroup once the task ended, killing what is left of the
    /// task in it first so the directory can go.
    // The supervisor is a plain synchronous process with no tokio runtime
    // and no tests steering its clock: it sleeps while the kernel reaps.
    #[allow(clippy::disallowed_methods)]
    pub fn remove(self) -> Result<(), String> {
        let mut killed = false;
        for _ in 0..100 {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    if !killed {
                        self.kill_leftovers();
                        killed = true;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("cannot remove {}: {e}", self.dir.display())),
            }
        }
        Err(format!(
            "cannot remove {}: processes stay in it",
            self.dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_MOUNTS: &str = "sysfs /sys sysfs rw 0 0\n\
        cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n";
    /// This project's CI machine: v1 controllers, an empty v2 at unified/.
    const HYBRID_MOUNTS: &str = "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n\
        cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
        cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n\
        cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n\
        cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
    const V1_ONLY_MOUNTS: &str = "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n";
    const HYBRID_SELF: &str = "4:memory:/process_api/9c37\n1:cpu:/\n0::/\n";

    fn facts(
        mounts: &str,
        own: &str,
        controllers: Option<&str>,
        setup: Option<Result<(), &str>>,
    ) -> Facts {
        Facts {
            mounts: mounts.into(),
            own_cgroup: own.into(),
            controllers: controllers.map(str::to_string),
            setup: setup.map(|r| r.map_err(str::to_string)),
        }
    }

    #[test]
    fn decides_the_mode() {
        let cases = [
            (
                "v2 with both controllers, delegated",
                facts(
                    V2_MOUNTS,
                    "0::/system.slice/corral.service\n",
                    Some("cpuset cpu io memory pids\n"),
                    Some(Ok(())),
                ),
                "cgroups-v2: cpu and memory enforced",
            ),
            (
                "v2 missing memory",
                facts(V2_MOUNTS, "0::/\n", Some("cpu io pids\n"), None),
                "measured: cgroups v2 with cpu and memory controllers not available \
                 (/sys/fs/cgroup offers only: cpu io pids)",
            ),
            (
                "v2 with no controllers at all",
                facts(V2_MOUNTS, "0::/a\n", Some("\n"), None),
                "measured: cgroups v2 with cpu and memory controllers not available \
                 (/sys/fs/cgroup/a offers only: none)",
            ),
            (
                "v1 hybrid with an empty v2",
                facts(HYBRID_MOUNTS, HYBRID_SELF, Some(""), None),
                "measured: cgroups v2 with cpu and memory controllers not available \
                 (found cgroup v1)",
            ),
            (
                "v1 only",
                facts(V1_ONLY_MOUNTS, "1:cpu:/\n", None, None),
                "measured: cgroups v2 with cpu and memory controllers not available \
                 (found cgroup v1)",
            ),
            (
                "no cgroups",
                facts("proc /proc proc rw 0 0\n", "", None, None),
                "measured: cgroups v2 with cpu and memory controllers not available \
                 (no cgroup filesystem is mounted)",
            ),
            (
                "v2 but not writable",
                facts(
                    V2_MOUNTS,
                    "0::/user.slice\n",
                    Some("cpu memory\n"),
                    Some(Err("/sys/fs/cgroup/user.slice/cgroup.subtree_control: \
                              Permission denied (os error 13)")),
                ),
                "measured: cgroups v2 found, but cpu and memory cannot be delegated to \
                 tasks under /sys/fs/cgroup/user.slice: /sys/fs/cgroup/user.slice/\
                 cgroup.subtree_control: Permission denied (os error 13)",
            ),
            (
                "v2 controllers unreadable",
                facts(V2_MOUNTS, "0::/x\n", None, None),
                "measured: cgroups v2 with cpu and memory controllers not available \
                 (cannot read /sys/fs/cgroup/x/cgroup.controllers)",
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(decide(&facts).describe(), want, "{name}");
        }
    }

    #[test]
    fn tasks_go_under_the_agents_corral_cgroup() {
        let f = facts(
            V2_MOUNTS,
            "0::/system.slice/corral.service\n",
            Some("cpu memory"),
            Some(Ok(())),
        );
        assert_eq!(
            decide(&f).cgroup_parent(),
            Some(Path::new(
                "/sys/fs/cgroup/system.slice/corral.service/corral"
            ))
        );
        let hybrid = facts(HYBRID_MOUNTS, HYBRID_SELF, Some(""), None);
        assert_eq!(decide(&hybrid).cgroup_parent(), None);
        assert_eq!(
            own_dir(HYBRID_MOUNTS, HYBRID_SELF),
            Ok(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn limit_files() {
        for (mem_mb, want) in [(0, "max"), (256, "268435456"), (1, "1048576")] {
            assert_eq!(memory_max(mem_mb), want, "mem {mem_mb}");
        }
        for (cpus, want) in [
            (0.0, "max 100000"),
            (-1.0, "max 100000"),
            (f64::NAN, "max 100000"),
            (0.5, "50000 100000"),
            (2.0, "200000 100000"),
            (0.001, "1000 100000"),
            (0.0001, "1000 100000"),
            (1.234567, "123457 100000"),
        ] {
            assert_eq!(cpu_max(cpus), want, "cpus {cpus}");
        }
        for (id, want) in [
            ("web-1", "task-web-1"),
            ("a.b_c", "task-a.b_c"),
            ("../x y", "task-.._x_y"),
            ("ünï", "task-_n_"),
        ] {
            assert_eq!(task_dir_name(id), want, "id {id}");
        }
        for n in [0, 7, 10, 4194304, u32::MAX] {
            let mut buf = [0u8; 10];
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
