//! The shipped analytics topologies (`topologies/*.toml`) run through the engine's processors on real
//! chat, in memory (the test driver): engagement minutes against an independent brute-force count of
//! each data set's `normalized.jsonl.gz`, spikes in the overwatch and admiralbulldog logs, an injected
//! raid, nightblue3's subscriptions, gifts counted once, ad slots that keep clear of spikes, the silver
//! layer, and identical results after a crash and restore from committed state. Lines that are not
//! real say so where they are built.

mod common;
use common::{
    data_dir, fixture, fixtures_with_a_derived_gift_bomb, run_topology, set_tag, FIXTURES,
};

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::OnceLock;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::time::civil::format_timestamp_ms;
use chatpulse::time::clock::{Clock, SystemClock};
use chatpulse::topology::driver::TestDriver;
use chatpulse::topology::Topology;
use serde_json::Value;

const MINUTE: i64 = 60_000;

fn topology(name: &str) -> Topology {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("topologies/{name}.toml"));
    Topology::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs `lines` through the shipped topology `name`, committing every 1,000 lines.
fn run(name: &str, lines: &[String]) -> TestDriver {
    run_topology(topology(name), lines, 1_000)
}

/// The shipped topology `name` with `from` replaced by `to` in its text.
fn edited(name: &str, from: &str, to: &str) -> Topology {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("topologies/{name}.toml"));
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{name}.toml has no {from}");
    Topology::parse(&text.replace(from, to)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn import_log(rel: &str, format: Format, channel: Option<&str>, offset_h: i32) -> Vec<String> {
    let path = data_dir().join(rel);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let options = ImportOptions {
        channel: channel.map(str::to_owned),
        utc_offset_s: offset_h * 3600,
    };
    import(format, options, BufReader::new(file))
        .filter_map(Result::ok)
        .map(|r| r.line)
        .collect()
}

const BULLDOG: &str = "dev_irc_untagged_admiralbulldog_2019/chat_admiralbulldog_4_30.log";
const SHANGHAI: &str = "dev_irc_untagged_overwatch_2019/shanghai_win.log";
const NIGHTBLUE: &str = "dev_overrustle_nightblue3_2017/twitchlogs_nightblue3_2017-10-25.txt";
const NORTHERNLION: &str = "dev_vodjson_northernlion_2021/1087079172.json";
const NYMN: &str = "dev_irc_tagged_nymn_chatterino/recentmessages-nymn.irc.txt";

fn bulldog() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| import_log(BULLDOG, Format::IrcLogged, None, -7))
}

fn utc(ms: i64) -> String {
    format_timestamp_ms(ms)
}

fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {v}"))
}

// ---------------------------------------------------------------------------------------------
// Engagement

/// Per (channel, minute): messages, distinct chatters, subs, resubs, read straight from the data
/// set's `normalized.jsonl.gz` (records of source file `file`) without the chat model.
type Counts = BTreeMap<(String, i64), (u64, BTreeSet<String>, u64, u64)>;

fn brute_force(folder: &str, file: &str) -> Counts {
    let path = data_dir().join(folder).join("normalized.jsonl.gz");
    let reader = BufReader::new(flate2::read::GzDecoder::new(File::open(path).unwrap()));
    let mut out = Counts::new();
    for line in reader.lines() {
        let r: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if !text(&r, "src").starts_with(&format!("{file}:")) {
            continue;
        }
        let key = (
            text(&r, "channel").to_owned(),
            int(&r, "ts_ms").div_euclid(MINUTE) * MINUTE,
        );
        match text(&r, "kind") {
            "msg" => {
                let slot = out.entry(key).or_default();
                slot.0 += 1;
                slot.1.insert(text(&r, "user").to_owned());
            }
            "sub" => out.entry(key).or_default().2 += 1,
            "resub" => out.entry(key).or_default().3 += 1,
            _ => {}
        }
    }
    out
}

