//! The watched channels file: re-read whenever its modification time or size changes (checked every
//! poll interval), so channels can be added and removed while `chatpulse ingest` runs. A file that
//! cannot be read keeps the last good list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::channels::parse_channels;

/// Reads `path` as a channels file; invalid names are logged and skipped.
pub fn read_channels_file(path: &Path) -> std::io::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path)?;
    let (channels, invalid) = parse_channels(&text);
    if !invalid.is_empty() {
        tracing::warn!(file = %path.display(), ?invalid, "skipping words that are not channel names");
    }
    Ok(channels)
}

/// Publishes `fixed` plus the channels of `path` on `tx`, re-reading the file when it changes, until
/// `stop` turns true.
pub async fn watch_channels_file(
    path: PathBuf,
    fixed: BTreeSet<String>,
    poll: Duration,
    tx: watch::Sender<BTreeSet<String>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen: Option<(SystemTime, u64)> = None;
    loop {
        let stamp = std::fs::metadata(&path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp.is_some() && stamp != seen {
            match read_channels_file(&path) {
                Ok(from_file) => {
                    seen = stamp;
                    let wanted: BTreeSet<String> = fixed.union(&from_file).cloned().collect();
                    tx.send_if_modified(|old| {
                        if *old == wanted {
                            return false;
                        }
                        tracing::info!(file = %path.display(), channels = wanted.len(), "channel list changed");
                        *old = wanted;
                        true
                    });
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read the channels file: keeping the current channels")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
