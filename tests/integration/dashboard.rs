//! `chatpulse dashboard` as a user runs it, looked at in headless Chromium (Debian's, driven over
//! the DevTools protocol by Playwright from PyPI: `tests/support/browser.py`). It is fed by the
//! shipped `analytics.toml` and `leaderboards.toml` running on tansu with the in-repo Schema
//! Registry over HTTP: the bundled real chat (49 minutes of #northernlion, 8 of #nymn) and the
//! generated stream sessions of `tests/common/boards.rs` (DERIVED, see there).
//!
//! The page's numbers are read from the DOM and compared with the topics' records, decoded here with
//! the `.avsc` files alone, and with a brute-force count of the input. Then a burst is injected into
//! #nymn's chat and its spike must appear on the open page within 5 s. The injected chat is MADE UP
//! here: 3 minutes of one message a second from 40 users (the detector's warm-up), then 300 messages
//! in 10 s from 150 users, then one message every 2 s for 80 s. Screenshots go to the test's target
//! dir (`dashboard-*.png`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::ChatEvent;
use serde_json::{json, Value};

use crate::analytics_avro::{decode, outputs_of, shipped_on};
use crate::archive::python;
use crate::engine::{read_topic, start_with_registry};
use crate::engine_support::{offline_outputs, produce};
use crate::harness::{create_topic, repo_file, unique};
use crate::leaderboards::{produce_sessions, sessions_closing_every_period};
use crate::minutes::{brute_force_minutes, latest_minutes};
use crate::support::schema_registry::SchemaRegistryServer;

const HOUR: i64 = 3_600_000;

/// The bundled sample, as the demo reads it: every line with a time, in time order.
pub(crate) fn sample_lines() -> Vec<String> {
    let gz = std::fs::File::open(repo_file("data/sample/northernlion-1087079172.json.gz")).unwrap();
    let irc = std::fs::File::open(repo_file("data/sample/nymn-2024-01-06.irc.txt")).unwrap();
    let mut lines: Vec<String> = import(
        Format::VodJson,
        ImportOptions::default(),
        BufReader::new(flate2::read::GzDecoder::new(gz)),
    )
    .chain(import(
        Format::Irc,
        ImportOptions::default(),
        BufReader::new(irc),
    ))
    .flatten()
    .map(|r| r.line)
    .filter(|l| ts(l).is_some())
    .collect();
    lines.sort_by_key(|l| ts(l));
    lines
}

fn ts(line: &str) -> Option<i64> {
    ChatEvent::parse(line).ok()?.ts_ms
}

fn marker(at: i64) -> Vec<(i32, String)> {
    vec![(
        0,
        format!("@tmi-sent-ts={at} :tmi.twitch.tv NOTICE #end-of-input :end"),
    )]
}

/// A chat message of `user` in #nymn at `at`.
fn message(user: usize, at: i64, text: &str) -> String {
    format!(
        "@id=inj-{at}-{user};tmi-sent-ts={at};user-id={};display-name=Viewer{user} \
         :viewer{user}!viewer{user}@viewer{user}.tmi.twitch.tv PRIVMSG #nymn :{text}",
        900_000 + user
    )
}

