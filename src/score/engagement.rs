//! Engagement of a channel per window: messages, exact unique, new and returning chatters, emotes,
//! bits, subs, gifts, raids, moderation and sentiment, as an [`Aggregate`] whose accumulator
//! serializes and merges. One chat event becomes one [`EngagementInput`] through a pure function.
//!
//! Emotes are counted from two sources. Twitch emotes come from the `emotes` tag and are read with
//! [`crate::chat::event::Emotes::names`]. BTTV, FFZ and 7TV emotes carry no tag. A token counts as one of
//! them when it is a known emote of the lexicon ([`Lexicon::is_known_emote`]). It also counts when it is
//! *emote-shaped* ([`is_emote_shaped`]: 2 to 25 ASCII letters and digits with an upper-case letter after
//! the first character, like `monkaS`, `OMEGALUL` or `GIGACHAD`) and at least [`EMOTE_MIN_CHATTERS`]
//! distinct chatters used it in the same window.

use std::borrow::Cow;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::chat::event::{ChatEvent, ClearChat, EventKind, Message, NoticeKind};
use crate::chat::gifts::GiftTally;
use crate::score::emote_list::EmoteList;
use crate::score::sentiment::{lower, trim_punctuation, EntryKind, Lexicon};
use crate::score::short_str::ShortStr;
use crate::score::term_counter::sorted_map;
pub use crate::score::term_counter::{ChatterSample, TermCounter, TermStat};
use crate::score::tokens::{Token, Tokens};

/// A map keyed by short strings stored inline, hashed with [`WordHasher`](crate::word_hash::WordHasher).
pub type ShortMap<V> = WordMap<ShortStr, V>;
use crate::window::Aggregate;
use crate::word_hash::WordMap;

/// An emote-shaped token becomes an emote of the window once this many distinct chatters used it.
pub const EMOTE_MIN_CHATTERS: usize = 3;
/// Emotes reported per window.
pub const TOP_EMOTES: usize = 5;
/// Distinct emotes (or terms) tracked per window by default; see [`TermCounter`].
pub const DEFAULT_MAX_TERMS: usize = 256;

/// How a term was recognised. The order is the precedence when one name comes from two sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TermKind {
    /// A Twitch emote from the `emotes` tag.
    Twitch,
    /// A known emote of the lexicon (BTTV, FFZ, 7TV or a Twitch emote in an untagged log).
    Known,
    /// An emote-shaped token; an emote once enough chatters use it.
    Shaped,
    /// A plain word (lower case).
    Word,
}

impl TermKind {
    /// True for the kinds that count as emote uses without a chatter threshold.
    pub fn is_certain_emote(self) -> bool {
        matches!(self, TermKind::Twitch | TermKind::Known)
    }
}

/// One emote (or emote candidate) in a message and how often it appears there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmoteUse {
    /// The emote's text.
    pub name: ShortStr,
    /// How it was recognised (never [`TermKind::Word`]).
    pub kind: TermKind,
    /// Uses in this message.
    pub uses: u32,
}

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
pub enum EngagementInput {
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

impl EngagementInput {
    /// What `event` contributes, scored with the built-in lexicon; `gifts` is what the caller's
    /// `GiftCounter` returned for this event. `None` for events that do not count (PING, ROOMSTATE,
    /// a gift line already counted with its bomb...) and for Shared Chat copies, which count in their
    /// source channel.
    pub fn from_event(event: &ChatEvent<'_>, gifts: GiftTally) -> Option<EngagementInput> {
        EngagementInput::from_event_with(event, gifts, Lexicon::builtin())
    }

    /// [`EngagementInput::from_event`] with another lexicon.
    pub fn from_event_with(
        event: &ChatEvent<'_>,
        gifts: GiftTally,
        lexicon: &Lexicon,
    ) -> Option<EngagementInput> {
        EngagementInput::read(event, gifts, lexicon, true)
    }

