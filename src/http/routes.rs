//! The routes of the operations server, pure: a request path in, a status, content type and body out.

use serde_json::json;

use super::Observed;
use crate::metrics::Metrics;

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

const JSON: &str = "application/json";
/// The Prometheus text exposition format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response {
            status,
            content_type: JSON,
            body: body.to_string(),
        }
    }
}

/// Answers `GET path`: the operations routes (query string ignored), then the command's own pages
/// ([`Observed::page`], given the query string).
pub fn route(full_path: &str, metrics: &Metrics, observed: &dyn Observed) -> Response {
    let (path, _) = split_query(full_path);
    match path {
        "/metrics" => Response {
            status: 200,
            content_type: PROMETHEUS_TEXT,
            body: metrics.render(),
        },
        "/healthz" => Response::json(200, json!({"status": "alive"})),
        "/readyz" => match observed.readiness() {
            Ok(()) => Response::json(200, json!({"status": "ready"})),
            Err(reason) => Response::json(503, json!({"status": "not ready", "reason": reason})),
        },
        "/partitions" => match observed.partitions() {
            Some(body) => Response::json(200, body),
            None => not_found(path),
        },
        _ => match path.strip_prefix("/state/").and_then(|r| r.split_once('/')) {
            Some((store, key)) if !store.is_empty() && !key.is_empty() => {
                let (store, key) = (percent_decode(store), percent_decode(key));
                match observed.query(&store, &key) {
                    Some(answer) => Response::json(answer.status(), answer.to_json(&store, &key)),
                    None => not_found(path),
                }
            }
            _ => observed.page(full_path).unwrap_or_else(|| not_found(path)),
        },
    }
}

fn not_found(path: &str) -> Response {
    Response::json(
        404,
        json!({
            "error": format!("no route {path}"),
            "routes": ["/metrics", "/healthz", "/readyz", "/partitions", "/state/{store}/{key}"],
        }),
    )
}

/// A request target's path and its query string, if any.
pub(crate) fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// The raw (still escaped) values of parameter `name` in a query string, in order.
pub(crate) fn query_values<'a>(query: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    query
        .split('&')
        .filter_map(move |kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::query::QueryAnswer;

    struct Restoring;

    impl Observed for Restoring {
        fn readiness(&self) -> Result<(), String> {
            Err("restoring 1 partition(s)".into())
        }
        fn query(&self, store: &str, key: &str) -> Option<QueryAnswer> {
            Some(QueryAnswer::NotOwned {
                partition: key.len() as i32,
                owned: vec![store.len() as i32],
                owner: None,
            })
        }
    }

    #[test]
    fn readyz_says_why_it_is_not_ready() {
        let r = route("/readyz", &Metrics::new(), &Restoring);
        assert_eq!(r.status, 503);
        assert!(r.body.contains("restoring 1 partition"), "{}", r.body);
        assert_eq!(route("/healthz", &Metrics::new(), &Restoring).status, 200);
    }

    #[test]
    fn state_queries_decode_their_path() {
        let r = route("/state/counts/a%20b?x=1", &Metrics::new(), &Restoring);
        assert_eq!(r.status, 421);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["key"], "a b");
        assert_eq!(v["partition"], 3);
        assert_eq!(v["owned_here"], json!([6]));
        assert_eq!(
            route("/state/counts", &Metrics::new(), &Restoring).status,
            404
        );
        assert_eq!(
            route("/partitions", &Metrics::new(), &Restoring).status,
            404
        );
    }

    #[test]
    fn metrics_use_the_text_format() {
        let metrics = Metrics::new();
        metrics.commits.inc();
        let r = route("/metrics", &metrics, &Restoring);
        assert_eq!(r.content_type, PROMETHEUS_TEXT);
        assert!(r.body.contains("chatpulse_commits_total 1"), "{}", r.body);
    }
}
