//! The listener: hyper (HTTP/1.1) on tokio, one request per connection (`Connection: close`), with
//! the [`Limits`] that keep slow, idle and oversized clients from holding the server: a deadline on
//! the whole request, a cap on connections and on request sizes, and a back-off on accept errors.
//! A response is one buffer, or a stream of Server-Sent Events ([`Observed::events`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::auth::{authorized, OPEN_PATHS};
use super::body::Body;
use super::connections::{Connection, Connections, StallGuard};
use super::routes::{route, Response};
use super::{EventStream, Observed};
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::twitch::irc::backoff::Backoff;

/// What the server allows a client. The defaults suit probes, Prometheus and a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's line, headers and body must all arrive within this time of the connection's
    /// accept, or the connection is closed (a client trickling bytes is cut off here).
    pub request_timeout: Duration,
    /// How long writing a response may make no progress (the client stopped reading) before the
    /// connection is closed.
    pub write_stall_timeout: Duration,
    /// Connections served at once. A new connection beyond it closes the oldest one that has not
    /// sent its request yet; when every connection is answering, new ones wait in the listen
    /// backlog.
    pub max_connections: usize,
    /// Size of the request line and headers (431 beyond).
    pub max_header_bytes: usize,
    /// Size of a request body (413 beyond).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(5),
            write_stall_timeout: Duration::from_secs(5),
            max_connections: 256,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 16 * 1024,
        }
    }
}

/// A running operations server.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
}

/// `--metrics-addr`: `off` (or empty) disables the server, anything else is `host:port` (port 0: a
/// free port, logged at start).
pub fn parse_metrics_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|e| {
        format!("--metrics-addr {s:?} is not host:port ({e}): use for example 127.0.0.1:9464, 0.0.0.0:9464 or off")
    })
}

/// What every connection task shares.
struct Shared {
    metrics: Arc<Metrics>,
    observed: Arc<dyn Observed>,
    limits: Limits,
    connections: Connections,
    /// The token every request but a probe must carry ([`super::auth`]), if any.
    token: Option<Secret>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and serves with the default [`Limits`] on a runtime
    /// of its own (one thread) for the life of the process: for commands without a tokio runtime.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        observed: Arc<dyn Observed>,
    ) -> std::io::Result<HttpServer> {
        HttpServer::start_with(addr, metrics, observed, Limits::default())
    }

    /// [`HttpServer::start`] with `limits`.
    pub fn start_with(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        observed: Arc<dyn Observed>,
        limits: Limits,
    ) -> std::io::Result<HttpServer> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("chatpulse-http")
            // Routes that wait for the engine (interactive queries) run here, a few at a time.
            .max_blocking_threads(4)
            .build()?;
        let server = {
            let _entered = runtime.enter();
            HttpServer::serve(listen(addr)?, metrics, observed, limits, None)?
        };
        std::thread::Builder::new()
            .name("chatpulse-http".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
        Ok(server)
    }

    /// Binds `addr` and serves on `runtime` (the command's own) with `limits`.
    pub fn start_on(
        runtime: &Handle,
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        observed: Arc<dyn Observed>,
        limits: Limits,
    ) -> std::io::Result<HttpServer> {
        HttpServer::start_guarded(runtime, addr, metrics, observed, limits, None)
    }

    /// [`HttpServer::start_on`], refusing (401) every request but a probe that does not carry
    /// `token`, when one is given.
    pub fn start_guarded(
        runtime: &Handle,
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        observed: Arc<dyn Observed>,
        limits: Limits,
        token: Option<Secret>,
    ) -> std::io::Result<HttpServer> {
        let _entered = runtime.enter();
        HttpServer::serve(listen(addr)?, metrics, observed, limits, token)
    }

    /// Spawns the accept loop on the current runtime.
    fn serve(
        listener: TcpListener,
        metrics: Arc<Metrics>,
        observed: Arc<dyn Observed>,
        limits: Limits,
        token: Option<Secret>,
    ) -> std::io::Result<HttpServer> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            metrics,
            observed,
            limits,
            connections: Connections::default(),
            token,
        });
        tokio::spawn(accept_loop(listener, shared));
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz, /partitions and /state");
        Ok(HttpServer { addr })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds `addr` with a listen backlog of 1,024 (std's and mio's 128 overflows under a burst of
/// connections, whose clients then wait a second for a SYN retransmit). Needs a runtime context.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections for ever. At the connection limit it makes room by closing the oldest
/// connection that has not sent its request, or waits for one to end; on an accept error (out of
/// file descriptors) it backs off from 10 ms to 1 s instead of retrying at once.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections.max(1)));
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
    let mut failing = false;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff.reset();
                failing = false;
                stream
            }
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of descriptors: an idle connection's is the one to give back.
                shared.connections.evict_oldest_idle();
                let pause = backoff.next_delay(1.0);
                if !failing {
                    tracing::warn!(error = %e, "cannot accept connections: backing off");
                    failing = true;
                }
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                shared.connections.evict_oldest_idle();
                slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        // Registered here, not in the task: evictable before the task first runs.
        let connection = shared.connections.register();
        let deadline = Instant::now() + shared.limits.request_timeout;
        let shared = shared.clone();
        tokio::spawn(async move {
            serve_connection(stream, connection, deadline, &shared).await;
            drop(slot);
        });
    }
}

