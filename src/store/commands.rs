//! Executing commands against the event store, whichever backend holds it.

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::persist::{EventUpcaster, PersistedEventStore, SerializedEvent};
use cqrs_es::{AggregateError, CqrsFramework};
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sqlite_es::{SqliteCqrs, SqliteEventRepository};
use sqlx::{PgPool, SqlitePool};

use crate::domain::{is_current, upcast, MediaFile, MediaFileCommand, MediaFileError};

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
        let store = PersistedEventStore::new_event_store(PostgresEventRepository::new(pool))
            .with_upcasters(vec![Box::new(DomainUpcaster)]);
        CommandBus::Postgres(Arc::new(CqrsFramework::new(store, vec![], ())))
    }

    pub fn sqlite(pool: SqlitePool) -> Self {
        let store = PersistedEventStore::new_event_store(SqliteEventRepository::new(pool))
            .with_upcasters(vec![Box::new(DomainUpcaster)]);
        CommandBus::Sqlite(Arc::new(CqrsFramework::new(store, vec![], ())))
    }

    /// Execute a command, retrying when another command on the same file committed first.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: MediaFileCommand,
        metadata: HashMap<String, String>,
    ) -> Result<(), CommandError> {
        let append = self.append(aggregate_id, command, metadata);
        crate::telemetry::database_step("event_store.append", aggregate_id, append).await
    }

    async fn append(
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

/// Loads old event versions through `domain::upcast`, as the projector does.
struct DomainUpcaster;

impl EventUpcaster for DomainUpcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        !is_current(event_type, event_version)
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        let (version, payload) = upcast(&event.event_type, &event.event_version, event.payload);
        event.event_version = version;
        event.payload = payload;
        event
    }
}
