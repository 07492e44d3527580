//! Delivering alerts (`chatpulse notify`): the pure parts. Each destination kind makes its request
//! from an [`Alert`](crate::alerts::alert::Alert) ([`slack`] Block Kit, [`discord`] embeds, a
//! generic JSON [`webhook`] signed by [`signature`]); [`retry`] classifies answers and spaces
//! attempts; [`pace`] keeps each destination's rate. The HTTP and Kafka shell is `cli::notify`.

pub mod destination;
pub mod discord;
pub mod pace;
pub mod retry;
pub mod signature;
pub mod slack;
pub mod webhook;
