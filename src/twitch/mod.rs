//! The Twitch edge: the chat client that reads channels over IRC ([`irc`]). Protocol logic is pure
//! and unit tested; sockets live only in the connection and client files.

pub mod irc;
