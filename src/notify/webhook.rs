//! The generic JSON webhook: the body is the alert record itself (the fields of `avro/alert.avsc`
//! as JSON), signed with the destination's secret when it has one ([`super::signature`]).

use crate::alerts::alert::Alert;

/// The request body.
pub fn body(alert: &Alert) -> Vec<u8> {
    serde_json::to_vec(alert).expect("an alert serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::slack::tests::alert;

    #[test]
    fn the_body_is_the_alert_record() {
        let a = alert();
        let back: Alert = serde_json::from_slice(&body(&a)).unwrap();
        assert_eq!(back, a);
    }
}
