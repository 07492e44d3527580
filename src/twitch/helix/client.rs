//! The Helix HTTP calls: the client-credentials token (get, validate hourly, renew before expiry or on
//! 401), Get Users, Get Streams (up to 100 logins a call) and Get Channel Followers, each waiting as
//! the `Ratelimit-*` headers and 429 answers say. Numbers in answers saturate instead of failing or
//! overflowing. Secrets never reach a log line.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::rate_limit::{RateLimit, MAX_WAIT};
use super::token::AppToken;
use super::{Credentials, HelixError};

/// Logins per Get Users or Get Streams call (Helix's maximum).
pub const LOGINS_PER_CALL: usize = 100;
/// Attempts of one call through 401s and 429s before giving up until the next poll.
const ATTEMPTS: usize = 5;

/// What the client did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HelixStats {
    /// App tokens requested.
    pub token_requests: u64,
    /// Token validations.
    pub validations: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// 401 answers to API calls (the token was renewed).
    pub unauthorized: u64,
}

/// A live stream as Get Streams describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Stream {
    /// The broadcaster's id.
    pub user_id: String,
    /// The broadcaster's login.
    pub user_login: String,
    /// Category name.
    #[serde(default)]
    pub game_name: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Viewers.
    #[serde(default, deserialize_with = "saturating_i64")]
    pub viewer_count: i64,
    /// Start time, RFC 3339.
    #[serde(default)]
    pub started_at: String,
    /// Language.
    #[serde(default)]
    pub language: String,
}

#[derive(Deserialize)]
struct Data<T> {
    data: Vec<T>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    login: String,
}

#[derive(Deserialize)]
struct Followers {
    #[serde(deserialize_with = "saturating_i64")]
    total: i64,
}

/// Reads a count or a lifetime of any JSON number: one beyond `i64` saturates and a fraction is
/// truncated, so an odd number in an answer never fails the whole poll.
fn saturating_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(deserializer)?;
    Ok(match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i,
        (None, Some(_), _) => i64::MAX,
        // Float to integer casts saturate (and turn NaN into 0).
        (None, None, Some(f)) => f as i64,
        (None, None, None) => 0,
    })
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(deserialize_with = "saturating_i64")]
    expires_in: i64,
}

/// A Helix client with its app token and rate-limit state.
pub struct HelixClient {
    http: reqwest::Client,
    auth_url: String,
    helix_url: String,
    credentials: Credentials,
    token: Option<AppToken>,
    rate: Option<RateLimit>,
    max_wait: Duration,
    stats: HelixStats,
}

