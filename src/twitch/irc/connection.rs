//! One chat connection's socket loop: connect (TLS or plain), register, JOIN paced by the shared
//! limiter, read lines into the ingest queue, answer PING, and on RECONNECT, EOF, error, silence or
//! a write blocked past the write timeout connect again after a jittered backoff and re-join. Ends
//! when told to stop (even mid-write), or when the login is refused.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::backoff::{Backoff, Jitter};
use super::framing::{Frame, LineFramer};
use super::join_pacer::JoinPacer;
use super::session::{Action, Session};
use super::{IrcConfig, IrcError};
use crate::ingest::{LineQueue, RawLine};

/// Limiters shared by all connections of one login, on one monotonic clock.
#[derive(Debug, Clone)]
pub struct SharedLimits {
    origin: Instant,
    joins: Arc<Mutex<JoinPacer>>,
    logins: Arc<Mutex<JoinPacer>>,
}

impl SharedLimits {
    /// Limiters for `config`'s join and login rates.
    pub fn new(config: &IrcConfig) -> SharedLimits {
        let window = super::join_pacer::JOIN_WINDOW;
        SharedLimits {
            origin: Instant::now(),
            joins: Arc::new(Mutex::new(JoinPacer::new(config.joins_per_window, window))),
            logins: Arc::new(Mutex::new(JoinPacer::new(config.logins_per_window, window))),
        }
    }

