//! The Avro schemas chatpulse ships in `avro/*.avsc`, compiled in and looked up by file stem, and
//! schemas loaded from a user's `.avsc` file. A sink's `schema` setting names one or the other.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::Schema;

/// The built-in schemas: (name = file stem, JSON text). Adding one is one line here.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "engagement_basic_minute",
        include_str!("../../avro/engagement_basic_minute.avsc"),
    ),
    ("chat_event", include_str!("../../avro/chat_event.avsc")),
    ("engagement", include_str!("../../avro/engagement.avsc")),
    ("spike", include_str!("../../avro/spike.avsc")),
    ("subscription", include_str!("../../avro/subscription.avsc")),
    ("sub_trend", include_str!("../../avro/sub_trend.avsc")),
    ("ad_slot", include_str!("../../avro/ad_slot.avsc")),
    (
        "chatter_session",
        include_str!("../../avro/chatter_session.avsc"),
    ),
    (
        "stream_snapshot",
        include_str!("../../avro/stream_snapshot.avsc"),
    ),
    (
        "stream_session",
        include_str!("../../avro/stream_session.avsc"),
    ),
    ("leaderboard", include_str!("../../avro/leaderboard.avsc")),
    ("rising", include_str!("../../avro/rising.avsc")),
    (
        "audience_hour",
        include_str!("../../avro/audience_hour.avsc"),
    ),
    ("alert", include_str!("../../avro/alert.avsc")),
    ("highlight", include_str!("../../avro/highlight.avsc")),
];

/// Why a schema could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// No built-in schema has that name.
    #[error(
        "no built-in Avro schema is named {name:?}: use one of {known}, or a path to an .avsc file"
    )]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// The file could not be read.
    #[error("cannot read Avro schema file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The text is not a valid Avro schema.
    #[error(
        "Avro schema {origin} does not parse: {reason} (check it against the Avro specification)"
    )]
    Parse {
        /// Where the text came from.
        origin: String,
        /// The parser's complaint.
        reason: String,
    },
}

/// A parsed schema with its text and the named types it defines (for `Ref`s inside it).
#[derive(Debug, Clone)]
pub struct AvroSchema {
    /// Where it came from: a built-in name or a file path.
    pub origin: String,
    /// The schema as written (what is registered).
    pub text: String,
    /// The parsed schema.
    pub schema: Schema,
    /// Named types it defines, by full name.
    pub names: Arc<HashMap<Name, Schema>>,
}

impl AvroSchema {
    /// Parses schema `text`; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<AvroSchema, SchemaError> {
        let parse_error = |e: apache_avro::Error| SchemaError::Parse {
            origin: origin.to_owned(),
            reason: e.to_string(),
        };
        let schema = Schema::parse_str(text).map_err(parse_error)?;
        let names = ResolvedSchema::try_from(&schema)
            .map_err(parse_error)?
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        Ok(AvroSchema {
            origin: origin.to_owned(),
            text: text.to_owned(),
            schema,
            names: Arc::new(names),
        })
    }

    /// A built-in schema by name (`engagement_basic_minute`).
    pub fn builtin(name: &str) -> Result<AvroSchema, SchemaError> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            SchemaError::UnknownBuiltin {
                name: name.to_owned(),
                known: builtin_names().join(", "),
            }
        })?;
        AvroSchema::parse(name, text)
    }

    /// A schema from an `.avsc` file.
    pub fn from_file(path: &Path) -> Result<AvroSchema, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|e| SchemaError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        AvroSchema::parse(&path.display().to_string(), &text)
    }
}

/// The names of the built-in schemas.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_documents_every_field() {
        for name in builtin_names() {
            let s = AvroSchema::builtin(name).unwrap();
            let Schema::Record(r) = &s.schema else {
                panic!("{name} is not a record")
            };
            assert_eq!(r.name.namespace(), Some("tv.chatpulse"), "{name}");
            for f in &r.fields {
                assert!(f.doc.is_some(), "{name}.{} has no doc", f.name);
            }
        }
    }

    #[test]
    fn unknown_builtin_lists_the_known_ones() {
        let e = AvroSchema::builtin("nope").unwrap_err().to_string();
        assert!(e.contains("engagement_basic_minute"), "{e}");
    }

    #[test]
    fn files_load_and_bad_text_is_a_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("x.avsc");
        std::fs::write(&good, BUILTIN[0].1).unwrap();
        assert!(AvroSchema::from_file(&good).is_ok());
        let bad = dir.path().join("bad.avsc");
        std::fs::write(&bad, r#"{"type": "record", "name": "X"}"#).unwrap();
        let e = AvroSchema::from_file(&bad).unwrap_err();
        assert!(matches!(e, SchemaError::Parse { .. }), "{e}");
        let missing = AvroSchema::from_file(Path::new("/nonexistent/x.avsc")).unwrap_err();
        assert!(matches!(missing, SchemaError::Read { .. }), "{missing}");
    }
}
