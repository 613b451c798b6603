//! The `media_files` read model (with its thumbnails): writes, point reads and checkpoints.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::error::ReadModelError;
use crate::rows::{FileRow, NewFile, Position, ThumbnailRow, UserRef, Write};
use crate::sql::Sql;

type Result<T> = std::result::Result<T, ReadModelError>;

/// The projection's name in `projection_checkpoints`.
pub const MEDIA_FILES: &str = "media_files";

#[derive(Debug, Clone)]
pub struct MediaReadModel {
    pool: AnyPool,
    postgres: bool,
}

pub(crate) const FILE_COLUMNS: &str =
    "f.id, f.aggregate_id, f.user_id, u.uuid AS user_uuid, u.username, \
     u.first_name, u.last_name, f.media_type, f.mime, f.blob_hash, f.original_filename, f.name, \
     f.description, f.size, f.width, f.height, f.mode, f.duration, f.video_width, f.video_height, \
     f.created_at, f.updated_at";

impl MediaReadModel {
    pub fn new(pool: AnyPool) -> Self {
        let postgres = pool
            .connect_options()
            .database_url
            .scheme()
            .starts_with("postgres");
        Self { pool, postgres }
    }

    /// Apply writes, and move the checkpoint to `checkpoint` if given, in one transaction:
    /// either all of it is applied or none, so a crash never half-applies a batch.
    pub async fn apply(&self, writes: &[Write], checkpoint: Option<Position>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        apply_in(&mut tx, writes, checkpoint).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The position of the last event the projection applied in commit order.
    pub async fn checkpoint(&self) -> Result<Position> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM projection_checkpoints WHERE name = $1")
                .bind(MEDIA_FILES)
                .fetch_optional(&self.pool)
                .await?;
        Ok(Position {
            seq: seq.unwrap_or(0),
        })
    }

    /// The last aggregate sequence applied to a file's row, 0 if it has none yet.
    pub async fn version_of(&self, aggregate_id: &str) -> Result<i64> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM media_files WHERE aggregate_id = $1")
                .bind(aggregate_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    /// A live file by its public id.
    pub async fn get(&self, id: i64) -> Result<Option<FileRow>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM media_files f JOIN users u ON u.id = f.user_id \
             WHERE f.id = $1 AND f.deleted_at IS NULL"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut file = file_row(&row)?;
        file.thumbnails = self.thumbnails_of(id).await?;
        Ok(Some(file))
    }

