//! The typed Twitch chat model: what one line of chat means (a message, a sub, a gift, a raid, a ban...).
//! Events borrow from the line they were parsed from; text that Twitch escapes in tags is unescaped
//! lazily into `Cow`. Build one with [`ChatEvent::parse`].

use std::borrow::Cow;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::chat::error::{ParseError, ParseErrorKind};
use crate::chat::irc::{unescape, IrcMessage};

/// One chat event: where and when it happened, and what it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatEvent<'a> {
    /// The login of the channel whose chat carried the line (no `#`).
    pub channel: &'a str,
    /// The channel's numeric id (`room-id`), when tagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<&'a str>,
    /// Event time in epoch milliseconds: `tmi-sent-ts`, or the log's own time for imported lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<i64>,
    /// Twitch's unique message id (`id` tag); the same id twice means a duplicate delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// Set when the line belongs to a Shared Chat session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedChat<'a>>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind<'a>,
}

/// Shared Chat origin: several channels' chats merged, each line copied into every channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedChat<'a> {
    /// The channel id the line was first sent in (`source-room-id`).
    pub source_room_id: &'a str,
    /// The message id in the source channel (`source-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<&'a str>,
    /// The sender's badges in the source channel (`source-badges`).
    pub source_badges: Badges<'a>,
    /// True when this line is a copy shown in another channel (source room differs from room).
    pub is_copy: bool,
}

