//! `corral logs MACHINE [-n N] [--follow]`: a local machine's node log, the
//! way `journalctl -u` or `docker logs` show it. Works while the cluster is
//! down too: the logs stay in the data directory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::Config;
use crate::up::log_tail;
use crate::{default_config_path, CliError, CliResult};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Machine name as `corral status` shows it (m1, m2, ...).
    pub machine: String,
    /// How many lines from the end to print first.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// Keep printing lines as they are written (Ctrl-C stops).
    #[arg(short, long)]
    pub follow: bool,
    /// The cluster's config file (it says where the data directory is).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

pub fn run(args: LogsArgs) -> CliResult {
    let config_path = args.config.clone().unwrap_or_else(default_config_path);
    let config = Config::load(&config_path).map_err(|e| CliError::usage(e.to_string()))?;
    let path = config.data_dir.join(&args.machine).join("node.log");
    let valid_name = !args.machine.is_empty()
        && args
            .machine
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid_name || !path.is_file() {
        let known: Vec<String> = std::fs::read_dir(&config.data_dir)
            .map(|d| {
                let mut v: Vec<String> = d
                    .flatten()
                    .filter(|e| e.path().join("node.log").is_file())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        return Err(CliError::usage(format!(
            "no log for machine {:?} in {}; machines with logs: {}",
            args.machine,
            config.data_dir.display(),
            if known.is_empty() {
                "none (start a cluster with `corral up`)".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    for line in log_tail(&path, 0, args.lines) {
        println!("{line}");
    }
    if !args.follow {
        return Ok(());
    }
    let fail = |e: std::io::Error| CliError::Failed(anyhow::anyhow!("{}: {e}", path.display()));
    let mut f = std::fs::File::open(&path).map_err(fail)?;
    let mut offset = f.seek(SeekFrom::End(0)).map_err(fail)?;
    let mut out = std::io::stdout();
    crate::block_on(async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let len = f.metadata().map_err(fail)?.len();
            if len < offset {
                // Truncated or replaced: start over from its beginning.
                offset = 0;
            }
            if len > offset {
                f.seek(SeekFrom::Start(offset)).map_err(fail)?;
                let mut buf = Vec::new();
                f.read_to_end(&mut buf).map_err(fail)?;
                offset += buf.len() as u64;
                out.write_all(&buf)
                    .and_then(|_| out.flush())
                    .map_err(fail)?;
            }
        }
    })
}
