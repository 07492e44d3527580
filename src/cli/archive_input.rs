//! The flags of commands that touch the archive: where an S3 store is (`archive`, and `replay` and
//! `process` with `--format archive`), and for backfills the archived topic and an event-time
//! range, with opening a root (a directory or `s3://bucket/prefix`) as a [`Backfill`].

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::archive::backfill::{Backfill, TimeRange};
use crate::archive::storage::{self, S3Options};
use crate::time::civil::parse_timestamp_ms;

/// S3 options (flatten into a command's `Args`); credentials come from the AWS variables and files.
#[derive(Debug, Clone, clap::Args)]
pub struct S3Args {
    /// S3 endpoint URL, for MinIO, moto or another S3-compatible store (default: AWS, or
    /// AWS_ENDPOINT_URL).
    #[arg(long, env = "CHATPULSE_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, the AWS profile's, or us-east-1).
    #[arg(long, env = "CHATPULSE_S3_REGION")]
    pub s3_region: Option<String>,
    /// Path-style S3 requests (`ENDPOINT/BUCKET/KEY`), which MinIO and moto need.
    #[arg(long, env = "CHATPULSE_S3_PATH_STYLE")]
    pub s3_path_style: bool,
}

impl S3Args {
    /// The storage options these flags describe.
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            path_style: self.s3_path_style,
        }
    }
}

/// A time flag: RFC 3339 (`2025-04-28T13:00:00Z`; UTC without a zone) or epoch milliseconds.
fn parse_time(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| parse_timestamp_ms(s, 0))
        .ok_or_else(|| {
            format!("{s:?} is not a time: use 2025-04-28T13:00:00Z or epoch milliseconds")
        })
}

/// How to read the archive back (`--format archive`; flatten into a command's `Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct ArchiveInputArgs {
    /// With --format archive: the archived topic to read (its directory under the root).
    #[arg(long, default_value = "twitch.chat.raw")]
    pub archive_topic: String,
    /// With --format archive: read lines whose event time is at or after this (RFC 3339 such as
    /// 2025-04-28T13:00:00Z, or epoch ms); hour directories before it are not opened.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<i64>,
    /// With --format archive: read lines whose event time is before this.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<i64>,
    #[command(flatten)]
    pub s3: S3Args,
}

impl ArchiveInputArgs {
    /// The archived lines under `root` (a directory or `s3://bucket/prefix`, as `archive --root`).
    pub fn open(&self, root: &str) -> Result<Backfill> {
        let storage = storage::open(root, &self.s3.options())
            .with_context(|| format!("cannot open the archive root {root}"))?;
        let range = TimeRange {
            from_ms: self.from,
            to_ms: self.to,
        };
        Backfill::open(Arc::from(storage), &self.archive_topic, range)
            .with_context(|| format!("cannot read the archive at {root}"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_rfc3339_or_epoch_ms() {
        assert_eq!(parse_time("1745845200000"), Ok(1_745_845_200_000));
        assert_eq!(parse_time("2025-04-28T13:00:00Z"), Ok(1_745_845_200_000));
        assert!(parse_time("yesterday").is_err());
    }
}
