//! A tansu broker of a test's own (memory storage, 127.0.0.1), for tests that stop a broker or put a
//! proxy in front of it: it can advertise another port than it listens on, and it is killed when
//! dropped, printing the tail of its log if the test failed.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use chatpulse::kafka::KafkaSettings;

/// A tansu broker of this test's own, killed when dropped.
pub struct Broker {
    /// The port it listens on.
    pub port: u16,
    child: Option<Child>,
    /// tansu's log, printed if the test fails, removed with the broker.
    log: tempfile::NamedTempFile,
}

impl Broker {
    /// A broker on `port` that advertises that port.
    pub fn start(port: u16) -> Broker {
        Broker::advertising(port, port)
    }

    /// A broker on `port` that tells clients to connect to `advertised` (a proxy in front of it).
    pub fn advertising(port: u16, advertised: u16) -> Broker {
        let listen = format!("tcp://127.0.0.1:{port}");
        let advertise = format!("tcp://127.0.0.1:{advertised}");
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &listen,
                "--advertised-listener-url",
                &advertise,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("tansu on PATH");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            port,
            child: Some(child),
            log,
        }
    }

    /// Kills the broker (its memory storage is gone with it).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Client settings for this broker. The producer is not idempotent here: tansu's memory storage
    /// forgets producer ids on restart and then answers every retry with UNKNOWN_PRODUCER_ID, which
    /// librdkafka retries until the message times out. A real cluster keeps producer state across a
    /// broker restart, so production keeps `enable.idempotence=true`.
    pub fn settings(&self) -> KafkaSettings {
        let mut settings = KafkaSettings::new(format!("127.0.0.1:{}", self.port));
        settings
            .librdkafka_options
            .insert("enable.idempotence".into(), "false".into());
        settings
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("tansu on {} (last lines):", self.port);
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
        }
    }
}
