//! The whitespace-separated tokens of a chat message, each with its [`Shape`] (capitals, small
//! letters, punctuation at its ends, only letters and digits...). A message is split in one
//! pass over its bytes that computes the shapes on the way, so the lexicon, the emote rule and the
//! terms read flags instead of scanning every token again.

/// Some byte is an ASCII capital.
const UPPER: u8 = 1;
/// Some byte after the first is an ASCII capital.
const UPPER_AFTER_FIRST: u8 = 2;
/// Some byte is an ASCII small letter.
const LOWER: u8 = 4;
/// Some byte is not an ASCII letter or digit.
const NOT_ALNUM: u8 = 8;
/// The first byte is ASCII punctuation.
const PUNCT_FIRST: u8 = 16;
/// The last byte is ASCII punctuation.
const PUNCT_LAST: u8 = 32;
/// Some byte is beyond ASCII.
const NON_ASCII: u8 = 64;

/// The flags a byte gives as the first of a token.
const FIRST: [u8; 256] = flags_table(0);
/// The flags a byte gives after the first, and [`SPACE`] for ASCII whitespace and the first bytes
/// of the whitespace characters beyond it.
const REST: [u8; 256] = flags_table(1);
/// Marks whitespace (or maybe whitespace) in [`REST`] (never a flag of a token).
const SPACE: u8 = 128;
/// The flags a byte gives as the last.
const LAST: [u8; 256] = flags_table(2);

const fn flags_table(position: u8) -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = match position {
            1 if is_ascii_space(b) => SPACE | NOT_ALNUM,
            1 if matches!(b, 0xc2 | 0xe1 | 0xe2 | 0xe3) => SPACE | NOT_ALNUM | NON_ASCII,
            0 | 1 => {
                let mut f = 0;
                if b.is_ascii_uppercase() {
                    f |= if position == 0 {
                        UPPER
                    } else {
                        UPPER | UPPER_AFTER_FIRST
                    };
                }
                if b.is_ascii_lowercase() {
                    f |= LOWER;
                }
                if !b.is_ascii_alphanumeric() {
                    f |= NOT_ALNUM;
                }
                if position == 0 && b.is_ascii_punctuation() {
                    f |= PUNCT_FIRST;
                }
                if !b.is_ascii() {
                    f |= NON_ASCII;
                }
                f
            }
            _ if b.is_ascii_punctuation() => PUNCT_LAST,
            _ => 0,
        };
        i += 1;
    }
    table
}

/// `char::is_whitespace` on ASCII: space and U+0009 to U+000D (the vertical tab included, unlike
/// `u8::is_ascii_whitespace`).
const fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// What a token is made of (capitals, small letters, punctuation at its ends...), as flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape(u8);

impl Shape {
    /// The shape of `token`, byte by byte (the tokenizer computes it while splitting).
    pub fn of(token: &str) -> Shape {
        let b = token.as_bytes();
        let Some((&first, rest)) = b.split_first() else {
            return Shape(0);
        };
        let flags = FIRST[usize::from(first)]
            | rest.iter().fold(0, |acc, &c| acc | REST[usize::from(c)])
            | LAST[usize::from(b[b.len() - 1])];
        Shape(flags & !SPACE)
    }

    /// Every byte is ASCII.
    pub fn is_ascii(self) -> bool {
        self.0 & NON_ASCII == 0
    }

    /// Some byte is an ASCII capital.
    pub fn has_upper(self) -> bool {
        self.0 & UPPER != 0
    }

    /// Some byte after the first is an ASCII capital.
    pub fn has_upper_after_first(self) -> bool {
        self.0 & UPPER_AFTER_FIRST != 0
    }

    /// Some byte is an ASCII small letter.
    pub fn has_lower(self) -> bool {
        self.0 & LOWER != 0
    }

    /// Every byte is an ASCII letter or digit.
    pub fn is_alphanumeric(self) -> bool {
        self.0 & NOT_ALNUM == 0
    }

