//! Subscriptions: one [`SubscriptionEvent`] per sub, resub, gifted sub, gift bomb or upgrade notice,
//! with tier, months, gifter and recipient, and [`SubTrend`], an [`Aggregate`] of the subscription
//! mix per window that counts every gifted sub once.

use serde::{Deserialize, Serialize};

use crate::analysis::{TermCounter, TermKind};
use crate::chat::event::{ChatEvent, EventKind, NoticeKind, SubPlan};
use crate::chat::gifts::GiftTally;
use crate::detect::spike::Spike;
use crate::window::Aggregate;

/// The kinds of subscription notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubKind {
    /// A first subscription.
    Sub,
    /// A renewed subscription.
    Resub,
    /// One gifted sub.
    SubGift,
    /// A gift bomb: several subs gifted at once.
    SubMysteryGift,
    /// A gifted sub continued as a paid one.
    GiftPaidUpgrade,
    /// A Prime sub converted to a paid tier.
    PrimePaidUpgrade,
    /// An anonymously gifted sub continued as a paid one.
    AnonGiftPaidUpgrade,
}

impl SubKind {
    /// Twitch's msg-id for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            SubKind::Sub => "sub",
            SubKind::Resub => "resub",
            SubKind::SubGift => "subgift",
            SubKind::SubMysteryGift => "submysterygift",
            SubKind::GiftPaidUpgrade => "giftpaidupgrade",
            SubKind::PrimePaidUpgrade => "primepaidupgrade",
            SubKind::AnonGiftPaidUpgrade => "anongiftpaidupgrade",
        }
    }

    /// True for the upgrade kinds.
    pub fn is_upgrade(self) -> bool {
        matches!(
            self,
            SubKind::GiftPaidUpgrade | SubKind::PrimePaidUpgrade | SubKind::AnonGiftPaidUpgrade
        )
    }
}

/// One subscription notice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionEvent {
    /// The channel.
    pub channel: String,
    /// Event time in epoch milliseconds, when the line carried one.
    pub ts_ms: Option<i64>,
    /// What happened.
    pub kind: SubKind,
    /// The plan (Prime, tier 1, 2 or 3), when the notice names it.
    pub tier: Option<SubPlan>,
    /// Cumulative months for subs and resubs; months gifted at once for gifts.
    pub months: Option<u32>,
    /// Who paid for a gift (the original gifter for a gift upgrade); `None` when anonymous or not a gift.
    pub gifter: Option<String>,
    /// Who holds the sub: the subscriber, or the recipient of one gifted sub; `None` for a gift bomb
    /// (its recipients come in the `subgift` lines that follow).
    pub recipient: Option<String>,
    /// Subs this notice is about: 1, or N for a gift bomb of N.
    pub gift_count: u32,
    /// Gifted subs this notice adds to the total, counted once by the caller's `GiftCounter` (a gift
    /// bomb adds N and its N `subgift` lines add 0).
    pub counted_gifts: u32,
    /// The gifter stayed anonymous.
    pub anonymous: bool,
}

