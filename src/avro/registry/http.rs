//! A Confluent Schema Registry over HTTP, through the `schema_registry_converter` crate's async API.
//! Registered ids and fetched schemas are cached, so steady-state encoding and decoding make no
//! registry call.

use std::collections::HashMap;
use std::sync::Mutex;

use schema_registry_converter::async_impl::schema_registry::{
    get_schema_by_id, get_schema_by_subject_and_version, is_compatible_schema, post_schema,
    SrSettings,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use super::{RegistryError, RegistryFuture, SchemaRegistry, SubjectVersion};

/// A registry reached over HTTP(S).
pub struct HttpRegistry {
    url: String,
    settings: SrSettings,
    /// (subject, schema text) → id.
    ids: Mutex<HashMap<(String, String), u32>>,
    /// id → schema text.
    schemas: Mutex<HashMap<u32, String>>,
}

impl std::fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("url", &self.url)
            .finish()
    }
}

impl HttpRegistry {
    /// A client for the registry at `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<HttpRegistry, RegistryError> {
        let url = url.trim_end_matches('/').to_owned();
        let settings = SrSettings::new_builder(url.clone())
            .set_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| RegistryError::Other {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(HttpRegistry {
            url,
            settings,
            ids: Mutex::new(HashMap::new()),
            schemas: Mutex::new(HashMap::new()),
        })
    }

    fn error(&self, e: SRCError) -> RegistryError {
        let reason = match &e.cause {
            Some(c) => format!("{}: {c}", e.error),
            None => e.error.clone(),
        };
        let url = self.url.clone();
        if e.retriable {
            RegistryError::Unreachable { url, reason }
        } else if reason.contains("status 404") {
            RegistryError::NotFound(reason)
        } else if reason.contains("status 422") {
            RegistryError::InvalidSchema(reason)
        } else {
            RegistryError::Other { url, reason }
        }
    }
}

fn avro(schema: &str) -> SuppliedSchema {
    SuppliedSchema::new(None, SchemaType::Avro, schema.to_owned())
}

impl SchemaRegistry for HttpRegistry {
    fn url(&self) -> &str {
        &self.url
    }

    fn register<'a>(&'a self, subject: &'a str, schema: &'a str) -> RegistryFuture<'a, u32> {
        Box::pin(async move {
            let key = (subject.to_owned(), schema.to_owned());
            if let Some(id) = self.ids.lock().expect("id cache").get(&key) {
                return Ok(*id);
            }
            let registered = post_schema(&self.settings, subject.to_owned(), avro(schema))
                .await
                .map_err(|e| match self.error(e) {
                    RegistryError::Other { reason, .. } if reason.contains("status 409") => {
                        RegistryError::Incompatible {
                            subject: subject.to_owned(),
                            reason,
                        }
                    }
                    other => other,
                })?;
            tracing::info!(subject, id = registered.id, registry = %self.url, "schema registered");
            self.ids
                .lock()
                .expect("id cache")
                .insert(key, registered.id);
            self.schemas
                .lock()
                .expect("schema cache")
                .insert(registered.id, schema.to_owned());
            Ok(registered.id)
        })
    }

    fn schema_by_id(&self, id: u32) -> RegistryFuture<'_, String> {
        Box::pin(async move {
            if let Some(s) = self.schemas.lock().expect("schema cache").get(&id) {
                return Ok(s.clone());
            }
            let found = get_schema_by_id(id, &self.settings)
                .await
                .map_err(|e| self.error(e))?;
            self.schemas
                .lock()
                .expect("schema cache")
                .insert(id, found.schema.clone());
            Ok(found.schema)
        })
    }

    fn latest<'a>(&'a self, subject: &'a str) -> RegistryFuture<'a, SubjectVersion> {
        Box::pin(async move {
            let found = get_schema_by_subject_and_version(&self.settings, subject, None)
                .await
                .map_err(|e| self.error(e))?;
            Ok(SubjectVersion {
                subject: found.subject.unwrap_or_else(|| subject.to_owned()),
                id: found.id,
                version: found.version.unwrap_or(0),
                schema: found.schema,
            })
        })
    }

    fn is_compatible<'a>(&'a self, subject: &'a str, schema: &'a str) -> RegistryFuture<'a, bool> {
        Box::pin(async move {
            is_compatible_schema(&self.settings, subject.to_owned(), avro(schema))
                .await
                .map_err(|e| self.error(e))
        })
    }
}