/// The kinds of chat event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind<'a> {
    /// A chat message (PRIVMSG).
    Message(Message<'a>),
    /// A USERNOTICE: subs, gifts, raids, announcements, milestones.
    UserNotice(UserNotice<'a>),
    /// A ban, a timeout, or a clear of the whole chat (CLEARCHAT).
    ClearChat(ClearChat<'a>),
    /// One message deleted by a moderator (CLEARMSG).
    ClearMsg(ClearMsg<'a>),
    /// Chat settings of the room (ROOMSTATE).
    RoomState(RoomState),
    /// A server notice to the room (NOTICE).
    Notice(Notice<'a>),
    /// The server asks the client to reconnect (RECONNECT).
    Reconnect,
    /// A keep-alive the client must answer with PONG.
    Ping {
        /// The token to echo back.
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
    },
    /// A valid IRC line without chat meaning (JOIN, PART, numerics, CAP, USERSTATE...).
    Other {
        /// The IRC command.
        command: &'a str,
    },
}

/// The sender of a message or notice.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct User<'a> {
    /// Numeric user id (`user-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// Login name (lower case).
    pub login: &'a str,
    /// Display name, which may differ from the login (case, localized names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Cow<'a, str>>,
    /// Badges shown next to the name, `name/version`.
    pub badges: Badges<'a>,
    /// Subscription months from `badge-info=subscriber/N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_months: Option<u32>,
    /// Moderator in this channel.
    pub is_mod: bool,
    /// VIP in this channel.
    pub is_vip: bool,
    /// Subscriber of this channel.
    pub is_subscriber: bool,
    /// The channel owner.
    pub is_broadcaster: bool,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message<'a> {
    /// Who sent it.
    pub user: User<'a>,
    /// The text, without the `/me` ACTION framing.
    pub text: &'a str,
    /// A `/me` message.
    pub is_action: bool,
    /// Bits cheered with the message.
    pub bits: u32,
    /// Twitch emotes with their character positions in `text`.
    pub emotes: Emotes<'a>,
    /// The message this one replies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply<'a>>,
    /// The sender's first message ever in this channel.
    pub first_msg: bool,
    /// The sender is a returning chatter.
    pub returning_chatter: bool,
    /// A channel-points reward redeemed with this message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_reward_id: Option<&'a str>,
    /// A "highlight my message" redemption.
    pub highlighted: bool,
}

/// The parent of a reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply<'a> {
    /// Id of the message replied to.
    pub parent_msg_id: &'a str,
    /// Login of its author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_user_login: Option<&'a str>,
    /// Its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_body: Option<Cow<'a, str>>,
    /// Id of the first message of the thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_parent_msg_id: Option<&'a str>,
}

/// A USERNOTICE.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserNotice<'a> {
    /// Twitch's `msg-id` as sent (`sharedchatnotice` for Shared Chat copies).
    pub msg_id: &'a str,
    /// The user the notice is about (subscriber, gifter, raider).
    pub user: User<'a>,
    /// The message the user attached, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    /// Twitch's own sentence for the event (`system-msg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_msg: Option<Cow<'a, str>>,
    /// What kind of notice, with its parameters.
    pub notice: NoticeKind<'a>,
}

/// The kinds of USERNOTICE.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NoticeKind<'a> {
    /// A first subscription.
    Sub(Sub<'a>),
    /// A renewed subscription.
    Resub(Sub<'a>),
    /// One gifted sub. Part of a gift bomb when `community_gift_id` is set.
    SubGift(SubGift<'a>),
    /// A gift bomb: `count` subs gifted at once; `count` SubGift lines follow with the same id.
    SubMysteryGift(MysteryGift<'a>),
    /// A gifted sub continued as a paid one.
    GiftPaidUpgrade {
        /// Who gifted the original sub.
        #[serde(skip_serializing_if = "Option::is_none")]
        gifter_login: Option<&'a str>,
    },
    /// An anonymously gifted sub continued as a paid one.
    AnonGiftPaidUpgrade,
    /// A Prime sub converted to a paid tier.
    PrimePaidUpgrade {
        /// The new plan.
        #[serde(skip_serializing_if = "Option::is_none")]
        plan: Option<SubPlan>,
    },
    /// Another channel raided this one.
    Raid {
        /// The raiding channel's login.
        from_login: &'a str,
        /// Viewers that came with the raid (`msg-param-viewerCount`).
        viewers: u32,
    },
    /// A raid was cancelled.
    Unraid,
    /// A highlighted announcement by a moderator.
    Announcement {
        /// Its color (PRIMARY, BLUE, ...).
        #[serde(skip_serializing_if = "Option::is_none")]
        color: Option<&'a str>,
    },
    /// A user reached a new bits badge tier.
    BitsBadgeTier {
        /// The tier threshold in bits.
        threshold: u32,
    },
    /// A viewer milestone such as a watch streak.
    ViewerMilestone {
        /// The milestone category (`watch-streak`).
        #[serde(skip_serializing_if = "Option::is_none")]
        category: Option<&'a str>,
        /// Its value (for example 10 streams).
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<u32>,
    },
    /// Any other msg-id, passed through with all its tags.
    Other {
        /// The msg-id.
        msg_id: &'a str,
        /// Every tag of the line, unescaped.
        tags: Vec<(&'a str, Cow<'a, str>)>,
    },
}

/// A subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SubPlan {
    /// Twitch Prime (free with Amazon Prime), worth a tier-1 sub to the channel.
    Prime,
    /// Tier 1 (`1000`).
    Tier1,
    /// Tier 2 (`2000`).
    Tier2,
    /// Tier 3 (`3000`).
    Tier3,
}

impl SubPlan {
    /// Reads Twitch's `msg-param-sub-plan` value.
    pub fn parse(value: &str) -> Option<SubPlan> {
        match value {
            "Prime" | "prime" => Some(SubPlan::Prime),
            "1000" => Some(SubPlan::Tier1),
            "2000" => Some(SubPlan::Tier2),
            "3000" => Some(SubPlan::Tier3),
            _ => None,
        }
    }

    /// The value Twitch sends for this plan.
    pub fn as_twitch_str(self) -> &'static str {
        match self {
            SubPlan::Prime => "Prime",
            SubPlan::Tier1 => "1000",
            SubPlan::Tier2 => "2000",
            SubPlan::Tier3 => "3000",
        }
    }
}

/// A sub or resub.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sub<'a> {
    /// The plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<SubPlan>,
    /// The channel's name for the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_name: Option<Cow<'a, str>>,
    /// Total months subscribed (`msg-param-cumulative-months`, else `msg-param-months`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cumulative_months: Option<u32>,
    /// Consecutive months, when the user shares the streak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streak_months: Option<u32>,
    /// Months bought at once (multi-month subs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multimonth_duration: Option<u32>,
    /// The sub was a gift being continued.
    pub was_gifted: bool,
}

/// One gifted sub.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubGift<'a> {
    /// The plan gifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<SubPlan>,
    /// The channel's name for the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_name: Option<Cow<'a, str>>,
    /// The recipient's login.
    pub recipient_login: &'a str,
    /// The recipient's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<&'a str>,
    /// The recipient's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_display_name: Option<Cow<'a, str>>,
    /// Months gifted in this one gift (multi-month gifts; 1 otherwise).
    pub gift_months: u32,
    /// The gifter's total gifts in the channel, when shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_count: Option<u32>,
    /// Links this gift to its gift bomb (`msg-param-community-gift-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_gift_id: Option<&'a str>,
    /// The gifter chose to stay anonymous.
    pub anonymous: bool,
}