/// A headless Chromium, one JSON request and answer per line.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    fn start() -> Browser {
        let mut child = Command::new(python())
            .arg(repo_file("tests/support/browser.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the venv's Python with Playwright: run `bash scripts/setup`");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Browser {
            child,
            stdin,
            stdout,
        }
    }

    fn call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("browser.py answered {line:?} ({e})"));
        assert_eq!(answer["ok"], true, "{request} -> {answer}");
        answer
    }

    fn goto(&mut self, url: &str) {
        self.call(json!({"op": "goto", "url": url}));
    }

    /// Waits until `js` is truthy (at most 60 s); the wait in ms.
    fn wait_js(&mut self, js: &str) -> f64 {
        self.call(json!({"op": "wait_js", "js": js, "timeout_ms": 60_000}))["elapsed_ms"]
            .as_f64()
            .unwrap()
    }

    fn eval(&mut self, js: &str) -> Value {
        self.call(json!({"op": "eval", "js": js}))["value"].clone()
    }

    /// The number shown by the element of `selector` ("1,234" is 1234; "–" is none).
    fn number(&mut self, selector: &str) -> Option<f64> {
        let js = format!("document.querySelector({selector:?})?.textContent ?? null");
        let text = self.eval(&js);
        let text = text
            .as_str()
            .unwrap_or_else(|| panic!("no element {selector}"));
        text.replace(',', "").trim().parse().ok()
    }

    fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        self.call(json!({"op": "screenshot", "path": path}));
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: a PNG");
        assert!(
            png.len() > 20_000,
            "{name}: {} bytes, a blank page",
            png.len()
        );
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, r#"{{"op": "quit"}}"#);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `chatpulse dashboard`, killed when dropped.
struct Dashboard(Child, String);

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_dashboard(registry: &str, topics: &[(&str, &str)]) -> Dashboard {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatpulse"));
    command
        .env("CHATPULSE_LOG", "warn")
        .args(["dashboard", "--brokers", &crate::harness::brokers()])
        .args(["--schema-registry", registry, "--addr", "127.0.0.1:0"])
        .args(["--from-beginning", "--keep", "24h"])
        .args(["--group", &unique("dashboard")]);
    for (feed, topic) in topics {
        command.arg("--topic").arg(format!("{feed}={topic}"));
    }
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("chatpulse dashboard: ")
        .unwrap_or_else(|| panic!("the dashboard printed {line:?}"))
        .to_owned();
    Dashboard(child, url)
}

fn schema(name: &str) -> Schema {
    Schema::parse_str(&std::fs::read_to_string(repo_file(&format!("avro/{name}.avsc"))).unwrap())
        .unwrap()
}