impl SubscriptionEvent {
    /// The subscription notice in `event`, with `gifts` what the caller's `GiftCounter` returned for
    /// it; `None` for other events and for Shared Chat copies (they count in their source channel).
    pub fn from_event(event: &ChatEvent<'_>, gifts: GiftTally) -> Option<SubscriptionEvent> {
        let EventKind::UserNotice(n) = &event.kind else {
            return None;
        };
        if event.is_shared_copy() {
            return None;
        }
        let login = Some(n.user.login)
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        let mut s = SubscriptionEvent {
            channel: event.channel.to_owned(),
            ts_ms: event.ts_ms,
            kind: SubKind::Sub,
            tier: None,
            months: None,
            gifter: None,
            recipient: None,
            gift_count: 1,
            counted_gifts: gifts.gifts,
            anonymous: false,
        };
        match &n.notice {
            NoticeKind::Sub(sub) | NoticeKind::Resub(sub) => {
                s.kind = if matches!(n.notice, NoticeKind::Sub(_)) {
                    SubKind::Sub
                } else {
                    SubKind::Resub
                };
                s.tier = sub.plan;
                s.months = sub.cumulative_months;
                s.recipient = login;
            }
            NoticeKind::SubGift(g) => {
                s.kind = SubKind::SubGift;
                s.tier = g.plan;
                s.months = Some(g.gift_months);
                s.anonymous = g.anonymous;
                s.gifter = login.filter(|_| !g.anonymous);
                s.recipient = Some(g.recipient_login.to_owned());
            }
            NoticeKind::SubMysteryGift(m) => {
                s.kind = SubKind::SubMysteryGift;
                s.tier = m.plan;
                s.anonymous = m.anonymous;
                s.gifter = login.filter(|_| !m.anonymous);
                s.gift_count = m.count;
            }
            NoticeKind::GiftPaidUpgrade { gifter_login } => {
                s.kind = SubKind::GiftPaidUpgrade;
                s.gifter = gifter_login.map(str::to_owned);
                s.recipient = login;
            }
            NoticeKind::AnonGiftPaidUpgrade => {
                s.kind = SubKind::AnonGiftPaidUpgrade;
                s.anonymous = true;
                s.recipient = login;
            }
            NoticeKind::PrimePaidUpgrade { plan } => {
                s.kind = SubKind::PrimePaidUpgrade;
                s.tier = *plan;
                s.recipient = login;
            }
            _ => return None,
        }
        Some(s)
    }
}

/// The chat spike (by its interval `[onset_ms, end_ms]`) a subscription at `ts_ms` falls in, to link
/// sub bursts to the moment that drove them.
pub fn spike_containing(ts_ms: i64, spikes: &[Spike]) -> Option<&Spike> {
    spikes
        .iter()
        .find(|s| s.onset_ms <= ts_ms && ts_ms <= s.end_ms)
}

/// Subscriptions per window; `max_gifters` bounds the gifters tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubTrend {
    /// Distinct gifters tracked per window.
    pub max_gifters: usize,
}

impl Default for SubTrend {
    fn default() -> Self {
        SubTrend { max_gifters: 64 }
    }
}

/// Subs by plan: subs and resubs by their own plan, gifted subs by the gifted plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierMix {
    /// Prime subs.
    pub prime: u64,
    /// Tier 1.
    pub tier1: u64,
    /// Tier 2.
    pub tier2: u64,
    /// Tier 3.
    pub tier3: u64,
    /// Plan not stated.
    pub unknown: u64,
}

impl TierMix {
    fn add(&mut self, plan: Option<SubPlan>, n: u64) {
        let slot = match plan {
            Some(SubPlan::Prime) => &mut self.prime,
            Some(SubPlan::Tier1) => &mut self.tier1,
            Some(SubPlan::Tier2) => &mut self.tier2,
            Some(SubPlan::Tier3) => &mut self.tier3,
            None => &mut self.unknown,
        };
        *slot += n;
    }

    fn merge(&mut self, o: &TierMix) {
        self.prime += o.prime;
        self.tier1 += o.tier1;
        self.tier2 += o.tier2;
        self.tier3 += o.tier3;
        self.unknown += o.unknown;
    }
}

/// The running state of [`SubTrend`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubTrendAcc {
    /// First subscriptions.
    pub subs: u64,
    /// Renewed subscriptions.
    pub resubs: u64,
    /// Gifted subs, counted once.
    pub gifted_subs: u64,
    /// Gift bombs.
    pub gift_bombs: u64,
    /// Upgrades (gift or Prime to paid).
    pub upgrades: u64,
    /// Subs by plan.
    pub tiers: TierMix,
    /// Subs and resubs whose plan is Prime.
    pub prime_subs: u64,
    /// Gifted subs per gifter (bounded).
    pub gifters: TermCounter,
}

