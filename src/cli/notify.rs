//! `chatpulse notify`: consumes `twitch.alerts` in its own consumer group and posts each alert to
//! every configured destination (Slack, Discord, a signed JSON webhook), one alert at a time: paced
//! per destination, retried with backoff and jitter, 429s honoured; a permanent failure goes to the
//! dead-letter topic with its reason. The offset is committed only once every destination has the
//! alert or its dead letter: at least once, and a redelivery carries the same `alert_id`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;

use super::kafka_args::KafkaArgs;
use super::shutdown;
use super::webhook_args::ChatWebhooks;
use crate::alerts::alert::Alert;
use crate::avro::{registry_for, wire, RegistryDecoder};
use crate::kafka::group_watch::{look_at_group, GroupWatch};
use crate::kafka::topics::ensure_topic;
use crate::notify::destination::{Destination, Kind, Request, IDEMPOTENCY_HEADER};
use crate::notify::pace::Pace;
use crate::notify::retry::{Answer, Backoff, Next};
use crate::secret::Secret;
use crate::table::ValueDecoder;
use crate::time::duration::DurationMs;

/// Arguments of `chatpulse notify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The alerts topic.
    #[arg(long, default_value = "twitch.alerts")]
    topic: String,
    /// The consumer group (its committed offsets are what has been delivered).
    #[arg(long, default_value = "chatpulse-notify")]
    group: String,
    /// Where alerts that cannot be delivered go, with the reason in the `chatpulse.error` header.
    #[arg(long, default_value = "twitch.alerts.dlq")]
    dead_letter_topic: String,
    /// Schema Registry URL (`http(s)://host:port`) to decode Avro alerts, as `topologies/alerts.toml`
    /// writes them; JSON alerts need none.
    #[arg(long, env = "CHATPULSE_SCHEMA_REGISTRY_URL")]
    schema_registry: Option<String>,
    #[command(flatten)]
    hooks: ChatWebhooks,
    /// A generic webhook URL: the alert record as JSON, POSTed. A secret: never printed.
    #[arg(
        long,
        env = "CHATPULSE_WEBHOOK_URL",
        hide_env_values = true,
        hide_default_value = true
    )]
    webhook_url: Option<Secret>,
    /// The generic webhook's signing secret: `X-Chatpulse-Signature: v1=HMAC-SHA256(secret,
    /// "<X-Chatpulse-Timestamp>.<body>")` in hex. Never printed.
    #[arg(
        long,
        env = "CHATPULSE_WEBHOOK_SECRET",
        hide_env_values = true,
        hide_default_value = true,
        requires = "webhook_url"
    )]
    webhook_secret: Option<Secret>,
    /// At most one request per this long to each destination (Slack allows about 1 a second per
    /// webhook, Discord 5 per 2 s).
    #[arg(long, default_value = "1s")]
    min_interval: DurationMs,
    /// Attempts per alert and destination, the first included; then the alert is dead-lettered.
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// The first retry's delay; each further one doubles it (with jitter), up to --retry-cap.
    #[arg(long, default_value = "500ms")]
    retry_base: DurationMs,
    /// The longest wait between attempts, also the most of a `Retry-After` that is honoured.
    #[arg(long, default_value = "60s")]
    retry_cap: DurationMs,
    /// A request without an answer after this long is a failed attempt (a hung destination).
    #[arg(long, default_value = "10s")]
    request_timeout: DurationMs,
    /// On SIGTERM/SIGINT, the time to finish the alert in hand and commit before exiting anyway.
    #[arg(long, default_value = "30s")]
    shutdown_timeout: DurationMs,
}

/// The destinations the flags name, in a fixed order.
fn destinations(args: &Args) -> Vec<Destination> {
    let mut out = Vec::new();
    let mut add = |kind, url: &Option<Secret>, signing_secret: Option<Secret>| {
        if let Some(url) = url {
            out.push(Destination {
                kind,
                url: url.clone(),
                signing_secret,
            });
        }
    };
    add(Kind::Slack, &args.hooks.slack_url, None);
    add(Kind::Discord, &args.hooks.discord_url, None);
    add(
        Kind::Webhook,
        &args.webhook_url,
        args.webhook_secret.clone(),
    );
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One POST, as an [`Answer`]; transport errors are described without the URL.
async fn post(client: &reqwest::Client, request: &Request) -> Answer {
    let mut builder = client.post(request.url.expose()).body(request.body.clone());
    for (k, v) in &request.headers {
        builder = builder.header(*k, v);
    }
    match builder.send().await {
        Ok(response) => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Answer::Status(response.status().as_u16(), retry_after)
        }
        Err(e) => {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            Answer::Transport(format!("{kind} ({})", e.without_url()))
        }
    }
}

