//! A destination of `chatpulse notify` (a Slack incoming webhook, a Discord webhook, a generic JSON
//! webhook) and the request it gets for an alert. Its URL is a [`Secret`] (a webhook URL is its
//! own credential): it prints as `***` and only [`Request::url`] exposes it, to the HTTP client.

use super::signature::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use super::{discord, slack, webhook};
use crate::alerts::alert::Alert;
use crate::secret::Secret;

/// The idempotency header every request carries: the alert's `alert_id`, the same on every
/// attempt and every redelivery.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The same id under chatpulse's own name.
pub const ALERT_ID_HEADER: &str = "X-Chatpulse-Alert-Id";

/// The kinds of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Slack incoming webhook (Block Kit).
    Slack,
    /// A Discord webhook (embeds).
    Discord,
    /// A generic JSON webhook (the alert record, signed when a secret is set).
    Webhook,
}

impl Kind {
    /// Its name, in logs and dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Discord => "discord",
            Kind::Webhook => "webhook",
        }
    }
}

/// One destination.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Its kind.
    pub kind: Kind,
    /// Its URL (secret).
    pub url: Secret,
    /// The signing secret of a generic webhook.
    pub signing_secret: Option<Secret>,
}

/// One HTTP POST.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where to (secret).
    pub url: Secret,
    /// Its headers.
    pub headers: Vec<(&'static str, String)>,
    /// Its JSON body.
    pub body: Vec<u8>,
}

impl Destination {
    /// The request for `alert`, signed (generic webhooks with a secret) at `now_s`, Unix seconds.
    pub fn request(&self, alert: &Alert, now_s: i64) -> Request {
        let body = match self.kind {
            Kind::Slack => serde_json::to_vec(&slack::message(alert)).expect("JSON"),
            Kind::Discord => serde_json::to_vec(&discord::message(alert)).expect("JSON"),
            Kind::Webhook => webhook::body(alert),
        };
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            (IDEMPOTENCY_HEADER, alert.alert_id.clone()),
            (ALERT_ID_HEADER, alert.alert_id.clone()),
        ];
        if let (Kind::Webhook, Some(secret)) = (self.kind, &self.signing_secret) {
            headers.push((TIMESTAMP_HEADER, now_s.to_string()));
            headers.push((
                SIGNATURE_HEADER,
                sign(secret.expose().as_bytes(), now_s, &body),
            ));
        }
        Request {
            url: self.url.clone(),
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::signature::verify;
    use crate::notify::slack::tests::alert;

    #[test]
    fn requests_carry_the_id_and_a_verifiable_signature_and_hide_the_url() {
        let d = Destination {
            kind: Kind::Webhook,
            url: Secret::new("https://hooks.example/T0/B0/XXXX"),
            signing_secret: Some(Secret::new("s3cret")),
        };
        let r = d.request(&alert(), 1_704_556_800);
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            header(IDEMPOTENCY_HEADER),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(header(TIMESTAMP_HEADER), Some("1704556800"));
        assert!(verify(
            b"s3cret",
            1_704_556_800,
            &r.body,
            header(SIGNATURE_HEADER).unwrap()
        ));
        let printed = format!("{d:?} {r:?}");
        assert!(
            !printed.contains("hooks.example") && !printed.contains("s3cret"),
            "{printed}"
        );
        let slack = Destination {
            kind: Kind::Slack,
            ..d.clone()
        }
        .request(&alert(), 0);
        assert!(slack.headers.iter().all(|(k, _)| *k != SIGNATURE_HEADER));
        let v: serde_json::Value = serde_json::from_slice(&slack.body).unwrap();
        assert!(v["blocks"].is_array());
    }
}
