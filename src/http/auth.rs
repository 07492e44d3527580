//! The access token of a server bound beyond loopback (the dashboard's `--token`): a request
//! carries it as `Authorization: Bearer T`, as the password of HTTP basic auth (any user name, so a
//! browser's own login prompt works), or as `?token=T` (for a link). Probes (`/healthz`, `/readyz`)
//! need none.

use base64::Engine as _;

use super::routes::{percent_decode, query_values};
use crate::secret::Secret;

/// The paths served without the token: liveness and readiness probes.
pub const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Whether a request with this `Authorization` header and query string carries `token`.
pub fn authorized(token: &Secret, authorization: Option<&str>, query: Option<&str>) -> bool {
    let want = token.expose().as_bytes();
    if let Some(header) = authorization {
        let header = header.trim();
        if let Some(bearer) = strip_scheme(header, "bearer") {
            return same(bearer.trim().as_bytes(), want);
        }
        if let Some(basic) = strip_scheme(header, "basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
                return false;
            };
            let password = match decoded.iter().position(|b| *b == b':') {
                Some(colon) => &decoded[colon + 1..],
                None => &decoded[..],
            };
            return same(password, want);
        }
    }
    query
        .is_some_and(|q| query_values(q, "token").any(|t| same(percent_decode(t).as_bytes(), want)))
}

/// `header` without its auth scheme `scheme` (case-insensitive) and the space after it.
fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = header.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Equality in time independent of where the inputs differ (a token is a secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn the_token_is_accepted_as_bearer_basic_password_or_query() {
        let t = Secret::new("s3cret");
        assert!(authorized(&t, Some("Bearer s3cret"), None));
        assert!(authorized(&t, Some("bearer  s3cret "), None));
        assert!(authorized(&t, Some(&basic("anyone:s3cret")), None));
        assert!(authorized(&t, None, Some("channel=x&token=s3cret")));
        assert!(authorized(&t, None, Some("token=s3%63ret")));
    }

    #[test]
    fn anything_else_is_refused() {
        let t = Secret::new("s3cret");
        assert!(!authorized(&t, None, None));
        assert!(!authorized(&t, Some("Bearer s3cre"), None));
        assert!(!authorized(&t, Some("Bearer s3crett"), None));
        assert!(!authorized(&t, Some(&basic("s3cret:wrong")), None));
        assert!(!authorized(&t, Some("Basic !!!"), None));
        assert!(!authorized(&t, None, Some("token=")));
        assert!(!authorized(&t, None, Some("xtoken=s3cret")));
        // A wrong header is not rescued by the query.
        assert!(!authorized(&t, Some("Bearer no"), Some("token=s3cret")));
    }
}
