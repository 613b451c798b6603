//! Executing commands against the event store, whichever backend holds it.

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::AggregateError;
use postgres_es::PostgresCqrs;
use sqlite_es::SqliteCqrs;
use sqlx::{PgPool, SqlitePool};

use crate::domain::{MediaFile, MediaFileCommand, MediaFileError};

/// Optimistic-concurrency conflicts are retried this many times before giving up.
const ATTEMPTS: usize = 20;

/// The two `CqrsFramework`s are different types, so an enum picks one at startup.
#[derive(Clone)]
pub enum CommandBus {
    Postgres(Arc<PostgresCqrs<MediaFile>>),
    Sqlite(Arc<SqliteCqrs<MediaFile>>),
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] MediaFileError),
    /// Still conflicting after every retry: the file is being changed very often.
    #[error("the file was changed concurrently too many times")]
    Conflict,
    #[error("event store: {0}")]
    Store(String),
}

impl CommandBus {
    // No queries are registered: cqrs-es dispatches them after its commit and swallows their
    // errors, so the projector follows the event store itself (see `crate::projector`).
    pub fn postgres(pool: PgPool) -> Self {
        CommandBus::Postgres(Arc::new(postgres_es::postgres_cqrs(pool, vec![], ())))
    }

    pub fn sqlite(pool: SqlitePool) -> Self {
        CommandBus::Sqlite(Arc::new(sqlite_es::sqlite_cqrs(pool, vec![], ())))
    }

    /// Execute a command, retrying when another command on the same file committed first.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: MediaFileCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), CommandError> {
        for _ in 0..ATTEMPTS {
            let result = match self {
                CommandBus::Postgres(cqrs) => {
                    cqrs.execute_with_metadata(aggregate_id, command.clone(), metadata.clone())
                        .await
                }
                CommandBus::Sqlite(cqrs) => {
                    cqrs.execute_with_metadata(aggregate_id, command.clone(), metadata.clone())
                        .await
                }
            };
            match result {
                Ok(()) => return Ok(()),
                Err(AggregateError::AggregateConflict) => continue,
                Err(AggregateError::UserError(error)) => return Err(error.into()),
                Err(other) => return Err(CommandError::Store(other.to_string())),
            }
        }
        Err(CommandError::Conflict)
    }
}
