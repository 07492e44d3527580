//! Twitch VOD chat replays (`{"video": {...}, "comments": [...]}`), as chat downloaders write them.
//! A comment's time is the video's `created_at` plus `content_offset_seconds` (its own `created_at` is
//! the download time); an offset of more than a year makes the comment malformed. Fragments give
//! emote positions, `user_notice_params` make subs USERNOTICEs.

use std::io::BufRead;

use serde::Deserialize;
use serde_json::Value;

use super::tagged::LineBuilder;
use super::{malformed, ImportError, ImportedLine, Records};
use crate::time::civil::parse_timestamp_ms;

#[derive(Deserialize)]
struct Replay {
    video: Option<Video>,
    comments: Vec<Value>,
}

#[derive(Deserialize)]
struct Video {
    created_at: Option<String>,
    user_login: Option<String>,
}

#[derive(Deserialize)]
struct Comment {
    content_offset_seconds: f64,
    channel_id: Option<String>,
    commenter: Commenter,
    message: Message,
    created_at: Option<String>,
    #[serde(rename = "_id")]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Commenter {
    name: String,
    display_name: Option<String>,
    #[serde(rename = "_id")]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    body: String,
    #[serde(default)]
    fragments: Vec<Fragment>,
    #[serde(default)]
    is_action: bool,
    #[serde(default)]
    user_badges: Vec<Badge>,
    #[serde(default)]
    user_notice_params: serde_json::Map<String, Value>,
    bits_spent: Option<u32>,
}

#[derive(Deserialize)]
struct Fragment {
    text: String,
    emoticon: Option<Emoticon>,
}

#[derive(Deserialize)]
struct Emoticon {
    emoticon_id: String,
}

#[derive(Deserialize)]
struct Badge {
    #[serde(rename = "_id")]
    id: String,
    version: String,
}

/// The largest offset from a video's start a comment may have, either way: a year, far beyond
/// Twitch's 48-hour limit on a broadcast, and small enough that the comment's time stays a date.
const MAX_OFFSET_S: f64 = 366.0 * 86_400.0;

/// `content_offset_seconds` in milliseconds, if it is an offset into a video at all.
fn offset_ms(seconds: f64) -> Option<i64> {
    (seconds.abs() <= MAX_OFFSET_S).then(|| (seconds * 1000.0).round() as i64)
}

pub(super) fn records<'r, R: BufRead + 'r>(reader: R) -> Records<'r> {
    let replay: Replay = match serde_json::from_reader(reader) {
        Ok(r) => r,
        Err(e) => {
            let err = malformed(
                e.line() as u64,
                format!("not a VOD chat JSON document: {e}"),
            );
            return Box::new(std::iter::once(Err(err)));
        }
    };
    let video = replay.video;
    let start = video
        .as_ref()
        .and_then(|v| v.created_at.as_deref())
        .and_then(|t| parse_timestamp_ms(t, 0));
    let channel = video
        .and_then(|v| v.user_login)
        .unwrap_or_else(|| "unknown".to_owned())
        .to_lowercase();
    Box::new(
        replay
            .comments
            .into_iter()
            .enumerate()
            .map(move |(i, value)| convert(&channel, start, i as u64 + 1, value)),
    )
}

fn convert(
    channel: &str,
    start: Option<i64>,
    position: u64,
    value: Value,
) -> Result<ImportedLine, ImportError> {
    let c: Comment =
        serde_json::from_value(value).map_err(|e| malformed(position, format!("comment: {e}")))?;
    let ts = match start {
        Some(start) => offset_ms(c.content_offset_seconds)
            .and_then(|offset| start.checked_add(offset))
            .ok_or_else(|| {
                malformed(
                    position,
                    format!(
                        "content_offset_seconds beyond a year ({MAX_OFFSET_S} s) from the video's start: {}",
                        c.content_offset_seconds
                    ),
                )
            })?,
        None => c
            .created_at
            .as_deref()
            .and_then(|t| parse_timestamp_ms(t, 0))
            .ok_or_else(|| malformed(position, "no video start and no comment time"))?,
    };
    let login = c.commenter.name.to_lowercase();
    let mut b = LineBuilder::new();
    b.tag_num("tmi-sent-ts", ts);
    if let Some(id) = &c.id {
        b.tag("id", id);
    }
    if let Some(room) = &c.channel_id {
        b.tag("room-id", room);
    }
    if let Some(uid) = &c.commenter.id {
        b.tag("user-id", uid);
    }
    if let Some(name) = &c.commenter.display_name {
        b.tag("display-name", name);
    }
    let badges: Vec<String> = c
        .message
        .user_badges
        .iter()
        .map(|b| format!("{}/{}", b.id, b.version))
        .collect();
    b.tag("badges", &badges.join(","));
    if let Some(months) = c
        .message
        .user_badges
        .iter()
        .find(|b| b.id == "subscriber")
        .map(|b| b.version.as_str())
    {
        b.tag("badge-info", &format!("subscriber/{months}"));
    }
    let text = &c.message.body;
    if let Some(msg_id) = c
        .message
        .user_notice_params
        .get("msg-id")
        .and_then(Value::as_str)
    {
        b.tag("login", &login).tag("msg-id", msg_id);
        for (key, value) in &c.message.user_notice_params {
            if key.starts_with("msg-param-") {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                b.tag(key, &value);
            }
        }
        b.tag("system-msg", text.trim_end());
        return Ok(ImportedLine {
            line: b.usernotice(channel, None),
            position,
        });
    }
    b.tag("emotes", &emotes_tag(&c.message.fragments));
    if let Some(bits) = c.message.bits_spent.filter(|b| *b > 0) {
        b.tag_num("bits", bits);
    }
    let line = if c.message.is_action {
        b.privmsg(&login, channel, &format!("\u{1}ACTION {text}\u{1}"))
    } else {
        b.privmsg(&login, channel, text)
    };
    Ok(ImportedLine { line, position })
}

