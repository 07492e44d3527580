//! The chat webhook flags `notify` and `summary` share: a Slack incoming-webhook URL and a
//! Discord webhook URL, both secrets (never in logs, errors, `Debug` or `--help`).

use crate::secret::Secret;

/// Where chat messages go (flatten into a command's `Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct ChatWebhooks {
    /// A Slack incoming-webhook URL. A secret: never printed (not in --help, logs or errors).
    #[arg(
        long,
        env = "CHATPULSE_SLACK_WEBHOOK_URL",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub slack_url: Option<Secret>,
    /// A Discord webhook URL. A secret: never printed.
    #[arg(
        long,
        env = "CHATPULSE_DISCORD_WEBHOOK_URL",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub discord_url: Option<Secret>,
}
