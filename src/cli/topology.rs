//! `chatpulse topology check FILE`: validates a topology file, reports every problem at once, and
//! prints its graph (sources, processors with windows and stores, sinks, changelog and DLQ topics).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::topology::Topology;

/// Arguments of `chatpulse topology`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Validate a topology file and print its graph.
    Check {
        /// The topology file (`topologies/*.toml`).
        file: PathBuf,
    },
}

/// Runs `chatpulse topology`.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Check { file } => match Topology::load(&file) {
            Ok(t) => {
                println!("{}", t.describe());
                println!("ok: {} is valid", file.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                Ok(ExitCode::from(2))
            }
        },
    }
}
