//! The window operators against an independent brute-force reference: a real chat log, adversarial
//! and seeded random timestamps, update mode, and crash/restore equivalence. Pure: no broker, no
//! clock, no new dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::{ChatEvent, EventKind};
use chatpulse::window::hopping::HoppingWindows;
use chatpulse::window::sliding::SlidingWindows;
use chatpulse::window::tumbling::TumblingWindows;
use chatpulse::window::{Admission, Aggregate, Window, WindowOperator, WindowResult, WindowState};

// ---------------------------------------------------------------------------------------------
// The aggregate under test: records and distinct users.

/// Number of records and the set of distinct users.
struct CountDistinct;

type Acc = (u64, BTreeSet<String>);
type Res = WindowResult<Acc>;
type Delta = (String, i64, Option<(Acc, Option<u32>)>);

impl Aggregate for CountDistinct {
    type Input = str;
    type Acc = Acc;
    type Output = Acc;

    fn init(&self) -> Acc {
        (0, BTreeSet::new())
    }
    fn add(&self, acc: &mut Acc, user: &str) {
        acc.0 += 1;
        if !acc.1.contains(user) {
            acc.1.insert(user.to_owned());
        }
    }
    fn merge(&self, into: &mut Acc, other: &Acc) {
        into.0 += other.0;
        into.1.extend(other.1.iter().cloned());
    }
    fn finish(&self, acc: &Acc) -> Acc {
        acc.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

/// A window kind and its sizes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Tumbling { size: i64, grace: i64 },
    Hopping { size: i64, advance: i64, grace: i64 },
    Sliding { difference: i64, grace: i64 },
}

/// One call on an operator.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Add {
        key: String,
        ts: i64,
        user: String,
    },
    Advance(i64),
    Updates,
    /// `take_dirty`, as a commit does.
    Commit,
}

fn add(key: &str, ts: i64, user: &str) -> Op {
    Op::Add {
        key: key.to_owned(),
        ts,
        user: user.to_owned(),
    }
}

fn operator(kind: Kind) -> Box<dyn WindowOperator<CountDistinct>> {
    match kind {
        Kind::Tumbling { size, grace } => {
            Box::new(TumblingWindows::new(CountDistinct, size, grace))
        }
        Kind::Hopping {
            size,
            advance,
            grace,
        } => Box::new(HoppingWindows::new(CountDistinct, size, advance, grace)),
        Kind::Sliding { difference, grace } => {
            Box::new(SlidingWindows::new(CountDistinct, difference, grace))
        }
    }
}

/// What a run produced; operator and reference runs must produce the same.
#[derive(Debug, Default, PartialEq)]
struct Trace {
    /// One per `Add`, in order.
    admissions: Vec<Admission>,
    /// Final results, with the index of the `Advance` op that emitted them, in emission order.
    finals: Vec<(usize, Res)>,
    /// Update results, with the index of the `Updates` op, in emission order.
    updates: Vec<(usize, Res)>,
}

/// Everything observable about an operator run, for crash/restore comparisons.
#[derive(Debug, Default, PartialEq)]
struct Observed {
    trace: Trace,
    /// Each `take_dirty` batch, sorted.
    commits: Vec<Vec<Delta>>,
    /// `open_windows()` after each op.
    open: Vec<usize>,
}

/// Runs `ops` (numbered from `first`) on `op`.
fn run_operator(
    op: &mut dyn WindowOperator<CountDistinct>,
    ops: &[Op],
    first: usize,
    seen: &mut Observed,
) {
    for (i, o) in ops.iter().enumerate() {
        let step = first + i;
        match o {
            Op::Add { key, ts, user } => seen.trace.admissions.push(op.add(key, *ts, user)),
            Op::Advance(w) => {
                let mut out = Vec::new();
                op.advance(*w, &mut out);
                assert!(
                    out.iter().all(|r| r.is_final),
                    "advance emitted a non-final result"
                );
                seen.trace.finals.extend(out.into_iter().map(|r| (step, r)));
            }
            Op::Updates => {
                let mut out = Vec::new();
                op.updates(&mut out);
                assert!(
                    out.iter().all(|r| !r.is_final),
                    "updates emitted a final result"
                );
                seen.trace
                    .updates
                    .extend(out.into_iter().map(|r| (step, r)));
            }
            Op::Commit => {
                let mut batch = op.take_dirty();
                batch.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
                let distinct: BTreeSet<_> = batch.iter().map(|d| (&d.0, d.1)).collect();
                assert_eq!(
                    distinct.len(),
                    batch.len(),
                    "take_dirty names an entry twice: {batch:?}"
                );
                seen.commits.push(batch);
            }
        }
        seen.open.push(op.open_windows());
    }
}