/// The IRC `emotes` tag for a fragment list: `id:start-end,.../id:...`, positions in characters.
fn emotes_tag(fragments: &[Fragment]) -> String {
    let mut by_id: Vec<(&str, Vec<(usize, usize)>)> = Vec::new();
    let mut pos = 0usize;
    for f in fragments {
        let len = f.text.chars().count();
        if let (Some(e), true) = (&f.emoticon, len > 0) {
            let range = (pos, pos + len - 1);
            match by_id.iter_mut().find(|(id, _)| *id == e.emoticon_id) {
                Some((_, ranges)) => ranges.push(range),
                None => by_id.push((&e.emoticon_id, vec![range])),
            }
        }
        pos += len;
    }
    by_id
        .iter()
        .map(|(id, ranges)| {
            let r: Vec<String> = ranges.iter().map(|(s, e)| format!("{s}-{e}")).collect();
            format!("{id}:{}", r.join(","))
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::super::{import, Format, ImportOptions};
    use crate::chat::{ChatEvent, EventKind};

    #[test]
    fn comments_become_messages_with_emotes_and_offsets() {
        let doc = r#"{"video":{"created_at":"2021-07-15T01:59:24Z","user_login":"Northernlion"},
          "comments":[
           {"content_offset_seconds":2.5,"commenter":{"name":"Dunko","display_name":"Dunko","_id":"7"},
            "message":{"body":"hi <3","fragments":[{"text":"hi "},{"text":"<3","emoticon":{"emoticon_id":"555"}}]}},
           {"content_offset_seconds":3,"commenter":{}, "message":{}}
          ]}"#;
        let out: Vec<_> =
            import(Format::VodJson, ImportOptions::default(), doc.as_bytes()).collect();
        assert_eq!(out.len(), 2);
        let line = &out[0].as_ref().unwrap().line;
        let e = ChatEvent::parse(line).unwrap();
        assert_eq!(e.channel, "northernlion");
        assert_eq!(e.ts_ms, Some(1_626_314_364_000 + 2_500));
        let EventKind::Message(m) = &e.kind else {
            panic!()
        };
        assert_eq!(m.emotes.names(m.text), vec![("555", "<3")]);
        assert!(
            out[1].is_err(),
            "a comment without a commenter name is reported"
        );
    }

    #[test]
    fn an_offset_beyond_any_video_is_reported_not_overflowed() {
        let doc = r#"{"video":{"created_at":"2021-07-15T01:59:24Z","user_login":"nl"},
          "comments":[
           {"content_offset_seconds":1e19,"commenter":{"name":"a"},"message":{"body":"x"}},
           {"content_offset_seconds":-1e19,"commenter":{"name":"b"},"message":{"body":"y"}},
           {"content_offset_seconds":1.7976931348623157e308,"commenter":{"name":"c"},"message":{"body":"z"}},
           {"content_offset_seconds":7200,"commenter":{"name":"d"},"message":{"body":"ok"}}
          ]}"#;
        let out: Vec<_> =
            import(Format::VodJson, ImportOptions::default(), doc.as_bytes()).collect();
        assert_eq!(out.len(), 4);
        for bad in &out[..3] {
            let err = bad.as_ref().expect_err("an impossible offset is malformed");
            assert!(err.to_string().contains("content_offset_seconds"), "{err}");
        }
        let e = ChatEvent::parse(&out[3].as_ref().unwrap().line).unwrap();
        assert_eq!(e.ts_ms, Some(1_626_314_364_000 + 7_200_000));
    }
}
