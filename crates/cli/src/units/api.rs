//! The unit commands' HTTP calls: the master's unit API (`/v1/units`,
//! leader-only; [`Client`] follows the followers' 307s) and a machine's
//! agent for a unit's journal (`/v1/agent/units/{name}/journal`).
//!
//! Invariants: no decisions here, only requests and what their answers
//! mean: a 404 naming the unit is "no such unit" (`Ok(None)`), any other
//! 404 is a server without the unit API; 4xx errors keep the server's
//! message (exit 2, see `From<ClientError> for CliError`).

use std::io::Write;

use corral_api::client::Method;
use corral_api::unit_view::{UnitBatch, UnitBatchResult, UnitFileText, UnitList, UnitPut, UnitRow};
use corral_api::{Client, ClientError};

use crate::{CliError, CliResult};

fn unit_path(name: &str) -> String {
    format!("/v1/units/{}", crate::url_encode(name))
}

fn failed(msg: String) -> CliError {
    CliError::Failed(anyhow::anyhow!(msg))
}

/// `Ok(None)` for a 404 saying the unit does not exist; a server that
/// has no unit API at all gets its own message.
fn maybe<T>(r: Result<T, ClientError>, path: &str) -> CliResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::Rejected {
            status: 404, code, ..
        }) if code == "unit_not_found" => Ok(None),
        Err(e) => Err(explain(e, path)),
    }
}

/// A client error as the CLI reports it.
fn explain(e: ClientError, path: &str) -> CliError {
    match e {
        ClientError::Rejected {
            status: status @ (404 | 405),
            ref code,
            ..
        } if code != "unit_not_found" => failed(format!(
            "the server has no unit API ({path} answered HTTP {status}); is it an older corral?"
        )),
        other => other.into(),
    }
}

/// `GET /v1/units`: every unit, by name.
pub async fn list(c: &Client) -> CliResult<Vec<UnitRow>> {
    let r: Result<UnitList, _> = c.get("/v1/units").await;
    r.map(|l| l.units).map_err(|e| explain(e, "/v1/units"))
}

/// `GET /v1/units/{name}`; `None` when there is no such unit.
pub async fn get(c: &Client, name: &str) -> CliResult<Option<UnitRow>> {
    let path = unit_path(name);
    maybe(c.get(&path).await, &path)
}

/// `GET /v1/units/{name}/file`; `None` when there is no such unit.
pub async fn file(c: &Client, name: &str) -> CliResult<Option<UnitFileText>> {
    let path = format!("{}/file", unit_path(name));
    maybe(c.get(&path).await, &path)
}

/// `PUT /v1/units/{name}`: submit or replace the file and/or set the
/// desired state. A bad file is the server's 400 naming the line (exit 2).
pub async fn put(c: &Client, name: &str, body: &UnitPut) -> CliResult<UnitRow> {
    let path = unit_path(name);
    c.call(Method::PUT, &path, Some(body))
        .await
        .map_err(|e| explain(e, &path))
}

/// `POST /v1/units`: several changes in one request (each as [`put`]
/// would make it, in order; nothing is written unless all are valid).
pub async fn put_many(c: &Client, body: &UnitBatch) -> CliResult<UnitBatchResult> {
    c.call(Method::POST, "/v1/units", Some(body))
        .await
        .map_err(|e| explain(e, "/v1/units"))
}

/// `DELETE /v1/units/{name}`; `false` when there was no such unit.
pub async fn destroy(c: &Client, name: &str) -> CliResult<bool> {
    let path = unit_path(name);
    let r = c.send::<()>(Method::DELETE, &path, None).await.map(|_| ());
    Ok(maybe(r, &path)?.is_some())
}

/// The agent's journal URL of `name` (`agent` is its `ip:port`).
pub fn journal_url(agent: &str, name: &str, lines: u32, follow: bool) -> String {
    format!(
        "http://{agent}/v1/agent/units/{}/journal?lines={lines}{}",
        crate::url_encode(name),
        if follow { "&follow=true" } else { "" }
    )
}

/// The last `lines` lines of `name`'s journal on the agent at `agent`;
/// the error says why not, in a few words.
pub async fn journal(c: &Client, agent: &str, name: &str, lines: u32) -> Result<String, String> {
    let url = journal_url(agent, name, lines, false);
    let resp = c
        .http()
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("agent {agent}: {e}"))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("agent {agent}: {e}"))?;
    if !status.is_success() {
        return Err(format!("agent {agent} answered {status}: {}", text.trim()));
    }
    Ok(text)
}

/// Prints `name`'s journal on the agent at `agent` as it grows: the last
/// `lines` lines, then every new one, until the agent ends the stream
/// (Ctrl-C stops it).
pub async fn follow_journal(c: &Client, agent: &str, name: &str, lines: u32) -> CliResult {
    let url = journal_url(agent, name, lines, true);
    let streaming = c.streaming();
    let mut resp = streaming
        .http()
        .get(&url)
        .send()
        .await
        .map_err(|e| failed(format!("agent {agent}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(failed(format!(
            "agent {agent} answered {status}: {}",
            text.trim()
        )));
    }
    let mut out = std::io::stdout();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| failed(format!("agent {agent}: the journal stream broke: {e}")))?
    {
        if out.write_all(&chunk).and_then(|()| out.flush()).is_err() {
            // The reader went away (a closed pipe): nothing more to do.
            return Ok(());
        }
    }
    Ok(())
}