fn operator_trace(kind: Kind, ops: &[Op]) -> Trace {
    let mut op = operator(kind);
    let mut seen = Observed::default();
    run_operator(op.as_mut(), ops, 0, &mut seen);
    seen.trace
}

// ---------------------------------------------------------------------------------------------
// The reference: the contract written as plain loops, sharing nothing with the operators.

struct Reference {
    kind: Kind,
    watermark: i64,
    /// Tumbling and hopping: the content of every window that received a record, by (key, start).
    contents: BTreeMap<(String, i64), Acc>,
    /// Sliding: every accepted record (key, ts, user), in arrival order.
    accepted: Vec<(String, i64, String)>,
    /// Windows not emitted yet: (key, start) for tumbling and hopping, (key, end) for sliding.
    pending: BTreeSet<(String, i64)>,
    /// Tumbling and hopping: windows a record was added to since the last `updates`.
    changed: BTreeSet<(String, i64)>,
    /// Sliding: (key, ts) of the records accepted since the last `updates`.
    recent: Vec<(String, i64)>,
}

impl Reference {
    fn new(kind: Kind) -> Self {
        Reference {
            kind,
            watermark: i64::MIN,
            contents: BTreeMap::new(),
            accepted: Vec::new(),
            pending: BTreeSet::new(),
            changed: BTreeSet::new(),
            recent: Vec::new(),
        }
    }

    fn grace(&self) -> i64 {
        match self.kind {
            Kind::Tumbling { grace, .. }
            | Kind::Hopping { grace, .. }
            | Kind::Sliding { grace, .. } => grace,
        }
    }

    /// The window named by `at` (a start, or a sliding window's end).
    fn window(&self, at: i64) -> Window {
        match self.kind {
            Kind::Tumbling { size, .. } | Kind::Hopping { size, .. } => Window {
                start_ms: at,
                end_ms: at + size,
            },
            Kind::Sliding { difference, .. } => Window {
                start_ms: at - difference,
                end_ms: at,
            },
        }
    }

    fn is_closed(&self, at: i64) -> bool {
        self.window(at).end_ms as i128 + self.grace() as i128 <= self.watermark as i128
    }

    /// Tumbling and hopping: the starts of every window holding `ts`.
    fn starts_containing(&self, ts: i64) -> Vec<i64> {
        let (size, step) = match self.kind {
            Kind::Tumbling { size, .. } => (size, size),
            Kind::Hopping { size, advance, .. } => (size, advance),
            Kind::Sliding { .. } => unreachable!(),
        };
        let mut starts = Vec::new();
        let mut start = ts.div_euclid(step) * step;
        while start + size > ts {
            assert!(start <= ts);
            starts.push(start);
            start -= step;
        }
        starts
    }

    fn value(&self, key: &str, at: i64) -> Acc {
        match self.kind {
            Kind::Sliding { difference, .. } => {
                let mut acc: Acc = (0, BTreeSet::new());
                for (k, ts, user) in &self.accepted {
                    if k == key && at - difference <= *ts && *ts <= at {
                        acc.0 += 1;
                        acc.1.insert(user.clone());
                    }
                }
                acc
            }
            _ => self.contents[&(key.to_owned(), at)].clone(),
        }
    }

    fn result(&self, key: &str, at: i64, is_final: bool) -> Res {
        WindowResult {
            key: key.to_owned(),
            window: self.window(at),
            value: self.value(key, at),
            is_final,
            revision: 0,
        }
    }

