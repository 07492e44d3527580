//! What `chatpulse dashboard` (and `chatpulse demo`) serve beside the operations routes: the page
//! (one embedded HTML file), its JSON views (`/api/channels`, `/api/channel/{name}`,
//! `/api/global`) and `/events`, a Server-Sent Events stream that pushes the views when the board
//! changes, at most every [`PUSH_INTERVAL`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::dashboard_metrics::DashboardMetrics;
use super::routes::{percent_decode, query_values, split_query, Response};
use super::{EventStream, Observed};
use crate::dashboard::{page, Board, BoardWriter, Feed, Unshown};

/// The shortest time between two pushes to one client: a board that changes with every record
/// is sent at most this often.
pub const PUSH_INTERVAL: Duration = Duration::from_millis(250);
/// A comment line is sent after this long without an event, so that proxies keep the stream open
/// and a vanished client is noticed.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The board as the reader fills it and the server shows it (clones share it).
#[derive(Clone)]
pub struct LiveBoard {
    inner: Arc<Inner>,
}

struct Inner {
    board: Mutex<Board>,
    changed: watch::Sender<u64>,
    ready: Mutex<Result<(), String>>,
    metrics: Option<DashboardMetrics>,
}

impl LiveBoard {
    /// Shows `board`, counting in `metrics` when given; not ready until
    /// [`BoardWriter::set_ready`].
    pub fn new(board: Board, metrics: Option<DashboardMetrics>) -> LiveBoard {
        let (changed, _) = watch::channel(board.version());
        LiveBoard {
            inner: Arc::new(Inner {
                board: Mutex::new(board),
                changed,
                ready: Mutex::new(Err("reading the result topics' metadata".into())),
                metrics,
            }),
        }
    }

    /// The board's version (records and topic changes applied).
    pub fn version(&self) -> u64 {
        self.inner.board.lock().expect("board").version()
    }

    /// What one push carries: the channel list, the global views and, when `channel` is given,
    /// that channel's page (null for a channel not seen yet).
    pub fn snapshot(&self, channel: Option<&str>) -> Value {
        let board = self.inner.board.lock().expect("board");
        json!({
            "version": board.version(),
            "list": board.channels(),
            "global": board.global(),
            "channel": channel.and_then(|c| board.channel(c)),
        })
    }
}

impl BoardWriter for LiveBoard {
    /// Applies the records and wakes the streams once.
    fn apply(&self, records: Vec<(Feed, Value)>) -> Vec<Unshown> {
        let mut unshown = Vec::new();
        let mut applied: Vec<(Feed, u64)> = Vec::new();
        let version = {
            let mut board = self.inner.board.lock().expect("board");
            for (feed, value) in records {
                match board.apply(feed, value) {
                    Ok(_) => match applied.last_mut() {
                        Some((f, n)) if *f == feed => *n += 1,
                        _ => applied.push((feed, 1)),
                    },
                    Err(e) => unshown.push(e),
                }
            }
            board.version()
        };
        self.inner.changed.send_replace(version);
        if let Some(m) = &self.inner.metrics {
            for (feed, n) in applied {
                m.applied(feed, n);
            }
            for e in &unshown {
                m.unshown(e.feed);
            }
        }
        unshown
    }

    fn undecodable(&self, feed: Feed) {
        if let Some(m) = &self.inner.metrics {
            m.unshown(feed);
        }
    }

    fn set_topic_exists(&self, feed: Feed, exists: bool) {
        let version = {
            let mut board = self.inner.board.lock().expect("board");
            board.set_topic_exists(feed, exists);
            board.version()
        };
        self.inner.changed.send_replace(version);
    }

    fn set_ready(&self, ready: Result<(), String>) {
        *self.inner.ready.lock().expect("ready") = ready;
    }
}

/// A page open on the event stream, counted while it lives.
struct OpenClient(DashboardMetrics);

impl OpenClient {
    fn new(metrics: &DashboardMetrics) -> OpenClient {
        metrics.client(1);
        OpenClient(metrics.clone())
    }
}

impl Drop for OpenClient {
    fn drop(&mut self) {
        self.0.client(-1);
    }
}

/// The first value of `name` in `target`'s query string, decoded (`+` is a space); none when empty.
fn query_value(target: &str, name: &str) -> Option<String> {
    query_values(split_query(target).1?, name)
        .next()
        .map(|v| percent_decode(&v.replace('+', " ")))
        .filter(|v| !v.is_empty())
}

