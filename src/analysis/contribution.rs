//! What one chat record contributes to every analysis, read once per record: a message's activity
//! (emotes, sentiment, terms) or a sub, gift, raid or moderation event, as a [`Contribution`].
//!
//! Emotes are counted from two sources. Twitch emotes come from the `emotes` tag and are read with
//! [`crate::chat::event::Emotes::names`]. BTTV, FFZ and 7TV emotes carry no tag. A token counts as one of
//! them when it is a known emote of the lexicon ([`Lexicon::is_known_emote`]). It also counts when it is
//! *emote-shaped* ([`is_emote_shaped`]: 2 to 25 ASCII letters and digits with an upper-case letter after
//! the first character, like `monkaS`, `OMEGALUL` or `GIGACHAD`) and at least [`EMOTE_MIN_CHATTERS`]
//! distinct chatters used it in the same window.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::emote_list::EmoteList;
use super::sentiment::{lower, trim_punctuation, EntryKind, Lexicon};
use super::short_str::ShortStr;
use super::term::TermKind;
#[cfg(doc)]
use super::term::EMOTE_MIN_CHATTERS;
use super::tokens::{Token, Tokens};
use crate::chat::event::{ChatEvent, ClearChat, EventKind, Message, NoticeKind};
use crate::chat::gifts::GiftTally;

/// What one chat message contributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageActivity {
    /// The sender's login.
    pub chatter: ShortStr,
    /// The sender's first message ever in the channel (`first-msg=1`).
    pub first_msg: bool,
    /// The sender is a returning chatter (`returning-chatter=1`).
    pub returning: bool,
    /// Bits cheered.
    pub bits: u32,
    /// Emotes and emote candidates, in order of first appearance.
    pub emotes: EmoteList,
    /// The message uses at least one hype emote of the lexicon.
    pub hype: bool,
    /// The message's sentiment, when a token matched the lexicon.
    pub sentiment: Option<f32>,
    /// The distinct terms of the message, for the top terms of spikes: emotes and mixed-case
    /// emote-shaped tokens as written, other words in lower case without punctuation and stop words.
    pub terms: Vec<(String, TermKind)>,
}

/// What one chat event contributes to engagement.
// A message is the common case and is built once per record (the task keeps it in a `OnceCell`);
// boxing it to shrink the rare variants would put an allocation back on every message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Contribution {
    /// A chat message.
    Message(MessageActivity),
    /// A first subscription.
    Sub,
    /// A renewed subscription.
    Resub,
    /// Gifted subs and gift bombs, counted once by the caller's [`crate::chat::gifts::GiftCounter`].
    Gifts {
        /// Gifted subs this event adds.
        gifts: u32,
        /// 1 for a gift bomb announcement.
        bombs: u32,
    },
    /// A raid and the viewers it brought.
    Raid {
        /// Viewers that came with the raid.
        viewers: u32,
    },
    /// A timeout.
    Timeout,
    /// A permanent ban.
    Ban,
}

impl Contribution {
    /// What `event` contributes, scored with the built-in lexicon; `gifts` is what the caller's
    /// `GiftCounter` returned for this event. `None` for events that do not count (PING, ROOMSTATE,
    /// a gift line already counted with its bomb...) and for Shared Chat copies, which count in their
    /// source channel.
    pub fn from_event(event: &ChatEvent<'_>, gifts: GiftTally) -> Option<Contribution> {
        Contribution::from_event_with(event, gifts, Lexicon::builtin())
    }

    /// [`Contribution::from_event`] with another lexicon.
    pub fn from_event_with(
        event: &ChatEvent<'_>,
        gifts: GiftTally,
        lexicon: &Lexicon,
    ) -> Option<Contribution> {
        Contribution::read(event, gifts, lexicon, true)
    }

    /// [`Contribution::from_event_with`]; with `with_terms` false, a message's
    /// [`MessageActivity::terms`] stay empty (for readers that never look at them).
    pub fn read(
        event: &ChatEvent<'_>,
        gifts: GiftTally,
        lexicon: &Lexicon,
        with_terms: bool,
    ) -> Option<Contribution> {
        if event.is_shared_copy() {
            return None;
        }
        match &event.kind {
            EventKind::Message(m) => Some(Contribution::Message(MessageActivity::read_with(
                m, lexicon, with_terms,
            ))),
            EventKind::UserNotice(n) => match &n.notice {
                NoticeKind::Sub(_) => Some(Contribution::Sub),
                NoticeKind::Resub(_) => Some(Contribution::Resub),
                NoticeKind::SubGift(_) | NoticeKind::SubMysteryGift(_) => {
                    (gifts != GiftTally::default()).then_some(Contribution::Gifts {
                        gifts: gifts.gifts,
                        bombs: gifts.bombs,
                    })
                }
                NoticeKind::Raid { viewers, .. } => Some(Contribution::Raid { viewers: *viewers }),
                _ => None,
            },
            EventKind::ClearChat(ClearChat::Timeout { .. }) => Some(Contribution::Timeout),
            EventKind::ClearChat(ClearChat::Ban { .. }) => Some(Contribution::Ban),
            _ => None,
        }
    }
}

