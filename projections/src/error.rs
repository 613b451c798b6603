//! The read side's one error type.

#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
}
