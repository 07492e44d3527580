//! `--config FILE`: a TOML file whose values become the defaults of the command's flags, so the
//! precedence is flag > `CHATPULSE_*` env > file > built-in default, for every command alike.
//!
//! Top-level keys name a flag (`state_dir` or `state-dir`) of any command that has it; a table named
//! after a command (`[run]`) holds keys for that command only; `[kafka]` holds librdkafka properties
//! passed through to every Kafka client (see [`kafka_options`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

/// The `[kafka]` table of the loaded config file (empty without one).
static KAFKA_TABLE: OnceLock<BTreeMap<String, String>> = OnceLock::new();

/// The env prefix of librdkafka properties: `CHATPULSE_KAFKA_SASL_PASSWORD` sets `sasl.password`.
pub const KAFKA_ENV_PREFIX: &str = "CHATPULSE_KAFKA_";

/// The config file named by `--config FILE` / `--config=FILE` in `argv`, else `CHATPULSE_CONFIG`.
pub fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("CHATPULSE_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Reads `path` and makes its values the defaults of `command`'s flags; records its `[kafka]`
/// table. Refuses keys that no command knows, so a typo is an error rather than ignored.
pub fn apply_file(command: clap::Command, path: &Path) -> Result<clap::Command> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    // toml's own message quotes the offending line, which may hold a secret: say where instead.
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map_or(0, |s| s.start.min(text.len()));
        let line = 1 + text.as_bytes()[..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        anyhow::anyhow!(
            "config file {} is not valid TOML: {} (line {line})",
            path.display(),
            e.message()
        )
    })?;
    apply_table(command, &table).with_context(|| format!("config file {}", path.display()))
}

