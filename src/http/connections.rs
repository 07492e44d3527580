//! The server's open connections, so that at the connection limit (or out of file descriptors) the
//! oldest one that has not sent its request can be closed, and a write guard that drops a
//! connection whose client stopped reading.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;

/// Waiting for its request: may be evicted.
const IDLE: u8 = 0;
/// Its request arrived: served to the end.
const BUSY: u8 = 1;
/// Closed to make room.
const EVICTED: u8 = 2;

/// One open connection.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    state: AtomicU8,
    evict: Notify,
}

impl Connection {
    /// Marks the request as arrived; false when the connection was evicted first.
    pub fn begin_request(&self) -> bool {
        self.state
            .compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Closes the connection if its request has not arrived; false when it has.
    pub fn expire(&self) -> bool {
        self.state
            .compare_exchange(IDLE, EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Completes when the connection is evicted.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// The open connections in accept order.
#[derive(Debug, Default)]
pub struct Connections {
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl Connections {
    /// A new, idle connection.
    pub fn register(&self) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            state: AtomicU8::new(IDLE),
            evict: Notify::new(),
        });
        self.open
            .lock()
            .expect("connections")
            .insert(connection.id, connection.clone());
        connection
    }

    /// Forgets a closed connection.
    pub fn remove(&self, connection: &Connection) {
        self.open
            .lock()
            .expect("connections")
            .remove(&connection.id);
    }

    /// Closes the oldest connection still waiting for its request; false when there is none.
    pub fn evict_oldest_idle(&self) -> bool {
        let open = self.open.lock().expect("connections");
        let oldest = open.values().find(|c| {
            c.state
                .compare_exchange(IDLE, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        });
        match oldest {
            Some(c) => {
                // `notify_one` keeps the wake-up if the task is not waiting yet.
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Wraps a connection's I/O: a write (or flush) that makes no progress for `limit` fails with
/// `TimedOut`, so a client that never reads its response cannot hold the connection.
#[derive(Debug)]
pub struct StallGuard<T> {
    io: T,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> StallGuard<T> {
    /// Guards `io`.
    pub fn new(io: T, limit: Duration) -> StallGuard<T> {
        StallGuard {
            io,
            limit,
            stalled: None,
        }
    }

    /// Passes a ready result on (and disarms the timer); arms it on `Pending` and fails once it fires.
    fn check<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading its response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for StallGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for StallGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.check(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.check(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_shutdown(cx);
        this.check(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_is_evicted_first() {
        let connections = Connections::default();
        let (a, b, c) = (
            connections.register(),
            connections.register(),
            connections.register(),
        );
        assert!(a.begin_request());
        assert!(connections.evict_oldest_idle());
        assert!(!b.begin_request(), "b was the oldest idle one");
        assert!(c.begin_request());
        assert!(!connections.evict_oldest_idle(), "every other one is busy");
        connections.remove(&b);
        assert_eq!(connections.open.lock().unwrap().len(), 2);
    }
}
