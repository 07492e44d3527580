//! A tansu broker of the test's own (in-memory storage) on a free 127.0.0.1 port, for tests that need
//! a fresh broker or one advertised behind a proxy. It is stopped (killed by its pid) when dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running tansu process.
pub struct TansuBroker {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The address it advertises in metadata (its own, or a proxy's).
    pub advertised: SocketAddr,
    log: PathBuf,
    child: Child,
}

/// The tansu binary: `$TANSU`, else `~/.cargo/bin/tansu`, else `tansu` on the PATH.
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU") {
        return path.into();
    }
    let installed = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu"));
    match installed {
        Some(path) if path.exists() => path,
        _ => "tansu".into(),
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl TansuBroker {
    /// A broker on a free port advertising itself.
    pub fn start() -> TansuBroker {
        let addr = free_addr();
        Self::start_at(addr, addr)
    }

    /// A free address to start a broker at later (for a proxy that must know it first).
    pub fn reserve() -> SocketAddr {
        free_addr()
    }

    /// A broker listening on `addr` and advertising `advertised`; waits (10 s at most) until it
    /// accepts connections.
    pub fn start_at(addr: SocketAddr, advertised: SocketAddr) -> TansuBroker {
        let log = std::env::temp_dir().join(format!(
            "chatpulse-test-tansu-{}-{}.log",
            std::process::id(),
            addr.port()
        ));
        let output = std::fs::File::create(&log).unwrap();
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://{addr}"),
                "--advertised-listener-url",
                &format!("tcp://{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu (install it with scripts/setup): {e}"));
        let mut broker = TansuBroker {
            addr,
            advertised,
            log,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("tansu exited ({status}); its log: {}", broker.log());
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {addr} within 10 s; its log: {}",
                broker.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// The `host:port` clients bootstrap from.
    pub fn bootstrap(&self) -> String {
        self.advertised.to_string()
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("tansu on {} (last lines):", self.addr);
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