#[test]
fn engagement_minutes_equal_a_brute_force_count_on_every_dev_log() {
    let sets: [(&str, Format, Option<&str>, i32); 5] = [
        (BULLDOG, Format::IrcLogged, None, -7),
        (SHANGHAI, Format::IrcLogged, None, -8),
        (NIGHTBLUE, Format::OverRustle, Some("nightblue3"), 0),
        (NORTHERNLION, Format::VodJson, None, 0),
        (NYMN, Format::Irc, None, 0),
    ];
    for (rel, format, channel, offset) in sets {
        let (folder, file) = rel.split_once('/').unwrap();
        let expected = brute_force(folder, file);
        let d = run("engagement", &import_log(rel, format, channel, offset));
        let minutes = d.output("minutes");
        let got: BTreeMap<(String, i64), &Value> = minutes
            .iter()
            .map(|m| ((text(m, "channel").to_owned(), int(m, "window_start")), m))
            .collect();
        assert_eq!(got.len(), minutes.len(), "{rel}: one result per minute");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{rel}: the same (channel, minute)s"
        );
        for (key, (messages, chatters, subs, resubs)) in &expected {
            let m = got[key];
            assert_eq!(
                (
                    int(m, "messages"),
                    int(m, "unique_chatters"),
                    int(m, "subs"),
                    int(m, "resubs")
                ),
                (
                    *messages as i64,
                    chatters.len() as i64,
                    *subs as i64,
                    *resubs as i64
                ),
                "{rel} {} {}",
                key.0,
                utc(key.1)
            );
            assert_eq!(int(m, "window_end"), key.1 + MINUTE);
            assert_eq!(m["final"], true);
        }
        // The hourly rollup holds the same messages.
        let hour_total: i64 = d.output("hours").iter().map(|h| int(h, "messages")).sum();
        let minute_total: i64 = minutes.iter().map(|m| int(m, "messages")).sum();
        assert_eq!(hour_total, minute_total, "{rel}");
        assert!(d
            .output("hours")
            .iter()
            .all(|h| (0..168).contains(&int(h, "hour_of_week"))
                && int(h, "window_end") - int(h, "window_start") == 3_600_000));
    }
}

// ---------------------------------------------------------------------------------------------
// Spikes

fn spike_ends(d: &TestDriver) -> Vec<Value> {
    d.output("spike-records")
        .into_iter()
        .filter(|s| s["phase"] == "end")
        .collect()
}

#[test]
fn shanghai_dragons_win_is_one_spike_with_its_onset_within_a_minute_of_the_jump() {
    let lines = import_log(SHANGHAI, Format::IrcLogged, None, -8);
    // The jump, independently: the minute with the largest rise in messages over the one before.
    let minutes = run("engagement", &lines).output("minutes");
    let per_min: BTreeMap<i64, i64> = minutes
        .iter()
        .filter(|m| m["channel"] == "overwatchleague")
        .map(|m| (int(m, "window_start"), int(m, "messages")))
        .collect();
    let (jump, _) = per_min
        .iter()
        .zip(per_min.iter().skip(1))
        .map(|((_, a), (t, b))| (*t, b - a))
        .max_by_key(|(_, rise)| *rise)
        .unwrap();
    assert!(per_min[&jump] > 3_000, "{}", per_min[&jump]);

    let d = run("spikes", &lines);
    let big: Vec<Value> = spike_ends(&d)
        .into_iter()
        .filter(|s| {
            s["channel"] == "overwatchleague" && s["rate_per_min"].as_f64().unwrap() > 2_000.0
        })
        .collect();
    assert_eq!(big.len(), 1, "{big:#?}");
    let s = &big[0];
    let onset = int(s, "onset");
    assert!(
        (onset - jump).abs() <= MINUTE,
        "onset {} vs jump minute {}",
        utc(onset),
        utc(jump)
    );
    assert!(int(s, "estimated_moment") < onset && int(s, "detected_at") >= onset);
    assert!(int(s, "unique_chatters") > 500);
    assert!(!s["top_terms"].as_array().unwrap().is_empty());
    // Its onset record came first, with the same onset.
    let onsets: Vec<Value> = d
        .output("spike-records")
        .into_iter()
        .filter(|o| o["phase"] == "onset" && int(o, "onset") == onset)
        .collect();
    assert_eq!(onsets.len(), 1);
}

/// The quietest full hour of admiralbulldog, from the engagement topology's minutes.
fn bulldog_quiet_hour() -> i64 {
    let per_min: BTreeMap<i64, i64> = run("engagement", bulldog())
        .output("minutes")
        .iter()
        .map(|m| (int(m, "window_start"), int(m, "messages")))
        .collect();
    let (first, last) = (
        *per_min.keys().next().unwrap(),
        *per_min.keys().last().unwrap(),
    );
    (first + MINUTE..=last - 60 * MINUTE)
        .step_by(MINUTE as usize)
        .min_by_key(|s| {
            per_min
                .range(*s..s + 60 * MINUTE)
                .map(|(_, n)| n)
                .sum::<i64>()
        })
        .unwrap()
}

