//! A small TCP proxy on 127.0.0.1 in front of one Kafka broker, for outages tansu cannot make: it
//! forwards bytes both ways and, on demand, cuts the clients whose `client.id` starts with a prefix
//! (read from the first request of each connection) or every client. It ends itself after `lifetime`.
//!
//! librdkafka connects to the addresses the broker advertises, not only to its bootstrap list, so
//! the broker behind the proxy must advertise the proxy's address (tansu's
//! `--advertised-listener-url`): every client then goes through the proxy, and a fault for one
//! client's id leaves the others connected.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What happens to the connections of the clients a fault names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Bytes flow.
    None,
    /// Existing connections are closed and new ones are closed at once, as if the broker were
    /// unreachable.
    Refuse,
    /// Connections stay open but no byte is forwarded in either direction until the fault ends.
    Stall,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Clients whose `client.id` starts with this (empty: every client).
    prefix: String,
    fault: Fault,
}

/// The running proxy; it stops when dropped or when its lifetime ends.
pub struct TcpProxy {
    addr: SocketAddr,
    rule: Arc<watch::Sender<Rule>>,
    connections: Arc<Mutex<u64>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `127.0.0.1:port` (0: any free port) and forwards to `upstream`, for at most
    /// `lifetime`.
    pub async fn start(port: u16, upstream: SocketAddr, lifetime: Duration) -> TcpProxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (rule, rules) = watch::channel(Rule {
            prefix: String::new(),
            fault: Fault::None,
        });
        let rule = Arc::new(rule);
        let connections = Arc::new(Mutex::new(0));
        let (counted, ending) = (connections.clone(), rule.clone());
        let accept = tokio::spawn(async move {
            let serving = async {
                while let Ok((socket, _)) = listener.accept().await {
                    *counted.lock().unwrap() += 1;
                    tokio::spawn(serve(socket, upstream, rules.clone()));
                }
            };
            let _ = tokio::time::timeout(lifetime, serving).await;
            // The lifetime is over: every connection ends too.
            ending.send_replace(Rule {
                prefix: String::new(),
                fault: Fault::Refuse,
            });
        });
        TcpProxy {
            addr,
            rule,
            connections,
            accept,
        }
    }

    /// `127.0.0.1:port` of the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies `fault` to the clients whose `client.id` starts with `prefix` (`""`: every client);
    /// [`Fault::None`] ends it. One rule at a time.
    pub fn set(&self, prefix: &str, fault: Fault) {
        self.rule.send_replace(Rule {
            prefix: prefix.to_owned(),
            fault,
        });
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        *self.connections.lock().unwrap()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The `client_id` of a Kafka request frame (length prefix removed): api key, api version and
/// correlation id come first, then the id as a nullable string.
fn client_id(frame: &[u8]) -> Option<String> {
    let len = i16::from_be_bytes(frame.get(8..10)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    let id = frame.get(10..10 + len)?;
    Some(String::from_utf8_lossy(id).into_owned())
}

/// The fault `rule` means for a client with `id`.
fn fault_for(rule: &Rule, id: &str) -> Fault {
    if id.starts_with(&rule.prefix) {
        rule.fault.clone()
    } else {
        Fault::None
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut rules: watch::Receiver<Rule>) {
    // The first request names the client; it is held until the connection may go on.
    let mut head = [0u8; 4];
    let mut first = Vec::new();
    let read_first = async {
        client.read_exact(&mut head).await?;
        let size = u32::from_be_bytes(head) as usize;
        if size > 1 << 20 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        first.resize(size, 0);
        client.read_exact(&mut first).await.map(|_| ())
    };
    match tokio::time::timeout(Duration::from_secs(30), read_first).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    let id = client_id(&first).unwrap_or_default();
    if fault_for(&rules.borrow(), &id) == Fault::Refuse {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if server.write_all(&head).await.is_err() || server.write_all(&first).await.is_err() {
        return;
    }
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (mut up, mut down) = ([0u8; 16 * 1024], [0u8; 16 * 1024]);
    loop {
        let fault = fault_for(&rules.borrow_and_update(), &id);
        match fault {
            Fault::Refuse => return,
            Fault::Stall => {
                if rules.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Fault::None => {}
        }
        tokio::select! {
            changed = rules.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            n = client_read.read(&mut up) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if server_write.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
            },
            n = server_read.read(&mut down) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if client_write.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_client_id_of_a_request_header() {
        // ApiVersions v3: key 18, version 3, correlation 1, client id "ingest-1", then tagged fields.
        let mut frame = vec![0, 18, 0, 3, 0, 0, 0, 1, 0, 8];
        frame.extend_from_slice(b"ingest-1");
        frame.push(0);
        assert_eq!(client_id(&frame).as_deref(), Some("ingest-1"));
        assert_eq!(client_id(&[0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff]), None);
        assert_eq!(client_id(&[0, 18]), None);
    }
}