    /// The thumbnails already made for an image with these bytes, if a live file has them:
    /// the same image uploaded again reuses them instead of decoding anything.
    pub async fn thumbnails_of_blob(&self, blob_hash: &str) -> Result<Vec<ThumbnailRow>> {
        let file_id: Option<i64> = sqlx::query_scalar(
            "SELECT f.id FROM media_files f \
             WHERE f.blob_hash = $1 AND f.deleted_at IS NULL \
               AND EXISTS (SELECT 1 FROM media_thumbnails t WHERE t.file_id = f.id) \
             LIMIT 1",
        )
        .bind(blob_hash)
        .fetch_optional(&self.pool)
        .await?;
        match file_id {
            Some(id) => self.thumbnails_of(id).await,
            None => Ok(Vec::new()),
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// (connections open, of which idle) in the pool.
    pub fn pool_use(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (self.pool.size(), idle)
    }

    /// A live file by its aggregate id (seed 004's `id`).
    pub async fn get_by_aggregate_id(&self, aggregate_id: &str) -> Result<Option<FileRow>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM media_files WHERE aggregate_id = $1 AND deleted_at IS NULL",
        )
        .bind(aggregate_id)
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => self.get(id).await,
            None => Ok(None),
        }
    }

    /// The aggregate id of a file by its public id, deleted ones included (their history
    /// stays readable).
    pub async fn aggregate_id_of(&self, id: i64) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT aggregate_id FROM media_files WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Users by id, for showing who did what.
    pub async fn users(&self, ids: &[i64]) -> Result<Vec<UserRef>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query =
            Sql::new("SELECT id, uuid, username, first_name, last_name FROM users WHERE id IN (");
        for (i, id) in ids.iter().enumerate() {
            query.push(if i == 0 { "" } else { ", " }).bind(*id);
        }
        query.push(")");
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(UserRef {
                    id: row.try_get("id")?,
                    uuid: row.try_get("uuid")?,
                    username: row.try_get("username")?,
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                })
            })
            .collect()
    }

    /// The MIME type under which a blob is served, if a live file stores it.
    pub async fn blob_mime(&self, blob_hash: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT mime FROM media_files WHERE blob_hash = $1 AND deleted_at IS NULL \
             UNION ALL \
             SELECT t.mime FROM media_thumbnails t JOIN media_files f ON f.id = t.file_id \
               WHERE t.blob_hash = $1 AND f.deleted_at IS NULL \
             LIMIT 1",
        )
        .bind(blob_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether any live file, or a thumbnail of one, still refers to a blob.
    pub async fn blob_in_use(&self, blob_hash: &str) -> Result<bool> {
        let used = sqlx::query(
            "SELECT 1 FROM media_files WHERE blob_hash = $1 AND deleted_at IS NULL \
             UNION ALL \
             SELECT 1 FROM media_thumbnails t JOIN media_files f ON f.id = t.file_id \
               WHERE t.blob_hash = $1 AND f.deleted_at IS NULL \
             LIMIT 1",
        )
        .bind(blob_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(used.is_some())
    }

    async fn thumbnails_of(&self, file_id: i64) -> Result<Vec<ThumbnailRow>> {
        let mut files = [(file_id, Vec::new())];
        self.attach_thumbnails(&mut files).await?;
        let [(_, thumbnails)] = files;
        Ok(thumbnails)
    }

    /// Fill in the thumbnails of several files with one query.
    pub(crate) async fn attach_thumbnails(
        &self,
        files: &mut [(i64, Vec<ThumbnailRow>)],
    ) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let mut query = Sql::new(
            "SELECT file_id, id, box_size, blob_hash, mime, width, height, bytes FROM media_thumbnails \
             WHERE file_id IN (",
        );
        for (i, (id, _)) in files.iter().enumerate() {
            query.push(if i == 0 { "" } else { ", " }).bind(*id);
        }
        query.push(") ORDER BY file_id, box_size");
        for row in query.fetch_all(&self.pool).await? {
            let file_id: i64 = row.try_get("file_id")?;
            let thumbnail = ThumbnailRow {
                id: row.try_get("id")?,
                box_size: row.try_get("box_size")?,
                blob_hash: row.try_get("blob_hash")?,
                mime: row.try_get("mime")?,
                width: row.try_get("width")?,
                height: row.try_get("height")?,
                bytes: row.try_get("bytes")?,
            };
            if let Some((_, list)) = files.iter_mut().find(|(id, _)| *id == file_id) {
                list.push(thumbnail);
            }
        }
        Ok(())
    }

    pub(crate) fn is_postgres(&self) -> bool {
        self.postgres
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Apply writes (and move the checkpoint) inside a transaction.
async fn apply_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    writes: &[Write],
    checkpoint: Option<Position>,
) -> Result<()> {
    // Counts move last, in one order: a transaction holding a count row while it waits for a
    // file row that another holds (which then wants the count) would deadlock.
    let mut counts: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for write in writes {
        match write {
            Write::Insert { version, file } => {
                if insert(tx, *version, file).await? {
                    *counts
                        .entry((file.user_id, file.media_type.clone()))
                        .or_default() += 1;
                }
            }
            Write::UpdateMetadata {
                aggregate_id,
                version,
                name,
                description,
                at,
            } => {
                // A guarded UPDATE: a row that has seen this version is left alone.
                sqlx::query(
                    "UPDATE media_files SET \
                       name = COALESCE($1, name), name_folded = COALESCE($2, name_folded), \
                       description = COALESCE($3, description), updated_at = $4, version = $5 \
                     WHERE aggregate_id = $6 AND version < $7",
                )
                .bind(name.clone())
                .bind(name.as_deref().map(fold))
                .bind(description.clone())
                .bind(*at)
                .bind(*version)
                .bind(aggregate_id)
                .bind(*version)
                .execute(&mut **tx)
                .await?;
            }
            Write::Delete {
                aggregate_id,
                version,
                at,
            } => {
                let deleted = sqlx::query(
                    "UPDATE media_files SET deleted_at = $1, version = $2 \
                     WHERE aggregate_id = $3 AND version < $4 AND deleted_at IS NULL \
                     RETURNING user_id, media_type",
                )
                .bind(*at)
                .bind(*version)
                .bind(aggregate_id)
                .bind(*version)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(row) = deleted {
                    let user_id: i64 = row.try_get("user_id")?;
                    let media_type: String = row.try_get("media_type")?;
                    *counts.entry((user_id, media_type)).or_default() -= 1;
                }
            }
        }
    }
    for ((user_id, media_type), delta) in counts {
        if delta != 0 {
            count(tx, user_id, &media_type, delta).await?;
        }
    }
    if let Some(position) = checkpoint {
        set_checkpoint(tx, position).await?;
    }
    Ok(())
}

/// Record `position` as the last event the projection applied.
pub(crate) async fn set_checkpoint(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    position: Position,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, seq) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
    )
    .bind(MEDIA_FILES)
    .bind(position.seq)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Insert a new file's row and thumbnails; whether it was new.