/// A gift bomb announcement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MysteryGift<'a> {
    /// The plan gifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<SubPlan>,
    /// How many subs (`msg-param-mass-gift-count`).
    pub count: u32,
    /// The gifter's total gifts in the channel, when shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_count: Option<u32>,
    /// The id the individual SubGift lines carry (`msg-param-community-gift-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_gift_id: Option<&'a str>,
    /// The gifter chose to stay anonymous.
    pub anonymous: bool,
}

/// CLEARCHAT: a ban, a timeout or a clear.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ClearChat<'a> {
    /// A permanent ban.
    Ban {
        /// Who was banned.
        login: &'a str,
        /// Their id.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<&'a str>,
    },
    /// A timeout.
    Timeout {
        /// Who was timed out.
        login: &'a str,
        /// Their id.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<&'a str>,
        /// For how long.
        duration_s: u32,
    },
    /// The whole chat was cleared.
    Clear,
}

/// CLEARMSG: one message deleted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClearMsg<'a> {
    /// The author of the deleted message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<&'a str>,
    /// Its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_msg_id: Option<&'a str>,
    /// Its text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
}

/// ROOMSTATE: chat settings; only the settings the line names are set.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RoomState {
    /// Emote-only mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emote_only: Option<bool>,
    /// Followers-only: minutes of following required, -1 when off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followers_only: Option<i32>,
    /// Unique-chat (r9k) mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r9k: Option<bool>,
    /// Slow mode, seconds between messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_s: Option<u32>,
    /// Subscribers-only mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subs_only: Option<bool>,
}

/// NOTICE from the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice<'a> {
    /// Its `msg-id` (for example `emote_only_on`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<&'a str>,
    /// Its text.
    pub text: &'a str,
}

/// The `badges` tag: `name/version` pairs separated by commas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Badges<'a>(pub &'a str);

impl<'a> Badges<'a> {
    /// Iterates `(name, version)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        // Same as `split(',')`, skipping empty items, then `split_once('/')`, in one byte scan
        // (the strings are short; `str::split` pays a `memchr` call per item).
        let mut rest = self.0;
        std::iter::from_fn(move || loop {
            let bytes = rest.as_bytes();
            if bytes.is_empty() {
                return None;
            }
            let mut end = 0;
            let mut slash = None;
            while end < bytes.len() && bytes[end] != b',' {
                if bytes[end] == b'/' && slash.is_none() {
                    slash = Some(end);
                }
                end += 1;
            }
            let item = &rest[..end];
            rest = if end < bytes.len() {
                &rest[end + 1..]
            } else {
                ""
            };
            if item.is_empty() {
                continue;
            }
            return Some(match slash {
                Some(at) => (&item[..at], &item[at + 1..]),
                None => (item, ""),
            });
        })
    }

    /// The version of badge `name`, if worn.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Whether badge `name` is worn.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl Serialize for Badges<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for (name, version) in self.iter() {
            seq.serialize_element(&BadgeRef { name, version })?;
        }
        seq.end()
    }
}

struct BadgeRef<'a> {
    name: &'a str,
    version: &'a str,
}

impl Serialize for BadgeRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Badge", 2)?;
        s.serialize_field("name", self.name)?;
        s.serialize_field("version", self.version)?;
        s.end()
    }
}

/// One Twitch emote use: its id and its position in the text, in characters, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Emote<'a> {
    /// The emote id.
    pub id: &'a str,
    /// First character.
    pub start: u32,
    /// Last character.
    pub end: u32,
}

/// The `emotes` tag: `id:start-end,start-end/id:start-end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Emotes<'a>(pub &'a str);

impl<'a> Emotes<'a> {
    /// Iterates every use, skipping malformed ranges (Twitch has sent some).
    pub fn iter(&self) -> impl Iterator<Item = Emote<'a>> + 'a {
        self.0
            .split('/')
            .filter_map(|group| group.split_once(':'))
            .flat_map(|(id, ranges)| {
                ranges.split(',').filter_map(move |range| {
                    let (start, end) = range.split_once('-')?;
                    let start = start.parse().ok()?;
                    let end = end.parse().ok()?;
                    (start <= end).then_some(Emote { id, start, end })
                })
            })
    }

    /// How many emotes the message uses.
    pub fn count(&self) -> usize {
        self.iter().count()
    }

