//! One chat connection's protocol state, without the socket: what to send on connect (CAP REQ, PASS,
//! NICK), what each received line means (PING, RECONNECT, JOIN echoes, chat lines), and which of the
//! connection's channels still need a JOIN. The connection feeds it lines and carries out its answers.

use std::collections::BTreeSet;
use std::fmt;

use crate::chat::irc::IrcMessage;

/// The capabilities chatpulse asks for: tags (ids, times, badges) and Twitch's own commands.
pub const CAPABILITIES: &str = "twitch.tv/tags twitch.tv/commands";

/// Commands that carry chat a channel produced: these lines go to Kafka.
const CHAT_COMMANDS: [&str; 7] = [
    "PRIVMSG",
    "USERNOTICE",
    "CLEARCHAT",
    "CLEARMSG",
    "ROOMSTATE",
    "NOTICE",
    "HOSTTARGET",
];

/// How to log in.
#[derive(Clone, PartialEq, Eq)]
pub enum Login {
    /// Read-only anonymous login as `justinfan<digits>`.
    Anonymous {
        /// The nick, `justinfan` followed by digits.
        nick: String,
    },
    /// A Twitch user access token (with `chat:read`).
    Token {
        /// The account's login name.
        nick: String,
        /// The token, with or without its `oauth:` prefix. Never logged.
        token: String,
    },
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Login::Anonymous { nick } => write!(f, "Anonymous({nick})"),
            Login::Token { nick, .. } => write!(f, "Token({nick}, <redacted>)"),
        }
    }
}

impl Login {
    /// An anonymous login with a nick made from `seed`.
    pub fn anonymous(seed: u64) -> Login {
        Login::Anonymous {
            nick: format!("justinfan{}", 10_000 + seed % 89_990_000),
        }
    }

    /// The nick this login uses.
    pub fn nick(&self) -> &str {
        match self {
            Login::Anonymous { nick } | Login::Token { nick, .. } => nick,
        }
    }
}

/// What a received line asks the connection to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Write this line.
    Send(String),
    /// A chat line of a channel: produce it.
    Chat,
    /// The server is ready: registration succeeded.
    Ready,
    /// Our JOIN of this channel was confirmed.
    Joined(String),
    /// The server asked us to reconnect (RECONNECT).
    Reconnect,
    /// Login was refused: retrying with the same credentials will not help.
    LoginFailed(String),
}

/// Protocol state of one connection.
#[derive(Debug, Clone)]
pub struct Session {
    login: Login,
    ready: bool,
    wanted: BTreeSet<String>,
    requested: BTreeSet<String>,
    joined: BTreeSet<String>,
}

impl Session {
    /// A session that logs in with `login`.
    pub fn new(login: Login) -> Session {
        Session {
            login,
            ready: false,
            wanted: BTreeSet::new(),
            requested: BTreeSet::new(),
            joined: BTreeSet::new(),
        }
    }

    /// Starts over on a new socket: registration and every JOIN must be done again.
    /// Returns the lines to send first (CAP REQ, PASS when a token is used, NICK).
    pub fn connect(&mut self) -> Vec<String> {
        self.ready = false;
        self.requested.clear();
        self.joined.clear();
        let mut lines = vec![format!("CAP REQ :{CAPABILITIES}")];
        match &self.login {
            Login::Anonymous { nick } => lines.push(format!("NICK {nick}")),
            Login::Token { nick, token } => {
                let token = token.strip_prefix("oauth:").unwrap_or(token);
                lines.push(format!("PASS oauth:{token}"));
                lines.push(format!("NICK {}", nick.to_ascii_lowercase()));
            }
        }
        lines
    }

    /// Whether registration is done.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Channels whose JOIN was confirmed on this socket.
    pub fn joined(&self) -> &BTreeSet<String> {
        &self.joined
    }

    /// Sets the channels this connection should be in; returns the PART lines for channels it leaves.
    pub fn set_channels(&mut self, wanted: BTreeSet<String>) -> Vec<String> {
        let leaving: Vec<String> = self
            .requested
            .iter()
            .filter(|c| !wanted.contains(*c))
            .cloned()
            .collect();
        for c in &leaving {
            self.requested.remove(c);
            self.joined.remove(c);
        }
        self.wanted = wanted;
        if !self.ready {
            return Vec::new();
        }
        leaving.iter().map(|c| format!("PART #{c}")).collect()
    }

    /// The next channel to JOIN, if registration is done and one is still missing.
    pub fn next_join(&self) -> Option<&str> {
        if !self.ready {
            return None;
        }
        self.wanted
            .iter()
            .find(|c| !self.requested.contains(*c))
            .map(String::as_str)
    }

    /// Records that the JOIN of `channel` was sent; returns the line to send.
    pub fn join_sent(&mut self, channel: &str) -> String {
        self.requested.insert(channel.to_owned());
        format!("JOIN #{channel}")
    }

