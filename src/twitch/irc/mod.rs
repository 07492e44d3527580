//! The Twitch chat client: IRC over TLS (or plain TCP for tests), anonymous or with a token, that
//! joins channels within Twitch's rate limits, answers PING, honours RECONNECT, reconnects with
//! jittered backoff and hands every chat line to the ingest queue. The protocol parts ([`framing`],
//! [`session`], [`join_pacer`], [`backoff`], [`channels`]) are pure; [`connection`] and [`client`]
//! hold the sockets.

pub mod backoff;
pub mod channels;
pub mod channels_file;
pub mod client;
pub mod connection;
pub mod framing;
pub mod join_pacer;
pub mod session;

use std::time::Duration;

pub use client::run_client;
pub use session::Login;

/// Twitch's IRC endpoint over TLS.
pub const TWITCH_IRC_ADDR: &str = "irc.chat.twitch.tv:6697";

/// How the chat client connects and behaves.
#[derive(Debug, Clone)]
pub struct IrcConfig {
    /// `host:port` of the IRC server.
    pub addr: String,
    /// Use TLS (Twitch requires it on 6697); off only for local test servers.
    pub tls: bool,
    /// How to log in.
    pub login: Login,
    /// Channels per connection; more channels open more connections.
    pub channels_per_connection: usize,
    /// JOINs allowed per 10 s over all connections (20 for ordinary accounts, 2,000 for verified bots).
    pub joins_per_window: usize,
    /// Logins allowed per 10 s over all connections (Twitch: 20, verified bots 200).
    pub logins_per_window: usize,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Silence after which the client sends a PING.
    pub ping_after: Duration,
    /// How long to wait for anything after that PING before reconnecting.
    pub pong_timeout: Duration,
    /// How long a TCP connect plus TLS handshake may take.
    pub connect_timeout: Duration,
    /// How long one write may block (a server that stopped reading, its buffers full) before the
    /// connection is given up and opened again.
    pub write_timeout: Duration,
}

impl IrcConfig {
    /// Twitch over TLS with an anonymous login and production timings.
    pub fn twitch(login: Login) -> IrcConfig {
        IrcConfig {
            addr: TWITCH_IRC_ADDR.to_owned(),
            tls: true,
            login,
            channels_per_connection: 50,
            joins_per_window: join_pacer::JOINS_PER_WINDOW,
            logins_per_window: 20,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            ping_after: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Failures the chat client cannot recover from by reconnecting.
#[derive(Debug, thiserror::Error)]
pub enum IrcError {
    /// Twitch refused the login.
    #[error("Twitch refused the login ({0}): check --oauth-token (it needs the chat:read scope) and --nick, or drop the token to read anonymously")]
    LoginFailed(String),
    /// The TLS library could not be set up.
    #[error("cannot set up TLS: {0} (check the system's CA certificates)")]
    Tls(String),
}