    /// The text of each emote use, cut out of `text` by character position; ranges outside the
    /// text are skipped.
    pub fn names<'t>(&self, text: &'t str) -> Vec<(&'a str, &'t str)> {
        let mut out: Vec<(&'a str, &'t str)> = Vec::new();
        // Most messages carry no emote: skip the character offsets entirely.
        if self.0.is_empty() {
            return out;
        }
        let offsets: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .collect();
        for e in self.iter() {
            let (s, end) = (e.start as usize, e.end as usize + 1);
            if end < offsets.len() {
                out.push((e.id, &text[offsets[s]..offsets[end]]));
            }
        }
        out
    }
}

impl Serialize for Emotes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for e in self.iter() {
            seq.serialize_element(&e)?;
        }
        seq.end()
    }
}

/// The tags a chat event reads, gathered in one pass over the tag section.
#[derive(Default)]
struct KnownTags<'a> {
    badge_info: &'a str,
    badges: &'a str,
    bits: Option<&'a str>,
    display_name: Option<&'a str>,
    emotes: &'a str,
    first_msg: bool,
    id: Option<&'a str>,
    login: Option<&'a str>,
    is_mod: bool,
    msg_id: Option<&'a str>,
    returning_chatter: bool,
    room_id: Option<&'a str>,
    subscriber: bool,
    system_msg: Option<&'a str>,
    tmi_sent_ts: Option<&'a str>,
    user_id: Option<&'a str>,
    vip: bool,
    reply_parent_msg_id: Option<&'a str>,
    reply_parent_user_login: Option<&'a str>,
    reply_parent_msg_body: Option<&'a str>,
    reply_thread_parent_msg_id: Option<&'a str>,
    custom_reward_id: Option<&'a str>,
    source_room_id: Option<&'a str>,
    source_id: Option<&'a str>,
    source_badges: &'a str,
    source_msg_id: Option<&'a str>,
    target_user_id: Option<&'a str>,
    target_msg_id: Option<&'a str>,
    ban_duration: Option<&'a str>,
}

impl<'a> KnownTags<'a> {
    fn read(msg: &IrcMessage<'a>) -> Self {
        let mut t = KnownTags::default();
        for (key, value) in msg.tags() {
            // Duplicate keys: the first occurrence wins, as in `IrcMessage::tag`.
            match key {
                "badge-info" => set_str(&mut t.badge_info, value),
                "badges" => set_str(&mut t.badges, value),
                "bits" => set_opt(&mut t.bits, value),
                "display-name" => set_opt(&mut t.display_name, value),
                "emotes" => set_str(&mut t.emotes, value),
                "first-msg" => t.first_msg = value == "1",
                "id" => set_opt(&mut t.id, value),
                "login" => set_opt(&mut t.login, value),
                "mod" => t.is_mod = value == "1",
                "msg-id" => set_opt(&mut t.msg_id, value),
                "returning-chatter" => t.returning_chatter = value == "1",
                "room-id" => set_opt(&mut t.room_id, value),
                "subscriber" => t.subscriber = value == "1",
                "system-msg" => set_opt(&mut t.system_msg, value),
                "tmi-sent-ts" => set_opt(&mut t.tmi_sent_ts, value),
                "user-id" => set_opt(&mut t.user_id, value),
                "vip" => t.vip = value == "1",
                "reply-parent-msg-id" => set_opt(&mut t.reply_parent_msg_id, value),
                "reply-parent-user-login" => set_opt(&mut t.reply_parent_user_login, value),
                "reply-parent-msg-body" => set_opt(&mut t.reply_parent_msg_body, value),
                "reply-thread-parent-msg-id" => set_opt(&mut t.reply_thread_parent_msg_id, value),
                "custom-reward-id" => set_opt(&mut t.custom_reward_id, value),
                "source-room-id" => set_opt(&mut t.source_room_id, value),
                "source-id" => set_opt(&mut t.source_id, value),
                "source-badges" => set_str(&mut t.source_badges, value),
                "source-msg-id" => set_opt(&mut t.source_msg_id, value),
                "target-user-id" => set_opt(&mut t.target_user_id, value),
                "target-msg-id" => set_opt(&mut t.target_msg_id, value),
                "ban-duration" => set_opt(&mut t.ban_duration, value),
                _ => {}
            }
        }
        t
    }

