//! In-repo stand-ins for services that cannot run on the test machines (Twitch IRC and Helix, the
//! Confluent Schema Registry, Slack/Discord/JSON webhooks). Each is a small server on 127.0.0.1 that speaks the real service's wire
//! protocol from its public documentation, so the production clients are tested unchanged. A TCP
//! proxy makes the network faults the real broker cannot.

pub mod helix_server;
pub mod http_request;
pub mod irc_server;
pub mod kafka_fault_proxy;
pub mod schema_registry;
pub mod tansu_broker;
pub mod tcp_proxy;
pub mod webhook_receiver;