/// POSTs the JSON `body` to `url` with `key` as its idempotency key until it is taken
/// (`Ok(attempts)`) or fails for good (`Err(reason)`), waiting out 429s and backing off as for
/// alerts (used by `chatpulse summary`).
pub(super) async fn post_json(
    client: &reqwest::Client,
    url: &Secret,
    body: Vec<u8>,
    key: &str,
    backoff: &Backoff,
) -> Result<u32, String> {
    let request = Request {
        url: url.clone(),
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            (IDEMPOTENCY_HEADER, key.to_owned()),
        ],
        body,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match backoff.next(attempt, &post(client, &request).await, fastrand::f64()) {
            Next::Delivered => return Ok(attempt),
            Next::Permanent(reason) => return Err(reason),
            Next::Retry { after_ms, .. } => {
                tokio::time::sleep(Duration::from_millis(after_ms as u64)).await
            }
        }
    }
}

/// The delivery of alerts: the HTTP client, the policy and each destination's pace.
struct Deliverer {
    client: reqwest::Client,
    backoff: Backoff,
    paces: HashMap<&'static str, Pace>,
    stop: Arc<AtomicBool>,
}

impl Deliverer {
    /// Posts `alert` to `dest` until it is delivered (`Ok(attempts)`) or fails for good
    /// (`Err(reason)`). A stop request is honoured between attempts only by finishing this one
    /// alert's current wait; the alert is not committed, so it is delivered again after a restart.
    async fn deliver(&mut self, dest: &Destination, alert: &Alert) -> Result<u32, String> {
        let name = dest.kind.as_str();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let pace = self.paces.get_mut(name).expect("a pace per destination");
            let wait = pace.wait_ms(now_ms());
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            pace.sent(now_ms());
            let request = dest.request(alert, now_ms() / 1000);
            let answer = post(&self.client, &request).await;
            match self.backoff.next(attempt, &answer, fastrand::f64()) {
                Next::Delivered => return Ok(attempt),
                Next::Permanent(reason) => return Err(reason),
                Next::Retry {
                    after_ms,
                    paced,
                    reason,
                } => {
                    tracing::warn!(destination = name, alert_id = %alert.alert_id, attempt, after_ms, %reason, "delivery failed; retrying");
                    if paced {
                        pace.hold_until(now_ms() + after_ms);
                    } else {
                        tokio::time::sleep(Duration::from_millis(after_ms as u64)).await;
                    }
                    if self.stop.load(Ordering::SeqCst) {
                        return Err("stopped before delivery".to_owned());
                    }
                }
            }
        }
    }
}

/// What went wrong with one record, for its dead letter.
struct DeadLetter<'a> {
    reason: String,
    destination: Option<&'static str>,
    alert_id: Option<&'a str>,
}

/// Sends `payload` to the dead-letter topic with the reason and where it came from, and waits for
/// the broker's acknowledgement.
async fn dead_letter(
    producer: &FutureProducer,
    topic: &str,
    msg: &rdkafka::message::BorrowedMessage<'_>,
    payload: &[u8],
    d: &DeadLetter<'_>,
) -> Result<()> {
    let partition = msg.partition().to_string();
    let offset = msg.offset().to_string();
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "chatpulse.error",
            value: Some(d.reason.as_str()),
        })
        .insert(Header {
            key: "chatpulse.source.topic",
            value: Some(msg.topic()),
        })
        .insert(Header {
            key: "chatpulse.source.partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "chatpulse.source.offset",
            value: Some(offset.as_str()),
        });
    if let Some(dest) = d.destination {
        headers = headers.insert(Header {
            key: "chatpulse.destination",
            value: Some(dest),
        });
    }
    if let Some(id) = d.alert_id {
        headers = headers.insert(Header {
            key: "chatpulse.alert_id",
            value: Some(id),
        });
    }
    let mut record = FutureRecord::to(topic).payload(payload).headers(headers);
    if let Some(key) = msg.key() {
        record = record.key(key);
    }
    producer
        .send(record, Duration::from_secs(60))
        .await
        .map_err(|(e, _)| e)
        .with_context(|| format!("cannot write the dead letter to {topic}"))?;
    Ok(())
}