/// Accept errors that concern one connection only (it was reset before it was accepted).
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted)
}

/// Serves one request on `stream`, whose request must arrive by `deadline`, or closes it when it
/// is evicted.
async fn serve_connection(
    stream: TcpStream,
    connection: Arc<Connection>,
    deadline: Instant,
    shared: &Arc<Shared>,
) {
    let limits = shared.limits;
    let io = StallGuard::new(TokioIo::new(stream), limits.write_stall_timeout);
    let service = {
        let (shared, connection) = (shared.clone(), connection.clone());
        hyper::service::service_fn(move |request| {
            let (shared, connection) = (shared.clone(), connection.clone());
            async move { Ok::<_, Infallible>(answer(request, deadline, &shared, &connection).await) }
        })
    };
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(false)
        // A client that shuts its side after the request (`nc -N`) still gets the response.
        .half_close(true)
        .serve_connection(io, service);
    let mut served = std::pin::pin!(served);
    let result = tokio::select! {
        result = &mut served => Some(result),
        () = connection.evicted() => {
            tracing::debug!("closed a connection that sent no request, to make room");
            None
        }
        () = tokio::time::sleep_until(deadline) => {
            if connection.expire() {
                tracing::debug!("closed a connection whose request did not arrive in time");
                None
            } else {
                Some(served.await)
            }
        }
    };
    if let Some(Err(e)) = result {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
    shared.connections.remove(&connection);
}

/// The response to `request`, whose body must have arrived by `deadline`.
async fn answer(
    request: Request<Incoming>,
    deadline: Instant,
    shared: &Arc<Shared>,
    connection: &Connection,
) -> hyper::Response<Body> {
    if !connection.begin_request() {
        return to_hyper(error(503, "the server is full: retry"));
    }
    let (parts, body) = request.into_parts();
    let limited = Limited::new(body, shared.limits.max_body_bytes);
    match tokio::time::timeout_at(deadline, limited.collect()).await {
        Err(_) => return to_hyper(error(408, "the request did not arrive in time")),
        Ok(Err(_)) => return to_hyper(error(413, "the request body is too large")),
        Ok(Ok(_)) => {}
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return to_hyper(error(405, "only GET and HEAD are served"));
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    if let Some(token) = &shared.token {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        if !OPEN_PATHS.contains(&parts.uri.path()) && !authorized(token, header, parts.uri.query())
        {
            return to_hyper(error(
                401,
                "this server needs its access token: send Authorization: Bearer TOKEN, basic auth \
                 with the token as password, or ?token=TOKEN",
            ));
        }
    }
    if let Some(events) = shared.observed.events(&path) {
        return event_stream(events);
    }
    let (metrics, observed) = (shared.metrics.clone(), shared.observed.clone());
    // Interactive queries may wait up to 2 s for the engine: off the async threads.
    let response = tokio::task::spawn_blocking(move || route(&path, &metrics, observed.as_ref()))
        .await
        .unwrap_or_else(|_| error(500, "the route failed"));
    to_hyper(response)
}

fn error(status: u16, message: &str) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: serde_json::json!({ "error": message }).to_string(),
    }
}

