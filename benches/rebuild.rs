//! `mediastore projections rebuild` on 1,000,000 events (issue 6), on PostgreSQL and SQLite.
//!
//! `cargo bench --bench rebuild` seeds the event store once through cqrs-es's own event
//! repository (the store's real insert path, many events per transaction): 85% uploads (40%
//! of them images with four thumbnails), 10% metadata updates, 5% deletes, spread over the
//! stream as in a live service. It then runs `Projector::rebuild`, the code the CLI runs,
//! `BENCH_ROUNDS` times and prints events/s. A rerun with the same event count reuses the seed.
//!
//! Environment:
//! - `BENCH_EVENTS`: events to seed, default 1,000,000.
//! - `BENCH_BACKENDS`: `postgres,sqlite` (default both).
//! - `BENCH_DATABASE_URL`: PostgreSQL maintenance database, default
//!   `postgres://postgres@127.0.0.1:5432/postgres`; the bench uses `ms_bench_rebuild` beside it.
//! - `BENCH_SQLITE_DIR`: where the SQLite database lives, default `/var/tmp/ms-bench-rebuild`.
//! - `BENCH_ROUNDS`: rebuilds per backend, default 2.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::EventEnvelope;
use mediastore::config::DatabaseUrl;
use mediastore::domain::{
    BlobHash, Change, Description, FileName, FileUploaded, ImageFacts, MediaFile, MediaFileEvent,
    MediaType, MetadataUpdated, ThumbnailFacts, Uploader,
};
use mediastore::projector::Projector;
use mediastore::store::Database;
use mediastore_projections::MediaReadModel;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

const DATABASE: &str = "ms_bench_rebuild";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Bump when the seed changes, so that an old seed is not reused.
const SEED_VERSION: i64 = 1;
/// Events per event-store transaction while seeding.
const SEED_BATCH: usize = 5000;

fn main() -> anyhow::Result<()> {
    let events = env_usize("BENCH_EVENTS", 1_000_000)?;
    let rounds = env_usize("BENCH_ROUNDS", 2)?.max(1);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "postgres,sqlite".into());
    // The rebuild's own log lines say where its time goes.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("mediastore=info")),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    mediastore_projections::install_drivers();
    let mut table = Vec::new();
    for backend in backends.split(',').map(str::trim) {
        let url = match backend {
            "postgres" => {
                let base =
                    std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
                runtime.block_on(create_database(&base))?;
                DatabaseUrl::Postgres(with_database(&base, DATABASE))
            }
            "sqlite" => {
                let dir = std::env::var("BENCH_SQLITE_DIR")
                    .unwrap_or_else(|_| "/var/tmp/ms-bench-rebuild".into());
                DatabaseUrl::Sqlite(std::path::Path::new(&dir).join("mediastore.db"))
            }
            other => anyhow::bail!("unknown backend {other:?} in BENCH_BACKENDS"),
        };
        let rates = runtime.block_on(bench(backend, &url, events, rounds))?;
        table.push((backend.to_string(), rates));
    }
    println!("\nprojections rebuild of {events} events (events/s per round)");
    println!("| backend | rounds | best events/s | all |");
    println!("|:--|--:|--:|:--|");
    for (backend, rates) in table {
        let best = rates.iter().copied().fold(0.0, f64::max);
        let all: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| {backend} | {} | {best:.0} | {} |",
            rates.len(),
            all.join(", ")
        );
    }
    Ok(())
}

