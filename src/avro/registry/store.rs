//! An in-memory schema registry: subjects with versions, schemas with global ids, and Confluent's
//! default BACKWARD compatibility rule (a new version must read data written with the latest one).
//! It backs `mock://` registries and the test suite's HTTP stand-in.

use std::collections::BTreeMap;

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;

use super::{RegistryError, SubjectVersion};

/// Subjects, versions and ids, in memory.
#[derive(Debug, Default)]
pub struct SchemaStore {
    /// Schema texts; the id of `schemas[i]` is `i + 1`.
    schemas: Vec<(String, Schema)>,
    /// Per subject, the ids of its versions in order (version = index + 1).
    subjects: BTreeMap<String, Vec<u32>>,
}

fn parse(text: &str) -> Result<Schema, RegistryError> {
    Schema::parse_str(text).map_err(|e| RegistryError::InvalidSchema(e.to_string()))
}

impl SchemaStore {
    /// An empty store.
    pub fn new() -> SchemaStore {
        SchemaStore::default()
    }

    /// Registers `text` under `subject`: the same schema again returns its id; a new one must be
    /// BACKWARD compatible with the subject's latest version.
    pub fn register(&mut self, subject: &str, text: &str) -> Result<u32, RegistryError> {
        let schema = parse(text)?;
        let canonical = schema.canonical_form();
        let versions = self.subjects.get(subject).cloned().unwrap_or_default();
        if let Some(id) = versions
            .iter()
            .find(|id| self.schemas[**id as usize - 1].1.canonical_form() == canonical)
        {
            return Ok(*id);
        }
        if let Some(reason) = self.incompatibility(subject, &schema) {
            return Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                reason,
            });
        }
        let id = match self
            .schemas
            .iter()
            .position(|(_, s)| s.canonical_form() == canonical)
        {
            Some(i) => i as u32 + 1,
            None => {
                self.schemas.push((text.to_owned(), schema));
                self.schemas.len() as u32
            }
        };
        self.subjects
            .entry(subject.to_owned())
            .or_default()
            .push(id);
        Ok(id)
    }

    /// Why `schema` cannot read data of `subject`'s latest version, if it cannot.
    fn incompatibility(&self, subject: &str, schema: &Schema) -> Option<String> {
        let latest = *self.subjects.get(subject)?.last()?;
        let writer = &self.schemas[latest as usize - 1].1;
        match SchemaCompatibility::can_read(writer, schema) {
            Ok(Compatibility::Full) => None,
            Ok(Compatibility::Partial) => Some(format!(
                "it may fail to read some data written with version id {latest} (BACKWARD)"
            )),
            Err(e) => Some(format!(
                "it cannot read data written with id {latest} (BACKWARD): {e}"
            )),
        }
    }

    /// Whether `text` could be registered under `subject`.
    pub fn is_compatible(&self, subject: &str, text: &str) -> Result<bool, RegistryError> {
        Ok(self.incompatibility(subject, &parse(text)?).is_none())
    }

    /// The schema text of `id`.
    pub fn schema_by_id(&self, id: u32) -> Option<&str> {
        let i = (id as usize).checked_sub(1)?;
        self.schemas.get(i).map(|(t, _)| t.as_str())
    }

    /// The latest version of `subject`.
    pub fn latest(&self, subject: &str) -> Option<SubjectVersion> {
        let versions = self.subjects.get(subject)?;
        let id = *versions.last()?;
        Some(SubjectVersion {
            subject: subject.to_owned(),
            id,
            version: versions.len() as u32,
            schema: self.schema_by_id(id)?.to_owned(),
        })
    }

    /// Every subject, sorted.
    pub fn subjects(&self) -> Vec<String> {
        self.subjects.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#;
    const V2: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},
        {"name":"b","type":["null","string"],"default":null}]}"#;
    const BAD: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},
        {"name":"c","type":"string"}]}"#;

    #[test]
    fn versions_ids_and_backward_compatibility() {
        let mut s = SchemaStore::new();
        let id1 = s.register("t-value", V1).unwrap();
        assert_eq!(s.register("t-value", V1).unwrap(), id1);
        assert!(s.is_compatible("t-value", V2).unwrap());
        assert!(!s.is_compatible("t-value", BAD).unwrap());
        let id2 = s.register("t-value", V2).unwrap();
        assert_ne!(id1, id2);
        assert_eq!(s.latest("t-value").unwrap().version, 2);
        assert!(matches!(
            s.register("t-value", BAD),
            Err(RegistryError::Incompatible { .. })
        ));
        // The same schema under another subject keeps its global id.
        assert_eq!(s.register("u-value", V1).unwrap(), id1);
        assert_eq!(s.schema_by_id(id2), Some(V2));
        assert_eq!(s.schema_by_id(0), None);
        assert_eq!(s.subjects(), vec!["t-value", "u-value"]);
        assert!(matches!(
            s.register("t-value", "{"),
            Err(RegistryError::InvalidSchema(_))
        ));
    }
}