/// Subscriptions of one channel in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubTrendMetrics {
    /// First subscriptions.
    pub subs: u64,
    /// Renewed subscriptions.
    pub resubs: u64,
    /// Gifted subs, each counted once.
    pub gifted_subs: u64,
    /// Gift bombs.
    pub gift_bombs: u64,
    /// Upgrades (gift or Prime to paid).
    pub upgrades: u64,
    /// Subs + resubs + gifted subs.
    pub total: u64,
    /// Share of subs and resubs paid with Prime, 0 to 1; `None` without subs or resubs.
    pub prime_share: Option<f64>,
    /// Subs by plan.
    pub tiers: TierMix,
    /// The gifters who gifted most, with their gifted subs.
    pub top_gifters: Vec<(String, u64)>,
}

impl Aggregate for SubTrend {
    type Input = SubscriptionEvent;
    type Acc = SubTrendAcc;
    type Output = SubTrendMetrics;

    fn init(&self) -> SubTrendAcc {
        SubTrendAcc {
            subs: 0,
            resubs: 0,
            gifted_subs: 0,
            gift_bombs: 0,
            upgrades: 0,
            tiers: TierMix::default(),
            prime_subs: 0,
            gifters: TermCounter::new(self.max_gifters),
        }
    }

    fn add(&self, acc: &mut SubTrendAcc, e: &SubscriptionEvent) {
        match e.kind {
            SubKind::Sub | SubKind::Resub => {
                if e.kind == SubKind::Sub {
                    acc.subs += 1;
                } else {
                    acc.resubs += 1;
                }
                acc.tiers.add(e.tier, 1);
                acc.prime_subs += u64::from(e.tier == Some(SubPlan::Prime));
            }
            SubKind::SubGift | SubKind::SubMysteryGift => {
                let n = u64::from(e.counted_gifts);
                acc.gifted_subs += n;
                acc.gift_bombs += u64::from(e.kind == SubKind::SubMysteryGift);
                if n > 0 {
                    acc.tiers.add(e.tier, n);
                    let gifter = e.gifter.as_deref().unwrap_or("(anonymous)");
                    acc.gifters.add(gifter, TermKind::Word, 0, n);
                }
            }
            SubKind::GiftPaidUpgrade | SubKind::PrimePaidUpgrade | SubKind::AnonGiftPaidUpgrade => {
                acc.upgrades += 1
            }
        }
    }

    fn merge(&self, into: &mut SubTrendAcc, o: &SubTrendAcc) {
        into.subs += o.subs;
        into.resubs += o.resubs;
        into.gifted_subs += o.gifted_subs;
        into.gift_bombs += o.gift_bombs;
        into.upgrades += o.upgrades;
        into.tiers.merge(&o.tiers);
        into.prime_subs += o.prime_subs;
        into.gifters.merge(&o.gifters);
    }

