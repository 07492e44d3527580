//! A Kafka-protocol-aware TCP proxy on 127.0.0.1 in front of one broker, for faults the broker cannot
//! make: it frames requests and responses (4-byte length prefix), tracks each request's API key and
//! version by correlation id, and while armed fails one topic's produce requests, delays or holds
//! fetch responses, or corrupts one record inside a fetch response. Bounded: it stops when dropped.
//!
//! The broker must advertise the proxy's address (`--advertised-listener-url`), since clients learn
//! broker addresses from metadata.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
/// The first flexible (compact, tagged) version of Produce.
const PRODUCE_FLEXIBLE: i16 = 9;
/// Produce v13 names topics by id, which this proxy does not map.
const PRODUCE_TOPIC_IDS: i16 = 13;
/// No Kafka frame a test sends comes near this.
const MAX_FRAME: usize = 256 << 20;

/// What the proxy does to the traffic, changeable while it runs.
#[derive(Debug, Default)]
pub struct Faults {
    /// Fail every produce request to this topic with this error code (the broker never sees it).
    fail_produce: Mutex<Option<(String, i16)>>,
    /// Hold every fetch response until cleared.
    hold_fetch: AtomicBool,
    /// Delay every fetch response by this much.
    fetch_delay: Mutex<Option<Duration>>,
    /// Flip one byte of the first fetch response holding these bytes, then clear.
    corrupt_fetch: Mutex<Option<Vec<u8>>>,
    /// Produce partitions answered with the error.
    pub failed_produce_partitions: AtomicU64,
    /// Fetch responses corrupted.
    pub corrupted_fetches: AtomicU64,
    /// Produce versions seen (diagnostics).
    pub produce_versions: Mutex<Vec<i16>>,
}

impl Faults {
    /// Fails produce requests to `topic` with `error_code` (for example 10, MESSAGE_TOO_LARGE)
    /// from now on; `None` lets them through again.
    pub fn fail_produce(&self, fault: Option<(&str, i16)>) {
        *self.fail_produce.lock().unwrap() = fault.map(|(t, c)| (t.to_owned(), c));
    }

    /// Holds every fetch response while `hold` is true.
    pub fn hold_fetch(&self, hold: bool) {
        self.hold_fetch.store(hold, Ordering::SeqCst);
    }

    /// Delays every fetch response by `delay`.
    pub fn delay_fetch(&self, delay: Option<Duration>) {
        *self.fetch_delay.lock().unwrap() = delay;
    }

    /// Flips one byte in the first fetch response that contains `needle` (once).
    pub fn corrupt_next_fetch_with(&self, needle: &[u8]) {
        *self.corrupt_fetch.lock().unwrap() = Some(needle.to_vec());
    }
}

