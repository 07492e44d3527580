//! The live dashboard (issue 18): the result topics it reads ([`feed`]), the state it keeps of them
//! ([`board`]) with the JSON views the page draws, the page itself ([`page`]), and what a reader
//! needs of the board ([`writer`]). Pure; the reader is `crate::kafka::dashboard_reader` and the
//! server `crate::http::dashboard`.

pub mod board;
pub mod feed;
pub mod page;
pub mod writer;

pub use board::{Board, BoardLimits, Unshown};
pub use feed::Feed;
pub use writer::BoardWriter;