    fn user(&self, login: &'a str) -> User<'a> {
        let badges = Badges(self.badges);
        let sub_months = Badges(self.badge_info)
            .get("subscriber")
            .and_then(|v| v.parse().ok());
        // One pass over the badges instead of one `has` per role.
        let (mut moderator, mut vip, mut subscriber, mut broadcaster) =
            (false, false, false, false);
        for (name, _) in badges.iter() {
            match name {
                "moderator" => moderator = true,
                "vip" => vip = true,
                "subscriber" | "founder" => subscriber = true,
                "broadcaster" => broadcaster = true,
                _ => {}
            }
        }
        User {
            id: self.user_id,
            login,
            display_name: self.display_name.filter(|s| !s.is_empty()).map(unescape),
            badges,
            sub_months,
            is_mod: self.is_mod || moderator,
            is_vip: self.vip || vip,
            is_subscriber: self.subscriber || subscriber,
            is_broadcaster: broadcaster,
        }
    }
}

fn set_opt<'a>(slot: &mut Option<&'a str>, value: &'a str) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn set_str<'a>(slot: &mut &'a str, value: &'a str) {
    if slot.is_empty() {
        *slot = value;
    }
}

fn number<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ParseError> {
    value.parse().map_err(|_| {
        ParseError::with_detail(ParseErrorKind::InvalidNumber, format!("{field}={value}"))
    })
}

fn opt_number<T: std::str::FromStr>(
    field: &str,
    value: Option<&str>,
) -> Result<Option<T>, ParseError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => number(field, v).map(Some),
    }
}

/// The channel named by `first`, the first parameter of a `command` line.
fn channel_of<'a>(first: Option<&'a str>, command: &str) -> Result<&'a str, ParseError> {
    match first {
        Some(p) if p.len() > 1 && p.starts_with('#') => Ok(&p[1..]),
        _ => Err(ParseError::with_detail(
            ParseErrorKind::MissingChannel,
            command,
        )),
    }
}

