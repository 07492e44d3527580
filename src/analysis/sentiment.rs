//! Chat sentiment from a hand-curated lexicon of Twitch emotes and words (`data/lexicon/sentiment.tsv`,
//! built into the binary). A message scores the mean of its matched tokens, from -1 to 1; a message
//! with no match is not scored. The lexicon also names the known emotes and the hype emotes.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

use crate::analysis::tokens::{Shape, Token};
use crate::analysis::word_table::{WordKey, WordTable};
use crate::word_hash::WordMap;

/// What the lexicon knows of one token.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TokenInfo {
    /// The emote entry of the token's exact text.
    pub emote: Option<Entry>,
    /// Its sentiment score (as [`Lexicon::token_score`]).
    pub score: Option<f32>,
}

/// The lexicon shipped with chatpulse (see `data/lexicon/README.md`).
const BUILTIN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/lexicon/sentiment.tsv"
));

/// What a lexicon entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// An emote, matched case-sensitively.
    Emote,
    /// An emote that signals hype (`PogChamp`, `Pog`, `KomodoHype`...), matched case-sensitively.
    Hype,
    /// A word, matched on the lower-cased token.
    Word,
}

/// One lexicon entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// Its score, -1 (very negative) to 1 (very positive).
    pub score: f32,
    /// What it is.
    pub kind: EntryKind,
}

/// The sentiment of one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MessageSentiment {
    /// The mean score of the matched tokens, -1 to 1.
    pub score: f32,
    /// How many tokens matched.
    pub matched: u32,
}

/// A line of the lexicon file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lexicon line {line}: {reason}; each line must be `term<TAB>score<TAB>kind` with a score in -1..1 and kind emote, hype or word")]
pub struct LexiconError {
    /// The line number (1-based).
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// What the lexicon holds under one exact text: an emote, a word, or (rarely) both.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    emote: Option<Entry>,
    word: Option<f32>,
}

/// Emotes (case-sensitive) and words (lower case) with their scores, in one table, so a token
/// already in lower case is looked up once for both.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    entries: WordMap<String, Slot>,
    /// The entries of at most [`KEY_MAX`](crate::analysis::word_table::KEY_MAX) bytes again, for the fast lookup of ASCII tokens.
    short: WordTable<Slot>,
    /// The length of the longest entry in bytes: a longer text is no entry.
    longest: usize,
    /// A bit per [`filter_index`] of every entry: a text whose bit is clear is no entry, nor is
    /// its ASCII lower case (most tokens are rejected so, before any hashing).
    filter: Vec<u64>,
    emotes: usize,
    words: usize,
    /// Some word is not ASCII (the shipped lexicon has none).
    non_ascii_words: bool,
    /// Some entry is not ASCII (the shipped lexicon has none).
    non_ascii_entries: bool,
}

/// The one character outside ASCII whose lower case is ASCII (KELVIN SIGN, lower case `k`); the
/// unit tests check that there is no other.
const KELVIN: char = '\u{212a}';

