//! A tansu of a test's own on a chosen port, for tests that stop the broker and start it again on the
//! same port, or put a plain TCP proxy in front of it: a thin layer over `support::tansu_broker`
//! that can be killed early and gives non-idempotent client settings.

use std::net::SocketAddr;

use chatpulse::kafka::KafkaSettings;

use crate::support::tansu_broker::TansuBroker;

/// A tansu broker of this test's own, killed when dropped.
pub struct Broker {
    /// The port it listens on.
    pub port: u16,
    tansu: Option<TansuBroker>,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Broker {
    /// A broker on `port` that advertises that port.
    pub fn start(port: u16) -> Broker {
        Broker::advertising(port, port)
    }

    /// A broker on `port` that tells clients to connect to `advertised` (a proxy in front of it).
    pub fn advertising(port: u16, advertised: u16) -> Broker {
        Broker {
            port,
            tansu: Some(TansuBroker::start_at(loopback(port), loopback(advertised))),
        }
    }

    /// Kills the broker (its memory storage is gone with it).
    pub fn kill(&mut self) {
        self.tansu = None;
    }

    /// Client settings for this broker. The producer is not idempotent here: tansu's memory storage
    /// forgets producer ids on restart and then answers every retry with UNKNOWN_PRODUCER_ID, which
    /// librdkafka retries until the message times out. A real cluster keeps producer state across a
    /// broker restart, so production keeps `enable.idempotence=true`.
    pub fn settings(&self) -> KafkaSettings {
        let mut settings = KafkaSettings::new(loopback(self.port).to_string());
        settings
            .librdkafka_options
            .insert("enable.idempotence".into(), "false".into());
        settings
    }
}