    fn add(&mut self, key: &str, ts: i64, user: &str) -> Admission {
        if let Kind::Sliding { .. } = self.kind {
            if self.is_closed(ts) {
                return Admission::Late;
            }
            self.accepted.push((key.to_owned(), ts, user.to_owned()));
            self.pending.insert((key.to_owned(), ts));
            self.recent.push((key.to_owned(), ts));
            return Admission::Accepted;
        }
        let mut admission = Admission::Late;
        for start in self.starts_containing(ts) {
            if self.is_closed(start) {
                continue;
            }
            let id = (key.to_owned(), start);
            let acc = self.contents.entry(id.clone()).or_default();
            acc.0 += 1;
            acc.1.insert(user.to_owned());
            self.pending.insert(id.clone());
            self.changed.insert(id);
            admission = Admission::Accepted;
        }
        admission
    }

    fn advance(&mut self, watermark: i64) -> Vec<Res> {
        if watermark <= self.watermark {
            return Vec::new();
        }
        self.watermark = watermark;
        let closing: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, at)| self.is_closed(*at))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for (key, at) in closing {
            out.push(self.result(&key, at, true));
            self.pending.remove(&(key, at));
        }
        sort(&mut out);
        out
    }

    fn updates(&mut self) -> Vec<Res> {
        let mut out = Vec::new();
        match self.kind {
            Kind::Sliding { difference, .. } => {
                for (key, end) in &self.pending {
                    let changed = self
                        .recent
                        .iter()
                        .any(|(k, ts)| k == key && end - difference <= *ts && ts <= end);
                    if changed && !self.is_closed(*end) {
                        out.push(self.result(key, *end, false));
                    }
                }
                self.recent.clear();
            }
            _ => {
                for (key, start) in std::mem::take(&mut self.changed) {
                    if !self.is_closed(start) {
                        out.push(self.result(&key, start, false));
                    }
                }
            }
        }
        sort(&mut out);
        out
    }
}

fn sort(results: &mut [Res]) {
    results.sort_by(|a, b| {
        (a.window.end_ms, &a.key, a.window.start_ms).cmp(&(
            b.window.end_ms,
            &b.key,
            b.window.start_ms,
        ))
    });
}