impl Lexicon {
    /// The lexicon built into chatpulse, parsed once.
    pub fn builtin() -> &'static Lexicon {
        static LEXICON: OnceLock<Lexicon> = OnceLock::new();
        LEXICON.get_or_init(|| {
            Lexicon::parse(BUILTIN).expect("the built-in lexicon is checked by unit tests")
        })
    }

    /// Reads a lexicon in the `term<TAB>score<TAB>kind` format; `#` starts a comment line.
    pub fn parse(text: &str) -> Result<Lexicon, LexiconError> {
        let mut lexicon = Lexicon::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            let err = |reason: String| LexiconError { line, reason };
            let mut cols = raw.split('\t');
            let (Some(term), Some(score), Some(kind), None) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                return Err(err(format!("expected 3 tab-separated columns in {raw:?}")));
            };
            if term.is_empty() || term.chars().any(char::is_whitespace) {
                return Err(err(format!("the term {term:?} is empty or has spaces")));
            }
            let score: f32 = score
                .parse()
                .map_err(|_| err(format!("the score {score:?} is not a number")))?;
            if !(-1.0..=1.0).contains(&score) {
                return Err(err(format!("the score {score} is outside -1..1")));
            }
            let kind = match kind {
                "emote" => EntryKind::Emote,
                "hype" => EntryKind::Hype,
                "word" => EntryKind::Word,
                other => return Err(err(format!("unknown kind {other:?}"))),
            };
            let duplicate = if kind == EntryKind::Word {
                if term.to_lowercase() != term {
                    return Err(err(format!(
                        "the word {term:?} must be written in lower case"
                    )));
                }
                let slot = lexicon.entries.entry(term.to_owned()).or_default();
                lexicon.words += 1;
                lexicon.non_ascii_words |= !term.is_ascii();
                slot.word.replace(score).is_some()
            } else {
                let slot = lexicon.entries.entry(term.to_owned()).or_default();
                lexicon.emotes += 1;
                slot.emote.replace(Entry { score, kind }).is_some()
            };
            if duplicate {
                return Err(err(format!("{term:?} is listed twice")));
            }
            lexicon.longest = lexicon.longest.max(term.len());
            lexicon.non_ascii_entries |= !term.is_ascii();
        }
        lexicon.short = WordTable::new(lexicon.entries.iter().map(|(t, s)| (t.as_bytes(), *s)));
        lexicon.filter = vec![0; FILTER_BITS / 64];
        for term in lexicon.entries.keys() {
            let i = filter_index(term.as_bytes());
            lexicon.filter[i / 64] |= 1 << (i % 64);
        }
        Ok(lexicon)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.emotes + self.words
    }

    /// True when the lexicon has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The emote entry named exactly `token`.
    pub fn emote(&self, token: &str) -> Option<Entry> {
        self.entries.get(token).and_then(|s| s.emote)
    }

    /// True when `token` is a known emote (exact case).
    pub fn is_known_emote(&self, token: &str) -> bool {
        self.emote(token).is_some()
    }

    /// True when `token` is a hype emote (exact case).
    pub fn is_hype_emote(&self, token: &str) -> bool {
        self.emote(token).is_some_and(|e| e.kind == EntryKind::Hype)
    }

    /// Everything the lexicon knows of one token, in one lookup of its exact text.
    pub fn token(&self, token: &str) -> TokenInfo {
        self.token_shaped(Token::new(token))
    }

    /// [`Lexicon::token`] of a token whose shape the tokenizer already knows: an ASCII token is
    /// looked up by its packed bytes ([`WordKey`]) and lower-cased in them.
    #[inline]
    pub fn token_shaped(&self, token: Token<'_>) -> TokenInfo {
        // Most tokens are rejected by the filter alone.
        let Token { text, shape } = token;
        if shape.is_ascii() {
            if !shape.has_punctuation_end() && !self.may_hold(text) {
                return TokenInfo::default();
            }
        } else if !self.non_ascii_entries && !text.contains(KELVIN) {
            // Trimming keeps a character beyond ASCII and lower-casing does too (but for the
            // Kelvin sign): such a token cannot meet an ASCII entry.
            return TokenInfo::default();
        }
        self.token_found(token)
    }

    /// [`Lexicon::token_shaped`] past the filter.
    #[inline(never)]
    fn token_found(&self, token: Token<'_>) -> TokenInfo {
        let Token { text, shape } = token;
        if !shape.is_ascii() {
            return self.token_unicode(text);
        }
        let slot = if self.may_hold(text) {
            self.find(text)
        } else if !shape.has_punctuation_end() {
            return TokenInfo::default();
        } else {
            None
        };
        if let Some(e) = slot.and_then(|s| s.emote) {
            return TokenInfo {
                emote: Some(e),
                score: Some(e.score),
            };
        }
        // Most tokens are in lower case without punctuation at their ends: such a token is its own
        // word, and the lookup above already answered for it.
        let score = if !shape.has_upper() && !shape.has_punctuation_end() {
            slot.and_then(|s| s.word)
        } else {
            self.ascii_word_score(text, shape)
        };
        TokenInfo { emote: None, score }
    }

    /// False when neither `text` nor its ASCII lower case can be an entry (always for "").
    #[inline]
    fn may_hold(&self, text: &str) -> bool {
        let i = filter_index(text.as_bytes());
        self.filter
            .get(i / 64)
            .is_some_and(|w| w >> (i % 64) & 1 != 0)
            && !text.is_empty()
    }

    /// The slot of `text`: through the packed table when it is short, else through the map.
    fn find(&self, text: &str) -> Option<&Slot> {
        match WordKey::of(text.as_bytes()) {
            Some(key) => self.short.get(key),
            None if text.len() > self.longest => None,
            None => self.entries.get(text),
        }
    }

    /// [`Lexicon::word_score`] of an ASCII token that is not an emote by its exact text.
    fn ascii_word_score(&self, token: &str, shape: Shape) -> Option<f32> {
        let trimmed = if shape.has_punctuation_end() {
            trim_punctuation(token)
        } else {
            token
        };
        if !self.may_hold(trimmed) {
            return None;
        }
        let slot = if trimmed.len() != token.len() {
            let slot = self.find(trimmed);
            if let Some(e) = slot.and_then(|s| s.emote) {
                return Some(e.score);
            }
            slot
        } else {
            None
        };
        // Punctuation is no capital: the trimmed token has one exactly when the token does.
        if !shape.has_upper() {
            return slot.or_else(|| self.find(trimmed)).and_then(|s| s.word);
        }
        let word = match WordKey::of(trimmed.as_bytes()) {
            Some(key) => self.short.get(key.to_ascii_lowercase()),
            None if trimmed.len() > self.longest => None,
            None => self.entries.get(&trimmed.to_ascii_lowercase()),
        };
        word.and_then(|s| s.word)
    }

    /// [`Lexicon::token`] of a token with a character beyond ASCII.
    fn token_unicode(&self, token: &str) -> TokenInfo {
        let slot = self.entries.get(token);
        if let Some(e) = slot.and_then(|s| s.emote) {
            return TokenInfo {
                emote: Some(e),
                score: Some(e.score),
            };
        }
        TokenInfo {
            emote: None,
            score: self.word_score(token),
        }
    }

    /// The score of one whitespace-separated token: an emote by its exact text, else a word by its
    /// lower-cased text without surrounding punctuation.
    pub fn token_score(&self, token: &str) -> Option<f32> {
        self.token(token).score
    }

    /// The score of a token that is not an emote by its exact text.
    fn word_score(&self, token: &str) -> Option<f32> {
        let trimmed = trim_punctuation(token);
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.len() != token.len() {
            if let Some(e) = self.emote(trimmed) {
                return Some(e.score);
            }
        }
        // The lower case of a token with a character beyond ASCII keeps one (but for the Kelvin
        // sign), so it cannot be an ASCII word: no need to lower-case it.
        if !self.non_ascii_words && !trimmed.is_ascii() && !trimmed.contains(KELVIN) {
            return None;
        }
        with_lower(trimmed, |word| self.entries.get(word).and_then(|s| s.word))
    }

    /// The sentiment of a message: the mean score of its matched tokens; `None` when none matched.
    pub fn score(&self, text: &str) -> Option<MessageSentiment> {
        let (mut sum, mut matched) = (0.0f64, 0u32);
        for token in text.split_whitespace() {
            if let Some(s) = self.token_score(token) {
                sum += f64::from(s);
                matched += 1;
            }
        }
        (matched > 0).then(|| MessageSentiment {
            score: (sum / f64::from(matched)) as f32,
            matched,
        })
    }
}

