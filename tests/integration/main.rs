//! Tests against real parts: the tansu broker over TCP (address in `CHATPULSE_TEST_BROKERS`, which
//! `scripts/test` sets) and RocksDB on disk. Each test uses its own topics and consumer groups.

mod alerts_process;
mod analytics_avro;
mod archive;
mod archive_results;
mod audience_process;
mod avro;
mod avro_python;
mod backfill;
mod bench;
mod broker_process;
mod chat_roundtrip;
mod chatter_sessions;
mod cli;
mod consume_errors;
mod dashboard;
mod delivery_failure;
mod demo;
mod engine;
mod engine_support;
mod eos;
mod harness;
mod highlights_process;
mod http_server;
mod ingest;
mod ingest_outage;
mod ingest_stall;
mod joins;
mod kills;
mod late_records;
mod leaderboards;
mod monitor;
mod monitor_series;
mod notify;
mod ops;
mod own_broker;
mod replay;
mod restart;
mod restore_faults;
mod scale_out;
mod secrets;
mod store;
mod stream_sessions;
mod summary;

#[path = "../common/boards.rs"]
#[allow(dead_code)]
mod boards;
#[path = "../common/minutes.rs"]
#[allow(dead_code)]
mod minutes;
#[path = "../common/sessions.rs"]
#[allow(dead_code)]
mod sessions;
#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;