fn reference_trace(kind: Kind, ops: &[Op]) -> Trace {
    let mut reference = Reference::new(kind);
    let mut trace = Trace::default();
    for (step, o) in ops.iter().enumerate() {
        match o {
            Op::Add { key, ts, user } => trace.admissions.push(reference.add(key, *ts, user)),
            Op::Advance(w) => trace
                .finals
                .extend(reference.advance(*w).into_iter().map(|r| (step, r))),
            Op::Updates => trace
                .updates
                .extend(reference.updates().into_iter().map(|r| (step, r))),
            Op::Commit => {}
        }
    }
    trace
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers.

/// Asserts two sequences are equal, reporting the first difference rather than both sequences.
fn assert_same<T: PartialEq + Debug>(
    what: &str,
    actual: &[T],
    expected: &[T],
    context: &dyn Fn() -> String,
) {
    if let Some(i) = (0..actual.len().min(expected.len())).find(|&i| actual[i] != expected[i]) {
        panic!(
            "{what} differ at #{i}:\n  operator:  {:?}\n  reference: {:?}\n{}",
            actual[i],
            expected[i],
            context()
        );
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: operator has {} entries, reference {}; first extra: {:?}\n{}",
        actual.len(),
        expected.len(),
        actual
            .get(expected.len())
            .map(|x| format!("{x:?}"))
            .or_else(|| expected.get(actual.len()).map(|x| format!("{x:?}"))),
        context()
    );
}

fn assert_traces(actual: &Trace, expected: &Trace, context: &dyn Fn() -> String) {
    assert_same(
        "admissions",
        &actual.admissions,
        &expected.admissions,
        context,
    );
    assert_same("final results", &actual.finals, &expected.finals, context);
    assert_same("updates", &actual.updates, &expected.updates, context);
}

/// Checks operator against reference on `ops`; returns the operator's and the reference's traces.
fn check_both(kind: Kind, ops: &[Op], context: &dyn Fn() -> String) -> (Trace, Trace) {
    let actual = operator_trace(kind, ops);
    let expected = reference_trace(kind, ops);
    assert_traces(&actual, &expected, context);
    (actual, expected)
}

/// Checks operator against reference on `ops`; returns the operator's trace.
fn check(kind: Kind, ops: &[Op], context: &dyn Fn() -> String) -> Trace {
    check_both(kind, ops, context).0
}

/// Runs `ops[..cut]` on one operator, commits, restores a second operator from everything its commits
/// produced, then checks both behave the same on `ops[cut..]`.
fn check_crash_restore(kind: Kind, ops: &[Op], cut: usize, context: &dyn Fn() -> String) {
    let mut original = operator(kind);
    let mut before = Observed::default();
    run_operator(original.as_mut(), &ops[..cut], 0, &mut before);
    // The commit at the crash point: updates go out, the delta is flushed.
    original.updates(&mut Vec::new());
    before.commits.push(original.take_dirty());

    // (key, window start) -> the stored accumulator and revision (None: deleted).
    type Stored = Option<(Acc, Option<u32>)>;
    let mut store: BTreeMap<(String, i64), Stored> = BTreeMap::new();
    for (key, start, stored) in before.commits.into_iter().flatten() {
        store.insert((key, start), stored);
    }
    let mut restored = operator(kind);
    for ((key, start_ms), stored) in store {
        if let Some((acc, revision)) = stored {
            restored.restore(WindowState {
                key,
                start_ms,
                acc,
                revision,
            });
        }
    }
    restored.set_watermark(original.watermark());
    let context = || format!("crash at op {cut} of {}\n{}", ops.len(), context());
    assert_eq!(restored.watermark(), original.watermark());
    assert_eq!(
        restored.open_windows(),
        original.open_windows(),
        "{}",
        context()
    );
    assert!(
        restored.take_dirty().is_empty(),
        "a restore must not make the state dirty"
    );

    let (mut a, mut b) = (Observed::default(), Observed::default());
    run_operator(original.as_mut(), &ops[cut..], cut, &mut a);
    run_operator(restored.as_mut(), &ops[cut..], cut, &mut b);
    assert_traces(&b.trace, &a.trace, &context);
    assert_same("commits", &b.commits, &a.commits, &context);
    assert_same("open windows", &b.open, &a.open, &context);
}

// ---------------------------------------------------------------------------------------------
// A small seeded PRNG (SplitMix64).

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in `[lo, hi]`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_kind(rng: &mut Rng, which: usize) -> Kind {
    let grace = if rng.chance(20) { 0 } else { rng.range(0, 20) };
    match which % 3 {
        0 => Kind::Tumbling {
            size: rng.range(1, 40),
            grace,
        },
        1 => {
            let advance = rng.range(1, 10);
            Kind::Hopping {
                size: advance * rng.range(1, 5),
                advance,
                grace,
            }
        }
        _ => Kind::Sliding {
            difference: rng.range(1, 30),
            grace,
        },
    }
}

/// Random ops around a slowly moving event time: out-of-order records within and beyond grace, exact
/// duplicates, key "a" going quiet part-way, backwards and jumping watermarks, updates and commits; then
/// a final flush.
fn random_ops(rng: &mut Rng, len: usize) -> Vec<Op> {
    const KEYS: [&str; 3] = ["a", "b", "c"];
    const USERS: [&str; 5] = ["u1", "u2", "u3", "u4", "u5"];
    let quiet_from = rng.below(len as u64 + 1) as usize;
    let mut now = rng.range(-300, 300);
    let mut ops = Vec::new();
    let mut last: Option<Op> = None;
    for i in 0..len {
        now += rng.range(0, 4);
        let roll = rng.below(100);
        if roll < 60 {
            let op = match &last {
                Some(Op::Add { key, .. }) if roll < 6 && (i < quiet_from || key != "a") => {
                    last.clone().unwrap()
                }
                _ => {
                    let key = loop {
                        let key = KEYS[rng.below(3) as usize];
                        if i < quiet_from || key != "a" {
                            break key;
                        }
                    };
                    let ts = match rng.below(10) {
                        0 => now - rng.range(30, 120),
                        1..=5 => now - rng.range(0, 25),
                        _ => now,
                    };
                    add(key, ts, USERS[rng.below(5) as usize])
                }
            };
            let Op::Add { ts, .. } = &op else {
                unreachable!()
            };
            let ts = *ts;
            ops.push(op.clone());
            last = Some(op);
            if rng.chance(40) {
                // The processor's pattern: the watermark follows the records.
                ops.push(Op::Advance(ts));
            }
        } else if roll < 85 {
            ops.push(Op::Advance(now - rng.range(0, 8)));
        } else if roll < 88 {
            now += rng.range(10, 60);
            ops.push(Op::Advance(now));
        } else if roll < 94 {
            ops.push(Op::Updates);
        } else {
            ops.push(Op::Commit);
        }
    }
    ops.push(Op::Updates);
    ops.push(Op::Advance(i64::MAX));
    ops.push(Op::Commit);
    ops
}

// ---------------------------------------------------------------------------------------------
// (a) A real chat log.

const DEV_LOG: &str = "dev_irc_untagged_admiralbulldog_2019/chat_admiralbulldog_4_30.log";

/// The messages of the dev log as (channel, ts, user), in log order.
fn dev_messages() -> &'static [(String, i64, String)] {
    static MESSAGES: OnceLock<Vec<(String, i64, String)>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let dir = std::env::var_os("CHATPULSE_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/twitch-chat"));
        let path = dir.join(DEV_LOG);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| {
            panic!(
                "cannot open the dev chat log {} ({e}): set CHATPULSE_DATA_DIR to the twitch-chat data folder \
                 (the one holding dev_irc_untagged_admiralbulldog_2019/)",
                path.display()
            )
        });
        let options = ImportOptions {
            channel: None,
            utc_offset_s: -7 * 3600,
        };
        let mut messages = Vec::new();
        for line in import(Format::IrcLogged, options, BufReader::new(file)).flatten() {
            let Ok(event) = ChatEvent::parse(&line.line) else {
                continue;
            };
            if let (Some(ts), EventKind::Message(m)) = (event.ts_ms, &event.kind) {
                messages.push((event.channel.to_owned(), ts, m.user.login.to_owned()));
            }
        }
        assert!(messages.len() > 10_000, "only {} messages in {}", messages.len(), path.display());
        messages
    })
}

