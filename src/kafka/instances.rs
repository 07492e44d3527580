//! Which instance owns which partition, for interactive queries: every instance started with
//! `--advertised-url` publishes `{url, partitions}` under its instance id to the compacted topic
//! `<application_id>-instances` whenever its assignment changes (and every 10 s), reads everyone's
//! adverts back, and removes its own with a tombstone when it stops. rdkafka does not expose the
//! consumer group's member metadata, where Kafka Streams keeps this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;
use serde::{Deserialize, Serialize};

use super::runner::RunControl;
use super::topics::{ensure_topics, TopicPlan};
use super::{KafkaError, KafkaSettings};
use crate::time::clock::{Clock, SystemClock};

/// The instances topic of an application: `<application_id>-instances`.
pub fn instances_topic(application_id: &str) -> String {
    format!("{application_id}-instances")
}

/// One instance's advert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advert {
    /// The instance id.
    pub instance_id: String,
    /// Where its HTTP server answers queries, as it advertised it.
    pub url: String,
    /// The input partitions it owned when it published this.
    pub partitions: Vec<i32>,
    /// When it published this (epoch ms); the newest claim of a partition wins.
    pub ts_ms: i64,
}

/// Every instance's latest advert, kept up to date by a background thread.
#[derive(Debug, Default)]
pub struct InstanceDirectory {
    own_id: String,
    adverts: Mutex<HashMap<String, Advert>>,
}

impl InstanceDirectory {
    /// Creates the instances topic if needed and starts publishing this instance's assignment (read
    /// from `control`) and reading everyone's, until `control` stops.
    pub fn start(
        settings: &KafkaSettings,
        application_id: &str,
        instance_id: &str,
        url: &str,
        replication_factor: i32,
        control: Arc<RunControl>,
    ) -> Result<Arc<InstanceDirectory>, KafkaError> {
        let topic = instances_topic(application_id);
        let plan = TopicPlan {
            name: topic.clone(),
            partitions: 1,
            replication_factor,
            configs: vec![("cleanup.policy", "compact".to_owned())],
        };
        // On its own thread: the caller may itself be inside a tokio runtime.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio runtime")
                        .block_on(ensure_topics(settings, std::slice::from_ref(&plan)))
                })
                .join()
                .expect("topic creation does not panic")
        })?;
        let producer: BaseProducer = settings.producer_config().create()?;
        let consumer: BaseConsumer = settings
            .consumer_config(&format!("{application_id}-instances-{instance_id}"))
            .create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        let directory = Arc::new(InstanceDirectory {
            own_id: instance_id.to_owned(),
            adverts: Mutex::new(HashMap::new()),
        });
        let publisher = Publisher {
            topic,
            instance_id: instance_id.to_owned(),
            url: url.to_owned(),
            producer,
            consumer,
            directory: directory.clone(),
            control,
        };
        std::thread::Builder::new()
            .name("chatpulse-instances".into())
            .spawn(move || publisher.run())
            .expect("spawn the instances thread");
        Ok(directory)
    }

    /// The other instance that most recently claimed `partition`, if any.
    pub fn owner_of(&self, partition: i32) -> Option<Advert> {
        newest_claim(
            self.adverts.lock().expect("adverts").values(),
            partition,
            &self.own_id,
        )
    }

    /// Every advert read, ordered by instance id.
    pub fn adverts(&self) -> Vec<Advert> {
        let mut all: Vec<Advert> = self
            .adverts
            .lock()
            .expect("adverts")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        all
    }

    fn apply(&self, key: &str, value: Option<&[u8]>) {
        let mut adverts = self.adverts.lock().expect("adverts");
        match value.map(serde_json::from_slice::<Advert>) {
            Some(Ok(advert)) => {
                adverts.insert(key.to_owned(), advert);
            }
            Some(Err(e)) => {
                tracing::warn!(key, error = %e, "ignoring an unreadable instance advert")
            }
            None => {
                adverts.remove(key);
            }
        }
    }
}

/// Among `adverts`, the newest one that claims `partition`, other than `own_id`'s.
pub fn newest_claim<'a>(
    adverts: impl IntoIterator<Item = &'a Advert>,
    partition: i32,
    own_id: &str,
) -> Option<Advert> {
    adverts
        .into_iter()
        .filter(|a| a.instance_id != own_id && a.partitions.contains(&partition))
        .max_by_key(|a| a.ts_ms)
        .cloned()
}

struct Publisher {
    topic: String,
    instance_id: String,
    url: String,
    producer: BaseProducer,
    consumer: BaseConsumer,
    directory: Arc<InstanceDirectory>,
    control: Arc<RunControl>,
}

impl Publisher {
    fn run(self) {
        let mut published: Option<(Vec<i32>, Instant)> = None;
        while !self.control.is_stopping() {
            while let Some(msg) = self.consumer.poll(Duration::from_millis(200)) {
                match msg {
                    Ok(m) => {
                        let key = String::from_utf8_lossy(m.key().unwrap_or_default());
                        self.directory.apply(&key, m.payload());
                    }
                    Err(e) => tracing::warn!(error = %e, "reading instance adverts"),
                }
            }
            let owned = self.control.owned_partitions();
            let due = published
                .as_ref()
                .is_none_or(|(p, at)| *p != owned || at.elapsed() >= Duration::from_secs(10));
            if due {
                let advert = Advert {
                    instance_id: self.instance_id.clone(),
                    url: self.url.clone(),
                    partitions: owned.clone(),
                    ts_ms: SystemClock.now_ms(),
                };
                let value = serde_json::to_vec(&advert).expect("an advert serializes");
                self.send(Some(&value));
                published = Some((owned, Instant::now()));
            }
            self.producer.poll(Duration::ZERO);
        }
        self.send(None);
        let _ = self.producer.flush(Duration::from_secs(5));
    }

    fn send(&self, value: Option<&[u8]>) {
        let mut record = BaseRecord::<str, [u8]>::to(&self.topic).key(&self.instance_id);
        if let Some(v) = value {
            record = record.payload(v);
        }
        if let Err((e, _)) = self.producer.send(record) {
            tracing::warn!(error = %e, "cannot publish this instance's advert");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert(id: &str, partitions: &[i32], ts_ms: i64) -> Advert {
        Advert {
            instance_id: id.into(),
            url: format!("http://{id}:9464"),
            partitions: partitions.to_vec(),
            ts_ms,
        }
    }

    #[test]
    fn the_newest_claim_of_another_instance_wins() {
        let adverts = [
            advert("a", &[0, 1], 10),
            advert("b", &[1], 20),
            advert("me", &[2], 30),
        ];
        assert_eq!(newest_claim(&adverts, 1, "me").unwrap().instance_id, "b");
        assert_eq!(newest_claim(&adverts, 0, "me").unwrap().instance_id, "a");
        assert_eq!(newest_claim(&adverts, 2, "me"), None);
        assert_eq!(newest_claim(&adverts, 3, "me"), None);
    }
}
