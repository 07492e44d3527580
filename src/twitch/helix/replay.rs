//! `chatpulse replay --format snapshots`: recorded snapshot logs ([`crate::table::snapshot_log`])
//! produced to `twitch.streams` through monitor's [`SnapshotSink`], paced by their `ts`. A record that
//! cannot be read is skipped, counted and logged with its file and number; an unreadable header stops.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;

use super::snapshot::StreamSnapshot;
use super::snapshot_sink::SnapshotSink;
use super::HelixError;
use crate::ingest::pace::{Pacer, Speed};
use crate::table::snapshot_log::{read_snapshots, SnapshotLogError};

/// Bad records of one file logged one by one; later ones are only counted.
const LOGGED_PER_FILE: u64 = 10;

/// One record of a snapshot log: the file it came from and its value (monitor's shape), or why it
/// cannot be read.
#[derive(Debug, Clone)]
pub struct LoggedRecord {
    /// The file's name, as given.
    pub file: Arc<str>,
    /// The snapshot value, or what is wrong with the record.
    pub row: Result<Value, SnapshotLogError>,
}

/// The records of one snapshot log (CSV or JSON lines), tagged with its file name.
pub fn log_records(
    file: &str,
    reader: impl BufRead + 'static,
) -> impl Iterator<Item = LoggedRecord> {
    let file: Arc<str> = file.into();
    read_snapshots(reader).map(move |row| LoggedRecord {
        file: file.clone(),
        row,
    })
}

/// Where replayed snapshots go: [`SnapshotSink`] on Kafka, or a list in tests.
pub trait SnapshotOutput {
    /// Hands one snapshot over (it may still be in flight).
    fn send(&mut self, snapshot: &StreamSnapshot) -> impl Future<Output = Result<(), HelixError>>;
    /// Snapshots acknowledged so far.
    fn acknowledged(&self) -> u64;
    /// Waits until every snapshot sent is acknowledged.
    fn flush(&mut self) -> impl Future<Output = Result<(), HelixError>>;
}

impl SnapshotOutput for SnapshotSink {
    async fn send(&mut self, snapshot: &StreamSnapshot) -> Result<(), HelixError> {
        SnapshotSink::send(self, snapshot).await
    }

    fn acknowledged(&self) -> u64 {
        SnapshotSink::acknowledged(self)
    }

    async fn flush(&mut self) -> Result<(), HelixError> {
        SnapshotSink::flush(self).await
    }
}

/// What a snapshot replay did (so far, when progress is reported).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records read, skipped ones included.
    pub records: u64,
    /// Snapshots handed to the output.
    pub sent: u64,
    /// Snapshots the output acknowledged.
    pub acknowledged: u64,
    /// Records skipped because they could not be read.
    pub skipped: u64,
    /// The `ts` of the last snapshot sent, Unix milliseconds.
    pub event_ms: Option<i64>,
}

/// Why a snapshot replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A file's CSV header cannot be read, so none of its records can.
    #[error("{file}: {source}")]
    Header {
        /// The file.
        file: Arc<str>,
        /// What is wrong with the header.
        source: SnapshotLogError,
    },
    /// Producing failed.
    #[error(transparent)]
    Output(#[from] HelixError),
}