/// Ops for `messages`, processor style (add, then advance to the record's time), with updates every
/// 500 and commits every 200 messages, and a final flush.
fn ops_for<'a>(messages: impl IntoIterator<Item = (&'a str, i64, &'a str)>) -> Vec<Op> {
    let mut ops = Vec::new();
    for (i, (key, ts, user)) in messages.into_iter().enumerate() {
        ops.push(add(key, ts, user));
        ops.push(Op::Advance(ts));
        if i % 500 == 499 {
            ops.push(Op::Updates);
        }
        if i % 200 == 199 {
            ops.push(Op::Commit);
        }
    }
    ops.push(Op::Advance(i64::MAX));
    ops.push(Op::Commit);
    ops
}

/// The dev log as it is: one channel, in time order (second resolution).
fn dev_ops() -> Vec<Op> {
    ops_for(
        dev_messages()
            .iter()
            .map(|(key, ts, user)| (key.as_str(), *ts, user.as_str())),
    )
}

/// The first `limit` messages of the dev log made harder: a second key (half the users), which goes
/// quiet after 60% of them, and seeded jitter moving 20% of the records back in time by up to
/// `max_back_ms`, some beyond the grace period.
fn jittered_dev_ops(max_back_ms: i64, limit: usize) -> Vec<Op> {
    let messages = &dev_messages()[..limit.min(dev_messages().len())];
    let quiet_from = messages.len() * 6 / 10;
    let mut rng = Rng(0x0B5E_55ED);
    let mut jittered = Vec::new();
    for (i, (key, ts, user)) in messages.iter().enumerate() {
        let second_key = user.len() % 2 == 0;
        if second_key && i >= quiet_from {
            continue;
        }
        let back = if rng.chance(20) {
            rng.range(0, max_back_ms)
        } else {
            0
        };
        let key = if second_key {
            "second_key"
        } else {
            key.as_str()
        };
        jittered.push((key, ts - back, user.as_str()));
    }
    ops_for(jittered)
}

