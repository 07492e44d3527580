//! The importers on the real long logs in `../shared/data/twitch-chat` (override with
//! `CHATPULSE_DATA_DIR`): every record goes through `import` and `ChatEvent::parse`, and the counts,
//! time spans, channels and users must equal what each folder's `PROVENANCE.txt` states.
//! Expected numbers below are copied from those files unless a comment says otherwise.

mod common;
use common::data_dir;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chatpulse::chat::event::{ChatEvent, ClearChat, EventKind, NoticeKind, SubPlan};
use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::summary::ParseSummary;
use chatpulse::chat::ParseError;
use chatpulse::time::civil::parse_timestamp_ms;
use flate2::read::GzDecoder;
use regex::Regex;

// ---------------------------------------------------------------------------------------------
// Reading the data

fn path(set: &str, file: &str) -> PathBuf {
    let p = data_dir().join(set).join(file);
    assert!(p.is_file(), "missing data file {}", p.display());
    p
}

/// A reader over a data file, decompressing `.gz` on the fly (each file is read once).
fn reader(set: &str, file: &str) -> Box<dyn BufRead> {
    let f = File::open(path(set, file)).unwrap();
    if file.ends_with(".gz") {
        Box::new(BufReader::with_capacity(1 << 16, GzDecoder::new(f)))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, f))
    }
}

/// The raw lines of a (small, uncompressed) file, to look at the lines an import rejected.
fn raw_lines(set: &str, file: &str) -> Vec<String> {
    let mut bytes = Vec::new();
    File::open(path(set, file))
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    String::from_utf8_lossy(&bytes)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect()
}

fn ts(iso: &str) -> i64 {
    parse_timestamp_ms(iso, 0).unwrap_or_else(|| panic!("bad timestamp {iso}"))
}

fn opts(channel: Option<&str>, utc_offset_s: i32) -> ImportOptions {
    ImportOptions {
        channel: channel.map(str::to_owned),
        utc_offset_s,
    }
}

// ---------------------------------------------------------------------------------------------
// One import run, tallied

/// What a test compares with a normalized record: time, kind, channel, user, text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    ts_ms: i64,
    kind: String,
    channel: String,
    user: Option<String>,
    text: Option<String>,
    months: Option<u32>,
    duration_s: Option<u32>,
}

#[derive(Debug, Default)]
struct Run {
    summary: ParseSummary,
    /// (position, error) of records the importer rejected.
    import_errors: Vec<(u64, String)>,
    /// (position, line, error) of imported lines the parser rejected.
    parse_errors: Vec<(u64, String, ParseError)>,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    /// How often an event's time is earlier than the one before it.
    ts_decreases: u64,
    events_without_ts: u64,
    messages_per_channel: BTreeMap<String, u64>,
    /// Logins of message senders (PROVENANCE's `distinct_users` counts the senders of `msg`).
    users: HashSet<String>,
    /// Commands of the `other` events (protocol lines such as numerics and JOIN).
    other_commands: BTreeMap<String, u64>,
    /// (kind, plan, cumulative months) of every sub / resub.
    subs: Vec<(String, Option<SubPlan>, Option<u32>)>,
    /// Position of every message, to check where they are in the file.
    message_positions: Vec<u64>,
    /// Every event, when asked for.
    recs: Vec<Rec>,
}

impl Run {
    fn count(&self, kind: &str) -> u64 {
        self.summary.count(kind)
    }

    fn kinds(&self) -> BTreeMap<&str, u64> {
        self.summary
            .kinds
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }

    fn absorb(&mut self, other: Run) {
        for (k, v) in other.summary.kinds {
            *self.summary.kinds.entry(k).or_default() += v;
        }
        for (k, v) in other.messages_per_channel {
            *self.messages_per_channel.entry(k).or_default() += v;
        }
        self.users.extend(other.users);
        self.min_ts = [self.min_ts, other.min_ts].into_iter().flatten().min();
        self.max_ts = [self.max_ts, other.max_ts].into_iter().flatten().max();
        self.import_errors.extend(other.import_errors);
        self.parse_errors.extend(other.parse_errors);
    }
}

