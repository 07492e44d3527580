//! One raw line on its way to Kafka, and how its record is keyed and timed: key = channel, record
//! timestamp = the line's `tmi-sent-ts` when it has one (else the receive time), headers
//! `chatpulse.received_at` (milliseconds) and `chatpulse.connection` (the connection id).

use crate::chat::irc::IrcMessage;

/// Header carrying the receive time in Unix milliseconds, as decimal text.
pub const RECEIVED_AT_HEADER: &str = "chatpulse.received_at";
/// Header carrying the id of the connection (or replay source) the line came from.
pub const CONNECTION_HEADER: &str = "chatpulse.connection";

/// A raw IRC line with where and when it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// The exact line, without its `\r\n`.
    pub line: String,
    /// The channel (record key), without `#`.
    pub channel: String,
    /// When it was received, Unix milliseconds.
    pub received_at_ms: i64,
    /// Which connection (or replayed file) it came from.
    pub connection: String,
}

impl RawLine {
    /// A line received on `connection` at `received_at_ms`; `None` when it names no channel.
    pub fn new(line: String, received_at_ms: i64, connection: &str) -> Option<RawLine> {
        let channel = channel_of(&line)?.to_owned();
        Some(RawLine {
            line,
            channel,
            received_at_ms,
            connection: connection.to_owned(),
        })
    }

    /// The record timestamp: `tmi-sent-ts` when the line has a valid one, else the receive time.
    pub fn timestamp_ms(&self) -> i64 {
        sent_ts_ms(&self.line).unwrap_or(self.received_at_ms)
    }
}

/// The channel a line is about (first parameter starting with `#`), without the `#`.
pub fn channel_of(line: &str) -> Option<&str> {
    let msg = IrcMessage::parse(line).ok()?;
    let channel = msg.param(0)?.strip_prefix('#')?;
    (!channel.is_empty()).then_some(channel)
}

/// The `tmi-sent-ts` tag of a line, in Unix milliseconds.
pub fn sent_ts_ms(line: &str) -> Option<i64> {
    let msg = IrcMessage::parse(line).ok()?;
    msg.raw_tag("tmi-sent-ts")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_timestamp_come_from_the_line() {
        let line =
            "@tmi-sent-ts=1704557984095;user-id=1 :ann!ann@ann.tmi.twitch.tv PRIVMSG #nymn :hi";
        let raw = RawLine::new(line.to_owned(), 5, "c1").unwrap();
        assert_eq!(raw.channel, "nymn");
        assert_eq!(raw.timestamp_ms(), 1_704_557_984_095);
        let untagged = RawLine::new(":a!a@a PRIVMSG #x :hi".to_owned(), 5, "c1").unwrap();
        assert_eq!(
            untagged.timestamp_ms(),
            5,
            "no tmi-sent-ts: the receive time"
        );
    }

    #[test]
    fn lines_without_a_channel_are_not_records() {
        assert!(RawLine::new("PING :tmi.twitch.tv".to_owned(), 0, "c").is_none());
        assert!(
            RawLine::new(":tmi.twitch.tv 001 justinfan1 :Welcome".to_owned(), 0, "c").is_none()
        );
    }
}