#[test]
fn the_quietest_hour_of_admiralbulldog_has_at_most_three_spikes() {
    let quiet = bulldog_quiet_hour();
    let ends = spike_ends(&run("spikes", bulldog()));
    let in_hour = ends
        .iter()
        .filter(|s| (quiet..quiet + 60 * MINUTE).contains(&int(s, "onset")))
        .count();
    assert!(in_hour <= 3, "{in_hour} spikes from {}", utc(quiet));
    // And over the whole 3.2 hours, spikes stay rare events.
    assert!(ends.len() <= 12, "{}", ends.len());
}

#[test]
fn engagement_limits_set_in_the_topology_file_change_the_minutes() {
    let lines = import_log(NYMN, Format::Irc, None, 0);
    let most = |d: &TestDriver| {
        d.output("minutes")
            .iter()
            .map(|m| m["top_emotes"].as_array().unwrap().len())
            .max()
            .unwrap()
    };
    assert_eq!(most(&run("engagement", &lines)), 5);
    let one = edited(
        "engagement",
        "store = \"engagement-minute\"",
        "store = \"engagement-minute\"\noptions = { top_emotes = 1 }",
    );
    assert_eq!(most(&run_topology(one, &lines, 1_000)), 1);
}

#[test]
fn spike_thresholds_set_in_the_topology_file_change_what_is_detected() {
    let default = spike_ends(&run("spikes", bulldog()));
    assert!(!default.is_empty());
    // A lift of 50 times the baseline: nothing in this log is that big a spike.
    let strict = edited(
        "spikes",
        "options = { grace = \"5s\" }",
        "options = { grace = \"5s\", spike.k_on = 50.0 }",
    );
    let strict = spike_ends(&run_topology(strict, bulldog(), 1_000));
    assert!(
        strict.len() < default.len(),
        "{} vs {}",
        strict.len(),
        default.len()
    );
    assert!(strict.is_empty(), "{strict:#?}");
}

/// `lines` plus `extra` in time order.
fn inject(lines: &[String], extra: Vec<String>) -> Vec<String> {
    let ts = |l: &str| {
        chatpulse::chat::ChatEvent::parse(l)
            .ok()
            .and_then(|e| e.ts_ms)
            .unwrap_or(i64::MIN)
    };
    let mut all: Vec<(i64, usize, String)> = lines
        .iter()
        .cloned()
        .chain(extra)
        .enumerate()
        .map(|(i, l)| (ts(&l), i, l))
        .collect();
    all.sort_by_key(|(t, i, _)| (*t, *i));
    all.into_iter().map(|(_, _, l)| l).collect()
}

