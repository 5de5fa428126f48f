//! `corral kv set|get|ls|rm|watch` — the etcdctl role. Keys are validated
//! here too, so a bad key fails before any request (exit 2).

use clap::{Args, Subcommand};
use corral_api::client::Method;
use corral_api::native::{KvList, KvNode, KvPutBody, KvWriteResult, WatchEvent};
use corral_core::kv::{validate_key, validate_prefix, validate_value};
use futures_util::StreamExt;

use crate::output::{json, table};
use crate::{CliError, CliResult, Endpoint};

#[derive(Debug, Args)]
pub struct KvArgs {
    #[command(subcommand)]
    pub command: KvCommand,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Subcommand)]
pub enum KvCommand {
    /// Set KEY to VALUE (optionally expiring after --ttl seconds). Without
    /// VALUE, or with `-`, the value is read from standard input.
    Set {
        key: String,
        value: Option<String>,
        /// Seconds until the key expires.
        #[arg(long)]
        ttl: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Print KEY's value.
    Get {
        key: String,
        /// Read this server's copy instead of a linearizable read on the leader.
        #[arg(long)]
        stale: bool,
        #[arg(long)]
        json: bool,
    },
    /// List keys under PREFIX (all keys by default).
    Ls {
        #[arg(default_value = "/")]
        prefix: String,
        #[arg(long)]
        stale: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove KEY.
    Rm {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Print changes under PREFIX as they happen, one per line (Ctrl-C stops).
    Watch {
        #[arg(default_value = "/")]
        prefix: String,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

fn check_key(key: &str) -> CliResult {
    validate_key(key).map_err(|e| CliError::usage(format!("bad key: {e}")))
}

/// The URL path of a key (`/` kept, everything else percent-encoded).
fn key_path(key: &str) -> String {
    format!("/v1/kv{}", crate::url_encode(key))
}

/// Reads a value from standard input (at most one byte over the limit, so
/// an oversized value is reported without reading it all).
fn read_stdin_value() -> CliResult<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::io::stdin()
        .take(corral_core::kv::MAX_VALUE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("reading the value from stdin: {e}")))?;
    String::from_utf8(buf)
        .map_err(|_| CliError::usage("bad value: standard input is not UTF-8 text"))
}

pub fn run(args: KvArgs) -> CliResult {
    let client = crate::client(&args.endpoint)?;
    match args.command {
        KvCommand::Set {
            key,
            value,
            ttl,
            json: as_json,
        } => {
            check_key(&key)?;
            let value = match value.as_deref() {
                None | Some("-") => read_stdin_value()?,
                Some(v) => v.to_string(),
            };
            validate_value(&value).map_err(|e| CliError::usage(format!("bad value: {e}")))?;
            if ttl == Some(0) {
                return Err(CliError::usage("--ttl must be at least 1 second"));
            }
            let body = KvPutBody {
                value: value.clone(),
                ttl,
            };
            let r: KvWriteResult =
                crate::block_on(client.call(Method::PUT, &key_path(&key), Some(&body)))?;
            if as_json {
                println!("{}", json(&r));
            } else {
                println!("{value}");
            }
        }
        KvCommand::Get {
            key,
            stale,
            json: as_json,
        } => {
            check_key(&key)?;
            let path = format!(
                "{}{}",
                key_path(&key),
                if stale { "?stale=true" } else { "" }
            );
            let n: KvNode = crate::block_on(client.get(&path))?;
            if as_json {
                println!("{}", json(&n));
            } else {
                println!("{}", n.value);
            }
        }
        KvCommand::Ls {
            prefix,
            stale,
            json: as_json,
        } => {
            validate_prefix(&prefix).map_err(|e| CliError::usage(format!("bad prefix: {e}")))?;
            let path = format!(
                "/v1/kv?prefix={}{}",
                crate::url_encode(&prefix),
                if stale { "&stale=true" } else { "" }
            );
            let l: KvList = crate::block_on(client.get(&path))?;
            if as_json {
                println!("{}", json(&l));
            } else {
                let rows: Vec<Vec<String>> = l
                    .nodes
                    .iter()
                    .map(|n| {
                        vec![
                            n.key.clone(),
                            n.value.replace('\n', "\\n"),
                            n.mod_revision.to_string(),
                            n.expires_at_ms
                                .map(|_| "yes".to_string())
                                .unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                print!("{}", table(&["KEY", "VALUE", "REVISION", "TTL"], &rows));
            }
        }
        KvCommand::Rm { key, json: as_json } => {
            check_key(&key)?;
            let r: KvWriteResult =
                crate::block_on(client.call::<(), _>(Method::DELETE, &key_path(&key), None))?;
            if as_json {
                println!("{}", json(&r));
            }
        }
        KvCommand::Watch {
            prefix,
            count,
            json: as_json,
        } => {
            validate_prefix(&prefix).map_err(|e| CliError::usage(format!("bad prefix: {e}")))?;
            crate::block_on(watch(&client, &prefix, count, as_json))?;
        }
    }
    Ok(())
}

async fn watch(
    client: &corral_api::Client,
    prefix: &str,
    count: Option<u64>,
    as_json: bool,
) -> CliResult {
    let path = format!("/v1/watch?prefix={}", crate::url_encode(prefix));
    // A watch stays open for as long as the user wants it.
    let resp = client
        .streaming()
        .send::<()>(Method::GET, &path, None)
        .await?;
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut seen = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| CliError::Failed(anyhow::anyhow!("watch stream broke: {e}")))?;
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let Ok(ev) = serde_json::from_slice::<WatchEvent>(&line) else {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "watch ended: {}",
                    String::from_utf8_lossy(&line).trim()
                )));
            };
            if as_json {
                println!("{}", serde_json::to_string(&ev).unwrap_or_default());
            } else {
                match &ev.value {
                    Some(v) => println!("[{}] {} {} = {}", ev.revision, ev.action, ev.key, v),
                    None => println!("[{}] {} {}", ev.revision, ev.action, ev.key),
                }
            }
            seen += 1;
            if count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
    }
    Err(CliError::Failed(anyhow::anyhow!(
        "the server closed the watch"
    )))
}
