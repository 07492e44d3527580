//! Audience analytics over stream snapshots (`twitch.streams`): what a stream tracker reports. Pure:
//! a snapshot row read as a typed [`snapshot::Snapshot`], and the stream session it belongs to summed
//! up by exact step-function definitions ([`stream_session`]); leaderboards and rising channels
//! over finished sessions ([`boards`]); [`first_seen::FirstSeen`], the chatters never seen before in
//! a channel within a horizon.

pub mod boards;
pub mod first_seen;
pub mod snapshot;
pub mod stream_session;
