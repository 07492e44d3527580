//! The signature of generic webhooks: `X-Chatpulse-Signature: v1=<hex>`, the HMAC-SHA256, keyed by
//! the shared secret, of `<timestamp>.<body>`, where `<timestamp>` is the `X-Chatpulse-Timestamp`
//! header (Unix seconds when the request was sent) and `<body>` the raw request body. A receiver
//! recomputes it over the bytes it got, compares in constant time, and refuses a timestamp too far
//! from its clock (replays).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header holding the Unix time the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Chatpulse-Timestamp";
/// The header holding the signature.
pub const SIGNATURE_HEADER: &str = "X-Chatpulse-Signature";

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// Bytes as lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `X-Chatpulse-Signature` value of `body` sent at `timestamp` (Unix seconds): `v1=<hex>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex(&mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Whether `signature` (a header value) signs `body` at `timestamp` with `secret`; the comparison
/// takes the same time wherever the bytes differ.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("v1=") else {
        return false;
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex"))
        .collect();
    mac(secret, timestamp, body).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_and_the_scheme() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut m = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let expected = hex(&m.finalize().into_bytes());
        assert_eq!(
            expected,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The scheme: the same MAC over "<timestamp>.<body>".
        let body = br#"{"alert_id":"x"}"#;
        let mut m = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        m.update(b"1704556800.");
        m.update(body);
        let expected = hex(&m.finalize().into_bytes());
        assert_eq!(
            sign(b"s3cret", 1_704_556_800, body),
            format!("v1={expected}")
        );
    }

    #[test]
    fn a_signature_verifies_only_for_its_secret_time_and_body() {
        let s = sign(b"k", 100, b"body");
        assert!(verify(b"k", 100, b"body", &s));
        assert!(!verify(b"other", 100, b"body", &s));
        assert!(!verify(b"k", 101, b"body", &s));
        assert!(!verify(b"k", 100, b"bodY", &s));
        assert!(!verify(b"k", 100, b"body", &s[3..]));
        assert!(!verify(b"k", 100, b"body", "v1=zz"));
    }
}
