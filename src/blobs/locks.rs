//! Per-blob locks: an upload that reuses a blob and a delete that removes the same blob must
//! not interleave, or the new file could be left without its bytes.

use tokio::sync::{Mutex, MutexGuard};

use crate::domain::BlobHash;

const STRIPES: usize = 64;

/// A fixed set of mutexes, one chosen by hash: constant memory, and unrelated blobs rarely
/// wait for each other.
pub struct BlobLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for BlobLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl BlobLocks {
    pub async fn lock(&self, hash: &BlobHash) -> MutexGuard<'_, ()> {
        let stripe = usize::from_str_radix(&hash.as_str()[..2], 16).unwrap_or(0) % STRIPES;
        self.stripes[stripe].lock().await
    }
}