impl MessageActivity {
    /// Reads one message: emotes from the tag, the lexicon and the emote shape; sentiment; terms.
    pub fn read(m: &Message<'_>, lexicon: &Lexicon) -> MessageActivity {
        MessageActivity::read_with(m, lexicon, true)
    }

    /// [`MessageActivity::read`]; with `with_terms` false, `terms` stays empty and costs nothing.
    pub fn read_with(m: &Message<'_>, lexicon: &Lexicon, with_terms: bool) -> MessageActivity {
        let mut emotes = EmoteList::new();
        let tagged = m.emotes.names(m.text);
        for (_, name) in &tagged {
            emotes.count(name, TermKind::Twitch);
        }
        let mut terms: Vec<(String, TermKind)> = Vec::new();
        let mut hype = false;
        let mut sentiment_sum = 0.0f64;
        let mut matched = 0u32;
        for token in Tokens::of(m.text) {
            let info = lexicon.token_shaped(token);
            let text = token.text;
            if let Some(s) = info.score {
                sentiment_sum += f64::from(s);
                matched += 1;
            }
            let is_tagged = !tagged.is_empty() && tagged.iter().any(|(_, name)| *name == text);
            let kind = if is_tagged {
                TermKind::Twitch
            } else if info.emote.is_some() {
                TermKind::Known
            } else if token.is_emote_shaped() {
                TermKind::Shaped
            } else {
                TermKind::Word
            };
            if kind.is_certain_emote() && info.emote.is_some_and(|e| e.kind == EntryKind::Hype) {
                hype = true;
            }
            if matches!(kind, TermKind::Known | TermKind::Shaped) {
                emotes.count(text, kind);
            }
            if !with_terms {
                continue;
            }
            // Emotes and mixed-case shaped tokens (probably emotes) keep their case; shouted words
            // (`SHANGHAI`) and plain words join their lower-case spelling.
            let (term, term_kind) = match kind {
                TermKind::Twitch | TermKind::Known => (Cow::Borrowed(text), kind),
                TermKind::Shaped if token.shape.has_lower() => (Cow::Borrowed(text), kind),
                TermKind::Shaped | TermKind::Word => {
                    let word = lower(trim_punctuation(text));
                    if !is_term(&word) {
                        continue;
                    }
                    (word, TermKind::Word)
                }
            };
            if !terms.iter().any(|(t, _)| *t == *term) {
                terms.push((term.into_owned(), term_kind));
            }
        }
        MessageActivity {
            chatter: ShortStr::new(m.user.login),
            first_msg: m.first_msg,
            returning: m.returning_chatter,
            bits: m.bits,
            emotes,
            hype,
            sentiment: (matched > 0).then(|| (sentiment_sum / f64::from(matched)) as f32),
            terms,
        }
    }
}

/// True for a token that looks like a third-party emote: 2 to 25 ASCII letters and digits, at least
/// one letter, and an upper-case letter after the first character (`monkaS`, `KEKW`, `5Head`, also
/// shouted words such as `GG`). Such a token is an emote of a window once [`EMOTE_MIN_CHATTERS`]
/// distinct chatters used it there.
pub fn is_emote_shaped(token: &str) -> bool {
    Token::new(token).is_emote_shaped()
}

/// Words too common to be a spike's top term.
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by",
    "can", "could", "did", "do", "does", "dont", "for", "from", "get", "got", "had", "has", "have",
    "he", "her", "here", "him", "his", "how", "i", "if", "im", "in", "into", "is", "it", "its",
    "just", "me", "my", "of", "oh", "on", "one", "or", "our", "out", "she", "so", "than", "that",
    "thats", "the", "their", "them", "then", "there", "they", "this", "to", "too", "u", "up", "us",
    "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would",
    "you", "your",
];

fn is_term(word: &str) -> bool {
    !word.is_empty()
        && word.chars().count() <= 30
        && word.chars().any(char::is_alphabetic)
        && !word.starts_with('@')
        && !word.contains("://")
        && !word.starts_with("www.")
        && STOP_WORDS.binary_search(&word).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn emote_shape_rule() {
        for t in ["monkaS", "KEKW", "OMEGALUL", "5Head", "GG", "PepeHands"] {
            assert!(is_emote_shaped(t), "{t}");
        }
        for t in [
            "hello",
            "Hello",
            "a",
            "B",
            "1234",
            "it's",
            "GG!",
            "x".repeat(26).as_str(),
            "ÄÖ",
        ] {
            assert!(!is_emote_shaped(t), "{t}");
        }
    }
}
