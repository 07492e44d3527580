//! An in-memory [`Storage`] for unit tests, which can be told to fail a given `put`, so that tests
//! can cut a batch's writes at every point.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

use super::{Storage, StorageError};

/// Objects in a map; `fail_put_at(n)` makes the `n`-th next put fail.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    objects: Mutex<BTreeMap<String, Bytes>>,
    fail_in: Mutex<Option<usize>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// Makes the put after `n` more successful ones fail (`0`: the next one), once.
    pub fn fail_put_after(&self, n: usize) {
        *self.fail_in.lock().unwrap() = Some(n);
    }

    /// A copy of every object.
    pub fn objects(&self) -> BTreeMap<String, Bytes> {
        self.objects.lock().unwrap().clone()
    }
}

impl Storage for MemoryStorage {
    fn put(&self, path: &str, bytes: Bytes) -> Result<(), StorageError> {
        super::check_path(path)?;
        let mut fail = self.fail_in.lock().unwrap();
        match *fail {
            Some(0) => {
                *fail = None;
                return Err(StorageError::Remote {
                    op: "put",
                    path: path.to_owned(),
                    message: "injected failure".into(),
                });
            }
            Some(n) => *fail = Some(n - 1),
            None => {}
        }
        self.objects.lock().unwrap().insert(path.to_owned(), bytes);
        Ok(())
    }

    fn get(&self, path: &str) -> Result<Option<Bytes>, StorageError> {
        Ok(self.objects.lock().unwrap().get(path).cloned())
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        self.objects.lock().unwrap().remove(path);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .keys()
            .filter(|k| prefix.is_empty() || k.starts_with(&format!("{prefix}/")))
            .cloned()
            .collect())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
