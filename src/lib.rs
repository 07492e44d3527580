//! # chatpulse
//!
//! A Kafka Streams-style stream processor for Twitch chat. The crate is layered; a module uses only
//! modules below it (`tests/module_cycles.rs` fails on a cycle):
//!
//! - **Pure core** (no I/O, no clock): [`chat`] turns IRC lines and recorded logs into typed
//!   [`chat::ChatEvent`]s; [`time`] does calendar arithmetic on event time; [`window`] holds the
//!   event-time windows; [`analysis`] reads what one record contributes (emotes, sentiment, terms);
//!   [`detect`] finds chat spikes and [`score`] scores engagement, subscriptions and ad slots;
//!   [`table`] keeps the versioned tables that processors join as of a record's time; [`alerts`]
//!   turns result rows into alerts (rules, cooldown, stable ids), [`notify`] builds what
//!   `chatpulse notify` posts (Slack, Discord, signed webhooks) and when it retries, and
//!   [`summary`] sums each channel's UTC day for the daily export;
//!   [`processor`] holds the processor kinds and their state tables; [`topology`] validates topology
//!   files, runs tasks and routes their results ([`topology::route`]); [`dashboard`] keeps what the
//!   live page shows of the result topics.
//! - **Edges** (behind the `runtime` feature): `archive` (raw chat to Parquet on disk or S3,
//!   exactly once; its row model, layout and roll policy are pure), `store` (RocksDB and in-memory
//!   state), `kafka` (clients, restore and `run`), `avro`, `http`, `ingest`, `twitch`, `metrics`,
//!   and the command line in `cli`.
//!
//! ```
//! use chatpulse::chat::{ChatEvent, EventKind};
//!
//! let line = "@tmi-sent-ts=1704557984095;user-id=1 :ann!ann@ann.tmi.twitch.tv PRIVMSG #nymn :hello";
//! let event = ChatEvent::parse(line).unwrap();
//! assert_eq!(event.channel, "nymn");
//! assert_eq!(event.ts_ms, Some(1_704_557_984_095));
//! assert!(matches!(event.kind, EventKind::Message(ref m) if m.text == "hello"));
//! ```
#![deny(missing_docs)]

pub mod alerts;
pub mod analysis;
pub mod audience;
pub mod chat;
pub mod dashboard;
pub mod detect;
pub mod notify;
pub mod processor;
pub mod report;
pub mod score;
pub mod secret;
pub mod summary;
pub mod table;
pub mod time;
pub mod topology;
pub mod window;
pub mod word_hash;

#[cfg(feature = "runtime")]
pub mod archive;
#[cfg(feature = "runtime")]
pub mod avro;
#[cfg(feature = "runtime")]
pub mod cli;
#[cfg(feature = "runtime")]
pub mod http;
#[cfg(feature = "runtime")]
pub mod ingest;
#[cfg(feature = "runtime")]
pub mod kafka;
#[cfg(feature = "runtime")]
pub mod metrics;
#[cfg(feature = "runtime")]
pub mod store;
#[cfg(feature = "runtime")]
pub mod twitch;
