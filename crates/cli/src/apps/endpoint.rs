//! Where the app commands find the Marathon-compatible app API (:8080 of
//! every server): the one place that decides it.
//!
//! In order:
//! 1. `--apps-endpoint` / `CORRAL_APPS_ENDPOINT` (`host:8080[,host:8080]`),
//!    taken as given;
//! 2. `--endpoint` / `CORRAL_ENDPOINT` (master API addresses): a server of
//!    the local cluster keeps the app port `corral up` recorded for it;
//!    any other `host:port` gets the app port at the default distance from
//!    the master port (8080 − 5050, as the servers' own leader proxy
//!    derives it, also in `up`'s fallback addressing where every port of a
//!    machine shifts together);
//! 3. the servers of the local cluster `corral up` started from here;
//! 4. `127.0.0.101:8080`.
//!
//! Invariants: [`app_endpoints`] is pure (the local cluster comes in as
//! data); only [`local_servers`] reads files. Any server will do: followers
//! proxy to the leader.

use crate::cluster_file::ClusterFile;
use crate::config::{Config, Ports};

/// A server of the local cluster: its master and app API addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalServer {
    pub master: String,
    pub apps: String,
}

/// What the user (and the local cluster) said about where to connect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// `--apps-endpoint` / `CORRAL_APPS_ENDPOINT`.
    pub apps: Option<&'a str>,
    /// `--endpoint` / `CORRAL_ENDPOINT`.
    pub master: Option<&'a str>,
    /// The running local cluster's servers (empty when none runs).
    pub local: &'a [LocalServer],
}

/// Where the app API listens when nothing else is known.
pub const DEFAULT_APPS_ENDPOINT: &str = "127.0.0.101:8080";

/// The app API addresses to try, in order. Errors are one line, for exit 2.
pub fn app_endpoints(s: &Sources<'_>) -> Result<Vec<String>, String> {
    if let Some(list) = s.apps {
        let list = split(list);
        if list.is_empty() {
            return Err("--apps-endpoint (CORRAL_APPS_ENDPOINT) is empty; \
                        give HOST:PORT of a server's app API"
                .to_string());
        }
        return Ok(list);
    }
    if let Some(list) = s.master {
        let list = split(list);
        if list.is_empty() {
            return Err("--endpoint is empty; give HOST:PORT of a server".to_string());
        }
        return list.iter().map(|m| app_addr(m, s.local)).collect();
    }
    if !s.local.is_empty() {
        return Ok(s.local.iter().map(|l| l.apps.clone()).collect());
    }
    Ok(vec![DEFAULT_APPS_ENDPOINT.to_string()])
}

/// Comma-separated addresses, blanks dropped.
fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The app API address of the server whose master API is `master`
/// (`host:port`, `http://host:port`, or a bare host meaning port 5050).
pub fn app_addr(master: &str, local: &[LocalServer]) -> Result<String, String> {
    let (scheme, rest) = match master.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest.trim_end_matches('/')),
        None => (String::new(), master.trim_end_matches('/')),
    };
    if let Some(l) = local.iter().find(|l| l.master == rest) {
        return Ok(format!("{scheme}{}", l.apps));
    }
    let defaults = Ports::default();
    // `host:port`, or a bare host (an IPv6 address only in brackets).
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) => {
            let port: u16 = port.parse().map_err(|_| {
                format!("endpoint {master:?} is not HOST:PORT (the port is not a number)")
            })?;
            (host, port)
        }
        _ if !rest.is_empty() && !rest.contains(':') => (rest, defaults.master),
        _ => return Err(format!("endpoint {master:?} is not HOST:PORT")),
    };
    let offset = i32::from(defaults.apps) - i32::from(defaults.master);
    let apps = u16::try_from(i32::from(port) + offset).map_err(|_| {
        format!(
            "endpoint {master:?}: the app API port would be {} (master port + {offset}), \
             which is no port; name it with --apps-endpoint (CORRAL_APPS_ENDPOINT)",
            i32::from(port) + offset
        )
    })?;
    Ok(format!("{scheme}{host}:{apps}"))
}

/// The servers of the cluster `corral up` started from the config in this
/// directory, if one is running.
pub fn local_servers() -> Vec<LocalServer> {
    let Ok(config) = Config::load(&crate::default_config_path()) else {
        return Vec::new();
    };
    let Ok(Some(file)) = ClusterFile::read(&config.data_dir) else {
        return Vec::new();
    };
    if file.running().is_empty() {
        return Vec::new();
    }
    file.machines
        .iter()
        .filter(|m| m.server_id.is_some())
        .map(|m| LocalServer {
            master: m.master_addr(),
            apps: format!("{}:{}", m.ip, m.ports.apps),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Vec<LocalServer> {
        // A corral.toml with `[ports] master = 6000, apps = 9000`.
        ["127.0.0.101", "127.0.0.102"]
            .iter()
            .map(|ip| LocalServer {
                master: format!("{ip}:6000"),
                apps: format!("{ip}:9000"),
            })
            .collect()
    }

    /// `(apps, master, local cluster?, expected endpoints or error part)`.
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        bool,
        Result<&'a str, &'a str>,
    );

    #[test]
    fn endpoints_in_order_of_precedence() {
        let local = local();
        let cases: &[Case] = &[
            // Named directly: taken as given, even with a master endpoint.
            (
                Some("10.0.0.1:8080, 10.0.0.2:8080"),
                Some("x:5050"),
                true,
                Ok("10.0.0.1:8080,10.0.0.2:8080"),
            ),
            (
                Some(" , "),
                None,
                false,
                Err("--apps-endpoint (CORRAL_APPS_ENDPOINT) is empty"),
            ),
            // Derived from the master API: default distance 8080 - 5050.
            (
                None,
                Some("10.0.0.1:5050,10.0.0.2:5050"),
                false,
                Ok("10.0.0.1:8080,10.0.0.2:8080"),
            ),
            // Fallback addressing: ports shift together.
            (None, Some("127.0.0.1:5060"), false, Ok("127.0.0.1:8090")),
            (None, Some("http://h:5050/"), false, Ok("http://h:8080")),
            (None, Some("h"), false, Ok("h:8080")),
            (None, Some("[::1]:5050"), false, Ok("[::1]:8080")),
            // A local server keeps the app port `up` recorded.
            (None, Some("127.0.0.102:6000"), true, Ok("127.0.0.102:9000")),
            (None, Some("127.0.0.103:6000"), true, Ok("127.0.0.103:9030")),
            (None, Some("h:http"), false, Err("is not HOST:PORT")),
            (None, Some("::1"), false, Err("is not HOST:PORT")),
            (
                None,
                Some("h:65000"),
                false,
                Err("the app API port would be 68030"),
            ),
            (None, Some(","), false, Err("--endpoint is empty")),
            // Nothing said: the local cluster, else the default.
            (None, None, true, Ok("127.0.0.101:9000,127.0.0.102:9000")),
            (None, None, false, Ok("127.0.0.101:8080")),
        ];
        for (apps, master, with_local, want) in cases {
            let s = Sources {
                apps: *apps,
                master: *master,
                local: if *with_local { &local } else { &[] },
            };
            let got = app_endpoints(&s).map(|l| l.join(","));
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{apps:?} {master:?}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{apps:?} {master:?}: {g}"),
                _ => panic!("{apps:?} {master:?}: want {want:?}, got {got:?}"),
            }
        }
    }
}
