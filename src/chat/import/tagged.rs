//! Writing canonical tagged IRC lines. Every importer turns its format into the lines Twitch itself
//! would have sent (`tmi-sent-ts` carrying the original time), so one parser serves every source and
//! `replay` can put any log on `twitch.chat.raw`.

use crate::chat::irc::escape_into;

/// Builds one tagged IRC line.
#[derive(Debug, Default)]
pub struct LineBuilder {
    tags: String,
}

impl LineBuilder {
    /// A line with no tags yet.
    pub fn new() -> Self {
        LineBuilder::default()
    }

    /// Adds tag `key=value`, escaping the value; empty values are written as `key=`.
    pub fn tag(&mut self, key: &str, value: &str) -> &mut Self {
        if !self.tags.is_empty() {
            self.tags.push(';');
        }
        self.tags.push_str(key);
        self.tags.push('=');
        escape_into(value, &mut self.tags);
        self
    }

    /// Adds a numeric tag.
    pub fn tag_num(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let value = value.to_string();
        self.tag(key, &value)
    }

    fn finish(&self, prefix: &str, command: &str, channel: &str, text: Option<&str>) -> String {
        let mut out = String::with_capacity(self.tags.len() + prefix.len() + channel.len() + 64);
        if !self.tags.is_empty() {
            out.push('@');
            out.push_str(&self.tags);
            out.push(' ');
        }
        out.push(':');
        out.push_str(prefix);
        out.push(' ');
        out.push_str(command);
        out.push_str(" #");
        out.push_str(channel);
        if let Some(text) = text {
            out.push_str(" :");
            push_single_line(text, &mut out);
        }
        out
    }

    /// A PRIVMSG from `login` in `channel`.
    pub fn privmsg(&self, login: &str, channel: &str, text: &str) -> String {
        let prefix = format!("{login}!{login}@{login}.tmi.twitch.tv");
        self.finish(&prefix, "PRIVMSG", channel, Some(text))
    }

    /// A USERNOTICE in `channel`, with the user's message if any.
    pub fn usernotice(&self, channel: &str, text: Option<&str>) -> String {
        self.finish("tmi.twitch.tv", "USERNOTICE", channel, text)
    }

    /// A CLEARCHAT in `channel` for `login` (None clears the chat).
    pub fn clearchat(&self, channel: &str, login: Option<&str>) -> String {
        self.finish("tmi.twitch.tv", "CLEARCHAT", channel, login)
    }
}

/// Text inside an IRC line must stay on one line: CR and LF become spaces.
fn push_single_line(text: &str, out: &mut String) {
    for c in text.chars() {
        out.push(if c == '\r' || c == '\n' { ' ' } else { c });
    }
}

/// Puts `tmi-sent-ts=ts_ms` on a raw IRC line that lacks it (keeping any other tags).
pub fn with_sent_ts(line: &str, ts_ms: i64) -> String {
    if let Some(rest) = line.strip_prefix('@') {
        let tags_end = rest.find(' ').unwrap_or(rest.len());
        if rest[..tags_end]
            .split(';')
            .any(|t| t.starts_with("tmi-sent-ts="))
        {
            return line.to_owned();
        }
        format!("@tmi-sent-ts={ts_ms};{rest}")
    } else {
        format!("@tmi-sent-ts={ts_ms} {line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::event::{ChatEvent, EventKind};

    #[test]
    fn built_lines_parse_back() {
        let mut b = LineBuilder::new();
        b.tag("tmi-sent-ts", "1000").tag("display-name", "A b;c");
        let line = b.privmsg("ab", "chan", "hi\nthere");
        let e = ChatEvent::parse(&line).unwrap();
        assert_eq!(e.channel, "chan");
        assert_eq!(e.ts_ms, Some(1000));
        let EventKind::Message(m) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(m.text, "hi there");
        assert_eq!(m.user.display_name.as_deref(), Some("A b;c"));
    }

    #[test]
    fn adds_sent_ts_once() {
        assert_eq!(
            with_sent_ts(":a!a@a PRIVMSG #c :x", 5),
            "@tmi-sent-ts=5 :a!a@a PRIVMSG #c :x"
        );
        assert_eq!(
            with_sent_ts("@id=1 :a!a@a PRIVMSG #c :x", 5),
            "@tmi-sent-ts=5;id=1 :a!a@a PRIVMSG #c :x"
        );
        assert_eq!(
            with_sent_ts("@tmi-sent-ts=1 PING", 5),
            "@tmi-sent-ts=1 PING"
        );
    }
}
