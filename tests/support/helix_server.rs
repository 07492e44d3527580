//! A small Twitch Helix and OAuth server on 127.0.0.1 for tests, after the public Twitch docs:
//! POST /oauth2/token (client_credentials, with a settable short expiry), GET /oauth2/validate,
//! GET /helix/streams, /helix/users and /helix/channels/followers (user token only), with
//! `Ratelimit-*` headers on every answer and 429s on demand. Requests are recorded with their times.
//! A recorded series ([`HelixServer::set_series`]) gives a channel one state per Get Streams call.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::http_request::{read_request, HttpRequest};

/// A channel as the server knows it.
#[derive(Debug, Clone)]
pub struct Channel {
    /// User id.
    pub id: String,
    /// Live stream: (game, title, viewers, started_at RFC 3339, language).
    pub stream: Option<(String, String, i64, String, String)>,
    /// Follower total.
    pub followers: i64,
}

/// A channel's state at one poll of a recorded series.
#[derive(Debug, Clone)]
pub struct PollState {
    /// Live stream as Get Streams lists it (as in [`Channel::stream`]); None: offline, the channel
    /// absent from Get Streams.
    pub stream: Option<(String, String, i64, String, String)>,
    /// Follower total.
    pub followers: i64,
}

/// A channel's recorded series: its user id and one state per poll.
#[derive(Debug, Clone)]
struct Series {
    id: String,
    polls: Vec<PollState>,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method and path with query.
    pub line: String,
    /// Arrival, Unix milliseconds.
    pub at_ms: i64,
    /// The status answered.
    pub status: u16,
}

struct State {
    client_id: String,
    client_secret: String,
    user_token: String,
    expires_in_s: i64,
    /// Issued app tokens and their expiry (Unix ms).
    tokens: BTreeMap<String, i64>,
    channels: BTreeMap<String, Channel>,
    /// Channels that follow a recorded series.
    series: BTreeMap<String, Series>,
    /// Get Streams calls answered 200 so far: the poll of every series that is served next.
    streams_served: usize,
    /// 429s still to answer to Helix calls.
    refuse: u32,
    /// The `Ratelimit-Reset` of a 429: when the bucket refills, Unix seconds (any text, so tests
    /// can send what a broken proxy might).
    reset: String,
    requests: Vec<Request>,
}

