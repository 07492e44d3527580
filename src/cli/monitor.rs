//! `chatpulse monitor`: polls the Twitch Helix API for the channels' stream state and produces a
//! snapshot per channel and poll to `twitch.streams`, until SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;

use super::kafka_args::KafkaArgs;
use super::serve_args::ServeArgs;
use super::shutdown::on_signal;
use crate::http::Stateless;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::twitch::helix::client::HelixClient;
use crate::twitch::helix::monitor::{run_monitor, MonitorOptions};
use crate::twitch::helix::snapshot_sink::{SinkOptions, DEFAULT_STREAMS_TOPIC};
use crate::twitch::helix::{Credentials, TWITCH_AUTH_URL, TWITCH_HELIX_URL};
use crate::twitch::irc::channels::normalize;

/// Arguments of `chatpulse monitor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A channel to watch (repeatable), with or without `#`.
    #[arg(long = "channel", value_name = "NAME", required = true)]
    channels: Vec<String>,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The topic snapshots go to.
    #[arg(long, default_value = DEFAULT_STREAMS_TOPIC)]
    topic: String,
    /// Partitions of the topic when monitor creates it.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Seconds between polls.
    #[arg(long, default_value_t = 60.0)]
    interval_s: f64,
    /// The Helix API base URL.
    #[arg(long, default_value = TWITCH_HELIX_URL)]
    helix_url: String,
    /// The Twitch OAuth base URL (token and validate endpoints).
    #[arg(long, default_value = TWITCH_AUTH_URL)]
    auth_url: String,
    /// The app's client id.
    #[arg(long, env = "TWITCH_CLIENT_ID", hide_env_values = true)]
    client_id: String,
    /// The app's client secret. Never printed: not in --help, logs or errors.
    #[arg(
        long,
        env = "TWITCH_CLIENT_SECRET",
        hide_env_values = true,
        hide_default_value = true
    )]
    client_secret: Secret,
    /// Schema Registry URL (`http(s)://host:port`, or `mock://NAME` in-process): snapshots are Avro
    /// (`avro/stream_snapshot.avsc`) registered under `<topic>-value`. Required unless --json.
    #[arg(
        long,
        env = "CHATPULSE_SCHEMA_REGISTRY_URL",
        required_unless_present = "json"
    )]
    schema_registry: Option<String>,
    /// Write snapshots as JSON (same fields) instead of Avro, without a registry.
    #[arg(long, conflicts_with = "schema_registry")]
    json: bool,
    #[command(flatten)]
    serve: ServeArgs,
    /// A user access token (moderator:read:followers) for follower totals; omitted: no totals.
    /// Never printed.
    #[arg(
        long,
        env = "TWITCH_USER_TOKEN",
        hide_env_values = true,
        hide_default_value = true
    )]
    user_token: Option<Secret>,
}

/// Runs `chatpulse monitor`.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut channels = Vec::new();
    for name in &args.channels {
        match normalize(name) {
            Some(c) if !channels.contains(&c) => channels.push(c),
            Some(_) => {}
            None => {
                bail!("--channel {name:?} is not a Twitch login (letters, digits, _; at most 25)")
            }
        }
    }
    let client = HelixClient::new(
        &args.auth_url,
        &args.helix_url,
        Credentials {
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.expose().to_owned(),
            user_token: args.user_token.as_ref().map(|t| t.expose().to_owned()),
        },
    )?;
    let options = MonitorOptions {
        channels,
        interval: Duration::from_secs_f64(args.interval_s.max(0.1)),
        sink: SinkOptions {
            kafka: args.kafka.settings()?,
            topic: args.topic.clone(),
            partitions: args.partitions,
            replication_factor: args.kafka.replication_factor,
            schema_registry: if args.json {
                None
            } else {
                args.schema_registry.clone()
            },
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let _server = args.serve.start(
        Some(runtime.handle()),
        Arc::new(Metrics::new()),
        Arc::new(Stateless),
    )?;
    let (stop_tx, stop) = watch::channel(false);
    on_signal(args.serve.shutdown_timeout, move || {
        let _ = stop_tx.send(true);
    });
    let stats = runtime.block_on(run_monitor(client, options, stop))?;
    eprintln!(
        "stopped: {} polls ({} failed), {} snapshots",
        stats.polls, stats.failed_polls, stats.snapshots
    );
    Ok(ExitCode::SUCCESS)
}
