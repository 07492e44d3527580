//! IRCv3 framing: one line of Twitch chat split into tags, prefix, command and parameters.
//! Nothing is copied: every part borrows from the line, and tag values are unescaped on demand
//! (`\s`, `\:`, `\\`, `\r`, `\n`), so the typed layer in [`crate::chat::event`] pays only for what it reads.

use std::borrow::Cow;

use crate::chat::error::{ParseError, ParseErrorKind};

/// IRC allows at most 15 parameters; Twitch never sends more than 3.
const MAX_PARAMS: usize = 15;

/// `s` without its leading spaces.
fn skip_spaces(s: &str) -> &str {
    let n = s.bytes().take_while(|b| *b == b' ').count();
    &s[n..]
}

/// The length of the word `s` starts with (up to the first space): a short scan, for commands and
/// middle parameters (a channel), where calling `memchr` costs more than it saves.
fn word_end(s: &str) -> usize {
    s.bytes().position(|b| b == b' ').unwrap_or(s.len())
}

/// One IRC line, split but not interpreted. The parameters are split when read (a chat message
/// reads two), so a parsed line is a few borrowed slices.
#[derive(Debug, Clone)]
pub struct IrcMessage<'a> {
    tags: &'a str,
    prefix: Option<&'a str>,
    command: &'a str,
    /// Everything after the command.
    params: &'a str,
}

/// The parameters of a line in order, each with whether it is the trailing one (written after
/// ` :`, or the 15th, which takes the rest of the line).
#[derive(Debug, Clone)]
struct Params<'a> {
    rest: &'a str,
    read: usize,
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a str, bool);

    fn next(&mut self) -> Option<(&'a str, bool)> {
        let rest = skip_spaces(self.rest);
        if rest.is_empty() {
            self.rest = rest;
            return None;
        }
        self.read += 1;
        if self.read == MAX_PARAMS || rest.starts_with(':') {
            self.rest = "";
            return Some((rest.strip_prefix(':').unwrap_or(rest), true));
        }
        let end = word_end(rest);
        self.rest = &rest[end..];
        Some((&rest[..end], false))
    }
}

impl<'a> IrcMessage<'a> {
    /// Splits one line (without or with its trailing `\r\n`).
    pub fn parse(line: &'a str) -> Result<Self, ParseError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let mut rest = skip_spaces(line);
        if rest.is_empty() {
            return Err(ParseError::new(ParseErrorKind::EmptyLine));
        }
        let mut tags = "";
        if let Some(after) = rest.strip_prefix('@') {
            let end = memchr::memchr(b' ', after.as_bytes())
                .ok_or_else(|| ParseError::new(ParseErrorKind::TagsWithoutCommand))?;
            tags = &after[..end];
            rest = skip_spaces(&after[end..]);
        }
        let mut prefix = None;
        if let Some(after) = rest.strip_prefix(':') {
            let end = memchr::memchr(b' ', after.as_bytes())
                .ok_or_else(|| ParseError::new(ParseErrorKind::PrefixWithoutCommand))?;
            prefix = Some(&after[..end]);
            rest = skip_spaces(&after[end..]);
        }
        let end = word_end(rest);
        let command = &rest[..end];
        if command.is_empty() {
            return Err(ParseError::new(ParseErrorKind::MissingCommand));
        }
        if !command.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError::with_detail(
                ParseErrorKind::InvalidCommand,
                command,
            ));
        }
        Ok(IrcMessage {
            tags,
            prefix,
            command,
            params: &rest[end..],
        })
    }

    fn split_params(&self) -> Params<'a> {
        Params {
            rest: self.params,
            read: 0,
        }
    }

    /// The command (`PRIVMSG`, `USERNOTICE`, `001`, ...).
    pub fn command(&self) -> &'a str {
        self.command
    }

    /// The prefix without its leading `:` (`nick!user@host` or a server name).
    pub fn prefix(&self) -> Option<&'a str> {
        self.prefix
    }

    /// The nick of a `nick!user@host` prefix.
    pub fn nick(&self) -> Option<&'a str> {
        let prefix = self.prefix?;
        let end = memchr::memchr(b'!', prefix.as_bytes())?;
        Some(&prefix[..end])
    }

    /// All parameters; the trailing one (after ` :`, or the last word) is last.
    pub fn params(&self) -> Vec<&'a str> {
        self.split_params().map(|(p, _)| p).collect()
    }

    /// Parameters 0 and 1 (a chat line's channel and text), split in one pass.
    pub fn first_params(&self) -> (Option<&'a str>, Option<&'a str>) {
        let mut params = self.split_params();
        let first = params.next().map(|(p, _)| p);
        (first, params.next().map(|(p, _)| p))
    }

    /// Parameter `i`, if present.
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.split_params().nth(i).map(|(p, _)| p)
    }

    /// True when the last parameter was written with a leading `:` (or is the 15th).
    pub fn has_trailing(&self) -> bool {
        self.split_params()
            .last()
            .is_some_and(|(_, trailing)| trailing)
    }

    /// The raw tag section, without the leading `@`.
    pub fn raw_tags(&self) -> &'a str {
        self.tags
    }

    /// Iterates tags as `(key, raw value)`; unescape values with [`unescape`].
    pub fn tags(&self) -> Tags<'a> {
        Tags { rest: self.tags }
    }

    /// The first value of tag `key`, still escaped.
    pub fn raw_tag(&self, key: &str) -> Option<&'a str> {
        self.tags().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The first value of tag `key`, unescaped.
    pub fn tag(&self, key: &str) -> Option<Cow<'a, str>> {
        self.raw_tag(key).map(unescape)
    }
}

