//! A small Twitch-dialect IRC server on 127.0.0.1 for tests: CAP LS/REQ/ACK, PASS/NICK with the
//! welcome numerics Twitch sends, JOIN with its echo, 353/366, USERSTATE and ROOMSTATE, PART,
//! PING/PONG, a refused login (a token containing `bad`), and on demand RECONNECT, a dropped connection
//! or a peer that stops reading (a flood of PINGs then fills the kernel buffers with the client's
//! PONGs). Tests broadcast real tagged lines to the connections joined to a channel; everything
//! clients send is recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// What the writer task of a connection does next.
enum Out {
    Line(String),
    /// A line of a flood, counted once written.
    Flood(Arc<str>),
    Close,
}

struct Client {
    nick: Option<String>,
    bad_pass: bool,
    channels: BTreeSet<String>,
    tx: mpsc::UnboundedSender<Out>,
    /// Set: the connection reads nothing more (its socket stays open).
    stalled: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    clients: BTreeMap<u64, Client>,
    next_id: u64,
    /// Every line clients sent, with the connection number.
    received: Vec<(u64, String)>,
    /// Chat lines written to clients, in order.
    broadcast: Vec<String>,
    /// Connections accepted so far.
    accepted: u64,
    /// JOINs answered, per channel.
    joins: BTreeMap<String, u64>,
}

/// The running server; it stops when the test's runtime ends.
#[derive(Clone)]
pub struct IrcServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Lines queued to clients and lines written to their sockets, over all connections.
    queued: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

/// The receive buffer of every accepted socket: small, so a peer that stops reading fills it fast.
const RECEIVE_BUFFER: u32 = 4096;