impl Observed for LiveBoard {
    fn readiness(&self) -> Result<(), String> {
        self.inner.ready.lock().expect("ready").clone()
    }

    fn page(&self, full_path: &str) -> Option<Response> {
        let (path, _) = split_query(full_path);
        let board = self.inner.board.lock().expect("board");
        let (status, body) = match path {
            "/" | "/index.html" => {
                return Some(Response {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    body: page::HTML.to_owned(),
                })
            }
            "/api/channels" => (200, board.channels()),
            "/api/global" => (200, board.global()),
            _ => {
                let name = percent_decode(path.strip_prefix("/api/channel/")?);
                match board.channel(&name) {
                    Some(view) => (200, view),
                    None => (
                        404,
                        json!({"error": format!("no results for channel {name:?} yet")}),
                    ),
                }
            }
        };
        Some(Response::json(status, body))
    }

    fn events(&self, full_path: &str) -> Option<EventStream> {
        if split_query(full_path).0 != "/events" {
            return None;
        }
        let channel = query_value(full_path, "channel");
        let (tx, rx) = mpsc::channel(4);
        let mut changed = self.inner.changed.subscribe();
        let board = self.clone();
        let metrics = self.inner.metrics.clone();
        tokio::spawn(async move {
            // Counted open while this task runs: it ends when the page goes away.
            let _open = metrics.as_ref().map(OpenClient::new);
            // The client's reconnection delay, then the current views at once.
            if tx
                .send(Bytes::from_static(b"retry: 2000\n\n"))
                .await
                .is_err()
            {
                return;
            }
            loop {
                changed.borrow_and_update();
                let snapshot = board.snapshot(channel.as_deref());
                let event = format!("event: board\ndata: {snapshot}\n\n");
                if tx.send(Bytes::from(event)).await.is_err() {
                    return;
                }
                if let Some(m) = &metrics {
                    m.pushed();
                }
                tokio::time::sleep(PUSH_INTERVAL).await;
                loop {
                    match tokio::time::timeout(HEARTBEAT, changed.changed()).await {
                        Ok(Ok(())) => break,
                        Ok(Err(_)) => return,
                        Err(_) => {
                            if tx.send(Bytes::from_static(b": alive\n\n")).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::BoardLimits;

    const T0: i64 = 1_704_067_200_000;

    #[test]
    fn the_page_and_its_views_are_served_and_a_push_carries_the_asked_channel() {
        let metrics = crate::metrics::Metrics::new();
        let counted = DashboardMetrics::register(metrics.registry()).unwrap();
        let live = LiveBoard::new(Board::new(BoardLimits::default()), Some(counted));
        assert!(
            live.readiness().is_err(),
            "not ready before the reader says so"
        );
        let minute = json!({"channel": "a b", "window_start": T0, "window_end": T0 + 60_000,
            "messages": 7, "unique_chatters": 3});
        let unshown = live.apply(vec![
            (Feed::Minutes, minute),
            (Feed::Minutes, json!({"window_start": T0})),
        ]);
        assert_eq!(unshown.len(), 1, "the record without a channel");
        live.undecodable(Feed::Spikes);
        let text = metrics.render();
        assert!(
            text.contains(r#"chatpulse_dashboard_records_total{feed="minutes"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"chatpulse_dashboard_unshown_total{feed="minutes"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"chatpulse_dashboard_unshown_total{feed="spikes"} 1"#),
            "{text}"
        );
        assert_eq!(live.version(), 1);
        let page = live.page("/").unwrap();
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        assert!(page.body.contains("<title>chatpulse</title>"));
        let view = live.page("/api/channel/a%20b").unwrap();
        assert_eq!(view.status, 200);
        assert!(view.body.contains(r#""messages":7"#), "{}", view.body);
        assert_eq!(live.page("/api/channel/nobody").unwrap().status, 404);
        assert!(live.page("/elsewhere").is_none());
        let push = live.snapshot(query_value("/events?channel=a+b&token=x", "channel").as_deref());
        assert_eq!(push["channel"]["channel"], "a b");
        assert_eq!(push["list"]["channels"][0]["messages"], 7);
        assert!(live.snapshot(None)["channel"].is_null());
        live.set_ready(Ok(()));
        assert!(live.readiness().is_ok());
    }
}