/// The running proxy; dropping it closes the listener and every connection.
pub struct KafkaFaultProxy {
    port: u16,
    /// The faults to apply.
    pub faults: Arc<Faults>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl KafkaFaultProxy {
    /// Listens on a free 127.0.0.1 port and forwards each connection to `upstream`, which need
    /// not be up yet (it is dialled per connection).
    pub fn start(upstream: SocketAddr) -> KafkaFaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(Faults::default());
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (faults, stop, connections) = (faults.clone(), stop.clone(), connections.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let Ok(broker) = TcpStream::connect(upstream) else {
                                continue;
                            };
                            client.set_nonblocking(false).unwrap();
                            let _ = client.set_nodelay(true);
                            let _ = broker.set_nodelay(true);
                            let mut open = connections.lock().unwrap();
                            open.push(client.try_clone().unwrap());
                            open.push(broker.try_clone().unwrap());
                            drop(open);
                            relay(client, broker, faults.clone(), stop.clone());
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        KafkaFaultProxy {
            port,
            faults,
            stop,
            connections,
            accept: Some(accept),
        }
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for KafkaFaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// API key and version of each request in flight on one connection, by correlation id.
type InFlight = Arc<Mutex<HashMap<i32, (i16, i16)>>>;

/// Relays one connection in both directions on two threads, applying `faults` to responses.
fn relay(client: TcpStream, broker: TcpStream, faults: Arc<Faults>, stop: Arc<AtomicBool>) {
    let in_flight: InFlight = Arc::default();
    let (mut client_in, mut client_out) = (client.try_clone().unwrap(), client);
    let (mut broker_in, mut broker_out) = (broker.try_clone().unwrap(), broker);
    {
        let (in_flight, faults) = (in_flight.clone(), faults.clone());
        std::thread::spawn(move || {
            while let Some(mut frame) = read_frame(&mut client_in) {
                if frame.len() >= 8 {
                    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
                    let version = i16::from_be_bytes([frame[2], frame[3]]);
                    let correlation = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                    in_flight
                        .lock()
                        .unwrap()
                        .insert(correlation, (api_key, version));
                    if api_key == PRODUCE {
                        faults.produce_versions.lock().unwrap().push(version);
                        redirect_failed_produce(&mut frame, version, &faults);
                    }
                }
                if write_frame(&mut broker_out, &frame).is_err() {
                    break;
                }
            }
            let _ = broker_out.shutdown(Shutdown::Both);
        });
    }
    std::thread::spawn(move || {
        while let Some(mut frame) = read_frame(&mut broker_in) {
            if frame.len() >= 4 {
                let correlation = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                let request = in_flight.lock().unwrap().remove(&correlation);
                match request {
                    Some((PRODUCE, version)) => fail_produce_response(&mut frame, version, &faults),
                    Some((FETCH, _)) => {
                        while faults.hold_fetch.load(Ordering::SeqCst)
                            && !stop.load(Ordering::SeqCst)
                        {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        let delay = *faults.fetch_delay.lock().unwrap();
                        if let Some(delay) = delay {
                            std::thread::sleep(delay);
                        }
                        corrupt_fetch_response(&mut frame, &faults);
                    }
                    _ => {}
                }
            }
            if write_frame(&mut client_out, &frame).is_err() {
                break;
            }
        }
        let _ = client_out.shutdown(Shutdown::Both);
    });
}

fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let len = usize::try_from(i32::from_be_bytes(len)).ok()?;
    if len > MAX_FRAME {
        return None;
    }
    let mut frame = vec![0u8; len];
    stream.read_exact(&mut frame).ok()?;
    Some(frame)
}

fn write_frame(stream: &mut TcpStream, frame: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(frame.len() + 4);
    out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
    out.extend_from_slice(frame);
    stream.write_all(&out)
}

/// A reader over one frame; every read fails (`None`) past its end.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// An array length: int32, or compact (unsigned varint of length + 1) when flexible.
    fn array_len(&mut self, flexible: bool) -> Option<usize> {
        if flexible {
            usize::try_from(self.uvarint()?.checked_sub(1)?).ok()
        } else {
            usize::try_from(self.i32()?).ok()
        }
    }

    /// A (nullable) string or bytes field; returns where its content starts and its length.
    fn string(&mut self, flexible: bool) -> Option<(usize, usize)> {
        let len = if flexible {
            match self.uvarint()? {
                0 => return Some((self.pos, 0)),
                n => usize::try_from(n - 1).ok()?,
            }
        } else {
            match self.i16()? {
                -1 => return Some((self.pos, 0)),
                n => usize::try_from(n).ok()?,
            }
        };
        let start = self.pos;
        self.take(len)?;
        Some((start, len))
    }

    /// A nullable bytes field: int32 length, or compact when flexible.
    fn bytes(&mut self, flexible: bool) -> Option<()> {
        let len = if flexible {
            match self.uvarint()? {
                0 => return Some(()),
                n => usize::try_from(n - 1).ok()?,
            }
        } else {
            match self.i32()? {
                -1 => return Some(()),
                n => usize::try_from(n).ok()?,
            }
        };
        self.take(len).map(|_| ())
    }

    fn tagged_fields(&mut self) -> Option<()> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).ok()?;
            self.take(size)?;
        }
        Some(())
    }
}

/// The byte that replaces a failed topic name's last byte in the request: no topic name holds it,
/// so the broker refuses the request without writing anything.
const HIDDEN: u8 = b'~';

