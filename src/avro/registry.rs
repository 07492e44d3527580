//! Schema registries: a small [`SchemaRegistry`] trait (register a subject's schema, look a schema up
//! by id, the latest version of a subject, a compatibility check) with an HTTP client for Confluent's
//! REST API ([`http`]) and an in-process one for `mock://NAME` URLs ([`mock`]). [`registry_for`] picks
//! one from a URL; [`register_with_retry`] waits out an unreachable registry with backoff.

pub mod http;
pub mod mock;
pub mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use http::HttpRegistry;
pub use mock::MockRegistry;
pub use store::SchemaStore;

/// What a registry call returns, boxed so the trait can be used as `dyn SchemaRegistry`.
pub type RegistryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 'a>>;

/// A version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    /// The subject (`<topic>-value`).
    pub subject: String,
    /// The schema's global id.
    pub id: u32,
    /// Its version within the subject, from 1.
    pub version: u32,
    /// The schema text.
    pub schema: String,
}

/// Failures of registry calls, each saying what to check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The registry did not answer (connection refused, timeout, 502/503).
    #[error("schema registry at {url} is unreachable: {reason} (check --schema-registry / CHATPULSE_SCHEMA_REGISTRY_URL and that the registry is running)")]
    Unreachable {
        /// The registry URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The registry refused a schema as incompatible with the subject's latest version.
    #[error("the registry refused the schema for subject {subject:?} as incompatible: {reason} (evolve schemas backward-compatibly: add fields as [\"null\", T] with default null, never remove or retype one)")]
    Incompatible {
        /// The subject.
        subject: String,
        /// The registry's message.
        reason: String,
    },
    /// The registry refused a schema as invalid.
    #[error("the registry refused the schema as invalid: {0} (check the .avsc file)")]
    InvalidSchema(String),
    /// No such subject, version or id.
    #[error("not found in the schema registry: {0}")]
    NotFound(String),
    /// The URL names no registry kind chatpulse knows.
    #[error("schema registry URL {0:?} is not supported: use http://HOST:PORT, https://HOST:PORT or mock://NAME")]
    InvalidUrl(String),
    /// Any other failure.
    #[error("schema registry at {url}: {reason}")]
    Other {
        /// The registry URL.
        url: String,
        /// What failed.
        reason: String,
    },
}

impl RegistryError {
    /// True when retrying later may succeed (the registry is down or overloaded).
    pub fn is_retriable(&self) -> bool {
        matches!(self, RegistryError::Unreachable { .. })
    }
}

/// A Confluent-compatible schema registry.
pub trait SchemaRegistry: Send + Sync {
    /// The URL it was made from.
    fn url(&self) -> &str;
    /// Registers `schema` under `subject` (or finds it registered) and returns its id.
    fn register<'a>(&'a self, subject: &'a str, schema: &'a str) -> RegistryFuture<'a, u32>;
    /// The text of the schema with id `id`.
    fn schema_by_id(&self, id: u32) -> RegistryFuture<'_, String>;
    /// The latest version of `subject`.
    fn latest<'a>(&'a self, subject: &'a str) -> RegistryFuture<'a, SubjectVersion>;
    /// Whether `schema` may be registered under `subject` (by the subject's compatibility rule).
    fn is_compatible<'a>(&'a self, subject: &'a str, schema: &'a str) -> RegistryFuture<'a, bool>;
}

/// The registry a URL names: `http(s)://...` is a Confluent Schema Registry, `mock://NAME` an
/// in-process one shared by every user of the same NAME.
pub fn registry_for(url: &str) -> Result<Arc<dyn SchemaRegistry>, RegistryError> {
    if let Some(name) = url.strip_prefix("mock://") {
        Ok(Arc::new(MockRegistry::scoped(name)))
    } else if url.starts_with("http://") || url.starts_with("https://") {
        Ok(Arc::new(HttpRegistry::new(url)?))
    } else {
        Err(RegistryError::InvalidUrl(url.to_owned()))
    }
}

/// Exponential backoff between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

/// Registers `schema` under `subject`, retrying with `backoff` while the registry is unreachable
/// (each retry is logged with what to check) until it answers or `stopping()` says to give up.
/// `on_failure` is called for every failed attempt (a metrics counter, for instance). Other errors
/// (an incompatible schema) return at once.
pub async fn register_with_retry(
    registry: &dyn SchemaRegistry,
    subject: &str,
    schema: &str,
    backoff: Backoff,
    stopping: &(dyn Fn() -> bool + Sync),
    on_failure: &(dyn Fn() + Sync),
) -> Result<u32, RegistryError> {
    let mut wait = backoff.initial;
    let mut attempt = 1u32;
    loop {
        let result = registry.register(subject, schema).await;
        if result.is_err() {
            on_failure();
        }
        match result {
            Err(e) if e.is_retriable() && !stopping() => {
                tracing::warn!(
                    subject,
                    attempt,
                    retry_in_ms = wait.as_millis() as u64,
                    error = %e,
                    "schema registry unreachable: nothing is consumed until the schema is registered"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(backoff.max);
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_a_registry() {
        assert!(registry_for("mock://a").is_ok());
        assert!(registry_for("http://127.0.0.1:1").is_ok());
        assert!(matches!(
            registry_for("kafka://x"),
            Err(RegistryError::InvalidUrl(_))
        ));
    }

    #[tokio::test]
    async fn retries_stop_when_asked() {
        // Port 1 refuses connections; the stop flag ends the wait.
        let r = registry_for("http://127.0.0.1:1").unwrap();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let stop = || calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2;
        let backoff = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let failures = std::sync::atomic::AtomicU32::new(0);
        let failed = || {
            failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        };
        let e = register_with_retry(r.as_ref(), "s-value", "\"long\"", backoff, &stop, &failed)
            .await
            .unwrap_err();
        assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert!(e.is_retriable(), "{e}");
        assert!(e.to_string().contains("--schema-registry"), "{e}");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