fn run(format: Format, options: ImportOptions, input: Box<dyn BufRead>, keep: bool) -> Run {
    let mut r = Run {
        summary: ParseSummary::new(),
        ..Run::default()
    };
    for record in import(format, options, input) {
        let line = match record {
            Ok(line) => line,
            Err(e) => {
                r.import_errors.push((e.position, e.error.to_string()));
                continue;
            }
        };
        let event = match ChatEvent::parse(&line.line) {
            Ok(event) => event,
            Err(e) => {
                r.summary.error(&e);
                r.parse_errors.push((line.position, line.line.clone(), e));
                continue;
            }
        };
        r.summary.event(&event);
        // The data sets' first/last times are those of chat events; protocol lines (welcome
        // numerics, JOIN) carry the logger's time too but are not part of the time series.
        match event
            .ts_ms
            .filter(|_| !matches!(event.kind, EventKind::Other { .. }))
        {
            Some(t) => {
                if r.last_ts.is_some_and(|last| t < last) {
                    r.ts_decreases += 1;
                }
                r.first_ts.get_or_insert(t);
                r.last_ts = Some(t);
                r.min_ts = Some(r.min_ts.map_or(t, |m| m.min(t)));
                r.max_ts = Some(r.max_ts.map_or(t, |m| m.max(t)));
            }
            None => r.events_without_ts += 1,
        }
        let mut rec = Rec {
            ts_ms: event.ts_ms.unwrap_or(i64::MIN),
            kind: event.kind_name().to_owned(),
            channel: event.channel.to_owned(),
            user: None,
            text: None,
            months: None,
            duration_s: None,
        };
        match &event.kind {
            EventKind::Message(m) => {
                *r.messages_per_channel
                    .entry(event.channel.to_owned())
                    .or_default() += 1;
                r.message_positions.push(line.position);
                if !r.users.contains(m.user.login) {
                    r.users.insert(m.user.login.to_owned());
                }
                rec.user = Some(m.user.login.to_owned());
                rec.text = Some(m.text.to_owned());
            }
            EventKind::UserNotice(n) => {
                rec.user = Some(n.user.login.to_owned());
                if let NoticeKind::Sub(s) | NoticeKind::Resub(s) = &n.notice {
                    r.subs
                        .push((event.kind_name().to_owned(), s.plan, s.cumulative_months));
                    rec.months = s.cumulative_months;
                }
            }
            EventKind::ClearChat(ClearChat::Timeout {
                login, duration_s, ..
            }) => {
                rec.user = Some(login.to_string());
                rec.duration_s = Some(*duration_s);
            }
            EventKind::ClearChat(ClearChat::Ban { login, .. }) => {
                rec.user = Some(login.to_string())
            }
            EventKind::Other { command } => {
                *r.other_commands.entry(command.to_string()).or_default() += 1
            }
            _ => {}
        }
        if keep {
            r.recs.push(rec);
        }
    }
    r
}

/// A well-formed Twitch IRC line without tags: a PRIVMSG with its text, a server line, or PING.
/// Lines a logger cut (`:nick!nick@nick.tmi.`, `tchleague :1-42 LUL`) and the logger's own text are not.
fn well_formed_irc() -> Regex {
    Regex::new(concat!(
        r"^(?:@\S+ )?(?:",
        r":[^\s!@]+![^\s!@]+@[^\s!@]+\.tmi\.twitch\.tv (?:PRIVMSG #\S+ :|JOIN #\S+$|PART #\S+$)",
        r"|:(?:[^\s!@]+\.)?tmi\.twitch\.tv (?:\d{3}|[A-Z]+) ",
        r"|PING :",
        r")"
    ))
    .unwrap()
}

/// The text of a raw logged line after the logger's `YYYY-MM-DD_HH:MM:SS ;;; ` or ` — ` prefix.
fn after_logger_time(raw: &str) -> &str {
    let re_len = 19;
    if raw.len() >= re_len && parse_timestamp_ms(&raw[..re_len], 0).is_some() {
        let rest = raw[re_len..].trim_start();
        for sep in [";;;", "\u{2014}"] {
            if let Some(after) = rest.strip_prefix(sep) {
                return after.trim_start();
            }
        }
        rest
    } else {
        raw
    }
}