impl<'a> ChatEvent<'a> {
    /// Parses one raw IRC line into a typed event.
    pub fn parse(line: &'a str) -> Result<ChatEvent<'a>, ParseError> {
        let msg = IrcMessage::parse(line)?;
        ChatEvent::from_irc(&msg)
    }

    /// Interprets an already split IRC line.
    pub fn from_irc(msg: &IrcMessage<'a>) -> Result<ChatEvent<'a>, ParseError> {
        let command = msg.command();
        // Lines without chat meaning still carry their time (a replayed or logged line has it), so
        // they move event time forward like any other record; an unreadable time is ignored here.
        let no_channel = |kind| ChatEvent {
            channel: "",
            room_id: None,
            ts_ms: msg.raw_tag("tmi-sent-ts").and_then(|t| t.parse().ok()),
            id: None,
            shared: None,
            kind,
        };
        match command {
            "PING" => {
                return Ok(no_channel(EventKind::Ping {
                    token: msg.param(0),
                }))
            }
            "RECONNECT" => return Ok(no_channel(EventKind::Reconnect)),
            "PRIVMSG" | "USERNOTICE" | "CLEARCHAT" | "CLEARMSG" | "ROOMSTATE" | "NOTICE" => {}
            _ => {
                let mut event = no_channel(EventKind::Other { command });
                if let Some(p) = msg.param(0).and_then(|p| p.strip_prefix('#')) {
                    event.channel = p;
                }
                return Ok(event);
            }
        }
        let tags = KnownTags::read(msg);
        let ts_ms = opt_number::<i64>("tmi-sent-ts", tags.tmi_sent_ts).map_err(|e| {
            ParseError::with_detail(ParseErrorKind::InvalidTimestamp, e.detail().unwrap_or(""))
        })?;
        let (first, second) = msg.first_params();
        let channel = if command == "NOTICE" && first == Some("*") {
            ""
        } else {
            channel_of(first, command)?
        };
        let shared = tags.source_room_id.map(|source_room_id| SharedChat {
            source_room_id,
            source_id: tags.source_id,
            source_badges: Badges(tags.source_badges),
            is_copy: tags.room_id.is_some_and(|room| room != source_room_id)
                || tags.msg_id == Some("sharedchatnotice"),
        });
        let kind = match command {
            "PRIVMSG" => EventKind::Message(Self::message(msg, &tags, second)?),
            "USERNOTICE" => EventKind::UserNotice(Self::user_notice(msg, &tags)?),
            "CLEARCHAT" => EventKind::ClearChat(Self::clear_chat(msg, &tags)?),
            "CLEARMSG" => EventKind::ClearMsg(ClearMsg {
                login: tags.login,
                target_msg_id: tags.target_msg_id,
                text: msg.param(1),
            }),
            "ROOMSTATE" => EventKind::RoomState(Self::room_state(msg)?),
            _ => EventKind::Notice(Notice {
                msg_id: tags.msg_id,
                text: msg.param(1).unwrap_or(""),
            }),
        };
        Ok(ChatEvent {
            channel,
            room_id: tags.room_id,
            ts_ms,
            id: tags.id,
            shared,
            kind,
        })
    }

    /// A PRIVMSG; `text` is its second parameter.
    fn message(
        msg: &IrcMessage<'a>,
        tags: &KnownTags<'a>,
        text: Option<&'a str>,
    ) -> Result<Message<'a>, ParseError> {
        // Twitch's prefix is `login!login@login.tmi.twitch.tv`. When the nick is empty (Chatterino's
        // `no-nick` fixture: `:!nerixyz@nerixyz.tmi.twitch.tv`) the user part still names the sender.
        let login = msg
            .nick()
            .filter(|n| !n.is_empty())
            .or_else(|| {
                let prefix = msg.prefix()?;
                let user = &prefix[prefix.find('!')? + 1..];
                Some(user.split_once('@').map_or(user, |(u, _)| u)).filter(|u| !u.is_empty())
            })
            .ok_or_else(|| ParseError::new(ParseErrorKind::MissingSender))?;
        // A PRIVMSG cut before its text (loggers that read fixed-size buffers produce them) is
        // still a message: an empty one.
        let raw_text = text.unwrap_or("");
        let (text, is_action) = match raw_text
            .strip_prefix("\u{1}ACTION ")
            .map(|t| t.strip_suffix('\u{1}').unwrap_or(t))
        {
            Some(t) => (t, true),
            None => (raw_text, false),
        };
        let bits = opt_number::<u32>("bits", tags.bits)?.unwrap_or(0);
        let reply = tags.reply_parent_msg_id.map(|parent_msg_id| Reply {
            parent_msg_id,
            parent_user_login: tags.reply_parent_user_login,
            parent_body: tags.reply_parent_msg_body.map(unescape),
            thread_parent_msg_id: tags.reply_thread_parent_msg_id,
        });
        Ok(Message {
            user: tags.user(login),
            text,
            is_action,
            bits,
            emotes: Emotes(tags.emotes),
            reply,
            first_msg: tags.first_msg,
            returning_chatter: tags.returning_chatter,
            custom_reward_id: tags.custom_reward_id,
            highlighted: tags.msg_id == Some("highlighted-message"),
        })
    }

    fn user_notice(
        msg: &IrcMessage<'a>,
        tags: &KnownTags<'a>,
    ) -> Result<UserNotice<'a>, ParseError> {
        let msg_id = tags.msg_id.ok_or_else(|| {
            ParseError::with_detail(ParseErrorKind::MissingField, "USERNOTICE has no msg-id")
        })?;
        // A Shared Chat copy names the original kind in `source-msg-id`, with the same parameters.
        let effective = match (msg_id, tags.source_msg_id) {
            ("sharedchatnotice", Some(source)) => source,
            _ => msg_id,
        };
        let login = tags.login.unwrap_or("");
        let p = |key: &str| msg.raw_tag(key);
        let plan = || p("msg-param-sub-plan").and_then(SubPlan::parse);
        let plan_name = || p("msg-param-sub-plan-name").map(unescape);
        let anonymous = login == "ananonymousgifter" || tags.user_id == Some("274598607");
        let notice = match effective {
            "sub" | "resub" => {
                let cumulative = match opt_number(
                    "msg-param-cumulative-months",
                    p("msg-param-cumulative-months"),
                )? {
                    Some(n) => Some(n),
                    None => opt_number::<u32>("msg-param-months", p("msg-param-months"))?
                        .filter(|n| *n > 0),
                };
                let share = p("msg-param-should-share-streak") == Some("1");
                let sub = Sub {
                    plan: plan(),
                    plan_name: plan_name(),
                    cumulative_months: cumulative,
                    streak_months: if share {
                        opt_number("msg-param-streak-months", p("msg-param-streak-months"))?
                    } else {
                        None
                    },
                    multimonth_duration: opt_number::<u32>(
                        "msg-param-multimonth-duration",
                        p("msg-param-multimonth-duration"),
                    )?
                    .filter(|n| *n > 0),
                    was_gifted: p("msg-param-was-gifted") == Some("true"),
                };
                if effective == "sub" {
                    NoticeKind::Sub(sub)
                } else {
                    NoticeKind::Resub(sub)
                }
            }
            "subgift" | "anonsubgift" => NoticeKind::SubGift(SubGift {
                plan: plan(),
                plan_name: plan_name(),
                recipient_login: p("msg-param-recipient-user-name")
                    .or_else(|| p("msg-param-recipient-name"))
                    .ok_or_else(|| {
                        ParseError::with_detail(
                            ParseErrorKind::MissingField,
                            "subgift has no recipient",
                        )
                    })?,
                recipient_id: p("msg-param-recipient-id"),
                recipient_display_name: p("msg-param-recipient-display-name").map(unescape),
                gift_months: opt_number("msg-param-gift-months", p("msg-param-gift-months"))?
                    .filter(|n: &u32| *n > 0)
                    .unwrap_or(1),
                sender_count: opt_number::<u32>(
                    "msg-param-sender-count",
                    p("msg-param-sender-count"),
                )?
                .filter(|n| *n > 0),
                community_gift_id: p("msg-param-community-gift-id"),
                anonymous: anonymous || effective == "anonsubgift",
            }),
            "submysterygift" | "anonsubmysterygift" => NoticeKind::SubMysteryGift(MysteryGift {
                plan: plan(),
                count: opt_number("msg-param-mass-gift-count", p("msg-param-mass-gift-count"))?
                    .unwrap_or(1),
                sender_count: opt_number::<u32>(
                    "msg-param-sender-count",
                    p("msg-param-sender-count"),
                )?
                .filter(|n| *n > 0),
                community_gift_id: p("msg-param-community-gift-id")
                    .or_else(|| p("msg-param-origin-id")),
                anonymous: anonymous || effective == "anonsubmysterygift",
            }),
            "giftpaidupgrade" => NoticeKind::GiftPaidUpgrade {
                gifter_login: p("msg-param-sender-login"),
            },
            "anongiftpaidupgrade" => NoticeKind::AnonGiftPaidUpgrade,
            "primepaidupgrade" => NoticeKind::PrimePaidUpgrade { plan: plan() },
            "raid" => NoticeKind::Raid {
                from_login: p("msg-param-login").unwrap_or(login),
                viewers: opt_number("msg-param-viewerCount", p("msg-param-viewerCount"))?
                    .unwrap_or(0),
            },
            "unraid" => NoticeKind::Unraid,
            "announcement" => NoticeKind::Announcement {
                color: p("msg-param-color"),
            },
            "bitsbadgetier" => NoticeKind::BitsBadgeTier {
                threshold: opt_number("msg-param-threshold", p("msg-param-threshold"))?
                    .unwrap_or(0),
            },
            "viewermilestone" => NoticeKind::ViewerMilestone {
                category: p("msg-param-category"),
                value: opt_number("msg-param-value", p("msg-param-value"))?,
            },
            other => NoticeKind::Other {
                msg_id: other,
                tags: msg.tags().map(|(k, v)| (k, unescape(v))).collect(),
            },
        };
        Ok(UserNotice {
            msg_id,
            user: tags.user(login),
            text: msg.param(1),
            system_msg: tags.system_msg.map(unescape),
            notice,
        })
    }

