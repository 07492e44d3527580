//! Topologies: a file declares sources, processors and sinks ([`spec`]); [`validate`] checks the whole
//! graph and reports every problem at once; [`task`] runs one input partition through the processors.
//! The runners (offline files, Kafka, the in-memory test driver) all drive the same [`task::Task`]
//! and hand its results to a [`route::Destination`] through the one [`route::route`].

pub mod driver;
pub mod inputs;
pub mod interleave;
pub mod query;
pub mod route;
pub mod spec;
pub mod task;
pub mod validate;

pub use spec::TopologySpec;
pub use task::{InputRecord, Task, TaskOutput};
pub use validate::{Topology, TopologyError};
#[cfg(feature = "runtime")]
pub mod offline;
#[cfg(feature = "runtime")]
pub mod persist;
