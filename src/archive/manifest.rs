//! The intent record of one Kafka partition's batch: written before the batch's files, it lists
//! them, so that a restart can delete the files of a batch whose offsets were never committed
//! (README "Archive", exactly once). Pure: encoding and the recovery decision.

use serde::{Deserialize, Serialize};

/// The batch a partition is writing, or last wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The consumer group whose committed offsets this batch is measured against.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The Kafka partition.
    pub partition: i32,
    /// The batch's first offset.
    pub start_offset: i64,
    /// The offset after its last record: what is committed once every file is durable.
    pub end_offset: i64,
    /// The batch's files, relative to the store's root.
    pub files: Vec<String>,
}

/// What a newly assigned partition must do before it writes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing: no manifest, or its batch is committed.
    Clean,
    /// Its batch was not committed: delete these files (some may not exist), then read from the
    /// committed offset.
    Abandon(Vec<String>),
}

impl Manifest {
    /// The path of `partition`'s manifest of `topic`, relative to the root: outside the topic's
    /// data directory, so readers globbing `<topic>/**/*.parquet` never see it.
    pub fn path(topic: &str, partition: i32) -> String {
        format!(
            "_chatpulse_archive/{}/partition={partition}.json",
            super::layout::escape(topic)
        )
    }

    /// The bytes stored.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest serializes")
    }

    /// Reads stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// What to do with this manifest when the group's committed offset is `committed` (`None`:
    /// nothing committed).
    pub fn recovery(&self, committed: Option<i64>) -> Recovery {
        match committed {
            Some(c) if c >= self.end_offset => Recovery::Clean,
            _ => Recovery::Abandon(self.files.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
            start_offset: 10,
            end_offset: 20,
            files: vec!["t/dt=1970-01-01/hour=00/t+1+10.parquet".into()],
        }
    }

    #[test]
    fn round_trips_and_lives_outside_the_data_directory() {
        let m = manifest();
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(
            Manifest::path("t", 1),
            "_chatpulse_archive/t/partition=1.json"
        );
    }

    #[test]
    fn an_uncommitted_batch_is_abandoned_and_a_committed_one_kept() {
        let m = manifest();
        assert_eq!(m.recovery(Some(20)), Recovery::Clean);
        assert_eq!(m.recovery(Some(25)), Recovery::Clean);
        assert_eq!(m.recovery(Some(10)), Recovery::Abandon(m.files.clone()));
        assert_eq!(m.recovery(None), Recovery::Abandon(m.files.clone()));
    }
}
