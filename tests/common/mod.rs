//! Helpers shared by the test files that read the real chat data sets and the tagged fixtures.
#![allow(dead_code)]

use std::path::PathBuf;

use chatpulse::time::clock::{Clock, SystemClock};
use chatpulse::topology::driver::TestDriver;
use chatpulse::topology::Topology;

pub mod boards;
pub mod minutes;
pub mod sessions;

/// The folder of the real Twitch chat data sets: `CHATPULSE_DATA_DIR`, else
/// `../shared/data/twitch-chat` beside the repository. Panics with instructions when it is missing,
/// so a test never passes by skipping its data.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("CHATPULSE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/twitch-chat")
        });
    assert!(
        dir.is_dir(),
        "the real chat data sets are not at {}: set CHATPULSE_DATA_DIR to the twitch-chat data folder",
        dir.display()
    );
    dir
}

/// The 110 real tagged fixture lines (Chatterino's snapshots), one per line.
pub const FIXTURES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/irc_event_fixtures.irc.txt"
));

/// The real fixture line of Chatterino's snapshot `name`.
pub fn fixture(name: &str) -> &'static str {
    let index = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/irc_event_fixtures.index.tsv"
    ));
    let number: usize = index
        .lines()
        .skip(1)
        .find_map(|row| {
            let (n, file) = row.split_once('\t')?;
            file.ends_with(&format!("/{name}.json"))
                .then(|| n.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no fixture {name}"));
    FIXTURES.lines().nth(number - 1).unwrap()
}

/// Replaces the value of tag `key` in a tagged line.
pub fn set_tag(line: &str, key: &str, value: &str) -> String {
    let (tags, rest) = line.split_once(' ').unwrap();
    let tags: Vec<String> = tags
        .trim_start_matches('@')
        .split(';')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == key => format!("{k}={value}"),
            _ => kv.to_owned(),
        })
        .collect();
    assert!(
        tags.iter().any(|t| t.starts_with(&format!("{key}="))),
        "{key} not in {line}"
    );
    format!("@{} {rest}", tags.join(";"))
}

/// The fixture lines plus a gift bomb of 5 and its 5 gift lines, derived from the real `sub-gift`
/// fixture (new community gift id, count and recipients): gifted subs must count 6 + 5.
pub fn fixtures_with_a_derived_gift_bomb() -> Vec<String> {
    let real = fixture("sub-gift");
    let mut lines: Vec<String> = FIXTURES.lines().map(str::to_owned).collect();
    lines.push(real.replace(
        "msg-id=subgift;",
        "msg-id=submysterygift;msg-param-mass-gift-count=5;msg-param-community-gift-id=derived;",
    ));
    for i in 0..5 {
        lines.push(
            real.replace(
                "msg-id=subgift;",
                "msg-id=subgift;msg-param-community-gift-id=derived;",
            )
            .replace(
                "msg-param-recipient-name=mr_woodchuck",
                &format!("msg-param-recipient-name=r{i}"),
            ),
        );
    }
    lines
}

/// Runs `lines` through `topology` in memory (the test driver, wall clock now), committing every
/// `commit_every` lines and at the end, then ends the input.
pub fn run_topology(topology: Topology, lines: &[String], commit_every: usize) -> TestDriver {
    let mut d = TestDriver::new(topology, SystemClock.now_ms());
    for (i, l) in lines.iter().enumerate() {
        d.pipe_line(l);
        if i % commit_every == commit_every - 1 {
            d.commit();
        }
    }
    d.commit();
    d.finish();
    d
}
