//! Topic administration at start-up: the changelog topics (compacted, one partition per input
//! partition), the dead-letter topic and missing sink topics are created; existing ones are kept.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::Message;

use super::client::ReadToEnd;
use super::{KafkaError, KafkaSettings};

/// A topic to make sure of.
#[derive(Debug, Clone)]
pub struct TopicPlan {
    /// Its name.
    pub name: String,
    /// Partitions when created.
    pub partitions: i32,
    /// Replication factor when created (-1: the broker's default).
    pub replication_factor: i32,
    /// Configs when created (for example `cleanup.policy=compact`).
    pub configs: Vec<(&'static str, String)>,
}

/// The log end offset of `topic`'s `partition` (the offset its next record will get), from the
/// fetch path. ListOffsets is only the starting point: tansu 0.6 answers it with the last batch's
/// base offset + 1, so the batch from there is read to the partition-EOF event, whose position is
/// the fetch response's high watermark.
pub fn end_offset(
    settings: &KafkaSettings,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<i64, KafkaError> {
    let consumer: BaseConsumer<ReadToEnd> = settings
        .end_reader_config("chatpulse-end-offset")
        .create_with_context(ReadToEnd)?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
    let from = (high - 1).max(low);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))?;
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + timeout;
    let mut end = from.max(high);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(msg)) => end = end.max(msg.offset() + 1),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok(end),
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Err(KafkaError::Stalled {
        what: format!("finding the end of {topic} partition {partition}"),
        after: timeout,
    })
}

/// Number of partitions of `topic`, from the cluster's metadata.
pub fn partition_count(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<i32, KafkaError> {
    let consumer: BaseConsumer = settings.admin_config().create()?;
    let md = consumer.fetch_metadata(Some(topic), timeout)?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| KafkaError::MissingTopic(topic.to_owned()))?;
    if t.error().is_some() || t.partitions().is_empty() {
        return Err(KafkaError::MissingTopic(topic.to_owned()));
    }
    Ok(t.partitions().len() as i32)
}

/// Creates `name` (no special configs) if it does not exist yet.
pub async fn ensure_topic(
    settings: &KafkaSettings,
    name: &str,
    partitions: i32,
    replication_factor: i32,
) -> Result<(), KafkaError> {
    let plan = TopicPlan {
        name: name.to_owned(),
        partitions,
        replication_factor,
        configs: vec![],
    };
    ensure_topics(settings, &[plan]).await
}

/// Creates every topic of `plans` that does not exist yet.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    plans: &[TopicPlan],
) -> Result<(), KafkaError> {
    if plans.is_empty() {
        return Ok(());
    }
    // Ask only for what is missing: some brokers refuse CreateTopics even for existing topics.
    let probe: BaseConsumer = settings.admin_config().create()?;
    let md = probe.fetch_metadata(None, Duration::from_secs(30))?;
    let existing: Vec<&str> = md
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.name())
        .collect();
    let missing: Vec<&TopicPlan> = plans
        .iter()
        .filter(|p| !existing.contains(&p.name.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = settings.admin_config().create()?;
    let topics: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|p| {
            let mut t = NewTopic::new(
                &p.name,
                p.partitions,
                TopicReplication::Fixed(p.replication_factor),
            );
            for (k, v) in &p.configs {
                t = t.set(k, v);
            }
            t
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(topics.iter(), &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}
