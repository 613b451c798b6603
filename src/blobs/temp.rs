//! A temporary upload file that deletes itself unless it was persisted: a failed or
//! abandoned upload leaves nothing behind.

use std::path::{Path, PathBuf};

#[must_use = "a TempFile deletes itself when dropped"]
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl TempFile {
    pub(super) fn new(path: PathBuf, file: tokio::fs::File) -> Self {
        Self {
            path,
            file: Some(file),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, to write the upload into; taken once.
    pub fn take_file(&mut self) -> Option<tokio::fs::File> {
        self.file.take()
    }

    /// Hand the path over to whoever moved the file into place: nothing is deleted any more.
    pub(super) fn disarm(mut self) -> PathBuf {
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            // Best effort: a leftover is also swept from the temp folder at the next start.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
