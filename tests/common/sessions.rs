//! Chatter sessions by brute force, for the session-window tests: a chat message's time and sender
//! read without the chat model, and a sessionizer that sorts each chatter's message times and cuts
//! where two neighbours are more than the gap apart.

use std::collections::{BTreeMap, BTreeSet};

/// A session as compared: channel, user, first message, last message, messages.
pub type Session = (String, String, i64, i64, u64);

/// The message time (`tmi-sent-ts`) and `(channel, sender)` of a canonical chat line, read without
/// the chat model; `None` for lines that are not chat messages.
pub fn time_and_key(line: &str) -> Option<(i64, (String, String))> {
    let (tags, rest) = line.split_once(' ')?;
    let ts = tags
        .trim_start_matches('@')
        .split(';')
        .find_map(|kv| kv.strip_prefix("tmi-sent-ts="))?
        .parse()
        .ok()?;
    let user = rest.strip_prefix(':')?.split_once('!')?.0.to_lowercase();
    let channel = rest
        .split_once(" PRIVMSG #")?
        .1
        .split_once(' ')?
        .0
        .to_owned();
    Some((ts, (channel, user)))
}

/// The message times per `(channel, sender)` of the chat messages among `lines`.
pub fn message_times_of(lines: &[String]) -> BTreeMap<(String, String), Vec<i64>> {
    let mut times: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for (ts, key) in lines.iter().filter_map(|l| time_and_key(l)) {
        times.entry(key).or_default().push(ts);
    }
    times
}

/// The brute-force sessionizer: each chatter's times sorted, cut where a neighbour is more than
/// `gap` after the previous one.
pub fn sessionize(times: &BTreeMap<(String, String), Vec<i64>>, gap: i64) -> BTreeSet<Session> {
    let mut out = BTreeSet::new();
    for ((channel, user), ts) in times {
        let mut ts = ts.clone();
        ts.sort_unstable();
        let (mut start, mut end, mut n) = (ts[0], ts[0], 0);
        for t in ts {
            if t - end > gap {
                out.insert((channel.clone(), user.clone(), start, end, n));
                (start, n) = (t, 0);
            }
            end = t;
            n += 1;
        }
        out.insert((channel.clone(), user.clone(), start, end, n));
    }
    out
}
