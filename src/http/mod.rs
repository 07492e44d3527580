//! The HTTP server of a long-running command: `/metrics` (Prometheus text format), `/healthz`,
//! `/readyz`, read-only interactive queries (`/partitions`, `/state/{store}/{key}`), and a command's
//! own pages and Server-Sent Event streams (the dashboard's). hyper (HTTP/1.1) on tokio: one request
//! per connection, GET and HEAD, 127.0.0.1 by default, with limits on request time, size and
//! connections ([`Limits`]) and an optional access token ([`auth`]).

pub mod auth;
mod body;
mod connections;
pub mod dashboard;
pub mod dashboard_metrics;
pub mod routes;
pub mod run_instance;
pub mod server;

pub use run_instance::RunInstance;
pub use server::{parse_metrics_addr, HttpServer, Limits};

use serde_json::Value;

use crate::topology::query::QueryAnswer;

/// The events of one Server-Sent Events response, already framed (`data: ...\n\n`); the response
/// ends when the sender is dropped.
pub type EventStream = tokio::sync::mpsc::Receiver<bytes::Bytes>;

/// What a command shows through the server besides its metrics. Every method has a default, so a
/// command without state (ingest) implements only what it has.
pub trait Observed: Send + Sync {
    /// `Ok` when ready to serve, else why not (`/readyz` answers 503 with it).
    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }

    /// The input partitions this instance owns (`/partitions`), if it has any.
    fn partitions(&self) -> Option<Value> {
        None
    }

    /// An interactive query (`/state/{store}/{key}`); `None` when this command keeps no state.
    fn query(&self, store: &str, key: &str) -> Option<QueryAnswer> {
        let _ = (store, key);
        None
    }

    /// The command's own page or view at `path` (with its query string), if it serves one there.
    fn page(&self, path: &str) -> Option<routes::Response> {
        let _ = path;
        None
    }

    /// A Server-Sent Events stream at `path` (with its query string), if the command serves one
    /// there. Called on the server's runtime, so it may spawn the task that feeds the stream.
    fn events(&self, path: &str) -> Option<EventStream> {
        let _ = path;
        None
    }
}

/// A command that keeps no state and is ready while it runs (ingest, replay): `/readyz` is 200,
/// and there are no partitions or queries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stateless;

impl Observed for Stateless {}
