//! Leaderboards and rising channels over stream sessions (`twitch.streams.sessions`), pure: a
//! session record read as its figures ([`session_row`]), summed per channel and calendar period
//! ([`period`], [`board`]), ranked ([`standings`]) and compared with its own history ([`rise`]).

pub mod board;
pub mod period;
pub mod rise;
pub mod session_row;
pub mod standings;
