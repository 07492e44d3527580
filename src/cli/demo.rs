//! `chatpulse demo`: the whole pipeline in one process with nothing installed. An embedded
//! Kafka-protocol broker (rdkafka's MockCluster), an in-process schema registry (`mock://demo`), real
//! chat from `data/sample` produced to `twitch.chat.raw`, the five shipped analytics topologies
//! running as they would in production, a live view of what they emit, a check against the offline
//! run of the same slice, an HTML report, and the live dashboard (`chatpulse dashboard`'s page),
//! served until Ctrl-C unless `--no-serve`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use apache_avro::Schema;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::Message;
use serde_json::Value;

use super::dashboard::{self, DashboardSpec};
use super::input;
use super::shutdown::on_signal;
use crate::avro::{decode_datum, registry_for, wire, SchemaRegistry};
use crate::chat::import::{import, ImportOptions};
use crate::chat::ChatEvent;
use crate::kafka::dashboard_reader::StartAt;
use crate::kafka::restore::DEFAULT_STALL_TIMEOUT;
use crate::kafka::runner::{run as run_topology, RunControl, RunOptions, RunStats};
use crate::kafka::KafkaSettings;
use crate::report::{html, Report};
use crate::store::changelog::changelog_topic;
use crate::store::memory::MemoryBackend;
use crate::store::rocks::{RocksBackend, RocksOptions};
use crate::time::civil::format_timestamp_ms;
use crate::topology::offline::run_offline;
use crate::topology::route::MemoryDestination;
use crate::topology::Topology;

/// The input topic of the demo.
const RAW: &str = "twitch.chat.raw";
/// The shipped topologies the demo runs.
const TOPOLOGIES: [&str; 5] = [
    "chat-events",
    "engagement",
    "spikes",
    "subscriptions",
    "ad-slots",
];

/// Arguments of `chatpulse demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Chat logs to replay (any format `parse` reads; gzip detected). Defaults to the real chat
    /// bundled in `data/sample`: 49 minutes of #northernlion (VOD chat) and 8 minutes of #nymn.
    #[arg(long)]
    input: Vec<String>,
    /// Where to write the HTML report.
    #[arg(long, default_value = "chatpulse-demo-report.html")]
    report: PathBuf,
    /// The repository folder holding `topologies/` and `data/sample` (the current directory when
    /// run from a clone).
    #[arg(long, default_value = ".")]
    home: PathBuf,
    /// Give up when the pipeline has not delivered every result after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// Do not serve the dashboard: finish once the report is written (for scripts; also when the
    /// CI environment variable is set).
    #[arg(long)]
    no_serve: bool,
    /// Where to serve the dashboard while the demo runs and after it, until Ctrl-C.
    #[arg(long, default_value = "127.0.0.1:8088")]
    dashboard_addr: std::net::SocketAddr,
}

