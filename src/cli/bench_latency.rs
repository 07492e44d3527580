//! `chatpulse bench latency`: end-to-end latency under a steady paced load (issue 20). Real chat
//! lines are produced at a fixed rate over N channels, stamped with the wall time at produce, while a
//! consumer reads the result topics and measures each result's arrival against its event time.
//!
//! The load is DERIVED from real chat: the text, tags and users are the log's, but each line's
//! channel is rewritten to one of `bench_0` .. `bench_{N-1}` (round robin, so every channel runs at
//! the same base rate) and its `tmi-sent-ts` to the wall time when it is produced. Bursts are
//! injected so that the spike detector has onsets to confirm: from `--burst-from` on, every
//! `--burst-every` one channel (the next in turn) receives `--burst-share` of all lines for
//! `--burst-len`, the total rate staying the same.
//!
//! Because a line's event time is its produce time, a result's record timestamp (the window's end
//! for window results, the detection time for a spike onset) is the produce time of the last line
//! it could depend on: latency = arrival at the measuring consumer (an upper bound on the append
//! time) − record timestamp.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::BaseRecord;
use rdkafka::Message;

use super::bench_produce::{flush, producer, send};
use super::input;
use crate::avro::wire::unframe;
use crate::chat::import::Format;
use crate::kafka::KafkaSettings;
use crate::time::clock::{Clock, SystemClock};

/// Arguments of `chatpulse bench latency`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kafka bootstrap brokers, `host:port[,host:port]`.
    #[arg(long, env = "CHATPULSE_BROKERS")]
    brokers: String,
    /// Tagged IRC lines to take the load's text from (`bench load --lines-out`; gzip detected);
    /// cycled when the run needs more.
    #[arg(long)]
    lines: String,
    /// The topic the topology reads.
    #[arg(long, default_value = "twitch.chat.raw")]
    topic: String,
    /// Result topics to measure (repeat the flag). A topic named `twitch.spikes` (or ending so)
    /// counts onset records only.
    #[arg(long = "watch", required = true)]
    watch: Vec<String>,
    /// Lines per second, paced evenly.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Channels the lines are spread over.
    #[arg(long, default_value_t = 100)]
    channels: u32,
    /// How long to produce, in seconds.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Seconds into the run when the first burst starts (after the spike detector's warm-up).
    #[arg(long, default_value_t = 150)]
    burst_from: u64,
    /// Seconds between burst starts.
    #[arg(long, default_value_t = 30)]
    burst_every: u64,
    /// Seconds each burst lasts.
    #[arg(long, default_value_t = 10)]
    burst_len: u64,
    /// Share of all lines sent to the bursting channel during a burst.
    #[arg(long, default_value_t = 0.3)]
    burst_share: f64,
    /// After the last line, how long to keep reading results, in seconds.
    #[arg(long, default_value_t = 15)]
    drain: u64,
    /// Count only results whose timestamp is at least this many seconds into the run (the first
    /// minute's results are of a partial minute).
    #[arg(long, default_value_t = 60)]
    skip: u64,
    /// Write every measured result (`topic`, `timestamp_ms`, `latency_ms`) as TSV here.
    #[arg(long)]
    samples: Option<std::path::PathBuf>,
}

/// Which channel each line of a run goes to, given the time it is produced.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// Channels.
    pub channels: u32,
    /// First burst start, ms into the run.
    pub burst_from_ms: u64,
    /// Between burst starts, ms.
    pub burst_every_ms: u64,
    /// Burst length, ms.
    pub burst_len_ms: u64,
    /// Share of lines to the bursting channel, 0..1.
    pub burst_share: f64,
}

impl LoadPlan {
    /// The bursting channel at `elapsed_ms` into the run, if a burst is on.
    pub fn bursting(&self, elapsed_ms: u64) -> Option<u32> {
        if elapsed_ms < self.burst_from_ms || self.burst_every_ms == 0 {
            return None;
        }
        let since = elapsed_ms - self.burst_from_ms;
        let n = since / self.burst_every_ms;
        (since % self.burst_every_ms < self.burst_len_ms).then(|| (n % self.channels as u64) as u32)
    }
}

