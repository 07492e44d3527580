//! The command line: one subcommand per file, each an `Args` struct (clap) with a `run()`. Errors
//! become `anyhow` here, at the binary's edge, and are printed with their causes.

mod archive;
mod archive_input;
mod bench;
mod bench_archive;
mod bench_latency;
mod bench_produce;
pub mod config;
mod dashboard;
mod demo;
mod highlights;
mod ingest;
mod input;
pub mod kafka_args;
mod monitor;
mod notify;
mod parse;
mod process;
mod replay;
mod run;
pub mod serve_args;
pub mod shutdown;
mod summary;
mod tail;
mod topology;
mod webhook_args;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// chatpulse: live Twitch chat analytics on Kafka.
#[derive(Debug, Parser)]
#[command(name = "chatpulse", version, about, long_about = None)]
pub struct Cli {
    /// Log filter, in `RUST_LOG` syntax (for example `info` or `chatpulse=debug`).
    #[arg(long, global = true, env = "CHATPULSE_LOG", default_value = "info")]
    pub log: String,

    /// A TOML config file. Its top-level keys are flags of any command (`brokers`, `state_dir`...),
    /// a `[run]` table holds flags of `run` only, and `[kafka]` holds librdkafka properties.
    /// Precedence: flag > `CHATPULSE_*` environment variable > config file > default.
    #[arg(long, global = true, env = "CHATPULSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read live Twitch chat over IRC and produce every chat line to Kafka (twitch.chat.raw).
    Ingest(ingest::Args),
    /// Poll Twitch Helix for stream state (viewers, game, title, followers) into twitch.streams.
    Monitor(monitor::Args),
    /// Parse chat logs (raw IRC, logged IRC, OverRustle, VOD JSON, CSV, JSONL) into JSON events.
    Parse(parse::Args),
    /// Run a topology offline over recorded logs, writing JSON lines per sink topic.
    Process(process::Args),
    /// Run a topology on Kafka as one instance of its consumer group.
    Run(run::Args),
    /// Produce recorded chat logs (or stream snapshot logs, `--format snapshots`) to Kafka with their
    /// original times (real time, faster, or at once).
    Replay(replay::Args),
    /// Print a topic's records as JSON lines, decoding Avro through the schema registry.
    Tail(tail::Args),
    /// Export a daily summary per channel and UTC day (CSV, JSON, a Slack or Discord message).
    Summary(summary::Args),
    /// Post the alerts of twitch.alerts to Slack, Discord or a signed JSON webhook, at least once.
    Notify(notify::Args),
    /// Benchmark tools: load a topic, a passthrough baseline, wait for a group to catch up, derived
    /// stream snapshots.
    Bench(bench::Args),
    /// Write a raw-chat topic to Parquet files on a local directory or S3, exactly once, as a
    /// member of its own consumer group.
    Archive(archive::Args),
    /// Serve a live web page of the result topics (channels, spikes, subs, ad breaks, heatmap,
    /// leaderboards, alerts), updated through Server-Sent Events.
    Dashboard(dashboard::Args),
    /// Inspect topology files.
    Topology(topology::Args),
    /// Score highlight predictions against labelled moments (`highlights score`).
    Highlights(highlights::Args),
    /// Run the whole pipeline on bundled real chat with nothing installed (embedded broker and
    /// registry) and write an HTML report.
    Demo(demo::Args),
}

/// Runs the command line and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    if let Some(path) = config::config_path(&argv) {
        command = match config::apply_file(command, &path) {
            Ok(c) => c,
            Err(err) => {
                eprintln!("error: {err:#}");
                return ExitCode::from(2);
            }
        };
    }
    let matches = command.get_matches_from(argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing(&cli.log);
    let result = match cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Parse(args) => parse::run(args),
        Command::Process(args) => process::run(args),
        Command::Run(args) => run::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Notify(args) => notify::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Topology(args) => topology::run(args),
        Command::Highlights(args) => highlights::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Archive(args) => archive::run(args),
        Command::Demo(args) => demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs redirected to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets given by config file and by flag, one distinct value each.
    const FILE_SECRETS: &str = r#"
client_secret = "file-client-secret-q1"
user_token = "file-user-token-q2"
oauth_token = "file-oauth-token-q3"
kafka_options = ["sasl.password=file-sasl-password-q4"]
"#;

    fn parsed(argv: &[&str]) -> Cli {
        let table: toml::Table = FILE_SECRETS.parse().unwrap();
        let command = config::apply_table(Cli::command(), &table).unwrap();
        let matches = command.try_get_matches_from(argv).unwrap();
        Cli::from_arg_matches(&matches).unwrap()
    }

    fn assert_hidden(text: &str, secrets: &[&str]) {
        for s in secrets {
            assert!(!text.contains(s), "{s:?} shows in {text}");
        }
    }

    #[test]
    fn debug_output_hides_secrets_from_the_config_file_and_flags() {
        let base = ["chatpulse", "monitor", "--channel", "x", "--brokers", "b"];
        let from_file = parsed(&[&base[..], &["--client-id", "id", "--json"]].concat());
        let text = format!("{from_file:?}");
        assert!(text.contains("Monitor"), "{text}");
        assert_hidden(
            &text,
            &[
                "file-client-secret-q1",
                "file-user-token-q2",
                "file-sasl-password-q4",
            ],
        );
        let from_flags = parsed(
            &[
                &base[..],
                &[
                    "--client-id",
                    "id",
                    "--json",
                    "--client-secret",
                    "flag-client-secret-q5",
                    "--user-token",
                    "flag-user-token-q6",
                    "-X",
                    "sasl.password=flag-sasl-password-q7",
                ],
            ]
            .concat(),
        );
        assert_hidden(
            &format!("{from_flags:?}"),
            &[
                "flag-client-secret-q5",
                "flag-user-token-q6",
                "flag-sasl-password-q7",
            ],
        );
        let ingest = parsed(&["chatpulse", "ingest", "--channel", "x", "--brokers", "b"]);
        assert_hidden(&format!("{ingest:?}"), &["file-oauth-token-q3"]);
        let ingest = parsed(&[
            "chatpulse",
            "ingest",
            "--channel",
            "x",
            "--brokers",
            "b",
            "--oauth-token",
            "flag-oauth-token-q8",
        ]);
        assert_hidden(&format!("{ingest:?}"), &["flag-oauth-token-q8"]);
    }
}
