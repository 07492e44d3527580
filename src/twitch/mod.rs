//! The Twitch edge: the chat client that reads channels over IRC ([`irc`]) and the Helix API client
//! that polls stream metadata ([`helix`]). Protocol logic is pure
//! and unit tested; sockets live only in the connection and client files.

pub mod helix;
pub mod irc;
