//! The user a task runs as. A task that names a user (Mesos's
//! `CommandInfo.user`, Marathon's `user`) runs as that user: the
//! supervisor looks it up in the agent's user database, hands it the
//! sandbox, fetches and runs the command with its uid, gid and groups, and
//! sets `HOME`, `USER` and `LOGNAME`. Without a user a task runs as the
//! agent does. `FrameworkInfo.user` is never applied.
//!
//! Whether to switch is decided by [`decide`] (pure); [`lookup`] reads
//! the user database and [`become_user`] drops the privileges of the
//! process it runs in, for good. Switching needs an agent running as root;
//! an agent that is not refuses a task for another user rather than run it
//! as the wrong one.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

/// A user as the agent's user database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// Every group it is in (its primary group included).
    pub groups: Vec<u32>,
}

impl Account {
    /// The environment a login as this user would have: `HOME`, `USER`,
    /// `LOGNAME`.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("HOME", self.home.to_string_lossy().into_owned()),
            ("USER", self.name.clone()),
            ("LOGNAME", self.name.clone()),
        ]
    }
}

/// Who runs a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// The agent's user: no user was asked for.
    Agent,
    /// The user asked for is the agent's own: nothing to switch, but the
    /// task sees its `HOME`, `USER` and `LOGNAME`.
    Same(Account),
    /// Another user: the sandbox is handed over and the fetch and the
    /// command run with its ids.
    Switch(Account),
}

/// Why a task cannot run as the user it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user {0:?} does not exist on this agent: create it there, or run the task as a user that does")]
    Unknown(String),
    #[error(
        "the agent runs as uid {agent_uid}, not root, so it cannot run the task as user {user:?}: the agent must run as root to switch users (or leave out the task's user)"
    )]
    NotRoot { user: String, agent_uid: u32 },
    #[error("cannot look up user {user:?} on this agent: {message}")]
    Lookup { user: String, message: String },
}

/// Who runs a task that asks for `user` (none: the agent's user), given
/// what the user database said about it and the agent's effective uid.
pub fn decide(
    user: Option<&str>,
    account: Option<Account>,
    agent_uid: u32,
) -> Result<RunAs, UserError> {
    let Some(user) = user else {
        return Ok(RunAs::Agent);
    };
    let account = account.ok_or_else(|| UserError::Unknown(user.to_string()))?;
    if account.uid == agent_uid {
        Ok(RunAs::Same(account))
    } else if agent_uid == 0 {
        Ok(RunAs::Switch(account))
    } else {
        Err(UserError::NotRoot {
            user: user.to_string(),
            agent_uid,
        })
    }
}

/// Who runs a task that asks for `user`, on this agent.
pub fn resolve(user: Option<&str>) -> Result<RunAs, UserError> {
    let account = match user {
        Some(name) => lookup(name)?,
        None => None,
    };
    // SAFETY: geteuid(2) cannot fail.
    decide(user, account, unsafe { libc::geteuid() })
}

/// Looks `name` up in the user database (getpwnam_r, getgrouplist).
pub fn lookup(name: &str) -> Result<Option<Account>, UserError> {
    let failed = |message: String| UserError::Lookup {
        user: name.to_string(),
        message,
    };
    let Ok(c_name) = CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0 as libc::c_char; 1024];
    // SAFETY: an all-zero passwd is a valid value (null pointers, zero ids)
    // that getpwnam_r overwrites.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    loop {
        // SAFETY: every pointer is valid for the call and `buf.len()` is
        // the buffer's size; the strings it fills point into `buf`.
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 => break,
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            // Some systems say "no such user" with these instead of 0.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(failed(std::io::Error::from_raw_os_error(e).to_string())),
        }
    }
    if found.is_null() {
        return Ok(None);
    }
    // SAFETY: getpwnam_r succeeded, so pw_dir is a NUL-terminated string
    // inside `buf`, which is still alive.
    let home = unsafe { CStr::from_ptr(pwd.pw_dir) }
        .to_string_lossy()
        .into_owned();
    let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut n = groups.len() as libc::c_int;
        // SAFETY: `groups` holds `n` entries; getgrouplist writes at most
        // that many and sets `n` to the number it needs.
        let rc = unsafe { libc::getgrouplist(c_name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n.max(0) as usize);
            break;
        }
        if groups.len() >= 65536 {
            return Err(failed("it is in more than 65536 groups".into()));
        }
        let want = (n.max(0) as usize).max(groups.len() * 2);
        groups.resize(want, 0);
    }
    Ok(Some(Account {
        name: name.to_string(),
        uid,
        gid,
        home: PathBuf::from(home),
        groups,
    }))
}