/// Bits of [`Lexicon`]'s filter.
const FILTER_BITS: usize = 8192;

/// The filter bit of a text: a hash of its length and of its first and last bytes with the `0x20`
/// bit set, which ASCII lower-casing leaves alone.
fn filter_index(b: &[u8]) -> usize {
    let (first, last) = match b {
        [] => (0, 0),
        [first, .., last] => (*first, *last),
        [only] => (*only, *only),
    };
    let x = (b.len() as u32) << 16 | u32::from(first | 0x20) << 8 | u32::from(last | 0x20);
    (x.wrapping_mul(0x9e37_79b1) >> (32 - FILTER_BITS.trailing_zeros())) as usize
}

/// `token` without leading and trailing ASCII punctuation (`"gg!!"` -> `"gg"`).
pub fn trim_punctuation(token: &str) -> &str {
    token.trim_matches(|c: char| c.is_ascii_punctuation())
}

/// `text` in lower case, borrowed when it already is.
pub fn lower(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) || !text.is_ascii() {
        Cow::Owned(text.to_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// Calls `f` with `text` in lower case like [`lower`], without allocating (almost always): a token
/// with capitals or non-ASCII letters is lower-cased in a buffer the thread reuses.
pub fn with_lower<R>(text: &str, f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    }
    let ascii = text.is_ascii();
    if ascii && !text.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(text);
    }
    // `str::to_lowercase` maps each character on its own except a capital sigma, whose small form
    // depends on its neighbours: leave such text to it.
    if !ascii && text.contains('Σ') {
        return f(&text.to_lowercase());
    }
    BUFFER.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut word) => {
            word.clear();
            if ascii {
                word.push_str(text);
                word.make_ascii_lowercase();
            } else {
                word.extend(text.chars().flat_map(char::to_lowercase));
            }
            f(&word)
        }
        // `f` itself lower-cases: fall back to a fresh string.
        Err(_) => f(&text.to_lowercase()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tokens::Tokens;

    #[test]
    fn only_the_kelvin_sign_lower_cases_to_ascii() {
        let to_ascii: Vec<char> = (0x80..=0x10_ffffu32)
            .filter_map(char::from_u32)
            .filter(|c| c.to_lowercase().all(|l| l.is_ascii()))
            .collect();
        assert_eq!(to_ascii, vec![KELVIN]);
        let lexicon = Lexicon::parse("ok\t0.5\tword\n").unwrap();
        assert_eq!(lexicon.token_score("O\u{212a}"), Some(0.5));
        assert_eq!(lexicon.token_score("ok😂"), None);
        let accented = Lexicon::parse("café\t0.5\tword\n").unwrap();
        assert_eq!(accented.token_score("CAFÉ!"), Some(0.5));
    }

    /// [`Lexicon::token`] as it was before the packed table and the filter: the reference.
    fn reference_token(lex: &Lexicon, token: &str) -> TokenInfo {
        let slot = lex.entries.get(token);
        if let Some(e) = slot.and_then(|s| s.emote) {
            return TokenInfo {
                emote: Some(e),
                score: Some(e.score),
            };
        }
        let b = token.as_bytes();
        let own_word = b.iter().all(|c| c.is_ascii() && !c.is_ascii_uppercase())
            && !b.first().is_some_and(u8::is_ascii_punctuation)
            && !b.last().is_some_and(u8::is_ascii_punctuation);
        TokenInfo {
            emote: None,
            score: if own_word && !b.is_empty() {
                slot.and_then(|s| s.word)
            } else {
                lex.word_score(token)
            },
        }
    }

    #[test]
    fn token_lookup_agrees_with_the_reference_on_real_chat() {
        let sample = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/sample/nymn-2024-01-06.irc.txt"
        ));
        // Entries beyond ASCII, longer than a packed key, and a word only reachable through the
        // Kelvin sign.
        let custom = Lexicon::parse(
            "café\t0.5\tword\nÄmote\t0.2\temote\nok\t0.1\tword\n\
             averyveryverylongemotename\t0.3\temote\naveryveryverylongwordname\t-0.2\tword\n",
        )
        .unwrap();
        let edge = "! !! ... gg! !gg (LUL) GG GG!! CAFÉ! café Ämote! O\u{212a} \u{212a}ek \
                    AVERYVERYVERYLONGWORDNAME! (averyveryverylongemotename) x\x0bLOVE\x0b";
        for lex in [Lexicon::builtin(), &custom] {
            let mut matched = 0;
            for line in sample.lines().chain([edge]) {
                for token in Tokens::of(line) {
                    let t = token.text;
                    let want = reference_token(lex, t);
                    assert_eq!(lex.token_shaped(token), want, "{t:?}");
                    matched += usize::from(want.score.is_some());
                    // The same token shouted and wrapped in punctuation.
                    for v in [t.to_uppercase(), t.to_lowercase(), format!("({t})!")] {
                        assert_eq!(lex.token(&v), reference_token(lex, &v), "{v:?}");
                    }
                }
            }
            assert!(matched >= 5, "only {matched} tokens matched");
        }
    }

    #[test]
    fn with_lower_agrees_with_to_lowercase() {
        for text in [
            "gg",
            "GG",
            "PogChamp",
            "ÜBER",
            "straße",
            "ΣΑΣ",
            "όσος",
            "İstanbul",
            "😂",
            "ǅ",
            "x😂Y",
            "",
        ] {
            assert_eq!(
                with_lower(text, str::to_owned),
                text.to_lowercase(),
                "{text}"
            );
            // Nested use (the buffer is taken) falls back to a fresh string.
            let nested = with_lower("AB", |outer| {
                with_lower(text, |inner| format!("{outer}{inner}"))
            });
            assert_eq!(nested, format!("ab{}", text.to_lowercase()));
        }
    }

    #[test]
    fn builtin_lexicon_loads_with_hundreds_of_entries_in_range() {
        let lex = Lexicon::builtin();
        assert!(lex.len() >= 300, "{} entries", lex.len());
        for (term, score) in [
            ("PogChamp", 0.8),
            ("LUL", 0.4),
            ("KEKW", 0.4),
            ("BibleThump", -0.4),
            ("NotLikeThis", -0.5),
            ("ResidentSleeper", -0.5),
            ("WutFace", -0.3),
            ("monkaS", -0.3),
            ("Pog", 0.7),
            ("PogU", 0.7),
            ("EZ", 0.2),
        ] {
            assert_eq!(lex.emote(term).map(|e| e.score), Some(score), "{term}");
        }
        assert!(lex.is_hype_emote("PogChamp") && !lex.is_hype_emote("KEKW"));
        assert_eq!(lex.token_score("gg"), Some(0.6));
        assert!(lex.token_score("love").unwrap() > 0.5);
        assert!(lex.token_score("hate").unwrap() < -0.5);
        assert!(lex.token_score("trash").unwrap() < -0.5);
    }

    #[test]
    fn emotes_are_case_sensitive_and_words_are_not() {
        let lex = Lexicon::parse("LUL\t0.4\temote\nlol\t0.3\tword\nhype\t0.7\tword\n").unwrap();
        assert_eq!(lex.token_score("LUL"), Some(0.4));
        assert_eq!(lex.token_score("lUl"), None);
        assert_eq!(lex.token_score("LOL"), Some(0.3));
        assert_eq!(lex.token_score("Hype!!!"), Some(0.7));
        assert_eq!(lex.token_score("!!!"), None);
    }

    #[test]
    fn message_score_is_the_mean_of_matched_tokens() {
        let lex = Lexicon::parse("PogChamp\t0.8\thype\nBibleThump\t-0.4\temote\ngood\t0.5\tword\n")
            .unwrap();
        let s = lex.score("PogChamp that was good BibleThump").unwrap();
        assert_eq!(s.matched, 3);
        assert!(
            (s.score - (0.8 + 0.5 - 0.4) / 3.0).abs() < 1e-6,
            "{}",
            s.score
        );
        assert_eq!(lex.score("nothing here matches"), None);
        assert_eq!(lex.score(""), None);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let cases = [
            ("x\t2\tword\n", "outside"),
            ("x\tabc\tword\n", "not a number"),
            ("x\t0.1\n", "3 tab-separated"),
            ("X\t0.1\tword\n", "lower case"),
            ("x\t0.1\tsmiley\n", "unknown kind"),
            ("# c\nx\t0.1\tword\nx\t0.2\tword\n", "twice"),
        ];
        for (text, reason) in cases {
            let e = Lexicon::parse(text).unwrap_err();
            assert!(e.reason.contains(reason), "{text:?}: {e}");
        }
        assert_eq!(
            Lexicon::parse("# c\nx\t0.1\tword\nx\t0.2\tword\n")
                .unwrap_err()
                .line,
            3
        );
    }
}