    fn finish(&self, acc: &SubTrendAcc) -> SubTrendMetrics {
        let paid = acc.subs + acc.resubs;
        SubTrendMetrics {
            subs: acc.subs,
            resubs: acc.resubs,
            gifted_subs: acc.gifted_subs,
            gift_bombs: acc.gift_bombs,
            upgrades: acc.upgrades,
            total: paid + acc.gifted_subs,
            prime_share: (paid > 0).then(|| acc.prime_subs as f64 / paid as f64),
            tiers: acc.tiers,
            top_gifters: acc.gifters.top(5, |_, _| true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::gifts::GiftCounter;

    fn events(lines: &[&str]) -> Vec<SubscriptionEvent> {
        let mut gifts = GiftCounter::default();
        lines
            .iter()
            .filter_map(|l| {
                let e = ChatEvent::parse(l).unwrap();
                let t = gifts.count(&e);
                SubscriptionEvent::from_event(&e, t)
            })
            .collect()
    }

    fn trend(events: &[SubscriptionEvent]) -> SubTrendMetrics {
        let agg = SubTrend::default();
        let mut acc = agg.init();
        for e in events {
            agg.add(&mut acc, e);
        }
        agg.finish(&acc)
    }

    #[test]
    fn reads_every_kind_with_tier_months_gifter_and_recipient() {
        let ev = events(&[
            "@msg-id=sub;login=ann;msg-param-sub-plan=Prime;tmi-sent-ts=5 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=resub;login=bob;msg-param-sub-plan=2000;msg-param-cumulative-months=7 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=submysterygift;login=gus;msg-param-mass-gift-count=2;msg-param-community-gift-id=9;msg-param-sub-plan=1000 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=subgift;login=gus;msg-param-recipient-user-name=r1;msg-param-community-gift-id=9;msg-param-sub-plan=1000 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=subgift;login=gus;msg-param-recipient-user-name=r2;msg-param-community-gift-id=9;msg-param-sub-plan=1000 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=subgift;login=ananonymousgifter;msg-param-recipient-user-name=r3;msg-param-sub-plan=3000 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=giftpaidupgrade;login=r1;msg-param-sender-login=gus :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=anongiftpaidupgrade;login=r3 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=primepaidupgrade;login=ann;msg-param-sub-plan=1000 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=raid;login=x;msg-param-viewerCount=3 :tmi.twitch.tv USERNOTICE #c",
            ":a!a@a PRIVMSG #c :not a sub",
        ]);
        let kinds: Vec<&str> = ev.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "sub",
                "resub",
                "submysterygift",
                "subgift",
                "subgift",
                "subgift",
                "giftpaidupgrade",
                "anongiftpaidupgrade",
                "primepaidupgrade"
            ]
        );
        assert_eq!(
            (ev[0].tier, ev[0].recipient.as_deref(), ev[0].ts_ms),
            (Some(SubPlan::Prime), Some("ann"), Some(5))
        );
        assert_eq!((ev[1].tier, ev[1].months), (Some(SubPlan::Tier2), Some(7)));
        assert_eq!(
            (
                ev[2].gift_count,
                ev[2].counted_gifts,
                ev[2].gifter.as_deref()
            ),
            (2, 2, Some("gus"))
        );
        assert_eq!(
            (ev[3].counted_gifts, ev[3].recipient.as_deref()),
            (0, Some("r1"))
        );
        assert_eq!(
            (
                ev[5].anonymous,
                ev[5].gifter.as_deref(),
                ev[5].counted_gifts
            ),
            (true, None, 1)
        );
        assert_eq!(ev[6].gifter.as_deref(), Some("gus"));
        assert!(ev[7].anonymous && ev[8].kind.is_upgrade());
        assert_eq!(ev[8].tier, Some(SubPlan::Tier1));

        let t = trend(&ev);
        assert_eq!(
            (
                t.subs,
                t.resubs,
                t.gifted_subs,
                t.gift_bombs,
                t.upgrades,
                t.total
            ),
            (1, 1, 3, 1, 3, 5)
        );
        assert_eq!(t.prime_share, Some(0.5));
        assert_eq!(
            t.tiers,
            TierMix {
                prime: 1,
                tier1: 2,
                tier2: 1,
                tier3: 1,
                unknown: 0
            }
        );
        assert_eq!(
            t.top_gifters,
            vec![("gus".to_owned(), 2), ("(anonymous)".to_owned(), 1)]
        );
    }

    #[test]
    fn merge_equals_one_accumulator() {
        let ev = events(&[
            "@msg-id=sub;login=a;msg-param-sub-plan=Prime :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=resub;login=b;msg-param-sub-plan=1000 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=submysterygift;login=g;msg-param-mass-gift-count=4 :tmi.twitch.tv USERNOTICE #c",
            "@msg-id=subgift;login=h;msg-param-recipient-user-name=r :tmi.twitch.tv USERNOTICE #c",
        ]);
        let agg = SubTrend::default();
        let (mut a, mut b) = (agg.init(), agg.init());
        agg.add(&mut a, &ev[0]);
        agg.add(&mut a, &ev[2]);
        agg.add(&mut b, &ev[1]);
        agg.add(&mut b, &ev[3]);
        agg.merge(&mut a, &b);
        assert_eq!(agg.finish(&a), trend(&ev));
        assert_eq!(trend(&[]).prime_share, None);
    }
}
