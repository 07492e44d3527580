//! A chat message's IRC line rebuilt from its raw-chat columns, so that the archive stores `raw`
//! only for lines that cannot be rebuilt byte for byte. The writer ([`super::raw_chat`]) checks each
//! rebuild against the payload before leaving `raw` null; readers ([`super::backfill`]) rebuild.
//!
//! The rebuilt form (README "Archive"): `@` + the tags in their original order + ` ` (no tag section
//! when there are no tags), then `:L!L@L.tmi.twitch.tv PRIVMSG #C :T` for user login `L`, channel
//! `C` and text `T`. `tag_order` has one character per tag of the line: `.` is the next entry of the
//! `tags` map (its value escaped as IRCv3 says), and `t`, `u`, `i`, `b`, `l` are the tags kept in
//! typed columns: `tmi-sent-ts` (`event_time`), `user-id`, `id`, `bits` and `login` (`user_login`),
//! written verbatim, a null column as an empty value. A final `-` means the text is written without
//! its `:` (Twitch sends a one-word message as `PRIVMSG #C T`).

use thiserror::Error;

use crate::chat::irc::escape_into;

/// A row whose columns do not rebuild a line: the file is not one chatpulse wrote.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RebuildError {
    /// `tag_order` holds a character that names no tag.
    #[error("tag_order holds {0:?}, which names no tag (expected . t u i b l, and - last); the file was not written by chatpulse, or is damaged")]
    UnknownSlot(char),
    /// `tag_order` and the `tags` map disagree on how many map entries there are.
    #[error("tag_order names {named} entries of the tags map but the map has {present}; the file was not written by chatpulse, or is damaged")]
    TagCount {
        /// Map entries named by `tag_order`.
        named: usize,
        /// Entries in the map.
        present: usize,
    },
}

/// The typed tags, by their `tag_order` character.
pub const TYPED_SLOTS: [(char, &str); 5] = [
    ('t', "tmi-sent-ts"),
    ('u', "user-id"),
    ('i', "id"),
    ('b', "bits"),
    ('l', "login"),
];

/// The last `tag_order` character when the text follows the channel without a `:`.
pub const BARE_TEXT: char = '-';

/// The `tag_order` character of tag `key`: its typed slot, else `.` (a `tags` map entry).
pub fn slot_of(key: &str) -> char {
    TYPED_SLOTS
        .iter()
        .find(|(_, name)| *name == key)
        .map_or('.', |(c, _)| *c)
}

/// The columns a message line is rebuilt from.
#[derive(Debug, Clone, Copy)]
pub struct MessageColumns<'a> {
    /// `event_time`, written as `tmi-sent-ts`.
    pub event_time_ms: i64,
    /// `channel`.
    pub channel: &'a str,
    /// `user_login`: the prefix's nick, user and host, and the `login` tag.
    pub user_login: &'a str,
    /// `user_id`.
    pub user_id: Option<&'a str>,
    /// `message_id`, written as the `id` tag.
    pub message_id: Option<&'a str>,
    /// `bits`.
    pub bits: Option<i32>,
    /// `text`.
    pub text: &'a str,
    /// `tag_order`.
    pub tag_order: &'a str,
}

