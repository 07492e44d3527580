//! The chat client: spreads the wanted channels over connections of at most N channels, starts a
//! [`Connection`] per group, moves channels when the wanted set changes, and stops them all on request.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::channels::assign;
use super::connection::{Connection, SharedLimits};
use super::{IrcConfig, IrcError};
use crate::ingest::LineQueue;

/// Reads the channels in `channels` (which may change while running) until `stop` turns true.
/// Returns an error only when Twitch refuses the login.
pub async fn run_client(
    config: IrcConfig,
    mut channels: watch::Receiver<BTreeSet<String>>,
    lines: LineQueue,
    mut stop: watch::Receiver<bool>,
) -> Result<(), IrcError> {
    let config = Arc::new(config);
    let limits = SharedLimits::new(&config);
    let mut assignment: Vec<BTreeSet<String>> = Vec::new();
    let mut senders: Vec<watch::Sender<BTreeSet<String>>> = Vec::new();
    let mut tasks = JoinSet::new();
    let mut watching = true;
    let result = loop {
        let wanted = channels.borrow_and_update().clone();
        assignment = assign(&wanted, config.channels_per_connection, &assignment);
        for (index, set) in assignment.iter().enumerate() {
            if let Some(tx) = senders.get(index) {
                tx.send_if_modified(|old| {
                    let changed = old != set;
                    old.clone_from(set);
                    changed
                });
                continue;
            }
            let (tx, rx) = watch::channel(set.clone());
            senders.push(tx);
            let connection = Connection {
                index,
                config: config.clone(),
                limits: limits.clone(),
                lines: lines.clone(),
            };
            tasks.spawn(connection.run(rx, stop.clone()));
            tracing::info!(
                connection = index,
                channels = set.len(),
                "connection started"
            );
        }
        tokio::select! {
            changed = channels.changed(), if watching => {
                // The channel list's owner went away: keep the current channels.
                watching = changed.is_ok();
            }
            _ = stop.wait_for(|s| *s) => break Ok(()),
            Some(done) = tasks.join_next() => match done {
                Ok(Err(e)) => break Err(e),
                Ok(Ok(())) => {}
                Err(e) => tracing::error!(error = %e, "a connection task failed"),
            },
        }
    };
    if result.is_err() {
        tasks.abort_all();
    }
    while tasks.join_next().await.is_some() {}
    result
}
