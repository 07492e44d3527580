//! Time without a clock: calendar arithmetic for log timestamps. Pure code: nothing here reads the
//! system clock; event time is always passed in.

pub mod civil;
pub mod clock;
pub mod duration;
pub mod watermark;