fn sorted_finals(trace: &Trace) -> Vec<Res> {
    let mut v: Vec<Res> = trace.finals.iter().map(|(_, r)| r.clone()).collect();
    v.sort_by(|a, b| (&a.key, a.window, a.value.0).cmp(&(&b.key, b.window, b.value.0)));
    v
}

fn check_dev_log(kind: Kind, ops: &[Op], what: &str) -> Trace {
    let context = || format!("{kind:?} on {what} {DEV_LOG}");
    let (trace, expected) = check_both(kind, ops, &context);
    // The contract's set of final results, whatever the emission order.
    assert_eq!(sorted_finals(&trace), sorted_finals(&expected));
    assert!(!trace.finals.is_empty() && !trace.updates.is_empty());
    trace
}

const TUMBLING_60S: Kind = Kind::Tumbling {
    size: 60_000,
    grace: 5_000,
};
const HOPPING_60S_BY_10S: Kind = Kind::Hopping {
    size: 60_000,
    advance: 10_000,
    grace: 5_000,
};
const SLIDING_10S: Kind = Kind::Sliding {
    difference: 10_000,
    grace: 2_000,
};

#[test]
fn dev_log_tumbling_matches_reference() {
    let trace = check_dev_log(TUMBLING_60S, &dev_ops(), "the whole of");
    // Every accepted record counts in exactly one tumbling window.
    let accepted = trace
        .admissions
        .iter()
        .filter(|a| **a == Admission::Accepted)
        .count() as u64;
    assert_eq!(
        trace.finals.iter().map(|(_, r)| r.value.0).sum::<u64>(),
        accepted
    );
    assert!(accepted > 10_000);
}

#[test]
fn dev_log_hopping_matches_reference() {
    let trace = check_dev_log(HOPPING_60S_BY_10S, &dev_ops(), "the whole of");
    // Each window overlaps five others: the results are not just tumbling ones.
    assert!(trace
        .finals
        .iter()
        .any(|(_, r)| r.window.start_ms % 60_000 != 0));
}

#[test]
fn dev_log_sliding_matches_reference() {
    check_dev_log(SLIDING_10S, &dev_ops(), "the whole of");
}

#[test]
fn jittered_two_key_dev_log_matches_reference() {
    // The sliding reference scans every record for every window: a prefix keeps it quick.
    for (kind, max_back_ms, limit) in [
        (TUMBLING_60S, 20_000, usize::MAX),
        (HOPPING_60S_BY_10S, 90_000, usize::MAX),
        (SLIDING_10S, 4_000, 12_000),
    ] {
        let ops = jittered_dev_ops(max_back_ms, limit);
        let trace = check_dev_log(kind, &ops, "a jittered two-key copy of");
        let late = trace
            .admissions
            .iter()
            .filter(|a| **a == Admission::Late)
            .count();
        assert!(late > 200, "{kind:?}: only {late} late records");
        assert!(trace.finals.iter().any(|(_, r)| r.key == "second_key"));
    }
}

