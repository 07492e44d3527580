//! Which channels to read and on which connection: channel lists as users write them (flags or a
//! file, one or more names a line, `#` optional, `# comment` lines), and a stable spread of channels
//! over connections of at most N channels each.

use std::collections::BTreeSet;

/// Normalises a channel name: trimmed, lowercase, without `#`; `None` if it is not a valid login
/// (1 to 25 ASCII letters, digits or underscores).
pub fn normalize(name: &str) -> Option<String> {
    let name = name.trim().trim_start_matches('#').to_ascii_lowercase();
    let valid = (1..=25).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some(name)
}

/// The channels of a channels file: names separated by whitespace or commas; a line whose first
/// word is `#` alone or starts with `//` is a comment. Returns the channels and the invalid words.
pub fn parse_channels(text: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut channels = BTreeSet::new();
    let mut invalid = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line == "#" || line.starts_with("# ") || line.starts_with("//") {
            continue;
        }
        for word in line.split(|c: char| c.is_whitespace() || c == ',') {
            if word.is_empty() {
                continue;
            }
            match normalize(word) {
                Some(c) => {
                    channels.insert(c);
                }
                None => invalid.push(word.to_owned()),
            }
        }
    }
    (channels, invalid)
}

/// Spreads `wanted` over connections of at most `per_connection` channels, keeping every channel
/// that stays on the connection it is on (`current`) so changes cause no needless PART/JOIN. New
/// channels fill the emptiest connections first; connections are added when all are full, never
/// removed (an emptied connection idles until channels come back).
pub fn assign(
    wanted: &BTreeSet<String>,
    per_connection: usize,
    current: &[BTreeSet<String>],
) -> Vec<BTreeSet<String>> {
    let per = per_connection.max(1);
    let mut out: Vec<BTreeSet<String>> = current
        .iter()
        .map(|set| set.intersection(wanted).cloned().collect())
        .collect();
    let placed: BTreeSet<&String> = out.iter().flatten().collect();
    let new: Vec<String> = wanted
        .iter()
        .filter(|c| !placed.contains(c))
        .cloned()
        .collect();
    for channel in new {
        let slot = out
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len() < per)
            .min_by_key(|(_, s)| s.len())
            .map(|(i, _)| i);
        match slot {
            Some(i) => {
                out[i].insert(channel);
            }
            None => out.push([channel].into()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn files_allow_hashes_commas_and_comments() {
        let (c, bad) = parse_channels("# my channels\nNymn, #forsen\n\n// old\nxqc  bad-name\n");
        assert_eq!(c, set(&["forsen", "nymn", "xqc"]));
        assert_eq!(bad, ["bad-name"]);
    }

    #[test]
    fn channels_stay_where_they_are_and_new_ones_fill_or_open_connections() {
        let first = assign(&set(&["a", "b", "c"]), 2, &[]);
        assert_eq!(first, [set(&["a", "b"]), set(&["c"])]);
        // b leaves, d and e arrive: a and c do not move.
        let second = assign(&set(&["a", "c", "d", "e"]), 2, &first);
        assert!(second[0].contains("a") && second[1].contains("c"));
        assert!(second.iter().all(|s| s.len() <= 2));
        assert_eq!(second.iter().map(BTreeSet::len).sum::<usize>(), 4);
        // Everything removed: connections stay, empty.
        assert!(assign(&BTreeSet::new(), 2, &second)
            .iter()
            .all(BTreeSet::is_empty));
    }
}
