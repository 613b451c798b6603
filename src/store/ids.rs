//! Write-side allocation of the public integer ids (files, thumbnails).
//!
//! They are allocated when a command is accepted and recorded in its event, so a rebuilt read
//! model keeps them. A refused command leaves a gap, as a database sequence would.

use sqlx::AnyPool;

#[derive(Clone)]
pub struct IdAllocator {
    pool: AnyPool,
}

impl IdAllocator {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    pub async fn next_file_id(&self) -> Result<i64, sqlx::Error> {
        self.next("media_file").await
    }

    pub async fn next_thumbnail_id(&self) -> Result<i64, sqlx::Error> {
        self.next("thumbnail").await
    }

    async fn next(&self, counter: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "UPDATE id_counters SET last_value = last_value + 1 WHERE name = $1 RETURNING last_value",
        )
        .bind(counter)
        .fetch_one(&self.pool)
        .await
    }
}
