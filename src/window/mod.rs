//! Event-time windows, pure: tumbling, hopping, record-driven sliding and gap-based session windows
//! over any [`Aggregate`], closed by the watermark at `end + grace` (tumbling windows are kept for late
//! records until `end + grace + allowed lateness`). The state layer persists them through
//! [`WindowState`] (sessions, which carry their end, through their own table).

pub mod aggregate;
mod frozen;
pub mod hopping;
pub mod session;
pub mod sliding;
pub mod spec;
pub mod tumbling;

pub use aggregate::Aggregate;
pub use spec::{EmitMode, WindowSpec};

use hopping::HoppingWindows;
use sliding::SlidingWindows;
use tumbling::TumblingWindows;

use serde::{Deserialize, Serialize};

/// A window's bounds in epoch milliseconds: `[start_ms, end_ms)` for tumbling and hopping windows;
/// sliding windows include both ends (`[end - difference, end]`) and say so with `end_inclusive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    /// First millisecond of the window.
    pub start_ms: i64,
    /// End of the window (exclusive unless the window is sliding).
    pub end_ms: i64,
}

/// One window result.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult<O> {
    /// The key (a channel).
    pub key: String,
    /// The window's bounds.
    pub window: Window,
    /// The aggregate's output.
    pub value: O,
    /// True when the window has closed and this is its last result (or, with `revision > 0`, a
    /// corrected last result: late records arrived within the allowed lateness).
    pub is_final: bool,
    /// 0 for a window's first final result and its updates; each corrected final adds one.
    pub revision: u32,
}

/// What happened to a record offered to a window operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Added to at least one open window.
    Accepted,
    /// Every window it belongs to has closed (its time is before watermark - grace, minus the
    /// allowed lateness where a window kind keeps closed windows): not added.
    Late,
}

/// The persistable state of one open window (or sliding-window bucket) of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowState<A> {
    /// The key.
    pub key: String,
    /// Start of the window (tumbling, hopping pane) or the bucket's timestamp (sliding).
    pub start_ms: i64,
    /// The accumulator.
    pub acc: A,
    /// For a closed window kept for late records: the revision of its last final result.
    pub revision: Option<u32>,
}

/// One entry of [`WindowOperator::take_dirty`]: key, window start (or bucket), and the accumulator
/// with the revision of a closed window's last final (see [`WindowState`]), or `None` for a delete.
pub type StateDelta<Acc> = (String, i64, Option<(Acc, Option<u32>)>);

/// The interface every window kind offers to processors.
pub trait WindowOperator<A: Aggregate> {
    /// Offers one record of `key` at event time `ts_ms`.
    fn add(&mut self, key: &str, ts_ms: i64, input: &A::Input) -> Admission;

    /// Moves the watermark to `watermark_ms` (never backwards) and appends the final result of every
    /// window whose `end + grace <= watermark` to `out`, forgetting those windows (a kind with an
    /// allowed lateness keeps them that much longer, and emits a pending correction when it drops them).
    fn advance(&mut self, watermark_ms: i64, out: &mut Vec<WindowResult<A::Output>>);

    /// Appends the current (not final) result of every window changed since the last call, for
    /// `emit = "update"`; clears the changed marks.
    fn updates(&mut self, out: &mut Vec<WindowResult<A::Output>>);

    /// The state changed since the last call: upserts for open windows that changed and deletes
    /// (`None`) for windows closed or expired since; clears the marks. Used to flush the write-back
    /// cache to the store and changelog at commit.
    fn take_dirty(&mut self) -> Vec<StateDelta<A::Acc>>;

    /// Appends a corrected final result (the next revision) of every closed window that late records
    /// changed since its last final, for window kinds with an allowed lateness. Called at commit.
    fn revisions(&mut self, out: &mut Vec<WindowResult<A::Output>>) {
        let _ = out;
    }

    /// Restores one persisted entry (at start-up or after a rebalance), before any `add`.
    fn restore(&mut self, state: WindowState<A::Acc>);

    /// Sets the watermark without emitting anything: after [`WindowOperator::restore`], windows that
    /// closed before the crash were already emitted.
    fn set_watermark(&mut self, watermark_ms: i64);

    /// The current watermark (`i64::MIN` before any).
    fn watermark(&self) -> i64;

    /// Number of open windows (or buckets) held in memory.
    fn open_windows(&self) -> usize;

    /// Appends the current (not final) result of every open window of `key`, in window order,
    /// without changing anything: what an interactive query shows.
    fn peek(&self, key: &str, out: &mut Vec<WindowResult<A::Output>>);
}

/// Builds the window operator a spec asks for.
///
/// # Panics
///
/// On a [`WindowSpec::Session`]: a session's state carries its end, which [`WindowOperator`] does
/// not, so session windows are built as [`session::SessionWindows`]. Validation gives session
/// windows only to kinds that take them (`WindowRule::Session`), never to one built through here.
pub fn window_operator<A>(aggregate: A, spec: WindowSpec) -> Box<dyn WindowOperator<A> + Send>
where
    A: Aggregate + Send + 'static,
    A::Acc: Send,
{
    match spec {
        WindowSpec::Tumbling {
            size_ms,
            grace_ms,
            allowed_lateness_ms,
        } => Box::new(
            TumblingWindows::new(aggregate, size_ms, grace_ms)
                .with_allowed_lateness(allowed_lateness_ms),
        ),
        WindowSpec::Hopping {
            size_ms,
            advance_ms,
            grace_ms,
        } => Box::new(HoppingWindows::new(
            aggregate, size_ms, advance_ms, grace_ms,
        )),
        WindowSpec::Sliding {
            difference_ms,
            grace_ms,
        } => Box::new(SlidingWindows::new(aggregate, difference_ms, grace_ms)),
        WindowSpec::Session { .. } => {
            panic!("session windows are built as SessionWindows, not through window_operator")
        }
    }
}
