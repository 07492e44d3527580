//! `subscriptions`: one `twitch.subscriptions` record per sub, resub, gifted sub, gift bomb or
//! upgrade notice, with tier, months, gifter and recipient; gifted subs are counted once
//! (`counted_gifts`), so summing that field never double counts a gift bomb.

use serde_json::{Map, Value};

use super::gift_state::GiftState;
use super::kind::{BuildContext, KindConfig, WindowRule};
use super::options::options;
use super::state::{StateTables, Table};
use super::{Emitter, Input, Output, Processor};
use crate::chat::event::SubPlan;
use crate::score::subs::SubscriptionEvent;

options! {
    /// The options of `subscriptions`: none.
    pub struct SubscriptionsConfig {}
}

impl KindConfig for SubscriptionsConfig {
    const NAME: &'static str = "subscriptions";
    const SUMMARY: &'static str = "one record per sub, resub, gifted sub, gift bomb or upgrade";
    const WINDOW: WindowRule = WindowRule::Forbidden;

    fn build(&self, ctx: &BuildContext<'_>) -> Box<dyn Processor> {
        Box::new(SubscriptionsProcessor::new(ctx.name, ctx.sink))
    }
}

/// The `subscriptions` processor of one task.
pub struct SubscriptionsProcessor {
    sink: usize,
    gifts: GiftState,
}

impl SubscriptionsProcessor {
    /// A processor writing to sink `sink`. It refuses no record as late, so it needs no name of
    /// its own; errors restoring its state name it from the topology.
    pub fn new(_name: &str, sink: usize) -> Self {
        SubscriptionsProcessor {
            sink,
            gifts: GiftState::default(),
        }
    }
}

/// A plan as it appears in records: `prime`, `tier1`, `tier2`, `tier3`.
pub fn plan_name(plan: SubPlan) -> &'static str {
    match plan {
        SubPlan::Prime => "prime",
        SubPlan::Tier1 => "tier1",
        SubPlan::Tier2 => "tier2",
        SubPlan::Tier3 => "tier3",
    }
}

/// A subscription event as a `twitch.subscriptions` record.
pub fn subscription_record(s: &SubscriptionEvent, id: Option<&str>, ts_ms: i64) -> Value {
    let mut m = Map::new();
    let opt = |v: Option<&str>| v.map_or(Value::Null, Value::from);
    m.insert("channel".into(), s.channel.as_str().into());
    m.insert("id".into(), opt(id));
    m.insert("ts".into(), ts_ms.into());
    m.insert("kind".into(), s.kind.as_str().into());
    m.insert("tier".into(), opt(s.tier.map(plan_name)));
    m.insert("months".into(), s.months.map_or(Value::Null, Value::from));
    m.insert("gifter".into(), opt(s.gifter.as_deref()));
    m.insert("recipient".into(), opt(s.recipient.as_deref()));
    m.insert("gift_count".into(), s.gift_count.into());
    m.insert("counted_gifts".into(), s.counted_gifts.into());
    m.insert("anonymous".into(), s.anonymous.into());
    Value::Object(m)
}

impl StateTables for SubscriptionsProcessor {
    fn tables(&mut self, visit: &mut dyn FnMut(&mut dyn Table)) {
        self.gifts.tables(visit);
    }
}

impl Processor for SubscriptionsProcessor {
    fn process(&mut self, input: &Input<'_>, out: &mut Emitter) {
        let tally = self.gifts.count(input.event);
        if let Some(s) = SubscriptionEvent::from_event(input.event, tally) {
            out.outputs.push(Output {
                sink: self.sink,
                key: s.channel.clone(),
                value: subscription_record(&s, input.event.id, input.ts_ms),
                ts_ms: input.ts_ms,
            });
        }
    }

    fn on_watermark(&mut self, _watermark_ms: i64, _out: &mut Emitter) {}

    fn set_watermark(&mut self, _watermark_ms: i64) {}

    fn open_entries(&self) -> usize {
        0
    }
}
