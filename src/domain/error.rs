//! Why the aggregate refused a command.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaFileError {
    #[error("Media not found")]
    NotFound,
    #[error("this media file was already uploaded")]
    AlreadyUploaded,
}
