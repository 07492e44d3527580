//! `chatpulse ingest`: reads live Twitch chat over IRC and produces every chat line to
//! `twitch.chat.raw` until SIGTERM or SIGINT, then flushes. Channels come from `--channel` and from a
//! watched `--channels-file`. Its counters are served on `/metrics` (`--metrics-addr`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;

use super::kafka_args::KafkaArgs;
use super::serve_args::ServeArgs;
use super::shutdown::on_signal;
use crate::http::Stateless;
use crate::ingest::{register_metrics, start_producer, ProducerOptions, DEFAULT_TOPIC};
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::twitch::irc::channels::normalize;
use crate::twitch::irc::channels_file::{read_channels_file, watch_channels_file};
use crate::twitch::irc::{run_client, IrcConfig, Login, TWITCH_IRC_ADDR};

/// Arguments of `chatpulse ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A channel to read (repeatable), with or without `#`.
    #[arg(long = "channel", value_name = "NAME")]
    channels: Vec<String>,
    /// A file of channels (names separated by spaces, commas or lines; `# ` starts a comment line),
    /// re-read when it changes so channels can be added and removed while running.
    #[arg(long)]
    channels_file: Option<PathBuf>,
    /// How often to check the channels file for changes, in seconds.
    #[arg(long, default_value_t = 5.0)]
    channels_poll_s: f64,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The topic raw lines go to.
    #[arg(long, default_value = DEFAULT_TOPIC)]
    topic: String,
    /// Partitions of the topic when ingest creates it.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// The IRC server, `host:port`.
    #[arg(long, default_value = TWITCH_IRC_ADDR)]
    irc_addr: String,
    /// Connect without TLS (only for local test servers; Twitch requires TLS on 6697).
    #[arg(long)]
    no_tls: bool,
    /// A Twitch user access token with chat:read (`oauth:` optional); anonymous when omitted.
    /// Never printed: not in --help, logs or errors.
    #[arg(
        long,
        env = "TWITCH_OAUTH_TOKEN",
        hide_env_values = true,
        hide_default_value = true
    )]
    oauth_token: Option<Secret>,
    /// The login name that goes with --oauth-token.
    #[arg(long, env = "TWITCH_NICK")]
    nick: Option<String>,
    /// Channels per IRC connection; more channels open more connections.
    #[arg(long, default_value_t = 50)]
    channels_per_connection: usize,
    /// JOINs per 10 s over all connections: 20 for ordinary accounts, up to 2000 for verified bots.
    #[arg(long, default_value_t = 20)]
    joins_per_10s: usize,
    /// Lines buffered for Kafka; when full (broker slow or away) new lines are dropped and counted.
    #[arg(long, default_value_t = 100_000)]
    buffer: usize,
    #[command(flatten)]
    serve: ServeArgs,
    /// How often to log the counters, in seconds.
    #[arg(long, default_value_t = 60)]
    stats_interval_s: u64,
}

/// Runs `chatpulse ingest`.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut fixed = BTreeSet::new();
    for name in &args.channels {
        match normalize(name) {
            Some(c) => fixed.insert(c),
            None => {
                bail!("--channel {name:?} is not a Twitch login (letters, digits, _; at most 25)")
            }
        };
    }
    let mut initial = fixed.clone();
    if let Some(path) = &args.channels_file {
        let from_file = read_channels_file(path)
            .with_context(|| format!("cannot read --channels-file {}", path.display()))?;
        initial.extend(from_file);
    }
    if initial.is_empty() && args.channels_file.is_none() {
        bail!("no channels: pass --channel NAME or --channels-file FILE");
    }
    let login = match &args.oauth_token {
        Some(token) => Login::Token {
            nick: args
                .nick
                .clone()
                .context("--oauth-token needs --nick (the account's login name)")?,
            token: token.expose().to_owned(),
        },
        None => Login::anonymous(std::process::id().into()),
    };
    let mut config = IrcConfig::twitch(login);
    config.addr = args.irc_addr.clone();
    config.tls = !args.no_tls;
    config.channels_per_connection = args.channels_per_connection;
    config.joins_per_window = args.joins_per_10s;
    let mut producer_options = ProducerOptions::new(args.kafka.settings()?, &args.topic);
    producer_options.capacity = args.buffer;
    producer_options.partitions = args.partitions;
    producer_options.replication_factor = args.kafka.replication_factor;

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served = Arc::new(Metrics::new());
    let metrics = register_metrics(served.registry())?;
    let _server = args
        .serve
        .start(Some(runtime.handle()), served, Arc::new(Stateless))?;
    let (stop_tx, stop) = watch::channel(false);
    on_signal(args.serve.shutdown_timeout, move || {
        let _ = stop_tx.send(true);
    });
    runtime.block_on(async move {
        let (lines, producer_task) = start_producer(producer_options, metrics.clone()).await?;
        let (channels_tx, channels) = watch::channel(initial);
        if let Some(path) = args.channels_file.clone() {
            let poll = Duration::from_secs_f64(args.channels_poll_s.max(0.1));
            tokio::spawn(watch_channels_file(
                path,
                fixed,
                poll,
                channels_tx,
                stop.clone(),
            ));
        }
        let stats_metrics = metrics.clone();
        let interval = Duration::from_secs(args.stats_interval_s.max(1));
        let mut stats_stop = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stats_stop.wait_for(|s| *s) => return,
                }
                let t = stats_metrics.totals();
                tracing::info!(
                    received = t.received,
                    produced = t.produced,
                    dropped = t.dropped,
                    reconnects = t.reconnects,
                    "ingest counters"
                );
            }
        });
        let client = run_client(config, channels, lines, stop).await;
        let stats = producer_task.await.context("the producer task failed")?;
        let t = metrics.totals();
        eprintln!(
            "stopped: {} received, {} produced, {} dropped, {} reconnects, {} unflushed",
            t.received, t.produced, t.dropped, t.reconnects, stats.unflushed
        );
        client?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
