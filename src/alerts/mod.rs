//! Alerts: rules over the result topics (viewers, followers, spikes, gift bombs, raids, stream start
//! and end) that each turn a row into at most one `twitch.alerts` record ([`alert::Alert`], of a
//! [`kind::AlertKind`]) with its stable id, and a per-channel [`gate::Gate`] (cooldown and
//! deduplication).
//! Pure: rows in, alerts out; no clock, no I/O. The processor kind is `processor::alerts`.

pub mod alert;
pub mod followers;
pub mod gate;
pub mod gift_bomb;
pub mod id;
pub mod kind;
pub mod raid;
pub mod rule;
pub mod scope;
pub mod spike;
pub mod stream_end;
pub mod stream_start;
pub mod viewers;
pub mod words;
