//! The polling loop of `chatpulse monitor`: every interval, Get Users for logins without an id yet,
//! Get Streams for all, follower totals when a user token is given, then one snapshot per channel to
//! `twitch.streams` (key = channel), starts and ends marked. A failed poll is logged and retried at the
//! next interval; refused credentials stop the loop, and a stop ends any wait, a rate limit's too.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;

use super::client::{now_ms, HelixClient};
use super::snapshot::{LiveTracker, StreamSnapshot};
use super::snapshot_sink::{SinkOptions, SnapshotSink};
use super::HelixError;
use crate::time::civil::parse_timestamp_ms;

/// How to run the monitor.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// Channel logins to watch.
    pub channels: Vec<String>,
    /// Time between polls.
    pub interval: Duration,
    /// Where the snapshots go.
    pub sink: SinkOptions,
}

/// What a monitor run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorStats {
    /// Polls completed.
    pub polls: u64,
    /// Polls that failed.
    pub failed_polls: u64,
    /// Snapshots produced.
    pub snapshots: u64,
}

/// Polls until `stop` turns true; errors only when Twitch refuses the app credentials or Kafka fails.
pub async fn run_monitor(
    mut client: HelixClient,
    options: MonitorOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<MonitorStats, HelixError> {
    let mut sink = SnapshotSink::connect(&options.sink, &stop).await?;
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut tracker = LiveTracker::new();
    let mut stats = MonitorStats::default();
    loop {
        // A poll may wait out a rate limit (a minute at most): stopping ends that wait too.
        let polled = tokio::select! {
            polled = poll(&mut client, &options.channels, &mut ids) => polled,
            _ = stop.wait_for(|s| *s) => return Ok(stats),
        };
        match polled {
            Ok(mut snapshots) => {
                stats.polls += 1;
                for s in &mut snapshots {
                    tracker.mark(s);
                    if let Some(event) = s.event {
                        tracing::info!(channel = %s.channel, ?event, "stream state changed");
                    }
                    sink.send(s).await?;
                    stats.snapshots += 1;
                }
                // Every snapshot of a poll is acknowledged before the next poll.
                sink.flush().await?;
            }
            Err(HelixError::Credentials(why)) => return Err(HelixError::Credentials(why)),
            Err(e) => {
                stats.failed_polls += 1;
                tracing::warn!(error = %e, "poll failed: retrying at the next interval");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(options.interval) => {}
            _ = stop.wait_for(|s| *s) => return Ok(stats),
        }
    }
}

/// One poll: a snapshot per channel (without its event yet).
async fn poll(
    client: &mut HelixClient,
    channels: &[String],
    ids: &mut BTreeMap<String, String>,
) -> Result<Vec<StreamSnapshot>, HelixError> {
    let unknown: Vec<String> = channels
        .iter()
        .filter(|c| !ids.contains_key(*c))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        ids.extend(client.users(&unknown).await?);
    }
    let live = client.streams(channels).await?;
    let ts = now_ms();
    let mut snapshots = Vec::with_capacity(channels.len());
    for channel in channels {
        let user_id = ids.get(channel).cloned();
        let followers = match (&user_id, client.has_user_token()) {
            (Some(id), true) => Some(client.follower_total(id).await?),
            _ => None,
        };
        let stream = live.get(channel);
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        snapshots.push(StreamSnapshot {
            channel: channel.clone(),
            user_id,
            live: stream.is_some(),
            viewers: stream.map_or(0, |s| s.viewer_count),
            game: stream.and_then(|s| nonempty(&s.game_name)),
            title: stream.and_then(|s| nonempty(&s.title)),
            started_at: stream.and_then(|s| parse_timestamp_ms(&s.started_at, 0)),
            language: stream.and_then(|s| nonempty(&s.language)),
            followers,
            ts,
            event: None,
        });
    }
    Ok(snapshots)
}
