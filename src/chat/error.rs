//! Why a chat line or log record could not be turned into an event.
//! Every error names the problem and, where it helps, the offending text, so a dead-letter record
//! or a `chatpulse parse` summary tells the user what to fix.

use std::fmt;

/// What was wrong with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line was empty or only whitespace.
    EmptyLine,
    /// A tag section (`@...`) was not followed by a command.
    TagsWithoutCommand,
    /// A prefix (`:nick!user@host`) was not followed by a command.
    PrefixWithoutCommand,
    /// No command word was found.
    MissingCommand,
    /// The command word has characters IRC does not allow.
    InvalidCommand,
    /// A chat command lacks its `#channel` parameter.
    MissingChannel,
    /// A PRIVMSG has no sender in its prefix.
    MissingSender,
    /// A PRIVMSG or USERNOTICE lacks a required part (text, msg-id).
    MissingField,
    /// A numeric tag or field does not hold a number.
    InvalidNumber,
    /// A timestamp could not be read.
    InvalidTimestamp,
    /// A record of a log format is malformed (wrong columns, bad JSON, unknown shape).
    MalformedRecord,
    /// The bytes are not UTF-8.
    NotUtf8,
}

impl ParseErrorKind {
    /// A short stable name, used as the DLQ reason and in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::EmptyLine => "empty_line",
            ParseErrorKind::TagsWithoutCommand => "tags_without_command",
            ParseErrorKind::PrefixWithoutCommand => "prefix_without_command",
            ParseErrorKind::MissingCommand => "missing_command",
            ParseErrorKind::InvalidCommand => "invalid_command",
            ParseErrorKind::MissingChannel => "missing_channel",
            ParseErrorKind::MissingSender => "missing_sender",
            ParseErrorKind::MissingField => "missing_field",
            ParseErrorKind::InvalidNumber => "invalid_number",
            ParseErrorKind::InvalidTimestamp => "invalid_timestamp",
            ParseErrorKind::MalformedRecord => "malformed_record",
            ParseErrorKind::NotUtf8 => "not_utf8",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ParseErrorKind::EmptyLine => "the line is empty",
            ParseErrorKind::TagsWithoutCommand => "the tag section is not followed by a command",
            ParseErrorKind::PrefixWithoutCommand => "the prefix is not followed by a command",
            ParseErrorKind::MissingCommand => "no IRC command was found",
            ParseErrorKind::InvalidCommand => {
                "the IRC command has characters other than letters and digits"
            }
            ParseErrorKind::MissingChannel => "the command has no #channel parameter",
            ParseErrorKind::MissingSender => "the message has no sender (expected :nick!user@host)",
            ParseErrorKind::MissingField => "a required field is missing",
            ParseErrorKind::InvalidNumber => "a field that must be a number is not one",
            ParseErrorKind::InvalidTimestamp => "a timestamp could not be read",
            ParseErrorKind::MalformedRecord => "the record does not have the shape of its format",
            ParseErrorKind::NotUtf8 => "the input is not valid UTF-8",
        }
    }
}

/// A parse failure: its kind and the text it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    kind: ParseErrorKind,
    detail: Option<String>,
}

impl ParseError {
    /// An error with no detail.
    pub fn new(kind: ParseErrorKind) -> Self {
        ParseError { kind, detail: None }
    }

    /// An error naming the offending text (cut to 80 characters).
    pub fn with_detail(kind: ParseErrorKind, detail: impl AsRef<str>) -> Self {
        let detail = detail.as_ref();
        let cut: String = detail.chars().take(80).collect();
        ParseError {
            kind,
            detail: Some(cut),
        }
    }

    /// What was wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The text the error concerns, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail:?}")?;
        }
        Ok(())
    }
}
