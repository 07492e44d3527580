//! Detectors over per-channel time series, pure: a robust baseline of the chat rate ([`baseline`])
//! and the chat-spike state machine built on it ([`spike`]).

pub mod baseline;
pub mod spike;

pub use baseline::Baseline;
pub use spike::{
    Bucket, BucketAggregate, BucketStats, Cause, Spike, SpikeConfig, SpikeDetector, SpikeEvent,
};
