//! Engagement of a channel per window: messages, exact unique, new and returning chatters, emotes,
//! bits, subs, gifts, raids, moderation and sentiment, as an [`Aggregate`] over each record's
//! [`Contribution`], whose accumulator serializes and merges. Which tokens count as emotes is
//! [`crate::analysis::contribution`]'s rule; a window adds the chatter threshold for emote-shaped ones.

use serde::{Deserialize, Serialize};

use crate::analysis::chatter_hash::chatter_hash_bytes;
use crate::analysis::term_counter::{sorted_map, TermCounter, TermStat};
use crate::analysis::{Contribution, ShortMap, TermKind, DEFAULT_MAX_TERMS, EMOTE_MIN_CHATTERS};
use crate::window::Aggregate;

/// Emotes reported per window.
pub const TOP_EMOTES: usize = 5;

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
    /// Whether a result lists its chatters' login hashes ([`EngagementMetrics::chatter_hashes`]),
    /// for first-seen chatters; off by default, so other topologies pay nothing.
    pub hash_chatters: bool,
}

impl Default for Engagement {
    fn default() -> Self {
        Engagement {
            max_terms: DEFAULT_MAX_TERMS,
            top_emotes: TOP_EMOTES,
            hash_chatters: false,
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
    /// The chatters as [`chatter_hash`](crate::analysis::chatter_hash)es, in no particular order, when the
    /// aggregate hashes chatters ([`Engagement::hash_chatters`]); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chatter_hashes: Vec<u64>,
}

impl Aggregate for Engagement {
    type Input = Contribution;
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

    fn add(&self, acc: &mut EngagementAcc, input: &Contribution) {
        match input {
            Contribution::Message(m) => {
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
            Contribution::Sub => acc.subs += 1,
            Contribution::Resub => acc.resubs += 1,
            Contribution::Gifts { gifts, bombs } => {
                acc.gifted_subs += u64::from(*gifts);
                acc.gift_bombs += u64::from(*bombs);
            }
            Contribution::Raid { viewers } => {
                acc.raids += 1;
                acc.raid_viewers += u64::from(*viewers);
            }
            Contribution::Timeout => acc.timeouts += 1,
            Contribution::Ban => acc.bans += 1,
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
            chatter_hashes: if self.hash_chatters {
                acc.chatters
                    .keys()
                    .map(|login| chatter_hash_bytes(login.as_bytes()))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::EmoteUse;
    use crate::chat::gifts::{GiftCounter, GiftTally};
    use crate::chat::ChatEvent;

    fn input(line: &str) -> Contribution {
        let e = ChatEvent::parse(line).unwrap();
        let tally = GiftCounter::default().count(&e);
        Contribution::from_event(&e, tally).unwrap()
    }

    fn msg(user: &str, text: &str) -> Contribution {
        input(&format!(
            ":{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #c :{text}"
        ))
    }

    fn run(inputs: &[Contribution]) -> EngagementMetrics {
        let agg = Engagement::default();
        let mut acc = agg.init();
        for i in inputs {
            agg.add(&mut acc, i);
        }
        agg.finish(&acc)
    }

    #[test]
    fn twitch_known_and_shaped_emotes_are_counted_by_their_rules() {
        // Kappa from the emotes tag (real id 25), KEKW from the lexicon, widepeepoBlanket is shaped
        // and only becomes an emote with a third distinct chatter.
        let tagged =
            input("@emotes=25:0-4,6-10 :a!a@a PRIVMSG #c :Kappa Kappa KEKW widepeepoBlanket");
        let Contribution::Message(m) = &tagged else {
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
        assert_eq!(Contribution::from_event(&e, GiftTally::default()), None);
        let gift = "@msg-id=subgift;login=g;msg-param-recipient-user-name=r;msg-param-community-gift-id=X \
                    :tmi.twitch.tv USERNOTICE #c";
        let e = ChatEvent::parse(gift).unwrap();
        assert_eq!(Contribution::from_event(&e, GiftTally::default()), None);
        assert_eq!(
            Contribution::from_event(&ChatEvent::parse("PING :x").unwrap(), GiftTally::default()),
            None
        );
    }

    #[test]
    fn merge_equals_adding_everything_to_one_accumulator() {
        let inputs: Vec<Contribution> = (0..40)
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
