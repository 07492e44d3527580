//! Fuzzes the IRC framing, the typed event parser and every importer: for any bytes nothing may
//! panic, and a few properties that hold by construction are checked on the way.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run irc_parser -- -max_total_time=660`.
//! Seed corpus: one line per file in `fuzz/corpus/irc_parser/` (see `fuzz/README.md`).

#![no_main]

use std::borrow::Cow;

use chatpulse::chat::event::EventKind;
use chatpulse::chat::import::{import, Format, ImportOptions};
use chatpulse::chat::irc::{escape_into, unescape, IrcMessage};
use chatpulse::chat::ChatEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // The whole input as one line, then each of its lines.
        check_line(text);
        if text.contains('\n') {
            for line in text.lines() {
                check_line(line);
            }
        }
    }
    for format in [
        Format::Irc,
        Format::IrcLogged,
        Format::OverRustle,
        Format::Jsonl,
        Format::Csv,
        Format::VodJson,
    ] {
        for options in [
            ImportOptions::default(),
            ImportOptions {
                channel: Some("fuzzchan".to_owned()),
                utc_offset_s: -(5 * 3600 + 1800),
            },
        ] {
            for record in import(format, options, data).take(10_000) {
                match record {
                    Ok(imported) => check_line(&imported.line),
                    Err(e) => {
                        let _ = e.to_string();
                    }
                }
            }
        }
    }
});

fn check_line(line: &str) {
    let framed = IrcMessage::parse(line);
    let event = ChatEvent::parse(line);
    match (&framed, &event) {
        (Err(_), Ok(_)) => panic!("typed parse accepted a line the framing rejected: {line:?}"),
        (Ok(msg), _) => {
            // `parse` is `IrcMessage::parse` then `from_irc`.
            assert_eq!(ChatEvent::from_irc(msg), event);
            exercise_frame(msg);
        }
        (Err(e), Err(_)) => {
            let _ = e.to_string();
        }
    }
    match event {
        Ok(event) => exercise_event(&event),
        Err(e) => {
            let _ = (e.kind(), e.detail(), e.to_string());
        }
    }
}

fn exercise_frame(msg: &IrcMessage<'_>) {
    let _ = (
        msg.command(),
        msg.prefix(),
        msg.nick(),
        msg.has_trailing(),
        msg.raw_tags(),
    );
    for (i, p) in msg.params().iter().enumerate() {
        assert_eq!(msg.param(i), Some(*p));
    }
    for (key, raw) in msg.tags() {
        let value = unescape(raw);
        // Escaping is the inverse of unescaping.
        let mut escaped = String::new();
        escape_into(&value, &mut escaped);
        assert_eq!(
            unescape(&escaped),
            value,
            "escape/unescape round trip of {raw:?}"
        );
        if matches!(value, Cow::Borrowed(_)) {
            assert_eq!(value, raw);
        }
        // The first occurrence of a key wins.
        let first = msg
            .raw_tag(key)
            .expect("a key the iterator yields is found");
        let _ = msg.tag(key);
        assert!(!first.contains(';'));
    }
}

fn exercise_event(event: &ChatEvent<'_>) {
    let _ = (
        event.kind_name(),
        event.attributed_room_id(),
        event.is_shared_copy(),
    );
    if let Some(user) = event.user() {
        let _: Vec<_> = user.badges.iter().collect();
        let _ = user.badges.get("subscriber");
    }
    if let Some(shared) = &event.shared {
        let _: Vec<_> = shared.source_badges.iter().collect();
    }
    match &event.kind {
        EventKind::Message(m) => {
            let emotes: Vec<_> = m.emotes.iter().collect();
            assert_eq!(emotes.len(), m.emotes.count());
            for e in &emotes {
                assert!(e.start <= e.end);
            }
            let _ = m.emotes.names(m.text);
            if let Some(reply) = &m.reply {
                let _ = reply.parent_body.as_deref();
            }
        }
        EventKind::UserNotice(n) => {
            let _ = n.system_msg.as_deref();
            let _: Vec<_> = n.user.badges.iter().collect();
        }
        _ => {}
    }
    let json = serde_json::to_string(event).expect("an event serialises to JSON");
    let _: serde_json::Value = serde_json::from_str(&json).expect("and the JSON parses back");
}