    /// Interprets one received line.
    pub fn on_line(&mut self, line: &str) -> Action {
        let Ok(msg) = IrcMessage::parse(line) else {
            return Action::None;
        };
        let command = msg.command();
        match command {
            "PING" => Action::Send(match msg.param(0) {
                Some(arg) => format!("PONG :{arg}"),
                None => "PONG".to_owned(),
            }),
            "001" => {
                self.ready = true;
                Action::Ready
            }
            "RECONNECT" => Action::Reconnect,
            "JOIN" if msg.nick() == Some(self.login.nick()) => {
                match msg.param(0).and_then(|c| c.strip_prefix('#')) {
                    Some(channel) if self.requested.contains(channel) => {
                        self.joined.insert(channel.to_owned());
                        Action::Joined(channel.to_owned())
                    }
                    _ => Action::None,
                }
            }
            "NOTICE" if msg.param(0) == Some("*") => {
                let text = msg.param(1).unwrap_or_default();
                if text.contains("authentication failed")
                    || text.contains("Improperly formatted auth")
                {
                    Action::LoginFailed(text.to_owned())
                } else {
                    Action::None
                }
            }
            c if CHAT_COMMANDS.contains(&c)
                && msg
                    .param(0)
                    .is_some_and(|p| p.len() > 1 && p.starts_with('#')) =>
            {
                Action::Chat
            }
            _ => Action::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(channels: &[&str]) -> Session {
        let mut s = Session::new(Login::anonymous(7));
        s.connect();
        s.set_channels(channels.iter().map(|c| c.to_string()).collect());
        assert_eq!(
            s.on_line(":tmi.twitch.tv 001 justinfan10007 :Welcome, GLHF!"),
            Action::Ready
        );
        s
    }

    #[test]
    fn registration_asks_for_tags_and_commands_and_never_prints_the_token() {
        let mut s = Session::new(Login::anonymous(7));
        assert_eq!(
            s.connect(),
            [
                "CAP REQ :twitch.tv/tags twitch.tv/commands",
                "NICK justinfan10007"
            ]
        );
        let login = Login::Token {
            nick: "Bot".into(),
            token: "oauth:secret".into(),
        };
        assert!(!format!("{login:?}").contains("secret"));
        let lines = Session::new(login).connect();
        assert_eq!(lines[1], "PASS oauth:secret");
        assert_eq!(lines[2], "NICK bot");
    }

    #[test]
    fn joins_wait_for_registration_and_are_confirmed_by_the_echo() {
        let mut s = Session::new(Login::anonymous(7));
        s.connect();
        s.set_channels(["a".to_string(), "b".to_string()].into());
        assert_eq!(s.next_join(), None, "not registered yet");
        s.on_line(":tmi.twitch.tv 001 justinfan10007 :Welcome");
        assert_eq!(s.next_join(), Some("a"));
        assert_eq!(s.join_sent("a"), "JOIN #a");
        assert_eq!(s.next_join(), Some("b"));
        assert_eq!(
            s.on_line(":justinfan10007!justinfan10007@justinfan10007.tmi.twitch.tv JOIN #a"),
            Action::Joined("a".into())
        );
        assert_eq!(s.on_line(":someone!someone@x JOIN #a"), Action::None);
        assert!(s.joined().contains("a"));
    }

    #[test]
    fn a_new_socket_joins_everything_again_and_removed_channels_are_parted() {
        let mut s = ready(&["a", "b"]);
        s.join_sent("a");
        s.join_sent("b");
        assert_eq!(s.set_channels(["b".to_string()].into()), ["PART #a"]);
        s.connect();
        s.on_line(":tmi.twitch.tv 001 justinfan10007 :Welcome");
        assert_eq!(s.next_join(), Some("b"));
    }

    #[test]
    fn ping_reconnect_chat_and_login_failures() {
        let mut s = ready(&["nymn"]);
        assert_eq!(
            s.on_line("PING :tmi.twitch.tv"),
            Action::Send("PONG :tmi.twitch.tv".into())
        );
        assert_eq!(s.on_line(":tmi.twitch.tv RECONNECT"), Action::Reconnect);
        assert_eq!(
            s.on_line("@tmi-sent-ts=1 :a!a@a.tmi.twitch.tv PRIVMSG #nymn :hi"),
            Action::Chat
        );
        assert_eq!(
            s.on_line("@ban-duration=60 :tmi.twitch.tv CLEARCHAT #nymn :someone"),
            Action::Chat
        );
        assert_eq!(s.on_line(":tmi.twitch.tv USERSTATE #nymn"), Action::None);
        assert_eq!(
            s.on_line(":tmi.twitch.tv 353 justinfan10007 = #nymn :x"),
            Action::None
        );
        assert!(matches!(
            s.on_line(":tmi.twitch.tv NOTICE * :Login authentication failed"),
            Action::LoginFailed(_)
        ));
    }
}