/// Makes the calling process `account` for good: its groups, its gid,
/// then its uid. Only async-signal-safe calls and no allocation, so it is
/// fit for a `pre_exec` hook (this is `initgroups` with the group list
/// looked up beforehand, as reading the group database after a fork is
/// not safe).
pub fn become_user(account: &Account) -> std::io::Result<()> {
    let last = std::io::Error::last_os_error;
    // SAFETY: the group list is a valid slice for the length given; the
    // calls only change this process's credentials.
    unsafe {
        if libc::setgroups(account.groups.len() as _, account.groups.as_ptr()) != 0 {
            return Err(last());
        }
        if libc::setgid(account.gid) != 0 {
            return Err(last());
        }
        if libc::setuid(account.uid) != 0 {
            return Err(last());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, uid: u32) -> Account {
        Account {
            name: name.into(),
            uid,
            gid: uid,
            home: format!("/home/{name}").into(),
            groups: vec![uid],
        }
    }

    /// One case a line, split by ` | `: the user asked for (`-` for
    /// none), its uid in the user database (`-`: not there), the agent's
    /// uid, and who runs the task or why not.
    #[test]
    fn who_runs_the_task_issue_4() {
        let table = r#"
            -      | -     | 0     | agent
            -      | -     | 1000  | agent
            nobody | 65534 | 0     | switch to nobody (65534)
            root   | 0     | 0     | same as the agent: root
            alice  | 1000  | 1000  | same as the agent: alice
            nobody | 65534 | 1000  | the agent runs as uid 1000, not root, so it cannot run the task as user "nobody": the agent must run as root to switch users (or leave out the task's user)
            ghost  | -     | 0     | user "ghost" does not exist on this agent: create it there, or run the task as a user that does
            ghost  | -     | 1000  | user "ghost" does not exist on this agent: create it there, or run the task as a user that does
        "#;
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split(" | ").map(str::trim).collect();
            let [user, uid, agent, want] = cols[..] else {
                panic!("a case has 4 columns: {line}");
            };
            let user = (user != "-").then_some(user);
            let found = match (user, uid) {
                (Some(name), uid) if uid != "-" => Some(account(name, uid.parse().unwrap())),
                _ => None,
            };
            let got = match decide(user, found, agent.parse().unwrap()) {
                Ok(RunAs::Agent) => "agent".to_string(),
                Ok(RunAs::Same(a)) => format!("same as the agent: {}", a.name),
                Ok(RunAs::Switch(a)) => format!("switch to {} ({})", a.name, a.uid),
                Err(e) => e.to_string(),
            };
            assert_eq!(got, want, "case: {line}");
        }
    }

    #[test]
    fn looks_users_up() {
        let root = lookup("root").unwrap().expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0), "{root:?}");
        assert_eq!(
            root.env().map(|(k, v)| format!("{k}={v}")).join(" "),
            format!("HOME={} USER=root LOGNAME=root", root.home.display())
        );
        assert_eq!(lookup("no-such-user-corral-test").unwrap(), None);
        assert_eq!(lookup("nul\0inside").unwrap(), None);
    }
}
