//! OverRustle logs: `[2017-10-25 09:18:56 UTC] user: message`, one channel per file (the channel is not
//! in the file, so it comes from the options). Before 2018 Twitch announced subs as messages from the
//! pseudo-user `twitchnotify`; those become USERNOTICE `sub`/`resub` lines with plan and months.

use super::tagged::LineBuilder;
use super::{malformed, ImportError, ImportOptions, ImportedLine};
use crate::chat::error::ParseError;
use crate::chat::event::SubPlan;
use crate::time::civil::parse_timestamp_ms;

pub(super) fn records(
    options: ImportOptions,
    lines: impl Iterator<Item = (u64, Result<String, ParseError>)>,
) -> impl Iterator<Item = Result<ImportedLine, ImportError>> {
    lines.filter_map(move |(position, line)| match line {
        Err(error) => Some(Err(ImportError { position, error })),
        Ok(line) if line.trim().is_empty() => None,
        Ok(line) => Some(convert(&options, position, &line)),
    })
}

fn convert(
    options: &ImportOptions,
    position: u64,
    line: &str,
) -> Result<ImportedLine, ImportError> {
    let (stamp, rest) = line
        .strip_prefix('[')
        .and_then(|l| l.split_once("] "))
        .ok_or_else(|| {
            malformed(
                position,
                "expected `[YYYY-MM-DD HH:MM:SS UTC] user: message`",
            )
        })?;
    let ts = parse_timestamp_ms(stamp, options.utc_offset_s)
        .ok_or_else(|| malformed(position, format!("bad timestamp {stamp:?}")))?;
    // `user:` alone is an empty message; a line with no `:` after the name was cut short (the
    // nightblue3 log's last line is `[2017-10-25 11:39:47 UTC] joa`) and is not a message.
    let (user, text) = match rest.split_once(": ") {
        Some((user, text)) => (user, text),
        None => match rest.strip_suffix(':') {
            Some(user) => (user, ""),
            None => {
                let detail = format!("no ': ' after the user name (line cut short?) in {rest:?}");
                return Err(malformed(position, detail));
            }
        },
    };
    if user.is_empty() || user.contains(' ') {
        return Err(malformed(
            position,
            format!("no user name before ':' in {rest:?}"),
        ));
    }
    let channel = options.channel();
    let mut b = LineBuilder::new();
    b.tag_num("tmi-sent-ts", ts);
    if user.eq_ignore_ascii_case("twitchnotify") {
        let notice = SubNotice::read(text)
            .ok_or_else(|| malformed(position, format!("unknown twitchnotify text {text:?}")))?;
        let login = notice.display_name.to_lowercase();
        b.tag("login", &login)
            .tag("display-name", notice.display_name)
            .tag(
                "msg-id",
                if notice.months.is_some() {
                    "resub"
                } else {
                    "sub"
                },
            );
        if let Some(plan) = notice.plan {
            b.tag("msg-param-sub-plan", plan.as_twitch_str());
        }
        if let Some(months) = notice.months {
            b.tag_num("msg-param-cumulative-months", months);
        }
        b.tag("system-msg", notice.system_msg);
        return Ok(ImportedLine {
            line: b.usernotice(channel, notice.message),
            position,
        });
    }
    let login = user.to_lowercase();
    if login != user {
        b.tag("display-name", user);
    }
    Ok(ImportedLine {
        line: b.privmsg(&login, channel, text),
        position,
    })
}

/// A pre-2018 `twitchnotify` sub announcement.
#[derive(Debug, PartialEq)]
struct SubNotice<'a> {
    display_name: &'a str,
    plan: Option<SubPlan>,
    months: Option<u32>,
    message: Option<&'a str>,
    system_msg: &'a str,
}

impl<'a> SubNotice<'a> {
    /// Reads `NAME just subscribed with Twitch Prime!`, `NAME just subscribed with a $4.99 sub!`,
    /// either followed by `. NAME subscribed for N months in a row!` and `[SubMessage]: text`, and the
    /// older `NAME subscribed for N months in a row!`.
    fn read(text: &'a str) -> Option<SubNotice<'a>> {
        let (system_msg, message) = match text.split_once(" [SubMessage]: ") {
            Some((s, m)) => (s, Some(m)),
            None => (text, None),
        };
        let (display_name, after) = system_msg.split_once(' ')?;
        let plan = if let Some(rest) = after.strip_prefix("just subscribed with ") {
            Some(if rest.starts_with("Twitch Prime") {
                SubPlan::Prime
            } else if rest.starts_with("a $9.99") {
                SubPlan::Tier2
            } else if rest.starts_with("a $24.99") {
                SubPlan::Tier3
            } else if rest.starts_with("a $") {
                SubPlan::Tier1
            } else {
                return None;
            })
        } else if after.starts_with("subscribed for ") {
            None
        } else {
            return None;
        };
        let months = system_msg.find(" subscribed for ").and_then(|i| {
            let tail = &system_msg[i + " subscribed for ".len()..];
            tail.split(' ').next()?.parse().ok()
        });
        Some(SubNotice {
            display_name,
            plan,
            months,
            message,
            system_msg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_twitchnotify_shape() {
        let s = SubNotice::read("Valarix_ just subscribed with Twitch Prime!").unwrap();
        assert_eq!(
            (s.display_name, s.plan, s.months),
            ("Valarix_", Some(SubPlan::Prime), None)
        );
        let s = SubNotice::read("Ferelez just subscribed with a $4.99 sub!").unwrap();
        assert_eq!(s.plan, Some(SubPlan::Tier1));
        let s = SubNotice::read(
            "kr1ska7a just subscribed with a $4.99 sub. kr1ska7a subscribed for 34 months in a row! [SubMessage]: <3 honey",
        )
        .unwrap();
        assert_eq!((s.months, s.message), (Some(34), Some("<3 honey")));
        let s = SubNotice::read("old subscribed for 3 months in a row!").unwrap();
        assert_eq!((s.plan, s.months), (None, Some(3)));
        assert_eq!(SubNotice::read("someone hosted the channel"), None);
    }

    #[test]
    fn a_line_cut_after_the_user_name_is_an_error() {
        let opts = ImportOptions {
            channel: Some("c".into()),
            utc_offset_s: 0,
        };
        assert!(convert(&opts, 1, "[2017-10-25 11:39:47 UTC] joa").is_err());
        let empty = convert(&opts, 2, "[2017-10-25 11:39:47 UTC] joa:").unwrap();
        assert!(empty.line.ends_with("PRIVMSG #c :"), "{}", empty.line);
    }
}
