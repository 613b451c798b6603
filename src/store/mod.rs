//! The databases behind the service: which backend, its pools, its migrations.
//!
//! Two pools per database: a typed one for the event store (postgres-es and sqlite-es need
//! their own pool type, and the event log's commit-order queries are dialect-specific), and an
//! `Any` pool for accounts, id allocation and the read models, whose SQL both backends share.

mod commands;
mod event_log;
mod ids;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor, PgPool, SqlitePool};

pub use commands::{CommandBus, CommandError};
pub use event_log::{EventLog, Selection, StoredEvent};
pub use ids::IdAllocator;

use crate::config::DatabaseUrl;

pub const DEFAULT_POOL_SIZE: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A connected, migrated database.
#[derive(Clone)]
pub struct Database {
    pub backend: Backend,
    /// Accounts, ids and read models.
    pub any: AnyPool,
    events: EventPool,
}

#[derive(Clone)]
enum EventPool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Database {
    /// Connect with the default pool size.
    pub async fn connect(url: &DatabaseUrl) -> Result<Database, sqlx::Error> {
        Self::connect_with(url, DEFAULT_POOL_SIZE).await
    }

    /// Connect (creating an SQLite file if missing) and bring the schema up to date.
    /// `pool_size` bounds each of the two PostgreSQL pools.
    pub async fn connect_with(url: &DatabaseUrl, pool_size: u32) -> Result<Database, sqlx::Error> {
        mediastore_projections::install_drivers();
        match url {
            DatabaseUrl::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?;
                reach_postgres(&options).await?;
                let pool = PgPoolOptions::new()
                    .max_connections(pool_size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("migrations/postgres").run(&pool).await?;
                let any = AnyPoolOptions::new()
                    .max_connections(pool_size)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                Ok(Database {
                    backend: Backend::Postgres,
                    any,
                    events: EventPool::Postgres(pool),
                })
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit that returned survives a power cut, not only a crash.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true);
                // In-process connections cannot drop, so a ping before each use (sqlx's
                // default) only cost a round trip to the connection's thread. The read
                // model's pool is opened whole: its size, not how bursts happened to grow it,
                // then decides how often a query wakes an idle connection thread (what a
                // detail request costs moved by a third between 3 and 5 of them).
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                // `Any` takes SQLite options only from a URL; the pragmas it cannot carry are
                // set on each new connection.
                let any = AnyPoolOptions::new()
                    .max_connections(4)
                    .min_connections(4)
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA busy_timeout = 30000; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&sqlite_url(path))
                    .await?;
                Ok(Database {
                    backend: Backend::Sqlite,
                    any,
                    events: EventPool::Sqlite(pool),
                })
            }
        }
    }

    pub fn command_bus(&self) -> CommandBus {
        match &self.events {
            EventPool::Postgres(pool) => CommandBus::postgres(pool.clone()),
            EventPool::Sqlite(pool) => CommandBus::sqlite(pool.clone()),
        }
    }

    pub fn event_log(&self) -> EventLog {
        match &self.events {
            EventPool::Postgres(pool) => EventLog::Postgres(pool.clone()),
            EventPool::Sqlite(pool) => EventLog::Sqlite(pool.clone()),
        }
    }

    pub fn ids(&self) -> IdAllocator {
        IdAllocator::new(self.any.clone())
    }

    pub async fn close(&self) {
        self.any.close().await;
        match &self.events {
            EventPool::Postgres(pool) => pool.close().await,
            EventPool::Sqlite(pool) => pool.close().await,
        }
    }
}

/// How long to wait for a PostgreSQL server that refuses connections (one starting up).
const CONNECT_WAIT: Duration = Duration::from_secs(10);

/// One connection to the server before the pools open. A pool that cannot connect retries
/// until its timeout and then says only "pool timed out"; this waits as long for a server that
/// is not up yet, then fails with the reason (refused, unknown host), and fails at once for
/// what waiting cannot mend (no such database or role, a wrong password).
async fn reach_postgres(options: &PgConnectOptions) -> Result<(), sqlx::Error> {
    let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
    loop {
        match options.connect().await {
            Ok(connection) => return connection.close().await,
            Err(error) if starting_up(&error) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// A connection refused or cut, or PostgreSQL's "the database system is starting up".
fn starting_up(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(error) => error.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// Path characters that need no escaping in an SQLite URL.
const PATH_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'_')
    .remove(b'-');

fn sqlite_url(path: &std::path::Path) -> String {
    let encoded: String =
        percent_encoding::utf8_percent_encode(&path.to_string_lossy(), PATH_SAFE).collect();
    format!("sqlite://{encoded}?mode=rw")
}
