//! The chat model on real tagged Twitch IRC: the 110 input lines of Chatterino's IrcMessageHandler
//! snapshot tests (`tests/fixtures/`, looked up by snapshot name) and 800 lines of #nymn
//! (`data/sample/`). Every expected value below was read off the line it is checked against.
//! Lines that are not real (derived from a real line by editing tags, or written by hand from
//! Twitch's documentation) say so where they are built.

use std::collections::{BTreeMap, HashSet};

use chatpulse::chat::dedup::DuplicateFilter;
use chatpulse::chat::event::{
    ChatEvent, ClearChat, EventKind, Message, NoticeKind, RoomState, SubPlan, UserNotice,
};
use chatpulse::chat::gifts::{GiftCounter, GiftTally};
use chatpulse::chat::irc::{escape_into, unescape, IrcMessage};
use chatpulse::chat::summary::ParseSummary;
use chatpulse::chat::ParseErrorKind;
use chatpulse::time::civil::parse_timestamp_ms;

const FIXTURES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/irc_event_fixtures.irc.txt"
));
const FIXTURE_INDEX: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/irc_event_fixtures.index.tsv"
));
const NYMN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/sample/nymn-2024-01-06.irc.txt"
));

// ---------------------------------------------------------------------------------------------
// Helpers

/// (snapshot name, line) of every fixture, e.g. ("raid", "@badges=...").
fn fixtures() -> Vec<(&'static str, &'static str)> {
    let lines: Vec<&str> = FIXTURES.lines().collect();
    let mut out = Vec::new();
    for row in FIXTURE_INDEX.lines().skip(1) {
        let (number, file) = row
            .split_once('\t')
            .expect("index rows are `line<TAB>snapshot_file`");
        let number: usize = number.parse().unwrap();
        let name = file
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".json"))
            .unwrap();
        out.push((name, lines[number - 1]));
    }
    out
}

/// The input line of Chatterino's snapshot `name` (`name.json`).
fn fixture(name: &str) -> &'static str {
    fixtures()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture named {name}"))
        .1
}

fn parse(line: &str) -> ChatEvent<'_> {
    ChatEvent::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn parsed(name: &str) -> ChatEvent<'static> {
    parse(fixture(name))
}

fn message<'e, 'a>(e: &'e ChatEvent<'a>) -> &'e Message<'a> {
    match &e.kind {
        EventKind::Message(m) => m,
        other => panic!("not a message: {other:?}"),
    }
}

fn notice<'e, 'a>(e: &'e ChatEvent<'a>) -> &'e UserNotice<'a> {
    match &e.kind {
        EventKind::UserNotice(n) => n,
        other => panic!("not a USERNOTICE: {other:?}"),
    }
}

fn nymn_lines() -> Vec<&'static str> {
    NYMN.lines().collect()
}

