//! AWS credentials and region from the shared files (`~/.aws/credentials`, `~/.aws/config`, or
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`) for the profile `AWS_PROFILE` (default
//! `default`), used when the environment names no key. Pure parsing plus one file read.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Keys of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileKeys {
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key` (never logged).
    pub secret_access_key: Option<String>,
    /// `aws_session_token` (never logged).
    pub session_token: Option<String>,
    /// `region` (from the config file).
    pub region: Option<String>,
}

/// The `key = value` pairs of `section` in INI `text` (`#`/`;` comments, keys lower-cased).
pub fn ini_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
    }
    out
}

/// The keys of `profile` from the credentials file text and the config file text (where a
/// profile other than `default` is `[profile NAME]`).
pub fn profile_keys(credentials: &str, config: &str, profile: &str) -> ProfileKeys {
    let creds = ini_section(credentials, profile);
    let config_section = if profile == "default" {
        "default".to_owned()
    } else {
        format!("profile {profile}")
    };
    let conf = ini_section(config, &config_section);
    let pick = |k: &str| creds.get(k).or_else(|| conf.get(k)).cloned();
    ProfileKeys {
        access_key_id: pick("aws_access_key_id"),
        secret_access_key: pick("aws_secret_access_key"),
        session_token: pick("aws_session_token"),
        region: conf.get("region").cloned(),
    }
}

fn aws_file(var: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join(name)))
}

/// The keys of the current profile from the shared files (missing files read as empty).
pub fn from_shared_files() -> ProfileKeys {
    let read = |p: Option<PathBuf>| p.and_then(|p| std::fs::read_to_string(p).ok());
    let credentials =
        read(aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")).unwrap_or_default();
    let config = read(aws_file("AWS_CONFIG_FILE", "config")).unwrap_or_default();
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    profile_keys(&credentials, &config, &profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "
# comment
[default]
aws_access_key_id = AKIDEFAULT
aws_secret_access_key = secret-default

[ci]
AWS_ACCESS_KEY_ID=AKICI
aws_secret_access_key=secret-ci
aws_session_token = token-ci
";
    const CONFIG: &str = "
[default]
region = eu-west-1
[profile ci]
region = us-east-2
";

    #[test]
    fn the_named_profile_takes_keys_from_credentials_and_region_from_config() {
        assert_eq!(
            profile_keys(CREDENTIALS, CONFIG, "ci"),
            ProfileKeys {
                access_key_id: Some("AKICI".into()),
                secret_access_key: Some("secret-ci".into()),
                session_token: Some("token-ci".into()),
                region: Some("us-east-2".into()),
            }
        );
        let d = profile_keys(CREDENTIALS, CONFIG, "default");
        assert_eq!(d.access_key_id.as_deref(), Some("AKIDEFAULT"));
        assert_eq!(d.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            profile_keys(CREDENTIALS, "", "nope"),
            ProfileKeys::default()
        );
    }
}
