//! The live dashboard's model (issue 18, first part): the result topics it reads ([`feed`]) and the
//! state it keeps of them ([`board`]), with the JSON views the page draws. Pure; the consumer and
//! the HTTP side are still to come.

pub mod board;
pub mod feed;

pub use board::{Board, BoardLimits, Unshown};
pub use feed::Feed;
