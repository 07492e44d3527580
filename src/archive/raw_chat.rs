//! The raw-chat row of the bronze layer: one row per `twitch.chat.raw` record, with the typed
//! columns read by [`ChatEvent::parse`], the remaining IRC tags as a map, the raw line itself and
//! the record's Kafka position. A line that does not parse still gets a row (`kind = "unparsed"`).
//! `raw` is left null when [`line_rebuild`](super::line_rebuild) rebuilds the line byte for byte.

use std::borrow::Cow;
use std::cell::RefCell;

use bytes::Bytes;

use super::columns::{Column, ColumnBuffers, ColumnType, Schema};
use super::line_rebuild::{rebuild_message, slot_of, MessageColumns, BARE_TEXT};
use super::record::{position_columns, push_position, ArchiveRecord, RowFormat, RowKey};
use crate::chat::irc::{unescape, IrcMessage};
use crate::chat::{ChatEvent, EventKind, NoticeKind};

/// The `kind` of a line that is not valid UTF-8 or not a valid IRC line.
pub const UNPARSED: &str = "unparsed";

/// Column indexes, in schema order.
mod col {
    pub const EVENT_TIME: usize = 0;
    pub const CHANNEL: usize = 1;
    pub const USER_LOGIN: usize = 2;
    pub const USER_ID: usize = 3;
    pub const KIND: usize = 4;
    pub const TEXT: usize = 5;
    pub const MESSAGE_ID: usize = 6;
    pub const BITS: usize = 7;
    pub const SUB_MONTHS: usize = 8;
    pub const TAGS: usize = 9;
    pub const RAW: usize = 10;
    pub const RAW_BYTES: usize = 11;
    pub const TAG_ORDER: usize = 12;
    pub const KAFKA_PARTITION: usize = 13;
    #[cfg(test)]
    pub const KAFKA_OFFSET: usize = 14;
    #[cfg(test)]
    pub const KAFKA_TIMESTAMP: usize = 15;
}

/// The Parquet schema of raw chat (documented in README "Archive").
pub fn schema() -> Schema {
    use ColumnType::*;
    Schema {
        name: "raw_chat".into(),
        columns: [
            Column::required(
                "event_time",
                TimestampMillis,
                "When the line was sent: its tmi-sent-ts tag, else the Kafka record's timestamp",
            ),
            Column::optional(
                "channel",
                Utf8,
                "Channel login without '#': from the line, else the record key",
            )
            .with_dictionary(),
            Column::optional(
                "user_login",
                Utf8,
                "Sender of a message, subject of a notice, target of a ban/timeout/clearmsg",
            )
            .with_dictionary(),
            Column::optional("user_id", Utf8, "Twitch user id of user_login (user-id tag)"),
            Column::required(
                "kind",
                Utf8,
                "message, sub, resub, subgift, submysterygift, raid, announcement, ..., ban, \
                 timeout, clearchat, clearmsg, roomstate, notice, reconnect, ping, other, unparsed",
            )
            .with_dictionary(),
            Column::optional("text", Utf8, "Message text (no /me framing) or notice text"),
            Column::optional("message_id", Utf8, "Twitch's unique message id (id tag)"),
            Column::optional("bits", Int32, "Bits cheered with a message (bits tag)"),
            Column::optional(
                "sub_months",
                Int32,
                "Cumulative months of a sub/resub, else the sender's subscriber badge months",
            ),
            Column::optional(
                "tags",
                StringMap,
                "Every other IRCv3 tag, unescaped (tmi-sent-ts, user-id, id, bits, login are columns)",
            )
            .with_dictionary(),
            Column::optional(
                "raw",
                Utf8,
                "The record's payload, the IRC line as received; null when it is not UTF-8 \
                 (raw_bytes) or when the columns rebuild it byte for byte (tag_order)",
            ),
            Column::optional(
                "raw_bytes",
                Binary,
                "The payload when it is not valid UTF-8 (raw is then null)",
            ),
            Column::optional(
                "tag_order",
                Utf8,
                "Set when raw is null because the line is a message rebuilt from the columns: \
                 one character per tag, '.' the next tags entry, t/u/i/b/l the typed \
                 tmi-sent-ts/user-id/id/bits/login (README \"Archive\")",
            )
            .with_dictionary(),
        ]
        .into_iter()
        .chain(position_columns())
        .collect(),
    }
}

