//! The kinds of alert, as the `kind` field of `twitch.alerts` writes them: what fired.

/// The kinds of alert, as the `kind` field writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Viewers fell by at least the rule's percentage within its span.
    ViewersDrop,
    /// Viewers rose by at least the rule's percentage within its span.
    ViewersRise,
    /// Followers gained in an hour reached a multiple of the channel's usual.
    FollowerSurge,
    /// A chat spike.
    ChatSpike,
    /// A gift bomb of at least the rule's size.
    GiftBomb,
    /// A raid of at least the rule's viewers.
    Raid,
    /// A stream went live.
    StreamStart,
    /// A stream ended (with its session's summary).
    StreamEnd,
}

impl AlertKind {
    /// The `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::ViewersDrop => "viewers_drop",
            AlertKind::ViewersRise => "viewers_rise",
            AlertKind::FollowerSurge => "follower_surge",
            AlertKind::ChatSpike => "chat_spike",
            AlertKind::GiftBomb => "gift_bomb",
            AlertKind::Raid => "raid",
            AlertKind::StreamStart => "stream_start",
            AlertKind::StreamEnd => "stream_end",
        }
    }
}
