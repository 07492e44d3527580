//! The daily summary export (`chatpulse summary`): per channel and UTC day, the day's streams,
//! viewers, hours watched, followers, top spikes with their causes, best ad slots, subs and gifts,
//! summed from the result rows ([`day::DailySummaries`]), written as CSV and JSON ([`export`]) and
//! as a Slack or Discord message ([`message`]). Pure: rows in, text out.

pub mod day;
pub mod export;
pub mod message;
