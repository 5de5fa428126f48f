//! `corral machines` (alias `list-machines`): fleetctl's `MACHINE IP
//! METADATA` columns plus SERVER (the Raft role), `--full`, `--json`.

use clap::Args;
use corral_api::native::MachineView;

use crate::output::{json, table};
use crate::{CliResult, Endpoint};

#[derive(Debug, Args)]
pub struct MachinesArgs {
    /// Print full machine ids.
    #[arg(long)]
    pub full: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

/// The table `corral machines` prints.
pub fn render(machines: &[MachineView], full: bool) -> String {
    let rows: Vec<Vec<String>> = machines
        .iter()
        .map(|m| {
            let id = if full {
                m.id.clone()
            } else {
                format!("{}...", &m.id[..8.min(m.id.len())])
            };
            let meta: Vec<String> = m.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let meta = if meta.is_empty() {
                "-".to_string()
            } else {
                meta.join(",")
            };
            let role = match (m.server_id, m.leader) {
                (Some(_), true) => "leader".to_string(),
                (Some(_), false) => "yes".to_string(),
                (None, _) => "-".to_string(),
            };
            let mut status = m.status.clone();
            if let Some(r) = &m.unreachable_reason {
                status = format!("{status}: {r}");
            }
            vec![id, m.ip.clone(), meta, role, status]
        })
        .collect();
    table(&["MACHINE", "IP", "METADATA", "SERVER", "STATUS"], &rows)
}

pub fn run(args: MachinesArgs) -> CliResult {
    let client = crate::client(&args.endpoint)?;
    let cluster = crate::block_on(client.cluster())?;
    if args.json {
        println!("{}", json(&cluster.machines));
    } else {
        print!("{}", render(&cluster.machines, args.full));
    }
    Ok(())
}
