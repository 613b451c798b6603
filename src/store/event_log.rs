//! Reading the event store the way projectors need it: one aggregate's events, or every
//! event in commit order after a checkpoint.
//!
//! A plain sequence can commit out of order in PostgreSQL (a higher `global_seq` before a
//! lower one), and "everything after N" would then skip the late one for ever. Event writers
//! therefore take turns (migration 0006: an advisory lock taken before the rows draw their
//! numbers, held to commit), which makes `global_seq` commit order; SQLite has one writer at
//! a time anyway. So the position read here is just `global_seq`.

use mediastore_projections::Position;
use serde_json::Value;
use sqlx::{PgPool, Row, SqlitePool};

use crate::domain::MediaFile;
use cqrs_es::Aggregate;

/// One stored event, still serialized: the projector deserializes (and upcasts) it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub position: Position,
}

#[derive(Clone)]
pub enum EventLog {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

const COLUMNS: &str =
    "aggregate_id, sequence, event_type, event_version, payload, metadata, global_seq";

impl EventLog {
    /// A file's events with a sequence above `after`, oldest first.
    pub async fn events_of(
        &self,
        aggregate_id: &str,
        after: i64,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        match self {
            EventLog::Postgres(pool) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM events \
                     WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
                     ORDER BY sequence"
                );
                let rows = sqlx::query(&sql)
                    .bind(MediaFile::TYPE)
                    .bind(aggregate_id)
                    .bind(after)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(pg_event).collect()
            }
            EventLog::Sqlite(pool) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM events \
                     WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
                     ORDER BY sequence"
                );
                let rows = sqlx::query(&sql)
                    .bind(MediaFile::TYPE)
                    .bind(aggregate_id)
                    .bind(after)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(sqlite_event).collect()
            }
        }
    }

    /// Up to `limit` events after `position` in commit order, only from finished transactions.
    pub async fn committed_after(
        &self,
        position: Position,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        match self {
            EventLog::Postgres(pool) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM events \
                     WHERE aggregate_type = $1 AND global_seq > $2 \
                     ORDER BY global_seq LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(MediaFile::TYPE)
                    .bind(position.seq)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(pg_event).collect()
            }
            EventLog::Sqlite(pool) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM events \
                     WHERE aggregate_type = $1 AND global_seq > $2 \
                     ORDER BY global_seq LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(MediaFile::TYPE)
                    .bind(position.seq)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(sqlite_event).collect()
            }
        }
    }
}

impl EventLog {
    /// How many events lie after `position` in commit order (all of them from the start).
    pub async fn count_after(&self, position: Position) -> Result<i64, sqlx::Error> {
        match self {
            EventLog::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM events WHERE aggregate_type = $1 AND global_seq > $2",
                )
                .bind(MediaFile::TYPE)
                .bind(position.seq)
                .fetch_one(pool)
                .await
            }
            EventLog::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM events WHERE aggregate_type = $1 AND global_seq > $2",
                )
                .bind(MediaFile::TYPE)
                .bind(position.seq)
                .fetch_one(pool)
                .await
            }
        }
    }
}

fn pg_event(row: &sqlx::postgres::PgRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        position: Position {
            seq: row.try_get("global_seq")?,
        },
    })
}

fn sqlite_event(row: &sqlx::sqlite::SqliteRow) -> Result<StoredEvent, sqlx::Error> {
    let json = |column: &str| -> Result<Value, sqlx::Error> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(StoredEvent {
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: json("payload")?,
        metadata: json("metadata")?,
        position: Position {
            seq: row.try_get("global_seq")?,
        },
    })
}
