//! JSON lines of `{ts_ms | ts, channel, user, text, kind?, bits?, months?, duration_s?}`, one event per line: the
//! simple export shape (and the `normalized.jsonl.gz` files of the shared data sets). `kind` is `msg`
//! (default), `sub`, `resub`, `timeout`, `ban`, `clearchat`, or any other USERNOTICE msg-id.

use serde::Deserialize;

use super::tagged::LineBuilder;
use super::{malformed, ImportError, ImportOptions, ImportedLine};
use crate::chat::error::ParseError;
use crate::time::civil::parse_timestamp_ms;

#[derive(Deserialize)]
struct Record {
    ts_ms: Option<i64>,
    #[serde(alias = "timestamp")]
    ts: Option<String>,
    channel: Option<String>,
    user: Option<String>,
    /// `null` for events without text (timeouts in `normalized.jsonl.gz`).
    #[serde(default)]
    text: Option<String>,
    kind: Option<String>,
    bits: Option<u32>,
    months: Option<u32>,
    /// Timeout length; also read from `extra.duration_s`, where `normalized.jsonl.gz` keeps it.
    duration_s: Option<u32>,
    #[serde(default)]
    extra: Option<Extra>,
}

#[derive(Deserialize, Default)]
struct Extra {
    duration_s: Option<u32>,
}

pub(super) fn records(
    options: ImportOptions,
    lines: impl Iterator<Item = (u64, Result<String, ParseError>)>,
) -> impl Iterator<Item = Result<ImportedLine, ImportError>> {
    lines.filter_map(move |(position, line)| match line {
        Err(error) => Some(Err(ImportError { position, error })),
        Ok(line) if line.trim().is_empty() => None,
        Ok(line) => Some(convert(&options, position, &line)),
    })
}

fn convert(
    options: &ImportOptions,
    position: u64,
    line: &str,
) -> Result<ImportedLine, ImportError> {
    let r: Record =
        serde_json::from_str(line).map_err(|e| malformed(position, format!("bad JSON: {e}")))?;
    let ts = match (r.ts_ms, r.ts.as_deref()) {
        (Some(ms), _) => ms,
        (None, Some(ts)) => parse_timestamp_ms(ts, options.utc_offset_s)
            .ok_or_else(|| malformed(position, format!("bad timestamp {ts:?}")))?,
        (None, None) => return Err(malformed(position, "no ts_ms or ts field")),
    };
    let channel = r.channel.as_deref().unwrap_or_else(|| options.channel());
    let channel = channel.trim_start_matches('#').to_lowercase();
    let user = r.user.as_deref().map(str::to_lowercase);
    let mut b = LineBuilder::new();
    b.tag_num("tmi-sent-ts", ts);
    let text = r.text.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("msg");
    let line = match kind {
        "msg" | "message" => {
            let user = user.ok_or_else(|| malformed(position, "a message needs a user"))?;
            if let Some(bits) = r.bits.filter(|b| *b > 0) {
                b.tag_num("bits", bits);
            }
            b.privmsg(&user, &channel, text)
        }
        "timeout" | "ban" => {
            if kind == "timeout" {
                // The record's own duration; 600 s (Twitch's default /timeout) only when it has none.
                let duration = r.duration_s.or(r.extra.as_ref().and_then(|e| e.duration_s));
                b.tag_num("ban-duration", duration.unwrap_or(600));
            }
            b.clearchat(&channel, user.as_deref())
        }
        "clearchat" => b.clearchat(&channel, None),
        msg_id => {
            if let Some(user) = &user {
                b.tag("login", user);
            }
            b.tag("msg-id", msg_id);
            if let Some(months) = r.months {
                b.tag_num("msg-param-cumulative-months", months);
            }
            b.tag("system-msg", text);
            b.usernotice(&channel, None)
        }
    };
    Ok(ImportedLine { line, position })
}

#[cfg(test)]
mod tests {
    use super::super::{import, Format, ImportOptions};
    use crate::chat::event::{ChatEvent, ClearChat, EventKind};

    #[test]
    fn null_text_and_timeout_durations() {
        let data = concat!(
            r#"{"ts_ms": 5, "channel": "nymn", "user": "e7om", "kind": "timeout", "text": null, "extra": {"duration_s": 180}}"#,
            "\n",
            r#"{"ts_ms": 6, "channel": "nymn", "user": "x", "kind": "timeout", "duration_s": 30}"#,
            "\n",
            r#"{"ts_ms": 7, "channel": "nymn", "user": "y", "kind": "timeout"}"#,
            "\n",
        );
        let durations: Vec<u32> = import(Format::Jsonl, ImportOptions::default(), data.as_bytes())
            .map(|r| {
                let line = r.unwrap().line;
                match ChatEvent::parse(&line).unwrap().kind {
                    EventKind::ClearChat(ClearChat::Timeout { duration_s, .. }) => duration_s,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(durations, [180, 30, 600]);
    }
}
