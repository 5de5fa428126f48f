//! `User=` and `Group=`: who a unit's commands run as. An agent running as
//! root switches to them; any other agent can only run units as itself and
//! refuses a unit that asks for someone else (the unit loads with an error
//! saying so, rather than running as the wrong user).
//!
//! [`decide`] is pure; [`resolve`] looks names up in the user database.

use std::ffi::{CStr, CString};

/// Whom to run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    /// Set `uid`/`gid` in the child (the agent is root and they differ).
    pub switch: bool,
    /// `HOME`, `USER`, `LOGNAME`, `SHELL` for the commands' environment.
    pub env: Vec<(String, String)>,
    pub home: Option<String>,
}

/// Whether commands must switch ids, or why they cannot run at all.
pub fn decide(current: (u32, u32), wanted: (u32, u32), asked: &str) -> Result<bool, String> {
    if current == wanted {
        return Ok(false);
    }
    if current.0 == 0 {
        return Ok(true);
    }
    Err(format!(
        "{asked} needs uid {} gid {}, but the agent runs as uid {} gid {} (not root) and cannot switch; run corral node as root or remove {asked}",
        wanted.0, wanted.1, current.0, current.1
    ))
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
    shell: String,
}

fn lookup_user(user: &str) -> Result<Passwd, String> {
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    let rc = match user.parse::<u32>() {
        // SAFETY: getpwuid_r writes into `pw` and `buf`, both ours and sized.
        Ok(uid) => unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) },
        Err(_) => {
            let c = CString::new(user).map_err(|_| format!("User={user:?} holds a NUL byte"))?;
            // SAFETY: as above; `c` is a valid C string.
            unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) }
        }
    };
    if rc != 0 || out.is_null() {
        return Err(format!("User={user}: no such user on this machine"));
    }
    // SAFETY: on success the fields point into `buf`, which is alive.
    let s = |p: *const libc::c_char| unsafe {
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    Ok(Passwd {
        name: s(pw.pw_name),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
        home: s(pw.pw_dir),
        shell: s(pw.pw_shell),
    })
}

fn lookup_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    let c = CString::new(group).map_err(|_| format!("Group={group:?} holds a NUL byte"))?;
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: getgrnam_r writes into `gr` and `buf`, both ours and sized.
    let rc =
        unsafe { libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return Err(format!("Group={group}: no such group on this machine"));
    }
    Ok(gr.gr_gid)
}

/// Looks `User=`/`Group=` up and decides; `None` when neither is set.
pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<Creds>, String> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    // SAFETY: plain getters.
    let current = unsafe { (libc::geteuid(), libc::getegid()) };
    let pw = user.map(lookup_user).transpose()?;
    let uid = pw.as_ref().map_or(current.0, |p| p.uid);
    let gid = match group {
        Some(g) => lookup_group(g)?,
        None => pw.as_ref().map_or(current.1, |p| p.gid),
    };
    let asked = match (user, group) {
        (Some(u), Some(g)) => format!("User={u}/Group={g}"),
        (Some(u), None) => format!("User={u}"),
        (None, Some(g)) => format!("Group={g}"),
        (None, None) => unreachable!("handled above"),
    };
    let switch = decide(current, (uid, gid), &asked)?;
    let env = pw
        .as_ref()
        .map(|p| {
            vec![
                ("HOME".to_string(), p.home.clone()),
                ("USER".to_string(), p.name.clone()),
                ("LOGNAME".to_string(), p.name.clone()),
                ("SHELL".to_string(), p.shell.clone()),
            ]
        })
        .unwrap_or_default();
    Ok(Some(Creds {
        uid,
        gid,
        switch,
        env,
        home: pw.map(|p| p.home),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert_eq!(decide((1000, 1000), (1000, 1000), "User=me"), Ok(false));
        assert_eq!(decide((0, 0), (65534, 65534), "User=nobody"), Ok(true));
        assert_eq!(decide((0, 0), (0, 0), "User=root"), Ok(false));
        assert_eq!(
            decide((1000, 1000), (65534, 65534), "User=nobody"),
            Err("User=nobody needs uid 65534 gid 65534, but the agent runs as uid 1000 gid 1000 (not root) and cannot switch; run corral node as root or remove User=nobody".into())
        );
    }

    #[test]
    fn resolves_the_current_user() {
        let uid = unsafe { libc::geteuid() };
        let c = resolve(Some(&uid.to_string()), None).unwrap().unwrap();
        assert_eq!((c.uid, c.switch), (uid, false));
        assert!(c.env.iter().any(|(k, _)| k == "HOME"));
        assert_eq!(resolve(None, None).unwrap(), None);
        assert!(resolve(Some("no-such-user-corral"), None)
            .unwrap_err()
            .contains("no such user"));
    }
}
