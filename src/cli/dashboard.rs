//! `chatpulse dashboard`: a live web page of the result topics. It reads them (every partition,
//! from a look-back), keeps the last hours per channel and serves the page, its JSON views and a
//! Server-Sent Events stream, read-only, on 127.0.0.1 unless given a token.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::kafka_args::KafkaArgs;
use super::serve_args::parse_timeout;
use super::shutdown::on_signal;
use crate::avro::{registry_for, RegistryDecoder};
use crate::dashboard::{Board, BoardLimits, BoardWriter, Feed};
use crate::http::dashboard::LiveBoard;
use crate::http::dashboard_metrics::DashboardMetrics;
use crate::http::{HttpServer, Limits};
use crate::kafka::dashboard_reader::{follow, ReaderStats, StartAt};
use crate::kafka::KafkaSettings;
use crate::metrics::Metrics;
use crate::secret::Secret;

/// Arguments of `chatpulse dashboard`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Schema Registry URL to decode Avro results (`http(s)://host:port` or `mock://NAME`); JSON
    /// results need none.
    #[arg(long, env = "CHATPULSE_SCHEMA_REGISTRY_URL")]
    schema_registry: Option<String>,
    /// Where to serve the page (and /metrics, /healthz, /readyz). An address other than loopback
    /// needs --token. Port 0 picks a free port (printed at start).
    #[arg(
        long,
        env = "CHATPULSE_DASHBOARD_ADDR",
        default_value = "127.0.0.1:8088"
    )]
    addr: SocketAddr,
    /// Access token every request but the probes must carry (Bearer, basic-auth password, or
    /// `?token=`); required when --addr is not loopback.
    #[arg(long, env = "CHATPULSE_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The reader's consumer group id (it commits nothing: every dashboard reads every partition).
    #[arg(
        long,
        env = "CHATPULSE_DASHBOARD_GROUP",
        default_value = "chatpulse-dashboard"
    )]
    group: String,
    /// Start each topic this far back by record timestamp, for example `6h` or `2d`.
    #[arg(long, env = "CHATPULSE_DASHBOARD_LOOKBACK", default_value = "6h", value_parser = parse_timeout)]
    lookback: Duration,
    /// Read every topic from its oldest record instead (replays of old chat, tests).
    #[arg(long, env = "CHATPULSE_DASHBOARD_FROM_BEGINNING")]
    from_beginning: bool,
    /// Event time kept per channel behind its newest result, for example `6h`.
    #[arg(long, env = "CHATPULSE_DASHBOARD_KEEP", default_value = "6h", value_parser = parse_timeout)]
    keep: Duration,
    /// A feed's topic, `FEED=TOPIC` (repeatable), for example `minutes=twitch.audience.minute`
    /// (minutes with viewers). Feeds: minutes, spikes, subs, ad_slots, hours, sessions,
    /// leaderboards, rising, alerts; `FEED=` with no topic leaves a feed out.
    #[arg(long = "topic", value_name = "FEED=TOPIC")]
    topics: Vec<String>,
}

/// The feeds and their topics: the shipped topologies' topics, overridden by `overrides`
/// (`FEED=TOPIC`; an empty topic leaves the feed out).
pub(crate) fn feed_topics(overrides: &[String]) -> Result<Vec<(Feed, String)>> {
    let mut topics: Vec<(Feed, String)> = Feed::ALL
        .iter()
        .map(|f| (*f, f.default_topic().to_owned()))
        .collect();
    for o in overrides {
        let Some((name, topic)) = o.split_once('=') else {
            bail!("--topic {o:?} must be FEED=TOPIC, for example minutes=twitch.audience.minute");
        };
        let feed = Feed::named(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Feed::ALL.iter().map(|f| f.name()).collect();
            anyhow!(
                "--topic {o:?}: no feed {name:?}; feeds are {}",
                names.join(", ")
            )
        })?;
        topics.retain(|(f, _)| *f != feed);
        if !topic.trim().is_empty() {
            topics.push((feed, topic.trim().to_owned()));
        }
    }
    Ok(topics)
}

/// A dashboard being served: its server's address and its reader.
pub(crate) struct Served {
    /// The page's address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    reader: std::thread::JoinHandle<Result<ReaderStats, crate::kafka::KafkaError>>,
    _runtime: tokio::runtime::Runtime,
}

