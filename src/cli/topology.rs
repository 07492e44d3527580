//! `chatpulse topology check FILE`: validates a topology file, reports every problem at once, and
//! prints its graph (sources, processors with windows and stores, sinks, changelog and DLQ topics).
//! `chatpulse topology kinds [KIND]`: the processor kinds with their options, defaults and docs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::processor::registry;
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
    /// List the processor kinds: what each computes, whether it takes a window, and each of its
    /// options (set in a processor's `options = { ... }`) with its type, default and doc.
    Kinds {
        /// Only this kind (`spikes`, `ad_slots`, ...).
        kind: Option<String>,
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
        Command::Kinds { kind: None } => {
            let all: Vec<String> = registry::KINDS.iter().map(|k| k.describe()).collect();
            println!("{}", all.join("\n\n"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Kinds { kind: Some(name) } => match registry::find(&name) {
            Some(k) => {
                println!("{}", k.describe());
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!(
                    "no processor kind is named {name:?}: use one of {}",
                    registry::names().join(", ")
                );
                Ok(ExitCode::from(2))
            }
        },
    }
}
