//! The operations flags of every long-running command: where to serve `/metrics`, `/healthz`,
//! `/readyz` and the interactive queries, and how long a graceful shutdown may take.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::http::{parse_metrics_addr, HttpServer, Limits, Observed};
use crate::metrics::Metrics;

/// Operations flags (flatten into a command's `Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the HTTP server for /metrics, /healthz, /readyz, /partitions and
    /// /state/{store}/{key}; `off` disables it. Use 0.0.0.0:9464 in a container.
    #[arg(long, env = "CHATPULSE_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: String,
    /// How long a graceful shutdown (SIGTERM/SIGINT: stop consuming, flush, commit) may take before
    /// the process exits anyway, for example `30s` or `1m`. A second signal exits at once.
    #[arg(long, env = "CHATPULSE_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub shutdown_timeout: Duration,
}

pub(crate) fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::topology::spec::parse_duration_ms(s)
        .filter(|ms| *ms >= 0)
        .map(|ms| Duration::from_millis(ms as u64))
        .ok_or_else(|| format!("{s:?} is not a duration such as 500ms, 30s or 2m"))
}

impl ServeArgs {
    /// Starts the server (unless `off`) showing `metrics` and `observed`, on the command's tokio
    /// `runtime`, or on a thread of its own for a command without one.
    pub fn start(
        &self,
        runtime: Option<&tokio::runtime::Handle>,
        metrics: Arc<Metrics>,
        observed: Arc<dyn Observed>,
    ) -> Result<Option<HttpServer>> {
        let Some(addr) = parse_metrics_addr(&self.metrics_addr).map_err(|e| anyhow!(e))? else {
            return Ok(None);
        };
        match runtime {
            Some(runtime) => {
                HttpServer::start_on(runtime, addr, metrics, observed, Limits::default())
            }
            None => HttpServer::start(addr, metrics, observed),
        }
        .map(Some)
        .with_context(|| {
            format!("cannot serve metrics on {addr}: choose another --metrics-addr or `off`")
        })
    }
}
