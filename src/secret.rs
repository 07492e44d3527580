//! A secret value (a client secret, a token, a password): its `Debug` and `Display` print `***`, so
//! a struct holding one can derive `Debug` and be logged. Only [`Secret::expose`] gives the value.

use std::fmt;

/// A string that never prints itself.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

/// What a secret prints as.
pub const REDACTED: &str = "***";

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it (an auth header, a login line).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Whether a librdkafka property holds a secret (`sasl.password`, `ssl.key.password`, `ssl.key.pem`,
/// `sasl.oauthbearer.client.secret`, `sasl.oauthbearer.config`...), so its value is never printed.
pub fn is_secret_property(key: &str) -> bool {
    const MARKS: [&str; 7] = [
        "password",
        "passphrase",
        "secret",
        "token",
        "key.pem",
        "private.key",
        "oauthbearer.config",
    ];
    let key = key.to_ascii_lowercase();
    MARKS.iter().any(|m| key.contains(m))
}

/// `KEY=VALUE` as it may be printed: the value redacted when the key names a secret property.
pub fn redact_property(key: &str, value: &str) -> String {
    if is_secret_property(key) {
        format!("{key}={REDACTED}")
    } else {
        format!("{key}={value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_prints_as_stars() {
        let s = Secret::from("hunter2".to_owned());
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_properties_are_recognised() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret_property(key), "{key}");
        }
        for key in ["security.protocol", "sasl.username", "ssl.ca.location"] {
            assert!(!is_secret_property(key), "{key}");
        }
        assert_eq!(redact_property("sasl.password", "x"), "sasl.password=***");
        assert_eq!(redact_property("acks", "all"), "acks=all");
    }
}
