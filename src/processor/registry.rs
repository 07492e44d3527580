//! The processor kinds chatpulse has, one line each. A kind is one file of `processor/` holding its
//! config ([`KindConfig`](super::kind::KindConfig)), its `build()` and its processor; listing it here
//! is all validation and `chatpulse topology kinds` need.

use super::kind::Kind;
use super::{
    ad_slots, alerts, audience_hour, chat_count, chat_events, chatter_sessions, engagement,
    highlights, leaderboards, rising, spikes, stream_sessions, sub_trend, subscriptions,
};

/// Every kind, in the order error messages and `chatpulse topology kinds` list them.
pub static KINDS: &[Kind] = &[
    Kind::of::<chat_count::ChatCountConfig>(),
    Kind::of::<chat_events::ChatEventsConfig>(),
    Kind::of::<engagement::EngagementConfig>(),
    Kind::of::<spikes::SpikesConfig>(),
    Kind::of::<subscriptions::SubscriptionsConfig>(),
    Kind::of::<sub_trend::SubTrendConfig>(),
    Kind::of::<ad_slots::AdSlotsConfig>(),
    Kind::of::<chatter_sessions::ChatterSessionsConfig>(),
    Kind::of::<stream_sessions::StreamSessionsConfig>(),
    Kind::of::<leaderboards::LeaderboardsConfig>(),
    Kind::of::<rising::RisingConfig>(),
    Kind::of::<audience_hour::AudienceHourConfig>(),
    Kind::of::<alerts::AlertConfig>(),
    Kind::of::<highlights::HighlightsConfig>(),
];

/// The kind named `name`.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The names of the kinds for which `f` holds, in registry order (for messages that name the
/// kinds that take an option).
pub fn names_where(f: impl Fn(&Kind) -> bool) -> Vec<&'static str> {
    KINDS.iter().filter(|k| f(k)).map(|k| k.name).collect()
}

/// The names of every kind.
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::detect::spike::SpikeConfig;
    use crate::processor::ad_slots::AdSlotsConfig;
    use crate::processor::options::OptionDoc;
    use crate::processor::spikes::{SpikeOptions, SpikesConfig};
    use crate::score::ad_slot::AdSlotConfig;

    #[test]
    fn kind_names_are_unique_and_found() {
        let names: BTreeSet<_> = names().into_iter().collect();
        assert_eq!(names.len(), KINDS.len());
        for name in names {
            assert_eq!(find(name).map(|k| k.name), Some(name));
        }
        assert!(find("nope").is_none());
    }

    #[test]
    fn every_option_of_every_kind_prints_with_its_type_default_and_doc() {
        for kind in KINDS {
            let text = kind.describe();
            assert!(text.starts_with(&format!("{}: {}", kind.name, kind.summary)));
            let options = OptionDoc::leaves(&(kind.options)());
            for o in &options {
                assert!(
                    !o.default.is_empty(),
                    "{}.{} has no default",
                    kind.name,
                    o.name
                );
                assert!(!o.doc.is_empty(), "{}.{} has no doc", kind.name, o.name);
                let line = text
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(o.name))
                    .unwrap_or_else(|| panic!("{}.{} is not printed:\n{text}", kind.name, o.name));
                let columns: Vec<&str> = line.split_whitespace().take(3).collect();
                assert_eq!(columns, [o.name, o.ty.name(), o.default.as_str()], "{line}");
            }
            if options.is_empty() {
                assert!(text.ends_with("options: none"), "{text}");
            }
        }
    }

    #[test]
    fn every_kind_reads_an_empty_options_table_as_its_defaults() {
        for kind in KINDS {
            // An `alert` processor is one rule: it needs its rule's table, whose options default.
            let options = match kind.name {
                "alert" => toml::from_str("raid = {}").unwrap(),
                _ => toml::Table::new(),
            };
            (kind.parse)(&options).unwrap_or_else(|e| panic!("{}: {e:?}", kind.name));
        }
        // The defaults are today's settings.
        assert_eq!(SpikeOptions::default().config(), SpikeConfig::default());
        let ad = AdSlotsConfig::default();
        assert_eq!(ad.recommender(), Ok(AdSlotConfig::default()));
        assert_eq!(ad.spike.config(), SpikeConfig::default());
    }

    fn parse(kind: &str, options: &str) -> crate::processor::kind::Parsed {
        (find(kind).unwrap().parse)(&toml::from_str(options).unwrap())
    }

    #[test]
    fn options_read_durations_and_nested_tables() {
        let c = parse(
            "spikes",
            "grace = \"10m\"\nspike = { k_on = 3.5, exit_hold = \"90s\" }",
        )
        .unwrap();
        let c = c.as_any().downcast_ref::<SpikesConfig>().unwrap();
        assert_eq!(c.grace.ms(), 600_000);
        let spike = c.spike.config();
        assert_eq!((spike.k_on, spike.exit_hold_ms), (3.5, 90_000));
        assert_eq!(spike.bucket_ms, SpikeConfig::default().bucket_ms);
    }

    #[test]
    fn unknown_options_are_refused_naming_the_known_ones() {
        let e = parse("chat_events", "dedup = 5").unwrap_err();
        assert_eq!(
            e,
            ["option \"dedup\" is unknown for kind chat_events: use dedup_ids"]
        );
        let e = parse("chat_count", "grace = \"5s\"").unwrap_err();
        assert_eq!(
            e,
            ["option \"grace\" is unknown for kind chat_count: it takes no options"]
        );
        let e = parse("spikes", "spike.k_onn = 3.0").unwrap_err();
        assert!(e[0].starts_with("option \"spike.k_onn\" is unknown for kind spikes: use spike.bucket, spike.window,"), "{e:?}");
    }

    #[test]
    fn checks_beyond_the_types_name_the_option() {
        let e = parse("spikes", "spike = { k_on = 1.2 }").unwrap_err();
        assert_eq!(
            e,
            ["options.spike: k_off 1.5 must be positive and at most k_on 1.2 (hysteresis)"]
        );
        let e = parse("ad_slots", "budget = \"1500ms\"\nmin_score = 2.0").unwrap_err();
        assert_eq!(
            e,
            [
                "options.budget = \"1500ms\" must be a whole number of seconds, such as \"90s\"",
                "options: min_score 2 must be between 0 and 1 (0.6 is usual)",
            ]
        );
        let e = parse("chat_events", "dedup_ids = 0").unwrap_err();
        assert_eq!(
            e,
            ["options.dedup_ids = 0: remember at least 1 id (100000 is usual)"]
        );
        let e = parse("sub_trend", "usual_weight = 0").unwrap_err();
        assert_eq!(
            e,
            ["options.usual_weight 0 must be above 0 and at most 1 (0.2 is usual)"]
        );
    }
}
