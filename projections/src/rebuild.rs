//! Rebuilding the read model beside the live one: `rebuild_*` tables of the same shape are
//! filled from the events in batches (each its own transaction, so the live tables and the
//! service are untouched meanwhile), then swapped in by one short transaction that first
//! applies whatever was committed since.
//!
//! The shadow tables copy the live tables' definitions from the database's own catalog, so
//! the migrations stay the one place a schema is written. Secondary indexes are built once
//! over the loaded rows rather than maintained row by row.
//!
//! An interrupted rebuild leaves only `rebuild_*` tables, which the next one drops.

use std::collections::HashMap;

use sqlx::{AnyPool, Row};

use crate::error::ReadModelError;
use crate::media_files::{fold, set_checkpoint, MediaReadModel};
use crate::rows::{NewFile, Position, Write};
use crate::sql::Sql;

type Result<T> = std::result::Result<T, ReadModelError>;

/// The read-model tables, parents before children.
const TABLES: [&str; 3] = ["media_files", "media_thumbnails", "media_counts"];
const PREFIX: &str = "rebuild_";
/// Where folded patches are staged for the one UPDATE that applies them.
const PATCHES: &str = "rebuild_media_patches";

pub struct Rebuild {
    pool: AnyPool,
    postgres: bool,
    /// Statements that give the shadow tables the live tables' secondary indexes (and, on
    /// PostgreSQL, foreign keys), run before the swap (PostgreSQL) or in it (SQLite).
    indexes: Vec<String>,
    /// PostgreSQL: renames, run in the swap, back to the live tables' index and constraint names.
    renames: Vec<String>,
    /// Changes to files written by an earlier batch, folded per file and applied together
    /// before the indexes are built: one join instead of an update per batch.
    patches: HashMap<String, Patch>,
}

impl MediaReadModel {
    /// Start a rebuild: empty shadow tables shaped like the live ones.
    pub async fn begin_rebuild(&self) -> Result<Rebuild> {
        let pool = self.pool().clone();
        let mut rebuild = Rebuild {
            pool,
            postgres: self.is_postgres(),
            indexes: Vec::new(),
            renames: Vec::new(),
            patches: HashMap::new(),
        };
        let mut tx = rebuild.begin_writing().await?;
        for table in TABLES.iter().rev() {
            sqlx::query(&format!("DROP TABLE IF EXISTS {PREFIX}{table}"))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!("DROP TABLE IF EXISTS {PATCHES}"))
            .execute(&mut *tx)
            .await?;
        if rebuild.postgres {
            rebuild.copy_postgres_tables(&mut tx).await?;
        } else {
            rebuild.copy_sqlite_tables(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(rebuild)
    }
}

impl Rebuild {
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
            // Primary keys and unique constraints now (rows are found by them while
            // loading); foreign keys once the rows are in.
            let constraints = sqlx::query(
                "SELECT conname::text AS name, contype::text AS kind, \
                   pg_get_constraintdef(oid) AS definition \
                 FROM pg_constraint WHERE conrelid = CAST($1 AS regclass) \
                   AND contype IN ('p', 'u', 'f') ORDER BY conname",
            )
            .bind(table)
            .fetch_all(&mut **tx)
            .await?;
            for row in constraints {
                let name: String = row.try_get("name")?;
                let kind: String = row.try_get("kind")?;
                let definition = shadowed(&row.try_get::<String, _>("definition")?);
                let add =
                    format!("ALTER TABLE {shadow} ADD CONSTRAINT {PREFIX}{name} {definition}");
                if kind == "f" {
                    self.indexes.push(add);
                } else {
                    sqlx::query(&add).execute(&mut **tx).await?;
                }
                self.renames.push(format!(
                    "ALTER TABLE {table} RENAME CONSTRAINT {PREFIX}{name} TO {name}"
                ));
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
                self.indexes.push(shadowed(&renamed));
                self.renames
                    .push(format!("ALTER INDEX {PREFIX}{name} RENAME TO {name}"));
            }
            // Per-column statistics targets (a migration's SET STATISTICS) are not copied by LIKE.
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
            self.indexes.extend(indexes);
        }
        Ok(())
    }

    /// A transaction that will write. SQLite's must take the write lock at once: a deferred
    /// one that reads first cannot wait for it later (it fails "database is locked" when
    /// another writer committed meanwhile).
    async fn begin_writing(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(if self.postgres {
            self.pool.begin().await?
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        })
    }

