//! A webhook receiver on 127.0.0.1 for tests of `chatpulse notify`: real HTTP/1.1 over TCP. Each
//! path answers from its script, then its default (200 unless set): 200, any status, 429 with a
//! `Retry-After`, an answer after a delay, or none at all (it hangs until the client gives up).
//! Every request is recorded with its headers, body, arrival time and the answer it got.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::http_request::{read_request, HttpRequest};

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// This status (200: taken).
    Status(u16),
    /// 429 with this `Retry-After` value.
    TooMany(String),
    /// This status after this long.
    Slow(u16, Duration),
    /// No answer: the connection stays open and silent.
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
    /// When its last byte arrived.
    pub at: Instant,
    /// What it was answered (0: nothing, it hung).
    pub reply: Reply,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Whether the answer was a success.
    pub fn taken(&self) -> bool {
        matches!(self.reply, Reply::Status(s) | Reply::Slow(s, _) if (200..300).contains(&s))
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Reply>>,
    defaults: HashMap<String, Reply>,
    received: Vec<Received>,
}

/// The receiver.
pub struct WebhookReceiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl WebhookReceiver {
    /// Starts it on a free port of 127.0.0.1.
    pub async fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        WebhookReceiver { addr, state }
    }

    /// The URL of `path` (`/slack`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next requests to `path` get these answers, in order.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Requests to `path` beyond its script get `reply`.
    pub fn default_reply(&self, path: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .defaults
            .insert(path.to_owned(), reply);
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The requests to `path`.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(HttpRequest {
            line,
            headers,
            body,
        }) = read_request(&mut reader).await
        else {
            return;
        };
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let reply = {
            let mut s = state.lock().unwrap();
            let scripted = s.scripts.get_mut(&path).and_then(VecDeque::pop_front);
            let reply = scripted
                .or_else(|| s.defaults.get(&path).cloned())
                .unwrap_or(Reply::Status(200));
            s.received.push(Received {
                path,
                headers,
                body,
                at: Instant::now(),
                reply: reply.clone(),
            });
            reply
        };
        let (status, extra) = match reply {
            Reply::Status(s) => (s, String::new()),
            Reply::TooMany(after) => (429, format!("Retry-After: {after}\r\n")),
            Reply::Slow(s, wait) => {
                tokio::time::sleep(wait).await;
                (s, String::new())
            }
            Reply::Hang => {
                // Silent until the client hangs up.
                let mut sink = Vec::new();
                let _ = reader.read_to_end(&mut sink).await;
                return;
            }
        };
        let answer = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n{extra}\r\nok"
        );
        if reader.get_mut().write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}