impl Served {
    /// Stops the reader and returns what it did.
    pub fn stop(self) -> Result<ReaderStats> {
        self.stop.store(true, Ordering::Relaxed);
        self.reader
            .join()
            .map_err(|_| anyhow!("the dashboard reader panicked"))?
            .context("the dashboard reader failed")
    }
}

/// What a dashboard reads and how it serves.
pub(crate) struct DashboardSpec {
    pub settings: KafkaSettings,
    pub schema_registry: Option<String>,
    pub addr: SocketAddr,
    pub token: Option<Secret>,
    pub group: String,
    pub start: StartAt,
    pub keep: Duration,
    pub topics: Vec<(Feed, String)>,
}

/// Starts the reader and the server of `spec`.
pub(crate) fn start(spec: DashboardSpec) -> Result<Served> {
    if !spec.addr.ip().is_loopback() && spec.token.is_none() {
        bail!(
            "serving the dashboard on {} (beyond this machine) needs an access token: pass --token or \
             set CHATPULSE_DASHBOARD_TOKEN, or bind 127.0.0.1",
            spec.addr
        );
    }
    let decoder = spec
        .schema_registry
        .as_deref()
        .map(registry_for)
        .transpose()?
        .map(RegistryDecoder::new)
        .transpose()?;
    let metrics = Arc::new(Metrics::new());
    let counted = DashboardMetrics::register(metrics.registry())?;
    let board = LiveBoard::new(
        Board::new(BoardLimits {
            keep_ms: spec.keep.as_millis() as i64,
            ..BoardLimits::default()
        }),
        Some(counted),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("chatpulse-dashboard")
        .enable_all()
        .build()?;
    let server = HttpServer::start_guarded(
        runtime.handle(),
        spec.addr,
        metrics,
        Arc::new(board.clone()),
        Limits::default(),
        spec.token,
    )
    .with_context(|| {
        format!(
            "cannot serve the dashboard on {}: choose another --addr",
            spec.addr
        )
    })?;
    // A feed left out reads no topic: its view says so from the start.
    for feed in Feed::ALL {
        if !spec.topics.iter().any(|(f, _)| *f == feed) {
            board.set_topic_exists(feed, false);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (board, stop) = (board.clone(), stop.clone());
        std::thread::Builder::new()
            .name("chatpulse-dashboard-reader".into())
            .spawn(move || {
                follow(
                    &spec.settings,
                    &spec.group,
                    &spec.topics,
                    spec.start,
                    decoder,
                    &board,
                    &stop,
                )
            })?
    };
    Ok(Served {
        addr: server.local_addr(),
        stop,
        reader,
        _runtime: runtime,
    })
}

/// Runs `chatpulse dashboard`.
pub fn run(args: Args) -> Result<ExitCode> {
    let topics = feed_topics(&args.topics)?;
    let served = start(DashboardSpec {
        settings: args.kafka.settings()?,
        schema_registry: args.schema_registry,
        addr: args.addr,
        token: args.token.map(Secret::new),
        group: args.group,
        start: if args.from_beginning {
            StartAt::Beginning
        } else {
            StartAt::LookBack(args.lookback)
        },
        keep: args.keep,
        topics,
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    on_signal(Duration::from_secs(5), move || {
        let _ = tx.send(());
    });
    // Printed once signals are handled: a caller may send one as soon as it reads the address.
    println!("chatpulse dashboard: http://{}/", served.addr);
    // Until a signal, or the reader ends by itself (a broker error it cannot get past).
    while rx.recv_timeout(Duration::from_secs(1)).is_err() && !served.reader.is_finished() {}
    let stats = served.stop()?;
    tracing::info!(
        applied = stats.applied,
        unshown = stats.unshown,
        "dashboard stopped"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_default_to_the_shipped_ones_and_can_be_overridden_or_left_out() {
        let t = feed_topics(&["minutes=twitch.audience.minute".into(), "alerts=".into()]).unwrap();
        assert!(t.contains(&(Feed::Minutes, "twitch.audience.minute".into())));
        assert!(t.contains(&(Feed::Spikes, "twitch.spikes".into())));
        assert!(!t.iter().any(|(f, _)| *f == Feed::Alerts));
        let e = feed_topics(&["nope=x".into()]).unwrap_err().to_string();
        assert!(e.contains("feeds are minutes, spikes"), "{e}");
        assert!(feed_topics(&["minutes".into()]).is_err());
    }
}
