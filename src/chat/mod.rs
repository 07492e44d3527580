//! The Twitch chat model, pure and I/O-free: IRC framing ([`irc`]), typed events ([`event`]),
//! exactly-once counting of gifted subs ([`gifts`]), duplicate detection ([`dedup`]) and importers for
//! recorded logs ([`import`]).

pub mod dedup;
pub mod error;
pub mod event;
pub mod gifts;
pub mod import;
pub mod irc;
pub mod summary;

pub use error::{ParseError, ParseErrorKind};
pub use event::{ChatEvent, EventKind, NoticeKind, SubPlan};