async fn bench(
    backend: &str,
    url: &DatabaseUrl,
    events: usize,
    rounds: usize,
) -> anyhow::Result<Vec<f64>> {
    let database = Database::connect(url)
        .await
        .with_context(|| format!("connecting to {backend}"))?;
    seed_if_needed(backend, url, &database, events).await?;
    // As autovacuum would have (this machine's PostgreSQL runs without it): since
    // PostgreSQL 13 it also vacuums a table after many inserts, which sets the visibility map
    // that lets the rebuild count the events from their index alone.
    let prepare = match url {
        DatabaseUrl::Postgres(_) => "VACUUM (ANALYZE) events",
        DatabaseUrl::Sqlite(_) => "ANALYZE events",
    };
    sqlx::query(prepare).execute(&database.any).await?;
    let projector = Projector::new(
        database.event_log(),
        MediaReadModel::new(database.any.clone()),
    );
    let mut rates = Vec::new();
    for round in 1..=rounds {
        let started = Instant::now();
        let done = projector
            .rebuild(mediastore::projector::REBUILD_BATCH, |_, _| {})
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        let rate = done as f64 / seconds;
        println!("{backend} round {round}: {done} events in {seconds:.1} s, {rate:.0} events/s");
        rates.push(rate);
    }
    database.close().await;
    Ok(rates)
}

fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} must be a count, not {value:?}")),
        Err(_) => Ok(default),
    }
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    if query.is_empty() {
        format!("{prefix}/{database}")
    } else {
        format!("{prefix}/{database}?{query}")
    }
}

async fn create_database(base: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(base)
        .await
        .context("connecting to BENCH_DATABASE_URL")?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DATABASE)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        sqlx::raw_sql(&format!("CREATE DATABASE {DATABASE}"))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    Ok(())
}