/// Sends every readable record from `records` to `out` in order, each at its `ts` scaled by
/// `speed` from the first one, then waits for the acknowledgements. `progress` sees the counts after
/// every record.
pub async fn replay_snapshots<O: SnapshotOutput>(
    records: &mut mpsc::Receiver<LoggedRecord>,
    out: &mut O,
    speed: Speed,
    progress: &mut dyn FnMut(&ReplayStats),
) -> Result<ReplayStats, ReplayError> {
    let mut pacer = Pacer::new(speed);
    let started = Instant::now();
    let mut stats = ReplayStats::default();
    let mut skipped_of: BTreeMap<Arc<str>, u64> = BTreeMap::new();
    while let Some(LoggedRecord { file, row }) = records.recv().await {
        stats.records += 1;
        let snapshot: StreamSnapshot = match row {
            Ok(value) => {
                serde_json::from_value(value).expect("snapshot log rows have monitor's shape")
            }
            Err(error) if error.record == 0 => {
                return Err(ReplayError::Header {
                    file,
                    source: error,
                })
            }
            Err(error) => {
                stats.skipped += 1;
                let n = skipped_of.entry(file.clone()).or_default();
                *n += 1;
                if *n <= LOGGED_PER_FILE {
                    tracing::warn!(file = %file, record = error.record, reason = %error.reason, "snapshot record skipped");
                }
                if *n == LOGGED_PER_FILE {
                    tracing::warn!(file = %file, "further bad records of this file are counted, not logged");
                }
                progress(&stats);
                continue;
            }
        };
        let wait = pacer.wait(Some(snapshot.ts), started.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        out.send(&snapshot).await?;
        stats.sent += 1;
        stats.event_ms = Some(snapshot.ts);
        stats.acknowledged = out.acknowledged();
        progress(&stats);
    }
    out.flush().await?;
    stats.acknowledged = out.acknowledged();
    for (file, skipped) in skipped_of {
        tracing::warn!(file = %file, skipped, "snapshot records skipped: not readable");
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Keeps what it is sent, with when; acknowledges at flush.
    #[derive(Default)]
    struct Kept {
        sent: Vec<(Instant, StreamSnapshot)>,
        acknowledged: u64,
    }

    impl SnapshotOutput for Kept {
        async fn send(&mut self, snapshot: &StreamSnapshot) -> Result<(), HelixError> {
            self.sent.push((Instant::now(), snapshot.clone()));
            Ok(())
        }

        fn acknowledged(&self) -> u64 {
            self.acknowledged
        }

        async fn flush(&mut self) -> Result<(), HelixError> {
            self.acknowledged = self.sent.len() as u64;
            Ok(())
        }
    }

    /// The records of `files` (name, text) on a channel, as the reader thread sends them.
    fn queued(files: &[(&str, &'static str)]) -> mpsc::Receiver<LoggedRecord> {
        let (tx, rx) = mpsc::channel(1000);
        for (name, text) in files {
            for r in log_records(name, std::io::Cursor::new(text.as_bytes())) {
                tx.try_send(r).unwrap();
            }
        }
        rx
    }

    #[tokio::test]
    async fn bad_records_are_skipped_and_counted_and_the_rest_sent_in_order() {
        let mut rx = queued(&[
            (
                "a.csv",
                "ts,channel,viewers,followers,game,title,started_at,language\n\
                 1000,NymN,10,5,Just Chatting,hi,2024-01-06T16:00:00Z,en\n\
                 2000,nymn,-1,,,,,\n\
                 3000,,3,,,,,\n\
                 4000,nymn,12,,,,,\n",
            ),
            (
                "b.jsonl",
                "{\"ts\":5000,\"channel\":\"forsen\",\"viewers\":7}\nnot json\n",
            ),
        ]);
        let mut out = Kept::default();
        let mut seen = Vec::new();
        let stats = replay_snapshots(&mut rx, &mut out, Speed::AsFastAsPossible, &mut |s| {
            seen.push(*s)
        })
        .await
        .unwrap();
        assert_eq!(
            stats,
            ReplayStats {
                records: 6,
                sent: 3,
                acknowledged: 3,
                skipped: 3,
                event_ms: Some(5000),
            }
        );
        assert_eq!(seen.len(), 6, "progress after every record");
        let got: Vec<(&str, i64, i64, Option<i64>)> = out
            .sent
            .iter()
            .map(|(_, s)| (s.channel.as_str(), s.ts, s.viewers, s.followers))
            .collect();
        assert_eq!(
            got,
            [
                ("nymn", 1000, 10, Some(5)),
                ("nymn", 4000, 12, None),
                ("forsen", 5000, 7, None)
            ]
        );
        let first = &out.sent[0].1;
        assert!(first.live && first.event.is_none() && first.user_id.is_none());
        assert_eq!(first.started_at, Some(1_704_556_800_000));
        assert_eq!(first.game.as_deref(), Some("Just Chatting"));
    }

    #[tokio::test]
    async fn a_file_without_the_columns_stops_the_replay_naming_it() {
        let mut rx = queued(&[("bad.csv", "time,who\n1,a\n")]);
        let mut out = Kept::default();
        let err = replay_snapshots(&mut rx, &mut out, Speed::AsFastAsPossible, &mut |_| {})
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("bad.csv: snapshot record 0:") && text.contains("ts,channel,viewers"),
            "{text}"
        );
        assert!(out.sent.is_empty());
    }

    #[tokio::test]
    async fn snapshots_are_sent_no_earlier_than_their_scaled_time() {
        // Rows 1 s apart at 100x: each at least 10 ms after the previous one's due time.
        let mut rx = queued(&[(
            "paced.csv",
            "ts,channel,viewers\n1000,a,1\n2000,a,2\n3000,b,3\n5000,a,4\n",
        )]);
        let mut out = Kept::default();
        let before = Instant::now();
        replay_snapshots(&mut rx, &mut out, Speed::Factor(100.0), &mut |_| {})
            .await
            .unwrap();
        for (at, s) in &out.sent {
            let due = Duration::from_millis(((s.ts - 1000) / 100) as u64);
            assert!(at.duration_since(before) >= due, "{} sent early", s.ts);
        }
    }
}