fn ms(iso: &str) -> i64 {
    parse_timestamp_ms(iso, 0).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Everything parses

#[test]
fn all_910_real_tagged_lines_parse() {
    let fixtures = fixtures();
    assert_eq!(fixtures.len(), 110);
    assert_eq!(FIXTURES.lines().count(), 110);
    let mut fixture_kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, line) in &fixtures {
        let e = ChatEvent::parse(line).unwrap_or_else(|err| panic!("{name}: {err}"));
        *fixture_kinds.entry(e.kind_name()).or_default() += 1;
        assert!(!e.channel.is_empty(), "{name}");
    }
    // PROVENANCE counts: msg=70, resub=6, subgift=6, announcement=5, clearchat=4, timeout=4, sub=3,
    // clearmsg=2, modiversary=2, sharedchatnotice=2, viewermilestone=2, bitsbadgetier=1, raid=1,
    // socialsharingbadge=1 (109) plus the NOTICE line. The model names a Shared Chat copy by its inner
    // kind, so the two `sharedchatnotice` lines are one more announcement and one more raid.
    let expected = BTreeMap::from([
        ("message", 70),
        ("resub", 6),
        ("subgift", 6),
        ("announcement", 6),
        ("clearchat", 4),
        ("timeout", 4),
        ("sub", 3),
        ("clearmsg", 2),
        ("modiversary", 2),
        ("viewermilestone", 2),
        ("raid", 2),
        ("bitsbadgetier", 1),
        ("socialsharingbadge", 1),
        ("notice", 1),
    ]);
    assert_eq!(fixture_kinds, expected);

    let lines = nymn_lines();
    assert_eq!(lines.len(), 800);
    let mut summary = ParseSummary::new();
    let mut with_id = 0;
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for line in &lines {
        let e = ChatEvent::parse(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        summary.event(&e);
        assert_eq!(e.channel, "nymn", "{line}");
        assert_eq!(e.room_id, Some("62300805"), "{line}");
        let ts = e.ts_ms.unwrap_or_else(|| panic!("no tmi-sent-ts: {line}"));
        (min, max) = (min.min(ts), max.max(ts));
        let irc = IrcMessage::parse(line).unwrap();
        assert_eq!(e.id, irc.raw_tag("id"), "{line}");
        assert_eq!(
            e.ts_ms.map(|t| t.to_string()).as_deref(),
            irc.raw_tag("tmi-sent-ts")
        );
        with_id += usize::from(e.id.is_some());
    }
    // PROVENANCE: msg=798, timeout=2; every PRIVMSG has an id, the two CLEARCHATs have none.
    assert_eq!(summary.count("message"), 798);
    assert_eq!(summary.count("timeout"), 2);
    assert_eq!(summary.total_events(), 800);
    assert_eq!(summary.total_errors(), 0);
    assert_eq!(with_id, 798);
    assert_eq!(summary.duplicates, 0);
    // PROVENANCE: first 2024-01-06T16:19:44.095Z, last 2024-01-06T16:27:15.255Z.
    assert_eq!(min, ms("2024-01-06T16:19:44.095Z"));
    assert_eq!(max, ms("2024-01-06T16:27:15.255Z"));
}

// ---------------------------------------------------------------------------------------------
// PRIVMSG

#[test]
fn privmsg_plain_user_badges_and_time() {
    // simple: @badge-info=subscriber/17;badges=subscriber/12,no_audio/1;...;display-name=jammehcow;
    // ...;user-id=82674227 :jammehcow!... PRIVMSG #pajlada :Kappa
    let e = parsed("simple");
    assert_eq!(e.kind_name(), "message");
    assert_eq!(e.channel, "pajlada");
    assert_eq!(e.room_id, Some("11148817"));
    assert_eq!(e.ts_ms, Some(1_662_201_093_248));
    assert_eq!(e.id, Some("9c2dd916-5a6d-4c1f-9fe7-a081b62a9c6b"));
    let m = message(&e);
    assert_eq!(m.text, "Kappa");
    assert_eq!(m.user.id, Some("82674227"));
    assert_eq!(m.user.login, "jammehcow");
    assert_eq!(m.user.display_name.as_deref(), Some("jammehcow"));
    assert_eq!(
        m.user.badges.iter().collect::<Vec<_>>(),
        [("subscriber", "12"), ("no_audio", "1")]
    );
    assert_eq!(
        m.user.sub_months,
        Some(17),
        "from badge-info, not the badge version"
    );
    assert!(m.user.is_subscriber);
    assert!(!m.user.is_mod && !m.user.is_vip && !m.user.is_broadcaster);
    assert!(!m.is_action && !m.first_msg && !m.highlighted);
    assert_eq!(m.bits, 0);
    assert!(m.reply.is_none() && m.custom_reward_id.is_none());
    assert!(e.shared.is_none() && !e.is_shared_copy());
    assert_eq!(e.attributed_room_id(), Some("11148817"));

    // no-tags: only tmi-sent-ts; the sender comes from the prefix.
    let e = parsed("no-tags");
    let m = message(&e);
    assert_eq!(
        (m.user.login, m.user.id, m.user.display_name.as_deref()),
        ("jammehcow", None, None)
    );
    assert_eq!(
        (e.ts_ms, e.id, e.room_id),
        (Some(1_726_764_056_444), None, None)
    );

    // no-nick: `:!nerixyz@nerixyz.tmi.twitch.tv`; the user part of the prefix names the sender.
    let e = parsed("no-nick");
    let m = message(&e);
    assert_eq!(
        (m.user.login, m.user.id, m.text),
        ("nerixyz", Some("129546453"), "no")
    );

    // custom-mod: a display name (Korean) that differs from the login.
    let e = parsed("custom-mod");
    let m = message(&e);
    assert_eq!(m.user.login, "testaccount_420");
    assert_eq!(m.user.display_name.as_deref(), Some("테스트계정420"));
}

#[test]
fn privmsg_action() {
    // action: PRIVMSG #pajlada :\x01ACTION Kappa\x01
    let line = fixture("action");
    assert!(line.ends_with(":\u{1}ACTION Kappa\u{1}"));
    let e = parse(line);
    let m = message(&e);
    assert!(m.is_action);
    assert_eq!(m.text, "Kappa");
    assert_eq!(m.emotes.names(m.text), [("25", "Kappa")]);
    assert!(!message(&parsed("simple")).is_action);
}

#[test]
fn privmsg_bits() {
    // cheer1: bits=5 with `Cheer1 a Cheer1 Cheer1 Cheer1 Cheer1 b c`.
    let e = parsed("cheer1");
    let m = message(&e);
    assert_eq!(m.bits, 5);
    assert_eq!(m.text, "Cheer1 a Cheer1 Cheer1 Cheer1 Cheer1 b c");
    assert_eq!(m.user.login, "slyckity");
    assert_eq!(m.user.badges.get("bits-leader"), Some("3"));
    // cheer3: bits=5 with a single `Cheer100` (Twitch's bits tag, not the text, is the amount).
    assert_eq!(message(&parsed("cheer3")).bits, 5);
    assert_eq!(message(&parsed("cheer3")).text, "Cheer100");
    // cheer4: bits=10, `PogChamp10`.
    let e = parsed("cheer4");
    assert_eq!((message(&e).bits, message(&e).text), (10, "PogChamp10"));
    assert_eq!(message(&parsed("simple")).bits, 0);
}

#[test]
fn privmsg_emotes_by_character_position() {
    // emote: emotes=1902:0-4 on `Keepo`.
    let e = parsed("emote");
    let m = message(&e);
    assert_eq!(m.emotes.count(), 1);
    let first = m.emotes.iter().next().unwrap();
    assert_eq!((first.id, first.start, first.end), ("1902", 0, 4));
    assert_eq!(m.emotes.names(m.text), [("1902", "Keepo")]);

    // emotes: three ids, `25:0-4/1902:6-10/305954156:12-19` on `Kappa Keepo PogChamp`.
    let e = parsed("emotes");
    let m = message(&e);
    assert_eq!(
        m.emotes.names(m.text),
        [
            ("25", "Kappa"),
            ("1902", "Keepo"),
            ("305954156", "PogChamp")
        ]
    );

    // emotes3: `😂Kappa😂 &Kappa a  b` with 25:1-5/25:9-13: the emoji before each Kappa is one
    // character (but four bytes), so only character positions land on the emotes.
    let e = parsed("emotes3");
    let m = message(&e);
    assert_eq!(m.text, "😂Kappa😂 &Kappa a  b");
    let uses: Vec<_> = m.emotes.iter().map(|u| (u.id, u.start, u.end)).collect();
    assert_eq!(uses, [("25", 1, 5), ("25", 9, 13)]);
    assert_eq!(m.emotes.names(m.text), [("25", "Kappa"), ("25", "Kappa")]);

    // emote-emoji: 25:0-4,8-12 on `Kappa 😂 Kappa` (one id, two ranges).
    let e = parsed("emote-emoji");
    let m = message(&e);
    assert_eq!(m.emotes.names(m.text), [("25", "Kappa"), ("25", "Kappa")]);

    // emotes2: positions 10-14, 50-57, 69-73 in a text with two emoji before the last two.
    let e = parsed("emotes2");
    let m = message(&e);
    assert_eq!(
        m.emotes.names(m.text),
        [
            ("25", "Kappa"),
            ("305954156", "PogChamp"),
            ("1902", "Keepo")
        ]
    );

    // Broken emote tags Twitch has sent: no dash, start after end, ranges past the text.
    assert_eq!(message(&parsed("bad-emotes")).emotes.count(), 0, "25:04");
    assert_eq!(message(&parsed("bad-emotes2")).emotes.count(), 0, "25:4-0");
    for name in ["bad-emotes3", "bad-emotes4"] {
        let e = parsed(name);
        let m = message(&e);
        assert_eq!(m.text, "foo bar");
        assert_eq!(
            m.emotes.count(),
            1,
            "{name}: the range itself is well-formed"
        );
        assert!(
            m.emotes.names(m.text).is_empty(),
            "{name}: but lies outside the text"
        );
    }
}

#[test]
fn privmsg_reply_parent() {
    // reply-single: reply-parent-msg-body=a\sKappa\sBTTVEmote\s😂\sb
    let e = parsed("reply-single");
    let m = message(&e);
    assert_eq!(m.text, "@nerixyz c Keepo FFZEmote 😭 d");
    let reply = m.reply.as_ref().unwrap();
    assert_eq!(reply.parent_msg_id, "d95d04a6-5c6a-476a-8dbd-7c6d3b3c277f");
    assert_eq!(reply.parent_user_login, Some("nerixyz"));
    assert_eq!(reply.parent_body.as_deref(), Some("a Kappa BTTVEmote 😂 b"));
    assert_eq!(
        reply.thread_parent_msg_id,
        Some("d95d04a6-5c6a-476a-8dbd-7c6d3b3c277f")
    );
    assert_eq!(m.emotes.names(m.text), [("1902", "Keepo")]);

    // reply-unescape: the parent's display name is `xgspidermonkey\s` (trailing space, kept by
    // the tag reader); the login and body have nothing to unescape.
    let line = fixture("reply-unescape");
    let e = parse(line);
    let m = message(&e);
    assert_eq!(m.text, "@xgspidermonkey  b");
    let reply = m.reply.as_ref().unwrap();
    assert_eq!(reply.parent_msg_id, "241c2a7e-be6e-4132-981b-fc76c5137e3a");
    assert_eq!(reply.parent_user_login, Some("xgspidermonkey"));
    assert_eq!(reply.parent_body.as_deref(), Some("LOL"));
    let irc = IrcMessage::parse(line).unwrap();
    assert_eq!(
        irc.tag("reply-parent-display-name").as_deref(),
        Some("xgspidermonkey ")
    );
    assert_eq!(
        irc.raw_tag("reply-parent-display-name"),
        Some("xgspidermonkey\\s")
    );
    assert!(m.user.is_vip, "brian6932 wears vip/1");

    // reply-child: a reply to a reply, thread parent differs from parent.
    let e = parsed("reply-child");
    let reply = message(&e).reply.clone().unwrap();
    assert_eq!(reply.parent_body.as_deref(), Some("@nerixyz b"));
    assert_eq!(reply.parent_msg_id, "474f19ab-a1b0-410a-877a-5b0e2ae8be6d");
    assert_eq!(
        reply.thread_parent_msg_id,
        Some("72d76cb2-f34d-4a93-8005-61bf244456ee")
    );
    assert!(message(&parsed("simple")).reply.is_none());
}

#[test]
fn privmsg_first_msg() {
    let e = parsed("first-msg");
    let m = message(&e);
    assert!(m.first_msg);
    assert!(!m.returning_chatter);
    assert_eq!((m.user.login, m.text), ("jammehcow", "Kappa"));
    // The same user's `simple` line has first-msg=0.
    assert!(!message(&parsed("simple")).first_msg);
}

#[test]
fn privmsg_mod_vip_broadcaster_flags() {
    // mod: mod=1 and badges=moderator/1,subscriber/24; user-type=mod.
    let e = parsed("mod");
    let m = message(&e);
    assert!(m.user.is_mod && m.user.is_subscriber);
    assert!(!m.user.is_vip && !m.user.is_broadcaster);
    assert_eq!(m.user.sub_months, Some(34));
    assert_eq!(
        m.emotes.names(m.text),
        [("41", "Kreygasm"), ("41", "Kreygasm")]
    );
    // vip: vip=1, badges=vip/1,subscriber/48, badge-info=subscriber/64.
    let e = parsed("vip");
    let m = message(&e);
    assert!(m.user.is_vip && !m.user.is_mod && !m.user.is_broadcaster);
    assert_eq!(m.user.sub_months, Some(64));
    // action: badges=broadcaster/1,subscriber/3072,partner/1.
    let e = parsed("action");
    let m = message(&e);
    assert!(m.user.is_broadcaster && !m.user.is_mod);
    assert_eq!(m.user.badges.get("subscriber"), Some("3072"));
    assert_eq!(m.user.sub_months, Some(80));
    // A plain chatter is none of these.
    let e = parsed("username");
    let m = message(&e);
    assert!(!m.user.is_mod && !m.user.is_vip && !m.user.is_broadcaster);
}

#[test]
fn privmsg_custom_reward_and_highlight() {
    let e = parsed("reward-known");
    let m = message(&e);
    assert_eq!(
        m.custom_reward_id,
        Some("31a2344e-0fce-4229-9453-fb2e8b6dd02c")
    );
    assert_eq!(m.text, "reward 1");
    assert!(!m.highlighted);
    assert_eq!(
        message(&parsed("reward-bits")).custom_reward_id,
        Some("CELEBRATION")
    );
    assert_eq!(
        message(&parsed("reward-empty")).custom_reward_id,
        Some("dc8d1dac-256e-42b9-b7ba-40b32e5294e2")
    );

    // redeemed-highlight: msg-id=highlighted-message on a PRIVMSG.
    let e = parsed("redeemed-highlight");
    let m = message(&e);
    assert!(m.highlighted);
    assert!(m.custom_reward_id.is_none());
    assert_eq!(m.text, "BTTVGlobal highlight :)");
    assert_eq!(m.emotes.names(m.text), [("1", ":)")]);
}

// ---------------------------------------------------------------------------------------------
// USERNOTICE

#[test]
fn usernotice_sub() {
    // sub-first-time: msg-id=sub, Prime, msg-param-months=0 (no months stated), no attached text.
    let e = parsed("sub-first-time");
    assert_eq!(e.kind_name(), "sub");
    assert_eq!(e.ts_ms, Some(1_528_190_963_670));
    let n = notice(&e);
    assert_eq!(n.msg_id, "sub");
    assert_eq!(n.user.login, "byebyeheart");
    assert_eq!(n.user.id, Some("131956000"));
    assert_eq!(n.text, None);
    assert_eq!(
        n.system_msg.as_deref(),
        Some("byebyeheart just subscribed with Twitch Prime!")
    );
    let NoticeKind::Sub(s) = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(s.plan, Some(SubPlan::Prime));
    assert_eq!(s.plan_name.as_deref(), Some("Dakotaz"));
    assert_eq!(s.cumulative_months, None);
    assert_eq!(
        (s.streak_months, s.multimonth_duration, s.was_gifted),
        (None, None, false)
    );

    // sub-multi-month: Tier 1, cumulative 1, bought 6 months at once.
    let e = parsed("sub-multi-month");
    let n = notice(&e);
    assert_eq!(n.user.login, "foly__");
    let NoticeKind::Sub(s) = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(s.plan, Some(SubPlan::Tier1));
    assert_eq!(s.plan_name.as_deref(), Some("Channel Subscription (k4sen)"));
    assert_eq!(
        (s.cumulative_months, s.multimonth_duration),
        (Some(1), Some(6))
    );
    assert_eq!(
        n.system_msg.as_deref(),
        Some("foly__ subscribed at Tier 1.")
    );
}

#[test]
fn usernotice_resub() {
    // sub-message: Prime resub, msg-param-months=6, with the user's message.
    let e = parsed("sub-message");
    assert_eq!(e.kind_name(), "resub");
    let n = notice(&e);
    assert_eq!(n.user.login, "ronni");
    assert_eq!(n.text, Some("Great stream -- keep it up!"));
    assert_eq!(
        n.system_msg.as_deref(),
        Some("ronni has subscribed for 6 months!")
    );
    let NoticeKind::Resub(s) = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(s.plan, Some(SubPlan::Prime));
    assert_eq!(s.cumulative_months, Some(6));

    // sub-multi-month-resub: Tier 3, cumulative 9 (msg-param-months=0), multimonth 6, no streak
    // shared (should-share-streak=0), not gifted.
    let e = parsed("sub-multi-month-resub");
    let n = notice(&e);
    assert_eq!(n.user.login, "calm__like_a_tom");
    assert_eq!(n.text, None);
    let NoticeKind::Resub(s) = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(s.plan, Some(SubPlan::Tier3));
    assert_eq!(s.plan_name.as_deref(), Some("Executive Producer"));
    assert_eq!(s.cumulative_months, Some(9));
    assert_eq!(s.multimonth_duration, Some(6));
    assert_eq!(s.streak_months, None);
    assert!(!s.was_gifted);

    // sub-no-message: Tier 2 ($9.99), months=12.
    let e = parsed("sub-no-message");
    let NoticeKind::Resub(s) = &notice(&e).notice else {
        panic!()
    };
    assert_eq!(
        (s.plan, s.cumulative_months),
        (Some(SubPlan::Tier2), Some(12))
    );
    // sub-shared-chat: should-share-streak=1 with streak-months=4.
    let e = parsed("sub-shared-chat");
    let NoticeKind::Resub(s) = &notice(&e).notice else {
        panic!()
    };
    assert_eq!((s.cumulative_months, s.streak_months), (Some(6), Some(4)));
}

#[test]
fn usernotice_subgift() {
    // sub-gift: TWW2 gifts mr_woodchuck (msg-param-recipient-name, the older spelling).
    let e = parsed("sub-gift");
    assert_eq!(e.kind_name(), "subgift");
    let n = notice(&e);
    assert_eq!(n.user.login, "tww2");
    assert_eq!(
        n.system_msg.as_deref(),
        Some("TWW2 gifted a Tier 1 sub to Mr_Woodchuck!")
    );
    let NoticeKind::SubGift(g) = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(g.recipient_login, "mr_woodchuck");
    assert_eq!(g.recipient_id, Some("89614178"));
    assert_eq!(g.recipient_display_name.as_deref(), Some("Mr_Woodchuck"));
    assert_eq!(g.plan, Some(SubPlan::Tier1));
    assert_eq!(g.plan_name.as_deref(), Some("House of Nyoro~n"));
    assert_eq!(
        (
            g.gift_months,
            g.sender_count,
            g.community_gift_id,
            g.anonymous
        ),
        (1, None, None, false)
    );

    // sub-multi-month-gift-count: 6 months to kimmi_tm; the gifter's 334th month in the channel.
    let e = parsed("sub-multi-month-gift-count");
    let n = notice(&e);
    assert_eq!(n.user.login, "inatsufn");
    let NoticeKind::SubGift(g) = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(g.gift_months, 6);
    assert_eq!(g.sender_count, Some(334));
    assert_eq!(g.recipient_login, "kimmi_tm");
    assert_eq!(g.recipient_id, Some("225806893"));
    assert!(!g.anonymous);
    assert_eq!(
        n.system_msg.as_deref(),
        Some("iNatsuFN gifted 6 months of Tier 1 to kimmi_tm. They've gifted 334 months in the channel!")
    );

    // sub-first-gift: sender-count=1 (their first gift).
    let e = parsed("sub-first-gift");
    let NoticeKind::SubGift(g) = &notice(&e).notice else {
        panic!()
    };
    assert_eq!(
        (g.sender_count, g.recipient_login),
        (Some(1), "quote_if_nam")
    );
    // sub-gift-02: sender-count=0 means "not shared".
    let e = parsed("sub-gift-02");
    let NoticeKind::SubGift(g) = &notice(&e).notice else {
        panic!()
    };
    assert_eq!(
        (g.sender_count, g.community_gift_id),
        (None, Some("4645652708379472175"))
    );
}

#[test]
fn usernotice_anonymous_subgift() {
    // sub-multi-month-anon-gift: login=ananonymousgifter, user-id=274598607, 6 months.
    let e = parsed("sub-multi-month-anon-gift");
    let n = notice(&e);
    assert_eq!(n.user.login, "ananonymousgifter");
    let NoticeKind::SubGift(g) = &n.notice else {
        panic!("{n:?}")
    };
    assert!(g.anonymous);
    assert_eq!(g.gift_months, 6);
    assert_eq!(g.recipient_login, "mohammadrezadh");
    assert_eq!(g.recipient_display_name.as_deref(), Some("MohammadrezaDH"));
    assert_eq!(
        n.system_msg.as_deref(),
        Some("An anonymous user gifted a Tier 1 sub to MohammadrezaDH! ")
    );
}

#[test]
fn usernotice_raid() {
    let e = parsed("raid");
    assert_eq!(e.kind_name(), "raid");
    let n = notice(&e);
    assert_eq!(
        n.system_msg.as_deref(),
        Some("2 raiders from nerixyz have joined!")
    );
    let NoticeKind::Raid {
        from_login,
        viewers,
    } = &n.notice
    else {
        panic!("{n:?}")
    };
    assert_eq!((*from_login, *viewers), ("nerixyz", 2));
    assert!(!e.is_shared_copy());
}

#[test]
fn usernotice_announcement() {
    let e = parsed("announcement");
    assert_eq!(e.kind_name(), "announcement");
    let n = notice(&e);
    assert_eq!((n.user.login, n.text), ("supinic", Some("mm test lol")));
    assert_eq!(
        n.notice,
        NoticeKind::Announcement {
            color: Some("PRIMARY")
        }
    );
    for (name, color) in [
        ("announcement-blue", "BLUE"),
        ("announcement-green", "GREEN"),
        ("announcement-orange", "ORANGE"),
        ("announcement-purple", "PURPLE"),
    ] {
        let e = parsed(name);
        let n = notice(&e);
        assert_eq!(
            n.notice,
            NoticeKind::Announcement { color: Some(color) },
            "{name}"
        );
        assert_eq!(
            n.text.unwrap(),
            format!("{} announcement", color.to_lowercase())
        );
        assert_eq!(
            n.system_msg.as_deref(),
            Some(""),
            "{name}: system-msg is empty"
        );
    }
}

#[test]
fn usernotice_bitsbadgetier() {
    let e = parsed("bitsbadge");
    assert_eq!(e.kind_name(), "bitsbadgetier");
    let n = notice(&e);
    assert_eq!(n.notice, NoticeKind::BitsBadgeTier { threshold: 1000 });
    assert_eq!(n.user.login, "whoopiix");
    assert_eq!(
        n.system_msg.as_deref(),
        Some("bits badge tier notification")
    );
    assert_eq!(n.text, None);
}

#[test]
fn usernotice_viewermilestone() {
    let e = parsed("watch-streak");
    assert_eq!(e.kind_name(), "viewermilestone");
    let n = notice(&e);
    assert_eq!(
        n.notice,
        NoticeKind::ViewerMilestone {
            category: Some("watch-streak"),
            value: Some(10)
        }
    );
    assert_eq!((n.user.login, n.text), ("imrlazyi", Some("🫣")));
    let e = parsed("watch-streak-no-msg");
    let n = notice(&e);
    assert_eq!(
        n.notice,
        NoticeKind::ViewerMilestone {
            category: Some("watch-streak"),
            value: Some(15)
        }
    );
    assert_eq!(n.text, None);
    assert_eq!(
        n.system_msg.as_deref(),
        Some("club_reg watched 15 consecutive streams and sparked a watch streak!")
    );
}

#[test]
fn usernotice_sharedchatnotice_is_its_inner_kind() {
    // shared-chat-announcement: msg-id=sharedchatnotice, source-msg-id=announcement,
    // source-room-id=1025594235 in room 11148817.
    let e = parsed("shared-chat-announcement");
    assert_eq!(e.kind_name(), "announcement");
    let n = notice(&e);
    assert_eq!(n.msg_id, "sharedchatnotice");
    assert_eq!(
        n.notice,
        NoticeKind::Announcement {
            color: Some("PRIMARY")
        }
    );
    assert_eq!(n.text, Some("hi this is an announcement from 1"));
    assert!(e.is_shared_copy());
    assert_eq!(e.room_id, Some("11148817"));
    assert_eq!(e.attributed_room_id(), Some("1025594235"));
    let shared = e.shared.as_ref().unwrap();
    assert_eq!(
        shared.source_id,
        Some("4083dadc-9f20-40f9-ba92-949ebf6bc294")
    );
    assert!(shared.source_badges.has("moderator"));

    // shared-chat-raid: the inner kind is a raid.
    let e = parsed("shared-chat-raid");
    assert_eq!(e.kind_name(), "raid");
    assert!(e.is_shared_copy());
    assert_eq!(e.attributed_room_id(), Some("955766119"));
}

#[test]
fn usernotice_unknown_msg_id_passes_through() {
    // social-media-badge1 carries msg-id=socialsharingbadge.
    let e = parsed("social-media-badge1");
    assert_eq!(e.kind_name(), "socialsharingbadge");
    assert_eq!(e.channel, "robcdee");
    let n = notice(&e);
    assert_eq!(
        n.text,
        Some("Wooohooo, I got a social media badge! or another one")
    );
    let NoticeKind::Other { msg_id, tags } = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(*msg_id, "socialsharingbadge");
    let tag = |k: &str| {
        tags.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_ref())
    };
    assert_eq!(tag("msg-param-current-badge-level"), Some("1"));
    assert_eq!(
        tag("system-msg"),
        Some("Unlocked a social sharing badge"),
        "unescaped"
    );
    assert_eq!(tags.len(), 18, "every tag of the line");

    // mod-streak carries msg-id=modiversary.
    let e = parsed("mod-streak");
    assert_eq!(e.kind_name(), "modiversary");
    let n = notice(&e);
    let NoticeKind::Other { msg_id, tags } = &n.notice else {
        panic!("{n:?}")
    };
    assert_eq!(*msg_id, "modiversary");
    assert!(tags
        .iter()
        .any(|(k, v)| *k == "msg-param-months" && v == "18"));
    assert_eq!(
        n.system_msg.as_deref(),
        Some("has been a moderator for 18 months!")
    );
    assert!(n
        .text
        .unwrap()
        .starts_with("I don't know what this looks like"));
    assert!(n.user.is_mod);
    assert_eq!(notice(&parsed("mod-streak-no-msg")).text, None);
}

