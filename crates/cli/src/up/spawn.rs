//! Getting the node processes started: which addresses the machines use (the
//! configured IPs, or 127.0.0.1 with port offsets when those cannot be bound),
//! checking each port is free, and launching one `corral node` per machine in
//! a session of its own with its output appended to its log. It never waits
//! for, signals or stops a process: the running processes belong to
//! [`super::Cluster`].

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};

use super::{now_ms, UpError};
use crate::config::{check_plan, plan, Config, MachinePlan};

/// Picks normal or fallback addressing and checks every port is free.
/// Returns the plan and, in fallback, why.
pub fn choose_addressing(config: &Config) -> Result<(Vec<MachinePlan>, Option<String>), UpError> {
    let normal = plan(config, false);
    let mut fallback = None;
    let mut tried = BTreeSet::new();
    for m in &normal {
        if !tried.insert(m.ip) {
            continue;
        }
        let (what, ip, port) = m.listens()[0];
        match TcpListener::bind((ip, port)) {
            Ok(l) => drop(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(UpError::PortInUse {
                    addr: format!("{ip}:{port}"),
                    machine: m.name.clone(),
                    what,
                })
            }
            Err(e) => {
                fallback = Some(format!("{ip} cannot be bound ({e})"));
                break;
            }
        }
    }
    let chosen = if fallback.is_some() {
        plan(config, true)
    } else {
        normal
    };
    check_plan(&chosen).map_err(UpError::BadPlan)?;
    for m in &chosen {
        for (what, ip, port) in m.listens() {
            probe(ip, port).map_err(|e| {
                let addr = format!("{ip}:{port}");
                let machine = m.name.clone();
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    UpError::PortInUse {
                        addr,
                        machine,
                        what,
                    }
                } else {
                    UpError::CannotBind {
                        addr,
                        machine,
                        what,
                        reason: e.to_string(),
                    }
                }
            })?;
        }
    }
    Ok((chosen, fallback))
}

fn probe(ip: Ipv4Addr, port: u16) -> std::io::Result<()> {
    TcpListener::bind((ip, port)).map(drop)
}

/// Starts `<exe> node ...` for `m` in a session of its own, output appended
/// to its log. Returns the child and the log's length before this run.
pub(super) fn spawn(exe: &Path, m: &MachinePlan) -> Result<(Child, u64), UpError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| UpError::Io {
            path,
            reason: e.to_string(),
        }
    };
    std::fs::create_dir_all(&m.data_dir).map_err(io(&m.data_dir))?;
    let log_path = m.log_path();
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(&log_path))?;
    let log_from = log.metadata().map_err(io(&log_path))?.len();
    writeln!(
        log,
        "--- corral up, {} ms since the epoch: {} {}",
        now_ms(),
        exe.display(),
        m.command_line()
    )
    .map_err(io(&log_path))?;
    let log_err = log.try_clone().map_err(io(&log_path))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(&m.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe and touches no memory of this process;
    // it is all the child does between fork and exec. A session of its own
    // keeps terminal signals (Ctrl-C, hangup) away from the node: `up` stops
    // its machines itself, and `up -d` leaves them running.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| UpError::Spawn {
        machine: m.name.clone(),
        exe: exe.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok((child, log_from))
}
