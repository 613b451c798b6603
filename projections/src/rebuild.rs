//! Rebuilding the read model beside the live one: `rebuild_*` tables of the same shape are
//! filled from the events in batches (each its own transaction, so the live tables and the
//! service are untouched meanwhile), then swapped in by one short transaction that first
//! applies whatever was committed since.
//!
//! The shadow tables copy the live tables' definitions from the database's own catalog, so
//! the migrations stay the one place a schema is written. Indexes (on PostgreSQL also keys
//! and constraints) are built once over the loaded rows rather than maintained row by row.
//!
//! On PostgreSQL the replaced tables are renamed `retired_*` in the swap and dropped after it,
//! so that readers do not wait for their files to be deleted.
//!
//! An interrupted rebuild leaves only `rebuild_*` (or `retired_*`) tables, which the next one
//! drops.

use std::collections::HashMap;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AnyPool, Row};

use crate::cells::{bind_row, BinaryCopy, Cell};
use crate::error::ReadModelError;
use crate::media_files::{fold, set_checkpoint, MediaReadModel, MEDIA_FILES};
use crate::rows::{NewFile, Position, ThumbnailRow, Write};
use crate::sql::Sql;

type Result<T> = std::result::Result<T, ReadModelError>;

/// Maps keyed by aggregate id, looked up once or twice per event of a rebuild: with
/// foldhash rather than SipHash, which resists hash flooding that these keys (ids of
/// stored events) cannot bring, at several times the cost.
type FastHash = foldhash::fast::RandomState;
/// Patches per file, by aggregate id.
type Patches = HashMap<String, Patch, FastHash>;

/// The read-model tables, parents before children.
const TABLES: [&str; 3] = ["media_files", "media_thumbnails", "media_counts"];
const PREFIX: &str = "rebuild_";
/// PostgreSQL: the live tables' names once the shadow tables have taken theirs, until dropped.
const RETIRED: &str = "retired_";
/// Where folded patches are staged for the one UPDATE that applies them.
const PATCHES: &str = "rebuild_media_patches";

