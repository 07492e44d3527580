//! Where archived objects go: a small [`Storage`] trait whose `put` makes a complete object visible
//! at once (never a partial one) and durable on return, with a local-directory, an S3 and an
//! in-memory implementation. Paths are `/`-separated and relative to the store's root.

pub mod credentials;
pub mod local;
pub mod memory;
pub mod s3;

use bytes::Bytes;

pub use local::LocalStorage;
pub use memory::MemoryStorage;
pub use s3::{S3Options, S3Storage};

/// A storage operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A local file operation.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// An object-store request.
    #[error("{op} {path}: {message}")]
    Remote {
        /// What was being done.
        op: &'static str,
        /// The object.
        path: String,
        /// Why it failed.
        message: String,
    },
    /// The root or an option cannot be used.
    #[error("{0}")]
    Config(String),
}

/// An object store for the archive.
pub trait Storage: Send + Sync {
    /// Stores `bytes` at `path`, replacing any object there. Readers see the old object or the
    /// complete new one, never a part; the object is durable when this returns.
    fn put(&self, path: &str, bytes: Bytes) -> Result<(), StorageError>;
    /// The object at `path`, if there is one.
    fn get(&self, path: &str) -> Result<Option<Bytes>, StorageError>;
    /// Deletes the object at `path`; a missing object is not an error.
    fn delete(&self, path: &str) -> Result<(), StorageError>;
    /// The paths of every object under `prefix` (a directory, `""` for all), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// The root, for logs (no credentials).
    fn describe(&self) -> String;
}

/// Opens the store `root` names: `s3://bucket/prefix` (with `s3`'s options) or a local directory.
pub fn open(root: &str, s3: &S3Options) -> Result<Box<dyn Storage>, StorageError> {
    match root.strip_prefix("s3://") {
        Some(rest) => Ok(Box::new(S3Storage::open(rest, s3)?)),
        None => Ok(Box::new(LocalStorage::open(root)?)),
    }
}

/// Checks that `path` is a relative `/`-separated path without `.`/`..` or empty components.
pub(crate) fn check_path(path: &str) -> Result<(), StorageError> {
    if path.is_empty()
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(StorageError::Config(format!(
            "{path:?} is not a relative object path"
        )));
    }
    Ok(())
}