/// When `frame` (a produce request) writes to the failing topic, renames the topic in place so the
/// broker refuses it; the response is then rewritten by [`fail_produce_response`].
fn redirect_failed_produce(frame: &mut [u8], version: i16, faults: &Faults) {
    let Some((topic, _)) = faults.fail_produce.lock().unwrap().clone() else {
        return;
    };
    if version >= PRODUCE_TOPIC_IDS {
        panic!("Produce v{version} names topics by id: teach the fault proxy to map them");
    }
    let flexible = version >= PRODUCE_FLEXIBLE;
    let names = (|| {
        let mut c = Cursor {
            buf: &frame[..],
            pos: 8,
        };
        // Request header v1/v2: client id (a non-compact nullable string), then tagged fields.
        c.string(false)?;
        if flexible {
            c.tagged_fields()?;
        }
        if version >= 3 {
            c.string(flexible)?; // transactional id
        }
        c.i16()?; // acks
        c.i32()?; // timeout
        let mut names = Vec::new();
        for _ in 0..c.array_len(flexible)? {
            names.push(c.string(flexible)?);
            for _ in 0..c.array_len(flexible)? {
                c.i32()?; // partition
                c.bytes(flexible)?; // records
                if flexible {
                    c.tagged_fields()?;
                }
            }
            if flexible {
                c.tagged_fields()?;
            }
        }
        Some(names)
    })();
    for (start, len) in names.unwrap_or_default() {
        if len > 0 && &frame[start..start + len] == topic.as_bytes() {
            frame[start + len - 1] = HIDDEN;
        }
    }
}

/// Rewrites, in a produce response, every partition of a topic renamed by
/// [`redirect_failed_produce`]: the name back, and the error code to the chosen one.
fn fail_produce_response(frame: &mut [u8], version: i16, faults: &Faults) {
    let Some((topic, code)) = faults.fail_produce.lock().unwrap().clone() else {
        return;
    };
    let mut hidden = topic.clone().into_bytes();
    *hidden.last_mut().expect("a topic name") = HIDDEN;
    let flexible = version >= PRODUCE_FLEXIBLE;
    let mut rewrites = Vec::new();
    let parsed = (|| {
        let mut c = Cursor {
            buf: &frame[..],
            pos: 4,
        };
        if flexible {
            c.tagged_fields()?;
        }
        for _ in 0..c.array_len(flexible)? {
            let (start, len) = c.string(flexible)?;
            let ours = c.buf[start..start + len] == hidden[..];
            for _ in 0..c.array_len(flexible)? {
                c.i32()?; // partition
                if ours {
                    rewrites.push((start, len, c.pos));
                }
                c.i16()?; // error code
                c.take(8)?; // base offset
                if version >= 2 {
                    c.take(8)?; // log append time
                }
                if version >= 5 {
                    c.take(8)?; // log start offset
                }
                if version >= 8 {
                    for _ in 0..c.array_len(flexible)? {
                        c.i32()?;
                        c.string(flexible)?;
                        if flexible {
                            c.tagged_fields()?;
                        }
                    }
                    c.string(flexible)?; // error message
                }
                if flexible {
                    c.tagged_fields()?;
                }
            }
            if flexible {
                c.tagged_fields()?;
            }
        }
        Some(())
    })();
    assert!(
        parsed.is_some() || rewrites.is_empty(),
        "the fault proxy cannot read this Produce v{version} response"
    );
    for (start, len, at) in rewrites {
        frame[start + len - 1] = *topic.as_bytes().last().unwrap();
        frame[at..at + 2].copy_from_slice(&code.to_be_bytes());
        faults
            .failed_produce_partitions
            .fetch_add(1, Ordering::SeqCst);
    }
}

/// Flips one byte of the needle in a fetch response holding it, once per arming.
fn corrupt_fetch_response(frame: &mut [u8], faults: &Faults) {
    let mut armed = faults.corrupt_fetch.lock().unwrap();
    let Some(needle) = armed.as_ref() else {
        return;
    };
    if needle.is_empty() || frame.len() < needle.len() {
        return;
    }
    let found = frame.windows(needle.len()).position(|w| w == &needle[..]);
    let middle = needle.len() / 2;
    if let Some(at) = found {
        frame[at + middle] ^= 0x01;
        *armed = None;
        faults.corrupted_fetches.fetch_add(1, Ordering::SeqCst);
    }
}