/// Deals lines to channels by a [`LoadPlan`]: round robin, except that during a burst the bursting
/// channel takes `burst_share` of the lines (spread evenly) and the others share the rest.
#[derive(Debug, Clone)]
pub struct Dealer {
    plan: LoadPlan,
    /// Lines dealt round robin so far.
    round_robin: u64,
    /// Burst lines owed: grows by the share per line, one line is paid when it reaches 1.
    owed: f64,
}

impl Dealer {
    /// A dealer for `plan`.
    pub fn new(plan: LoadPlan) -> Self {
        Dealer {
            plan,
            round_robin: 0,
            owed: 0.0,
        }
    }

    /// The channel of the next line, produced `elapsed_ms` into the run.
    pub fn next(&mut self, elapsed_ms: u64) -> u32 {
        if let Some(b) = self.plan.bursting(elapsed_ms) {
            self.owed += self.plan.burst_share.clamp(0.0, 1.0);
            if self.owed >= 1.0 {
                self.owed -= 1.0;
                return b;
            }
        } else {
            self.owed = 0.0;
        }
        let c = (self.round_robin % self.plan.channels as u64) as u32;
        self.round_robin += 1;
        c
    }
}

/// `line` with its channel set to `channel` and its `tmi-sent-ts` tag to `ts_ms`, or `None` when
/// the line has no `tmi-sent-ts` tag or no `#channel` parameter.
pub fn restamp(line: &str, channel: &str, ts_ms: i64) -> Option<String> {
    let tags_end = if line.starts_with('@') {
        line.find(' ')?
    } else {
        return None;
    };
    let tags = &line[..tags_end];
    let tag = tags
        .match_indices("tmi-sent-ts=")
        .find(|(i, _)| *i == 1 || tags.as_bytes()[i - 1] == b';')?
        .0;
    let value_start = tag + "tmi-sent-ts=".len();
    let value_end = tags[value_start..]
        .find(';')
        .map_or(tags_end, |e| value_start + e);
    let rest = &line[tags_end..];
    let hash = rest.find(" #")? + 2;
    let chan_end = rest[hash..].find(' ').map_or(rest.len(), |e| hash + e);
    let mut out = String::with_capacity(line.len() + 16);
    out.push_str(&line[..value_start]);
    out.push_str(itoa::Buffer::new().format(ts_ms));
    out.push_str(&line[value_end..tags_end]);
    out.push_str(&rest[..hash]);
    out.push_str(channel);
    out.push_str(&rest[chan_end..]);
    Some(out)
}