/// The sub-slice `s` of `line` (whose text `s` borrows) as a view into `bytes`, without a copy.
fn slice(bytes: &Bytes, line: &str, s: &str) -> Bytes {
    let base = line.as_ptr() as usize;
    let start = s.as_ptr() as usize;
    if s.is_empty() || start < base || start + s.len() > base + line.len() {
        return Bytes::copy_from_slice(s.as_bytes());
    }
    bytes.slice(start - base..start - base + s.len())
}

fn text_of<'a>(event: &ChatEvent<'a>) -> Option<&'a str> {
    match &event.kind {
        EventKind::Message(m) => Some(m.text),
        EventKind::UserNotice(n) => n.text,
        EventKind::Notice(n) => Some(n.text),
        EventKind::ClearMsg(m) => m.text,
        _ => None,
    }
}

fn user_of<'a>(event: &ChatEvent<'a>) -> (Option<&'a str>, Option<&'a str>) {
    use crate::chat::event::ClearChat;
    match &event.kind {
        EventKind::Message(m) => (Some(m.user.login), m.user.id),
        EventKind::UserNotice(n) => (Some(n.user.login), n.user.id),
        EventKind::ClearChat(ClearChat::Ban { login, user_id })
        | EventKind::ClearChat(ClearChat::Timeout { login, user_id, .. }) => {
            (Some(*login), *user_id)
        }
        EventKind::ClearMsg(m) => (m.login, None),
        _ => (None, None),
    }
}

