//! The read side's one error type.

#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a rebuild's loading task failed: {0}")]
    Loader(#[from] tokio::task::JoinError),
}