#[test]
fn a_raid_injected_into_a_real_log_is_a_spike_caused_by_the_raid() {
    let quiet = bulldog_quiet_hour();
    let before = spike_ends(&run("spikes", bulldog()));
    // A calm moment: 20 minutes into the quiet hour, 3 minutes clear of any real spike.
    let mut t = quiet + 20 * MINUTE;
    while before
        .iter()
        .any(|s| int(s, "onset") - 3 * MINUTE <= t && t <= int(s, "end") + 3 * MINUTE)
    {
        t += MINUTE;
    }
    // Derived lines: the real `raid` fixture moved to this channel and time with 1,500 viewers, and
    // 300 messages from 200 raiders over 25 s reusing real message texts of the log.
    let raid = set_tag(
        &set_tag(fixture("raid"), "tmi-sent-ts", &t.to_string()),
        "msg-param-viewerCount",
        "1500",
    )
    .replace("USERNOTICE #pajlada", "USERNOTICE #admiralbulldog");
    let texts: Vec<&str> = bulldog()
        .iter()
        .filter_map(|l| l.split_once(" PRIVMSG #admiralbulldog :").map(|(_, t)| t))
        .take(300)
        .collect();
    let mut extra = vec![raid];
    for (i, text) in texts.iter().enumerate() {
        let ts = t + 2_000 + (i as i64 * 25_000) / 300;
        let user = format!("raider{}", i % 200);
        extra.push(format!(
            "@tmi-sent-ts={ts} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #admiralbulldog :{text}"
        ));
    }
    let d = run("spikes", &inject(bulldog(), extra));
    let after = spike_ends(&d);
    let near: Vec<&Value> = after
        .iter()
        .filter(|s| (int(s, "onset") - t).abs() <= 30_000)
        .collect();
    assert_eq!(
        near.len(),
        1,
        "at {} ({t}): {after:#?} {}",
        utc(t),
        d.dead_letters().len()
    );
    assert_eq!(near[0]["cause"], "raid", "{}", near[0]);
    assert!(
        text(near[0], "description").contains("a raid that brought 1,500 viewers"),
        "{}",
        near[0]
    );
    assert_eq!(after.len(), before.len() + 1);
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

#[test]
fn all_64_sub_notices_of_nightblue3_are_subscription_records_and_trend_totals() {
    let lines = import_log(NIGHTBLUE, Format::OverRustle, Some("nightblue3"), 0);
    let d = run("subscriptions", &lines);
    let subs = d.output("sub-records");
    assert_eq!(subs.len(), 64);
    let kind = |k: &str| subs.iter().filter(|s| s["kind"] == k).count();
    assert_eq!((kind("sub"), kind("resub")), (28, 36));
    assert!(subs
        .iter()
        .all(|s| s["channel"] == "nightblue3" && s["recipient"].is_string() && s["ts"].is_i64()));
    let trend = d.output("trend");
    for size in [5 * MINUTE, 60 * MINUTE] {
        let windows: Vec<&Value> = trend
            .iter()
            .filter(|w| int(w, "window_end") - int(w, "window_start") == size)
            .collect();
        assert_eq!(
            windows.iter().map(|w| int(w, "total")).sum::<i64>(),
            64,
            "{size}"
        );
        assert!(windows
            .iter()
            .all(|w| w["sub_spike"].is_boolean() && w["tiers"].is_object()));
    }
}

#[test]
fn gifted_subs_of_the_tagged_fixtures_are_counted_once() {
    // Independent count: the fixture lines whose msg-id is subgift.
    let raw_gifts = FIXTURES
        .lines()
        .filter(|l| {
            l.split(' ').next().is_some_and(|tags| {
                tags.trim_start_matches('@')
                    .split(';')
                    .any(|kv| kv == "msg-id=subgift")
            })
        })
        .count() as i64;
    assert_eq!(raw_gifts, 6);
    // Derived from the real `sub-gift` fixture: a gift bomb of 5 and its 5 gift lines.
    let lines = fixtures_with_a_derived_gift_bomb();
    let subs = run("subscriptions", &lines).output("sub-records");
    let gift_records = subs
        .iter()
        .filter(|s| s["kind"] == "subgift" || s["kind"] == "submysterygift")
        .count();
    assert_eq!(gift_records, 6 + 1 + 5, "every gift notice is a record");
    let counted: i64 = subs.iter().map(|s| int(s, "counted_gifts")).sum();
    assert_eq!(counted, raw_gifts + 5);
    // Engagement windows need time order (the fixtures come from several years).
    let engagement = run("engagement", &inject(&lines, Vec::new())).output("minutes");
    let gifted: i64 = engagement.iter().map(|m| int(m, "gifted_subs")).sum();
    assert_eq!(gifted, raw_gifts + 5);
}

// ---------------------------------------------------------------------------------------------
// Ad slots

#[test]
fn ad_slots_on_admiralbulldog_avoid_spikes_keep_twitch_rules_and_read_as_sentences() {
    let spikes = spike_ends(&run("spikes", bulldog()));
    let slots = run("ad-slots", bulldog()).output("slots");
    assert!(!slots.is_empty());
    for s in &slots {
        let (start, duration) = (int(s, "start"), int(s, "duration_s") * 1000);
        for k in &spikes {
            let (onset, end) = (int(k, "onset"), int(k, "end"));
            assert!(
                start + duration <= onset || start > end,
                "slot at {} overlaps the spike {}-{}",
                utc(start),
                utc(onset),
                utc(end)
            );
        }
        assert!((30..=180).contains(&int(s, "duration_s")));
        let score = s["score"].as_f64().unwrap();
        assert!((0.6..=1.0).contains(&score), "{score}");
        let reason = text(s, "reason");
        assert!(
            reason.starts_with(char::is_uppercase) && reason.ends_with('.') && reason.contains(' '),
            "{reason}"
        );
        assert!(int(s, "valid_until") > int(s, "valid_from"));
    }
    for pair in slots.windows(2) {
        let gap = int(&pair[1], "start") - int(&pair[0], "start");
        assert!(
            gap >= 15 * MINUTE,
            "{} after {}",
            utc(int(&pair[1], "start")),
            utc(int(&pair[0], "start"))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The silver layer

#[test]
fn chat_events_types_every_line_drops_duplicates_and_sends_garbage_to_the_dlq() {
    let nymn = import_log(NYMN, Format::Irc, None, 0);
    let mut d = TestDriver::new(topology("chat-events"), wall_clock());
    for l in FIXTURES
        .lines()
        .map(str::to_owned)
        .chain(nymn.iter().cloned())
    {
        d.pipe_line(&l);
    }
    let first = d.output("silver").len();
    let rejected = d.dead_letters().len();
    // Twitch delivers some lines twice: the same lines again add nothing.
    for l in nymn.iter().take(100) {
        d.pipe_line(l);
    }
    d.pipe_line("this is not IRC");
    d.pipe_line("@id=poison PRIVMSG");
    let events = d.output("silver");
    assert_eq!(events.len(), first);
    assert_eq!(d.dead_letters().len(), rejected + 2);
    for dead in &d.dead_letters()[rejected..] {
        assert!(
            dead.reason.contains("unparseable") || dead.reason.contains("no event time"),
            "{}",
            dead.reason
        );
    }
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(
        ids.len(),
        events.iter().filter(|e| e["id"].is_string()).count()
    );
    let kinds: BTreeSet<&str> = events.iter().map(|e| text(e, "kind")).collect();
    for k in [
        "message",
        "sub",
        "resub",
        "subgift",
        "raid",
        "timeout",
        "clearmsg",
        "announcement",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    // Every record has every field (null when it does not apply), so one Avro schema reads all.
    let fields = chatpulse::processor::chat_events::FIELDS;
    assert!(events
        .iter()
        .all(|e| e.as_object().unwrap().len() == fields.len()));
    let copies: Vec<&Value> = events.iter().filter(|e| e["shared_copy"] == true).collect();
    assert!(!copies.is_empty());
    assert!(copies.iter().all(|c| c["source_room_id"].is_string()));
}

// ---------------------------------------------------------------------------------------------
// Recovery

#[test]
fn every_analytics_topology_gives_the_same_results_after_a_crash_and_restore() {
    let lines = import_log(NIGHTBLUE, Format::OverRustle, Some("nightblue3"), 0);
    for name in ["engagement", "spikes", "subscriptions", "ad-slots"] {
        let clean = run(name, &lines);
        let mut d = TestDriver::new(topology(name), wall_clock());
        let crash_at = lines.len() * 3 / 5;
        for (i, l) in lines.iter().enumerate().take(crash_at) {
            d.pipe_line(l);
            if i % 1_000 == 999 {
                d.commit();
            }
        }
        d.crash_and_restore().unwrap();
        let resume = (crash_at / 1_000) * 1_000;
        for (i, l) in lines.iter().enumerate().skip(resume) {
            d.pipe_line(l);
            if i % 1_000 == 999 {
                d.commit();
            }
        }
        d.commit();
        d.finish();
        assert!(d.committed_entries() > 0, "{name} keeps state");
        for sink in topology(name).sinks {
            let set = |d: &TestDriver| -> BTreeSet<String> {
                d.output(&sink.name).iter().map(Value::to_string).collect()
            };
            let (want, got) = (set(&clean), set(&d));
            assert!(!want.is_empty() || name == "spikes", "{name}/{}", sink.name);
            assert_eq!(got, want, "{name}/{}", sink.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Interactive queries

#[test]
fn every_analytics_processor_answers_interactive_queries_mid_stream() {
    let lines = bulldog();
    let half = &lines[..lines.len() / 2];
    let pipe = |name: &str| {
        let mut d = TestDriver::new(topology(name), wall_clock());
        for l in half {
            d.pipe_line(l);
        }
        d
    };
    let d = pipe("engagement");
    let open = d.query("engagement-minute", "admiralbulldog").unwrap();
    let open = open.as_array().unwrap();
    assert!(!open.is_empty());
    assert!(open
        .iter()
        .all(|w| w["final"] == false && int(w, "messages") > 0));
    assert_eq!(d.query("engagement-minute", "nobody"), None);

    let d = pipe("spikes");
    let state = d.query("spikes", "admiralbulldog").unwrap();
    assert!(state["in_spike"].is_boolean());
    assert!(state["baseline_rate_per_min"].as_f64().unwrap() > 0.0);

    let d = pipe("ad-slots");
    let slots = d.query("ad-slots", "admiralbulldog").unwrap();
    // The first half of the log has had a recommended break (the full run has several).
    assert!(slots["last_slot"]["reason"].is_string(), "{slots}");
    assert!(slots["last_slot_valid"].is_boolean());
}

#[test]
fn every_shipped_topology_file_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Topology::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 7, "{checked} topology files");
    // The all-in-one file runs exactly the processors of the four analytics files.
    let all = topology("analytics");
    let parts: usize = ["engagement", "spikes", "subscriptions", "ad-slots"]
        .iter()
        .map(|n| topology(n).processors.len())
        .sum();
    assert_eq!(all.processors.len(), parts);
}

/// The wall clock the driver starts at: now, so the logs (all in the past) are within
/// `max_future_skew`.
fn wall_clock() -> i64 {
    SystemClock.now_ms()
}
