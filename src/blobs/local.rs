//! Blobs as files on the local disk: `<data>/blobs/<2 hex>/<2 hex>/<64 hex>` (SPEC §8), with
//! uploads in progress under `<data>/tmp/` on the same file system, so the final move is an
//! atomic rename.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::fs;

use super::{BlobError, BlobReader, BlobStore, Persisted, TempFile};
use crate::domain::BlobHash;

pub struct LocalBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
    /// Counted once at open, then moved by every persist and remove.
    stored_bytes: AtomicU64,
}

impl LocalBlobStore {
    /// Open (creating) the store under `data_dir`, and sweep uploads a crash left behind.
    pub async fn open(data_dir: &Path) -> Result<Self, BlobError> {
        let blobs = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        fs::create_dir_all(&blobs).await?;
        if fs::try_exists(&tmp).await? {
            fs::remove_dir_all(&tmp).await?;
        }
        fs::create_dir_all(&tmp).await?;
        let root = blobs.clone();
        let counted = tokio::task::spawn_blocking(move || bytes_under(&root))
            .await
            .map_err(std::io::Error::other)??;
        Ok(Self {
            blobs,
            tmp,
            stored_bytes: AtomicU64::new(counted),
        })
    }

    pub fn path_of(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.as_str();
        self.blobs.join(&hex[..2]).join(&hex[2..4]).join(hex)
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn temp_file(&self) -> Result<TempFile, BlobError> {
        let path = self.tmp.join(format!("upload-{}", uuid::Uuid::new_v4()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(TempFile::new(path, file))
    }

    async fn temp_file_with(&self, bytes: &[u8]) -> Result<TempFile, BlobError> {
        use tokio::io::AsyncWriteExt;
        let mut temp = self.temp_file().await?;
        if let Some(mut file) = temp.take_file() {
            file.write_all(bytes).await?;
            file.sync_all().await?;
        }
        Ok(temp)
    }

    #[tracing::instrument(name = "blob.persist", skip(self, temp), fields(blob.hash = hash.as_str()))]
    async fn persist(&self, temp: TempFile, hash: &BlobHash) -> Result<Persisted, BlobError> {
        let target = self.path_of(hash);
        if fs::try_exists(&target).await? {
            return Ok(Persisted::AlreadyStored);
        }
        // Measured before the link: nothing may fail between linking and disarming the temp.
        let len = fs::metadata(temp.path()).await?.len();
        let dir = target.parent().unwrap_or(&self.blobs).to_path_buf();
        fs::create_dir_all(&dir).await?;
        // The bytes were fsynced by the writer; the rename is made durable by syncing the
        // directory. `hard_link` instead of `rename` fails rather than overwrite a blob that
        // appeared meanwhile.
        match fs::hard_link(temp.path(), &target).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(Persisted::AlreadyStored)
            }
            Err(e) => return Err(e.into()),
        }
        let temp_path = temp.disarm();
        self.stored_bytes.fetch_add(len, Ordering::Relaxed);
        fs::remove_file(&temp_path).await?;
        sync_dir(dir).await?;
        Ok(Persisted::Created)
    }

    async fn open(&self, hash: &BlobHash) -> Result<Option<BlobReader>, BlobError> {
        match fs::File::open(self.path_of(hash)).await {
            Ok(file) => {
                let len = file.metadata().await?.len();
                Ok(Some(BlobReader { file, len }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn ready(&self) -> Result<(), BlobError> {
        let blobs = fs::metadata(&self.blobs).await?;
        let tmp = fs::metadata(&self.tmp).await?;
        if blobs.is_dir() && tmp.is_dir() && !tmp.permissions().readonly() {
            Ok(())
        } else {
            Err(BlobError::Io(std::io::Error::other(
                "the blob folders are not writable",
            )))
        }
    }

    async fn list_shard(&self, shard: u16) -> Result<Vec<BlobHash>, BlobError> {
        let hex = format!("{shard:04x}");
        let dir = self.blobs.join(&hex[..2]).join(&hex[2..]);
        let mut entries = match fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut hashes = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            if let Some(hash) = entry.file_name().to_str().and_then(BlobHash::parse) {
                if hash.as_str().starts_with(&hex) {
                    hashes.push(hash);
                }
            }
        }
        Ok(hashes)
    }

    async fn remove(&self, hash: &BlobHash) -> Result<(), BlobError> {
        let path = self.path_of(hash);
        let len = match fs::metadata(&path).await {
            Ok(metadata) => metadata.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match fs::remove_file(&path).await {
            Ok(()) => {
                let _ =
                    self.stored_bytes
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                            Some(total.saturating_sub(len))
                        });
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn stored_bytes(&self) -> u64 {
        self.stored_bytes.load(Ordering::Relaxed)
    }
}

/// The bytes of every file below `dir` (the blobs' two levels of shard directories).
fn bytes_under(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += bytes_under(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

async fn sync_dir(dir: PathBuf) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}