/// Every record of `topic` (as many as `n`), decoded with `avro/<schema>.avsc`.
fn read_decoded(topic: &str, n: usize, schema_name: &str) -> Vec<Value> {
    let schema = schema(schema_name);
    let got = read_topic(topic, n, Duration::from_secs(180));
    assert_eq!(got.len(), n, "{topic}: records");
    got.iter()
        .map(|m| decode(rdkafka::Message::payload(m).unwrap(), &schema))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_topics_numbers_and_a_new_spike_within_5_s_in_chromium() {
    let registry_server = SchemaRegistryServer::start();
    let registry = registry_server.url();
    let lines = sample_lines();
    let last = lines.iter().filter_map(|l| ts(l)).max().unwrap();
    // An hour on: every window of the sample closes, offline and on Kafka alike.
    let m1_at = last + HOUR + 15_000;
    let m1 = marker(m1_at);

    // analytics.toml on the chat, leaderboards.toml on the sessions, both on tansu.
    let chat = unique("dashboard-chat");
    create_topic(&chat, 1).await;
    let mut analytics = shipped_on("analytics", "dashboard-analytics", &chat);
    analytics.commit_interval_ms = 300;
    let sink = |name: &str| {
        analytics
            .sinks
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .topic
            .clone()
    };
    let (minutes_t, hours_t, spikes_t, trend_t, slots_t) = (
        sink("minutes"),
        sink("hours"),
        sink("spike-records"),
        sink("trend"),
        sink("slots"),
    );
    let offline = offline_outputs(&analytics, &lines, &m1);
    produce(&chat, &lines, &m1).await;
    let state = tempfile::tempdir().unwrap();
    let (control, handle) =
        start_with_registry(analytics.clone(), state.path(), Some(registry.clone()));

    let sessions = unique("dashboard-sessions");
    let rows = sessions_closing_every_period();
    produce_sessions(&sessions, &registry, &rows).await;
    let mut boards = shipped_on("leaderboards", "dashboard-boards", &sessions);
    boards.commit_interval_ms = 300;
    let (boards_t, rising_t) = (boards.sinks[0].topic.clone(), boards.sinks[1].topic.clone());
    let boards_state = tempfile::tempdir().unwrap();
    let (boards_control, boards_handle) =
        start_with_registry(boards.clone(), boards_state.path(), Some(registry.clone()));

    // What the topics hold, decoded with the .avsc files alone, once every result is in.
    let minutes = read_decoded(
        &minutes_t,
        outputs_of(&offline, &minutes_t).len(),
        "engagement",
    );
    let hours = read_decoded(&hours_t, outputs_of(&offline, &hours_t).len(), "engagement");
    let spikes = read_decoded(&spikes_t, outputs_of(&offline, &spikes_t).len(), "spike");
    let trend = read_decoded(&trend_t, outputs_of(&offline, &trend_t).len(), "sub_trend");
    let expected_boards = crate::boards::leaderboards(&rows, 25).len();
    let board_records = read_decoded(&boards_t, expected_boards, "leaderboard");
    let expected_rising: usize = crate::boards::rising(&rows, 10, 50.0, 10.0)
        .values()
        .map(Vec::len)
        .sum();
    let rising = read_decoded(&rising_t, expected_rising, "rising");

    let alerts_t = unique("dashboard-alerts-absent");
    let dashboard = start_dashboard(
        &registry,
        &[
            ("minutes", &minutes_t),
            ("hours", &hours_t),
            ("spikes", &spikes_t),
            ("subs", &trend_t),
            ("ad_slots", &slots_t),
            ("leaderboards", &boards_t),
            ("rising", &rising_t),
            ("alerts", &alerts_t),
            ("sessions", ""),
        ],
    );
    let url = dashboard.1.clone();
    let mut browser = Browser::start();

    // The channel list: each channel's newest minute, as the topic has it.
    let newest: BTreeMap<&str, &Value> = minutes.iter().fold(BTreeMap::new(), |mut m, v| {
        let c = v["channel"].as_str().unwrap();
        if m.get(c).is_none_or(|o: &&Value| {
            (o["window_start"].as_i64(), o["revision"].as_i64())
                < (v["window_start"].as_i64(), v["revision"].as_i64())
        }) {
            m.insert(c, v);
        }
        m
    });
    browser.goto(&url);
    browser.wait_js(r#"document.querySelector('tr[data-channel="northernlion"]')"#);
    for channel in ["northernlion", "nymn"] {
        let shown = browser.number(&format!(
            r#"tr[data-channel="{channel}"] td[data-field="messages"]"#
        ));
        assert_eq!(
            shown,
            newest[channel]["messages"].as_f64(),
            "{channel}: the list shows the newest minute's messages"
        );
    }
    // Sortable: by channel name (A first), then by messages (most first) with the same button twice.
    let order = |b: &mut Browser| -> Vec<String> {
        let v = b.eval(
            "[...document.querySelectorAll('#channels tbody tr')].map(r => r.dataset.channel)",
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    browser.eval("document.getElementById('sort-channel').click()");
    let by_name = order(&mut browser);
    let mut sorted = by_name.clone();
    sorted.sort();
    assert_eq!(by_name, sorted, "sorted by channel");
    browser.eval("document.getElementById('sort-channel').click()");
    sorted.reverse();
    assert_eq!(
        order(&mut browser),
        sorted,
        "the same button again reverses"
    );
    browser.screenshot("dashboard-channels");

    // A channel's page: sampled minutes equal the topic and the brute-force count of the input.
    let topic_minutes = latest_minutes(minutes.iter().filter(|v| v["messages"].as_u64() > Some(0)));
    let brute = brute_force_minutes(&lines);
    // (window start, (messages, chatters)) of #northernlion's minutes.
    let nl: Vec<(i64, (u64, u64))> = topic_minutes
        .iter()
        .filter(|((c, _), _)| c == "northernlion")
        .map(|((_, start), v)| (*start, *v))
        .collect();
    assert!(nl.len() >= 45, "{} minutes of #northernlion", nl.len());
    let busiest = *nl.iter().max_by_key(|(_, (m, _))| *m).unwrap();
    let seeded = nl[(18 * 7_919) % nl.len()];
    browser.goto(&format!("{url}#/channel/northernlion"));
    browser.wait_js(r#"document.querySelector('#channel-name[data-channel="northernlion"]')"#);
    for (start, (messages, chatters)) in [busiest, seeded] {
        assert_eq!(
            brute[&("northernlion".to_owned(), start)],
            (messages, chatters),
            "the topic equals the brute-force count"
        );
        let row = format!(r#"tr[data-minute="{start}"]"#);
        assert_eq!(
            browser.number(&format!(r#"{row} td[data-field="messages"]"#)),
            Some(messages as f64),
            "minute {start}: messages on the page"
        );
        assert_eq!(
            browser.number(&format!(r#"{row} td[data-field="chatters"]"#)),
            Some(chatters as f64),
            "minute {start}: chatters on the page"
        );
    }
    // Spikes shaded: one band per spike of the channel on the topic.
    let onsets: BTreeSet<i64> = spikes
        .iter()
        .filter(|s| s["channel"] == "northernlion")
        .map(|s| s["onset"].as_i64().unwrap())
        .collect();
    assert!(!onsets.is_empty(), "the sample has spikes");
    assert_eq!(
        browser.eval("document.querySelectorAll('g.spike-band').length"),
        json!(onsets.len()),
        "spike bands"
    );
    // Subs per 5 minutes: the total shown equals the topic's newest revisions summed.
    let mut buckets: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for t in trend.iter().filter(|t| {
        t["channel"] == "northernlion"
            && t["window_end"].as_i64().unwrap() - t["window_start"].as_i64().unwrap() == 300_000
    }) {
        let e = buckets
            .entry(t["window_start"].as_i64().unwrap())
            .or_insert((-1, 0));
        if t["revision"].as_i64().unwrap_or(0) >= e.0 {
            *e = (
                t["revision"].as_i64().unwrap_or(0),
                t["total"].as_i64().unwrap(),
            );
        }
    }
    let subs_total: i64 = buckets.values().map(|(_, t)| t).sum();
    assert!(subs_total > 0, "the sample has subscriptions");
    assert_eq!(
        browser.number(r#"[data-field="subs-total"]"#),
        Some(subs_total as f64)
    );
    // The heatmap: a coloured cell for each hour of week with chat whose hour closed.
    let closed_hours: BTreeSet<i64> = lines
        .iter()
        .filter_map(|l| {
            let e = ChatEvent::parse(l).ok()?;
            let t = e.ts_ms?;
            let hour = t.div_euclid(HOUR) * HOUR;
            (e.channel == "northernlion"
                && matches!(e.kind, chatpulse::chat::EventKind::Message(_))
                && hour + HOUR + 5_000 <= m1_at)
                .then_some((hour / HOUR + 72).rem_euclid(168))
        })
        .collect();
    assert_eq!(
        hours
            .iter()
            .filter(|h| h["channel"] == "northernlion")
            .count(),
        closed_hours.len(),
        "the hour topic has the closed hours"
    );
    // No viewers on this topic, so no engagement rate: the heatmap falls back to messages.
    assert_eq!(
        browser.eval("document.querySelector('#heatmap title').textContent.startsWith('Messages')"),
        json!(true)
    );
    let coloured = browser.eval(
        r##"[...document.querySelectorAll('#heatmap rect[data-how]')].filter(r => r.getAttribute('fill') !== '#eee').map(r => +r.dataset.how)"##,
    );
    let coloured: BTreeSet<i64> = coloured
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(coloured, closed_hours, "heatmap cells");
    browser.screenshot("dashboard-channel");

    // Leaderboards and rising channels: the newest period of each board, its leader as the topic.
    let mut newest_boards: BTreeMap<(String, String), &Value> = BTreeMap::new();
    for b in &board_records {
        let key = (
            b["period"].as_str().unwrap().into(),
            b["board"].as_str().unwrap().into(),
        );
        if newest_boards
            .get(&key)
            .is_none_or(|o| o["period_start"].as_i64() <= b["period_start"].as_i64())
        {
            newest_boards.insert(key, b);
        }
    }
    browser.goto(&format!("{url}#/boards"));
    browser.wait_js(&format!(
        "document.querySelectorAll('section.board').length === {}",
        newest_boards.len()
    ));
    for ((period, board), b) in &newest_boards {
        let leader = browser.eval(&format!(
            r#"document.querySelector('section.board[data-board="{board}"][data-period="{period}"] tr[data-rank="1"] td:nth-child(2)')?.textContent ?? null"#
        ));
        let first = b["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["rank"] == 1)
            .unwrap();
        assert_eq!(leader, first["channel"], "{period} {board}");
    }
    // Per (period, metric), the channels of its newest period.
    let mut rising_newest: BTreeMap<(String, String), (i64, BTreeSet<String>)> = BTreeMap::new();
    for r in &rising {
        let key = (
            r["period"].as_str().unwrap().into(),
            r["metric"].as_str().unwrap().into(),
        );
        let start = r["period_start"].as_i64().unwrap();
        let e = rising_newest.entry(key).or_insert((start, BTreeSet::new()));
        if start > e.0 {
            *e = (start, BTreeSet::new());
        }
        if start == e.0 {
            e.1.insert(r["channel"].as_str().unwrap().into());
        }
    }
    let rising_rows: usize = rising_newest.values().map(|(_, c)| c.len()).sum();
    assert!(rising_rows > 0);
    assert_eq!(
        browser.eval("document.querySelectorAll('#rising tr[data-rising]').length"),
        json!(rising_rows)
    );
    browser.screenshot("dashboard-leaderboards");
    browser.goto(&format!("{url}#/alerts"));
    browser.wait_js(r#"document.querySelector('[data-feed="alerts"][data-feed-state="absent"]')"#);

    // A burst in #nymn's chat with the page open on #nymn. The marker's hour of silence restarts
    // the detector's baseline (`max_gap`), so 3 minutes of ordinary chat come first to warm it up.
    browser.goto(&format!("{url}#/channel/nymn"));
    browser.wait_js(r#"document.querySelector('#channel-name[data-channel="nymn"]')"#);
    let spikes_before = browser.eval("document.querySelectorAll('li[data-spike-onset]').length");
    let warm_start = m1_at + 5_000;
    let mut burst: Vec<String> = (0..180)
        .map(|i| message(i % 40, warm_start + i as i64 * 1_000, "ok"))
        .collect();
    let burst_start = warm_start + 180_000;
    burst.extend((0..300).map(|i| message(i % 150, burst_start + i as i64 * 33, "CLIP IT KEKW")));
    // Ordinary chat for 80 s after it, then a marker an hour on, so everything closes.
    burst.extend((0..40).map(|i| message(200 + i, burst_start + 12_000 + i as i64 * 2_000, "ok")));
    let m2 = marker(burst_start + HOUR);
    // The reference: the same engine offline finds a spike there.
    let mut all = lines.clone();
    all.push(m1[0].1.clone());
    all.extend(burst.iter().cloned());
    let offline_after = offline_outputs(&analytics, &all, &m2);
    let injected = outputs_of(&offline_after, &spikes_t)
        .into_iter()
        .filter(|s| s["channel"] == "nymn" && s["onset"].as_i64().unwrap() >= burst_start - 30_000)
        .count();
    assert!(injected >= 1, "offline, the burst is a spike");
    produce(&chat, &burst, &m2).await;
    let produced = Instant::now();
    let waited = browser.wait_js(&format!(
        "[...document.querySelectorAll('li[data-spike-onset]')].some(e => +e.dataset.spikeOnset >= {})",
        burst_start - 30_000
    ));
    let seen = produced.elapsed();
    eprintln!(
        "the injected spike appeared {:.0} ms after its lines reached Kafka (browser wait {waited:.0} ms); spikes before: {spikes_before}",
        seen.as_millis()
    );
    assert!(
        seen < Duration::from_secs(5),
        "the spike took {seen:?} to appear on the page"
    );
    // The dashboard's own metrics: this page's stream is open (pages navigated away from are
    // noticed at their next push or heartbeat, so up to the 6 opened), and every minute was applied.
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut conn, &mut text).unwrap();
    let clients: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix("chatpulse_dashboard_clients "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!((1..=6).contains(&clients), "{clients} clients: {text}");
    let applied: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"chatpulse_dashboard_records_total{feed="minutes"} "#))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(applied >= minutes.len() as u64, "{applied} minutes applied");
    let shot = browser.screenshot("dashboard-spike");
    eprintln!("screenshots beside {}", shot.display());

    drop(browser);
    drop(dashboard);
    control.stop();
    boards_control.stop();
    let stats = handle.join().unwrap();
    boards_handle.join().unwrap();
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
}

#[test]
fn the_dashboard_refuses_to_serve_beyond_loopback_without_a_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_chatpulse"))
        .env("CHATPULSE_LOG", "warn")
        .env_remove("CHATPULSE_DASHBOARD_TOKEN")
        .args([
            "dashboard",
            "--brokers",
            "127.0.0.1:1",
            "--addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs an access token"), "{err}");
}