pub struct Rebuild {
    pool: AnyPool,
    /// PostgreSQL (only): a native connection pool, for loading the batches by `COPY`.
    copy: Option<PgPool>,
    /// Statements that give the shadow tables the live tables' secondary indexes (and, on
    /// PostgreSQL, the indexes of keys and unique constraints), run over the loaded rows
    /// before the swap (PostgreSQL) or in it (SQLite); each with the live table it is for.
    indexes: Vec<(&'static str, String)>,
    /// PostgreSQL: the live tables' raised statistics targets.
    statistics: Vec<StatisticsTarget>,
    /// PostgreSQL: primary keys and unique constraints, added over their indexes once built.
    keys: Vec<String>,
    /// PostgreSQL: foreign keys, added last (they check every row, faster with the indexes).
    foreign_keys: Vec<ForeignKey>,
    /// PostgreSQL: the live tables' indexes and constraints, whose names the shadow tables'
    /// take in the swap.
    renames: Vec<Renamed>,
    /// Changes to files not loaded yet (`note_changes`), folded per file and taken by the
    /// file's row when it is loaded; and changes to files written by an earlier batch,
    /// applied together before the indexes are built (one join, not an update per batch).
    patches: Patches,
    /// PostgreSQL: batches being loaded, at most `LOADERS`.
    loading: tokio::task::JoinSet<Result<()>>,
    /// Whether the shadow `media_counts` holds the counts of the loaded files.
    counted: bool,
}

impl MediaReadModel {
    /// Start a rebuild: empty shadow tables shaped like the live ones.
    pub async fn begin_rebuild(&self) -> Result<Rebuild> {
        let pool = self.pool().clone();
        let copy = if self.is_postgres() {
            let url = pool.connect_options().database_url.clone();
            Some(
                PgPoolOptions::new()
                    .max_connections(INDEX_BUILDERS.max(LOADERS) as u32)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            // Index builds sort in memory rather than in temporary files.
                            sqlx::query("SET maintenance_work_mem = '256MB'")
                                .execute(&mut *connection)
                                .await?;
                            sqlx::query("SET max_parallel_maintenance_workers = 0")
                                .execute(connection)
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect(url.as_str())
                    .await?,
            )
        } else {
            None
        };
        let mut rebuild = Rebuild {
            pool,
            copy,
            indexes: Vec::new(),
            statistics: Vec::new(),
            keys: Vec::new(),
            foreign_keys: Vec::new(),
            renames: Vec::new(),
            patches: Patches::default(),
            loading: tokio::task::JoinSet::new(),
            counted: false,
        };
        let mut tx = rebuild.begin_writing().await?;
        for prefix in [PREFIX, RETIRED] {
            for table in TABLES.iter().rev() {
                sqlx::query(&format!("DROP TABLE IF EXISTS {prefix}{table}"))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(&format!("DROP TABLE IF EXISTS {PATCHES}"))
            .execute(&mut *tx)
            .await?;
        if rebuild.postgres() {
            rebuild.copy_postgres_tables(&mut tx).await?;
        } else {
            rebuild.copy_sqlite_tables(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(rebuild)
    }
}

impl Rebuild {
    fn postgres(&self) -> bool {
        self.copy.is_some()
    }

    async fn copy_postgres_tables(
        &mut self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<()> {
        for table in TABLES {
            let shadow = format!("{PREFIX}{table}");
            sqlx::query(&format!(
                "CREATE TABLE {shadow} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS \
                 INCLUDING GENERATED INCLUDING STORAGE)"
            ))
            .execute(&mut **tx)
            .await?;
            // Every constraint once the rows are in: an index built from sorted rows costs a
            // fraction of one kept up row by row (the random `aggregate_id`s most), and the
            // load looks nothing up by them. A duplicate fails the rebuild there instead.
            // A key's index is built like the others and beside them, and the key then added
            // over it: adding the key whole would lock the table against them while it builds.
            let constraints = sqlx::query(
                "SELECT conname::text AS name, \
                   CASE contype WHEN 'p' THEN 'PRIMARY KEY' WHEN 'u' THEN 'UNIQUE' END AS key, \
                   pg_get_constraintdef(k.oid) AS definition, \
                   CASE WHEN condeferred THEN ' DEFERRABLE INITIALLY DEFERRED' \
                     WHEN condeferrable THEN ' DEFERRABLE' ELSE '' END AS deferrable, \
                   CAST(i.relname AS text) AS index_name, \
                   pg_get_indexdef(k.conindid) AS index_definition \
                 FROM pg_constraint k LEFT JOIN pg_class i ON i.oid = k.conindid \
                 WHERE k.conrelid = CAST($1 AS regclass) AND contype IN ('p', 'u', 'f') \
                 ORDER BY conname",
            )
            .bind(table)
            .fetch_all(&mut **tx)
            .await?;
            for row in constraints {
                let name: String = row.try_get("name")?;
                let shadow_name = format!("{PREFIX}{name}");
                match row.try_get::<Option<String>, _>("key")? {
                    Some(key) => {
                        let index_name: String = row.try_get("index_name")?;
                        let index: String = row.try_get("index_definition")?;
                        let deferrable: String = row.try_get("deferrable")?;
                        let index = rename_identifier(&index, &index_name, &shadow_name);
                        self.indexes.push((table, shadowed(&index)));
                        self.keys.push(format!(
                            "ALTER TABLE {shadow} ADD CONSTRAINT {shadow_name} {key} \
                             USING INDEX {shadow_name}{deferrable}"
                        ));
                    }
                    None => {
                        let definition = shadowed(&row.try_get::<String, _>("definition")?);
                        self.foreign_keys
                            .push(ForeignKey::new(&shadow, &shadow_name, &definition));
                    }
                }
                self.renames.push(Renamed {
                    table,
                    name,
                    constraint: true,
                });
            }
            let indexes = sqlx::query(
                "SELECT CAST(c.relname AS text) AS name, pg_get_indexdef(i.indexrelid) AS definition \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE i.indrelid = CAST($1 AS regclass) \
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
                 ORDER BY c.relname",
            )
            .bind(table)
            .fetch_all(&mut **tx)
            .await?;
            for row in indexes {
                let name: String = row.try_get("name")?;
                let definition: String = row.try_get("definition")?;
                let renamed = rename_identifier(&definition, &name, &format!("{PREFIX}{name}"));
                self.indexes.push((table, shadowed(&renamed)));
                self.renames.push(Renamed {
                    table,
                    name,
                    constraint: false,
                });
            }
            let targets = sqlx::query(
                "SELECT CAST(attname AS text) AS name, CAST(attstattarget AS integer) AS target \
                 FROM pg_attribute WHERE attrelid = CAST($1 AS regclass) AND attnum > 0 \
                   AND NOT attisdropped AND attstattarget > 0",
            )
            .bind(table)
            .fetch_all(&mut **tx)
            .await?;
            for row in targets {
                let column: String = row.try_get("name")?;
                let target: i32 = row.try_get("target")?;
                sqlx::query(&format!(
                    "ALTER TABLE {shadow} ALTER COLUMN {column} SET STATISTICS {target}"
                ))
                .execute(&mut **tx)
                .await?;
                self.statistics.push(StatisticsTarget {
                    table,
                    column,
                    target,
                });
            }
        }
        Ok(())
    }

    async fn copy_sqlite_tables(
        &mut self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<()> {
        for table in TABLES {
            let definition: String = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1",
            )
            .bind(table)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(&shadowed(&definition))
                .execute(&mut **tx)
                .await?;
            // Created under their own names once the shadow table has the live one's name:
            // SQLite cannot rename an index.
            let indexes: Vec<String> = sqlx::query_scalar(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
                   AND sql IS NOT NULL ORDER BY name",
            )
            .bind(table)
            .fetch_all(&mut **tx)
            .await?;
            self.indexes
                .extend(indexes.into_iter().map(|index| (table, index)));
        }
        Ok(())
    }

    /// A transaction that will write. SQLite's must take the write lock at once: a deferred
    /// one that reads first cannot wait for it later (it fails "database is locked" when
    /// another writer committed meanwhile).
    async fn begin_writing(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(if self.postgres() {
            self.pool.begin().await?
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        })
    }

    /// Fold the changes (updates, deletes) among `writes` into the patches, to be applied
    /// as their files' rows are loaded: replaying every change before the uploads loads
    /// each row once, in its final state. Uploads among `writes` are ignored.
    pub fn note_changes(&mut self, writes: &[Write]) {
        note_into(&mut self.patches, writes);
    }

    /// Add changes noted apart (`ChangeNotes`), from events after every change noted so far.
    pub fn note_later_changes(&mut self, later: ChangeNotes) {
        later.fold_into(&mut self.patches);
    }

    /// Apply a batch of writes to the shadow tables, in one transaction of its own.
    /// PostgreSQL loads it on a task of its own, beside the next batches (`LOADERS`).
    pub async fn apply(&mut self, writes: &[Write]) -> Result<()> {
        let pending = fold_batch(writes, &mut self.patches);
        match self.copy.clone() {
            Some(_) if pending.is_empty() => {}
            Some(pool) => {
                let batch = CopyBatch::of(&pending)?;
                while self.loading.len() >= LOADERS {
                    self.loaded_one().await?;
                }
                self.loading.spawn(async move { batch.load(&pool).await });
            }
            None => {
                let mut tx = self.begin_writing().await?;
                insert_pending(&mut tx, &pending, self.postgres()).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Wait for one of the batches being loaded; its error, if it failed.
    async fn loaded_one(&mut self) -> Result<()> {
        match self.loading.join_next().await {
            Some(loaded) => loaded?,
            None => Ok(()),
        }
    }

    /// Give the shadow tables their indexes (PostgreSQL: before the swap, so that it is
    /// short; SQLite builds them inside the swap, where readers still see the old tables).
    async fn prepare(&mut self) -> Result<()> {
        while !self.loading.is_empty() {
            self.loaded_one().await?;
        }
        let started = std::time::Instant::now();
        let mut tx = self.begin_writing().await?;
        let patches = std::mem::take(&mut self.patches);
        let files = patches.len();
        apply_patches(&mut tx, patches, self.postgres(), false).await?;
        tx.commit().await?;
        tracing::info!(
            files,
            seconds = started.elapsed().as_secs_f64(),
            "rebuild: later changes applied"
        );
        let Some(pool) = &self.copy else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let (mut files, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.indexes)
            .into_iter()
            .partition(|(table, _)| *table == LARGEST);
        // The slowest (GIN) first, so that no connection is left with one at the end.
        files.sort_by_key(|(_, statement)| !statement.contains("USING gin"));
        // An index build and an ANALYZE of one table wait for each other: the raised
        // columns' statistics come first, beside the smaller tables' indexes; then the
        // largest table's indexes; last, steps that need none of them, short, which fill the
        // time one connection would otherwise wait while the other finishes its last index
        // (up to a second). The counts are analyzed once counted.
        let statistics = &self.statistics;
        let fillers = TABLES
            .into_iter()
            .filter(|table| ![LARGEST, COUNTS].contains(table))
            .map(|table| other_statistics(statistics, table))
            .chain(std::iter::once(format!(
                "{COUNT_FILES}; {}",
                other_statistics(statistics, COUNTS)
            )));
        let builds = TABLES
            .into_iter()
            .filter_map(|table| raised_statistics(statistics, table))
            .chain(others.into_iter().map(|(_, statement)| statement))
            .chain(files.into_iter().map(|(_, statement)| statement))
            .chain(fillers);
        run_concurrently(pool, builds, INDEX_BUILDERS).await?;
        // Keys, and foreign keys without their check: each holds its tables against all
        // else, for a moment.
        let foreign_keys = std::mem::take(&mut self.foreign_keys);
        let keys = std::mem::take(&mut self.keys);
        let added = foreign_keys.iter().map(|key| key.add.clone());
        run_concurrently(pool, keys.into_iter().chain(added), 1).await?;
        // The rest of the largest table's statistics and the foreign keys' checks only read:
        // they run side by side.
        let checks = foreign_keys.into_iter().filter_map(|key| key.validate);
        let tail = std::iter::once(other_statistics(statistics, LARGEST)).chain(checks);
        run_concurrently(pool, tail, INDEX_BUILDERS).await?;
        self.counted = true;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "rebuild: indexes built"
        );
        Ok(())
    }

    /// Build the indexes, then open the swap: live projection writes wait from here on, so
    /// what `Swap::apply` adds is everything committed since the batches.
    pub async fn begin_swap(mut self) -> Result<Swap> {
        self.prepare().await?;
        let mut tx = self.begin_writing().await?;
        if self.postgres() {
            // Writers wait; readers go on until the renames, a moment before the commit.
            sqlx::query(
                "LOCK TABLE media_thumbnails, media_files, media_counts, projection_checkpoints \
                 IN EXCLUSIVE MODE",
            )
            .execute(&mut *tx)
            .await?;
        }
        // SQLite: the transaction holds the one write lock, so no event can be stored
        // until the commit.
        Ok(Swap {
            rebuild: self,
            tx,
            patches: Patches::default(),
            changed: false,
        })
    }
}

/// Connections building indexes at once: PostgreSQL builds one index on one core.
const INDEX_BUILDERS: usize = 2;
/// Batches loaded at once, each by `COPY` on a connection of its own: PostgreSQL parses and
/// stores a batch on one core. While loading, rows are only inserted (changes wait in the
/// patches) and the tables have no constraints yet, so the batches are independent of each
/// other and of their order; a load cut short is dropped by the next rebuild.
const LOADERS: usize = 2;
/// The read model's largest table, by far.
const LARGEST: &str = "media_files";
/// The table `COUNT_FILES` fills.
const COUNTS: &str = "media_counts";
/// The live files per uploader and type, from the shadow files into the shadow counts.
const COUNT_FILES: &str = "INSERT INTO rebuild_media_counts (user_id, media_type, live) \
     SELECT user_id, media_type, COUNT(*) FROM rebuild_media_files \
     WHERE deleted_at IS NULL GROUP BY user_id, media_type";

/// Statistics are gathered in two passes per table, so that neither costs more than it must.
/// ANALYZE samples rows for the highest target among the columns it analyzes, and, for each
/// partial index of the table, evaluates the index's predicate on every sampled row. A column
/// with a raised target (ten times the default, say) thus multiplies the work for every column
/// and every partial index: on 1,000,000 files with twenty partial indexes, most of a
/// rebuild's ANALYZE. So the columns with raised targets are analyzed alone, before their
/// table has any index (`raised_statistics`); the rest after the indexes, which need them for
/// their expressions (`other_statistics`), with the raised columns at target 0 meanwhile: a
/// column at 0 is skipped and keeps the statistics it has.
fn raised_statistics(statistics: &[StatisticsTarget], table: &str) -> Option<String> {
    let raised: Vec<&str> = raised_columns(statistics, table)
        .map(|raised| raised.column.as_str())
        .collect();
    (!raised.is_empty()).then(|| format!("ANALYZE {PREFIX}{table} ({})", raised.join(", ")))
}

/// The second pass of a table's statistics (see `raised_statistics`), as one step.
fn other_statistics(statistics: &[StatisticsTarget], table: &str) -> String {
    let shadow = format!("{PREFIX}{table}");
    let raised: Vec<&StatisticsTarget> = raised_columns(statistics, table).collect();
    if raised.is_empty() {
        return format!("ANALYZE {shadow}");
    }
    let set_targets = |zero: bool| {
        let columns: Vec<String> = raised
            .iter()
            .map(|StatisticsTarget { column, target, .. }| {
                let target = if zero { 0 } else { *target };
                format!("ALTER COLUMN {column} SET STATISTICS {target}")
            })
            .collect();
        format!("ALTER TABLE {shadow} {}", columns.join(", "))
    };
    format!(
        "{}; ANALYZE {shadow}; {}",
        set_targets(true),
        set_targets(false)
    )
}

/// A foreign key of a shadow table: added without checking the rows, then checked (unless
/// the live table's key is unchecked too). The check then holds neither table against
/// ANALYZE or the counts.
struct ForeignKey {
    add: String,
    validate: Option<String>,
}

impl ForeignKey {
    fn new(shadow: &str, name: &str, definition: &str) -> ForeignKey {
        let unchecked = definition.ends_with(" NOT VALID");
        let not_valid = if unchecked { "" } else { " NOT VALID" };
        ForeignKey {
            add: format!("ALTER TABLE {shadow} ADD CONSTRAINT {name} {definition}{not_valid}"),
            validate: (!unchecked)
                .then(|| format!("ALTER TABLE {shadow} VALIDATE CONSTRAINT {name}")),
        }
    }
}

/// A column's statistics target set by a migration (`SET STATISTICS`), which `LIKE` does
/// not copy to the shadow table.
struct StatisticsTarget {
    table: &'static str,
    column: String,
    target: i32,
}

fn raised_columns<'a>(
    statistics: &'a [StatisticsTarget],
    table: &'a str,
) -> impl Iterator<Item = &'a StatisticsTarget> {
    statistics
        .iter()
        .filter(move |raised| raised.table == table)
}

/// Run independent steps, `at_once` at a time; a step is one or more statements (separated
/// by `;`), run in order.
async fn run_concurrently(
    pool: &PgPool,
    statements: impl Iterator<Item = String>,
    at_once: usize,
) -> Result<()> {
    use futures_util::{StreamExt as _, TryStreamExt as _};
    futures_util::stream::iter(statements)
        .map(|statement| async move {
            let started = std::time::Instant::now();
            sqlx::raw_sql(&statement).execute(pool).await?;
            tracing::debug!(
                statement,
                seconds = started.elapsed().as_secs_f64(),
                "rebuild: index step"
            );
            Ok::<_, sqlx::Error>(())
        })
        .buffer_unordered(at_once)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// The swap's transaction, open.
pub struct Swap {
    rebuild: Rebuild,
    tx: sqlx::Transaction<'static, sqlx::Any>,
    patches: Patches,
    /// Whether events committed after the batches changed the shadow tables.
    changed: bool,
}

impl Swap {
    /// Apply writes of events committed after the batches.
    pub async fn apply(&mut self, writes: &[Write]) -> Result<()> {
        self.changed |= !writes.is_empty();
        let pending = fold_batch(writes, &mut self.patches);
        insert_pending(&mut self.tx, &pending, self.rebuild.postgres()).await
    }

    /// Replace the live tables with the shadow ones, and set the checkpoint, atomically.
    pub async fn commit(mut self, checkpoint: Position) -> Result<()> {
        let started = std::time::Instant::now();
        let tx = &mut self.tx;
        let patches = std::mem::take(&mut self.patches);
        apply_patches(tx, patches, self.rebuild.postgres(), true).await?;
        sqlx::query(&format!("DROP TABLE IF EXISTS {PATCHES}"))
            .execute(&mut **tx)
            .await?;
        // Counted before the swap, unless it changed files since.
        if self.changed || !self.rebuild.counted {
            sqlx::query(&format!("DELETE FROM {PREFIX}media_counts"))
                .execute(&mut **tx)
                .await?;
            sqlx::query(COUNT_FILES).execute(&mut **tx).await?;
        }
        let postgres = self.rebuild.postgres();
        let renames = std::mem::take(&mut self.rebuild.renames);
        let mut statements = Vec::new();
        if postgres {
            // The live tables are put aside and dropped after the swap. Dropping them here
            // (files of a gigabyte for a million files) took longer than all else in it, and
            // readers wait for the swap from its first rename or drop.
            statements.extend(renames.iter().map(|renamed| renamed.statement("", RETIRED)));
            statements.extend(
                TABLES
                    .iter()
                    .map(|table| format!("ALTER TABLE {table} RENAME TO {RETIRED}{table}")),
            );
        } else {
            statements.extend(
                TABLES
                    .iter()
                    .rev()
                    .map(|table| format!("DROP TABLE {table}")),
            );
        }
        statements.extend(
            TABLES
                .iter()
                .map(|table| format!("ALTER TABLE {PREFIX}{table} RENAME TO {table}")),
        );
        if postgres {
            statements.extend(renames.iter().map(|renamed| renamed.statement(PREFIX, "")));
        } else {
            // SQLite cannot rename an index: they are built here, under their own names.
            let indexes = std::mem::take(&mut self.rebuild.indexes);
            statements.extend(indexes.into_iter().map(|(_, index)| index));
        }
        for statement in statements {
            sqlx::query(&statement).execute(&mut **tx).await?;
        }
        set_checkpoint(tx, checkpoint).await?;
        self.tx.commit().await?;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "rebuild: swapped in"
        );
        if postgres {
            let started = std::time::Instant::now();
            let retired: Vec<String> = TABLES
                .iter()
                .map(|table| format!("{RETIRED}{table}"))
                .collect();
            let drop = format!("DROP TABLE IF EXISTS {}", retired.join(", "));
            // The rebuild is done: a failure here leaves old tables that the next one drops.
            if let Err(error) = sqlx::query(&drop).execute(&self.rebuild.pool).await {
                tracing::warn!(%error, "rebuild: the replaced tables were left as retired_*");
            }
            tracing::info!(
                seconds = started.elapsed().as_secs_f64(),
                "rebuild: replaced tables dropped"
            );
        }
        Ok(())
    }
}

/// How far the last rebuild of a projection got, as its process last wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RebuildProgress {
    pub events_done: i64,
    pub events_total: i64,
    /// Not finished, and written recently: a rebuild that died stops counting as running.
    pub running: bool,
}

/// A running rebuild writes its progress at least this often (microseconds).
const RUNNING_IF_WRITTEN_WITHIN: i64 = 30_000_000;

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl MediaReadModel {
    /// Record a rebuild's progress (`started_at` in microseconds since the epoch), for the
    /// server's `/metrics`: the rebuild runs in another process.
    pub async fn record_rebuild(
        &self,
        started_at: i64,
        events_done: u64,
        events_total: u64,
        finished: bool,
    ) -> Result<()> {
        let now = now_micros();
        sqlx::query(
            "INSERT INTO projection_rebuilds \
               (name, events_done, events_total, started_at, updated_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET events_done = excluded.events_done, \
               events_total = excluded.events_total, started_at = excluded.started_at, \
               updated_at = excluded.updated_at, finished_at = excluded.finished_at",
        )
        .bind(MEDIA_FILES)
        .bind(i64::try_from(events_done).unwrap_or(i64::MAX))
        .bind(i64::try_from(events_total).unwrap_or(i64::MAX))
        .bind(started_at)
        .bind(now)
        .bind(finished.then_some(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The last rebuild's progress; zeros if there never was one.
    pub async fn rebuild_progress(&self) -> Result<RebuildProgress> {
        let row: Option<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT events_done, events_total, updated_at, finished_at \
             FROM projection_rebuilds WHERE name = $1",
        )
        .bind(MEDIA_FILES)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map_or_else(
            RebuildProgress::default,
            |(done, total, updated, finished)| RebuildProgress {
                events_done: done,
                events_total: total,
                running: finished.is_none() && now_micros() - updated < RUNNING_IF_WRITTEN_WITHIN,
            },
        ))
    }
}

/// `sql` with every read-model table name replaced by its shadow's.
fn shadowed(sql: &str) -> String {
    TABLES.iter().fold(sql.to_string(), |sql, table| {
        rename_identifier(&sql, table, &format!("{PREFIX}{table}"))
    })
}

/// Replace `from` where it is a whole identifier (not part of a longer one).
fn rename_identifier(sql: &str, from: &str, to: &str) -> String {
    let is_part = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(from) {
        // At a segment's start, what precedes is the end of the previous match.
        let before = if at > 0 {
            rest[..at].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        out.push_str(if is_part(before) || is_part(after) {
            from
        } else {
            to
        });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// An index or constraint of a live table, whose name the shadow table's takes in the swap.
struct Renamed {
    table: &'static str,
    name: String,
    /// A constraint (whose index is renamed with it), not an index alone.
    constraint: bool,
}

impl Renamed {
    /// The statement that renames it from `from` to `to`, prefixes of its name.
    fn statement(&self, from: &str, to: &str) -> String {
        let Renamed {
            table,
            name,
            constraint,
        } = self;
        if *constraint {
            format!("ALTER TABLE {table} RENAME CONSTRAINT {from}{name} TO {to}{name}")
        } else {
            format!("ALTER INDEX {from}{name} RENAME TO {to}{name}")
        }
    }
}

/// Changes folded per file apart from a rebuild, so that a later stretch of the event store
/// can be read beside an earlier one, and added after it (`Rebuild::note_later_changes`).
#[derive(Default)]
pub struct ChangeNotes {
    patches: Patches,
}

impl ChangeNotes {
    /// Like `Rebuild::note_changes`.
    pub fn note(&mut self, writes: &[Write]) {
        note_into(&mut self.patches, writes);
    }

    /// Fold these, as changes after those of `patches`, into them.
    fn fold_into(self, patches: &mut Patches) {
        for (aggregate_id, patch) in self.patches {
            patches.entry(aggregate_id).or_default().then(patch);
        }
    }
}

fn note_into(patches: &mut Patches, writes: &[Write]) {
    for write in writes {
        if let Write::UpdateMetadata { aggregate_id, .. } | Write::Delete { aggregate_id, .. } =
            write
        {
            patches.entry(aggregate_id.clone()).or_default().fold(write);
        }
    }
}

/// What events after a file's upload change of it, folded in order.
#[derive(Debug, Default, PartialEq)]
struct Patch {
    version: i64,
    name: Option<String>,
    description: Option<String>,
    updated_at: Option<i64>,
    deleted_at: Option<i64>,
}

impl Patch {
    fn fold(&mut self, write: &Write) {
        match write {
            Write::UpdateMetadata {
                version,
                name,
                description,
                at,
                ..
            } => {
                if name.is_some() {
                    self.name.clone_from(name);
                }
                if description.is_some() {
                    self.description.clone_from(description);
                }
                self.updated_at = Some(*at);
                self.version = *version;
            }
            Write::Delete { version, at, .. } => {
                self.deleted_at.get_or_insert(*at);
                self.version = *version;
            }
            Write::Insert { .. } => {}
        }
    }

    /// Fold in what later events changed, folded apart.
    fn then(&mut self, later: Patch) {
        if later.name.is_some() {
            self.name = later.name;
        }
        if later.description.is_some() {
            self.description = later.description;
        }
        if later.updated_at.is_some() {
            self.updated_at = later.updated_at;
        }
        if self.deleted_at.is_none() {
            self.deleted_at = later.deleted_at;
        }
        self.version = self.version.max(later.version);
    }
}

/// A file created in this batch, with what later events of the batch change of it.
struct Pending<'a> {
    file: &'a NewFile,
    version: i64,
    patch: Patch,
}

/// Rows per multi-row statement of `columns` values each. SQLite's bound: sqlx's SQLite
/// binding slows down more than linearly with the parameters of one statement (a 21,000
/// parameter INSERT takes seconds), so it gets small statements.
fn rows_per_statement(columns: usize, postgres: bool) -> usize {
    (if postgres { 20_000 } else { 600 }) / columns
}

/// Sort a batch's writes: the files it creates, each with what its later events change
/// of it (noted earlier in `patches`, or later in this batch), and, into `patches`, the
/// changes to files of earlier batches. Counts are made at the swap.
fn fold_batch<'a>(writes: &'a [Write], patches: &mut Patches) -> Vec<Pending<'a>> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut created: HashMap<&str, usize, FastHash> = HashMap::default();
    for write in writes {
        match write {
            Write::Insert { version, file } => {
                created.insert(file.aggregate_id.as_str(), pending.len());
                pending.push(Pending {
                    file,
                    version: *version,
                    patch: patches.remove(&file.aggregate_id).unwrap_or_default(),
                });
            }
            Write::UpdateMetadata { aggregate_id, .. } | Write::Delete { aggregate_id, .. } => {
                match created.get(aggregate_id.as_str()) {
                    Some(&i) => pending[i].patch.fold(write),
                    None => patches.entry(aggregate_id.clone()).or_default().fold(write),
                }
            }
        }
    }
    pending
}

const FILE_TABLE_COLUMNS: &str = "id, aggregate_id, version, user_id, media_type, mime, \
     blob_hash, original_filename, name, name_folded, description, size, width, height, mode, \
     duration, video_width, video_height, created_at, updated_at, deleted_at";
const THUMBNAIL_TABLE_COLUMNS: &str =
    "id, file_id, box_size, blob_hash, width, height, bytes, mime";

/// A file's row as its last event so far left it; `folded` is its folded name.
fn file_cells<'a>(pending: &'a Pending<'_>, folded: &'a str) -> [Cell<'a>; 21] {
    let Pending {
        file,
        version,
        patch,
    } = pending;
    let version = if patch.version > 0 {
        patch.version
    } else {
        *version
    };
    [
        file.id.into(),
        (&file.aggregate_id).into(),
        version.into(),
        file.user_id.into(),
        (&file.media_type).into(),
        (&file.mime).into(),
        (&file.blob_hash).into(),
        (&file.original_filename).into(),
        pending.name().into(),
        folded.into(),
        patch
            .description
            .as_ref()
            .unwrap_or(&file.description)
            .into(),
        file.size.into(),
        file.width.into(),
        file.height.into(),
        (&file.mode).into(),
        file.duration.into(),
        file.video_width.into(),
        file.video_height.into(),
        file.created_at.into(),
        patch.updated_at.unwrap_or(file.created_at).into(),
        patch.deleted_at.into(),
    ]
}

fn thumbnail_cells(file_id: i64, thumb: &ThumbnailRow) -> [Cell<'_>; 8] {
    [
        thumb.id.into(),
        file_id.into(),
        thumb.box_size.into(),
        (&thumb.blob_hash).into(),
        thumb.width.into(),
        thumb.height.into(),
        thumb.bytes.into(),
        (&thumb.mime).into(),
    ]
}

impl Pending<'_> {
    fn name(&self) -> &str {
        self.patch.name.as_ref().unwrap_or(&self.file.name)
    }

    fn thumbnails(&self) -> impl Iterator<Item = [Cell<'_>; 8]> {
        self.file
            .thumbnails
            .iter()
            .map(|t| thumbnail_cells(self.file.id, t))
    }
}

/// Insert new files and their thumbnails, many rows per statement.
async fn insert_pending(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    pending: &[Pending<'_>],
    postgres: bool,
) -> Result<()> {
    for chunk in pending.chunks(rows_per_statement(21, postgres)) {
        let mut sql = Sql::for_backend(
            format!("INSERT INTO {PREFIX}media_files ({FILE_TABLE_COLUMNS}) VALUES "),
            postgres,
        );
        for file in chunk {
            let folded = fold(file.name());
            sql.row(|row| bind_row(row, &file_cells(file, &folded)));
        }
        sql.execute(&mut **tx).await?;
    }
    let thumbnails: Vec<[Cell; 8]> = pending.iter().flat_map(Pending::thumbnails).collect();
    for chunk in thumbnails.chunks(rows_per_statement(8, postgres)) {
        let mut sql = Sql::for_backend(
            format!("INSERT INTO {PREFIX}media_thumbnails ({THUMBNAIL_TABLE_COLUMNS}) VALUES "),
            postgres,
        );
        for cells in chunk {
            sql.row(|row| bind_row(row, cells));
        }
        sql.execute(&mut **tx).await?;
    }
    Ok(())
}

/// New files and their thumbnails, as binary `COPY` data (PostgreSQL).
struct CopyBatch {
    files: BinaryCopy,
    thumbnails: BinaryCopy,
}

impl CopyBatch {
    fn of(pending: &[Pending<'_>]) -> Result<CopyBatch> {
        // Rows are a few hundred bytes: room for most batches without growing.
        let mut files = BinaryCopy::with_capacity(pending.len() * 384);
        let mut thumbnails = BinaryCopy::with_capacity(pending.len() * 320);
        for file in pending {
            files.row(&file_cells(file, &fold(file.name())))?;
            for cells in file.thumbnails() {
                thumbnails.row(&cells)?;
            }
        }
        Ok(CopyBatch { files, thumbnails })
    }

    /// Load the rows, in one transaction.
    async fn load(self, pool: &PgPool) -> Result<()> {
        let mut tx = pool.begin().await?;
        // A lost batch is redone by the next rebuild: no need to wait for the disk.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        for (table, columns, data) in [
            ("media_files", FILE_TABLE_COLUMNS, self.files),
            ("media_thumbnails", THUMBNAIL_TABLE_COLUMNS, self.thumbnails),
        ] {
            if data.is_empty() {
                continue;
            }
            let mut copy = tx
                .copy_in_raw(&format!(
                    "COPY {PREFIX}{table} ({columns}) FROM STDIN (FORMAT binary)"
                ))
                .await?;
            copy.send(data.finish()).await?;
            copy.finish().await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Apply folded patches with one UPDATE joined to a staging table of them.
async fn apply_patches(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    patches: Patches,
    postgres: bool,
    files_analyzed: bool,
) -> Result<()> {
    if patches.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {PATCHES} (aggregate_id text PRIMARY KEY, \
           version bigint NOT NULL, name text, name_folded text, description text, \
           updated_at bigint, deleted_at bigint)"
    ))
    .execute(&mut **tx)
    .await?;
    let patches: Vec<(String, Patch)> = patches.into_iter().collect();
    for chunk in patches.chunks(rows_per_statement(7, postgres)) {
        let mut sql = Sql::for_backend(
            format!(
                "INSERT INTO {PATCHES} (aggregate_id, version, name, name_folded, description, \
                   updated_at, deleted_at) VALUES "
            ),
            postgres,
        );
        for (aggregate_id, patch) in chunk {
            sql.row(|row| {
                row.value(aggregate_id.clone())
                    .value(patch.version)
                    .value(patch.name.clone())
                    .value(patch.name.as_deref().map(fold))
                    .value(patch.description.clone())
                    .value(patch.updated_at)
                    .value(patch.deleted_at);
            });
        }
        sql.execute(&mut **tx).await?;
    }
    if postgres {
        // Fresh tables have no statistics: without them the join may be planned as a
        // scan of the files per patch. The join column's are enough (and the row count,
        // which any ANALYZE sets): the whole table is analyzed after its indexes anyway. In
        // the swap the files have theirs already, and analyzing them again would hold up
        // writers.
        sqlx::query(&format!("ANALYZE {PATCHES}"))
            .execute(&mut **tx)
            .await?;
        if !files_analyzed {
            sqlx::query(&format!("ANALYZE {PREFIX}{LARGEST} (aggregate_id)"))
                .execute(&mut **tx)
                .await?;
        }
    }
    // Guarded like the live projection: a row that has seen the version is left alone.
    sqlx::query(&format!(
        "UPDATE {PREFIX}media_files AS f SET \
           name = COALESCE(v.name, f.name), \
           name_folded = COALESCE(v.name_folded, f.name_folded), \
           description = COALESCE(v.description, f.description), \
           updated_at = COALESCE(v.updated_at, f.updated_at), \
           deleted_at = COALESCE(f.deleted_at, v.deleted_at), \
           version = v.version \
         FROM {PATCHES} AS v WHERE f.aggregate_id = v.aggregate_id AND f.version < v.version"
    ))
    .execute(&mut **tx)
    .await?;
    sqlx::query(&format!("DELETE FROM {PATCHES}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_noted_in_two_stretches_fold_as_if_noted_in_one() {
        let update = |id: &str, version, name: Option<&str>, description: Option<&str>| {
            Write::UpdateMetadata {
                aggregate_id: id.into(),
                version,
                name: name.map(str::to_string),
                description: description.map(str::to_string),
                at: version * 10,
            }
        };
        let writes = [
            update("a", 2, Some("one"), None),
            update("b", 2, None, Some("b's")),
            update("a", 3, None, Some("described")),
            update("a", 4, Some("two"), None),
            Write::Delete {
                aggregate_id: "a".into(),
                version: 5,
                at: 50,
            },
            update("c", 2, Some("c's"), None),
        ];
        let mut at_once = Patches::default();
        note_into(&mut at_once, &writes);
        for split in 0..=writes.len() {
            let mut earlier = Patches::default();
            note_into(&mut earlier, &writes[..split]);
            let mut later = ChangeNotes::default();
            later.note(&writes[split..]);
            later.fold_into(&mut earlier);
            assert_eq!(earlier, at_once, "split after {split} writes");
        }
    }

    #[test]
    fn only_whole_identifiers_are_renamed() {
        assert_eq!(
            shadowed("CREATE INDEX media_files_name ON public.media_files USING btree (name, id)"),
            "CREATE INDEX media_files_name ON public.rebuild_media_files USING btree (name, id)"
        );
        assert_eq!(
            shadowed("file_id integer NOT NULL REFERENCES media_files (id),"),
            "file_id integer NOT NULL REFERENCES rebuild_media_files (id),"
        );
        assert_eq!(
            rename_identifier("CREATE INDEX a_b ON a_b_c (x)", "a_b", "z"),
            "CREATE INDEX z ON a_b_c (x)"
        );
    }
}