/// The alert in a record value: Avro through the registry (wire format), else JSON.
fn read_alert(decoder: Option<&RegistryDecoder>, bytes: &[u8]) -> Result<Alert, String> {
    let value: Value = match decoder {
        Some(d) if wire::unframe(bytes).is_ok() => d.decode(bytes)?,
        _ => serde_json::from_slice(bytes)
            .map_err(|e| format!("not a JSON alert ({e}); Avro alerts need --schema-registry"))?,
    };
    serde_json::from_value(value).map_err(|e| format!("not an alert record: {e}"))
}

/// Leaves and re-joins the group when the coordinator leaves this process without its partitions
/// after a takeover (tansu 0.6 keeps a dead member's assignment: see `kafka::group_watch`), as
/// `run` does. `partitions` caches the topic's partition count once known.
fn rejoin_if_stranded(
    consumer: &BaseConsumer,
    args: &Args,
    client_id: &str,
    watch: &mut GroupWatch,
    partitions: &mut usize,
) -> Result<()> {
    let owned = consumer.assignment().map_or(0, |a| a.count());
    if *partitions == 0 {
        *partitions = consumer
            .fetch_metadata(Some(&args.topic), Duration::from_secs(5))
            .ok()
            .and_then(|m| m.topics().first().map(|t| t.partitions().len()))
            .unwrap_or(0);
    }
    if *partitions == 0 || !watch.due(Instant::now(), owned, *partitions) {
        return Ok(());
    }
    let stranded = look_at_group(consumer, &args.group, client_id, owned, *partitions);
    if watch.observe(stranded) {
        tracing::warn!(owned, partitions = *partitions, "the consumer group is stable but this process holds fewer partitions than its share: leaving and re-joining the group");
        consumer.unsubscribe();
        consumer
            .subscribe(&[&args.topic])
            .with_context(|| format!("cannot subscribe to {}", args.topic))?;
    }
    Ok(())
}

