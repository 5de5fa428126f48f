//! `corral tasks` (every task the cluster knows, from `/master/state`) and
//! `corral task log TASK_ID` (its stdout or stderr, fetched from the agent
//! that runs it through `/files/read`).

use std::time::Duration;

use clap::{Args, Subcommand};
use corral_api::native::{AgentTaskView, ClusterView};
use serde::Serialize;
use serde_json::Value;

use crate::output::{json, table};
use crate::{CliError, CliResult, Endpoint};

#[derive(Debug, Args)]
pub struct TasksArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub command: TaskCommand,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Print a task's stdout (or --stderr) from its sandbox.
    Log {
        task_id: String,
        #[arg(long)]
        stderr: bool,
        /// Keep printing what it writes (Ctrl-C stops).
        #[arg(short, long)]
        follow: bool,
    },
}

/// One row of `corral tasks`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub state: String,
    pub framework_id: String,
    pub framework: String,
    pub agent_id: String,
}

/// Every task in a `/master/state` document, live ones first.
pub fn rows(state: &Value) -> Vec<TaskRow> {
    let mut out = Vec::new();
    for key in ["frameworks", "completed_frameworks"] {
        for f in state[key].as_array().into_iter().flatten() {
            for tkey in ["tasks", "completed_tasks"] {
                for t in f[tkey].as_array().into_iter().flatten() {
                    out.push(TaskRow {
                        id: t["id"].as_str().unwrap_or_default().to_string(),
                        state: t["state"].as_str().unwrap_or_default().to_string(),
                        framework_id: f["id"].as_str().unwrap_or_default().to_string(),
                        framework: f["name"].as_str().unwrap_or_default().to_string(),
                        agent_id: t["slave_id"].as_str().unwrap_or_default().to_string(),
                    });
                }
            }
        }
    }
    out
}

pub fn run_tasks(args: TasksArgs) -> CliResult {
    let client = crate::client(&args.endpoint)?;
    let state: Value = crate::block_on(client.get("/master/state"))?;
    let rows = rows(&state);
    if args.json {
        println!("{}", json(&rows));
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.id.clone(),
                    r.state.clone(),
                    r.framework.clone(),
                    format!("{}...", &r.agent_id[..8.min(r.agent_id.len())]),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["TASK", "STATE", "FRAMEWORK", "MACHINE"], &cells)
        );
    }
    Ok(())
}

pub fn run_task(args: TaskArgs) -> CliResult {
    let client = crate::client(&args.endpoint)?;
    match args.command {
        TaskCommand::Log {
            task_id,
            stderr,
            follow,
        } => crate::block_on(log(&client, &task_id, stderr, follow)),
    }
}

async fn log(client: &corral_api::Client, task_id: &str, stderr: bool, follow: bool) -> CliResult {
    let fail = |m: String| CliError::Failed(anyhow::anyhow!(m));
    let state: Value = client.get("/master/state").await?;
    let row = rows(&state)
        .into_iter()
        .find(|r| r.id == task_id)
        .ok_or_else(|| {
            CliError::usage(format!(
                "no task {task_id:?} in the cluster; `corral tasks` lists them"
            ))
        })?;
    let cluster: ClusterView = client.cluster().await?;
    let machine = cluster
        .machines
        .iter()
        .find(|m| m.id == row.agent_id)
        .ok_or_else(|| {
            fail(format!(
                "task {task_id} ran on machine {}, which left the cluster",
                row.agent_id
            ))
        })?;
    let agent = format!("http://{}:{}", machine.ip, machine.agent_port);
    let http = client.http();
    let tasks: Vec<AgentTaskView> = http
        .get(format!("{agent}/v1/agent/tasks"))
        .send()
        .await
        .map_err(|e| fail(format!("agent {agent}: {e}")))?
        .json()
        .await
        .map_err(|e| fail(format!("agent {agent}: {e}")))?;
    let sandbox = tasks
        .into_iter()
        .find(|t| t.id == task_id)
        .and_then(|t| t.sandbox)
        .ok_or_else(|| {
            fail(format!(
                "machine {} has no sandbox for task {task_id}",
                machine.hostname
            ))
        })?;
    let path = format!("{sandbox}/{}", if stderr { "stderr" } else { "stdout" });
    let mut offset = 0u64;
    loop {
        let r: Value = http
            .get(format!(
                "{agent}/files/read?path={}&offset={offset}",
                crate::url_encode(&path)
            ))
            .send()
            .await
            .map_err(|e| fail(format!("agent {agent}: {e}")))?
            .json()
            .await
            .map_err(|e| fail(format!("agent {agent}: {e}")))?;
        let data = r["data"].as_str().unwrap_or_default();
        print!("{data}");
        offset += data.len() as u64;
        if !follow {
            return Ok(());
        }
        if data.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