/// Writes the line of `row`, whose `tags` map entries (unescaped values, in order) are `tags`, to
/// `out` (cleared first).
pub fn rebuild_message<'t>(
    row: &MessageColumns<'_>,
    tags: impl IntoIterator<Item = (&'t str, &'t str)>,
    out: &mut String,
) -> Result<(), RebuildError> {
    out.clear();
    let (tag_order, colon) = match row.tag_order.strip_suffix(BARE_TEXT) {
        Some(order) => (order, ""),
        None => (row.tag_order, ":"),
    };
    let mut tags = tags.into_iter();
    let mut named = 0;
    for (n, slot) in tag_order.chars().enumerate() {
        out.push(if n == 0 { '@' } else { ';' });
        let (key, value) = match slot {
            '.' => {
                named += 1;
                let Some((key, value)) = tags.next() else {
                    return Err(RebuildError::TagCount {
                        named: tag_order.matches('.').count(),
                        present: named - 1,
                    });
                };
                out.push_str(key);
                out.push('=');
                escape_into(value, out);
                continue;
            }
            't' => {
                out.push_str("tmi-sent-ts=");
                out.push_str(itoa::Buffer::new().format(row.event_time_ms));
                continue;
            }
            'b' => {
                out.push_str("bits=");
                if let Some(bits) = row.bits {
                    out.push_str(itoa::Buffer::new().format(bits));
                }
                continue;
            }
            'u' => ("user-id", row.user_id.unwrap_or("")),
            'i' => ("id", row.message_id.unwrap_or("")),
            'l' => ("login", row.user_login),
            other => return Err(RebuildError::UnknownSlot(other)),
        };
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    let rest = tags.count();
    if rest > 0 {
        return Err(RebuildError::TagCount {
            named,
            present: named + rest,
        });
    }
    if !tag_order.is_empty() {
        out.push(' ');
    }
    // Pushed piece by piece: `write!` was a tenth of the archive's CPU (callgrind).
    let login = row.user_login;
    for piece in [
        ":",
        login,
        "!",
        login,
        "@",
        login,
        ".tmi.twitch.tv PRIVMSG #",
        row.channel,
        " ",
        colon,
        row.text,
    ] {
        out.push_str(piece);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(tag_order: &'a str) -> MessageColumns<'a> {
        MessageColumns {
            event_time_ms: 1_704_557_984_095,
            channel: "nymn",
            user_login: "ann",
            user_id: Some("42"),
            message_id: None,
            bits: Some(100),
            text: "cheer100 hi :)",
            tag_order,
        }
    }

    #[test]
    fn typed_tags_go_back_to_their_places_among_the_map_entries() {
        let mut out = String::new();
        let tags = [("color", "#FF0000"), ("display-name", "A b;c\\")];
        rebuild_message(&row(".u.tbi"), tags, &mut out).unwrap();
        assert_eq!(
            out,
            "@color=#FF0000;user-id=42;display-name=A\\sb\\:c\\\\;tmi-sent-ts=1704557984095;bits=100;id= \
             :ann!ann@ann.tmi.twitch.tv PRIVMSG #nymn :cheer100 hi :)"
        );
    }

    #[test]
    fn a_line_without_tags_has_no_tag_section() {
        let mut out = String::from("left over");
        rebuild_message(&row(""), [], &mut out).unwrap();
        assert_eq!(
            out,
            ":ann!ann@ann.tmi.twitch.tv PRIVMSG #nymn :cheer100 hi :)"
        );
    }

    #[test]
    fn a_final_dash_drops_the_colon_before_the_text() {
        let mut out = String::new();
        let mut one_word = row("t-");
        one_word.text = "forsenParty";
        rebuild_message(&one_word, [], &mut out).unwrap();
        assert_eq!(
            out,
            "@tmi-sent-ts=1704557984095 :ann!ann@ann.tmi.twitch.tv PRIVMSG #nymn forsenParty"
        );
        one_word.tag_order = "-";
        rebuild_message(&one_word, [], &mut out).unwrap();
        assert_eq!(out, ":ann!ann@ann.tmi.twitch.tv PRIVMSG #nymn forsenParty");
    }

    #[test]
    fn an_order_that_disagrees_with_the_map_is_an_error() {
        let mut out = String::new();
        assert_eq!(
            rebuild_message(&row(".."), [("a", "1")], &mut out),
            Err(RebuildError::TagCount {
                named: 2,
                present: 1
            })
        );
        assert_eq!(
            rebuild_message(&row("t"), [("a", "1")], &mut out),
            Err(RebuildError::TagCount {
                named: 0,
                present: 1
            })
        );
        assert_eq!(
            rebuild_message(&row("x"), [], &mut out),
            Err(RebuildError::UnknownSlot('x'))
        );
    }

    #[test]
    fn slots_name_the_typed_tags() {
        assert_eq!(slot_of("tmi-sent-ts"), 't');
        assert_eq!(slot_of("login"), 'l');
        assert_eq!(slot_of("color"), '.');
    }
}
