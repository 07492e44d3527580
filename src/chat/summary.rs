//! Tallies of a parse run: events per kind and errors per reason, as `chatpulse parse` reports them and
//! tests compare with a data set's published counts.

use std::collections::BTreeMap;
use std::fmt;

use crate::chat::event::ChatEvent;
use crate::chat::gifts::GiftCounter;
use crate::chat::ParseError;

/// Counts of one parse run.
#[derive(Debug, Default)]
pub struct ParseSummary {
    /// Events per kind name.
    pub kinds: BTreeMap<String, u64>,
    /// Errors per reason.
    pub errors: BTreeMap<&'static str, u64>,
    /// Gifted subs counted once (see [`GiftCounter`]).
    pub gifted_subs: u64,
    /// Events whose message id was seen before.
    pub duplicates: u64,
    gifts: GiftCounter,
    ids: Option<crate::chat::dedup::DuplicateFilter>,
}

impl ParseSummary {
    /// An empty summary that also detects duplicate ids among the last 100k.
    pub fn new() -> Self {
        ParseSummary {
            ids: Some(crate::chat::dedup::DuplicateFilter::new(100_000)),
            ..ParseSummary::default()
        }
    }

    /// Counts one event.
    pub fn event(&mut self, event: &ChatEvent<'_>) {
        *self.kinds.entry(event.kind_name().to_owned()).or_default() += 1;
        self.gifted_subs += u64::from(self.gifts.count(event).gifts);
        if let (Some(ids), Some(id)) = (self.ids.as_mut(), event.id) {
            if !ids.first_seen(id) {
                self.duplicates += 1;
            }
        }
    }

    /// Counts one error.
    pub fn error(&mut self, error: &ParseError) {
        *self.errors.entry(error.kind().as_str()).or_default() += 1;
    }

    /// Events of kind `name`.
    pub fn count(&self, name: &str) -> u64 {
        self.kinds.get(name).copied().unwrap_or(0)
    }

    /// All events.
    pub fn total_events(&self) -> u64 {
        self.kinds.values().sum()
    }

    /// All errors.
    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl fmt::Display for ParseSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "events: {}", self.total_events())?;
        for (kind, n) in &self.kinds {
            writeln!(f, "  {kind}: {n}")?;
        }
        writeln!(f, "gifted subs (counted once): {}", self.gifted_subs)?;
        writeln!(f, "duplicate message ids: {}", self.duplicates)?;
        write!(f, "errors: {}", self.total_errors())?;
        for (reason, n) in &self.errors {
            write!(f, "\n  {reason}: {n}")?;
        }
        Ok(())
    }
}
