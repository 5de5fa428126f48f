//! A small client of the unit API as the unit benchmarks drive it
//! (`/v1/units` through any server, `/fleet/v1/state`, a machine's own
//! `GET /v1/agent/units`), and the pure reader of the listing ([`tally`],
//! tested as data below). Owns no timing policy: callers decide when to
//! call.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use corral_api::client::Method;
use corral_api::fleet::UnitStatePage;
use corral_api::unit_view::{UnitBatch, UnitBatchItem, UnitList, UnitPut, UnitRow};
use corral_api::units::UnitStatus;
use corral_api::Client;
use serde_json::Value;

use super::TEMPLATE;

/// Bound on one request (a listing of 20,000 units is tens of MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on the pages of one paged listing (100 items a page).
const MAX_PAGES: usize = 1000;

/// The unit API of a cluster, through any of its servers (the client
/// follows the followers' 307 to the leader).
#[derive(Clone)]
pub struct UnitsApi {
    client: Client,
}

/// What a `GET /v1/units` says about the instances of [`TEMPLATE`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Instances listed.
    pub units: u64,
    /// Instances with a machine.
    pub placed: u64,
    /// Instances some machine reports.
    pub reported: u64,
    /// Instances their own machine reports active/running.
    pub active: u64,
    /// Instances some machine reports failed.
    pub failed: u64,
    /// Why one instance has no machine, if one has none.
    pub why: Option<String>,
}

impl Tally {
    /// `2000 of 2000 listed, 1990 placed, 1500 active/running (1600 reported, 0 failed)`.
    pub fn describe(&self, want: u64) -> String {
        let mut s = format!(
            "{} of {want} listed, {} placed, {} active/running ({} reported, {} failed)",
            self.units, self.placed, self.active, self.reported, self.failed
        );
        if let Some(why) = &self.why {
            s.push_str(&format!("; unplaced because: {why}"));
        }
        s
    }
}

/// True for an instance of [`TEMPLATE`] (not the template itself).
pub fn is_instance(name: &str) -> bool {
    let prefix = TEMPLATE.trim_end_matches(".service");
    name != TEMPLATE && name.starts_with(prefix)
}

/// Counts the instances of [`TEMPLATE`] in a listing. Pure.
pub fn tally(list: &UnitList) -> Tally {
    let mut t = Tally::default();
    for row in list.units.iter().filter(|r| is_instance(&r.name)) {
        t.units += 1;
        if row.machine.is_some() {
            t.placed += 1;
        } else if t.why.is_none() {
            t.why = row.why.clone();
        }
        if !row.states.is_empty() {
            t.reported += 1;
        }
        if row.states.iter().any(|s| s.active == "failed") {
            t.failed += 1;
        }
        let up = row.states.iter().any(|s| {
            Some(&s.machine) == row.machine.as_ref() && s.active == "active" && s.sub == "running"
        });
        if up {
            t.active += 1;
        }
    }
    t
}

impl UnitsApi {
    /// The API through `servers` (`ip:port` of each server's :5050).
    pub fn new(servers: Vec<String>) -> UnitsApi {
        UnitsApi {
            client: Client::with_timeout(servers, REQUEST_TIMEOUT),
        }
    }

    /// `PUT /v1/units/{name}`: the unit file (`text`) and/or its desired state.
    pub async fn put(&self, name: &str, text: Option<&str>, desired: Option<&str>) -> Result<()> {
        let body = UnitPut {
            text: text.map(str::to_string),
            desired: desired.map(str::to_string),
        };
        self.client
            .call::<_, Value>(Method::PUT, &format!("/v1/units/{name}"), Some(&body))
            .await
            .with_context(|| format!("PUT /v1/units/{name}"))?;
        Ok(())
    }

    /// `POST /v1/units`: every name launched from its template, in one
    /// request (what `corral start` sends for several units).
    pub async fn launch_many(&self, names: &[String]) -> Result<()> {
        let body = UnitBatch {
            units: names
                .iter()
                .map(|n| UnitBatchItem {
                    name: n.clone(),
                    text: None,
                    desired: Some("launched".into()),
                })
                .collect(),
        };
        self.client
            .call::<_, Value>(Method::POST, "/v1/units", Some(&body))
            .await
            .with_context(|| format!("POST /v1/units ({} units)", names.len()))?;
        Ok(())
    }

