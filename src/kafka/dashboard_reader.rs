//! The dashboard's reader: follows the result topics on every partition (assigned by hand, since
//! every dashboard shows everything; its group id only names it and it commits nothing), from the
//! beginning or a look-back, decodes each value (Avro through the registry, or JSON) and applies it
//! to the live board. A topic that does not exist yet is looked for again every [`RECHECK`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::{KafkaError, KafkaSettings};
use crate::avro::value_decoder::decode_avro_or_json;
use crate::avro::RegistryDecoder;
use crate::dashboard::{BoardWriter, Feed};

/// How often topics that do not exist are looked for again.
pub const RECHECK: Duration = Duration::from_secs(10);
/// Records applied to the board at once (one push to the page per batch at most).
const BATCH: usize = 2_000;

/// Where the reader starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record.
    Beginning,
    /// The first record whose timestamp is at most this long before the reader's start.
    LookBack(Duration),
}

/// What the reader has done, for its log line and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReaderStats {
    /// Records applied to the board.
    pub applied: u64,
    /// Records the board did not show (undecodable or lacking a field), each logged.
    pub unshown: u64,
}

/// Reads `topics` into `board` until `stop` is set.
pub fn follow(
    settings: &KafkaSettings,
    group: &str,
    topics: &[(Feed, String)],
    start: StartAt,
    decoder: Option<RegistryDecoder>,
    board: &dyn BoardWriter,
    stop: &AtomicBool,
) -> Result<ReaderStats, KafkaError> {
    let consumer: BaseConsumer = settings
        .consumer_config(group)
        .create()
        .map_err(KafkaError::Client)?;
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let by_topic: BTreeMap<&str, Feed> = topics.iter().map(|(f, t)| (t.as_str(), *f)).collect();
    let mut assigned: BTreeMap<(String, i32), Offset> = BTreeMap::new();
    let mut stats = ReaderStats::default();
    let mut next_check = Instant::now();
    let mut warned: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_check {
            let added =
                add_new_partitions(&consumer, topics, start, started_ms, &mut assigned, board)?;
            if added {
                // Re-assigning every partition: those already read continue where they are.
                let mut list = TopicPartitionList::new();
                let positions = consumer.position().unwrap_or_default();
                for ((topic, partition), first) in &assigned {
                    let at = positions
                        .find_partition(topic, *partition)
                        .map(|p| p.offset())
                        .filter(|o| matches!(o, Offset::Offset(_)))
                        .unwrap_or(*first);
                    list.add_partition_offset(topic, *partition, at)
                        .map_err(KafkaError::Client)?;
                }
                consumer.assign(&list).map_err(KafkaError::Client)?;
            }
            board.set_ready(Ok(()));
            next_check = Instant::now() + RECHECK;
        }
        let mut batch = Vec::new();
        let mut wait = Duration::from_millis(100);
        while batch.len() < BATCH {
            let Some(message) = consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a result topic; retrying");
                    break;
                }
            };
            let Some(feed) = by_topic.get(message.topic()).copied() else {
                continue;
            };
            match decode_avro_or_json(decoder.as_ref(), message.payload().unwrap_or_default()) {
                Ok(value) => batch.push((feed, value)),
                Err(reason) => {
                    stats.unshown += 1;
                    board.undecodable(feed);
                    if warned < 20 {
                        warned += 1;
                        tracing::warn!(topic = message.topic(), partition = message.partition(),
                            offset = message.offset(), %reason, "a result record the dashboard cannot show");
                    }
                }
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            let unshown = board.apply(batch);
            stats.applied += n - unshown.len() as u64;
            stats.unshown += unshown.len() as u64;
            for e in unshown {
                if warned < 20 {
                    warned += 1;
                    tracing::warn!(error = %e, "a result record the dashboard cannot show");
                }
            }
        }
    }
    Ok(stats)
}

/// Looks up every topic not assigned yet, records whether it exists, and adds its partitions at
/// their start offsets to `assigned`; true when partitions were added.
fn add_new_partitions(
    consumer: &BaseConsumer,
    topics: &[(Feed, String)],
    start: StartAt,
    started_ms: i64,
    assigned: &mut BTreeMap<(String, i32), Offset>,
    board: &dyn BoardWriter,
) -> Result<bool, KafkaError> {
    let mut added = false;
    for (feed, topic) in topics {
        if assigned.keys().any(|(t, _)| t == topic) {
            continue;
        }
        let metadata = match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(%topic, error = %e, "cannot read a result topic's metadata; retrying");
                continue;
            }
        };
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        board.set_topic_exists(*feed, !partitions.is_empty());
        if partitions.is_empty() {
            tracing::info!(%topic, feed = %feed, "result topic absent; its view says so (looked for again every 10 s)");
            continue;
        }
        let mut list = TopicPartitionList::new();
        for p in &partitions {
            let at = match start {
                StartAt::Beginning => Offset::Beginning,
                StartAt::LookBack(d) => Offset::Offset(started_ms - d.as_millis() as i64),
            };
            list.add_partition_offset(topic, *p, at)
                .map_err(KafkaError::Client)?;
        }
        if let StartAt::LookBack(_) = start {
            list = consumer
                .offsets_for_times(list, Duration::from_secs(10))
                .map_err(KafkaError::Client)?;
        }
        for e in list.elements() {
            // No record that recent: start at the end (an invalid offset from the lookup).
            let at = match e.offset() {
                Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                Offset::Beginning => Offset::Beginning,
                _ => Offset::End,
            };
            assigned.insert((topic.clone(), e.partition()), at);
        }
        tracing::info!(%topic, feed = %feed, partitions = partitions.len(), "reading result topic");
        added = true;
    }
    Ok(added)
}