impl HelixClient {
    /// A client for `auth_url` (token endpoints) and `helix_url` (API), without a token yet.
    pub fn new(
        auth_url: &str,
        helix_url: &str,
        credentials: Credentials,
    ) -> Result<HelixClient, HelixError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(HelixClient {
            http,
            auth_url: auth_url.trim_end_matches('/').to_owned(),
            helix_url: helix_url.trim_end_matches('/').to_owned(),
            credentials,
            token: None,
            rate: None,
            max_wait: MAX_WAIT,
            stats: HelixStats::default(),
        })
    }

    /// Caps each rate-limit wait at `max` instead of [`MAX_WAIT`].
    pub fn with_max_wait(mut self, max: Duration) -> HelixClient {
        self.max_wait = max;
        self
    }

    /// Counters so far.
    pub fn stats(&self) -> HelixStats {
        self.stats
    }

    /// Whether a user token was given (follower totals need one).
    pub fn has_user_token(&self) -> bool {
        self.credentials.user_token.is_some()
    }

    /// The app token, renewed or validated first when due.
    async fn app_token(&mut self) -> Result<String, HelixError> {
        let now = now_ms();
        match &self.token {
            Some(t) if !t.needs_renewal(now) && !t.needs_validation(now) => {
                return Ok(t.access_token.clone())
            }
            Some(t) if !t.needs_renewal(now) => {
                let token = t.access_token.clone();
                if self.validate(&token).await? {
                    return Ok(token);
                }
            }
            _ => {}
        }
        self.renew().await
    }

    async fn renew(&mut self) -> Result<String, HelixError> {
        self.stats.token_requests += 1;
        let body = format!(
            "client_id={}&client_secret={}&grant_type=client_credentials",
            form_encode(&self.credentials.client_id),
            form_encode(&self.credentials.client_secret)
        );
        let resp = self
            .http
            .post(format!("{}/oauth2/token", self.auth_url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(HelixError::Credentials(format!("{status}: {text}")));
        }
        let answer: TokenAnswer = resp.json().await?;
        tracing::info!(expires_in_s = answer.expires_in, "got a Helix app token");
        let token = AppToken::issued(answer.access_token, answer.expires_in, now_ms());
        let bearer = token.access_token.clone();
        self.token = Some(token);
        Ok(bearer)
    }

    /// Validates `token`; false (and forgotten) when Twitch no longer accepts it.
    async fn validate(&mut self, token: &str) -> Result<bool, HelixError> {
        self.stats.validations += 1;
        let resp = self
            .http
            .get(format!("{}/oauth2/validate", self.auth_url))
            .header("Authorization", format!("OAuth {token}"))
            .send()
            .await?;
        if resp.status().as_u16() == 200 {
            if let Some(t) = &mut self.token {
                t.validated_at_ms = now_ms();
            }
            Ok(true)
        } else {
            tracing::info!("the Helix app token is no longer valid: renewing it");
            self.token = None;
            Ok(false)
        }
    }

    /// GET `path` (with its query) on Helix, through rate limits, 429s and one renewal on 401.
    async fn get<T: DeserializeOwned>(
        &mut self,
        path: &str,
        as_user: bool,
    ) -> Result<T, HelixError> {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let wait = RateLimit::wait(self.rate, false, now_ms(), self.max_wait);
            if !wait.is_zero() {
                tracing::info!(?wait, "Helix rate limit exhausted: waiting for the reset");
                tokio::time::sleep(wait).await;
            }
            let bearer = match (&self.credentials.user_token, as_user) {
                (Some(user), true) => user.clone(),
                _ => self.app_token().await?,
            };
            let resp = self
                .http
                .get(format!("{}{path}", self.helix_url))
                .header("Client-Id", &self.credentials.client_id)
                .bearer_auth(bearer)
                .send()
                .await?;
            let headers = resp.headers().clone();
            self.rate = RateLimit::from_headers(|name| headers.get(name)?.to_str().ok());
            match resp.status().as_u16() {
                200 => return Ok(resp.json().await?),
                429 => {
                    self.stats.rate_limited += 1;
                    let wait = RateLimit::wait(self.rate, true, now_ms(), self.max_wait);
                    tracing::warn!(?wait, "Helix answered 429: backing off until the reset");
                    tokio::time::sleep(wait).await;
                    last = "429 Too Many Requests".into();
                }
                401 if !as_user => {
                    self.stats.unauthorized += 1;
                    tracing::info!("Helix answered 401: renewing the app token");
                    self.token = None;
                    last = "401 Unauthorized".into();
                }
                status => {
                    return Err(HelixError::Status {
                        status,
                        what: path.split('?').next().unwrap_or(path).to_owned(),
                        body: resp.text().await.unwrap_or_default(),
                    })
                }
            }
        }
        Err(HelixError::Http(format!(
            "{path}: gave up after {ATTEMPTS} attempts, last {last}"
        )))
    }

    /// User ids of `logins` (unknown logins are absent).
    pub async fn users(
        &mut self,
        logins: &[String],
    ) -> Result<BTreeMap<String, String>, HelixError> {
        let mut ids = BTreeMap::new();
        for chunk in logins.chunks(LOGINS_PER_CALL) {
            let query = query("login", chunk);
            let users: Data<User> = self.get(&format!("/helix/users?{query}"), false).await?;
            ids.extend(users.data.into_iter().map(|u| (u.login, u.id)));
        }
        Ok(ids)
    }

    /// The live streams among `logins`, by login.
    pub async fn streams(
        &mut self,
        logins: &[String],
    ) -> Result<BTreeMap<String, Stream>, HelixError> {
        let mut live = BTreeMap::new();
        for chunk in logins.chunks(LOGINS_PER_CALL) {
            let path = format!("/helix/streams?{}&first=100", query("user_login", chunk));
            let streams: Data<Stream> = self.get(&path, false).await?;
            live.extend(streams.data.into_iter().map(|s| (s.user_login.clone(), s)));
        }
        Ok(live)
    }

    /// The follower total of `user_id` (needs the user token).
    pub async fn follower_total(&mut self, user_id: &str) -> Result<i64, HelixError> {
        let path = format!(
            "/helix/channels/followers?broadcaster_id={}&first=1",
            form_encode(user_id)
        );
        let answer: Followers = self.get(&path, true).await?;
        Ok(answer.total)
    }
}

fn query(key: &str, values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{key}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but unreserved characters.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The system clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_repeat_the_key_and_encode_values() {
        assert_eq!(
            query("login", &["a".into(), "b c".into()]),
            "login=a&login=b%20c"
        );
        assert_eq!(form_encode("s3cr+t/="), "s3cr%2Bt%2F%3D");
    }

    #[test]
    fn a_token_lifetime_beyond_i64_still_parses() {
        for (expires_in, want) in [
            ("99999999999999999999", i64::MAX),
            ("1e30", i64::MAX),
            ("-1e30", i64::MIN),
            ("5011497", 5_011_497),
        ] {
            let text = format!(
                r#"{{"access_token":"a","expires_in":{expires_in},"token_type":"bearer"}}"#
            );
            let answer: TokenAnswer = serde_json::from_str(&text).expect(expires_in);
            assert_eq!(answer.expires_in, want, "{expires_in}");
        }
        let huge: Followers = serde_json::from_str(r#"{"total": 1e19, "data": []}"#).unwrap();
        assert_eq!(huge.total, i64::MAX);
        let stream: Stream =
            serde_json::from_str(r#"{"user_id":"1","user_login":"a","viewer_count":-1e300}"#)
                .unwrap();
        assert_eq!(stream.viewer_count, i64::MIN);
    }
}