fn sub_months_of(event: &ChatEvent<'_>) -> Option<u32> {
    match &event.kind {
        EventKind::UserNotice(n) => match &n.notice {
            NoticeKind::Sub(s) | NoticeKind::Resub(s) => s.cumulative_months,
            _ => n.user.sub_months,
        },
        EventKind::Message(m) => m.user.sub_months,
        _ => None,
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Raw chat as a [`RowFormat`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawChat;

impl RowFormat for RawChat {
    fn schema(&self) -> Schema {
        schema()
    }

    fn append(&self, record: &ArchiveRecord, out: &mut ColumnBuffers) -> RowKey {
        append_row(record, out)
    }
}

/// Appends the row of `record` to `out` (buffers of [`schema`]) and returns its [`RowKey`].
pub fn append_row(record: &ArchiveRecord, out: &mut ColumnBuffers) -> RowKey {
    let key_channel = record
        .key
        .as_ref()
        .filter(|k| !k.is_empty() && std::str::from_utf8(k).is_ok());
    let fallback_time = record.timestamp_ms.unwrap_or(0);
    let Ok(line) = simdutf8::basic::from_utf8(&record.payload) else {
        // Not text: keep the bytes, and the record's key and time.
        return append_unparsed(record, out, None, key_channel, fallback_time);
    };
    let Ok(msg) = IrcMessage::parse(line) else {
        return append_unparsed(record, out, Some(line), key_channel, fallback_time);
    };
    let Ok(event) = ChatEvent::from_irc(&msg) else {
        return append_unparsed(record, out, Some(line), key_channel, fallback_time);
    };
    let p = &record.payload;
    let event_time = event.ts_ms.unwrap_or(fallback_time);
    let channel = match non_empty(Some(event.channel)) {
        Some(c) => Some(slice(p, line, c)),
        None => key_channel.cloned(),
    };
    let (login, user_id) = user_of(&event);
    let bits = match &event.kind {
        EventKind::Message(m) if m.bits > 0 => Some(m.bits as i32),
        _ => None,
    };
    out.push_i64(col::EVENT_TIME, true, Some(event_time));
    out.push_bytes(col::CHANNEL, false, channel.clone());
    out.push_bytes(
        col::USER_LOGIN,
        false,
        non_empty(login).map(|s| slice(p, line, s)),
    );
    out.push_bytes(
        col::USER_ID,
        false,
        non_empty(user_id).map(|s| slice(p, line, s)),
    );
    out.push_bytes(
        col::KIND,
        true,
        Some(Bytes::copy_from_slice(event.kind_name().as_bytes())),
    );
    out.push_bytes(col::TEXT, false, text_of(&event).map(|s| slice(p, line, s)));
    out.push_bytes(
        col::MESSAGE_ID,
        false,
        non_empty(event.id).map(|s| slice(p, line, s)),
    );
    out.push_i32(col::BITS, false, bits);
    out.push_i32(
        col::SUB_MONTHS,
        false,
        sub_months_of(&event).map(|m| m as i32),
    );
    let stored_login = non_empty(login);
    let stored_user_id = non_empty(user_id);
    let stored_id = non_empty(event.id);
    let tag_order = SCRATCH.with(|scratch| {
        let scratch = &mut *scratch.borrow_mut();
        scratch.order.clear();
        let mut tags = Vec::new();
        for (k, v) in msg.tags() {
            let slot = slot_of(k);
            scratch.order.push(slot);
            if slot == '.' {
                tags.push((k, unescape(v)));
            }
        }
        let rebuildable = match (&event.kind, stored_login) {
            (EventKind::Message(m), Some(user_login))
                if !m.is_action && !event.channel.is_empty() =>
            {
                let colon = line.len().checked_sub(m.text.len() + 1);
                if colon.map(|i| line.as_bytes()[i]) != Some(b':') {
                    scratch.order.push(BARE_TEXT);
                }
                let columns = MessageColumns {
                    event_time_ms: event_time,
                    channel: event.channel,
                    user_login,
                    user_id: stored_user_id,
                    message_id: stored_id,
                    bits,
                    text: m.text,
                    tag_order: &scratch.order,
                };
                let entries = tags.iter().map(|(k, v)| (*k, v.as_ref()));
                rebuild_message(&columns, entries, &mut scratch.line).is_ok()
                    && scratch.line == line
            }
            _ => false,
        };
        out.push_map(
            col::TAGS,
            false,
            Some(tags.into_iter().map(|(k, v)| {
                let value = match v {
                    Cow::Borrowed(b) => slice(p, line, b),
                    Cow::Owned(o) => Bytes::from(o),
                };
                (slice(p, line, k), value)
            })),
        );
        rebuildable.then(|| Bytes::copy_from_slice(scratch.order.as_bytes()))
    });
    // `raw` is stored exactly when `tag_order` cannot rebuild the line.
    out.push_bytes(col::RAW, false, tag_order.is_none().then(|| p.clone()));
    out.push_bytes(col::RAW_BYTES, false, None);
    out.push_bytes(col::TAG_ORDER, false, tag_order);
    push_position(record, out, col::KAFKA_PARTITION);
    RowKey {
        event_time_ms: event_time,
        channel: channel.map(|c| String::from_utf8_lossy(&c).into_owned()),
    }
}

/// Buffers reused by [`append_row`] for a row's tag order and its rebuilt line.
#[derive(Default)]
struct Scratch {
    order: String,
    line: String,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn append_unparsed(
    record: &ArchiveRecord,
    out: &mut ColumnBuffers,
    line: Option<&str>,
    key_channel: Option<&Bytes>,
    event_time: i64,
) -> RowKey {
    out.push_i64(col::EVENT_TIME, true, Some(event_time));
    out.push_bytes(col::CHANNEL, false, key_channel.cloned());
    out.push_bytes(col::USER_LOGIN, false, None);
    out.push_bytes(col::USER_ID, false, None);
    out.push_bytes(
        col::KIND,
        true,
        Some(Bytes::from_static(UNPARSED.as_bytes())),
    );
    out.push_bytes(col::TEXT, false, None);
    out.push_bytes(col::MESSAGE_ID, false, None);
    out.push_i32(col::BITS, false, None);
    out.push_i32(col::SUB_MONTHS, false, None);
    out.push_map(col::TAGS, false, None::<Vec<(Bytes, Bytes)>>);
    let (raw, raw_bytes) = match line {
        Some(_) => (Some(record.payload.clone()), None),
        None => (None, Some(record.payload.clone())),
    };
    out.push_bytes(col::RAW, false, raw);
    out.push_bytes(col::RAW_BYTES, false, raw_bytes);
    out.push_bytes(col::TAG_ORDER, false, None);
    push_position(record, out, col::KAFKA_PARTITION);
    RowKey {
        event_time_ms: event_time,
        channel: key_channel.map(|c| String::from_utf8_lossy(c).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::columns::ColumnData;

    fn record(line: &[u8], offset: i64) -> ArchiveRecord {
        ArchiveRecord {
            payload: Bytes::copy_from_slice(line),
            key: Some(Bytes::from_static(b"keychan")),
            timestamp_ms: Some(1_000),
            partition: 3,
            offset,
        }
    }

    fn text(b: &ColumnBuffers, col: usize) -> Vec<Option<String>> {
        let ColumnData::Bytes { values, defs } = &b.columns()[col] else {
            panic!()
        };
        let mut it = values.iter();
        let take = |it: &mut std::slice::Iter<'_, parquet::data_type::ByteArray>| {
            it.next()
                .map(|v| String::from_utf8(v.data().to_vec()).unwrap())
        };
        if defs.is_empty() {
            return (0..values.len()).map(|_| take(&mut it)).collect();
        }
        defs.iter()
            .map(|d| if *d == 1 { take(&mut it) } else { None })
            .collect()
    }

    fn ints(b: &ColumnBuffers, col: usize) -> Vec<i64> {
        match &b.columns()[col] {
            ColumnData::Int64 { values, .. } => values.clone(),
            ColumnData::Int32 { values, .. } => values.iter().map(|v| i64::from(*v)).collect(),
            _ => panic!(),
        }
    }

    const PRIVMSG: &str = "@badge-info=subscriber/14;badges=subscriber/12;bits=100;color=#FF0000;\
display-name=Ann;id=abc-1;room-id=99;tmi-sent-ts=1704557984095;user-id=42 \
:ann!ann@ann.tmi.twitch.tv PRIVMSG #nymn :cheer100 hello\\sworld";

    #[test]
    fn a_message_gets_its_typed_columns_and_the_rest_of_its_tags() {
        let mut b = schema().buffers();
        let key = append_row(&record(PRIVMSG.as_bytes(), 7), &mut b);
        assert_eq!(
            key,
            RowKey {
                event_time_ms: 1_704_557_984_095,
                channel: Some("nymn".into())
            }
        );
        assert_eq!(ints(&b, col::EVENT_TIME), [1_704_557_984_095]);
        assert_eq!(text(&b, col::CHANNEL), [Some("nymn".into())]);
        assert_eq!(text(&b, col::USER_LOGIN), [Some("ann".into())]);
        assert_eq!(text(&b, col::USER_ID), [Some("42".into())]);
        assert_eq!(text(&b, col::KIND), [Some("message".into())]);
        assert_eq!(text(&b, col::TEXT), [Some("cheer100 hello\\sworld".into())]);
        assert_eq!(text(&b, col::MESSAGE_ID), [Some("abc-1".into())]);
        assert_eq!(ints(&b, col::BITS), [100]);
        assert_eq!(ints(&b, col::SUB_MONTHS), [14]);
        // Rebuilt from the columns, so not stored.
        assert_eq!(text(&b, col::RAW), [None]);
        assert_eq!(text(&b, col::RAW_BYTES), [None]);
        assert_eq!(text(&b, col::TAG_ORDER), [Some("..b..i.tu".into())]);
        assert_eq!(ints(&b, col::KAFKA_PARTITION), [3]);
        assert_eq!(ints(&b, col::KAFKA_OFFSET), [7]);
        assert_eq!(ints(&b, col::KAFKA_TIMESTAMP), [1_000]);
        let ColumnData::Map { keys, values, .. } = &b.columns()[col::TAGS] else {
            panic!()
        };
        let keys: Vec<_> = keys
            .iter()
            .map(|k| std::str::from_utf8(k.data()).unwrap())
            .collect();
        assert_eq!(
            keys,
            ["badge-info", "badges", "color", "display-name", "room-id"]
        );
        assert_eq!(values[3].data(), b"Ann");
    }

    #[test]
    fn raw_is_kept_for_a_message_the_columns_do_not_rebuild() {
        let kept = [
            // An escape IRCv3 does not define (`\a` reads as `a`).
            PRIVMSG.replace("color=#FF0000", "color=\\a"),
            // A `/me` message: `text` has no ACTION framing.
            PRIVMSG.replace(":cheer100 hello\\sworld", ":\u{1}ACTION waves\u{1}"),
            // A tag without `=`.
            PRIVMSG.replace("color=#FF0000", "color"),
            // Another prefix, a trailing CRLF, a notice.
            PRIVMSG.replace(":ann!ann@ann.tmi.twitch.tv", ":ann!x@ann.tmi.twitch.tv"),
            format!("{PRIVMSG}\r\n"),
            "@login=bob;msg-id=raid;tmi-sent-ts=5 :tmi.twitch.tv USERNOTICE #nymn".into(),
        ];
        let mut b = schema().buffers();
        for (n, line) in kept.iter().enumerate() {
            append_row(&record(line.as_bytes(), n as i64), &mut b);
        }
        let raw = text(&b, col::RAW);
        for (line, raw) in kept.iter().zip(&raw) {
            assert_eq!(raw.as_deref(), Some(line.as_str()));
        }
        assert_eq!(text(&b, col::TAG_ORDER), vec![None; kept.len()]);
    }

    #[test]
    fn real_tagged_messages_are_rebuilt_so_raw_is_left_out() {
        let sample = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/sample/nymn-2024-01-06.irc.txt"
        ))
        .unwrap();
        let lines: Vec<&str> = sample.lines().collect();
        let mut b = schema().buffers();
        for (n, line) in lines.iter().enumerate() {
            append_row(&record(line.as_bytes(), n as i64), &mut b);
        }
        // 800 lines: 798 PRIVMSG, 5 of them `/me`, 2 other commands.
        let kept = text(&b, col::RAW).iter().filter(|r| r.is_some()).count();
        let actions = lines.iter().filter(|l| l.contains("ACTION")).count();
        let not_messages = lines.iter().filter(|l| !l.contains(" PRIVMSG ")).count();
        assert_eq!(kept, actions + not_messages, "{kept} raw lines kept");
    }

    #[test]
    fn tag_values_are_unescaped_and_sub_months_come_from_the_notice() {
        let line = "@badge-info=subscriber/3;login=bob;msg-id=resub;msg-param-cumulative-months=7;\
system-msg=bob\\ssubscribed;tmi-sent-ts=5;user-id=8 :tmi.twitch.tv USERNOTICE #nymn :hi";
        let mut b = schema().buffers();
        append_row(&record(line.as_bytes(), 0), &mut b);
        assert_eq!(text(&b, col::KIND), [Some("resub".into())]);
        assert_eq!(text(&b, col::USER_LOGIN), [Some("bob".into())]);
        assert_eq!(ints(&b, col::SUB_MONTHS), [7]);
        let ColumnData::Map { keys, values, .. } = &b.columns()[col::TAGS] else {
            panic!()
        };
        let i = keys.iter().position(|k| k.data() == b"system-msg").unwrap();
        assert_eq!(values[i].data(), b"bob subscribed");
    }

    #[test]
    fn lines_that_do_not_parse_keep_their_bytes_key_and_record_time() {
        let mut b = schema().buffers();
        let k1 = append_row(&record(b"@tags-but-no-command", 1), &mut b);
        let k2 = append_row(&record(b"\xff\xfe", 2), &mut b);
        let mut no_key = record(b"", 3);
        no_key.key = None;
        no_key.timestamp_ms = None;
        let k3 = append_row(&no_key, &mut b);
        assert_eq!(b.rows(), 3);
        assert_eq!(k1.channel.as_deref(), Some("keychan"));
        assert_eq!(k2.event_time_ms, 1_000);
        assert_eq!(k3.event_time_ms, 0);
        assert_eq!(k3.channel, None);
        assert_eq!(text(&b, col::KIND), vec![Some(UNPARSED.to_owned()); 3]);
        assert_eq!(
            text(&b, col::RAW),
            [
                Some("@tags-but-no-command".into()),
                None,
                Some(String::new())
            ]
        );
        let ColumnData::Bytes { values, .. } = &b.columns()[col::RAW_BYTES] else {
            panic!()
        };
        assert_eq!(values[0].data(), b"\xff\xfe");
    }

    #[test]
    fn a_line_without_tags_takes_the_record_time_and_key_only_when_it_has_no_channel() {
        let mut b = schema().buffers();
        let k = append_row(&record(b":a!a@a PRIVMSG #chan :x", 0), &mut b);
        assert_eq!(
            k,
            RowKey {
                event_time_ms: 1_000,
                channel: Some("chan".into())
            }
        );
        let k = append_row(&record(b"PING :tmi.twitch.tv", 1), &mut b);
        assert_eq!(k.channel.as_deref(), Some("keychan"));
        assert_eq!(text(&b, col::KIND)[1].as_deref(), Some("ping"));
    }
}