/// Asserts every rejected record of an irc-logged import is noise, not a well-formed IRC line, and
/// that the raw line of every message is well-formed except `cut_messages` of them.
fn assert_errors_are_noise(set: &str, file: &str, r: &Run, cut_messages: usize) {
    let raw = raw_lines(set, file);
    let well_formed = well_formed_irc();
    let not_well_formed: Vec<&String> = r
        .message_positions
        .iter()
        .map(|p| &raw[*p as usize - 1])
        .filter(|line| !well_formed.is_match(after_logger_time(line)))
        .collect();
    assert_eq!(
        not_well_formed.len(),
        cut_messages,
        "{file}: {not_well_formed:?}"
    );
    for (position, error) in &r.import_errors {
        let line = &raw[*position as usize - 1];
        assert!(
            !well_formed.is_match(after_logger_time(line)),
            "{file}:{position} was rejected ({error}) but is a well-formed IRC line: {line}"
        );
    }
    for (position, line, error) in &r.parse_errors {
        let raw_line = &raw[*position as usize - 1];
        assert!(
            raw_line.ends_with(line.split_once(' ').map_or(line.as_str(), |(_, rest)| rest)),
            "{file}:{position}: the imported line is not the raw line's IRC part: {line}"
        );
        assert!(
            !well_formed.is_match(after_logger_time(raw_line)),
            "{file}:{position} failed to parse ({error}) but is a well-formed IRC line: {raw_line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// dev_irc_untagged_admiralbulldog_2019

#[test]
fn admiralbulldog_irc_logged_matches_provenance() {
    const SET: &str = "dev_irc_untagged_admiralbulldog_2019";
    const FILE: &str = "chat_admiralbulldog_4_30.log";
    // Logger local time, taken as UTC-7 (PROVENANCE).
    let r = run(
        Format::IrcLogged,
        opts(None, -7 * 3600),
        reader(SET, FILE),
        false,
    );

    // PROVENANCE: msg=28844. The normalizer dropped protocol lines; the importer passes them on and
    // they parse as `other`: the 7 welcome numerics, JOIN and the NAMES reply (353, 366).
    assert_eq!(
        r.kinds(),
        BTreeMap::from([("message", 28_844), ("other", 10)])
    );
    assert_eq!(
        r.other_commands,
        ["001", "002", "003", "004", "372", "375", "376", "353", "366", "JOIN"]
            .into_iter()
            .map(|c| (c.to_owned(), 1))
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(
        r.messages_per_channel,
        BTreeMap::from([("admiralbulldog".to_owned(), 28_844)])
    );
    assert_eq!(r.users.len(), 3_171, "distinct_users");
    assert_eq!(r.min_ts, Some(ts("2019-04-30T15:56:59.000Z")));
    assert_eq!(r.max_ts, Some(ts("2019-04-30T19:11:04.000Z")));
    assert_eq!(r.first_ts, r.min_ts, "the log is in time order");
    assert_eq!(r.last_ts, r.max_ts);
    assert_eq!(r.ts_decreases, 0);

    // Noise: the logger's header line, its "RECORDING INTERRUPTED BY USER" line, and the notebook
    // output appended at the tail (PROVENANCE: "~115 lines", exactly 115).
    assert!(r.parse_errors.is_empty(), "{:?}", r.parse_errors);
    assert_eq!(r.import_errors.len(), 117);
    assert_errors_are_noise(SET, FILE, &r, 0);
    let raw = raw_lines(SET, FILE);
    let positions: Vec<u64> = r.import_errors.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions[0], 1);
    assert!(raw[0].contains("START OF RECORDED CHAT MESSAGES FROM CHANNEL: ADMIRALBULLDOG"));
    let interrupted = positions[1];
    assert!(raw[interrupted as usize - 1].ends_with("RECORDING INTERRUPTED BY USER"));
    let tail = &positions[2..];
    assert_eq!(tail.len(), 115);
    assert!(tail.windows(2).all(|w| w[0] < w[1]) && tail[0] > interrupted);
    let last_message = *r.message_positions.last().unwrap();
    assert!(
        last_message < interrupted,
        "no chat after the recording was interrupted"
    );
    for p in tail {
        let line = &raw[*p as usize - 1];
        assert!(
            !line.starts_with("2019-") || line.starts_with("2019-05-03_"),
            "tail noise is dated 2019-05-03: {line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// dev_irc_untagged_overwatch_2019

#[test]
fn overwatch_irc_logged_matches_provenance() {
    const SET: &str = "dev_irc_untagged_overwatch_2019";
    // (file, messages, first, last, distinct users, import errors, parse errors) from PROVENANCE's
    // PER FILE section; the error counts are this test's own, checked to be noise below.
    let files = [
        (
            "agilities.log",
            460,
            "2019-02-20T06:12:25.000Z",
            "2019-02-20T06:31:42.000Z",
            80,
            0,
            0,
        ),
        (
            "custa.log",
            328,
            "2019-02-26T03:54:15.000Z",
            "2019-02-26T04:07:59.000Z",
            73,
            0,
            0,
        ),
        (
            "emongg.log",
            832,
            "2019-02-21T05:46:55.000Z",
            "2019-02-21T06:06:20.000Z",
            202,
            0,
            0,
        ),
        (
            "fahzix.log",
            87,
            "2019-02-25T06:36:21.000Z",
            "2019-02-25T06:48:52.000Z",
            16,
            0,
            0,
        ),
        (
            "fuey500.log",
            304,
            "2019-02-24T03:49:05.000Z",
            "2019-02-24T04:12:26.000Z",
            20,
            0,
            0,
        ),
        (
            "overwatchleague.log",
            9_899,
            "2019-02-22T01:59:52.000Z",
            "2019-02-22T02:20:02.000Z",
            4_274,
            13,
            9,
        ),
        (
            "shanghai_win.log",
            14_074,
            "2019-02-23T04:38:02.000Z",
            "2019-02-23T04:47:49.000Z",
            8_055,
            15,
            8,
        ),
    ];
    let mut total = Run::default();
    for (file, messages, first, last, users, import_errors, parse_errors) in files {
        // Logger local time, taken as US Pacific standard time, UTC-8 (PROVENANCE).
        let r = run(
            Format::IrcLogged,
            opts(None, -8 * 3600),
            reader(SET, file),
            false,
        );
        assert_eq!(r.count("message"), messages, "{file}");
        // Besides messages only the session's protocol lines: the welcome numerics, JOIN and the
        // NAMES reply (agilities.log starts after them). overwatchleague.log also has two cut pieces
        // that happen to be valid IRC with an unknown command, so `other` events (the normalizer
        // dropped both): a PRIVMSG cut inside its command,
        // `:profane_plays!profane_plays@profane_plays.tmi.twitch.tv PRIV`, and the tail of a cut
        // message whose text went on with ':', `2019-02-21_18:14:15 — :going goats with 10% left LUL`.
        let mut protocol: BTreeMap<String, u64> = if file == "agilities.log" {
            BTreeMap::new()
        } else {
            [
                "001", "002", "003", "004", "372", "375", "376", "353", "366", "JOIN",
            ]
            .into_iter()
            .map(|c| (c.to_owned(), 1))
            .collect()
        };
        if file == "overwatchleague.log" {
            protocol.insert("PRIV".to_owned(), 1);
            protocol.insert("goats".to_owned(), 1);
        }
        assert_eq!(r.other_commands, protocol, "{file}");
        assert_eq!(
            r.summary.total_events(),
            messages + r.count("other"),
            "{file}: {}",
            r.summary
        );
        assert_eq!(r.min_ts, Some(ts(first)), "{file}");
        assert_eq!(r.max_ts, Some(ts(last)), "{file}");
        assert_eq!(
            (r.first_ts, r.last_ts),
            (r.min_ts, r.max_ts),
            "{file} is in time order"
        );
        assert_eq!(r.users.len(), users, "{file}: distinct users");
        // The 2048-byte socket reads cut some lines: the cut-off head fails to parse (a prefix with
        // no command, e.g. `:arcadearchaic!arcadearchaic@arcadearchaic.tmi.`) and the tail, logged
        // with the next read's time, is not an IRC line (`twitch.tv PRIVMSG #overwatchleague :OOF`).
        // The normalizer dropped both halves too, so the message counts still match.
        assert_eq!(
            r.import_errors.len(),
            import_errors,
            "{file}: {:?}",
            r.import_errors
        );
        assert_eq!(
            r.parse_errors.len(),
            parse_errors,
            "{file}: {:?}",
            r.parse_errors
        );
        for (_, line, error) in &r.parse_errors {
            assert_eq!(
                error.kind().as_str(),
                "prefix_without_command",
                "{file}: {line}"
            );
        }
        // Messages whose raw line was cut before the text: the 3 cut inside the channel name in
        // shanghai_win.log, and `:bill0b0b!bill0b0b@bill0b0b.tmi.twitch.tv PRIVMSG #overwatchleague `
        // in overwatchleague.log. They are messages without text (counted by the normalizer too).
        let cut_messages = match file {
            "shanghai_win.log" => 3,
            "overwatchleague.log" => 1,
            _ => 0,
        };
        assert_errors_are_noise(SET, file, &r, cut_messages);
        total.absorb(r);
    }
    assert_eq!(total.count("message"), 25_984);
    // Channels, including the 3 lines cut inside the channel name (counted as empty messages).
    assert_eq!(
        total.messages_per_channel,
        BTreeMap::from(
            [
                ("overwatchleague", 23_970),
                ("emongg", 832),
                ("agilities", 460),
                ("custa", 328),
                ("fuey500", 304),
                ("fahzix", 87),
                ("overwa", 1),
                ("overwatchleag", 1),
                ("over", 1),
            ]
            .map(|(c, n)| (c.to_owned(), n))
        )
    );
    assert_eq!(total.users.len(), 12_025, "distinct_users");
    assert_eq!(total.min_ts, Some(ts("2019-02-20T06:12:25.000Z")));
    assert_eq!(total.max_ts, Some(ts("2019-02-26T04:07:59.000Z")));
}

#[test]
fn overwatch_lines_cut_inside_the_channel_name_are_empty_messages() {
    const SET: &str = "dev_irc_untagged_overwatch_2019";
    let lines: Vec<String> = import(
        Format::IrcLogged,
        opts(None, -8 * 3600),
        reader(SET, "shanghai_win.log"),
    )
    .filter_map(Result::ok)
    .map(|l| l.line)
    .collect();
    let mut cut = BTreeMap::new();
    for line in &lines {
        let e = ChatEvent::parse(line);
        if let Ok(ChatEvent {
            channel,
            kind: EventKind::Message(m),
            ..
        }) = &e
        {
            if channel.starts_with("over") && *channel != "overwatchleague" {
                assert_eq!(m.text, "", "{line}");
                cut.insert(channel.to_string(), m.user.login.to_owned());
            }
        }
    }
    assert_eq!(
        cut.keys().map(String::as_str).collect::<Vec<_>>(),
        ["over", "overwa", "overwatchleag"]
    );
}

// ---------------------------------------------------------------------------------------------
// dev_overrustle_nightblue3_2017

#[test]
fn overrustle_nightblue3_matches_provenance() {
    const SET: &str = "dev_overrustle_nightblue3_2017";
    const FILE: &str = "twitchlogs_nightblue3_2017-10-25.txt";
    let r = run(
        Format::OverRustle,
        opts(Some("nightblue3"), 0),
        reader(SET, FILE),
        false,
    );
    assert_eq!(
        r.kinds(),
        BTreeMap::from([("message", 22_181), ("resub", 36), ("sub", 28)])
    );
    assert_eq!(
        r.messages_per_channel,
        BTreeMap::from([("nightblue3".to_owned(), 22_181)])
    );
    assert_eq!(r.users.len(), 4_952, "distinct_users");
    assert_eq!(r.min_ts, Some(ts("2017-10-25T01:44:47.000Z")));
    assert_eq!(r.max_ts, Some(ts("2017-10-25T11:39:47.000Z")));
    assert_eq!((r.first_ts, r.last_ts), (r.min_ts, r.max_ts));
    assert_eq!(r.ts_decreases, 0);

    // PROVENANCE: "The last line is truncated mid-message" -- `[2017-10-25 11:39:47 UTC] joa` has no
    // `: ` after the name, so it is no message (22246 lines, 22245 records).
    assert!(r.parse_errors.is_empty());
    assert_eq!(r.import_errors.len(), 1, "{:?}", r.import_errors);
    let (position, error) = &r.import_errors[0];
    assert_eq!(*position, 22_246);
    assert!(error.contains("joa"), "{error}");
    let raw = raw_lines(SET, FILE);
    assert_eq!(raw[22_245], "[2017-10-25 11:39:47 UTC] joa");
    assert!(raw
        .iter()
        .all(|l| l.is_empty() || l.starts_with("[2017-10-25 ")));

    // The 64 twitchnotify notices: 33 "with Twitch Prime" (25 new subs, 8 resubs) and 31 "with a
    // $4.99 sub" (3 new, 28 resubs), counted in the raw file. Every resub states its months; the 36
    // "subscribed for N months in a row" add up to 556 months.
    let plans = |kind: &str, plan: SubPlan| {
        r.subs
            .iter()
            .filter(|(k, p, _)| k == kind && *p == Some(plan))
            .count()
    };
    assert_eq!(
        (plans("sub", SubPlan::Prime), plans("sub", SubPlan::Tier1)),
        (25, 3)
    );
    assert_eq!(
        (
            plans("resub", SubPlan::Prime),
            plans("resub", SubPlan::Tier1)
        ),
        (8, 28)
    );
    assert!(
        r.subs.iter().all(|(k, _, m)| (k == "resub") == m.is_some()),
        "{:?}",
        r.subs
    );
    let months: u32 = r.subs.iter().filter_map(|(_, _, m)| *m).sum();
    assert_eq!(months, 556);
    assert_eq!(
        raw.iter()
            .filter(|l| l.contains("] twitchnotify: "))
            .count(),
        64
    );
}

// ---------------------------------------------------------------------------------------------
// dev_vodjson_northernlion_2021

#[test]
fn vod_json_northernlion_matches_provenance() {
    const SET: &str = "dev_vodjson_northernlion_2021";
    let r = run(
        Format::VodJson,
        ImportOptions::default(),
        reader(SET, "1087079172.json"),
        false,
    );
    assert_eq!(
        r.kinds(),
        BTreeMap::from([("message", 3_069), ("resub", 19), ("sub", 2)])
    );
    assert!(r.import_errors.is_empty() && r.parse_errors.is_empty());
    assert_eq!(
        r.messages_per_channel,
        BTreeMap::from([("northernlion".to_owned(), 3_069)])
    );
    assert_eq!(r.users.len(), 822, "distinct_users");
    // Video created_at + content_offset_seconds (the comments' own created_at is the download time).
    assert_eq!(r.min_ts, Some(ts("2021-07-15T01:59:24.000Z")));
    assert_eq!(r.max_ts, Some(ts("2021-07-15T02:48:06.000Z")));
    assert_eq!((r.first_ts, r.last_ts), (r.min_ts, r.max_ts));
    // Every sub notice carries its plan and months; the two new subs are Prime, month 1.
    assert!(
        r.subs
            .iter()
            .all(|(_, plan, months)| plan.is_some() && months.is_some()),
        "{:?}",
        r.subs
    );
    let new: Vec<_> = r.subs.iter().filter(|(k, _, _)| k == "sub").collect();
    assert_eq!(new, [&("sub".to_owned(), Some(SubPlan::Prime), Some(1)); 2]);
}

// ---------------------------------------------------------------------------------------------
// dev_csv_multichannel_2025

#[test]
fn csv_multichannel_matches_provenance() {
    const SET: &str = "dev_csv_multichannel_2025";
    let started = Instant::now();
    // (file, messages, first, last, distinct users) from PROVENANCE's PER FILE section.
    let files = [
        (
            "chat_logs13.csv.gz",
            56_425,
            "2025-03-13T09:57:37.902Z",
            "2025-03-13T11:16:37.209Z",
            15_520,
        ),
        (
            "chat_logs33.csv.gz",
            61_367,
            "2025-04-02T13:36:51.982Z",
            "2025-04-02T14:09:29.246Z",
            10_955,
        ),
        (
            "chat_logs38.csv.gz",
            49_854,
            "2025-04-07T14:10:47.998Z",
            "2025-04-07T15:02:07.819Z",
            9_536,
        ),
        (
            "chat_logs55.csv.gz",
            52_139,
            "2025-04-26T02:06:28.289Z",
            "2025-04-26T03:42:02.745Z",
            8_378,
        ),
        (
            "chat_logs57.csv.gz",
            56_599,
            "2025-04-28T02:24:07.781Z",
            "2025-04-28T07:20:03.440Z",
            8_477,
        ),
        (
            "chat_logs63.csv.gz",
            45_802,
            "2025-05-05T13:25:43.694Z",
            "2025-05-05T15:05:21.434Z",
            8_883,
        ),
        (
            "chat_logs66.csv.gz",
            51_482,
            "2025-05-09T07:06:35.710Z",
            "2025-05-09T13:28:46.593Z",
            10_269,
        ),
        (
            "chat_logs74.csv.gz",
            51_057,
            "2025-05-18T13:23:35.116Z",
            "2025-05-18T15:00:46.523Z",
            12_047,
        ),
        (
            "chat_logs76.csv.gz",
            59_510,
            "2025-05-20T20:36:57.028Z",
            "2025-05-20T21:09:14.280Z",
            12_949,
        ),
        (
            "chat_logs78.csv.gz",
            38_871,
            "2025-05-23T09:56:26.087Z",
            "2025-05-23T12:00:35.762Z",
            5_290,
        ),
    ];
    let mut total = Run::default();
    for (file, messages, first, last, users) in files {
        // The runner clock is taken as UTC (PROVENANCE); the timestamps carry no zone.
        let r = run(
            Format::Csv,
            ImportOptions::default(),
            reader(SET, file),
            false,
        );
        assert_eq!(r.kinds(), BTreeMap::from([("message", messages)]), "{file}");
        assert!(
            r.import_errors.is_empty(),
            "{file}: {:?}",
            &r.import_errors[..r.import_errors.len().min(5)]
        );
        assert!(
            r.parse_errors.is_empty(),
            "{file}: {:?}",
            &r.parse_errors[..r.parse_errors.len().min(5)]
        );
        assert_eq!(r.min_ts, Some(ts(first)), "{file}");
        assert_eq!(r.max_ts, Some(ts(last)), "{file}");
        assert_eq!(r.users.len(), users, "{file}: distinct users");
        total.absorb(r);
    }
    assert_eq!(total.count("message"), 523_106);
    assert_eq!(total.users.len(), 86_645, "distinct_users");
    assert_eq!(total.min_ts, Some(ts("2025-03-13T09:57:37.902Z")));
    assert_eq!(total.max_ts, Some(ts("2025-05-23T12:00:35.762Z")));
    // Every channel PROVENANCE lists (its 40 busiest).
    let listed = [
        ("caedrel", 97_978),
        ("forsen", 91_943),
        ("xqc", 66_844),
        ("cellbit", 28_969),
        ("kamet0", 27_977),
        ("rubius", 20_885),
        ("illojuan", 19_950),
        ("knekro", 16_551),
        ("summit1g", 12_430),
        ("cohhcarnage", 10_662),
        ("gaules", 10_004),
        ("buster", 9_742),
        ("otplol_", 8_974),
        ("yoda", 7_937),
        ("pgl", 7_039),
        ("trymacs", 6_551),
        ("lirik", 5_990),
        ("sasavot", 5_611),
        ("nadeshot", 5_161),
        ("cdnthe3rd", 4_224),
        ("montanablack88", 4_084),
        ("shroud", 4_052),
        ("bratishkinoff", 3_782),
        ("grimmmz", 3_548),
        ("sovietwomble", 2_947),
        ("amaz", 2_700),
        ("dakotaz", 2_546),
        ("riotgames", 2_510),
        ("boxbox", 2_338),
        ("myth", 2_174),
        ("yogscast", 2_101),
        ("gotaga", 1_871),
        ("nl_kripp", 1_869),
        ("izakooo", 1_682),
        ("rocketleague", 1_631),
        ("eliasn97", 1_519),
        ("anomaly", 1_498),
        ("scarra", 1_419),
        ("ludwig", 1_194),
        ("gronkh", 1_095),
    ];
    for (channel, n) in listed {
        assert_eq!(
            total.messages_per_channel.get(channel).copied(),
            Some(n),
            "channel {channel}"
        );
    }
    // PROVENANCE's list is the top 40: every other channel is smaller than its last entry.
    let mut by_size: Vec<_> = total.messages_per_channel.iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top: Vec<&str> = by_size[..3].iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(top, ["caedrel", "forsen", "xqc"]);
    assert!(by_size[40..].iter().all(|(_, n)| **n < 1_095));
    // PROVENANCE says "100+ channels" per run, but that is the logger's join list (~110): 90
    // channels had chat in these 10 runs (normalized.jsonl.gz has the same 90).
    assert_eq!(total.messages_per_channel.len(), 90);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "csv import took {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Cross-checks against normalized.jsonl.gz (read with the `jsonl` importer)

fn assert_same_events(set: &str, original: &Run, normalized: &Run) {
    assert!(
        normalized.import_errors.is_empty(),
        "{set}: {:?}",
        normalized.import_errors
    );
    assert!(
        normalized.parse_errors.is_empty(),
        "{set}: {:?}",
        normalized.parse_errors
    );
    assert_eq!(
        original.recs.len(),
        normalized.recs.len(),
        "{set}: record count"
    );
    // normalized.jsonl.gz is sorted by time, but events of the same millisecond are not kept in file
    // order (and the tagged nymn lines are not in time order at all): compare the time-sorted
    // ts_ms sequences, then the events sorted by (time, kind, channel, user, text).
    let ts_b: Vec<i64> = normalized.recs.iter().map(|r| r.ts_ms).collect();
    assert!(
        ts_b.windows(2).all(|w| w[0] <= w[1]),
        "{set}: normalized is not sorted by time"
    );
    let mut ts_a: Vec<i64> = original.recs.iter().map(|r| r.ts_ms).collect();
    ts_a.sort_unstable();
    assert!(ts_a == ts_b, "{set}: the ts_ms sequences differ");
    let mut a_recs = original.recs.clone();
    let mut b_recs = normalized.recs.clone();
    a_recs.sort();
    b_recs.sort();
    for (i, (a, b)) in a_recs.iter().zip(&b_recs).enumerate() {
        assert_eq!(
            (&a.kind, &a.channel, &a.user),
            (&b.kind, &b.channel, &b.user),
            "{set} record {i}"
        );
        if a.kind == "message" {
            assert_eq!(a.text, b.text, "{set} record {i}");
        }
        assert_eq!(a.months, b.months, "{set} record {i}: months");
        assert_eq!(
            a.duration_s, b.duration_s,
            "{set} record {i}: timeout duration"
        );
    }
}

#[test]
fn overrustle_and_vod_json_equal_their_normalized_jsonl() {
    let set = "dev_overrustle_nightblue3_2017";
    let original = run(
        Format::OverRustle,
        opts(Some("nightblue3"), 0),
        reader(set, "twitchlogs_nightblue3_2017-10-25.txt"),
        true,
    );
    let normalized = run(
        Format::Jsonl,
        ImportOptions::default(),
        reader(set, "normalized.jsonl.gz"),
        true,
    );
    assert_eq!(normalized.recs.len(), 22_245);
    assert_same_events(set, &original, &normalized);

    let set = "dev_vodjson_northernlion_2021";
    let original = run(
        Format::VodJson,
        ImportOptions::default(),
        reader(set, "1087079172.json"),
        true,
    );
    let normalized = run(
        Format::Jsonl,
        ImportOptions::default(),
        reader(set, "normalized.jsonl.gz"),
        true,
    );
    assert_eq!(normalized.recs.len(), 3_090);
    assert_same_events(set, &original, &normalized);
}

#[test]
fn tagged_nymn_equals_its_normalized_jsonl() {
    // The raw tagged lines through the `irc` importer, against the normalized records; the two
    // timeouts keep their 180 s (`extra.duration_s`) and their `"text": null`.
    let set = "dev_irc_tagged_nymn_chatterino";
    let original = run(
        Format::Irc,
        ImportOptions::default(),
        reader(set, "recentmessages-nymn.irc.txt"),
        true,
    );
    let normalized = run(
        Format::Jsonl,
        ImportOptions::default(),
        reader(set, "normalized.jsonl.gz"),
        true,
    );
    assert_eq!(
        normalized.kinds(),
        BTreeMap::from([("message", 798), ("timeout", 2)])
    );
    assert_same_events(set, &original, &normalized);
    let timeouts: Vec<_> = normalized
        .recs
        .iter()
        .filter(|r| r.kind == "timeout")
        .collect();
    assert_eq!(
        timeouts
            .iter()
            .map(|r| (r.user.as_deref().unwrap(), r.duration_s))
            .collect::<Vec<_>>(),
        [("e7om", Some(180)), ("abitbol", Some(180))]
    );
}

#[test]
fn irc_logged_sets_equal_their_normalized_jsonl() {
    let set = "dev_irc_untagged_admiralbulldog_2019";
    let mut original = run(
        Format::IrcLogged,
        opts(None, -7 * 3600),
        reader(set, "chat_admiralbulldog_4_30.log"),
        true,
    );
    // The normalizer dropped the protocol lines (see admiralbulldog_irc_logged_matches_provenance).
    original.recs.retain(|r| r.kind != "other");
    let normalized = run(
        Format::Jsonl,
        ImportOptions::default(),
        reader(set, "normalized.jsonl.gz"),
        true,
    );
    assert_same_events(set, &original, &normalized);

    // The 7 sessions, in time order (normalized.jsonl.gz is sorted by time).
    let set = "dev_irc_untagged_overwatch_2019";
    let mut original = Run::default();
    for file in [
        "agilities.log",
        "emongg.log",
        "overwatchleague.log",
        "shanghai_win.log",
        "fuey500.log",
        "fahzix.log",
        "custa.log",
    ] {
        let r = run(
            Format::IrcLogged,
            opts(None, -8 * 3600),
            reader(set, file),
            true,
        );
        original
            .recs
            .extend(r.recs.into_iter().filter(|r| r.kind != "other"));
    }
    let normalized = run(
        Format::Jsonl,
        ImportOptions::default(),
        reader(set, "normalized.jsonl.gz"),
        true,
    );
    assert_same_events(set, &original, &normalized);
}