    /// The first or the last byte is ASCII punctuation.
    pub fn has_punctuation_end(self) -> bool {
        self.0 & (PUNCT_FIRST | PUNCT_LAST) != 0
    }
}

/// One token of a message and its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token's text (never empty, no whitespace).
    pub text: &'a str,
    /// What it is made of.
    pub shape: Shape,
}

impl<'a> Token<'a> {
    /// `text` as a token, its shape computed byte by byte.
    pub fn new(text: &'a str) -> Token<'a> {
        Token {
            text,
            shape: Shape::of(text),
        }
    }

    /// Whether the token looks like a third-party emote (the rule of
    /// [`crate::analysis::is_emote_shaped`]), from the shape: 2 to 25 ASCII letters and
    /// digits with a capital after the first byte.
    pub fn is_emote_shaped(&self) -> bool {
        (2..=25).contains(&self.text.len())
            && self.shape.is_alphanumeric()
            && self.shape.has_upper_after_first()
    }
}

/// The length of the whitespace character beyond ASCII that `b` starts with (`char::is_whitespace`:
/// U+0085, U+00A0, U+1680, U+2000 to U+200A, U+2028, U+2029, U+202F, U+205F, U+3000); 0 for any
/// other character.
fn unicode_space_len(b: &[u8]) -> usize {
    match b {
        [0xc2, 0x85 | 0xa0, ..] => 2,
        [0xe1, 0x9a, 0x80, ..]
        | [0xe2, 0x80, 0x80..=0x8a | 0xa8 | 0xa9 | 0xaf, ..]
        | [0xe2, 0x81, 0x9f, ..]
        | [0xe3, 0x80, 0x80, ..] => 3,
        _ => 0,
    }
}

/// The whitespace-separated tokens of a text, exactly as `str::split_whitespace` gives them, split
/// byte by byte without decoding characters: only the first bytes of the whitespace characters
/// beyond ASCII (0xC2, 0xE1, 0xE2, 0xE3) stop the loop to look closer.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    /// The tokens of `text`.
    pub fn of(text: &'a str) -> Tokens<'a> {
        Tokens { rest: text }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    #[inline]
    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.rest.as_bytes();
        let mut start = 0;
        loop {
            let c = *b.get(start)?;
            if REST[usize::from(c)] & SPACE == 0 {
                break;
            }
            if c < 0x80 {
                start += 1;
                continue;
            }
            match unicode_space_len(&b[start..]) {
                0 => break,
                n => start += n,
            }
        }
        let mut flags = FIRST[usize::from(b[start])];
        // One pointer over the bytes after the first; `len` only counts when the loop stops.
        let tail = &b[start + 1..];
        let mut bytes = tail.iter();
        let mut len = 1 + tail.len();
        while let Some(&c) = bytes.next() {
            let f = REST[usize::from(c)];
            if f & SPACE != 0 {
                let at = tail.len() - bytes.as_slice().len() - 1;
                if c < 0x80 || unicode_space_len(&tail[at..]) != 0 {
                    len = 1 + at;
                    break;
                }
                flags |= f & !SPACE;
                continue;
            }
            flags |= f;
        }
        let last = b[start + len - 1];
        let shape = Shape(flags | LAST[usize::from(last)]);
        let (text, after) = self.rest[start..].split_at(len);
        self.rest = after;
        Some(Token { text, shape })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts with the cases that matter: every ASCII whitespace, punctuation-only tokens, tokens of
    /// 25 and 26 bytes, control characters, the Kelvin sign and other characters beyond ASCII.
    const TEXTS: &[&str] = &[
        "",
        "   ",
        "gg",
        "  KEKW  KEKW\tLUL\n",
        "a\x0bb\x0cc\rd\x1ce\x1ff",
        "no\u{a0}break \u{3000}wide 😂 emoji",
        "trailing ",
        "!!! ... ? @ gg! !gg (LUL) \"quoted\" it's 5Head x",
        "abcdefghijklmnopqrstuvwxY abcdefghijklmnopqrstuvwxyZ ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "OK \u{212a}elvin O\u{212a} café CAFÉ! ÜBER straße",
        "kamelMUR kamelMUR kamelFumi EUPHOOOORIA YEAH ceezBC WE monkaS OMEGALUL",
        "@streamer https://example.com/x www.twitch.tv lol... LOL!! Pog PogChamp",
        "\x01ctrl\x7fdel a\x00b",
        "x",
        " \t\n\x0b\x0c\ry",
        "ÄÖ GG! 1234 a B",
    ];

    /// The shape flags as the slow checks compute them.
    fn slow(token: &str) -> [bool; 7] {
        let b = token.as_bytes();
        [
            token.is_ascii(),
            b.iter().any(u8::is_ascii_uppercase),
            b[1..].iter().any(u8::is_ascii_uppercase),
            b.iter().any(u8::is_ascii_lowercase),
            b.iter().all(u8::is_ascii_alphanumeric),
            b.first().is_some_and(u8::is_ascii_punctuation)
                || b.last().is_some_and(u8::is_ascii_punctuation),
            // The emote-shape rule spelled out byte by byte.
            (2..=25).contains(&b.len())
                && b.iter().all(u8::is_ascii_alphanumeric)
                && b[1..].iter().any(u8::is_ascii_uppercase),
        ]
    }

    fn fast(t: &Token<'_>) -> [bool; 7] {
        let s = t.shape;
        [
            s.is_ascii(),
            s.has_upper(),
            s.has_upper_after_first(),
            s.has_lower(),
            s.is_alphanumeric(),
            s.has_punctuation_end(),
            t.is_emote_shaped(),
        ]
    }

    #[test]
    fn tokens_split_as_split_whitespace_does_with_the_slow_shapes() {
        for text in TEXTS {
            let ours: Vec<&str> = Tokens::of(text).map(|t| t.text).collect();
            let std: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(ours, std, "{text:?}");
            for t in Tokens::of(text) {
                assert_eq!(fast(&t), slow(t.text), "{:?} in {text:?}", t.text);
                assert_eq!(t.shape, Shape::of(t.text), "{:?}", t.text);
            }
        }
    }

    #[test]
    fn every_byte_pair_shapes_as_the_slow_checks_say() {
        // Every ASCII byte alone, after a letter and before a letter: one- and two-byte tokens
        // cover each class at each position.
        for b in 0u8..128 {
            for text in [
                String::from(b as char),
                format!("a{}", b as char),
                format!("{}A", b as char),
                format!("Ab{}", b as char),
            ] {
                let ours: Vec<&str> = Tokens::of(&text).map(|t| t.text).collect();
                let std: Vec<&str> = text.split_whitespace().collect();
                assert_eq!(ours, std, "{text:?}");
                for t in Tokens::of(&text) {
                    assert_eq!(fast(&t), slow(t.text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn every_character_splits_as_split_whitespace_does() {
        for c in (0..=0x10_ffffu32).filter_map(char::from_u32) {
            let text = format!("{c}a{c}{c}b {c}");
            let ours: Vec<Token<'_>> = Tokens::of(&text).collect();
            let std: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(
                ours.iter().map(|t| t.text).collect::<Vec<_>>(),
                std,
                "{c:?}"
            );
            for t in ours {
                assert_eq!(t.shape, Shape::of(t.text), "{c:?}");
            }
        }
    }

    #[test]
    fn emote_shape_stops_at_25_bytes() {
        let ok = format!("{}Y", "x".repeat(24));
        let long = format!("{}Y", "x".repeat(25));
        assert!(Token::new(&ok).is_emote_shaped());
        assert!(!Token::new(&long).is_emote_shaped());
    }
}