// ---------------------------------------------------------------------------------------------
// CLEARCHAT, CLEARMSG, NOTICE

#[test]
fn clearchat_timeout_ban_and_clear() {
    // timeout: ban-duration=1 for nerixyz (target-user-id=129546453).
    let e = parsed("timeout");
    assert_eq!(e.kind_name(), "timeout");
    assert_eq!(
        e.kind,
        EventKind::ClearChat(ClearChat::Timeout {
            login: "nerixyz",
            user_id: Some("129546453"),
            duration_s: 1
        })
    );
    assert_eq!(e.ts_ms, Some(1_729_628_658_012));
    let e = parsed("timeout-stack-always");
    assert!(matches!(
        e.kind,
        EventKind::ClearChat(ClearChat::Timeout {
            login: "twitchdev",
            duration_s: 600,
            ..
        })
    ));

    // clearchat: no user, so the whole chat.
    let e = parsed("clearchat");
    assert_eq!(e.kind_name(), "clearchat");
    assert_eq!(e.kind, EventKind::ClearChat(ClearChat::Clear));
    assert_eq!(e.ts_ms, Some(1_729_627_607_545));

    // The fixtures have no permanent ban: this line is derived from the real `timeout` fixture by
    // removing its ban-duration tag, which is what a ban looks like.
    let ban = fixture("timeout").replace("ban-duration=1;", "");
    assert_ne!(ban, fixture("timeout"));
    let e = parse(&ban);
    assert_eq!(e.kind_name(), "ban");
    assert_eq!(
        e.kind,
        EventKind::ClearChat(ClearChat::Ban {
            login: "nerixyz",
            user_id: Some("129546453")
        })
    );

    // The two real timeouts of #nymn: 180 s each, login without a ':' before it.
    let timeouts: Vec<_> = nymn_lines()
        .into_iter()
        .map(parse)
        .filter_map(|e| match e.kind {
            EventKind::ClearChat(ClearChat::Timeout {
                login, duration_s, ..
            }) => Some((login, duration_s)),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts, [("e7om", 180), ("abitbol", 180)]);
}

#[test]
fn clearmsg_login_target_and_text() {
    // clearmsg-non-truncated: `CLEARMSG #pajlada sup`, its text without a ':'.
    let e = parsed("clearmsg-non-truncated");
    assert_eq!(e.kind_name(), "clearmsg");
    let EventKind::ClearMsg(c) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(c.login, Some("kooby_"));
    assert_eq!(
        c.target_msg_id,
        Some("862716db-9a7c-4563-8480-af799769ae81")
    );
    assert_eq!(c.text, Some("sup"));
    // clearmsg-truncated: a long text after ':'.
    let e = parsed("clearmsg-truncated");
    let EventKind::ClearMsg(c) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(
        c.target_msg_id,
        Some("ee436bee-aaac-49db-9a87-755c29105f6a")
    );
    assert!(c.text.unwrap().starts_with("Hello! its me Winston!"));
    assert!(c.text.unwrap().ends_with("get bulbous."));
}

#[test]
fn notice_emote_only_on() {
    let e = parsed("emoteonly-on");
    assert_eq!(e.kind_name(), "notice");
    assert_eq!(e.channel, "pajlada");
    assert_eq!(e.ts_ms, None, "this NOTICE has no tmi-sent-ts");
    let EventKind::Notice(n) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(n.msg_id, Some("emote_only_on"));
    assert_eq!(n.text, "This room is now in emote-only mode.");
}

// ---------------------------------------------------------------------------------------------
// Twitch semantics

/// `subgift` lines of a gift bomb with community gift id `id`, derived from the real `sub-gift`
/// fixture by adding msg-param-community-gift-id and giving each its own id and recipient.
fn derived_bomb_gifts(id: &str, n: usize) -> Vec<String> {
    let real = fixture("sub-gift");
    (0..n)
        .map(|i| {
            let line = real
                .replace(
                    "msg-id=subgift;",
                    &format!("msg-id=subgift;msg-param-community-gift-id={id};"),
                )
                .replace(
                    "msg-param-recipient-name=mr_woodchuck",
                    &format!("msg-param-recipient-name=recipient{i}"),
                )
                .replace(
                    "id=e9176cd8-5e22-4684-ad40-ce53c2561c5e",
                    &format!("id=derived-gift-{id}-{i}"),
                );
            assert_ne!(line, real);
            line
        })
        .collect()
}

/// The `submysterygift` announcing them, derived from the same real line (msg-id changed, count and
/// community gift id added).
fn derived_bomb(id: &str, count: u32) -> String {
    fixture("sub-gift").replace(
        "msg-id=subgift;",
        &format!("msg-id=submysterygift;msg-param-mass-gift-count={count};msg-param-community-gift-id={id};"),
    )
}

fn tally(counter: &mut GiftCounter, lines: &[String]) -> GiftTally {
    let mut total = GiftTally::default();
    for line in lines {
        let t = counter.count(&parse(line));
        total.gifts += t.gifts;
        total.bombs += t.bombs;
    }
    total
}

#[test]
fn gift_bomb_is_counted_once() {
    let bomb = derived_bomb("X", 3);
    let e = parse(&bomb);
    let NoticeKind::SubMysteryGift(m) = &notice(&e).notice else {
        panic!("{e:?}")
    };
    assert_eq!((m.count, m.community_gift_id), (3, Some("X")));
    let gifts = derived_bomb_gifts("X", 3);
    for g in &gifts {
        let e = parse(g);
        let NoticeKind::SubGift(g) = &notice(&e).notice else {
            panic!()
        };
        assert_eq!(g.community_gift_id, Some("X"));
    }

    // Announcement first, then its 3 gifts: 3 gifts, 1 bomb (not 6).
    let mut in_order = vec![bomb.clone()];
    in_order.extend(gifts.iter().cloned());
    assert_eq!(
        tally(&mut GiftCounter::default(), &in_order),
        GiftTally { gifts: 3, bombs: 1 }
    );
    // The same through ParseSummary.
    let mut summary = ParseSummary::new();
    for line in &in_order {
        summary.event(&parse(line));
    }
    assert_eq!(summary.gifted_subs, 3);
    assert_eq!(
        (summary.count("submysterygift"), summary.count("subgift")),
        (1, 3)
    );

    // The gifts arriving before their announcement still total 3.
    let mut late = gifts.clone();
    late.push(bomb.clone());
    assert_eq!(
        tally(&mut GiftCounter::default(), &late),
        GiftTally { gifts: 3, bombs: 1 }
    );
    // And one before, two after.
    let mixed = vec![
        gifts[0].clone(),
        bomb.clone(),
        gifts[1].clone(),
        gifts[2].clone(),
    ];
    assert_eq!(
        tally(&mut GiftCounter::default(), &mixed),
        GiftTally { gifts: 3, bombs: 1 }
    );
    // Two bombs of different ids do not mix.
    let mut two = in_order.clone();
    two.push(derived_bomb("Y", 2));
    two.extend(derived_bomb_gifts("Y", 2));
    assert_eq!(
        tally(&mut GiftCounter::default(), &two),
        GiftTally { gifts: 5, bombs: 2 }
    );

    // A lone real subgift counts 1; so does one with a community id but no announcement.
    let mut counter = GiftCounter::default();
    assert_eq!(
        counter.count(&parsed("sub-gift")),
        GiftTally { gifts: 1, bombs: 0 }
    );
    assert_eq!(
        counter.count(&parsed("sub-gift-02")),
        GiftTally { gifts: 1, bombs: 0 }
    );
    assert_eq!(
        counter.count(&parsed("sub-multi-month-anon-gift")),
        GiftTally { gifts: 1, bombs: 0 }
    );
    // Subs and messages are no gifts.
    assert_eq!(counter.count(&parsed("sub-message")), GiftTally::default());
    assert_eq!(counter.count(&parsed("simple")), GiftTally::default());
}

#[test]
fn shared_chat_copies_are_marked_and_attributed_to_their_source() {
    let mut checked = 0;
    for (name, line) in fixtures() {
        if !(name.starts_with("shared-chat-") || name == "sub-shared-chat") {
            continue;
        }
        let e = parse(line);
        let irc = IrcMessage::parse(line).unwrap();
        let source = irc.raw_tag("source-room-id").unwrap();
        let room = irc.raw_tag("room-id").unwrap();
        assert_eq!(e.is_shared_copy(), source != room, "{name}");
        assert_eq!(e.attributed_room_id(), Some(source), "{name}");
        assert_eq!(e.room_id, Some(room), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 11);

    // shared-chat-same-channel: source-room-id = room-id = 11148817: shown where it was sent.
    let e = parsed("shared-chat-same-channel");
    assert!(e.shared.is_some());
    assert!(!e.is_shared_copy());
    assert_eq!(e.attributed_room_id(), Some("11148817"));
    // shared-chat-known: sent in 141981764, a copy in 11148817.
    let e = parsed("shared-chat-known");
    assert!(e.is_shared_copy());
    assert_eq!(e.attributed_room_id(), Some("141981764"));
    assert_eq!(
        e.shared.as_ref().unwrap().source_id,
        Some("b97eea45-f9dc-4f0c-8744-f8256c3ed950")
    );
    // Moderator here and there / only in the source channel (badges vs source-badges). The
    // both-channels line has `badges` twice; the first one wins.
    let e = parsed("shared-chat-moderator-both-channels");
    assert!(message(&e).user.is_mod);
    let e = parsed("shared-chat-moderator-external-channel");
    assert!(!message(&e).user.is_mod);
    assert!(e.shared.as_ref().unwrap().source_badges.has("moderator"));
    let e = parsed("shared-chat-vip-both-channels");
    assert!(message(&e).user.is_vip);
    assert!(
        !message(&parsed("shared-chat-vip-external-channel"))
            .user
            .is_vip
    );

    // GiftCounter ignores copies: the source channel counts the gift. This copy is derived from the
    // real `sub-gift` line the way Twitch copies a notice (msg-id=sharedchatnotice,
    // source-msg-id=subgift, source-room-id of another channel).
    let copy = fixture("sub-gift").replace(
        "msg-id=subgift;",
        "msg-id=sharedchatnotice;source-msg-id=subgift;source-room-id=1025594235;",
    );
    let e = parse(&copy);
    assert_eq!(e.kind_name(), "subgift");
    assert!(e.is_shared_copy());
    let mut counter = GiftCounter::default();
    assert_eq!(counter.count(&e), GiftTally::default());
    assert_eq!(
        counter.count(&parsed("sub-gift")),
        GiftTally { gifts: 1, bombs: 0 }
    );
    // A copied gift bomb adds neither gifts nor a bomb.
    let bomb_copy = derived_bomb("Z", 5).replace(
        "msg-id=submysterygift;",
        "msg-id=sharedchatnotice;source-msg-id=submysterygift;source-room-id=1025594235;",
    );
    assert_eq!(counter.count(&parse(&bomb_copy)), GiftTally::default());
}

#[test]
fn tag_values_are_unescaped() {
    // \s on real lines: system-msg, reply body, plan name.
    let e = parsed("sub-gift");
    assert_eq!(
        notice(&e).system_msg.as_deref(),
        Some("TWW2 gifted a Tier 1 sub to Mr_Woodchuck!")
    );
    let e = parsed("reply-single");
    assert_eq!(
        message(&e).reply.as_ref().unwrap().parent_body.as_deref(),
        Some("a Kappa BTTVEmote 😂 b")
    );
    let e = parsed("sub-no-message");
    let NoticeKind::Resub(s) = &notice(&e).notice else {
        panic!()
    };
    assert_eq!(
        s.plan_name.as_deref(),
        Some("Channel Subscription (forsenlol): $9.99 Sub")
    );
    // An escaped value that unescapes to itself is borrowed, not copied.
    let e = parsed("simple");
    assert!(matches!(
        message(&e).user.display_name,
        Some(std::borrow::Cow::Borrowed("jammehcow"))
    ));

    // The fixtures hold no \: \\ \r \n, so these lines are derived from real ones with every escape
    // put into the display name and reply body (`reply-single`) and the system-msg (`sub-gift`).
    let real = fixture("reply-single");
    let derived = real
        .replace(";display-name=nerixyz;", r";display-name=ne\\ri\:x\sy;")
        .replace(
            r"reply-parent-msg-body=a\sKappa\sBTTVEmote\s😂\sb",
            r"reply-parent-msg-body=x\:\sy\\\r\n",
        );
    assert!(derived.contains(r"ne\\ri\:x\sy") && derived.contains(r"x\:\sy\\\r\n"));
    let e = parse(&derived);
    let m = message(&e);
    assert_eq!(m.user.display_name.as_deref(), Some("ne\\ri;x y"));
    assert_eq!(
        m.reply.as_ref().unwrap().parent_body.as_deref(),
        Some("x; y\\\r\n")
    );
    assert_eq!(m.user.login, "nerixyz");
    let real = fixture("sub-gift");
    let derived = real.replace(
        r"system-msg=TWW2\sgifted\sa\sTier\s1\ssub\sto\sMr_Woodchuck!",
        r"system-msg=a\sb\:c\\d\re\nf",
    );
    assert_ne!(derived, real);
    assert_eq!(
        notice(&parse(&derived)).system_msg.as_deref(),
        Some("a b;c\\d\re\nf")
    );
    // Escaping is the inverse.
    for raw in [r"ne\\ri\:x\sy", r"x\:\sy\\\r\n", r"a\sb\:c\\d\re\nf"] {
        let mut again = String::new();
        escape_into(&unescape(raw), &mut again);
        assert_eq!(again, raw);
    }
}

#[test]
fn trailing_parameter_with_and_without_colon() {
    let lines = nymn_lines();
    let mut without = Vec::new();
    let mut with = 0;
    for line in &lines {
        let irc = IrcMessage::parse(line).unwrap();
        if irc.command() != "PRIVMSG" {
            continue;
        }
        let e = parse(line);
        let m = message(&e);
        if irc.has_trailing() {
            with += 1;
            assert!(line.contains(&format!(" PRIVMSG #nymn :{}", irc.param(1).unwrap())));
        } else {
            // A single word: the whole text, nothing dropped.
            assert!(!m.text.contains(' '), "{line}");
            assert!(
                line.ends_with(&format!(" PRIVMSG #nymn {}", m.text)),
                "{line}"
            );
            without.push(m.text);
        }
    }
    // 337 of the 798 PRIVMSGs end in a one-word parameter written without ':'.
    assert_eq!((without.len(), with), (337, 461));
    // The first of them (the set's third line) ends in `PRIVMSG #nymn forsenParty`.
    let first = lines
        .iter()
        .find(|l| l.contains(" PRIVMSG #nymn forsenParty"))
        .unwrap();
    assert!(first.ends_with(" PRIVMSG #nymn forsenParty"));
    assert_eq!(message(&parse(first)).text, "forsenParty");
    assert_eq!(without[0], "forsenParty");
    assert!(without.contains(&"🔨"), "a one-character emoji word");

    // With ':' the text keeps its spaces, and a text starting with ':' keeps that ':'.
    assert_eq!(message(&parsed("simple")).text, "Kappa");
    assert_eq!(message(&parsed("mod")).text, "-tags Kreygasm, Kreygasm");
    let smiley = fixture("simple").replace("PRIVMSG #pajlada :Kappa", "PRIVMSG #pajlada ::D hi");
    assert_eq!(
        message(&parse(&smiley)).text,
        ":D hi",
        "derived from `simple`"
    );
}

#[test]
fn duplicate_message_ids_are_detected() {
    let lines = nymn_lines();
    let ids: Vec<&str> = lines.iter().filter_map(|l| parse(l).id).collect();
    assert_eq!(ids.len(), 798);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        798,
        "unique within the set"
    );

    let mut filter = DuplicateFilter::new(10_000);
    assert!(
        ids.iter().all(|id| filter.first_seen(id)),
        "first delivery: all new"
    );
    assert!(
        ids.iter().all(|id| !filter.first_seen(id)),
        "second delivery: all duplicates"
    );
    assert_eq!(filter.len(), 798);

    // The whole set delivered twice, as a reconnecting reader would.
    let mut summary = ParseSummary::new();
    for line in lines.iter().chain(lines.iter()) {
        summary.event(&parse(line));
    }
    assert_eq!(
        summary.duplicates, 798,
        "one per line with an id; the id-less CLEARCHATs never count"
    );
    assert_eq!(summary.count("message"), 2 * 798);

    // The fixtures reuse ids (edited copies of the same capture): 94 of the 110 lines carry an id,
    // 72 distinct.
    let fixture_ids: Vec<&str> = fixtures()
        .into_iter()
        .filter_map(|(_, l)| parse(l).id)
        .collect();
    let distinct = fixture_ids.iter().collect::<HashSet<_>>().len();
    let mut summary = ParseSummary::new();
    for (_, line) in fixtures() {
        summary.event(&parse(line));
    }
    assert_eq!((fixture_ids.len(), distinct), (94, 72));
    assert_eq!(summary.duplicates, 94 - 72);
}

#[test]
fn roomstate_reconnect_and_ping() {
    // Written by hand from Twitch's IRC documentation (dev.twitch.tv/docs/chat/irc), not captured.
    let e = parse("@emote-only=0;followers-only=-1;r9k=0;room-id=12345678;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #bar");
    assert_eq!(e.kind_name(), "roomstate");
    assert_eq!(e.channel, "bar");
    assert_eq!(e.room_id, Some("12345678"));
    assert_eq!(
        e.kind,
        EventKind::RoomState(RoomState {
            emote_only: Some(false),
            followers_only: Some(-1),
            r9k: Some(false),
            slow_s: Some(0),
            subs_only: Some(false),
        })
    );
    // A change names only the setting that changed.
    let e = parse("@room-id=713936733;slow=10 :tmi.twitch.tv ROOMSTATE #lovingt3s");
    assert_eq!(
        e.kind,
        EventKind::RoomState(RoomState {
            slow_s: Some(10),
            ..RoomState::default()
        })
    );

    let e = parse(":tmi.twitch.tv RECONNECT");
    assert_eq!(e.kind_name(), "reconnect");
    assert_eq!(e.kind, EventKind::Reconnect);

    let e = parse("PING :tmi.twitch.tv");
    assert_eq!(e.kind_name(), "ping");
    assert_eq!(
        e.kind,
        EventKind::Ping {
            token: Some("tmi.twitch.tv")
        }
    );

    // Other valid lines (from the same docs) are `other`, keeping their channel.
    let e = parse(":bar!bar@bar.tmi.twitch.tv JOIN #twitchdev");
    assert_eq!((e.kind_name(), e.channel), ("other", "twitchdev"));
    assert_eq!(e.kind, EventKind::Other { command: "JOIN" });
}

// ---------------------------------------------------------------------------------------------
// Broken input

#[test]
fn broken_lines_are_errors_that_name_the_problem() {
    // (line, expected kind, text the Display must contain)
    let table: &[(&str, ParseErrorKind, &str)] = &[
        ("", ParseErrorKind::EmptyLine, "empty"),
        ("   \r\n", ParseErrorKind::EmptyLine, "empty"),
        (
            "@badge-info=;badges=;tmi-sent-ts=1",
            ParseErrorKind::TagsWithoutCommand,
            "tag section",
        ),
        ("@tmi-sent-ts=1 ", ParseErrorKind::MissingCommand, "command"),
        (
            ":nerixyz!nerixyz@nerixyz.tmi.twitch.tv",
            ParseErrorKind::PrefixWithoutCommand,
            "prefix",
        ),
        (
            "@a=1 :nerixyz!nerixyz@nerixyz.tmi.",
            ParseErrorKind::PrefixWithoutCommand,
            "prefix",
        ),
        (
            ":a!a@a.tmi.twitch.tv PRIV-MSG #c :x",
            ParseErrorKind::InvalidCommand,
            "PRIV-MSG",
        ),
        (
            "@tmi-sent-ts=yesterday :a!a@a.tmi.twitch.tv PRIVMSG #c :x",
            ParseErrorKind::InvalidTimestamp,
            "tmi-sent-ts=yesterday",
        ),
        (
            "@tmi-sent-ts=1704557984095.5 :a!a@a.tmi.twitch.tv PRIVMSG #c :x",
            ParseErrorKind::InvalidTimestamp,
            "timestamp",
        ),
        (
            ":a!a@a.tmi.twitch.tv PRIVMSG",
            ParseErrorKind::MissingChannel,
            "#channel",
        ),
        (
            ":a!a@a.tmi.twitch.tv PRIVMSG nymn :x",
            ParseErrorKind::MissingChannel,
            "PRIVMSG",
        ),
        (
            ":a!a@a.tmi.twitch.tv PRIVMSG # :x",
            ParseErrorKind::MissingChannel,
            "#channel",
        ),
        (
            ":tmi.twitch.tv PRIVMSG #c :x",
            ParseErrorKind::MissingSender,
            "sender",
        ),
        ("PRIVMSG #c :x", ParseErrorKind::MissingSender, "sender"),
        (
            "@login=a;tmi-sent-ts=1 :tmi.twitch.tv USERNOTICE #c :hi",
            ParseErrorKind::MissingField,
            "msg-id",
        ),
        (
            "@msg-id=subgift;login=a :tmi.twitch.tv USERNOTICE #c",
            ParseErrorKind::MissingField,
            "recipient",
        ),
        (
            "@bits=lots :a!a@a.tmi.twitch.tv PRIVMSG #c :cheer",
            ParseErrorKind::InvalidNumber,
            "bits=lots",
        ),
        (
            "@bits=-5 :a!a@a.tmi.twitch.tv PRIVMSG #c :cheer",
            ParseErrorKind::InvalidNumber,
            "bits=-5",
        ),
        (
            "@ban-duration=forever :tmi.twitch.tv CLEARCHAT #c baduser",
            ParseErrorKind::InvalidNumber,
            "ban-duration=forever",
        ),
        (
            "@msg-id=raid;msg-param-viewerCount=many :tmi.twitch.tv USERNOTICE #c",
            ParseErrorKind::InvalidNumber,
            "viewerCount",
        ),
        (
            "@slow=fast :tmi.twitch.tv ROOMSTATE #c",
            ParseErrorKind::InvalidNumber,
            "slow=fast",
        ),
        (
            ":tmi.twitch.tv CLEARCHAT",
            ParseErrorKind::MissingChannel,
            "CLEARCHAT",
        ),
    ];
    for (line, kind, names) in table {
        let err = match ChatEvent::parse(line) {
            Err(err) => err,
            Ok(e) => panic!("{line:?} parsed: {e:?}"),
        };
        assert_eq!(err.kind(), *kind, "{line:?}: {err}");
        let shown = err.to_string();
        assert!(
            shown.contains(names),
            "{line:?}: {shown:?} should name {names:?}"
        );
    }
}

#[test]
fn cut_real_lines_never_panic() {
    // Every real line cut at every 7th character boundary, as a logger's fixed-size read cuts them:
    // each piece parses or is an error, and a cut inside the tags or prefix is always an error.
    let mut pieces = 0;
    let mut errors = 0;
    for line in FIXTURES.lines().chain(NYMN.lines()) {
        let boundaries: Vec<usize> = line.char_indices().map(|(i, _)| i).step_by(7).collect();
        let command_at = line
            .find(" :tmi.twitch.tv ")
            .or_else(|| line.find(".tmi.twitch.tv "));
        for cut in boundaries {
            let piece = &line[..cut];
            pieces += 1;
            match ChatEvent::parse(piece) {
                Ok(_) => {}
                Err(e) => {
                    errors += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
            if line.starts_with('@') && command_at.is_some_and(|at| cut > 0 && cut <= at) {
                assert!(ChatEvent::parse(piece).is_err(), "{piece:?}");
            }
        }
    }
    assert!(pieces > 50_000, "{pieces}");
    assert!(errors > 0 && errors < pieces);
}