impl IrcServer {
    /// Starts the server on an ephemeral port of 127.0.0.1.
    pub async fn start() -> IrcServer {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(RECEIVE_BUFFER).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(64).unwrap();
        let server = IrcServer {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
            queued: Arc::default(),
            written: Arc::default(),
        };
        let accepting = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let server = accepting.clone();
                tokio::spawn(async move { server.serve(socket).await });
            }
        });
        server
    }

    /// `host:port` to connect to.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    async fn serve(self, socket: TcpStream) {
        let (read, mut write) = socket.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stalled = Arc::new(AtomicBool::new(false));
        let id = {
            let mut st = self.state.lock().unwrap();
            st.accepted += 1;
            st.next_id += 1;
            let id = st.next_id;
            st.clients.insert(
                id,
                Client {
                    nick: None,
                    bad_pass: false,
                    channels: BTreeSet::new(),
                    tx,
                    stalled: stalled.clone(),
                },
            );
            id
        };
        let written = self.written.clone();
        tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                let (line, flood) = match &out {
                    Out::Line(l) => (l.as_str(), false),
                    Out::Flood(l) => (&**l, true),
                    Out::Close => {
                        let _ = write.shutdown().await;
                        return;
                    }
                };
                if write
                    .write_all(format!("{line}\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                if flood {
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if stalled.load(Ordering::Relaxed) {
                // A peer that stopped reading: the socket stays open, its buffers fill up.
                std::future::pending::<()>().await;
            }
            if !self.answer(id, &line) {
                break;
            }
        }
        self.state.lock().unwrap().clients.remove(&id);
    }

    /// Answers one client line as Twitch would; false ends the connection.
    fn answer(&self, id: u64, line: &str) -> bool {
        let mut st = self.state.lock().unwrap();
        st.received.push((id, line.to_owned()));
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut replies = Vec::new();
        let mut close = false;
        let client = st.clients.get_mut(&id).unwrap();
        let nick = client.nick.clone().unwrap_or_else(|| "*".into());
        match command {
            "CAP" if rest.starts_with("LS") => replies.push(
                ":tmi.twitch.tv CAP * LS :twitch.tv/membership twitch.tv/tags twitch.tv/commands"
                    .to_owned(),
            ),
            "CAP" if rest.starts_with("REQ") => {
                let caps = rest.split_once(':').map_or("", |(_, c)| c);
                replies.push(format!(":tmi.twitch.tv CAP * ACK :{caps}"));
            }
            "PASS" => client.bad_pass = rest.contains("bad"),
            // Twitch answers a refused token after NICK, then closes.
            "NICK" if client.bad_pass => {
                replies.push(":tmi.twitch.tv NOTICE * :Login authentication failed".into());
                close = true;
            }
            "NICK" => {
                let n = rest.trim().to_owned();
                for (code, text) in [
                    ("001", "Welcome, GLHF!"),
                    ("002", "Your host is tmi.twitch.tv"),
                    ("003", "This server is rather new"),
                    ("004", "-"),
                    ("375", "-"),
                    ("372", "You are in a maze of twisty passages, all alike."),
                    ("376", ">"),
                ] {
                    replies.push(format!(":tmi.twitch.tv {code} {n} :{text}"));
                }
                client.nick = Some(n);
            }
            "JOIN" => {
                for channel in rest.split(',').map(|c| c.trim().trim_start_matches('#')) {
                    client.channels.insert(channel.to_owned());
                    replies.push(format!(
                        ":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{channel}"
                    ));
                    replies.push(format!(
                        ":{nick}.tmi.twitch.tv 353 {nick} = #{channel} :{nick}"
                    ));
                    replies.push(format!(
                        ":{nick}.tmi.twitch.tv 366 {nick} #{channel} :End of /NAMES list"
                    ));
                    replies.push(format!("@badge-info=;badges=;color=;display-name={nick};emote-sets=0;mod=0;subscriber=0;user-type= :tmi.twitch.tv USERSTATE #{channel}"));
                    replies.push(format!("@emote-only=0;followers-only=-1;r9k=0;room-id=1;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #{channel}"));
                }
                let channels: Vec<String> = rest
                    .split(',')
                    .map(|c| c.trim().trim_start_matches('#').to_owned())
                    .collect();
                for c in channels {
                    *st.joins.entry(c).or_default() += 1;
                }
            }
            "PART" => {
                let channel = rest.trim().trim_start_matches('#').to_owned();
                client.channels.remove(&channel);
                replies.push(format!(
                    ":{nick}!{nick}@{nick}.tmi.twitch.tv PART #{channel}"
                ));
            }
            "PING" => {
                let arg = rest.trim_start_matches(':');
                replies.push(format!(":tmi.twitch.tv PONG tmi.twitch.tv :{arg}"));
            }
            _ => {}
        }
        let client = st.clients.get(&id).unwrap();
        for r in replies {
            let _ = client.tx.send(Out::Line(r));
        }
        if close {
            let _ = client.tx.send(Out::Close);
        }
        !close
    }

    /// Writes `lines` to every connection joined to `channel`; returns how many connections got them.
    pub fn broadcast(&self, channel: &str, lines: &[String]) -> usize {
        let mut st = self.state.lock().unwrap();
        let mut reached = 0;
        for client in st.clients.values().filter(|c| c.channels.contains(channel)) {
            for l in lines {
                let _ = client.tx.send(Out::Line(l.clone()));
            }
            reached += 1;
        }
        if reached > 0 {
            st.broadcast.extend(lines.iter().cloned());
        }
        reached
    }

    /// Makes every current connection stop reading (new connections read as usual); the sockets
    /// stay open.
    pub fn stall_reads(&self) {
        for c in self.state.lock().unwrap().clients.values() {
            c.stalled.store(true, Ordering::Relaxed);
        }
    }

    /// Queues `count` PINGs with an argument of `arg_len` bytes to every current connection: a
    /// client answers each with a PONG as long, so a stalled connection's buffers fill up.
    pub fn flood_pings(&self, count: usize, arg_len: usize) {
        let ping: Arc<str> = format!("PING :{}", "x".repeat(arg_len)).into();
        for c in self.state.lock().unwrap().clients.values() {
            for _ in 0..count {
                self.queued.fetch_add(1, Ordering::Relaxed);
                let _ = c.tx.send(Out::Flood(ping.clone()));
            }
        }
    }

    /// Lines queued by [`IrcServer::flood_pings`] not yet written to a socket: while a client
    /// reads, this drains; once it stops reading, it stays put.
    pub fn unwritten_pings(&self) -> u64 {
        self.queued
            .load(Ordering::Relaxed)
            .saturating_sub(self.written.load(Ordering::Relaxed))
    }

    /// Sends a server PING to every connection.
    pub fn ping_all(&self) {
        for c in self.state.lock().unwrap().clients.values() {
            let _ = c.tx.send(Out::Line("PING :tmi.twitch.tv".into()));
        }
    }

    /// Sends RECONNECT to every connection (Twitch's notice before a server restart).
    pub fn reconnect_all(&self) {
        for c in self.state.lock().unwrap().clients.values() {
            let _ = c.tx.send(Out::Line(":tmi.twitch.tv RECONNECT".into()));
        }
    }

    /// Closes every connection without warning.
    pub fn drop_all(&self) {
        for c in self.state.lock().unwrap().clients.values() {
            let _ = c.tx.send(Out::Close);
        }
    }

    /// Connections currently joined to `channel`.
    pub fn joined(&self, channel: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.clients
            .values()
            .filter(|c| c.channels.contains(channel))
            .count()
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> u64 {
        self.state.lock().unwrap().accepted
    }

    /// JOINs answered for `channel` since the start.
    pub fn joins(&self, channel: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .joins
            .get(channel)
            .copied()
            .unwrap_or(0)
    }

    /// Every line clients sent, in order.
    pub fn received(&self) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.received.iter().map(|(_, l)| l.clone()).collect()
    }

    /// Every chat line written to clients.
    pub fn broadcast_lines(&self) -> Vec<String> {
        self.state.lock().unwrap().broadcast.clone()
    }

    /// Waits until `cond` holds, checking every 20 ms; panics with `what` after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&IrcServer) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The first `n` real tagged lines of the nymn log (PRIVMSG and CLEARCHAT), moved to `channel`.
pub fn real_lines(data_dir: &std::path::Path, channel: &str, n: usize) -> Vec<String> {
    let path = data_dir.join("dev_irc_tagged_nymn_chatterino/recentmessages-nymn.irc.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(|l| l.replacen(" #nymn", &format!(" #{channel}"), 1))
        .collect()
}