    fn acquire(&self, pacer: &Mutex<JoinPacer>) -> Result<(), Duration> {
        let now = self.origin.elapsed().as_millis() as u64;
        pacer.lock().expect("pacer").try_acquire(now)
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a socket was given up.
enum End {
    Stop,
    Reconnect(String),
    LoginFailed(String),
}

/// One connection, reconnecting until stopped.
pub struct Connection {
    /// Index of this connection in the client (part of its id).
    pub index: usize,
    /// Settings.
    pub config: Arc<IrcConfig>,
    /// Limiters shared with the other connections.
    pub limits: SharedLimits,
    /// Where chat lines go.
    pub lines: LineQueue,
}

impl Connection {
    /// Runs until `stop` turns true; `channels` is this connection's channel set.
    pub async fn run(
        self,
        mut channels: watch::Receiver<BTreeSet<String>>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), IrcError> {
        let mut session = Session::new(self.config.login.clone());
        let mut backoff = Backoff::new(self.config.backoff_base, self.config.backoff_max);
        let mut jitter =
            Jitter::new(now_ms() as u64 ^ (self.index as u64).wrapping_mul(0x9e37_79b9));
        let mut socket_no = 0u64;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if socket_no > 0 {
                self.lines.metrics().reconnect();
                let delay = backoff.next_delay(jitter.unit());
                tracing::info!(connection = self.index, ?delay, "reconnecting");
                if wait_or_stop(delay, &mut stop).await {
                    return Ok(());
                }
            }
            socket_no += 1;
            while let Err(wait) = self.limits.acquire(&self.limits.logins) {
                if wait_or_stop(wait, &mut stop).await {
                    return Ok(());
                }
            }
            let id = format!("{}-{}.{socket_no}", self.config.login.nick(), self.index);
            let io = match self.open().await {
                Ok(io) => io,
                Err(e) => {
                    tracing::warn!(connection = %id, addr = %self.config.addr, error = %e, "cannot connect");
                    continue;
                }
            };
            match self
                .session(
                    io,
                    &id,
                    &mut session,
                    &mut backoff,
                    &mut channels,
                    &mut stop,
                )
                .await
            {
                End::Stop => return Ok(()),
                End::LoginFailed(why) => return Err(IrcError::LoginFailed(why)),
                End::Reconnect(why) => {
                    tracing::warn!(connection = %id, reason = %why, "connection lost")
                }
            }
        }
    }

    async fn open(&self) -> Result<Box<dyn Io>, String> {
        let connect = async {
            let tcp = TcpStream::connect(&self.config.addr)
                .await
                .map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            if !self.config.tls {
                return Ok(Box::new(tcp) as Box<dyn Io>);
            }
            let host = self
                .config
                .addr
                .rsplit_once(':')
                .map_or(self.config.addr.as_str(), |(h, _)| h);
            let tls = native_tls::TlsConnector::new().map_err(|e| e.to_string())?;
            let tls = tokio_native_tls::TlsConnector::from(tls)
                .connect(host, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            Ok(Box::new(tls) as Box<dyn Io>)
        };
        tokio::time::timeout(self.config.connect_timeout, connect)
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    /// Serves one socket until it ends.
    async fn session(
        &self,
        io: Box<dyn Io>,
        id: &str,
        session: &mut Session,
        backoff: &mut Backoff,
        channels: &mut watch::Receiver<BTreeSet<String>>,
        stop: &mut watch::Receiver<bool>,
    ) -> End {
        let (mut reader, mut writer) = tokio::io::split(io);
        let mut out = String::new();
        for line in session.connect() {
            push_line(&mut out, &line);
        }
        session.set_channels(channels.borrow_and_update().clone());
        let mut framer = LineFramer::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut last_read = Instant::now();
        let mut ping_sent: Option<Instant> = None;
        let mut join_wait: Option<Duration> = None;
        let tick = (self.config.pong_timeout / 2).max(Duration::from_millis(50));
        loop {
            // Send JOINs the shared window allows now; remember how long until the next one may go.
            while join_wait.is_none() {
                let Some(channel) = session.next_join().map(str::to_owned) else {
                    break;
                };
                match self.limits.acquire(&self.limits.joins) {
                    Ok(()) => push_line(&mut out, &session.join_sent(&channel)),
                    Err(wait) => join_wait = Some(wait),
                }
            }
            if !out.is_empty() {
                // A server that stops reading blocks the write once the buffers are full: give the
                // socket up after the write timeout, and end the write at once on stop.
                let write = async {
                    writer.write_all(out.as_bytes()).await?;
                    writer.flush().await
                };
                tokio::select! {
                    written = tokio::time::timeout(self.config.write_timeout, write) => match written {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return End::Reconnect(format!("write: {e}")),
                        Err(_) => {
                            return End::Reconnect(format!(
                                "a write blocked for {:?}: the server stopped reading",
                                self.config.write_timeout
                            ))
                        }
                    },
                    _ = stop.wait_for(|s| *s) => return End::Stop,
                }
                out.clear();
            }
            tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() { return End::Stop; }
                }
                read = reader.read(&mut buf) => {
                    let n = match read {
                        Ok(0) => return End::Reconnect("closed by the server".into()),
                        Ok(n) => n,
                        Err(e) => return End::Reconnect(format!("read: {e}")),
                    };
                    last_read = Instant::now();
                    ping_sent = None;
                    framer.push(&buf[..n]);
                    while let Some(frame) = framer.next_frame() {
                        let Frame::Line(line) = frame else {
                            tracing::warn!(connection = %id, "skipped a line longer than 64 KiB");
                            continue;
                        };
                        match session.on_line(&line) {
                            Action::Chat => {
                                if let Some(raw) = RawLine::new(line, now_ms(), id) {
                                    self.lines.offer(raw);
                                }
                            }
                            Action::Send(reply) => push_line(&mut out, &reply),
                            Action::Ready => {
                                backoff.reset();
                                tracing::info!(connection = %id, "logged in");
                            }
                            Action::Joined(channel) => tracing::debug!(connection = %id, %channel, "joined"),
                            Action::Reconnect => return End::Reconnect("RECONNECT from the server".into()),
                            Action::LoginFailed(why) => return End::LoginFailed(why),
                            Action::None => {}
                        }
                    }
                }
                changed = channels.changed() => {
                    if changed.is_ok() {
                        for part in session.set_channels(channels.borrow_and_update().clone()) {
                            push_line(&mut out, &part);
                        }
                    }
                }
                _ = tokio::time::sleep(join_wait.unwrap_or(Duration::MAX)), if join_wait.is_some() => {
                    join_wait = None;
                }
                _ = tokio::time::sleep(tick) => {
                    match ping_sent {
                        Some(at) if at.elapsed() >= self.config.pong_timeout => {
                            return End::Reconnect("no answer to PING".into());
                        }
                        None if last_read.elapsed() >= self.config.ping_after => {
                            ping_sent = Some(Instant::now());
                            push_line(&mut out, "PING :tmi.twitch.tv");
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push_str("\r\n");
}

/// Sleeps `delay` unless `stop` turns true first; returns whether to stop.
async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    stopped || *stop.borrow()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