#[test]
fn dev_log_crash_restore_equivalence() {
    let mut rng = Rng(0xC0FFEE);
    for kind in [TUMBLING_60S, HOPPING_60S_BY_10S, SLIDING_10S] {
        for ops in [dev_ops(), jittered_dev_ops(20_000, usize::MAX)] {
            let cut = rng.below(ops.len() as u64 + 1) as usize;
            check_crash_restore(kind, &ops, cut, &|| format!("{kind:?} on {DEV_LOG}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Adversarial timestamps.

/// Two keys; "quiet" stops early and its windows must still close as "loud" drives the watermark.
fn adversarial_ops() -> Vec<Op> {
    vec![
        add("quiet", 1, "u1"),  // 0
        add("loud", 2, "u1"),   // 1
        Op::Advance(2),         // 2
        add("loud", 9, "u2"),   // 3
        add("quiet", 9, "u2"),  // 4
        Op::Advance(9),         // 5
        add("loud", 12, "u1"),  // 6
        Op::Advance(12),        // 7
        add("loud", 4, "u3"),   // 8: out of order, within tumbling and hopping grace
        add("loud", 4, "u3"),   // 9: exact duplicate
        Op::Updates,            // 10
        Op::Advance(15),        // 11
        add("loud", 3, "u4"),   // 12: late beyond grace for every kind
        add("quiet", 14, "u1"), // 13: last record of "quiet"
        Op::Advance(40),        // 14
        add("quiet", 20, "u2"), // 15: late
        add("loud", 36, "u1"),  // 16
        add("loud", 40, "u1"),  // 17
        Op::Advance(11),        // 18: backwards, ignored
        Op::Updates,            // 19
        Op::Advance(i64::MAX),  // 20
    ]
}

#[test]
fn adversarial_timestamps_match_reference_and_hand_expectations() {
    use Admission::{Accepted as A, Late as L};
    let ops = adversarial_ops();
    let cases = [
        (
            Kind::Tumbling { size: 10, grace: 5 },
            [A, A, A, A, A, A, A, L, A, L, A, A],
        ),
        (
            Kind::Hopping {
                size: 10,
                advance: 5,
                grace: 5,
            },
            [A, A, A, A, A, A, A, L, A, L, A, A],
        ),
        // Sliding: late when ts + grace <= watermark, so the out-of-order 4 (4 + 5 <= 12) is late too.
        (
            Kind::Sliding {
                difference: 10,
                grace: 5,
            },
            [A, A, A, A, A, L, L, L, A, L, A, A],
        ),
    ];
    for (kind, admissions) in cases {
        let context = || format!("{kind:?}");
        let trace = check(kind, &ops, &context);
        assert_eq!(trace.admissions, admissions, "{kind:?}");
        let mut op = operator(kind);
        run_operator(op.as_mut(), &ops, 0, &mut Observed::default());
        assert_eq!(
            op.open_windows(),
            0,
            "{kind:?}: the final flush leaves windows open"
        );
        // "quiet" got no record after op 13, yet all its windows closed with the watermark.
        let quiet_last = trace
            .finals
            .iter()
            .filter(|(_, r)| r.key == "quiet")
            .map(|(step, _)| *step)
            .max();
        assert!(
            quiet_last.is_some_and(|step| step <= 14),
            "{kind:?}: {quiet_last:?}"
        );
        // Late records are nowhere: user u4 (only on a late record) never appears.
        assert!(
            trace.finals.iter().all(|(_, r)| !r.value.1.contains("u4")),
            "{kind:?}"
        );
    }

    // By hand, tumbling: [0,10) of "loud" closes at 15 with 2, 9 and both copies of 4.
    let trace = operator_trace(Kind::Tumbling { size: 10, grace: 5 }, &ops);
    let users = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    let window = |start_ms| Window {
        start_ms,
        end_ms: start_ms + 10,
    };
    let at = |step: usize| -> Vec<(&str, Window, u64)> {
        trace
            .finals
            .iter()
            .filter(|(s, _)| *s == step)
            .map(|(_, r)| (r.key.as_str(), r.window, r.value.0))
            .collect()
    };
    assert_eq!(
        at(11),
        vec![("loud", window(0), 4), ("quiet", window(0), 2)]
    );
    assert_eq!(
        at(14),
        vec![("loud", window(10), 1), ("quiet", window(10), 1)]
    );
    assert_eq!(
        at(20),
        vec![("loud", window(30), 1), ("loud", window(40), 1)]
    );
    let loud0 = &trace
        .finals
        .iter()
        .find(|(_, r)| r.key == "loud" && r.window == window(0))
        .unwrap()
        .1;
    assert_eq!(loud0.value.1, users(&["u1", "u2", "u3"]));
    // Updates at op 10: the three windows changed so far, all still open.
    let updates: Vec<_> = trace
        .updates
        .iter()
        .filter(|(s, _)| *s == 10)
        .map(|(_, r)| (r.key.as_str(), r.window, r.value.0))
        .collect();
    assert_eq!(
        updates,
        vec![
            ("loud", window(0), 4),
            ("quiet", window(0), 2),
            ("loud", window(10), 1)
        ]
    );
}

#[test]
fn random_cases_match_reference() {
    let mut rng = Rng(0x5EED_0001);
    let mut late = 0;
    let mut finals = 0;
    for case in 0..3_000 {
        let kind = random_kind(&mut rng, case);
        let len = rng.range(1, 150) as usize;
        let ops = random_ops(&mut rng, len);
        let context = || format!("random case {case}: {kind:?}\n{ops:?}");
        let trace = check(kind, &ops, &context);
        late += trace
            .admissions
            .iter()
            .filter(|a| **a == Admission::Late)
            .count();
        finals += trace.finals.len();
        let mut op = operator(kind);
        run_operator(op.as_mut(), &ops, 0, &mut Observed::default());
        assert_eq!(op.open_windows(), 0, "{}", context());
    }
    // The generator really produces late records and results.
    assert!(
        late > 1_000 && finals > 10_000,
        "late {late}, finals {finals}"
    );
}

// ---------------------------------------------------------------------------------------------
// (c) Update mode.

#[test]
fn update_mode_matches_running_reference_values() {
    let mut rng = Rng(0x5EED_0002);
    let mut updates = 0;
    for case in 0..1_500 {
        let kind = random_kind(&mut rng, case);
        let len = rng.range(1, 150) as usize;
        // More updates than in the other random cases: one after every op.
        let ops: Vec<Op> = random_ops(&mut rng, len)
            .into_iter()
            .flat_map(|op| [op, Op::Updates])
            .collect();
        let context = || format!("update case {case}: {kind:?}\n{ops:?}");
        let trace = check(kind, &ops, &context);
        updates += trace.updates.len();
        // Nothing changes between two `Updates` in a row, so the second reports nothing.
        for step in (1..ops.len()).filter(|&i| ops[i] == Op::Updates && ops[i - 1] == Op::Updates) {
            assert!(
                trace.updates.iter().all(|(s, _)| *s != step),
                "{}",
                context()
            );
        }
    }
    assert!(updates > 10_000, "only {updates} updates");
}

// ---------------------------------------------------------------------------------------------
// (d) Crash/restore equivalence.

#[test]
fn crash_restore_equivalence_at_random_cuts() {
    let mut rng = Rng(0x5EED_0003);
    for case in 0..3_000 {
        let kind = random_kind(&mut rng, case);
        let len = rng.range(1, 150) as usize;
        let ops = random_ops(&mut rng, len);
        let cut = rng.below(ops.len() as u64 + 1) as usize;
        check_crash_restore(kind, &ops, cut, &|| {
            format!("crash case {case}: {kind:?}\n{ops:?}")
        });
    }
}

#[test]
fn restore_drops_deleted_entries() {
    // A window written then deleted in the delta must not come back.
    for (kind, start) in [
        (Kind::Tumbling { size: 10, grace: 0 }, 0),
        (
            Kind::Hopping {
                size: 10,
                advance: 5,
                grace: 0,
            },
            0,
        ),
        (
            Kind::Sliding {
                difference: 10,
                grace: 0,
            },
            1,
        ),
    ] {
        let ops = vec![
            add("k", 1, "u1"),
            Op::Commit,
            Op::Advance(100),
            add("k", 101, "u2"),
            Op::Commit,
        ];
        for cut in 0..=ops.len() {
            check_crash_restore(kind, &ops, cut, &|| format!("{kind:?}"));
        }
        let mut op = operator(kind);
        let mut seen = Observed::default();
        run_operator(op.as_mut(), &ops, 0, &mut seen);
        assert_eq!(
            seen.commits[0],
            vec![(
                "k".to_owned(),
                start,
                Some(((1, ["u1".to_owned()].into()), None))
            )]
        );
        assert!(
            seen.commits[1].contains(&("k".to_owned(), start, None)),
            "{kind:?}: {:?}",
            seen.commits
        );
    }
}
