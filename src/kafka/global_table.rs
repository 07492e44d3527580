//! Global tables for `run` (`table = { global = true }`, Kafka Streams' `GlobalKTable`): every task
//! reads the whole table, whatever the partitions of its topic. One consumer outside the group reads
//! every partition from the start: to the end before the group's first record, then between polls.
//! There is no changelog: a restart reads the topic again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;

use super::client::ReadToEnd;
use super::topics::partition_count;
use super::{KafkaError, KafkaSettings};
use crate::table::{SharedTable, ValueDecoder, VersionedTable};
use crate::topology::inputs::read_row;
use crate::topology::Topology;

/// Rows applied per table between two polls of the group's consumer.
const ROWS_PER_POLL: usize = 1_000;

/// One global table and its reader.
struct Reader {
    consumer: BaseConsumer<ReadToEnd>,
    state: TableState,
}

/// What a reader keeps besides its consumer.
struct TableState {
    source: usize,
    table: SharedTable,
    partitions: usize,
    /// The newest row time read: history is kept `retention` behind it.
    newest_ms: i64,
    rows: u64,
    unreadable: u64,
}

/// The global tables of a run.
pub struct GlobalTables {
    topology: Arc<Topology>,
    decoder: Option<Arc<dyn ValueDecoder>>,
    readers: Vec<Reader>,
}

impl GlobalTables {
    /// Starts a reader per global table of `topology` and reads each to its end (waiting at most
    /// `stall` for a fetch that brings nothing). Returns the tables, one entry per source, for the
    /// tasks to share.
    pub fn start(
        topology: Arc<Topology>,
        settings: &KafkaSettings,
        decoder: Option<Arc<dyn ValueDecoder>>,
        stall: Duration,
    ) -> Result<(GlobalTables, Vec<Option<SharedTable>>), KafkaError> {
        let mut shared = vec![None; topology.sources.len()];
        let mut readers = Vec::new();
        for (source, plan) in topology.tables.iter().enumerate() {
            let Some(plan) = plan.as_ref().filter(|p| p.global) else {
                continue;
            };
            let topic = &topology.sources[source].topic;
            let partitions = partition_count(settings, topic, Duration::from_secs(30))?;
            let group = format!("{}-global-{}", topology.application_id, topic);
            let consumer: BaseConsumer<ReadToEnd> = settings
                .end_reader_config(&group)
                .create_with_context(ReadToEnd)?;
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions {
                tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            }
            consumer.assign(&tpl)?;
            let table = VersionedTable::shared(plan.retention_ms);
            shared[source] = Some(table.clone());
            readers.push(Reader {
                consumer,
                state: TableState {
                    source,
                    table,
                    partitions: partitions.max(0) as usize,
                    newest_ms: i64::MIN,
                    rows: 0,
                    unreadable: 0,
                },
            });
        }
        let mut tables = GlobalTables {
            topology,
            decoder,
            readers,
        };
        for at in 0..tables.readers.len() {
            tables.bootstrap(at, stall)?;
        }
        Ok((tables, shared))
    }

    /// Reads reader `at` until every partition has reported its end.
    fn bootstrap(&mut self, at: usize, stall: Duration) -> Result<(), KafkaError> {
        let reader = &mut self.readers[at];
        let topic = self.topology.sources[reader.state.source].topic.clone();
        let mut ended = std::collections::BTreeSet::new();
        let mut last_progress = Instant::now();
        while ended.len() < reader.state.partitions {
            let wait = Duration::from_millis(200);
            match reader.read(&self.topology, self.decoder.as_deref(), wait)? {
                Read::Row => last_progress = Instant::now(),
                Read::End(p) => {
                    ended.insert(p);
                    last_progress = Instant::now();
                }
                Read::Nothing if last_progress.elapsed() > stall => {
                    return Err(KafkaError::Stalled {
                        what: format!("reading global table {topic} to its end"),
                        after: stall,
                    })
                }
                Read::Nothing => {}
            }
        }
        let state = &reader.state;
        tracing::info!(table = %topic, rows = state.rows, unreadable = state.unreadable, "global table read");
        Ok(())
    }

    /// Applies the rows that arrived since the last call (at most [`ROWS_PER_POLL`] per table).
    pub fn poll(&mut self) -> Result<(), KafkaError> {
        for reader in &mut self.readers {
            for _ in 0..ROWS_PER_POLL {
                match reader.read(&self.topology, self.decoder.as_deref(), Duration::ZERO)? {
                    Read::Row | Read::End(_) => {}
                    Read::Nothing => break,
                }
            }
            let state = &reader.state;
            state
                .table
                .write()
                .expect("a table lock is never poisoned")
                .expire(state.newest_ms);
        }
        Ok(())
    }
}

/// What one poll of a reader found.
enum Read {
    /// A row (applied, or counted as unreadable).
    Row,
    /// The end of this partition.
    End(i32),
    /// Nothing within the wait.
    Nothing,
}

impl Reader {
    /// Polls once, waiting at most `wait`, and applies the row it brings.
    fn read(
        &mut self,
        topology: &Topology,
        decoder: Option<&dyn ValueDecoder>,
        wait: Duration,
    ) -> Result<Read, KafkaError> {
        match self.consumer.poll(wait) {
            Some(Ok(msg)) => {
                let (key, value) = (msg.key(), msg.payload().unwrap_or(&[]));
                let ts = msg.timestamp().to_millis();
                apply(topology, decoder, &mut self.state, key, value, ts);
                Ok(Read::Row)
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => Ok(Read::End(p)),
            Some(Err(e)) => Err(e.into()),
            None => Ok(Read::Nothing),
        }
    }
}

/// One row into a global table. An unreadable row is logged with its reason (never its value) and
/// counted: a global table has no task, so no dead-letter record to write.
fn apply(
    topology: &Topology,
    decoder: Option<&dyn ValueDecoder>,
    r: &mut TableState,
    key: Option<&[u8]>,
    value: &[u8],
    ts: Option<i64>,
) {
    let spec = &topology.sources[r.source];
    let plan = topology.tables[r.source]
        .as_ref()
        .expect("a global table has a plan");
    match read_row(spec, &plan.key_field, decoder, key, value, ts) {
        Ok(row) => {
            r.newest_ms = r.newest_ms.max(row.ts_ms);
            r.rows += 1;
            r.table
                .write()
                .expect("a table lock is never poisoned")
                .put(&row.key, row.ts_ms, row.value);
        }
        Err(reason) => {
            r.unreadable += 1;
            tracing::warn!(table = %spec.name, reason = %reason, "unreadable global table row skipped");
        }
    }
}
