//! Where a task's results go, for every runner: [`route`] takes a [`TaskOutput`]'s records and hands
//! each to a [`Destination`] with its topic (a result to its sink's topic, a dead letter to the DLQ
//! topic, a late record to the late topic). Pure: the Kafka producer, the offline files and the test
//! driver are destinations, and this module knows none of them.

use serde_json::Value;

use super::task::{DeadLetter, LateRecord, TaskOutput};
use super::validate::Topology;
use crate::processor::Output;

/// Where a task's results go: one call per record, in the order the task produced them.
pub trait Destination {
    /// Why a record could not be taken.
    type Error;
    /// A result of sink `output.sink`, for that sink's topic `topic`.
    fn output(&mut self, topic: &str, output: Output) -> Result<(), Self::Error>;
    /// A record that could not be processed, for the dead-letter topic `topic`.
    fn dead_letter(&mut self, topic: &str, dead: DeadLetter) -> Result<(), Self::Error>;
    /// A record past grace and allowed lateness, for the topology's late topic `topic`.
    fn late(&mut self, topic: &str, late: LateRecord) -> Result<(), Self::Error>;
}

/// Moves the results, dead letters and late records of `out` to `to`, in that order, each with the
/// topic `topology` gives it. The counters of `out` (`processed`, `windows_closed`) stay for the caller.
pub fn route<D: Destination + ?Sized>(
    topology: &Topology,
    out: &mut TaskOutput,
    to: &mut D,
) -> Result<(), D::Error> {
    for o in out.outputs.drain(..) {
        to.output(&topology.sinks[o.sink].topic, o)?;
    }
    if !out.dead_letters.is_empty() {
        let dlq = topology.dlq_topic();
        for d in out.dead_letters.drain(..) {
            to.dead_letter(&dlq, d)?;
        }
    }
    for l in out.late.drain(..) {
        to.late(&topology.late_topic, l)?;
    }
    Ok(())
}

/// Keeps everything in memory (tests, the demo); never fails (its error type is that of the
/// offline runner's file destinations).
#[derive(Debug, Default)]
pub struct MemoryDestination {
    /// `(topic, key, value, ts)` in order.
    pub outputs: Vec<(String, String, Value, i64)>,
    /// Dead letters.
    pub dead_letters: Vec<DeadLetter>,
    /// Late records.
    pub late: Vec<LateRecord>,
}

impl Destination for MemoryDestination {
    type Error = std::io::Error;

    fn output(&mut self, topic: &str, o: Output) -> Result<(), Self::Error> {
        self.outputs
            .push((topic.to_owned(), o.key, o.value, o.ts_ms));
        Ok(())
    }
    fn dead_letter(&mut self, _topic: &str, dead: DeadLetter) -> Result<(), Self::Error> {
        self.dead_letters.push(dead);
        Ok(())
    }
    fn late(&mut self, _topic: &str, late: LateRecord) -> Result<(), Self::Error> {
        self.late.push(late);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::processor::Late;

    #[test]
    fn results_go_to_their_sink_topics_and_every_record_leaves_the_output() {
        let topology = Topology::parse(include_str!("../../topologies/engagement.toml")).unwrap();
        let dead = DeadLetter {
            source_topic: "in".into(),
            partition: 0,
            offset: 3,
            reason: "not UTF-8".into(),
            key: None,
            value: vec![0xff],
        };
        let late = LateRecord {
            late: Late {
                processor: "minutes".into(),
                partition: 0,
                offset: 4,
                ts_ms: 1,
                watermark_ms: 60_000,
            },
            key: None,
            value: b"line".to_vec(),
        };
        let mut out = TaskOutput {
            outputs: vec![Output {
                sink: 1,
                key: "nymn".into(),
                value: json!({"messages": 1}),
                ts_ms: 3_600_000,
            }],
            dead_letters: vec![dead.clone()],
            late: vec![late.clone()],
            processed: 5,
            windows_closed: 1,
        };
        let mut to = MemoryDestination::default();
        route(&topology, &mut out, &mut to).unwrap();
        assert_eq!(
            to.outputs,
            vec![(
                "twitch.engagement.hour".to_owned(),
                "nymn".to_owned(),
                json!({"messages": 1}),
                3_600_000
            )]
        );
        assert_eq!(to.dead_letters, vec![dead]);
        assert_eq!(to.late, vec![late]);
        assert!(out.is_empty());
        assert_eq!((out.processed, out.windows_closed), (5, 1));
    }
}
