//! A local directory as archive [`Storage`]: `put` writes a hidden temporary file beside the
//! target, fsyncs it, renames it over the target and fsyncs the directory, so a crash leaves the
//! old object or the complete new one (and at worst a `.*.tmp` file that readers of `*.parquet`
//! never match).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::{check_path, Storage, StorageError};

/// Objects as files under a root directory.
#[derive(Debug)]
pub struct LocalStorage {
    root: PathBuf,
    seq: AtomicU64,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

impl LocalStorage {
    /// The store rooted at `root`, created if missing.
    pub fn open(root: impl AsRef<Path>) -> Result<LocalStorage, StorageError> {
        let root = root.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(io("create directory", &root))?;
        Ok(LocalStorage {
            root,
            seq: AtomicU64::new(0),
        })
    }

    fn file(&self, path: &str) -> Result<PathBuf, StorageError> {
        check_path(path)?;
        Ok(self.root.join(path))
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}

/// Creates `dir` and its missing parents, fsyncing each parent that gained an entry, so that a
/// renamed file's directory survives a crash too.
fn create_dirs(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io("create directory", dir)(e)),
    }
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

impl Storage for LocalStorage {
    fn put(&self, path: &str, bytes: Bytes) -> Result<(), StorageError> {
        let target = self.file(path)?;
        let dir = target.parent().expect("an object path has a directory");
        create_dirs(dir)?;
        let name = target.file_name().expect("an object path names a file");
        let temp = dir.join(format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = fs::File::create(&temp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io("write", &temp)(e));
        }
        fs::rename(&temp, &target).map_err(io("rename", &target))?;
        sync_dir(dir)
    }

    fn get(&self, path: &str) -> Result<Option<Bytes>, StorageError> {
        let file = self.file(path)?;
        match fs::read(&file) {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &file)(e)),
        }
    }

    fn delete(&self, path: &str) -> Result<(), StorageError> {
        let file = self.file(path)?;
        match fs::remove_file(&file) {
            Ok(()) => sync_dir(file.parent().expect("a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete", &file)(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
            let entries = match fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let path = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if entry.file_type()?.is_dir() {
                    walk(&entry.path(), &path, out)?;
                } else {
                    out.push(path);
                }
            }
            Ok(())
        }
        let start = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.file(prefix)?
        };
        let mut out = Vec::new();
        walk(&start, prefix, &mut out).map_err(io("list", &start))?;
        out.sort();
        Ok(out)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_whole_objects_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::open(dir.path().join("root")).unwrap();
        s.put("a/b/c.parquet", Bytes::from_static(b"one")).unwrap();
        s.put("a/b/c.parquet", Bytes::from_static(b"two")).unwrap();
        s.put("a/d.json", Bytes::from_static(b"{}")).unwrap();
        assert_eq!(
            s.get("a/b/c.parquet").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(s.get("a/x").unwrap(), None);
        assert_eq!(s.list("").unwrap(), ["a/b/c.parquet", "a/d.json"]);
        assert_eq!(s.list("a/b").unwrap(), ["a/b/c.parquet"]);
        assert_eq!(s.list("nothing").unwrap(), Vec::<String>::new());
        let names: Vec<_> = fs::read_dir(dir.path().join("root/a/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["c.parquet"]);
        s.delete("a/b/c.parquet").unwrap();
        s.delete("a/b/c.parquet").unwrap();
        assert_eq!(s.list("").unwrap(), ["a/d.json"]);
    }

    #[test]
    fn paths_cannot_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::open(dir.path()).unwrap();
        for bad in ["../x", "/abs", "a//b", "a/./b", ""] {
            assert!(s.put(bad, Bytes::new()).is_err(), "{bad}");
        }
    }
}