/// Iterator over `key=value` pairs of an IRCv3 tag section.
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // One forward pass per pair: the key runs to the first `=` or `;`, the value to the next
        // `;`. Values are mostly short, where a call to `memchr` per delimiter costs more than
        // the scan itself, so both are scanned eight bytes at a time in place.
        loop {
            let rest = self.rest;
            let bytes = rest.as_bytes();
            match bytes.first() {
                None => return None,
                Some(b';') => {
                    // An empty pair.
                    self.rest = &rest[1..];
                    continue;
                }
                Some(_) => {}
            }
            let mut i = find_byte(bytes, 0, b'=', b';');
            let key = &rest[..i];
            let value = if i < bytes.len() && bytes[i] == b'=' {
                let start = i + 1;
                i = find_byte(bytes, start, b';', b';');
                &rest[start..i]
            } else {
                ""
            };
            // `i` is at the `;` ending the pair, or at the end.
            self.rest = if i < bytes.len() { &rest[i + 1..] } else { "" };
            return Some((key, value));
        }
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The position of the first byte of `bytes[from..]` equal to `a` or `b`, or `bytes.len()`.
/// Word at a time (SWAR): in `(x - 0x01..) & !x & 0x80..` the lowest set bit marks the first zero
/// byte of `x` exactly (borrows only make false marks above it).
#[inline(always)]
fn find_byte(bytes: &[u8], from: usize, a: u8, b: u8) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let xa = word ^ (LOW_BITS * u64::from(a));
        let xb = word ^ (LOW_BITS * u64::from(b));
        let found = (xa.wrapping_sub(LOW_BITS) & !xa & HIGH_BITS)
            | (xb.wrapping_sub(LOW_BITS) & !xb & HIGH_BITS);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] != a && bytes[i] != b {
        i += 1;
    }
    i
}