    /// [`EngagementInput::from_event_with`]; with `with_terms` false, a message's
    /// [`MessageActivity::terms`] stay empty (for readers that never look at them).
    pub fn read(
        event: &ChatEvent<'_>,
        gifts: GiftTally,
        lexicon: &Lexicon,
        with_terms: bool,
    ) -> Option<EngagementInput> {
        if event.is_shared_copy() {
            return None;
        }
        match &event.kind {
            EventKind::Message(m) => Some(EngagementInput::Message(MessageActivity::read_with(
                m, lexicon, with_terms,
            ))),
            EventKind::UserNotice(n) => match &n.notice {
                NoticeKind::Sub(_) => Some(EngagementInput::Sub),
                NoticeKind::Resub(_) => Some(EngagementInput::Resub),
                NoticeKind::SubGift(_) | NoticeKind::SubMysteryGift(_) => {
                    (gifts != GiftTally::default()).then_some(EngagementInput::Gifts {
                        gifts: gifts.gifts,
                        bombs: gifts.bombs,
                    })
                }
                NoticeKind::Raid { viewers, .. } => {
                    Some(EngagementInput::Raid { viewers: *viewers })
                }
                _ => None,
            },
            EventKind::ClearChat(ClearChat::Timeout { .. }) => Some(EngagementInput::Timeout),
            EventKind::ClearChat(ClearChat::Ban { .. }) => Some(EngagementInput::Ban),
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

/// A stable 64-bit hash of a login (FNV-1a), for distinct-chatter sets that must persist and merge.
pub fn chatter_hash(login: &str) -> u64 {
    chatter_hash_bytes(login.as_bytes())
}

/// [`chatter_hash`] of a login's bytes.
fn chatter_hash_bytes(login: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in login {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// True when a tracked term counts as an emote of its window.
fn is_window_emote(stat: &TermStat) -> bool {
    match stat.kind {
        TermKind::Twitch | TermKind::Known => true,
        TermKind::Shaped => stat.chatters.len() >= EMOTE_MIN_CHATTERS,
        TermKind::Word => false,
    }
}

/// The engagement aggregate; `max_terms` bounds the emotes tracked per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engagement {
    /// Distinct emotes and emote candidates tracked per window.
    pub max_terms: usize,
    /// Emotes reported per window.
    pub top_emotes: usize,
}

impl Default for Engagement {
    fn default() -> Self {
        Engagement {
            max_terms: DEFAULT_MAX_TERMS,
            top_emotes: TOP_EMOTES,
        }
    }
}

/// Chatter flag: sent a first message in the window.
const NEW: u8 = 1;
/// Chatter flag: sent a message tagged returning-chatter in the window.
const RETURNING: u8 = 2;

/// The running state of [`Engagement`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngagementAcc {
    /// Messages.
    pub messages: u64,
    /// Every chatter's login with flags (1: new, 2: returning); serialized in login order.
    #[serde(with = "sorted_map")]
    pub chatters: ShortMap<u8>,
    /// Uses of Twitch and known emotes (counted even when their term is no longer tracked).
    pub certain_emote_uses: u64,
    /// Emotes and emote candidates.
    pub emotes: TermCounter,
    /// Messages with a hype emote.
    pub hype_messages: u64,
    /// Bits cheered.
    pub bits: u64,
    /// First subscriptions.
    pub subs: u64,
    /// Renewed subscriptions.
    pub resubs: u64,
    /// Gifted subs, counted once.
    pub gifted_subs: u64,
    /// Gift bombs.
    pub gift_bombs: u64,
    /// Raids.
    pub raids: u64,
    /// Viewers brought by raids.
    pub raid_viewers: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Bans.
    pub bans: u64,
    /// Sum of message sentiment scores.
    pub sentiment_sum: f64,
    /// Messages with a sentiment score.
    pub sentiment_messages: u64,
}

/// The engagement of one channel in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngagementMetrics {
    /// Chat messages.
    pub messages: u64,
    /// Distinct chatters (exact).
    pub unique_chatters: u64,
    /// Chatters who sent their first message ever in the channel (`first-msg=1`).
    pub new_chatters: u64,
    /// Chatters tagged as returning (`returning-chatter=1`).
    pub returning_chatters: u64,
    /// Messages per chatter (0 without messages).
    pub messages_per_chatter: f64,
    /// Emote uses: Twitch and known emotes, plus emote-shaped tokens used by enough chatters.
    pub emote_uses: u64,
    /// The most used emotes with their uses, most used first.
    pub top_emotes: Vec<(String, u64)>,
    /// Messages with a hype emote.
    pub hype_messages: u64,
    /// Bits cheered.
    pub bits: u64,
    /// First subscriptions.
    pub subs: u64,
    /// Renewed subscriptions.
    pub resubs: u64,
    /// Gifted subs, each counted once.
    pub gifted_subs: u64,
    /// Gift bombs.
    pub gift_bombs: u64,
    /// Raids received.
    pub raids: u64,
    /// Viewers brought by raids.
    pub raid_viewers: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Bans.
    pub bans: u64,
    /// Mean sentiment of the scored messages, -1 to 1; `None` when no message was scored.
    pub sentiment: Option<f64>,
    /// Messages with a sentiment score.
    pub sentiment_messages: u64,
}

impl Aggregate for Engagement {
    type Input = EngagementInput;
    type Acc = EngagementAcc;
    type Output = EngagementMetrics;

    fn init(&self) -> EngagementAcc {
        EngagementAcc {
            messages: 0,
            chatters: ShortMap::default(),
            certain_emote_uses: 0,
            emotes: TermCounter::new(self.max_terms),
            hype_messages: 0,
            bits: 0,
            subs: 0,
            resubs: 0,
            gifted_subs: 0,
            gift_bombs: 0,
            raids: 0,
            raid_viewers: 0,
            timeouts: 0,
            bans: 0,
            sentiment_sum: 0.0,
            sentiment_messages: 0,
        }
    }

    fn init_after(&self, previous: &EngagementAcc) -> EngagementAcc {
        let mut acc = self.init();
        acc.chatters.reserve(previous.chatters.len());
        acc.emotes.reserve_like(&previous.emotes);
        acc
    }

    fn add(&self, acc: &mut EngagementAcc, input: &EngagementInput) {
        match input {
            EngagementInput::Message(m) => {
                acc.messages += 1;
                let flags = (u8::from(m.first_msg) * NEW) | (u8::from(m.returning) * RETURNING);
                match acc.chatters.get_mut(&m.chatter) {
                    Some(f) => *f |= flags,
                    None => {
                        acc.chatters.insert(m.chatter.clone(), flags);
                    }
                }
                // The chatter's stable hash is only needed for the emotes' chatter samples.
                let who = if m.emotes.is_empty() {
                    0
                } else {
                    chatter_hash_bytes(m.chatter.as_bytes())
                };
                for e in m.emotes.iter() {
                    if e.kind.is_certain_emote() {
                        acc.certain_emote_uses += u64::from(e.uses);
                    }
                    acc.emotes
                        .add_short(&e.name, e.kind, who, u64::from(e.uses));
                }
                acc.hype_messages += u64::from(m.hype);
                acc.bits += u64::from(m.bits);
                if let Some(s) = m.sentiment {
                    acc.sentiment_sum += f64::from(s);
                    acc.sentiment_messages += 1;
                }
            }
            EngagementInput::Sub => acc.subs += 1,
            EngagementInput::Resub => acc.resubs += 1,
            EngagementInput::Gifts { gifts, bombs } => {
                acc.gifted_subs += u64::from(*gifts);
                acc.gift_bombs += u64::from(*bombs);
            }
            EngagementInput::Raid { viewers } => {
                acc.raids += 1;
                acc.raid_viewers += u64::from(*viewers);
            }
            EngagementInput::Timeout => acc.timeouts += 1,
            EngagementInput::Ban => acc.bans += 1,
        }
    }

    fn merge(&self, into: &mut EngagementAcc, other: &EngagementAcc) {
        into.messages += other.messages;
        for (login, flags) in &other.chatters {
            *into.chatters.entry(login.clone()).or_insert(0) |= flags;
        }
        into.certain_emote_uses += other.certain_emote_uses;
        into.emotes.merge(&other.emotes);
        into.hype_messages += other.hype_messages;
        into.bits += other.bits;
        into.subs += other.subs;
        into.resubs += other.resubs;
        into.gifted_subs += other.gifted_subs;
        into.gift_bombs += other.gift_bombs;
        into.raids += other.raids;
        into.raid_viewers += other.raid_viewers;
        into.timeouts += other.timeouts;
        into.bans += other.bans;
        into.sentiment_sum += other.sentiment_sum;
        into.sentiment_messages += other.sentiment_messages;
    }

    fn finish(&self, acc: &EngagementAcc) -> EngagementMetrics {
        let unique = acc.chatters.len() as u64;
        let shaped_uses: u64 = acc
            .emotes
            .stats()
            .filter(|s| s.kind == TermKind::Shaped && is_window_emote(s))
            .map(|s| s.uses)
            .sum();
        let (mut new, mut returning) = (0u64, 0u64);
        for f in acc.chatters.values() {
            new += u64::from(f & NEW != 0);
            returning += u64::from(f & RETURNING != 0);
        }
        EngagementMetrics {
            messages: acc.messages,
            unique_chatters: unique,
            new_chatters: new,
            returning_chatters: returning,
            messages_per_chatter: if unique == 0 {
                0.0
            } else {
                acc.messages as f64 / unique as f64
            },
            emote_uses: acc.certain_emote_uses + shaped_uses,
            top_emotes: acc.emotes.top(self.top_emotes, |_, s| is_window_emote(s)),
            hype_messages: acc.hype_messages,
            bits: acc.bits,
            subs: acc.subs,
            resubs: acc.resubs,
            gifted_subs: acc.gifted_subs,
            gift_bombs: acc.gift_bombs,
            raids: acc.raids,
            raid_viewers: acc.raid_viewers,
            timeouts: acc.timeouts,
            bans: acc.bans,
            sentiment: (acc.sentiment_messages > 0)
                .then(|| (acc.sentiment_sum / acc.sentiment_messages as f64).clamp(-1.0, 1.0)),
            sentiment_messages: acc.sentiment_messages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::gifts::GiftCounter;

    fn input(line: &str) -> EngagementInput {
        let e = ChatEvent::parse(line).unwrap();
        let tally = GiftCounter::default().count(&e);
        EngagementInput::from_event(&e, tally).unwrap()
    }

    fn msg(user: &str, text: &str) -> EngagementInput {
        input(&format!(
            ":{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #c :{text}"
        ))
    }

    fn run(inputs: &[EngagementInput]) -> EngagementMetrics {
        let agg = Engagement::default();
        let mut acc = agg.init();
        for i in inputs {
            agg.add(&mut acc, i);
        }
        agg.finish(&acc)
    }

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

    #[test]
    fn twitch_known_and_shaped_emotes_are_counted_by_their_rules() {
        // Kappa from the emotes tag (real id 25), KEKW from the lexicon, widepeepoBlanket is shaped
        // and only becomes an emote with a third distinct chatter.
        let tagged =
            input("@emotes=25:0-4,6-10 :a!a@a PRIVMSG #c :Kappa Kappa KEKW widepeepoBlanket");
        let EngagementInput::Message(m) = &tagged else {
            panic!()
        };
        assert_eq!(
            m.emotes,
            vec![
                EmoteUse {
                    name: "Kappa".into(),
                    kind: TermKind::Twitch,
                    uses: 2
                },
                EmoteUse {
                    name: "KEKW".into(),
                    kind: TermKind::Known,
                    uses: 1
                },
                EmoteUse {
                    name: "widepeepoBlanket".into(),
                    kind: TermKind::Shaped,
                    uses: 1
                },
            ]
        );
        let two = run(&[tagged.clone(), msg("b", "widepeepoBlanket")]);
        assert_eq!(two.emote_uses, 3);
        assert_eq!(
            two.top_emotes,
            vec![("Kappa".into(), 2), ("KEKW".into(), 1)]
        );
        let three = run(&[
            tagged,
            msg("b", "widepeepoBlanket"),
            msg("c", "widepeepoBlanket x"),
        ]);
        assert_eq!(three.emote_uses, 6);
        assert_eq!(three.top_emotes[0], ("widepeepoBlanket".into(), 3));
        // The same chatter three times is not three chatters.
        let spam = run(&[
            msg("a", "WeirdBlanket"),
            msg("a", "WeirdBlanket"),
            msg("a", "WeirdBlanket"),
        ]);
        assert_eq!((spam.emote_uses, spam.top_emotes.len()), (0, 0));
    }

    #[test]
    fn counts_chatters_subs_gifts_raids_and_moderation() {
        let inputs = vec![
            input("@first-msg=1 :a!a@a PRIVMSG #c :hello PogChamp"),
            input("@returning-chatter=1 :b!b@b PRIVMSG #c :this is trash"),
            input("@bits=100 :b!b@b PRIVMSG #c :cheer100 gg"),
            input("@msg-id=sub;login=s :tmi.twitch.tv USERNOTICE #c"),
            input("@msg-id=resub;login=r :tmi.twitch.tv USERNOTICE #c"),
            input("@msg-id=raid;login=x;msg-param-viewerCount=50 :tmi.twitch.tv USERNOTICE #c"),
            input("@ban-duration=60 :tmi.twitch.tv CLEARCHAT #c :a"),
            input(":tmi.twitch.tv CLEARCHAT #c :b"),
            input("@msg-id=submysterygift;login=g;msg-param-mass-gift-count=5 :tmi.twitch.tv USERNOTICE #c"),
        ];
        let m = run(&inputs);
        assert_eq!(
            (
                m.messages,
                m.unique_chatters,
                m.new_chatters,
                m.returning_chatters
            ),
            (3, 2, 1, 1)
        );
        assert_eq!(m.messages_per_chatter, 1.5);
        assert_eq!(
            (m.bits, m.subs, m.resubs, m.gifted_subs, m.gift_bombs),
            (100, 1, 1, 5, 1)
        );
        assert_eq!((m.raids, m.raid_viewers, m.timeouts, m.bans), (1, 50, 1, 1));
        assert_eq!(m.hype_messages, 1);
        // hello 0.2 + PogChamp 0.8 -> 0.5; trash -0.7; gg 0.6.
        assert_eq!(m.sentiment_messages, 3);
        assert!(
            (m.sentiment.unwrap() - (0.5 - 0.7 + 0.6) / 3.0).abs() < 1e-6,
            "{:?}",
            m.sentiment
        );
        assert_eq!(run(&[msg("a", "nothing matches")]).sentiment, None);
    }

    #[test]
    fn shared_copies_and_counted_gift_lines_add_nothing() {
        let copy = "@room-id=1;source-room-id=2;msg-id=sharedchatnotice;source-msg-id=sub;login=a \
                    :tmi.twitch.tv USERNOTICE #c";
        let e = ChatEvent::parse(copy).unwrap();
        assert!(e.is_shared_copy());
        assert_eq!(EngagementInput::from_event(&e, GiftTally::default()), None);
        let gift = "@msg-id=subgift;login=g;msg-param-recipient-user-name=r;msg-param-community-gift-id=X \
                    :tmi.twitch.tv USERNOTICE #c";
        let e = ChatEvent::parse(gift).unwrap();
        assert_eq!(EngagementInput::from_event(&e, GiftTally::default()), None);
        assert_eq!(
            EngagementInput::from_event(
                &ChatEvent::parse("PING :x").unwrap(),
                GiftTally::default()
            ),
            None
        );
    }

    #[test]
    fn merge_equals_adding_everything_to_one_accumulator() {
        let inputs: Vec<EngagementInput> = (0..40)
            .map(|i| {
                let user = format!("u{}", i % 7);
                let text = match i % 4 {
                    0 => "LUL LUL monkaS".to_owned(),
                    1 => format!("catDance word{i}"),
                    2 => "gg wp".to_owned(),
                    _ => "catDance".to_owned(),
                };
                let tags = if i % 5 == 0 { "@first-msg=1 " } else { "" };
                input(&format!("{tags}:{user}!{user}@{user} PRIVMSG #c :{text}"))
            })
            .collect();
        let agg = Engagement::default();
        let mut whole = agg.init();
        let (mut left, mut right) = (agg.init(), agg.init());
        for (i, x) in inputs.iter().enumerate() {
            agg.add(&mut whole, x);
            agg.add(if i % 3 == 0 { &mut left } else { &mut right }, x);
        }
        agg.merge(&mut left, &right);
        assert_eq!(agg.finish(&left), agg.finish(&whole));
        let json = serde_json::to_string(&left).unwrap();
        let back: EngagementAcc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, left);
    }
}