/// Runs `chatpulse demo`.
pub fn run(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let inputs: Vec<String> = if args.input.is_empty() {
        ["northernlion-1087079172.json.gz", "nymn-2024-01-06.irc.txt"]
            .iter()
            .map(|f| args.home.join("data/sample").join(f).display().to_string())
            .collect()
    } else {
        args.input.clone()
    };
    let lines = read_lines(&inputs)?;
    let topologies = TOPOLOGIES
        .iter()
        .map(|name| {
            let path = args.home.join(format!("topologies/{name}.toml"));
            Topology::load(&path).with_context(|| {
                format!(
                    "cannot load {}: run the demo from the repository or pass --home",
                    path.display()
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    println!(
        "chatpulse demo: {} real chat lines from {}",
        lines.len(),
        inputs.join(", ")
    );

    // The reference: the same slice through the same topologies offline.
    let marker = end_marker(&lines);
    let expected = offline(&topologies, &lines, &marker)?;

    // An embedded broker and registry.
    let mock = MockCluster::new(1).context("cannot start the embedded Kafka broker")?;
    let settings = KafkaSettings::new(mock.bootstrap_servers());
    for t in &topologies {
        for topic in t
            .sinks
            .iter()
            .map(|s| s.topic.clone())
            // librdkafka's mock cluster has no CreateTopics: every topic `run` would create is
            // made here.
            .chain([t.dlq_topic(), t.late_topic.clone()])
            .chain(
                t.stores()
                    .iter()
                    .map(|s| changelog_topic(&t.application_id, s)),
            )
        {
            mock.create_topic(&topic, 1, 1)
                .with_context(|| format!("cannot create {topic}"))?;
        }
    }
    mock.create_topic(RAW, 1, 1)
        .context("cannot create twitch.chat.raw")?;
    let serve = !args.no_serve && std::env::var_os("CI").is_none();
    let dashboard = if serve {
        let served = dashboard::start(DashboardSpec {
            settings: settings.clone(),
            schema_registry: Some("mock://demo".into()),
            addr: args.dashboard_addr,
            token: None,
            group: "chatpulse-demo-dashboard".into(),
            start: StartAt::Beginning,
            keep: Duration::from_secs(24 * 3600),
            topics: dashboard::feed_topics(&[])?,
        })?;
        println!(
            "dashboard: http://{}/ (live while the demo runs)",
            served.addr
        );
        Some(served)
    } else {
        None
    };
    produce(&settings, &lines, &marker)?;
    println!(
        "produced {} lines to {RAW} on the embedded broker {}",
        lines.len() + 1,
        mock.bootstrap_servers()
    );

    // The topologies, each one instance of its consumer group, state in RocksDB.
    let state = tempfile::tempdir().context("cannot create a temporary state dir")?;
    let mut running = Vec::new();
    for t in &topologies {
        let stores = t.stores();
        let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
        let backend = RocksBackend::open(
            &state.path().join(&t.application_id),
            &refs,
            &RocksOptions::default(),
        )?;
        let options = RunOptions {
            kafka: settings.clone(),
            instance_id: "demo".into(),
            shutdown_timeout: Duration::from_secs(10),
            replication_factor: 1,
            schema_registry: Some("mock://demo".into()),
            restore_stall_timeout: DEFAULT_STALL_TIMEOUT,
        };
        let control = RunControl::new();
        let shared = control.clone();
        let topology = t.clone();
        let handle =
            std::thread::spawn(move || run_topology(topology, options, Box::new(backend), shared));
        running.push((control, handle));
    }

    // The live view, until every result has arrived.
    let got = watch(
        &settings,
        &expected,
        Duration::from_secs(args.timeout_s),
        started,
    );
    let mut stats = Vec::new();
    for (control, handle) in running {
        control.stop();
        match handle.join() {
            Ok(Ok(s)) => stats.push(s),
            Ok(Err(e)) => bail!("a topology failed: {e}"),
            Err(_) => bail!("a topology thread panicked"),
        }
    }
    let got = got?;
    let code = report(&args.report, &expected, &got, &stats, started)?;
    if let Some(served) = dashboard {
        let (tx, rx) = std::sync::mpsc::channel();
        on_signal(Duration::from_secs(5), move || {
            let _ = tx.send(());
        });
        // Said once Ctrl-C is handled: a caller may send it as soon as it reads this.
        println!(
            "dashboard: http://{}/ stays up with the demo's results: press Ctrl-C to stop",
            served.addr
        );
        let _ = rx.recv();
        served.stop()?;
    }
    Ok(code)
}

/// Reads and imports every input into canonical tagged lines, in time order.
fn read_lines(inputs: &[String]) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for path in inputs {
        let input = input::open(path, None)?;
        // Records the importer cannot read (log noise) are skipped, as `chatpulse process` does.
        lines.extend(
            import(input.format, ImportOptions::default(), input.reader)
                .flatten()
                .map(|r| r.line),
        );
    }
    let ts = |l: &String| ChatEvent::parse(l).ok().and_then(|e| e.ts_ms);
    lines.retain(|l| ts(l).is_some());
    lines.sort_by_key(|l| ts(l).unwrap_or(i64::MIN));
    if lines.is_empty() {
        bail!("the inputs hold no chat lines with a time: pass --input with chat logs");
    }
    Ok(lines)
}

/// A NOTICE an hour after the last line: event time moves on and every window closes.
fn end_marker(lines: &[String]) -> String {
    let last = lines
        .iter()
        .filter_map(|l| ChatEvent::parse(l).ok()?.ts_ms)
        .max()
        .unwrap_or(0);
    format!(
        "@tmi-sent-ts={} :tmi.twitch.tv NOTICE #end-of-input :end",
        last + 3_600_000
    )
}

/// Per output topic, the offline run's records as sorted JSON text.
type Results = BTreeMap<String, Vec<String>>;

fn offline(topologies: &[Topology], lines: &[String], marker: &str) -> Result<Results> {
    let mut out = Results::new();
    for t in topologies {
        let stores = t.stores();
        let refs: Vec<&str> = stores.iter().map(String::as_str).collect();
        let mut backend = MemoryBackend::new(&refs)?;
        let mut results = MemoryDestination::default();
        let values = lines
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(marker));
        run_offline(
            Arc::new(t.clone()),
            values,
            &mut backend,
            &mut results,
            10_000,
        )?;
        for s in &t.sinks {
            out.entry(s.topic.clone()).or_default();
        }
        for (topic, _, value, _) in results.outputs {
            out.entry(topic).or_default().push(value.to_string());
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    Ok(out)
}

fn produce(settings: &KafkaSettings, lines: &[String], marker: &str) -> Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = settings
        .producer_config()
        .create()
        .context("cannot create the demo producer")?;
    for line in lines.iter().map(String::as_str).chain([marker]) {
        let key = ChatEvent::parse(line)
            .map(|e| e.channel.to_owned())
            .unwrap_or_default();
        let mut record = BaseRecord::to(RAW).key(&key).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if e.rdkafka_error_code().is_some() => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e).context("cannot produce to the embedded broker"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .context("the embedded broker did not take every line")?;
    Ok(())
}

/// Decodes a Confluent-framed Avro value through the registry (schemas cached by id).
struct Decoder {
    registry: Arc<dyn SchemaRegistry>,
    schemas: HashMap<u32, Schema>,
    runtime: tokio::runtime::Runtime,
}

impl Decoder {
    fn decode(&mut self, value: &[u8]) -> Result<Value> {
        let (id, datum) = wire::unframe(value)?;
        if !self.schemas.contains_key(&id) {
            let text = self.runtime.block_on(self.registry.schema_by_id(id))?;
            self.schemas.insert(id, Schema::parse_str(&text)?);
        }
        Ok(decode_datum(&self.schemas[&id], datum, None)?)
    }
}

/// Consumes every output topic, prints what matters as it arrives, and returns the records once
/// each topic has as many as the offline run (or the timeout passed).
fn watch(
    settings: &KafkaSettings,
    expected: &Results,
    timeout: Duration,
    started: Instant,
) -> Result<Results> {
    let consumer: BaseConsumer = settings
        .consumer_config("chatpulse-demo-view")
        .create()
        .context("cannot create the demo consumer")?;
    let topics: Vec<&str> = expected.keys().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let mut decoder = Decoder {
        registry: registry_for("mock://demo")?,
        schemas: HashMap::new(),
        runtime: tokio::runtime::Builder::new_current_thread().build()?,
    };
    let mut got: Results = expected.keys().map(|k| (k.clone(), Vec::new())).collect();
    let deadline = Instant::now() + timeout;
    let done = |got: &Results| expected.iter().all(|(t, v)| got[t].len() >= v.len());
    while !done(&got) {
        if Instant::now() > deadline {
            bail!(
                "the pipeline did not deliver every result within {timeout:?}: {}",
                progress(&got, expected)
            );
        }
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg.context("cannot read an output topic")?;
        let value = decoder.decode(msg.payload().unwrap_or_default())?;
        live(msg.topic(), &value, started);
        if let Some(v) = got.get_mut(msg.topic()) {
            v.push(value.to_string());
        }
    }
    for v in got.values_mut() {
        v.sort();
    }
    Ok(got)
}

fn progress(got: &Results, expected: &Results) -> String {
    expected
        .iter()
        .map(|(t, v)| format!("{t} {}/{}", got[t].len(), v.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn clock(ms: i64) -> String {
    let t = format_timestamp_ms(ms);
    t.get(11..19).unwrap_or(&t).to_owned()
}

/// One line of the live view per minute, spike, and ad slot.
fn live(topic: &str, v: &Value, started: Instant) {
    let at = format!("[{:>5.1}s]", started.elapsed().as_secs_f64());
    let channel = v["channel"].as_str().unwrap_or("?");
    let int = |f: &str| v[f].as_i64().unwrap_or(0);
    match topic {
        "twitch.engagement.minute" => println!(
            "{at} #{channel:<14} {} UTC  {:>4} msgs/min  {:>4} chatters  {} subs",
            clock(int("window_start")),
            int("messages"),
            int("unique_chatters"),
            int("subs") + int("resubs") + int("gifted_subs"),
        ),
        "twitch.spikes" => println!(
            "{at} #{channel:<14} SPIKE {}: {}",
            v["phase"].as_str().unwrap_or("?"),
            v["description"].as_str().unwrap_or("")
        ),
        "twitch.ad_slots" => println!(
            "{at} #{channel:<14} AD SLOT at {} UTC for {} s (score {:.2}): {}",
            clock(int("start")),
            int("duration_s"),
            v["score"].as_f64().unwrap_or(0.0),
            v["reason"].as_str().unwrap_or("")
        ),
        _ => {}
    }
}

fn report(
    path: &Path,
    expected: &Results,
    got: &Results,
    stats: &[RunStats],
    started: Instant,
) -> Result<ExitCode> {
    let mut model = Report::default();
    for (topic, values) in got {
        for v in values {
            model.add(topic, &serde_json::from_str(v)?);
        }
    }
    model.sort();
    let processed: u64 = stats.iter().map(|s| s.processed).sum();
    let matches = got == expected;
    let mut summary = model.summary();
    for (topic, v) in got {
        summary.push_str(&format!("{topic}: {} records\n", v.len()));
    }
    summary.push_str(&format!(
        "{processed} input records processed by {} topologies in {:.1} s; the Kafka results {} the offline run of the same slice.\n",
        stats.len(),
        started.elapsed().as_secs_f64(),
        if matches { "equal" } else { "DIFFER FROM" }
    ));
    println!("\n{summary}");
    std::fs::write(
        path,
        html::render(&model, "chatpulse demo: real Twitch chat", &summary),
    )
    .with_context(|| format!("cannot write the report to {}", path.display()))?;
    let shown = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    println!("report: {}", shown.display());
    Ok(if matches {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