fn to_hyper(response: Response) -> hyper::Response<Body> {
    let mut out = hyper::Response::new(Body::full(response.body));
    *out.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(response.content_type),
    );
    if response.status == 401 {
        out.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"chatpulse\", charset=\"UTF-8\""),
        );
    }
    out
}

/// A `text/event-stream` response of `events`.
fn event_stream(events: EventStream) -> hyper::Response<Body> {
    let mut out = hyper::Response::new(Body::Events(events));
    let headers = out.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    out
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn metrics_addr_off_disables() {
        assert_eq!(parse_metrics_addr("off"), Ok(None));
        assert_eq!(
            parse_metrics_addr("127.0.0.1:9464"),
            Ok(Some("127.0.0.1:9464".parse().unwrap()))
        );
        assert!(parse_metrics_addr("localhost").is_err());
    }

    fn exchange(server: &HttpServer, request: &str) -> String {
        let mut conn = std::net::TcpStream::connect(server.local_addr()).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn serves_http_over_tcp() {
        let server = HttpServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Metrics::new()),
            Arc::new(super::super::Stateless),
        )
        .unwrap();
        let answer = exchange(&server, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(answer.ends_with(r#"{"status":"alive"}"#), "{answer}");
        let answer = exchange(&server, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n"), "{answer}");
        let answer = exchange(&server, "DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    }

    /// Serves a two-event stream at `/events` and a page at `/page`.
    struct Streaming;

    impl Observed for Streaming {
        fn page(&self, path: &str) -> Option<Response> {
            (path == "/page?x=1").then(|| Response::json(200, serde_json::json!({"page": 1})))
        }

        fn events(&self, path: &str) -> Option<EventStream> {
            if path.split('?').next() != Some("/events") {
                return None;
            }
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            tokio::spawn(async move {
                for i in 0..2 {
                    let _ = tx.send(format!("data: {i}\n\n").into()).await;
                }
            });
            Some(rx)
        }
    }

    fn guarded(token: Option<&str>) -> (tokio::runtime::Runtime, HttpServer) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = HttpServer::start_guarded(
            runtime.handle(),
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Metrics::new()),
            Arc::new(Streaming),
            Limits::default(),
            token.map(Secret::new),
        )
        .unwrap();
        (runtime, server)
    }

    #[test]
    fn event_streams_and_pages_are_served() {
        let (_runtime, server) = guarded(None);
        let answer = exchange(&server, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.contains("content-type: text/event-stream\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains("transfer-encoding: chunked\r\n"),
            "{answer}"
        );
        let (first, second) = (answer.find("data: 0\n\n"), answer.find("data: 1\n\n"));
        assert!(first.is_some() && first < second, "{answer}");
        let answer = exchange(&server, "GET /page?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.ends_with(r#"{"page":1}"#), "{answer}");
        let answer = exchange(&server, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }

    #[test]
    fn a_token_guards_everything_but_the_probes() {
        let (_runtime, server) = guarded(Some("t0ken"));
        let answer = exchange(&server, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(
            answer.contains("www-authenticate: Basic realm=\"chatpulse\""),
            "{answer}"
        );
        assert!(!answer.contains("t0ken"), "the token is never shown");
        let answer = exchange(&server, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        let answer = exchange(&server, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let answer = exchange(
            &server,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let answer = exchange(
            &server,
            "GET /events?token=t0ken HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(answer.contains("data: 1"), "{answer}");
    }

    #[test]
    fn oversized_requests_are_refused() {
        let limits = Limits {
            max_header_bytes: 8192,
            max_body_bytes: 100,
            ..Limits::default()
        };
        let server = HttpServer::start_with(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Metrics::new()),
            Arc::new(super::super::Stateless),
            limits,
        )
        .unwrap();
        let long = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
            "a".repeat(9000)
        );
        assert!(exchange(&server, &long).starts_with("HTTP/1.1 431"));
        let body = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{}",
            "b".repeat(200)
        );
        assert!(exchange(&server, &body).starts_with("HTTP/1.1 413"));
    }
}
