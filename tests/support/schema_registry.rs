//! A Confluent Schema Registry stand-in over HTTP/1.1 on 127.0.0.1, speaking the REST API of the
//! public docs: register (`POST /subjects/{s}/versions`), schema by id, latest version, subjects and
//! compatibility, with Confluent's error bodies. It can stop (refusing connections) and come back on
//! the same port with its schemas, for retry tests. One request per connection (`Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chatpulse::avro::registry::{RegistryError, SchemaStore};
use serde_json::{json, Value};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The running (or stopped) stand-in.
pub struct SchemaRegistryServer {
    port: u16,
    store: Arc<Mutex<SchemaStore>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SchemaRegistryServer {
    /// Starts on a free port.
    pub fn start() -> SchemaRegistryServer {
        let mut s = SchemaRegistryServer {
            port: 0,
            store: Arc::new(Mutex::new(SchemaStore::new())),
            requests: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        s.start_on(0);
        s
    }

    /// A port that refuses connections until [`start_on`](Self::start_on) is called with it.
    pub fn stopped() -> SchemaRegistryServer {
        let mut s = SchemaRegistryServer::start();
        s.stop();
        s
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Listens on `port` (0: any free port) with the schemas registered so far.
    pub fn start_on(&mut self, port: u16) {
        assert!(self.thread.is_none(), "already running");
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the registry port");
        self.port = listener.local_addr().unwrap().port();
        self.stop = Arc::new(AtomicBool::new(false));
        let (store, requests, stop) =
            (self.store.clone(), self.requests.clone(), self.stop.clone());
        self.thread = Some(std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                requests.fetch_add(1, Ordering::SeqCst);
                let store = store.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &store);
                });
            }
        }));
    }

    /// Stops listening: new connections are refused until `start_on(port)`.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees the flag and drops the listener.
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            t.join().unwrap();
        }
    }

    /// The port (kept across stop and start).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SchemaRegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(conn: TcpStream, store: &Mutex<SchemaStore>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("").replace("%2F", "/");
    let (status, reply) = route(method, &path, &body, &mut store.lock().unwrap());
    let text = reply.to_string();
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Error",
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    conn.flush()
}

fn error(status: u16, code: u32, message: String) -> (u16, Value) {
    (status, json!({"error_code": code, "message": message}))
}

fn schema_of(body: &[u8]) -> Result<String, (u16, Value)> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| error(422, 42201, format!("the body is not JSON: {e}")))?;
    v["schema"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| error(422, 42201, "the body has no \"schema\" string".to_owned()))
}

fn refusal(e: RegistryError) -> (u16, Value) {
    match e {
        RegistryError::Incompatible { reason, .. } => error(409, 409, reason),
        other => error(422, 42201, other.to_string()),
    }
}

fn route(method: &str, path: &str, body: &[u8], store: &mut SchemaStore) -> (u16, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let no_subject = |s: &str| error(404, 40401, format!("Subject '{s}' not found."));
    match (method, segments.as_slice()) {
        ("GET", ["subjects"]) => (200, json!(store.subjects())),
        ("POST", ["subjects", subject, "versions"]) => match schema_of(body) {
            Ok(schema) => match store.register(subject, &schema) {
                Ok(id) => (200, json!({"id": id})),
                Err(e) => refusal(e),
            },
            Err(e) => e,
        },
        ("GET", ["subjects", subject, "versions", "latest"]) => match store.latest(subject) {
            Some(v) => (
                200,
                json!({"subject": v.subject, "id": v.id, "version": v.version, "schema": v.schema}),
            ),
            None => no_subject(subject),
        },
        ("GET", ["schemas", "ids", id]) => {
            match id.parse().ok().and_then(|id| store.schema_by_id(id)) {
                Some(s) => (200, json!({"schema": s})),
                None => error(404, 40403, format!("Schema {id} not found")),
            }
        }
        ("POST", ["compatibility", "subjects", subject, "versions", ..]) => match schema_of(body) {
            Ok(schema) => match store.is_compatible(subject, &schema) {
                Ok(ok) => (200, json!({"is_compatible": ok})),
                Err(e) => refusal(e),
            },
            Err(e) => e,
        },
        _ => error(404, 404, format!("no route for {method} {path}")),
    }
}