async fn seed_if_needed(
    backend: &str,
    url: &DatabaseUrl,
    database: &Database,
    events: usize,
) -> anyhow::Result<()> {
    let pool = &database.any;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_seed (events bigint NOT NULL, version bigint NOT NULL)",
    )
    .execute(pool)
    .await?;
    let seeded: Option<(i64, i64)> = sqlx::query_as("SELECT events, version FROM bench_seed")
        .fetch_optional(pool)
        .await?;
    if seeded == Some((events as i64, SEED_VERSION)) {
        println!("{backend}: reusing the seed of {events} events");
        return Ok(());
    }
    println!("{backend}: seeding {events} events through the event store ...");
    let started = Instant::now();
    sqlx::query("DELETE FROM events").execute(pool).await?;
    sqlx::query("DELETE FROM bench_seed").execute(pool).await?;
    let mut seeder = Seeder::default();
    let mut seeded = 0;
    while seeded < events {
        let batch: Vec<SerializedEvent> = (seeded..(seeded + SEED_BATCH).min(events))
            .map(|i| seeder.next(i))
            .collect::<Result<_, _>>()?;
        persist(url, &batch).await?;
        seeded += batch.len();
        if seeded % 100_000 < SEED_BATCH {
            println!(
                "  {seeded} events, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    sqlx::query("INSERT INTO bench_seed (events, version) VALUES ($1, $2)")
        .bind(events as i64)
        .bind(SEED_VERSION)
        .execute(pool)
        .await?;
    println!(
        "{backend}: seeded in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One batch into the event store through cqrs-es's repository for the backend.
async fn persist(url: &DatabaseUrl, events: &[SerializedEvent]) -> anyhow::Result<()> {
    // A pool per batch would be wasteful; one per backend, kept for the process.
    static POSTGRES: tokio::sync::OnceCell<postgres_es::PostgresEventRepository> =
        tokio::sync::OnceCell::const_new();
    static SQLITE: tokio::sync::OnceCell<sqlite_es::SqliteEventRepository> =
        tokio::sync::OnceCell::const_new();
    match url {
        DatabaseUrl::Postgres(url) => {
            let repository = POSTGRES
                .get_or_try_init(|| async {
                    let pool = sqlx::PgPool::connect(url).await?;
                    anyhow::Ok(postgres_es::PostgresEventRepository::new(pool))
                })
                .await?;
            repository.persist::<MediaFile>(events, None).await?;
        }
        DatabaseUrl::Sqlite(path) => {
            let repository = SQLITE
                .get_or_try_init(|| async {
                    let options = sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(path)
                        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
                    let pool = sqlx::SqlitePool::connect_with(options).await?;
                    anyhow::Ok(sqlite_es::SqliteEventRepository::new(pool))
                })
                .await?;
            repository.persist::<MediaFile>(events, None).await?;
        }
    }
    Ok(())
}

/// Makes the event stream: what happened to which file, deterministically.
#[derive(Default)]
struct Seeder {
    /// Live files: aggregate id, next sequence, name.
    files: Vec<(Uuid, usize, FileName)>,
    next_file_id: i64,
    next_thumbnail_id: i64,
}

impl Seeder {
    fn next(&mut self, i: usize) -> Result<SerializedEvent, cqrs_es::persist::PersistenceError> {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default()
            + Duration::milliseconds(i as i64 * 37);
        // A cheap deterministic mix of the index.
        let roll = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54; // 0..1024
        let (aggregate, sequence, event) = if roll < 870 || self.files.len() < 100 {
            self.upload(i, at)
        } else {
            // A file from anywhere in the past.
            let pick =
                ((i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03) >> 20) as usize % self.files.len();
            if roll < 972 {
                let (aggregate, sequence, name) = &mut self.files[pick];
                let to = FileName::parse(format!("renamed {i}")).expect("a valid name");
                let event = MediaFileEvent::MetadataUpdated(MetadataUpdated {
                    name: Some(Change {
                        from: name.clone(),
                        to: to.clone(),
                    }),
                    description: None,
                    at,
                });
                *name = to;
                *sequence += 1;
                (*aggregate, *sequence, event)
            } else {
                let (aggregate, sequence, _) = self.files.swap_remove(pick);
                (aggregate, sequence + 1, MediaFileEvent::Deleted { at })
            }
        };
        let envelope = EventEnvelope::<MediaFile> {
            aggregate_id: aggregate.to_string(),
            sequence,
            payload: event,
            metadata: HashMap::from([
                ("user_id".to_string(), "1".to_string()),
                ("request_id".to_string(), format!("bench-{i}")),
            ]),
        };
        SerializedEvent::try_from(&envelope)
    }

    fn upload(&mut self, i: usize, at: DateTime<Utc>) -> (Uuid, usize, MediaFileEvent) {
        self.next_file_id += 1;
        let aggregate = Uuid::from_u128(0x6d65_6469_6173_746f_7265_0000_0000_0000 + i as u128);
        let name = FileName::parse(format!("file {i}")).expect("a valid name");
        let hash = BlobHash::from_bytes(*blake3::hash(&i.to_le_bytes()).as_bytes());
        let image = i % 5 < 2;
        let thumbnails = if image {
            [64u32, 128, 512, 1080]
                .iter()
                .map(|&box_size| {
                    self.next_thumbnail_id += 1;
                    ThumbnailFacts {
                        id: self.next_thumbnail_id,
                        box_size,
                        blob: BlobHash::from_bytes(
                            *blake3::hash(format!("{i}/{box_size}").as_bytes()).as_bytes(),
                        ),
                        width: box_size,
                        height: box_size * 3 / 4,
                        bytes: u64::from(box_size) * 40,
                        mime: "image/jpeg".into(),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let event = MediaFileEvent::Uploaded(FileUploaded {
            file_id: self.next_file_id,
            file_uuid: aggregate,
            blob: hash,
            size: 1000 + (i as u64 % 100_000),
            media_type: if image {
                MediaType::Image
            } else {
                MediaType::Pdf
            },
            mime: if image {
                "image/jpeg"
            } else {
                "application/pdf"
            }
            .into(),
            original_filename: format!("file {i}.{}", if image { "jpg" } else { "pdf" }),
            name: name.clone(),
            description: Description::parse("").expect("empty is valid"),
            uploader: Uploader {
                id: 1,
                uuid: Uuid::nil(),
            },
            at,
            image: image.then(|| ImageFacts {
                width: 4032,
                height: 3024,
                mode: "RGB".into(),
                orientation: 1,
                animated: false,
                has_alpha: false,
            }),
            av: None,
            thumbnails,
        });
        self.files.push((aggregate, 1, name));
        (aggregate, 1, event)
    }
}