/// The running server.
#[derive(Clone)]
pub struct HelixServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl HelixServer {
    /// Starts a server accepting `client_id`/`client_secret` and the user token `user_token`, whose app
    /// tokens live `expires_in_s` seconds.
    pub async fn start(
        client_id: &str,
        client_secret: &str,
        user_token: &str,
        expires_in_s: i64,
    ) -> HelixServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = HelixServer {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Mutex::new(State {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                user_token: user_token.into(),
                expires_in_s,
                tokens: BTreeMap::new(),
                channels: BTreeMap::new(),
                series: BTreeMap::new(),
                streams_served: 0,
                refuse: 0,
                reset: "0".into(),
                requests: Vec::new(),
            })),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.serve(socket).await });
            }
        });
        server
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds or replaces a channel.
    pub fn set_channel(&self, login: &str, channel: Channel) {
        self.state
            .lock()
            .unwrap()
            .channels
            .insert(login.into(), channel);
    }

    /// Makes `login` follow a recorded series: Get Streams call *k* (from 0, counted from the server's
    /// start) answers `polls[k]`, and Get Users and Get Channel Followers answer as of the last Get
    /// Streams (`polls[0]` before the first). After the last state the channel keeps it.
    pub fn set_series(&self, login: &str, id: &str, polls: Vec<PollState>) {
        assert!(!polls.is_empty(), "a series has at least one poll");
        let mut st = self.state.lock().unwrap();
        let at = st.streams_served.saturating_sub(1).min(polls.len() - 1);
        let channel = Channel {
            id: id.into(),
            stream: polls[at].stream.clone(),
            followers: polls[at].followers,
        };
        st.channels.insert(login.into(), channel);
        st.series.insert(
            login.into(),
            Series {
                id: id.into(),
                polls,
            },
        );
    }

    /// Get Streams calls answered 200 so far (polls of a series served).
    pub fn streams_served(&self) -> usize {
        self.state.lock().unwrap().streams_served
    }

    /// Answers the next `n` Helix calls with 429, the bucket refilling `wait_s` seconds after the first.
    /// Returns the reset time announced, Unix milliseconds.
    pub fn refuse_next(&self, n: u32, wait_s: i64) -> i64 {
        let reset_s = now_ms() / 1000 + wait_s;
        self.refuse_next_with_reset(n, &reset_s.to_string());
        reset_s * 1000
    }

    /// Answers the next `n` Helix calls with 429 and this `Ratelimit-Reset` header value.
    pub fn refuse_next_with_reset(&self, n: u32, reset: &str) {
        let mut st = self.state.lock().unwrap();
        st.refuse = n;
        st.reset = reset.to_owned();
    }

    /// Forgets every app token issued, as when Twitch revokes them: the next call gets a 401.
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    async fn serve(self, socket: TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut reader = BufReader::new(read);
        loop {
            let Some(HttpRequest {
                line,
                headers,
                body,
            }) = read_request(&mut reader).await
            else {
                return;
            };
            let request = line
                .trim_end()
                .rsplit_once(' ')
                .map_or(line.trim_end(), |(r, _)| r)
                .to_owned();
            let (status, extra, value) =
                self.answer(&request, &headers, &String::from_utf8_lossy(&body));
            let text = value.to_string();
            let reason = match status {
                200 => "OK",
                400 => "Bad Request",
                401 => "Unauthorized",
                429 => "Too Many Requests",
                _ => "Not Found",
            };
            let mut response = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", text.len());
            for (k, v) in extra {
                response.push_str(&format!("{k}: {v}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&text);
            if write.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn answer(
        &self,
        request: &str,
        headers: &BTreeMap<String, String>,
        body: &str,
    ) -> (u16, Vec<(String, String)>, Value) {
        let mut st = self.state.lock().unwrap();
        let now = now_ms();
        let (method, target) = request.split_once(' ').unwrap_or((request, ""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let params: Vec<(&str, &str)> =
            query.split('&').filter_map(|p| p.split_once('=')).collect();
        let unauthorized =
            json!({"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"});
        let (status, extra, value) = match (method, path) {
            ("POST", "/oauth2/token") => {
                let form: BTreeMap<&str, &str> =
                    body.split('&').filter_map(|p| p.split_once('=')).collect();
                if form.get("grant_type") == Some(&"client_credentials")
                    && form.get("client_id") == Some(&st.client_id.as_str())
                    && form.get("client_secret") == Some(&st.client_secret.as_str())
                {
                    let token = format!("app{}", st.tokens.len() + 1);
                    let expires_in = st.expires_in_s;
                    st.tokens.insert(token.clone(), now + expires_in * 1000);
                    (
                        200,
                        vec![],
                        json!({"access_token": token, "expires_in": expires_in, "token_type": "bearer"}),
                    )
                } else {
                    (
                        400,
                        vec![],
                        json!({"status": 400, "message": "invalid client secret"}),
                    )
                }
            }
            ("GET", "/oauth2/validate") => {
                let token = headers
                    .get("authorization")
                    .and_then(|a| a.strip_prefix("OAuth "))
                    .unwrap_or("");
                match st.tokens.get(token) {
                    Some(&exp) if exp > now => (
                        200,
                        vec![],
                        json!({"client_id": st.client_id, "scopes": [], "expires_in": (exp - now) / 1000}),
                    ),
                    _ => (
                        401,
                        vec![],
                        json!({"status": 401, "message": "invalid access token"}),
                    ),
                }
            }
            ("GET", helix) if helix.starts_with("/helix/") => {
                let bearer = headers
                    .get("authorization")
                    .and_then(|a| a.strip_prefix("Bearer "))
                    .unwrap_or("")
                    .to_owned();
                let app_ok = st.tokens.get(&bearer).is_some_and(|&exp| exp > now);
                let user_ok = bearer == st.user_token;
                let client_ok = headers.get("client-id") == Some(&st.client_id);
                let rate = |remaining: u32, reset: String| {
                    vec![
                        ("Ratelimit-Limit".to_owned(), "800".to_owned()),
                        ("Ratelimit-Remaining".to_owned(), remaining.to_string()),
                        ("Ratelimit-Reset".to_owned(), reset.to_string()),
                    ]
                };
                if st.refuse > 0 {
                    st.refuse -= 1;
                    (
                        429,
                        rate(0, st.reset.clone()),
                        json!({"error": "Too Many Requests", "status": 429, "message": ""}),
                    )
                } else if !client_ok {
                    (401, rate(799, (now / 1000 + 60).to_string()), unauthorized)
                } else {
                    let list = |key: &str| {
                        params
                            .iter()
                            .filter(|(k, _)| *k == key)
                            .map(|(_, v)| v.to_string())
                            .collect::<Vec<_>>()
                    };
                    match helix {
                        "/helix/users" if app_ok || user_ok => {
                            let data: Vec<Value> = list("login").iter().filter_map(|l| {
                                st.channels.get(l).map(|c| json!({"id": c.id, "login": l, "display_name": l, "type": "", "broadcaster_type": "partner"}))
                            }).collect();
                            (
                                200,
                                rate(799, (now / 1000 + 60).to_string()),
                                json!({"data": data}),
                            )
                        }
                        "/helix/streams" if app_ok || user_ok => {
                            // Channels of a series take the state of this poll.
                            let k = st.streams_served;
                            st.streams_served += 1;
                            let polled: Vec<(String, Channel)> = st
                                .series
                                .iter()
                                .map(|(login, series)| {
                                    let state = &series.polls[k.min(series.polls.len() - 1)];
                                    let channel = Channel {
                                        id: series.id.clone(),
                                        stream: state.stream.clone(),
                                        followers: state.followers,
                                    };
                                    (login.clone(), channel)
                                })
                                .collect();
                            st.channels.extend(polled);
                            let data: Vec<Value> = list("user_login").iter().filter_map(|l| {
                                let c = st.channels.get(l)?;
                                let (game, title, viewers, started, lang) = c.stream.clone()?;
                                Some(json!({"id": "1", "user_id": c.id, "user_login": l, "user_name": l, "game_id": "1", "game_name": game, "type": "live", "title": title, "viewer_count": viewers, "started_at": started, "language": lang, "tags": []}))
                            }).collect();
                            (
                                200,
                                rate(799, (now / 1000 + 60).to_string()),
                                json!({"data": data, "pagination": {}}),
                            )
                        }
                        "/helix/channels/followers" if user_ok => {
                            let id = list("broadcaster_id").pop().unwrap_or_default();
                            let total = st
                                .channels
                                .values()
                                .find(|c| c.id == id)
                                .map_or(0, |c| c.followers);
                            (
                                200,
                                rate(799, (now / 1000 + 60).to_string()),
                                json!({"total": total, "data": [], "pagination": {}}),
                            )
                        }
                        _ => (401, rate(799, (now / 1000 + 60).to_string()), unauthorized),
                    }
                }
            }
            _ => (404, vec![], json!({"status": 404})),
        };
        st.requests.push(Request {
            line: format!("{method} {path}"),
            at_ms: now,
            status,
        });
        (status, extra, value)
    }
}