/// [`apply_file`] on a parsed table.
pub fn apply_table(mut command: clap::Command, table: &toml::Table) -> Result<clap::Command> {
    let mut kafka = BTreeMap::new();
    let mut top = BTreeMap::new();
    let mut per_command: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let subcommands: BTreeSet<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for (key, value) in table {
        match value {
            toml::Value::Table(t) if key == "kafka" => {
                for (k, v) in t {
                    let values = scalars(k, v)?;
                    kafka.insert(k.clone(), values.join(","));
                }
            }
            toml::Value::Table(t) if subcommands.contains(key) => {
                let mut keys = BTreeMap::new();
                for (k, v) in t {
                    keys.insert(flag_id(k), scalars(k, v)?);
                }
                per_command.insert(key.clone(), keys);
            }
            toml::Value::Table(_) => bail!(
                "[{key}] is neither [kafka] nor a command ({})",
                subcommands.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            v => {
                top.insert(flag_id(key), scalars(key, v)?);
            }
        }
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    command = set_defaults(command, &top, &mut used);
    for name in &subcommands {
        let mut unused_here = BTreeSet::new();
        let own = per_command.remove(name).unwrap_or_default();
        command = command.mut_subcommand(name, |mut sub| {
            sub = set_defaults(sub, &top, &mut used);
            set_defaults(sub, &own, &mut unused_here)
        });
        let unknown: Vec<_> = own.keys().filter(|k| !unused_here.contains(*k)).collect();
        if let Some(k) = unknown.first() {
            bail!("[{name}] has key {k:?}, which is not a flag of `chatpulse {name}` (see `chatpulse {name} --help`)");
        }
    }
    if let Some(k) = top.keys().find(|k| !used.contains(*k)) {
        bail!("key {k:?} is not a flag of any command (see `chatpulse <command> --help`)");
    }
    let _ = KAFKA_TABLE.set(kafka);
    Ok(command)
}

/// Sets the defaults of `command`'s own arguments found in `values`, noting which keys it used.
fn set_defaults(
    mut command: clap::Command,
    values: &BTreeMap<String, Vec<String>>,
    used: &mut BTreeSet<String>,
) -> clap::Command {
    let ids: Vec<String> = command
        .get_arguments()
        .filter(|a| a.get_long().is_some())
        .map(|a| a.get_id().to_string())
        .collect();
    for id in ids {
        let Some(v) = values.get(&id) else { continue };
        used.insert(id.clone());
        // clap keeps defaults as `&'static str`; a config file is read once per process.
        let leaked: Vec<&'static str> = v
            .iter()
            .map(|s| &*Box::leak(s.clone().into_boxed_str()))
            .collect();
        // A secret's value (an argument that hides its env value) is never shown as a default.
        command = command.mut_arg(id.as_str(), |a| {
            let hide = a.is_hide_env_values_set() || a.is_hide_default_value_set();
            a.required(false)
                .default_values(leaked)
                .hide_default_value(hide)
        });
    }
    command
}

/// A flag's clap id from a config key: `state-dir` and `state_dir` are both `state_dir`.
fn flag_id(key: &str) -> String {
    key.replace('-', "_")
}

/// A config value as flag values: scalars as one string, arrays as several.
fn scalars(key: &str, value: &toml::Value) -> Result<Vec<String>> {
    Ok(match value {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(i) => vec![i.to_string()],
        toml::Value::Float(f) => vec![f.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Array(items) => items
            .iter()
            .map(|i| scalars(key, i).map(|mut v| v.remove(0)))
            .collect::<Result<_>>()?,
        other => bail!(
            "key {key:?}: {} values are not supported here",
            other.type_str()
        ),
    })
}

/// The librdkafka properties of a Kafka command: the file's `[kafka]` table, overridden by
/// `CHATPULSE_KAFKA_*` variables (name lowercased, `_` read as `.`), overridden by `-X KEY=VALUE`.
pub fn kafka_options(flags: &[String]) -> Result<BTreeMap<String, String>> {
    let mut options = KAFKA_TABLE.get().cloned().unwrap_or_default();
    options.extend(kafka_env(std::env::vars()));
    for kv in flags {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("-X {kv:?} must be KEY=VALUE, for example -X security.protocol=SASL_SSL");
        };
        options.insert(k.to_owned(), v.to_owned());
    }
    Ok(options)
}

/// librdkafka properties from `CHATPULSE_KAFKA_*` variables.
fn kafka_env(vars: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.filter_map(|(k, v)| {
        let name = k.strip_prefix(KAFKA_ENV_PREFIX)?;
        (!name.is_empty()).then(|| (name.to_ascii_lowercase().replace('_', "."), v))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn cli() -> Command {
        Command::new("chatpulse")
            .arg(Arg::new("log").long("log").default_value("info"))
            .subcommand(
                Command::new("run")
                    .arg(
                        Arg::new("brokers")
                            .long("brokers")
                            .required(true)
                            .env("CP_TEST_BROKERS"),
                    )
                    .arg(
                        Arg::new("state_dir")
                            .long("state-dir")
                            .default_value("./state"),
                    ),
            )
            .subcommand(Command::new("parse").arg(Arg::new("quiet").long("quiet")))
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    fn run_matches(cmd: Command, args: &[&str]) -> clap::ArgMatches {
        let m = cmd.try_get_matches_from(args).unwrap();
        m.subcommand_matches("run").unwrap().clone()
    }

    #[test]
    fn flag_beats_file_and_file_beats_default() {
        let t =
            table("log = \"debug\"\n[run]\nbrokers = \"file:9092\"\nstate-dir = \"/var/state\"\n");
        let cmd = apply_table(cli(), &t).unwrap();
        let m = run_matches(cmd.clone(), &["chatpulse", "run"]);
        assert_eq!(m.get_one::<String>("brokers").unwrap(), "file:9092");
        assert_eq!(m.get_one::<String>("state_dir").unwrap(), "/var/state");
        let m = run_matches(cmd, &["chatpulse", "run", "--brokers", "flag:9092"]);
        assert_eq!(m.get_one::<String>("brokers").unwrap(), "flag:9092");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = apply_table(cli(), &table("brokerz = \"x\"")).unwrap_err();
        assert!(e.to_string().contains("brokerz"), "{e}");
        let e = apply_table(cli(), &table("[run]\nquiet = true")).unwrap_err();
        assert!(e.to_string().contains("quiet"), "{e}");
        assert!(apply_table(cli(), &table("[ingest]\nx = 1")).is_err());
    }

    #[test]
    fn kafka_env_names_become_properties() {
        let vars = [
            (
                "CHATPULSE_KAFKA_SECURITY_PROTOCOL".to_owned(),
                "SASL_SSL".to_owned(),
            ),
            ("CHATPULSE_BROKERS".to_owned(), "x".to_owned()),
        ];
        let got = kafka_env(vars.into_iter());
        assert_eq!(got.len(), 1);
        assert_eq!(got["security.protocol"], "SASL_SSL");
    }
}
