//! How processor state maps to store entries: window accumulators under [`window_key`]s, and
//! per-channel state machines (detectors, recommenders) under tagged channel keys, both as JSON.
//! One place for the encoding every processor kind shares, in both directions.

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{parse_window_key, window_key, StateWrite};
use crate::window::{Aggregate, WindowOperator, WindowState};

/// Tag byte that starts the state keys a kind keeps beside its windows (window keys start with a
/// channel name, never with a control byte).
pub const KIND_STATE_TAG: u8 = 1;

/// `[KIND_STATE_TAG, tag, rest...]`: the key of a kind's own state entry.
pub fn tagged(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(rest.len() + 2);
    k.push(KIND_STATE_TAG);
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

/// Marks the value of a closed window kept for late records: `R<revision> <accumulator JSON>`
/// (JSON never starts with `R`, so entries written before allowed lateness existed read the same).
const CLOSED: u8 = b'R';

/// The writes for the windows `op` changed since the last call: each under `prefix` followed by its
/// [`window_key`], the accumulator as JSON (after `R<revision> ` for a closed window kept for late
/// records), `None` for a window dropped or expired.
pub fn window_writes<A, O>(op: &mut O, prefix: &[u8]) -> Vec<StateWrite>
where
    A: Aggregate,
    O: WindowOperator<A> + ?Sized,
{
    op.take_dirty()
        .into_iter()
        .map(|(key, start, stored)| {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&window_key(&key, start));
            let value = stored.map(|(acc, revision)| {
                let mut v = match revision {
                    Some(r) => format!("{}{r} ", CLOSED as char).into_bytes(),
                    None => Vec::new(),
                };
                serde_json::to_writer(&mut v, &acc).expect("accumulators serialize");
                v
            });
            (k, value)
        })
        .collect()
}

/// Restores one window entry into `op`; `key` is the [`window_key`] (without any prefix).
pub fn restore_window<A, O>(op: &mut O, key: &[u8], value: &[u8]) -> Result<(), String>
where
    A: Aggregate,
    O: WindowOperator<A> + ?Sized,
{
    let (key, start_ms) = parse_window_key(key).ok_or_else(|| "bad window key".to_owned())?;
    let (revision, json) = match value.split_first() {
        Some((&CLOSED, rest)) => {
            let space = rest.iter().position(|&b| b == b' ');
            let parsed = space.and_then(|at| {
                let r = std::str::from_utf8(&rest[..at]).ok()?.parse::<u32>().ok()?;
                Some((Some(r), &rest[at + 1..]))
            });
            parsed.ok_or_else(|| format!("window of {key}: bad revision"))?
        }
        _ => (None, value),
    };
    let acc = serde_json::from_slice(json).map_err(|e| format!("window of {key}: {e}"))?;
    op.restore(WindowState {
        key,
        start_ms,
        acc,
        revision,
    });
    Ok(())
}

/// The writes for the channels in `dirty` (emptied): each channel's state in `states` under
/// `tagged(tag, channel)`, `None` for a channel no longer held.
pub fn channel_writes<S: Serialize>(
    states: &HashMap<String, S>,
    dirty: &mut BTreeSet<String>,
    tag: u8,
) -> Vec<StateWrite> {
    std::mem::take(dirty)
        .into_iter()
        .map(|channel| {
            let value = states
                .get(&channel)
                .map(|s| serde_json::to_vec(s).expect("channel state serializes"));
            (tagged(tag, channel.as_bytes()), value)
        })
        .collect()
}

/// Restores one channel's state: `channel` is the key after its tag.
pub fn restore_channel<S: DeserializeOwned>(
    states: &mut HashMap<String, S>,
    channel: &[u8],
    value: &[u8],
) -> Result<(), String> {
    let channel =
        String::from_utf8(channel.to_vec()).map_err(|_| "channel key is not UTF-8".to_owned())?;
    let state = serde_json::from_slice(value).map_err(|e| format!("state of {channel}: {e}"))?;
    states.insert(channel, state);
    Ok(())
}
