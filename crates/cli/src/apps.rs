//! `corral app add|list|show|status|scale|restart|update|remove` and
//! `corral deployments`: long-running apps through the Marathon-compatible
//! app API (:8080 of any server; followers proxy to the leader). The CLI is
//! that API's first client: it sends what Marathon's clients send and reads
//! the answers with `corral_api::marathon`'s types.
//!
//! - [`endpoint`]: where the app API is (the one place that decides it).
//! - [`api`]: the requests, and what error answers mean (exit codes).
//! - [`render`]: tables and `app status`'s lines (pure).
//!
//! Invariants: HTTP only; every command has `--json`; exit 2 for the
//! user's input (an unreadable or invalid definition, a bad or unknown app
//! id, an id that exists), 1 for anything else — including an app locked
//! by a deployment, which names the deployments and the `--force` hint.

pub mod api;
pub mod endpoint;
pub mod render;

use std::io::Read;

use clap::{Args, Subcommand};
use corral_api::client::Method;
use corral_api::marathon::app_view::AppView;
use corral_api::marathon::deployment::{DeploymentResult, DeploymentView};
use corral_api::marathon::queue::QueueItem;
use corral_core::app::AppId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::api::{app_path, Apps, Subject};
use self::render::AppStatus;
use crate::output::json;
use crate::{CliError, CliResult, Endpoint};

/// Where the app API is: `--apps-endpoint`, else derived from `--endpoint`
/// (see [`endpoint`]).
#[derive(Debug, Clone, Args)]
pub struct AppsEndpoint {
    #[command(flatten)]
    pub master: Endpoint,
    /// App API (Marathon) to talk to, `host:port` (comma-separated for
    /// several). Default: derived from --endpoint (port + 3030), else the
    /// local cluster's `[ports] apps`.
    #[arg(long, env = "CORRAL_APPS_ENDPOINT", global = true)]
    pub apps_endpoint: Option<String>,
}

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
    /// Print the answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: AppsEndpoint,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app from a Marathon app definition (FILE, or `-` for stdin).
    Add {
        /// The definition (`{"id": "/web", "cmd": "...", "instances": 2}`).
        file: String,
    },
    /// List the apps (ID INSTANCES RUNNING HEALTHY CPUS MEM DEPLOYMENTS CMD).
    #[command(alias = "ls")]
    List,
    /// Show an app and its tasks.
    Show {
        /// The app's id (`/shop/web`; `web` means `/web`).
        id: String,
    },
    /// Say how an app is doing: running/wanted, its deployment, and why
    /// instances wait for a place.
    Status {
        /// The app's id (`/shop/web`; `web` means `/web`).
        id: String,
    },
    /// Run N instances of an app.
    Scale {
        /// The app's id (`/shop/web`; `web` means `/web`).
        id: String,
        /// How many instances to run.
        instances: u32,
        /// Override the deployment that is changing the app.
        #[arg(long)]
        force: bool,
    },
    /// Replace every instance of an app.
    Restart {
        /// The app's id (`/shop/web`; `web` means `/web`).
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// Change an app with the fields in FILE (or `-` for stdin).
    Update {
        /// The app's id (`/shop/web`; `web` means `/web`).
        id: String,
        /// The fields to change (any others keep their values).
        file: String,
        #[arg(long)]
        force: bool,
    },
    /// Stop every instance of an app and delete it.
    #[command(alias = "rm")]
    Remove {
        /// The app's id (`/shop/web`; `web` means `/web`).
        id: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct DeploymentsArgs {
    /// Print the deployments as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: AppsEndpoint,
}

/// What a change prints with `--json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changed {
    pub id: String,
    pub deployment_id: String,
    pub version: String,
}

#[derive(Deserialize)]
struct AppList {
    apps: Vec<Value>,
}

#[derive(Deserialize)]
struct OneApp {
    app: Value,
}

#[derive(Deserialize)]
struct Queue {
    queue: Vec<QueueItem>,
}

/// The app API client for the endpoints the user chose.
fn connect(e: &AppsEndpoint) -> CliResult<Apps> {
    let local = if e.apps_endpoint.is_none() {
        endpoint::local_servers()
    } else {
        Vec::new()
    };
    let endpoints = endpoint::app_endpoints(&endpoint::Sources {
        apps: e.apps_endpoint.as_deref(),
        master: e.master.endpoint.as_deref(),
        local: &local,
    })
    .map_err(CliError::Usage)?;
    // Ride out an election or a restarting server rather than fail at once.
    let client = corral_api::Client::new(endpoints).retrying(std::time::Duration::from_secs(3));
    Ok(Apps { client })
}

fn parse_id(raw: &str) -> CliResult<AppId> {
    AppId::parse(raw).map_err(|e| CliError::usage(format!("bad app id {raw:?}: {e}")))
}

/// An app definition from `file` (`-`: standard input): a JSON object.
fn read_definition(file: &str) -> CliResult<Value> {
    let text = if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("reading the app from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| CliError::usage(format!("{file}: {e}")))?
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("{file}: not JSON: {e}")))?;
    if !v.is_object() {
        return Err(CliError::usage(format!(
            "{file}: an app definition is a JSON object ({{\"id\": ..., \"cmd\": ...}})"
        )));
    }
    Ok(v)
}

fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> CliResult<T> {
    serde_json::from_value(v)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("unexpected {what} from the app API: {e}")))
}

fn force_query(force: bool) -> &'static str {
    if force {
        "?force=true"
    } else {
        ""
    }
}

pub fn run_app(args: AppArgs) -> CliResult {
    let apps = connect(&args.endpoint)?;
    crate::block_on(app(&apps, args.command, args.json))
}

pub fn run_deployments(args: DeploymentsArgs) -> CliResult {
    let apps = connect(&args.endpoint)?;
    crate::block_on(async {
        let raw: Value = apps.get("/v2/deployments", Subject::none()).await?;
        if args.json {
            println!("{}", json(&raw));
        } else {
            let ds: Vec<DeploymentView> = decode(raw, "deployment list")?;
            print!("{}", render::deployments_table(&ds));
        }
        Ok(())
    })
}

async fn app(apps: &Apps, cmd: AppCommand, as_json: bool) -> CliResult {
    let changed = match cmd {
        AppCommand::Add { file } => {
            let body = read_definition(&file)?;
            let (app, deployment) = apps.create(&body, Subject::file(&file)).await?;
            let id = app["id"].as_str().unwrap_or_default().to_string();
            let version = app["version"].as_str().unwrap_or_default().to_string();
            (
                "added",
                Changed {
                    id,
                    deployment_id: deployment,
                    version,
                },
            )
        }
        AppCommand::List => {
            let list: AppList = apps.get("/v2/apps", Subject::none()).await?;
            if as_json {
                println!("{}", json(&list.apps));
            } else {
                let views: Vec<AppView> = decode(Value::Array(list.apps), "app list")?;
                print!("{}", render::apps_table(&views));
            }
            return Ok(());
        }
        AppCommand::Show { id } => {
            let id = parse_id(&id)?;
            let path = format!("{}?embed=app.waiting", app_path(&id));
            let one: OneApp = apps.get(&path, Subject::app(&id)).await?;
            if as_json {
                println!("{}", json(&one.app));
            } else {
                let view: AppView = decode(one.app, "app")?;
                print!("{}", render::app_detail(&view));
            }
            return Ok(());
        }
        AppCommand::Status { id } => {
            let id = parse_id(&id)?;
            let one: OneApp = apps.get(&app_path(&id), Subject::app(&id)).await?;
            let view: AppView = decode(one.app, "app")?;
            let ds: Vec<DeploymentView> = apps.get("/v2/deployments", Subject::none()).await?;
            let queue: Queue = apps.get("/v2/queue", Subject::none()).await?;
            let status = AppStatus::of(view, ds, queue.queue);
            if as_json {
                println!("{}", json(&status));
            } else {
                for l in status.lines() {
                    println!("{l}");
                }
            }
            return Ok(());
        }
        AppCommand::Scale {
            id,
            instances,
            force,
        } => {
            let id = parse_id(&id)?;
            let path = format!("{}{}", app_path(&id), force_query(force));
            let body = serde_json::json!({ "instances": instances });
            let r = apps
                .change(Method::PUT, &path, Some(&body), Subject::app(&id))
                .await?;
            ("scaling", changed(&id, r))
        }
        AppCommand::Restart { id, force } => {
            let id = parse_id(&id)?;
            let path = format!("{}/restart{}", app_path(&id), force_query(force));
            let r = apps
                .change::<()>(Method::POST, &path, None, Subject::app(&id))
                .await?;
            ("restarting", changed(&id, r))
        }
        AppCommand::Update { id, file, force } => {
            let id = parse_id(&id)?;
            let body = read_definition(&file)?;
            let path = format!("{}{}", app_path(&id), force_query(force));
            let r = apps
                .change(
                    Method::PUT,
                    &path,
                    Some(&body),
                    Subject::app(&id).with_file(&file),
                )
                .await?;
            ("updating", changed(&id, r))
        }
        AppCommand::Remove { id, force } => {
            let id = parse_id(&id)?;
            let path = format!("{}{}", app_path(&id), force_query(force));
            let r = apps
                .change::<()>(Method::DELETE, &path, None, Subject::app(&id))
                .await?;
            ("removing", changed(&id, r))
        }
    };
    let (verb, c) = changed;
    if as_json {
        println!("{}", json(&c));
    } else {
        println!("{verb} {}: deployment {}", c.id, c.deployment_id);
    }
    Ok(())
}

fn changed(id: &AppId, r: DeploymentResult) -> Changed {
    Changed {
        id: id.0.clone(),
        deployment_id: r.deployment_id,
        version: r.version,
    }
}