/// The phase of a `twitch.spikes` record in the Schema Registry wire format (magic byte, schema
/// id, then the Avro record whose first two fields are the strings `channel` and `phase`).
pub fn spike_phase(value: &[u8]) -> Option<&str> {
    fn long(b: &[u8], at: &mut usize) -> Option<i64> {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some((v >> 1) as i64 ^ -((v & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }
    let (_, datum) = unframe(value).ok()?;
    let mut at = 0;
    let channel_len = usize::try_from(long(datum, &mut at)?).ok()?;
    at = at.checked_add(channel_len)?;
    let phase_len = usize::try_from(long(datum, &mut at)?).ok()?;
    std::str::from_utf8(datum.get(at..at.checked_add(phase_len)?)?).ok()
}

/// The `q` quantile (0..1) of sorted `v` by nearest rank.
pub fn quantile(v: &[i64], q: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Runs `chatpulse bench latency`.
pub fn run(a: Args) -> Result<ExitCode> {
    if a.rate == 0 || a.channels == 0 {
        bail!("--rate and --channels must be at least 1");
    }
    let lines = read_lines(&a.lines)?;
    let kafka = KafkaSettings::new(a.brokers.clone());
    let mut config = kafka.consumer_config(&format!("chatpulse-latency-{}", std::process::id()));
    config.set("fetch.wait.max.ms", "10");
    let consumer: BaseConsumer = config.create()?;
    let watch: Vec<&str> = a.watch.iter().map(String::as_str).collect();
    consumer.subscribe(&watch)?;
    let producer = producer(&kafka)?;

    let started_ms = SystemClock.now_ms();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || read_results(consumer, &done))
    };
    let plan = LoadPlan {
        channels: a.channels,
        burst_from_ms: a.burst_from * 1000,
        burst_every_ms: a.burst_every * 1000,
        burst_len_ms: a.burst_len * 1000,
        burst_share: a.burst_share,
    };
    let names: Vec<String> = (0..a.channels).map(|c| format!("bench_{c}")).collect();
    let mut dealer = Dealer::new(plan);
    let start = Instant::now();
    let total = a.rate as u64 * a.seconds;
    let mut last_progress = Instant::now();
    let mut produced = 0u64;
    for k in 0..total {
        let due = Duration::from_nanos(k * 1_000_000_000 / a.rate as u64);
        let elapsed = start.elapsed();
        if due > elapsed {
            // Pacing, not synchronisation: the line is due at its slot in the schedule.
            std::thread::sleep(due - elapsed);
        }
        let elapsed_ms = start.elapsed().as_millis() as u64;
        let channel = &names[dealer.next(elapsed_ms) as usize];
        let ts = SystemClock.now_ms();
        let line = restamp(&lines[(k as usize) % lines.len()], channel, ts)
            .expect("read_lines keeps only lines restamp can rewrite");
        let record = BaseRecord::to(&a.topic)
            .key(channel.as_bytes())
            .payload(line.as_bytes())
            .timestamp(ts);
        send(&producer, record).with_context(|| format!("cannot produce to {}", a.topic))?;
        producer.poll(Duration::ZERO);
        produced += 1;
        if last_progress.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "latency: {produced} lines in {:.0} s ({:.0}/s)",
                start.elapsed().as_secs_f64(),
                produced as f64 / start.elapsed().as_secs_f64()
            );
            last_progress = Instant::now();
        }
    }
    flush(&producer).context("cannot deliver the load")?;
    let produce_s = start.elapsed().as_secs_f64();
    let last_ms = SystemClock.now_ms();
    // A bounded drain: results of the windows that closed before the load stopped.
    std::thread::sleep(Duration::from_secs(a.drain));
    done.store(true, Ordering::Relaxed);
    let results = reader.join().expect("the result reader does not panic")?;

    let from_ms = started_ms + a.skip as i64 * 1000;
    let mut by_topic: BTreeMap<String, Vec<i64>> =
        a.watch.iter().map(|t| (t.clone(), Vec::new())).collect();
    let mut samples = match &a.samples {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    for r in &results {
        if r.ts_ms < from_ms || r.ts_ms > last_ms {
            continue;
        }
        if let Some(out) = &mut samples {
            writeln!(out, "{}\t{}\t{}", r.topic, r.ts_ms, r.arrived_ms - r.ts_ms)?;
        }
        by_topic
            .entry(r.topic.clone())
            .or_default()
            .push(r.arrived_ms - r.ts_ms);
    }
    if let Some(out) = &mut samples {
        out.flush()?;
    }
    println!(
        "load: {produced} lines over {} channels in {produce_s:.1} s ({:.0} lines/s)",
        a.channels,
        produced as f64 / produce_s
    );
    println!("topic\tresults\tp50_ms\tp99_ms\tmax_ms");
    for (topic, mut v) in by_topic {
        v.sort_unstable();
        println!(
            "{topic}\t{}\t{}\t{}\t{}",
            v.len(),
            quantile(&v, 0.5),
            quantile(&v, 0.99),
            v.last().copied().unwrap_or(0)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines that [`restamp`] can rewrite.
fn read_lines(path: &str) -> Result<Vec<String>> {
    let input = input::open(path, Some(Format::Irc))?;
    let mut lines = Vec::new();
    for line in input.reader.lines() {
        let line = line.with_context(|| format!("cannot read {path}"))?;
        if restamp(&line, "x", 0).is_some() {
            lines.push(line);
        }
    }
    if lines.is_empty() {
        bail!("{path} has no tagged IRC line with tmi-sent-ts and a #channel: write one with `bench load --lines-out`");
    }
    Ok(lines)
}

/// One result read back.
struct Arrival {
    topic: String,
    ts_ms: i64,
    arrived_ms: i64,
}

/// Reads results until `done`; spike records other than onsets are left out.
fn read_results(consumer: BaseConsumer, done: &AtomicBool) -> Result<Vec<Arrival>> {
    let mut out = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let Some(msg) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let arrived_ms = SystemClock.now_ms();
        let msg = msg.context("cannot read the result topics")?;
        let Some(ts_ms) = msg.timestamp().to_millis() else {
            continue;
        };
        if msg.topic().ends_with("twitch.spikes")
            && msg.payload().and_then(spike_phase) != Some("onset")
        {
            continue;
        }
        out.push(Arrival {
            topic: msg.topic().to_owned(),
            ts_ms,
            arrived_ms,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "@badge-info=;color=#FF0000;display-name=Ann;room-id=1;tmi-sent-ts=1700000000123;user-id=2 :ann!ann@ann.tmi.twitch.tv PRIVMSG #somechannel :hello #world";

    #[test]
    fn restamp_rewrites_channel_and_send_time_only() {
        let out = restamp(LINE, "bench_7", 42).unwrap();
        assert_eq!(
            out,
            "@badge-info=;color=#FF0000;display-name=Ann;room-id=1;tmi-sent-ts=42;user-id=2 :ann!ann@ann.tmi.twitch.tv PRIVMSG #bench_7 :hello #world"
        );
        let parsed = crate::chat::ChatEvent::parse(&out).unwrap();
        assert_eq!(parsed.channel, "bench_7");
        assert_eq!(parsed.ts_ms, Some(42));
        // Last tag, and a command without text.
        let last = "@a=1;tmi-sent-ts=5 :tmi.twitch.tv CLEARCHAT #c";
        assert_eq!(
            restamp(last, "d", 9).unwrap(),
            "@a=1;tmi-sent-ts=9 :tmi.twitch.tv CLEARCHAT #d"
        );
        // A look-alike tag is not the send time.
        assert_eq!(restamp("@x-tmi-sent-ts=1 :u PRIVMSG #c :t", "d", 9), None);
        assert_eq!(restamp(":u PRIVMSG #c :t", "d", 9), None);
    }

    #[test]
    fn the_plan_spreads_lines_evenly_and_bursts_one_channel_at_a_time() {
        let plan = LoadPlan {
            channels: 100,
            burst_from_ms: 150_000,
            burst_every_ms: 30_000,
            burst_len_ms: 10_000,
            burst_share: 0.3,
        };
        assert_eq!(plan.bursting(149_999), None);
        assert_eq!(plan.bursting(150_000), Some(0));
        assert_eq!(plan.bursting(159_999), Some(0));
        assert_eq!(plan.bursting(160_000), None);
        assert_eq!(plan.bursting(180_000), Some(1));
        // Outside bursts: round robin.
        let mut dealer = Dealer::new(plan);
        let mut counts = [0u32; 100];
        for _ in 0..10_000 {
            counts[dealer.next(0) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 100));
        // In a burst: 30 % to the bursting channel, the rest evenly over all (brute-force counts
        // over 10,000 lines).
        let mut counts = [0u32; 100];
        for _ in 0..10_000 {
            counts[dealer.next(150_000) as usize] += 1;
        }
        assert_eq!(counts[0], 3_000 + 70);
        assert!(counts[1..].iter().all(|&c| c == 70), "{counts:?}");
    }

    #[test]
    fn spike_phase_reads_the_second_string_of_the_wire_format() {
        // magic 0, schema id 7, channel "ab" (zigzag 4), phase "onset" (zigzag 10), more fields.
        let mut v = vec![0, 0, 0, 0, 7, 4, b'a', b'b', 10];
        v.extend_from_slice(b"onset");
        v.extend_from_slice(&[2, 0]);
        assert_eq!(spike_phase(&v), Some("onset"));
        assert_eq!(spike_phase(&v[..8]), None);
        assert_eq!(spike_phase(&[1, 0, 0, 0, 7, 0, 0]), None);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