    /// Apply a batch of writes to the shadow tables, in one transaction of its own.
    pub async fn apply(&mut self, writes: &[Write]) -> Result<()> {
        let mut tx = self.begin_writing().await?;
        apply_bulk(&mut tx, writes, self.postgres, &mut self.patches).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Give the shadow tables their indexes (PostgreSQL: before the swap, so that it is
    /// short; SQLite builds them inside the swap, where readers still see the old tables).
    async fn prepare(&mut self) -> Result<()> {
        let mut tx = self.begin_writing().await?;
        let patches = std::mem::take(&mut self.patches);
        apply_patches(&mut tx, patches, self.postgres).await?;
        tx.commit().await?;
        if !self.postgres {
            return Ok(());
        }
        for statement in std::mem::take(&mut self.indexes) {
            sqlx::query(&statement).execute(&self.pool).await?;
        }
        for table in TABLES {
            sqlx::query(&format!("ANALYZE {PREFIX}{table}"))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Build the indexes, then open the swap: live projection writes wait from here on, so
    /// what `Swap::apply` adds is everything committed since the batches.
    pub async fn begin_swap(mut self) -> Result<Swap> {
        self.prepare().await?;
        let mut tx = self.begin_writing().await?;
        if self.postgres {
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
            patches: HashMap::new(),
        })
    }
}

/// The swap's transaction, open.
pub struct Swap {
    rebuild: Rebuild,
    tx: sqlx::Transaction<'static, sqlx::Any>,
    patches: HashMap<String, Patch>,
}

impl Swap {
    /// Apply writes of events committed after the batches.
    pub async fn apply(&mut self, writes: &[Write]) -> Result<()> {
        apply_bulk(
            &mut self.tx,
            writes,
            self.rebuild.postgres,
            &mut self.patches,
        )
        .await
    }

    /// Replace the live tables with the shadow ones, and set the checkpoint, atomically.
    pub async fn commit(mut self, checkpoint: Position) -> Result<()> {
        let tx = &mut self.tx;
        let patches = std::mem::take(&mut self.patches);
        apply_patches(tx, patches, self.rebuild.postgres).await?;
        sqlx::query(&format!("DROP TABLE IF EXISTS {PATCHES}"))
            .execute(&mut **tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {PREFIX}media_counts (user_id, media_type, live) \
             SELECT user_id, media_type, COUNT(*) FROM {PREFIX}media_files \
             WHERE deleted_at IS NULL GROUP BY user_id, media_type"
        ))
        .execute(&mut **tx)
        .await?;
        for table in TABLES.iter().rev() {
            sqlx::query(&format!("DROP TABLE {table}"))
                .execute(&mut **tx)
                .await?;
        }
        for table in TABLES {
            sqlx::query(&format!("ALTER TABLE {PREFIX}{table} RENAME TO {table}"))
                .execute(&mut **tx)
                .await?;
        }
        let statements = if self.rebuild.postgres {
            std::mem::take(&mut self.rebuild.renames)
        } else {
            std::mem::take(&mut self.rebuild.indexes)
        };
        for statement in statements {
            sqlx::query(&statement).execute(&mut **tx).await?;
        }
        set_checkpoint(tx, checkpoint).await?;
        self.tx.commit().await?;
        Ok(())
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

/// What events after a file's upload change of it, folded in order.
#[derive(Default)]
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

/// Apply writes to the shadow tables: the files a batch creates are folded with their later
/// events in memory and inserted many rows per statement; the changes to files of earlier
/// batches are folded per file into `patches`, applied once by `apply_patches`. Counts are
/// made at the swap.
async fn apply_bulk(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    writes: &[Write],
    postgres: bool,
    patches: &mut HashMap<String, Patch>,
) -> Result<()> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut created: HashMap<&str, usize> = HashMap::new();
    for write in writes {
        match write {
            Write::Insert { version, file } => {
                created.insert(file.aggregate_id.as_str(), pending.len());
                pending.push(Pending {
                    file,
                    version: *version,
                    patch: Patch::default(),
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

    for chunk in pending.chunks(rows_per_statement(21, postgres)) {
        insert_files(tx, chunk, postgres).await?;
    }
    let thumbnails: Vec<(i64, &crate::rows::ThumbnailRow)> = pending
        .iter()
        .flat_map(|p| p.file.thumbnails.iter().map(move |t| (p.file.id, t)))
        .collect();
    for chunk in thumbnails.chunks(rows_per_statement(8, postgres)) {
        let mut sql = Sql::for_backend(
            format!(
                "INSERT INTO {PREFIX}media_thumbnails \
                   (id, file_id, box_size, blob_hash, width, height, bytes, mime) VALUES "
            ),
            postgres,
        );
        for (file_id, thumb) in chunk {
            sql.row(|row| {
                row.value(thumb.id)
                    .value(*file_id)
                    .value(thumb.box_size)
                    .value(thumb.blob_hash.clone())
                    .value(thumb.width)
                    .value(thumb.height)
                    .value(thumb.bytes)
                    .value(thumb.mime.clone());
            });
        }
        sql.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Apply folded patches with one UPDATE joined to a staging table of them.
async fn apply_patches(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    patches: HashMap<String, Patch>,
    postgres: bool,
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
        // scan of the files per patch.
        for table in [PATCHES, "rebuild_media_files"] {
            sqlx::query(&format!("ANALYZE {table}"))
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

async fn insert_files(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    rows: &[Pending<'_>],
    postgres: bool,
) -> Result<()> {
    let mut sql = Sql::for_backend(
        format!(
            "INSERT INTO {PREFIX}media_files (id, aggregate_id, version, user_id, media_type, \
               mime, blob_hash, original_filename, name, name_folded, description, size, width, \
               height, mode, duration, video_width, video_height, created_at, updated_at, \
               deleted_at) VALUES "
        ),
        postgres,
    );
    for Pending {
        file,
        version,
        patch,
    } in rows
    {
        // The file as its last event in the batch left it.
        let name = patch.name.as_ref().unwrap_or(&file.name);
        let description = patch.description.as_ref().unwrap_or(&file.description);
        let version = if patch.version > 0 {
            patch.version
        } else {
            *version
        };
        sql.row(|row| {
            row.value(file.id)
                .value(file.aggregate_id.clone())
                .value(version)
                .value(file.user_id)
                .value(file.media_type.clone())
                .value(file.mime.clone())
                .value(file.blob_hash.clone())
                .value(file.original_filename.clone())
                .value(name.clone())
                .value(fold(name))
                .value(description.clone())
                .value(file.size)
                .value(file.width)
                .value(file.height)
                .value(file.mode.clone())
                .value(file.duration)
                .value(file.video_width)
                .value(file.video_height)
                .value(file.created_at)
                .value(patch.updated_at.unwrap_or(file.created_at))
                .value(patch.deleted_at);
        });
    }
    sql.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
