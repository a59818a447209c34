//! Artifact storage: where build logs, lockfiles, YAML exports and archives live, under
//! the keys of the Python conda-store (`logs/{build_key}.log`, `lockfile/...`).
//!
//! [`Storage`] is the interface the worker and the server use; [`LocalStorage`] keeps
//! objects as files under one directory. An S3-compatible implementation will follow.

use async_trait::async_trait;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// What went wrong storing or reading an object.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A key that would leave the storage root, or is empty.
    #[error("invalid storage key `{0}`")]
    InvalidKey(String),
    /// No object under this key.
    #[error("no stored object `{0}`")]
    NotFound(String),
    /// The backend failed.
    #[error("storage of `{key}` failed: {reason}")]
    Backend {
        /// The key involved.
        key: String,
        /// What went wrong.
        reason: String,
    },
}

/// An object opened for reading: its bytes as a stream, and its length when known.
pub struct ObjectReader {
    /// The object's bytes.
    pub reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    /// The object's length in bytes, when the backend knows it.
    pub length: Option<u64>,
}

/// Artifact storage.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Stores `bytes` under `key`, replacing any object there. Readers see the old or
    /// the new object, never a half-written one.
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError>;
    /// Stores the file at `path` under `key` (large artifacts such as archives).
    async fn put_file(&self, key: &str, path: &Path) -> Result<(), StorageError>;
    /// Appends `bytes` to the object under `key`, creating it if needed. Used for build
    /// logs, which grow while the build runs and are readable meanwhile.
    async fn append(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError>;
    /// Reads the object under `key`.
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError>;
    /// Opens the object under `key` for reading as a stream, so that large artifacts
    /// are sent without being held in memory whole.
    async fn open(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let bytes = self.get(key).await?;
        Ok(ObjectReader {
            length: u64::try_from(bytes.len()).ok(),
            reader: Box::pin(std::io::Cursor::new(bytes)),
        })
    }
    /// Reads the object under `key` from byte `offset` to its end (empty when the
    /// object is no longer than `offset`): how a growing build log is followed.
    async fn read_from(&self, key: &str, offset: u64) -> Result<Vec<u8>, StorageError> {
        let bytes = self.get(key).await?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        Ok(bytes[start..].to_vec())
    }
    /// Whether an object exists under `key`.
    async fn exists(&self, key: &str) -> Result<bool, StorageError>;
    /// Removes the object under `key`; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
}

/// Objects as files under a root directory (`{data_directory}/storage` by default).
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Storage rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file that holds `key`, refusing keys that would leave the root.
    pub fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let relative = Path::new(key);
        let valid = !key.is_empty()
            && relative
                .components()
                .all(|component| matches!(component, Component::Normal(_)));
        if !valid {
            return Err(StorageError::InvalidKey(key.to_owned()));
        }
        Ok(self.root.join(relative))
    }

    async fn parent_directory(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        match path.parent() {
            Some(parent) => tokio::fs::create_dir_all(parent)
                .await
                .map_err(|error| backend(key, error)),
            None => Ok(()),
        }
    }
}

fn backend(key: &str, error: std::io::Error) -> StorageError {
    if error.kind() == ErrorKind::NotFound {
        return StorageError::NotFound(key.to_owned());
    }
    StorageError::Backend {
        key: key.to_owned(),
        reason: error.to_string(),
    }
}

/// A temporary name beside `path`, unique per process and call.
fn temporary_beside(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.{count}.partial", std::process::id()));
    path.with_file_name(name)
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = self.path(key)?;
        self.parent_directory(key, &path).await?;
        let temporary = temporary_beside(&path);
        tokio::fs::write(&temporary, bytes)
            .await
            .map_err(|error| backend(key, error))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|error| backend(key, error))
    }

    async fn put_file(&self, key: &str, source: &Path) -> Result<(), StorageError> {
        let path = self.path(key)?;
        self.parent_directory(key, &path).await?;
        let temporary = temporary_beside(&path);
        tokio::fs::copy(source, &temporary)
            .await
            .map_err(|error| backend(key, error))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|error| backend(key, error))
    }

    async fn append(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = self.path(key)?;
        self.parent_directory(key, &path).await?;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .map_err(|error| backend(key, error))?;
        file.write_all(bytes)
            .await
            .map_err(|error| backend(key, error))?;
        file.flush().await.map_err(|error| backend(key, error))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let path = self.path(key)?;
        tokio::fs::read(&path)
            .await
            .map_err(|error| backend(key, error))
    }

    async fn open(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let path = self.path(key)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|error| backend(key, error))?;
        let metadata = file.metadata().await.map_err(|error| backend(key, error))?;
        if !metadata.is_file() {
            return Err(StorageError::NotFound(key.to_owned()));
        }
        Ok(ObjectReader {
            length: Some(metadata.len()),
            reader: Box::pin(file),
        })
    }

    async fn read_from(&self, key: &str, offset: u64) -> Result<Vec<u8>, StorageError> {
        let path = self.path(key)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|error| backend(key, error))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|error| backend(key, error))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .await
            .map_err(|error| backend(key, error))?;
        Ok(bytes)
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let path = self.path(key)?;
        tokio::fs::try_exists(&path)
            .await
            .map_err(|error| backend(key, error))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(backend(key, error)),
            _ => Ok(()),
        }
    }
}
