//! The Kafka edge: client construction ([`client`]), the archive's consumer ([`archive`]), topic
//! administration ([`topics`]), changelog restore ([`restore`]), the consume-process-produce loop
//! that runs a topology ([`runner`]), the static group membership that makes restarts quick
//! ([`membership`]), the watch for a takeover the coordinator left unfinished ([`group_watch`])
//! and the directory of instances for interactive queries ([`instances`]).
//! Everything that talks to a broker goes through here.

pub mod archive;
pub mod client;
pub mod dashboard_reader;
pub mod global_table;
pub mod group_watch;
pub mod instances;
pub mod membership;
pub mod restore;
pub mod runner;
pub mod sink_encoders;
pub mod topics;

pub use client::KafkaSettings;

use rdkafka::types::RDKafkaErrorCode;

/// Failures talking to Kafka, each saying what to check.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// A client call failed.
    #[error("Kafka: {0} (check --brokers and that the cluster is reachable)")]
    Client(rdkafka::error::KafkaError),
    /// A topic the run reads does not exist.
    #[error("topic {0:?} does not exist: create it, or check the topology's source topic")]
    MissingTopic(String),
    /// The topology's input topics cannot be read by one consumer group as one set of tasks.
    #[error("{0}")]
    Inputs(String),
    /// Creating a topic failed.
    #[error("cannot create topic {topic:?}: {code} (create it by hand or grant CreateTopics)")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
    /// Records could not be delivered.
    #[error(
        "{0} record(s) could not be delivered, first: {1} (check the broker and topic permissions)"
    )]
    Delivery(usize, String),
    /// Reading a partition made no progress in time.
    #[error("{what}: nothing arrived within {after:?} (check that the broker is up and serves the topic)")]
    Stalled {
        /// What was being read.
        what: String,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A sink's schema could not be loaded or registered.
    #[error(transparent)]
    Sink(#[from] sink_encoders::SinkError),
    /// Restored state could not be read.
    #[error(transparent)]
    Process(#[from] crate::processor::ProcessError),
}

impl From<rdkafka::error::KafkaError> for KafkaError {
    /// Keeps the error, except the value of a refused secret property (librdkafka's config errors
    /// quote it: `ssl.key.password hunter2`), which becomes `***`.
    fn from(e: rdkafka::error::KafkaError) -> Self {
        use rdkafka::error::KafkaError::ClientConfig;
        KafkaError::Client(match e {
            ClientConfig(code, desc, key, _) if crate::secret::is_secret_property(&key) => {
                ClientConfig(code, desc, key, crate::secret::REDACTED.to_owned())
            }
            other => other,
        })
    }
}