    /// `DELETE /v1/units/{name}`.
    pub async fn destroy(&self, name: &str) -> Result<()> {
        self.client
            .call::<(), Value>(Method::DELETE, &format!("/v1/units/{name}"), None)
            .await
            .with_context(|| format!("DELETE /v1/units/{name}"))?;
        Ok(())
    }

    /// `GET /v1/units/{name}`.
    pub async fn get(&self, name: &str) -> Result<UnitRow> {
        self.client
            .get::<UnitRow>(&format!("/v1/units/{name}"))
            .await
            .with_context(|| format!("GET /v1/units/{name}"))
    }

    /// `GET /v1/units`.
    pub async fn list(&self) -> Result<UnitList> {
        self.client
            .get::<UnitList>("/v1/units")
            .await
            .context("GET /v1/units")
    }

    /// Instances of [`TEMPLATE`] the leader holds a machine's report of
    /// (`/fleet/v1/state`, every page).
    pub async fn reported(&self) -> Result<usize> {
        let mut n = 0;
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let path = match &token {
                None => "/fleet/v1/state".to_string(),
                Some(t) => format!("/fleet/v1/state?nextPageToken={t}"),
            };
            let page: UnitStatePage = self
                .client
                .get(&path)
                .await
                .with_context(|| format!("GET {path}"))?;
            n += page.states.iter().filter(|s| is_instance(&s.name)).count();
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => return Ok(n),
            }
        }
        bail!("/fleet/v1/state has more than {MAX_PAGES} pages")
    }

    /// Instances of [`TEMPLATE`] a machine lists itself
    /// (`GET http://{agent}/v1/agent/units`).
    pub async fn on_machine(&self, agent: &str) -> Result<usize> {
        let url = format!("http://{agent}/v1/agent/units");
        let units: Vec<UnitStatus> = self
            .client
            .http()
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()
            .with_context(|| format!("GET {url}"))?
            .json()
            .await
            .with_context(|| format!("GET {url}: not a list of units"))?;
        Ok(units.iter().filter(|u| is_instance(&u.name)).count())
    }
}

#[cfg(test)]
mod tests {
    use corral_api::unit_view::UnitStateRow;

    use super::*;

    /// A row: `name machine? [state-machine active/sub]...`.
    fn row(name: &str, machine: Option<&str>, states: &[(&str, &str, &str)]) -> UnitRow {
        UnitRow {
            name: name.into(),
            hash: "h".into(),
            desired: "launched".into(),
            current: "inactive".into(),
            global: false,
            machine: machine.map(str::to_string),
            machine_ip: None,
            why: machine.is_none().then(|| format!("no machine for {name}")),
            description: None,
            states: states
                .iter()
                .map(|(m, active, sub)| UnitStateRow {
                    machine: m.to_string(),
                    machine_ip: String::new(),
                    agent: String::new(),
                    hash: "h".into(),
                    load: "loaded".into(),
                    active: active.to_string(),
                    sub: sub.to_string(),
                    since_ms: 0,
                    main_pid: None,
                    result: None,
                    restarts: 0,
                })
                .collect(),
        }
    }

    fn check(rows: Vec<UnitRow>, want: &str) {
        let t = tally(&UnitList { units: rows });
        assert_eq!(t.describe(5), want);
    }

    #[test]
    fn tallies() {
        check(
            vec![],
            "0 of 5 listed, 0 placed, 0 active/running (0 reported, 0 failed)",
        );
        check(
            vec![
                // The template and other units do not count.
                row("bench@.service", None, &[]),
                row("web@1.service", Some("m1"), &[("m1", "active", "running")]),
                row("bench@1.service", Some("m1"), &[("m1", "active", "running")]),
                // Reported by another machine than its own: not active.
                row("bench@2.service", Some("m2"), &[("m1", "active", "running")]),
                row("bench@3.service", Some("m2"), &[("m2", "activating", "start")]),
                row("bench@4.service", Some("m3"), &[("m3", "failed", "failed")]),
                row("bench@5.service", None, &[]),
            ],
            "5 of 5 listed, 4 placed, 1 active/running (4 reported, 1 failed); unplaced because: no machine for bench@5.service",
        );
    }

    #[test]
    fn instances_of_the_template() {
        for (name, want) in [
            ("bench@1.service", true),
            ("bench@20000.service", true),
            ("bench@.service", false),
            ("benchmark.service", false),
            ("web@1.service", false),
        ] {
            assert_eq!(is_instance(name), want, "{name}");
        }
    }
}
