//! The operations HTTP server of a long-running command: `/metrics` (Prometheus text format),
//! `/healthz`, `/readyz`, and read-only interactive queries (`/partitions`, `/state/{store}/{key}`).
//! hyper (HTTP/1.1) on tokio: one request per connection, GET and HEAD, 127.0.0.1 by default, with
//! limits on request time, size and connections ([`Limits`]).

mod connections;
pub mod routes;
pub mod run_instance;
pub mod server;

pub use run_instance::RunInstance;
pub use server::{parse_metrics_addr, HttpServer, Limits};

use serde_json::Value;

use crate::topology::query::QueryAnswer;

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
}

/// A command that keeps no state and is ready while it runs (ingest, replay): `/readyz` is 200,
/// and there are no partitions or queries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stateless;

impl Observed for Stateless {}
