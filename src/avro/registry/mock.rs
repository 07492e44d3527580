//! `mock://NAME` registries: in-process, and every instance with the same NAME shares one store, as
//! with the Confluent serializers' `MockSchemaRegistryClient` scopes. For demos and tests without a
//! registry server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::store::SchemaStore;
use super::{RegistryError, RegistryFuture, SchemaRegistry, SubjectVersion};

/// An in-process registry shared by scope name.
#[derive(Debug, Clone)]
pub struct MockRegistry {
    url: String,
    store: Arc<Mutex<SchemaStore>>,
}

fn scopes() -> &'static Mutex<HashMap<String, Arc<Mutex<SchemaStore>>>> {
    static SCOPES: OnceLock<Mutex<HashMap<String, Arc<Mutex<SchemaStore>>>>> = OnceLock::new();
    SCOPES.get_or_init(|| Mutex::new(HashMap::new()))
}

impl MockRegistry {
    /// The registry of scope `name` (`mock://name`), created on first use.
    pub fn scoped(name: &str) -> MockRegistry {
        let store = scopes()
            .lock()
            .expect("mock scopes")
            .entry(name.to_owned())
            .or_default()
            .clone();
        MockRegistry {
            url: format!("mock://{name}"),
            store,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut SchemaStore) -> T) -> T {
        f(&mut self.store.lock().expect("mock registry"))
    }
}

impl SchemaRegistry for MockRegistry {
    fn url(&self) -> &str {
        &self.url
    }

    fn register<'a>(&'a self, subject: &'a str, schema: &'a str) -> RegistryFuture<'a, u32> {
        let r = self.with(|s| s.register(subject, schema));
        Box::pin(async move { r })
    }

    fn schema_by_id(&self, id: u32) -> RegistryFuture<'_, String> {
        let r = self.with(|s| s.schema_by_id(id).map(str::to_owned));
        let url = self.url.clone();
        Box::pin(async move {
            r.ok_or_else(|| RegistryError::NotFound(format!("schema id {id} in {url}")))
        })
    }

    fn latest<'a>(&'a self, subject: &'a str) -> RegistryFuture<'a, SubjectVersion> {
        let r = self.with(|s| s.latest(subject));
        Box::pin(
            async move { r.ok_or_else(|| RegistryError::NotFound(format!("subject {subject:?}"))) },
        )
    }

    fn is_compatible<'a>(&'a self, subject: &'a str, schema: &'a str) -> RegistryFuture<'a, bool> {
        let r = self.with(|s| s.is_compatible(subject, schema));
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn instances_of_one_scope_share_schemas_and_scopes_are_separate() {
        let a = MockRegistry::scoped("mock-test-shared");
        let b = MockRegistry::scoped("mock-test-shared");
        let other = MockRegistry::scoped("mock-test-other");
        let id = a.register("t-value", "\"long\"").await.unwrap();
        assert_eq!(b.schema_by_id(id).await.unwrap(), "\"long\"");
        assert_eq!(b.latest("t-value").await.unwrap().id, id);
        assert!(matches!(
            other.latest("t-value").await,
            Err(RegistryError::NotFound(_))
        ));
        assert!(b.is_compatible("t-value", "\"long\"").await.unwrap());
    }
}