/// Runs `chatpulse notify`.
pub fn run(args: Args) -> Result<ExitCode> {
    let dests = destinations(&args);
    if dests.is_empty() {
        bail!("no destination: pass --slack-url, --discord-url or --webhook-url (or their CHATPULSE_*_URL variables)");
    }
    if args.max_attempts == 0 {
        bail!("--max-attempts 0: allow at least 1 attempt (8 is usual)");
    }
    let settings = args.kafka.settings()?;
    // A client id naming this process: its member id starts with it (see `kafka::group_watch`).
    let client_id = format!("{}-{}-{}", args.group, std::process::id(), now_ms());
    let consumer: BaseConsumer = settings
        .consumer_config(&args.group)
        .set("client.id", &client_id)
        .create()
        .context("cannot create the consumer")?;
    consumer
        .subscribe(&[&args.topic])
        .with_context(|| format!("cannot subscribe to {}", args.topic))?;
    let producer: FutureProducer = settings
        .producer_config()
        .create()
        .context("cannot create the dead-letter producer")?;
    let decoder = args
        .schema_registry
        .as_deref()
        .map(|url| -> Result<RegistryDecoder> { Ok(RegistryDecoder::new(registry_for(url)?)?) })
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // A broker that creates no topic on produce must have it before the first dead letter.
    runtime
        .block_on(ensure_topic(
            &settings,
            &args.dead_letter_topic,
            1,
            args.kafka.replication_factor,
        ))
        .with_context(|| {
            format!(
                "cannot create the dead-letter topic {}",
                args.dead_letter_topic
            )
        })?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(
            args.request_timeout.ms().max(1) as u64
        ))
        .build()
        .context("cannot build the HTTP client")?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        shutdown::on_signal(
            Duration::from_millis(args.shutdown_timeout.ms().max(0) as u64),
            move || stop.store(true, Ordering::SeqCst),
        );
    }
    let mut deliverer = Deliverer {
        client,
        backoff: Backoff {
            base_ms: args.retry_base.ms(),
            cap_ms: args.retry_cap.ms(),
            max_attempts: args.max_attempts,
        },
        paces: dests
            .iter()
            .map(|d| (d.kind.as_str(), Pace::new(args.min_interval.ms())))
            .collect(),
        stop: stop.clone(),
    };
    let names: Vec<&str> = dests.iter().map(|d| d.kind.as_str()).collect();
    tracing::info!(topic = %args.topic, group = %args.group, destinations = ?names, "notify started");
    let (mut delivered, mut dead) = (0u64, 0u64);
    let started = Instant::now();
    let mut watch = GroupWatch::new(Duration::from_secs(3), 2);
    let mut partitions = 0;
    while !stop.load(Ordering::SeqCst) {
        rejoin_if_stranded(&consumer, &args, &client_id, &mut watch, &mut partitions)?;
        let msg = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "consume error");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let payload = msg.payload().unwrap_or_default();
        match read_alert(decoder.as_ref(), payload) {
            Err(reason) => {
                tracing::warn!(offset = msg.offset(), %reason, "unreadable alert: dead-lettered");
                let d = DeadLetter {
                    reason,
                    destination: None,
                    alert_id: None,
                };
                runtime.block_on(dead_letter(
                    &producer,
                    &args.dead_letter_topic,
                    &msg,
                    payload,
                    &d,
                ))?;
                dead += 1;
            }
            Ok(alert) => {
                for dest in &dests {
                    let outcome = runtime.block_on(deliverer.deliver(dest, &alert));
                    match outcome {
                        Ok(attempts) => {
                            delivered += 1;
                            tracing::info!(destination = dest.kind.as_str(), alert_id = %alert.alert_id, rule = %alert.rule, channel = %alert.channel, attempts, "delivered");
                        }
                        Err(reason) if stop.load(Ordering::SeqCst) => {
                            // Not committed: a restart delivers it again.
                            tracing::warn!(alert_id = %alert.alert_id, %reason, "stopping before the alert was delivered");
                            return Ok(ExitCode::SUCCESS);
                        }
                        Err(reason) => {
                            tracing::warn!(destination = dest.kind.as_str(), alert_id = %alert.alert_id, %reason, "undeliverable: dead-lettered");
                            let value = serde_json::to_vec(&alert).expect("an alert serializes");
                            let d = DeadLetter {
                                reason,
                                destination: Some(dest.kind.as_str()),
                                alert_id: Some(&alert.alert_id),
                            };
                            runtime.block_on(dead_letter(
                                &producer,
                                &args.dead_letter_topic,
                                &msg,
                                &value,
                                &d,
                            ))?;
                            dead += 1;
                        }
                    }
                }
            }
        }
        // Every destination has the alert or its dead letter: only now is it committed.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            msg.topic(),
            msg.partition(),
            Offset::Offset(msg.offset() + 1),
        )
        .expect("a valid offset");
        consumer
            .commit(&tpl, CommitMode::Sync)
            .context("cannot commit the delivered offset")?;
    }
    tracing::info!(
        delivered,
        dead_lettered = dead,
        seconds = started.elapsed().as_secs(),
        "notify stopped"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn urls_and_secrets_never_print() {
        let cli = Cli::parse_from([
            "notify",
            "--brokers",
            "b:9092",
            "--slack-url",
            "https://hooks.slack.com/services/T0/B0/slack-secret-q1",
            "--webhook-url",
            "https://example.test/hook-secret-q2",
            "--webhook-secret",
            "signing-secret-q3",
        ]);
        let printed = format!("{cli:?} {:?}", destinations(&cli.args));
        for s in ["slack-secret-q1", "hook-secret-q2", "signing-secret-q3"] {
            assert!(!printed.contains(s), "{printed}");
        }
        assert_eq!(destinations(&cli.args).len(), 2);
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("--slack-url"), "{help}");
        assert!(!help.contains("q1"));
    }

    #[test]
    fn an_alert_reads_from_json_and_a_wrong_value_says_why() {
        let a = Alert {
            alert_id: "a".into(),
            rule: "r".into(),
            kind: "raid".into(),
            channel: "c".into(),
            window_start: 1,
            window_end: 2,
            value: 3.0,
            reference: None,
            threshold: None,
            figures: Default::default(),
            cause: None,
            cause_detail: None,
            sentence: "s".into(),
        };
        let bytes = serde_json::to_vec(&a).unwrap();
        assert_eq!(read_alert(None, &bytes).unwrap(), a);
        assert!(read_alert(None, b"{}")
            .unwrap_err()
            .starts_with("not an alert record"));
        assert!(read_alert(None, b"\x00\x00")
            .unwrap_err()
            .starts_with("not a JSON alert"));
    }
}