async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    version: i64,
    file: &NewFile,
) -> Result<bool> {
    // The first write of a file: a replay of the same event finds the row and does nothing.
    let inserted = sqlx::query(
        "INSERT INTO media_files (id, aggregate_id, version, user_id, media_type, mime, blob_hash, \
           original_filename, name, name_folded, description, size, width, height, mode, \
           duration, video_width, video_height, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
           $18, $19, $20) \
         ON CONFLICT DO NOTHING",
    )
    .bind(file.id)
    .bind(&file.aggregate_id)
    .bind(version)
    .bind(file.user_id)
    .bind(&file.media_type)
    .bind(&file.mime)
    .bind(&file.blob_hash)
    .bind(&file.original_filename)
    .bind(&file.name)
    .bind(fold(&file.name))
    .bind(&file.description)
    .bind(file.size)
    .bind(file.width)
    .bind(file.height)
    .bind(file.mode.clone())
    .bind(file.duration)
    .bind(file.video_width)
    .bind(file.video_height)
    .bind(file.created_at)
    .bind(file.created_at)
    // Not kept prepared: sqlx 0.8's `Any` types a NULL f64 as float4 on PostgreSQL (its
    // Real/Double null mapping is swapped), and a statement first prepared with a missing
    // duration would then refuse every real one ("incorrect binary data format").
    .persistent(false)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for thumb in &file.thumbnails {
        sqlx::query(
            "INSERT INTO media_thumbnails (id, file_id, box_size, blob_hash, width, height, bytes, \
               mime) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(thumb.id)
        .bind(file.id)
        .bind(thumb.box_size)
        .bind(&thumb.blob_hash)
        .bind(thumb.width)
        .bind(thumb.height)
        .bind(thumb.bytes)
        .bind(&thumb.mime)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// Move the live-file count of (user, type) by `delta`.
async fn count(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: i64,
    media_type: &str,
    delta: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO media_counts (user_id, media_type, live) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, media_type) DO UPDATE SET live = media_counts.live + excluded.live",
    )
    .bind(user_id)
    .bind(media_type)
    .bind(delta)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) fn file_row(row: &AnyRow) -> Result<FileRow> {
    Ok(FileRow {
        id: row.try_get("id")?,
        aggregate_id: row.try_get("aggregate_id")?,
        user: UserRef {
            id: row.try_get("user_id")?,
            uuid: row.try_get("user_uuid")?,
            username: row.try_get("username")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
        },
        media_type: row.try_get("media_type")?,
        mime: row.try_get("mime")?,
        blob_hash: row.try_get("blob_hash")?,
        original_filename: row.try_get("original_filename")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        size: row.try_get("size")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        mode: row.try_get("mode")?,
        duration: row.try_get("duration")?,
        video_width: row.try_get("video_width")?,
        video_height: row.try_get("video_height")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        thumbnails: Vec::new(),
    })
}

/// Search compares lower-cased text; folding here, not in SQL, makes both backends agree on
/// Unicode (`ÄPFEL` finds `äpfel`).
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}
