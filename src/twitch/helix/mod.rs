//! The Twitch Helix API client behind `chatpulse monitor`: an app token from the client-credentials
//! flow ([`token`]), Ratelimit headers and 429s ([`rate_limit`]), stream snapshots and start/end
//! events ([`snapshot`]), the HTTP calls ([`client`]), the polling loop ([`monitor`]) and the producer
//! it shares with snapshot replays ([`snapshot_sink`], [`replay`]); [`derived`] makes snapshots from
//! chat logs for benchmarks.

pub mod client;
pub mod derived;
pub mod monitor;
pub mod rate_limit;
pub mod replay;
pub mod snapshot;
pub mod snapshot_sink;
pub mod token;

use std::fmt;

/// Twitch's OAuth server.
pub const TWITCH_AUTH_URL: &str = "https://id.twitch.tv";
/// Twitch's Helix API.
pub const TWITCH_HELIX_URL: &str = "https://api.twitch.tv";

/// App credentials: never printed.
#[derive(Clone)]
pub struct Credentials {
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: String,
    /// A user access token, for follower totals (Get Channel Followers needs one).
    pub user_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials({}, <secret>, user token: {})",
            self.client_id,
            self.user_token.is_some()
        )
    }
}

/// Failures of Helix calls, each saying what to check.
#[derive(Debug, thiserror::Error)]
pub enum HelixError {
    /// The HTTP request failed.
    #[error("Helix request failed: {0} (check the network and --helix-url)")]
    Http(String),
    /// Twitch refused the credentials.
    #[error(
        "Twitch refused the app credentials ({0}): check TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET"
    )]
    Credentials(String),
    /// An unexpected status.
    #[error("Helix answered {status} to {what}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// Which call.
        what: String,
        /// The response body.
        body: String,
    },
    /// The snapshot schema could not be registered or a snapshot not encoded.
    #[error("Avro: {0}")]
    Avro(String),
    /// Producing to Kafka failed.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::KafkaError),
}

impl From<reqwest::Error> for HelixError {
    fn from(e: reqwest::Error) -> Self {
        HelixError::Http(e.to_string())
    }
}
