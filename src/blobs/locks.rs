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
    /// Lock every stripe the hashes fall in, in stripe order (so two callers never wait for
    /// each other crosswise).
    pub async fn lock_all(&self, hashes: &[BlobHash]) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = hashes.iter().map(stripe_of).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            guards.push(self.stripes[stripe].lock().await);
        }
        guards
    }

    pub async fn lock(&self, hash: &BlobHash) -> MutexGuard<'_, ()> {
        self.stripes[stripe_of(hash)].lock().await
    }
}

fn stripe_of(hash: &BlobHash) -> usize {
    usize::from_str_radix(&hash.as_str()[..2], 16).unwrap_or(0) % STRIPES
}
