//! Detectors over per-channel time series, pure: a robust baseline of the chat rate ([`baseline`]),
//! the chat-spike state machine built on it ([`spike`]), highlight candidates ([`highlight`]) and
//! their evaluation against labelled moments ([`highlight_eval`]).

pub mod baseline;
pub mod highlight;
pub mod highlight_eval;
pub mod spike;

pub use baseline::Baseline;
pub use spike::{
    Bucket, BucketAggregate, BucketStats, Cause, Spike, SpikeConfig, SpikeDetector, SpikeEvent,
};
