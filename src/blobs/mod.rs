//! Content-addressed blob storage: bytes are stored once, named by their BLAKE3 hash.

mod local;
mod locks;
mod temp;

use async_trait::async_trait;

pub use local::LocalBlobStore;
pub use locks::BlobLocks;
pub use temp::TempFile;

use crate::domain::BlobHash;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob storage I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `persist` wrote the blob or found it already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persisted {
    Created,
    AlreadyStored,
}

/// A blob opened for reading, with its length.
pub struct BlobReader {
    pub file: tokio::fs::File,
    pub len: u64,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// A new temporary file to stream an upload into; it deletes itself unless persisted.
    async fn temp_file(&self) -> Result<TempFile, BlobError>;
    /// A temporary file holding `bytes`, written and synced, ready to persist.
    async fn temp_file_with(&self, bytes: &[u8]) -> Result<TempFile, BlobError>;
    /// Make a fully written temporary file the blob `hash`: durably, atomically, and never
    /// overwriting a blob that is already stored.
    async fn persist(&self, temp: TempFile, hash: &BlobHash) -> Result<Persisted, BlobError>;
    async fn open(&self, hash: &BlobHash) -> Result<Option<BlobReader>, BlobError>;
    async fn remove(&self, hash: &BlobHash) -> Result<(), BlobError>;
    /// The stored blobs whose hash starts with the four hex digits of `shard` (0..=0xffff):
    /// a walk over every blob in bounded memory.
    async fn list_shard(&self, shard: u16) -> Result<Vec<BlobHash>, BlobError>;
    /// Whether the store can be written to now.
    async fn ready(&self) -> Result<(), BlobError>;
    /// Bytes of every stored blob (temporary files not included).
    fn stored_bytes(&self) -> u64;
}
