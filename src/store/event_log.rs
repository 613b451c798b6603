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

use crate::domain::{MediaFile, MediaFileEvent};
use cqrs_es::Aggregate;

/// One stored event, still serialized: the projector deserializes (and upcasts) it. The
/// JSON stays text until then, so a current-version payload is parsed once, straight into
/// its event (a rebuild reads a million of them).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    /// Only in a file's own events (`events_of`): projections never read it.
    pub metadata: Option<String>,
    pub position: Position,
}

impl StoredEvent {
    /// A string entry of the metadata (`user_id`, `request_id`), if it has one.
    pub fn metadata_entry(&self, key: &str) -> Option<String> {
        let metadata: Value = serde_json::from_str(self.metadata.as_deref()?).ok()?;
        metadata.get(key)?.as_str().map(str::to_string)
    }
}

/// Which events a read takes, beyond "after a position".
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Only events up to this position.
    pub up_to: Option<Position>,
    /// Only uploads (`Some(true)`), or only the changes after them (`Some(false)`).
    pub uploads: Option<bool>,
}

#[derive(Clone)]
pub enum EventLog {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// `body` on whichever pool `log` holds: the two arms read the same, but `pool` has a
/// different type in each.
macro_rules! on_pool {
    ($log:expr, $pool:ident => $body:expr) => {
        match $log {
            EventLog::Postgres($pool) => $body,
            EventLog::Sqlite($pool) => $body,
        }
    };
}

/// The columns `stored_event` reads, in its order, but the metadata: projections never read
/// it, and a rebuild reads a million events. PostgreSQL's `json` columns are read as their
/// text.
const PROJECTED_COLUMNS: &str = "aggregate_id, sequence, event_type, event_version, \
     CAST(payload AS text) AS payload, global_seq";
/// The metadata, after `PROJECTED_COLUMNS` (a file's own events).
const METADATA_COLUMN: &str = "CAST(metadata AS text) AS metadata";

impl EventLog {
    /// A file's events with a sequence above `after`, oldest first.
    pub async fn events_of(
        &self,
        aggregate_id: &str,
        after: i64,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        let sql = format!(
            "SELECT {PROJECTED_COLUMNS}, {METADATA_COLUMN} FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
             ORDER BY sequence"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(MediaFile::TYPE)
                .bind(aggregate_id)
                .bind(after)
                .fetch_all(pool)
                .await?;
            rows.iter().map(stored_event).collect()
        })
    }

    /// Up to `limit` events after `position` in commit order, only from finished transactions.
    pub async fn committed_after(
        &self,
        position: Position,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        self.committed(position, Selection::default(), limit).await
    }

    /// Like `committed_after`, of the events `selection` takes.
    pub async fn committed(
        &self,
        position: Position,
        selection: Selection,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, sqlx::Error> {
        let sql = format!(
            "SELECT {PROJECTED_COLUMNS} FROM events \
             WHERE aggregate_type = $1 AND global_seq > $2 AND global_seq <= $3 \
               AND ($4 IS NULL OR (event_type = $5) = $4) \
             ORDER BY global_seq LIMIT $6"
        );
        let up_to = selection.up_to.map_or(i64::MAX, |p| p.seq);
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(MediaFile::TYPE)
                .bind(position.seq)
                .bind(up_to)
                .bind(selection.uploads)
                .bind(MediaFileEvent::UPLOADED)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(stored_event).collect()
        })
    }

    /// The position of the last committed event (the start if there is none).
    pub async fn last_position(&self) -> Result<Position, sqlx::Error> {
        let sql = "SELECT COALESCE(MAX(global_seq), 0) FROM events WHERE aggregate_type = $1";
        let seq: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(MediaFile::TYPE)
                .fetch_one(pool)
                .await?
        });
        Ok(Position { seq })
    }
}

impl EventLog {
    /// How many events lie after `position` in commit order (all of them from the start).
    pub async fn count_after(&self, position: Position) -> Result<i64, sqlx::Error> {
        let sql = "SELECT COUNT(*) FROM events WHERE aggregate_type = $1 AND global_seq > $2";
        on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(MediaFile::TYPE)
                .bind(position.seq)
                .fetch_one(pool)
                .await
        })
    }
}

fn stored_event<'r, R: Row>(row: &'r R) -> Result<StoredEvent, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    // By position (`PROJECTED_COLUMNS`, then `METADATA_COLUMN` if read): a look-up by name
    // per column and row showed in a rebuild's profile.
    Ok(StoredEvent {
        aggregate_id: row.try_get(0)?,
        sequence: row.try_get(1)?,
        event_type: row.try_get(2)?,
        event_version: row.try_get(3)?,
        payload: row.try_get(4)?,
        position: Position {
            seq: row.try_get(5)?,
        },
        metadata: if row.len() > 6 {
            Some(row.try_get(6)?)
        } else {
            None
        },
    })
}
