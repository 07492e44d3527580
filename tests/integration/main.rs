//! Tests against real parts: the tansu broker over TCP (address in `CHATPULSE_TEST_BROKERS`, which
//! `scripts/test` sets) and RocksDB on disk. Each test uses its own topics and consumer groups.

mod analytics_avro;
mod avro;
mod bench;
mod chat_roundtrip;
mod cli;
mod demo;
mod engine;
mod engine_support;
mod eos;
mod harness;
mod ingest;
mod ingest_outage;
mod kills;
mod monitor;
mod ops;
mod replay;
mod scale_out;
mod store;

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;
