//! Reading one HTTP/1.1 request off a connection, for the test servers: the request line, the
//! headers (names in lower case) and a `Content-Length` body.

use std::collections::BTreeMap;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// One request as read.
pub struct HttpRequest {
    /// The request line, as sent (with its line end).
    pub line: String,
    /// The headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// The next request on `reader`, or `None` when the connection ends first.
pub async fn read_request<R: AsyncBufRead + Unpin>(reader: &mut R) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return None;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await.ok()?;
    Some(HttpRequest {
        line,
        headers,
        body,
    })
}
