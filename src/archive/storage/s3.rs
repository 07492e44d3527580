//! An S3-compatible bucket as archive [`Storage`], through `object_store`: a single PUT (or, for
//! large objects, a multipart upload) is visible only once complete. Credentials come from the
//! standard AWS variables (`AmazonS3Builder::from_env`), else the shared AWS files.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::{check_path, credentials, Storage, StorageError};

/// Objects above this size go up as a multipart upload (in parts of this size).
const MULTIPART_BYTES: usize = 16 * 1024 * 1024;

/// How to reach the bucket, beside what the environment says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// The endpoint URL (`http://127.0.0.1:9000` for MinIO or moto); AWS's when unset.
    pub endpoint: Option<String>,
    /// The region (else `AWS_REGION`/`AWS_DEFAULT_REGION`, the profile's, or `us-east-1`).
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which MinIO and moto need.
    pub path_style: bool,
}

/// A bucket and a key prefix.
pub struct S3Storage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    describe: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage")
            .field("root", &self.describe)
            .finish()
    }
}

fn remote<'a>(
    op: &'static str,
    path: &'a str,
) -> impl FnOnce(object_store::Error) -> StorageError + 'a {
    move |e| StorageError::Remote {
        op,
        path: path.to_owned(),
        message: e.to_string(),
    }
}

impl S3Storage {
    /// The store for `bucket[/prefix]` (what follows `s3://`).
    pub fn open(location: &str, options: &S3Options) -> Result<S3Storage, StorageError> {
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        let prefix = prefix.trim_matches('/').to_owned();
        if bucket.is_empty() {
            return Err(StorageError::Config(format!(
                "s3://{location} names no bucket: use s3://BUCKET/PREFIX"
            )));
        }
        if !prefix.is_empty() {
            check_path(&prefix)?;
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            let keys = credentials::from_shared_files();
            if let (Some(id), Some(secret)) = (keys.access_key_id, keys.secret_access_key) {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
                if let Some(token) = keys.session_token {
                    builder = builder.with_token(token);
                }
            }
            if let (Some(region), None) = (keys.region, &options.region) {
                if std::env::var_os("AWS_REGION").is_none()
                    && std::env::var_os("AWS_DEFAULT_REGION").is_none()
                {
                    builder = builder.with_region(region);
                }
            }
        }
        if let Some(region) = &options.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &options.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if options.path_style {
            builder = builder.with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| {
            StorageError::Config(format!(
                "cannot use s3://{location}: {e} (check --s3-endpoint, --s3-region and the AWS_* variables)"
            ))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("archive-s3")
            .enable_all()
            .build()
            .map_err(|e| {
                StorageError::Config(format!("cannot start the S3 client runtime: {e}"))
            })?;
        Ok(S3Storage {
            store: Arc::new(store),
            prefix,
            describe: format!("s3://{location}"),
            runtime,
        })
    }

    fn key(&self, path: &str) -> Result<Path, StorageError> {
        check_path(path)?;
        let full = if self.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix)
        };
        Path::parse(&full).map_err(|e| StorageError::Config(format!("{full:?}: {e}")))
    }

    fn relative<'a>(&self, key: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            key
        } else {
            key.strip_prefix(&self.prefix)
                .and_then(|k| k.strip_prefix('/'))
                .unwrap_or(key)
        }
    }
}

impl Storage for S3Storage {
    fn put(&self, path: &str, bytes: Bytes) -> Result<(), StorageError> {
        let key = self.key(path)?;
        self.runtime.block_on(async {
            if bytes.len() <= MULTIPART_BYTES {
                self.store
                    .put(&key, PutPayload::from_bytes(bytes))
                    .await
                    .map(|_| ())
                    .map_err(remote("put", path))
            } else {
                let upload = self
                    .store
                    .put_multipart(&key)
                    .await
                    .map_err(remote("start multipart upload", path))?;
                let mut write = WriteMultipart::new_with_chunk_size(upload, MULTIPART_BYTES);
                write.put(bytes);
                write
                    .finish()
                    .await
                    .map(|_| ())
                    .map_err(remote("complete multipart upload", path))
            }
        })
    }

    fn get(&self, path: &str) -> Result<Option<Bytes>, StorageError> {
        let key = self.key(path)?;
        self.runtime.block_on(async {
            match self.store.get(&key).await {
                Ok(r) => r.bytes().await.map(Some).map_err(remote("get", path)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(remote("get", path)(e)),
            }
        })
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        let key = self.key(path)?;
        self.runtime.block_on(async {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(remote("delete", path)(e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let key = match (prefix.is_empty(), self.prefix.is_empty()) {
            (true, true) => None,
            (true, false) => Some(
                Path::parse(&self.prefix)
                    .map_err(|e| StorageError::Config(format!("{:?}: {e}", self.prefix)))?,
            ),
            (false, _) => Some(self.key(prefix)?),
        };
        let metas: Vec<_> = self
            .runtime
            .block_on(self.store.list(key.as_ref()).try_collect::<Vec<_>>())
            .map_err(remote("list", prefix))?;
        let mut out: Vec<String> = metas
            .iter()
            .map(|m| self.relative(m.location.as_ref()).to_owned())
            .collect();
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