/// Unescapes an IRCv3 tag value: `\s` space, `\:` semicolon, `\\` backslash, `\r`, `\n`;
/// any other escaped character stands for itself and a lone trailing backslash is dropped.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    let Some(first) = memchr::memchr(b'\\', raw.as_bytes()) else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut chars = raw[first..].chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some(':') => out.push(';'),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Escapes a value for use in an IRCv3 tag (the inverse of [`unescape`]).
pub fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ' ' => out.push_str("\\s"),
            ';' => out.push_str("\\:"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_prefix_command_and_trailing() {
        let m = IrcMessage::parse(
            "@a=1;b=x\\sy :nick!nick@nick.tmi.twitch.tv PRIVMSG #chan :hello there\r\n",
        )
        .unwrap();
        assert_eq!(m.command(), "PRIVMSG");
        assert_eq!(m.nick(), Some("nick"));
        assert_eq!(m.params(), &["#chan", "hello there"]);
        assert!(m.has_trailing());
        assert_eq!(m.tag("b").as_deref(), Some("x y"));
        assert_eq!(m.raw_tag("a"), Some("1"));
        assert_eq!(m.tag("missing"), None);
    }

    #[test]
    fn trailing_parameter_without_colon_is_the_last_word() {
        let m = IrcMessage::parse(":n!n@n PRIVMSG #chan word").unwrap();
        assert_eq!(m.params(), &["#chan", "word"]);
        assert!(!m.has_trailing());
    }

    #[test]
    fn trailing_parameter_may_be_empty_or_start_with_colon() {
        let m = IrcMessage::parse(":n!n@n PRIVMSG #chan :").unwrap();
        assert_eq!(m.params(), &["#chan", ""]);
        let m = IrcMessage::parse(":n!n@n PRIVMSG #chan ::D").unwrap();
        assert_eq!(m.params(), &["#chan", ":D"]);
    }

    #[test]
    fn unescapes_every_sequence() {
        assert_eq!(unescape(r"a\sb\:c\\d\re\nf"), "a b;c\\d\re\nf");
        assert_eq!(unescape(r"x\qy\"), "xqy");
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        let mut s = String::new();
        escape_into("a b;c\\d\re\nf", &mut s);
        assert_eq!(unescape(&s), "a b;c\\d\re\nf");
    }

    #[test]
    fn tags_without_value_and_empty_pairs() {
        let m = IrcMessage::parse("@a;;b= PING").unwrap();
        let tags: Vec<_> = m.tags().collect();
        assert_eq!(tags, vec![("a", ""), ("b", "")]);
    }

    #[test]
    fn tag_scan_matches_split_on_semicolon_then_equals() {
        // The word-at-a-time scan must give what the plain definition gives: split on `;`,
        // skip empty pairs, split each pair at its first `=`.
        fn reference(section: &str) -> Vec<(&str, &str)> {
            section
                .split(';')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .collect()
        }
        let sections = [
            "",
            ";",
            ";;;",
            "=",
            "=;=",
            "a",
            "a=",
            "=x",
            "a=b=c;d",
            "key-longer-than-eight=value-longer-than-eight;k=v",
            "abcdefg=;abcdefgh=12345678;abcdefghi=123456789;;x",
            "emotes=25:0-4,12-16/1902:6-10;badges=subscriber/36,twitch-recap-2023/1;",
            "display-name=테스트계정420;système=é;ключ=значение;emoji=😀😀😀;",
            "a\\:b=c\\sd;e=\\:;f",
        ];
        for section in sections {
            let line = format!("@{section} PING");
            let got: Vec<_> = if section.is_empty() {
                Vec::new()
            } else {
                IrcMessage::parse(&line).unwrap().tags().collect()
            };
            assert_eq!(got, reference(section), "{section:?}");
            // Every split point, so each chunk boundary and tail length is crossed.
            for cut in (0..=section.len()).filter(|&i| section.is_char_boundary(i)) {
                let part = &section[..cut];
                let got: Vec<_> = Tags { rest: part }.collect();
                assert_eq!(got, reference(part), "{part:?}");
            }
        }
    }

    #[test]
    fn broken_lines_are_errors_not_panics() {
        for line in [
            "",
            "   ",
            "@only-tags",
            ":prefix-only",
            "@a=1 :p",
            "@a=1 :p !!!",
        ] {
            assert!(
                IrcMessage::parse(line).is_err(),
                "{line:?} should not parse"
            );
        }
    }

    #[test]
    fn ping_without_prefix() {
        let m = IrcMessage::parse("PING :tmi.twitch.tv").unwrap();
        assert_eq!(m.command(), "PING");
        assert_eq!(m.prefix(), None);
        assert_eq!(m.param(0), Some("tmi.twitch.tv"));
    }
}
