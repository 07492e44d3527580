//! Raw IRC logged without tags, each socket read prefixed by the logger's local wall-clock time:
//! `2019-04-30_08:56:59 ;;; :nick!nick@nick.tmi.twitch.tv PRIVMSG #chan :text` (the separator may also be
//! an em dash). Lines of the same read carry no time and inherit the previous one.

use super::tagged::with_sent_ts;
use super::{malformed, ImportError, ImportOptions, ImportedLine};
use crate::chat::error::{ParseError, ParseErrorKind};
use crate::time::civil::parse_timestamp_ms;

pub(super) struct IrcLogged {
    options: ImportOptions,
    last_ts: Option<i64>,
}

impl IrcLogged {
    pub(super) fn new(options: ImportOptions) -> Self {
        IrcLogged {
            options,
            last_ts: None,
        }
    }

    pub(super) fn records(
        mut self,
        lines: impl Iterator<Item = (u64, Result<String, ParseError>)>,
    ) -> impl Iterator<Item = Result<ImportedLine, ImportError>> {
        lines.filter_map(move |(position, line)| match line {
            Err(error) => Some(Err(ImportError { position, error })),
            Ok(line) => self.line(position, &line).transpose(),
        })
    }

    fn line(&mut self, position: u64, line: &str) -> Result<Option<ImportedLine>, ImportError> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let mut rest = line;
        if let Some(ts) = line
            .get(..19)
            .and_then(|p| parse_timestamp_ms(p, self.options.utc_offset_s))
        {
            self.last_ts = Some(ts);
            rest = line[19..].trim_start();
            for sep in [";;;", "\u{2014}", "|", "-"] {
                if let Some(after) = rest.strip_prefix(sep) {
                    rest = after.trim_start();
                    break;
                }
            }
        }
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(ts) = self.last_ts else {
            return Err(ImportError {
                position,
                error: ParseError::with_detail(
                    ParseErrorKind::InvalidTimestamp,
                    "no logger time before this line",
                ),
            });
        };
        // Twitch's lines start with tags, a prefix, or PING; anything else is the logger's own text.
        if !(rest.starts_with(':') || rest.starts_with('@') || rest.starts_with("PING ")) {
            return Err(malformed(position, format!("not an IRC line: {rest}")));
        }
        Ok(Some(ImportedLine {
            line: with_sent_ts(rest, ts),
            position,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{import, Format, ImportOptions};
    use crate::chat::ChatEvent;

    #[test]
    fn continuation_lines_inherit_time_and_noise_is_reported() {
        let log = "2019-04-30_08:56:59 ;;; START OF RECORDED CHAT\n\n\
                   2019-04-30_08:59:36 ;;; :a!a@a.tmi.twitch.tv PRIVMSG #c :one\n\
                   :b!b@b.tmi.twitch.tv PRIVMSG #c :two\n\
                   2019-02-22_20:47:12 \u{2014} :c!c@c.tmi.twitch.tv PRIVMSG #c :three\n";
        let opts = ImportOptions {
            channel: None,
            utc_offset_s: -7 * 3600,
        };
        let out: Vec<_> = import(Format::IrcLogged, opts, log.as_bytes()).collect();
        assert_eq!(out.len(), 4);
        assert!(out[0].is_err(), "logger noise is reported, not parsed");
        let ts: Vec<_> = out[1..]
            .iter()
            .map(|r| {
                ChatEvent::parse(&r.as_ref().unwrap().line)
                    .unwrap()
                    .ts_ms
                    .unwrap()
            })
            .collect();
        let first = crate::time::civil::parse_timestamp_ms("2019-04-30T15:59:36Z", 0).unwrap();
        assert_eq!(ts[0], first);
        assert_eq!(
            ts[1], first,
            "a continuation line inherits the previous time"
        );
    }
}
