//! What `chatpulse run` shows over HTTP: the run's readiness, partitions and queries, with the
//! owner of another instance's partition filled in from the instance directory when instances
//! advertise themselves (`--advertised-url`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::Observed;
use crate::kafka::instances::InstanceDirectory;
use crate::kafka::runner::RunControl;
use crate::topology::query::QueryAnswer;

/// A running topology instance as the HTTP server sees it.
#[derive(Debug, Clone)]
pub struct RunInstance {
    /// The run.
    pub control: Arc<RunControl>,
    /// The other instances' adverts, when this instance takes part in advertising.
    pub directory: Option<Arc<InstanceDirectory>>,
}

impl Observed for RunInstance {
    fn readiness(&self) -> Result<(), String> {
        self.control.readiness()
    }

    fn partitions(&self) -> Option<Value> {
        let mut body = json!({ "partitions": self.control.owned_partitions() });
        if let Some(d) = &self.directory {
            body["instances"] = serde_json::to_value(d.adverts()).expect("adverts serialize");
        }
        Some(body)
    }

    fn query(&self, store: &str, key: &str) -> Option<QueryAnswer> {
        let answer = match self.control.query(store, key) {
            QueryAnswer::NotOwned {
                partition,
                owned,
                owner: None,
            } => QueryAnswer::NotOwned {
                partition,
                owned,
                owner: self
                    .directory
                    .as_ref()
                    .and_then(|d| d.owner_of(partition))
                    .map(|a| (a.instance_id, a.url)),
            },
            other => other,
        };
        Some(answer)
    }
}

impl Observed for RunControl {
    fn readiness(&self) -> Result<(), String> {
        RunControl::readiness(self)
    }

    fn partitions(&self) -> Option<Value> {
        Some(json!({ "partitions": self.owned_partitions() }))
    }

    fn query(&self, store: &str, key: &str) -> Option<QueryAnswer> {
        Some(RunControl::query(self, store, key))
    }
}