    fn clear_chat(msg: &IrcMessage<'a>, tags: &KnownTags<'a>) -> Result<ClearChat<'a>, ParseError> {
        Ok(match msg.param(1).filter(|s| !s.is_empty()) {
            None => ClearChat::Clear,
            Some(login) => match opt_number::<u32>("ban-duration", tags.ban_duration)? {
                Some(duration_s) => ClearChat::Timeout {
                    login,
                    user_id: tags.target_user_id,
                    duration_s,
                },
                None => ClearChat::Ban {
                    login,
                    user_id: tags.target_user_id,
                },
            },
        })
    }

    fn room_state(msg: &IrcMessage<'a>) -> Result<RoomState, ParseError> {
        let mut s = RoomState::default();
        for (key, value) in msg.tags() {
            match key {
                "emote-only" => s.emote_only = Some(value == "1"),
                "followers-only" => s.followers_only = Some(number(key, value)?),
                "r9k" => s.r9k = Some(value == "1"),
                "slow" => s.slow_s = Some(number(key, value)?),
                "subs-only" => s.subs_only = Some(value == "1"),
                _ => {}
            }
        }
        Ok(s)
    }

    /// A short stable name for the event's kind: `message`, `sub`, `resub`, `subgift`,
    /// `submysterygift`, `raid`, ..., `ban`, `timeout`, `clearchat`, `clearmsg`, `roomstate`,
    /// `notice`, `reconnect`, `ping`, `other`; unknown USERNOTICEs give their msg-id.
    pub fn kind_name(&self) -> &'a str {
        match &self.kind {
            EventKind::Message(_) => "message",
            EventKind::UserNotice(n) => match &n.notice {
                NoticeKind::Sub(_) => "sub",
                NoticeKind::Resub(_) => "resub",
                NoticeKind::SubGift(_) => "subgift",
                NoticeKind::SubMysteryGift(_) => "submysterygift",
                NoticeKind::GiftPaidUpgrade { .. } => "giftpaidupgrade",
                NoticeKind::AnonGiftPaidUpgrade => "anongiftpaidupgrade",
                NoticeKind::PrimePaidUpgrade { .. } => "primepaidupgrade",
                NoticeKind::Raid { .. } => "raid",
                NoticeKind::Unraid => "unraid",
                NoticeKind::Announcement { .. } => "announcement",
                NoticeKind::BitsBadgeTier { .. } => "bitsbadgetier",
                NoticeKind::ViewerMilestone { .. } => "viewermilestone",
                NoticeKind::Other { msg_id, .. } => msg_id,
            },
            EventKind::ClearChat(ClearChat::Ban { .. }) => "ban",
            EventKind::ClearChat(ClearChat::Timeout { .. }) => "timeout",
            EventKind::ClearChat(ClearChat::Clear) => "clearchat",
            EventKind::ClearMsg(_) => "clearmsg",
            EventKind::RoomState(_) => "roomstate",
            EventKind::Notice(_) => "notice",
            EventKind::Reconnect => "reconnect",
            EventKind::Ping { .. } => "ping",
            EventKind::Other { .. } => "other",
        }
    }

    /// The channel id this event belongs to for analytics: the Shared Chat source when the line
    /// is a copy, else the room.
    pub fn attributed_room_id(&self) -> Option<&'a str> {
        match &self.shared {
            Some(s) => Some(s.source_room_id),
            None => self.room_id,
        }
    }

    /// True when this line is a Shared Chat copy of a line sent in another channel.
    pub fn is_shared_copy(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.is_copy)
    }

    /// The sender of a message or the subject of a notice.
    pub fn user(&self) -> Option<&User<'a>> {
        match &self.kind {
            EventKind::Message(m) => Some(&m.user),
            EventKind::UserNotice(n) => Some(&n.user),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_scan_matches_split_on_comma_then_slash() {
        fn reference(s: &str) -> Vec<(&str, &str)> {
            s.split(',')
                .filter(|b| !b.is_empty())
                .map(|b| b.split_once('/').unwrap_or((b, "")))
                .collect()
        }
        for s in [
            "",
            ",",
            ",,a,,",
            "/",
            "a/",
            "/1",
            "a/b/c,d",
            "subscriber/36,twitch-recap-2023/1",
            "moderator/1,subscriber/3024,é/ü,😀",
        ] {
            assert_eq!(Badges(s).iter().collect::<Vec<_>>(), reference(s), "{s:?}");
        }
        let b = Badges("founder/0,vip/1");
        assert!(b.has("founder") && b.has("vip") && !b.has("moderator"));
        assert_eq!(b.get("vip"), Some("1"));
    }

    #[test]
    fn user_roles_come_from_flags_or_badges() {
        let line = "@badges=broadcaster/1,founder/0,moderator/1,vip/1;badge-info=subscriber/7 \
                    :a!a@a PRIVMSG #c :hi";
        let e = ChatEvent::parse(line).unwrap();
        let u = e.user().unwrap();
        assert!(u.is_broadcaster && u.is_subscriber && u.is_mod && u.is_vip);
        assert_eq!(u.sub_months, Some(7));
        let e =
            ChatEvent::parse("@badges=;mod=1;subscriber=1;vip=1 :a!a@a PRIVMSG #c :hi").unwrap();
        let u = e.user().unwrap();
        assert!(!u.is_broadcaster && u.is_subscriber && u.is_mod && u.is_vip);
        let e = ChatEvent::parse("@badges=turbo/1 :a!a@a PRIVMSG #c :hi").unwrap();
        let u = e.user().unwrap();
        assert!(!u.is_broadcaster && !u.is_subscriber && !u.is_mod && !u.is_vip);
    }
}
