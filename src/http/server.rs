//! The listener: one thread accepts, one short-lived thread per connection reads one request and
//! writes one response (`Connection: close`). Requests bigger than 16 KiB or slower than 5 s are
//! dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::routes::{route, Response};
use super::Observed;
use crate::metrics::Metrics;

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

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port) and serves in background threads for the life of
    /// the process.
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        observed: Arc<dyn Observed>,
    ) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        std::thread::Builder::new()
            .name("chatpulse-http".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let (metrics, observed) = (metrics.clone(), observed.clone());
                    let _ = std::thread::Builder::new()
                        .name("chatpulse-http-conn".into())
                        .spawn(move || serve(stream, &metrics, observed.as_ref()));
                }
            })?;
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz, /partitions and /state");
        Ok(HttpServer { addr })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

fn serve(stream: TcpStream, metrics: &Metrics, observed: &dyn Observed) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(std::io::Read::take(read_half, 16 * 1024));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers: no route reads them.
    let mut header = String::new();
    loop {
        header.clear();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let response = match method {
        "GET" | "HEAD" => route(path, metrics, observed),
        _ => Response {
            status: 405,
            content_type: "application/json",
            body: r#"{"error":"only GET and HEAD are served"}"#.into(),
        },
    };
    let reason = match response.status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        421 => "Misdirected Request",
        503 => "Service Unavailable",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(response.body.as_bytes());
    }
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn serves_http_over_tcp() {
        let server = HttpServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Metrics::new()),
            Arc::new(super::super::Stateless),
        )
        .unwrap();
        let mut conn = TcpStream::connect(server.local_addr()).unwrap();
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut conn, &mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with(r#"{"status":"alive"}"#), "{answer}");
    }
}
