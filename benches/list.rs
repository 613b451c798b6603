//! The list query on a large PostgreSQL read model (issue 4).
//!
//! `cargo bench --bench list` seeds `ms_bench_list` with 1,000,000 `media_files` rows (once:
//! a rerun with the same row count reuses them), prints `EXPLAIN (ANALYZE, BUFFERS)` of the
//! count and page statements `MediaReadModel::list` runs for each query, times every query through `MediaReadModel::list` (the
//! code path the HTTP handler uses), prints p50/p99 per query, and then runs the same
//! queries under criterion.
//!
//! Environment:
//! - `BENCH_DATABASE_URL`: a PostgreSQL server's maintenance database, default
//!   `postgres://postgres@127.0.0.1:5432/postgres`. The bench creates `ms_bench_list` beside
//!   it and keeps everything else of the URL (user, password, `sslmode`, ...).
//! - `BENCH_ROWS`: how many files to seed, default 1,000,000 (10000 for a smoke run).
//! - `BENCH_ITERS`: timed iterations per query of the p50/p99 loop, default 200; a query
//!   stops early once it has used `BENCH_BUDGET_SECS` (default 15) after 20 iterations.
//! - `BENCH_QUERIES`: comma-separated query names to run (default: all).
//! - `BENCH_EXPLAIN=0`: skip the plans.
//!
//! Criterion's own flags follow `--`, e.g. `cargo bench --bench list -- --measurement-time 5`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use criterion::{Criterion, SamplingMode};
use mediastore::config::DatabaseUrl;
use mediastore::store::Database;
use mediastore_projections::{
    ListFilter, ListQuery, ListStatements, MediaReadModel, Sort, SortField,
};
use sqlx::{AnyPool, Connection as _, PgConnection, Row as _};

const DATABASE: &str = "ms_bench_list";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_ROWS: i64 = 1_000_000;
/// Bump when the seed changes, so that an old seed is not reused.
const SEED_VERSION: i64 = 2;
const USERS: i64 = 100;

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// 2023-01-01T00:00:00Z: the seeded files are created over the two years from here.
const SEED_START: i64 = 1_672_531_200_000_000;
const SEED_SPAN: i64 = 730 * MICROS_PER_DAY;

/// File names are two of these words and a number, e.g. "Beach sunset 0423": a one-word
/// search matches about 1% of the files, a two-word one about 0.005%.
const WORDS: &str = "\
    abstract airport album alpine anniversary apple april archive autumn avenue backup badge balcony \
    banner baseball beach bicycle birthday blossom blueprint boat bridge brochure budget cabin cake \
    camera campus canyon capture castle cathedral chart city classroom cliff clinic coast concert \
    contract cottage course crowd dance dashboard december desert design diagram dinner diploma \
    draft dragon drawing dune easter editorial estimate event export family farm festival field \
    final flower football forest fountain garden glacier graduation grandma guitar harbor harvest \
    highway hiking holiday homework horizon hotel invoice island january journey july jungle kitchen \
    lake landscape lecture letter library lighthouse logo lunch manual map market meadow meeting \
    memo minutes mockup monday mountain museum music night notes ocean office orchard outline \
    painting palace parade park party passport payroll picnic pitch plan planet podcast portrait \
    poster presentation proposal puppy quarterly receipt recipe report resume review river road \
    roadmap rooftop sample scan schedule school screenshot sculpture season selfie shopping sketch \
    skyline slides snow soccer spring stadium station statue street studio summary summer sunrise \
    sunset survey swimming tablet team temple template tennis thesis ticket tower track trail train \
    travel tree trip tulip tunnel update vacation valley village vineyard volcano wallpaper \
    waterfall wedding week whiteboard wildlife window winter workshop yacht yard zoo";

/// First names, also the stem of usernames.
const FIRST_NAMES: &str = "\
    alice bruno chloe dmitri elena farid grace hiro ines jonas keiko liam maria nadia oscar priya \
    quentin rosa sven tariq ursula victor wen ximena yusuf zoe";

const LAST_NAMES: &str = "\
    anders baker costa dubois eriksen fischer garcia haddad ito jensen kowalski lopez moreau \
    nakamura okafor petrov quinn rossi silva tanaka";

/// Media types with the share of files they get (cumulative bounds over [0, 1)), a MIME
/// type, an extension, and the smallest and largest size in bytes (sizes are log-uniform in
/// between). Images are 40%.
const TYPES: &str = "(VALUES \
    ('image',        0.00, 0.40, 'image/jpeg',      'jpg',  20000,     20000000), \
    ('pdf',          0.40, 0.52, 'application/pdf', 'pdf',  30000,     30000000), \
    ('document',     0.52, 0.62, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx', 10000, 10000000), \
    ('text',         0.62, 0.70, 'text/plain',      'txt',  100,       1000000), \
    ('spreadsheet',  0.70, 0.77, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'xlsx', 10000, 10000000), \
    ('presentation', 0.77, 0.82, 'application/vnd.openxmlformats-officedocument.presentationml.presentation', 'pptx', 100000, 50000000), \
    ('compressed',   0.82, 0.88, 'application/zip', 'zip',  10000,     500000000), \
    ('video',        0.88, 0.94, 'video/mp4',       'mp4',  1000000,   2000000000), \
    ('audio',        0.94, 1.01, 'audio/mpeg',      'mp3',  500000,    50000000) \
  ) AS t (media_type, lo, hi, mime, ext, min_size, max_size)";

fn main() -> anyhow::Result<()> {
    let base_url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let rows = env_i64("BENCH_ROWS", DEFAULT_ROWS)?;
    let iterations = env_i64("BENCH_ITERS", 200)?.max(1) as usize;
    let budget = Duration::from_secs(env_i64("BENCH_BUDGET_SECS", 15)?.max(1) as u64);
    let only: Option<Vec<String>> = std::env::var("BENCH_QUERIES")
        .ok()
        .map(|names| names.split(',').map(|n| n.trim().to_string()).collect());
    let queries: Vec<(&str, ListQuery)> = queries(rows)
        .into_iter()
        .filter(|(name, _)| only.as_ref().is_none_or(|o| o.iter().any(|n| n == name)))
        .collect();

    // One thread, like a request: the timings are the database's, not the scheduler's.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = with_database(&base_url, DATABASE)?;
    let db = runtime.block_on(async {
        create_database(&base_url, false).await?;
        let db = match Database::connect(&DatabaseUrl::Postgres(url.clone())).await {
            // Migrations edited since the seed (or a database of something else): start over.
            Err(sqlx::Error::Migrate(error)) => {
                println!("{DATABASE} does not match the migrations ({error}): recreating it");
                create_database(&base_url, true).await?;
                Database::connect(&DatabaseUrl::Postgres(url.clone())).await?
            }
            connected => connected?,
        };
        let mut conn = PgConnection::connect(&url).await?;
        println!("connection: {}", connection_info(&mut conn).await?);
        seed_if_needed(&mut conn, rows).await?;
        conn.close().await?;
        anyhow::Ok(db)
    })?;
    let model = MediaReadModel::new(db.any.clone());

    let table = runtime.block_on(async {
        if std::env::var("BENCH_EXPLAIN").as_deref() != Ok("0") {
            for (name, query) in &queries {
                explain(&db.any, &model, name, query).await?;
            }
        }
        let mut table = Vec::new();
        for (name, query) in &queries {
            table.push(time_query(&db.any, &model, name, query, iterations, budget).await?);
        }
        anyhow::Ok(table)
    })?;
    print_table(rows, &table);

    run_criterion(&runtime, &model, &queries);

    // The table again, so that it is the last thing on the screen.
    print_table(rows, &table);
    runtime.block_on(db.close());
    Ok(())
}

fn env_i64(name: &str, default: i64) -> anyhow::Result<i64> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .with_context(|| format!("{name} must be an integer, not {value:?}")),
        Err(_) => Ok(default),
    }
}

/// `url` with its database name replaced by `database`, the rest (query string) kept.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("BENCH_DATABASE_URL must be a postgres:// URL");
    };
    let rest = &url[scheme_end + 3..];
    let (before_query, query) = match rest.find('?') {
        Some(q) => (&rest[..q], &rest[q..]),
        None => (rest, ""),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    Ok(format!(
        "{}{authority}/{database}{query}",
        &url[..scheme_end + 3]
    ))
}

/// Create the bench database if it does not exist, or anew.
async fn create_database(base_url: &str, anew: bool) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(base_url)
        .await
        .context("connecting to BENCH_DATABASE_URL")?;
    if anew {
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DATABASE)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        println!("creating database {DATABASE}");
        sqlx::raw_sql(&format!("CREATE DATABASE {DATABASE}"))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    Ok(())
}

/// Server version, TLS or not, and the settings that move plans and timings.
async fn connection_info(conn: &mut PgConnection) -> anyhow::Result<String> {
    let row = sqlx::query(
        "SELECT current_setting('server_version'), \
           COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
           current_setting('shared_buffers'), current_setting('work_mem'), \
           current_setting('jit'), current_setting('max_parallel_workers_per_gather'), \
           current_setting('random_page_cost'), current_setting('autovacuum')",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(format!(
        "PostgreSQL {}, tls={}, shared_buffers={}, work_mem={}, jit={}, \
         max_parallel_workers_per_gather={}, random_page_cost={}, autovacuum={}",
        row.try_get::<String, _>(0)?,
        row.try_get::<bool, _>(1)?,
        row.try_get::<String, _>(2)?,
        row.try_get::<String, _>(3)?,
        row.try_get::<String, _>(4)?,
        row.try_get::<String, _>(5)?,
        row.try_get::<String, _>(6)?,
        row.try_get::<String, _>(7)?,
    ))
}

/// Seed `rows` files unless the database already holds this seed.
async fn seed_if_needed(conn: &mut PgConnection, rows: i64) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS bench_seed (rows bigint NOT NULL, version bigint NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let seeded: Option<(i64, i64)> = sqlx::query_as("SELECT rows, version FROM bench_seed")
        .fetch_optional(&mut *conn)
        .await?;
    if seeded == Some((rows, SEED_VERSION)) {
        println!("reusing the seed of {rows} files in {DATABASE}");
        return Ok(());
    }

    println!("seeding {rows} files into {DATABASE} ...");
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    for (what, sql) in seed_statements(rows) {
        let step = Instant::now();
        sqlx::raw_sql(&sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("seeding {what}"))?;
        println!("  {what}: {:.1} s", step.elapsed().as_secs_f64());
    }
    tx.commit().await?;
    // Outside the transaction: VACUUM cannot run in one. It sets the visibility map too,
    // which index-only scans (most counts) depend on; this server runs without autovacuum.
    let step = Instant::now();
    sqlx::raw_sql("VACUUM (ANALYZE) users, media_files, media_thumbnails, media_counts")
        .execute(&mut *conn)
        .await?;
    println!("  vacuum analyze: {:.1} s", step.elapsed().as_secs_f64());
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A SQL array literal of the words in `words` (constants without quotes), and their number.
fn array(words: &str) -> (String, usize) {
    let quoted: Vec<String> = words.split_whitespace().map(|w| format!("'{w}'")).collect();
    (format!("ARRAY[{}]", quoted.join(", ")), quoted.len())
}

/// The seed as set-based statements, run in one transaction.
fn seed_statements(rows: i64) -> Vec<(&'static str, String)> {
    let (words, word_count) = array(WORDS);
    let (first_names, first_count) = array(FIRST_NAMES);
    let (last_names, last_count) = array(LAST_NAMES);
    // Ids are allocated at upload, so `created_at` grows with `id`, as in production: each
    // file gets its own slot of the two years, jittered within the slot.
    let step = SEED_SPAN / rows.max(1);
    vec![
        (
            "truncate",
            "TRUNCATE bench_seed, media_thumbnails, media_files, media_counts, users CASCADE"
                .to_string(),
        ),
        (
            "drop indexes",
            // Building an index once is much cheaper than updating it a million times, and so
            // is checking a foreign key once. The definitions are read from the catalog, so
            // the rebuilt schema is exactly what the migrations made.
            "SET LOCAL maintenance_work_mem = '256MB'; \
             CREATE TEMP TABLE bench_rebuild ON COMMIT DROP AS \
               SELECT 1 AS step, \
                 format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS drop_sql, \
                 format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, \
                   pg_get_constraintdef(oid)) AS create_sql \
               FROM pg_constraint \
               WHERE contype = 'f' AND conrelid IN ('media_files'::regclass, 'media_thumbnails'::regclass) \
               UNION ALL \
               SELECT 2, format('DROP INDEX %s', indexrelid::regclass), pg_get_indexdef(indexrelid) \
               FROM pg_index \
               WHERE indrelid IN ('media_files'::regclass, 'media_thumbnails'::regclass) \
                 AND NOT indisprimary AND NOT indisunique; \
             DO $$ DECLARE r record; BEGIN \
               FOR r IN SELECT drop_sql FROM bench_rebuild ORDER BY step LOOP EXECUTE r.drop_sql; END LOOP; \
             END $$"
                .to_string(),
        ),
        (
            "users",
            // Usernames are not in id order, so the first by username is not the busiest.
            format!(
                "INSERT INTO users (id, uuid, username, first_name, last_name, last_login, created_at) \
                 SELECT u, md5('user' || u), \
                   ({first_names})[1 + (u * 7) % {first_count}] || '_' || u, \
                   CASE WHEN u % 10 = 0 THEN '' ELSE initcap(({first_names})[1 + (u * 7) % {first_count}]) END, \
                   CASE WHEN u % 8 = 0 THEN '' ELSE initcap(({last_names})[1 + (u * 3) % {last_count}]) END, \
                   CASE WHEN u % 5 = 0 THEN NULL ELSE {SEED_START} + {SEED_SPAN} + u * 1000000 END, \
                   {SEED_START} - u * 1000000 \
                 FROM generate_series(1, {USERS}) AS u"
            ),
        ),
        (
            "media_files",
            // The inner SELECT draws each random number once per file: a subquery with a
            // volatile target list is not flattened into the outer one.
            // Uploaders are skewed: user k has a share of sqrt(k/100) - sqrt((k-1)/100),
            // from 10% of the files for user 1 down to 0.5% for user 100.
            format!(
                "SELECT setseed(0.42); \
                 INSERT INTO media_files (id, aggregate_id, version, user_id, media_type, mime, \
                   blob_hash, original_filename, name, name_folded, description, size, width, \
                   height, mode, created_at, updated_at, deleted_at) \
                 SELECT s.i, 'bench-' || s.i, 1, s.user_id, t.media_type, t.mime, \
                   md5(s.i::text) || md5((-s.i)::text), \
                   s.name || '.' || t.ext, s.name, lower(s.name), '', \
                   floor(exp(ln(t.min_size) + s.r_size * (ln(t.max_size) - ln(t.min_size))))::bigint, \
                   CASE WHEN t.media_type = 'image' THEN s.width END, \
                   CASE WHEN t.media_type = 'image' THEN round(s.width * s.aspect)::bigint END, \
                   CASE WHEN t.media_type <> 'image' THEN NULL \
                        WHEN s.r_mode < 0.70 THEN 'RGB' WHEN s.r_mode < 0.90 THEN 'RGBA' \
                        WHEN s.r_mode < 0.95 THEN 'L' WHEN s.r_mode < 0.98 THEN 'P' ELSE 'CMYK' END, \
                   s.created_at, \
                   s.created_at + CASE WHEN s.r_update < 0.10 THEN floor(s.r_update * 300 * {MICROS_PER_DAY})::bigint ELSE 0 END, \
                   CASE WHEN s.r_delete < 0.02 THEN s.created_at + floor(s.r_delete * 1500 * {MICROS_PER_DAY})::bigint END \
                 FROM ( \
                   SELECT i, \
                     1 + floor({USERS} * random() ^ 2)::bigint AS user_id, \
                     random() AS r_type, random() AS r_size, random() AS r_mode, \
                     random() AS r_update, random() AS r_delete, \
                     (ARRAY[320, 640, 800, 1024, 1280, 1600, 1920, 2048, 2560, 3024, 4032, 6000])[1 + floor(random() * 12)::int] AS width, \
                     (ARRAY[0.5625, 0.75, 1.0, 1.3333, 1.5, 0.6667])[1 + floor(random() * 6)::int] AS aspect, \
                     initcap(({words})[1 + floor(random() * {word_count})::int]) || ' ' || \
                       ({words})[1 + floor(random() * {word_count})::int] || ' ' || \
                       lpad(floor(random() * 10000)::text, 4, '0') AS name, \
                     {SEED_START} + (i - 1) * {step} + floor(random() * {step})::bigint AS created_at \
                   FROM generate_series(1, CAST({rows} AS bigint)) AS i \
                 ) AS s \
                 JOIN {TYPES} ON s.r_type >= t.lo AND s.r_type < t.hi"
            ),
        ),
        (
            "media_thumbnails",
            // The four boxes of SPEC §4 per image, scaled to fit.
            "INSERT INTO media_thumbnails (id, file_id, box_size, blob_hash, width, height, bytes) \
             SELECT f.id * 4 + b.n, f.id, b.box, md5(f.id || '/' || b.box) || md5(b.box || '/' || f.id), \
               CASE WHEN f.width >= f.height THEN b.box ELSE greatest(1, f.width * b.box / f.height) END, \
               CASE WHEN f.width >= f.height THEN greatest(1, f.height * b.box / f.width) ELSE b.box END, \
               b.box * b.box / 8 \
             FROM media_files f \
             CROSS JOIN (VALUES (0, 64), (1, 128), (2, 512), (3, 1080)) AS b (n, box) \
             WHERE f.media_type = 'image'"
                .to_string(),
        ),
        (
            "rebuild indexes",
            "DO $$ DECLARE r record; BEGIN \
               FOR r IN SELECT create_sql FROM bench_rebuild ORDER BY step DESC LOOP EXECUTE r.create_sql; END LOOP; \
             END $$"
                .to_string(),
        ),
        (
            "media_counts",
            "INSERT INTO media_counts (user_id, media_type, live) \
             SELECT user_id, media_type, count(*) FROM media_files WHERE deleted_at IS NULL \
             GROUP BY user_id, media_type"
                .to_string(),
        ),
        (
            "id counters",
            "UPDATE id_counters SET last_value = CASE name \
               WHEN 'media_file' THEN (SELECT COALESCE(max(id), 0) FROM media_files) \
               ELSE (SELECT COALESCE(max(id), 0) FROM media_thumbnails) END"
                .to_string(),
        ),
        (
            "marker",
            format!("INSERT INTO bench_seed (rows, version) VALUES ({rows}, {SEED_VERSION})"),
        ),
    ]
}

/// The typical list queries: what the HTTP parameters in each name turn into.
fn queries(rows: i64) -> Vec<(&'static str, ListQuery)> {
    let newest_first = vec![Sort {
        field: SortField::CreatedAt,
        descending: true,
    }];
    let query = |filter: ListFilter| ListQuery {
        filter,
        ordering: newest_first.clone(),
        limit: 10,
        offset: 0,
    };
    let ordered = |field: SortField, descending: bool| ListQuery {
        ordering: vec![Sort { field, descending }],
        ..query(ListFilter::default())
    };
    // A month in the middle of the seeded two years.
    let month_start = SEED_START + 365 * MICROS_PER_DAY;
    // User 42 has about 0.7% of the files.
    let user = 42;
    let middle_id = rows / 2;
    vec![
        ("default", query(ListFilter::default())),
        (
            "limit=100",
            ListQuery {
                limit: 100,
                ..query(ListFilter::default())
            },
        ),
        (
            "offset=1000",
            ListQuery {
                offset: 1000,
                ..query(ListFilter::default())
            },
        ),
        (
            "type=image",
            query(ListFilter {
                media_types: vec!["image".into()],
                ..ListFilter::default()
            }),
        ),
        (
            "user_id=42",
            query(ListFilter {
                user_id: Some(user),
                ..ListFilter::default()
            }),
        ),
        (
            "type=pdf&user_id=42",
            query(ListFilter {
                media_types: vec!["pdf".into()],
                user_id: Some(user),
                ..ListFilter::default()
            }),
        ),
        (
            "size=1MB..10MB",
            query(ListFilter {
                size_min: Some(1_000_000),
                size_max: Some(10_000_000),
                ..ListFilter::default()
            }),
        ),
        (
            "width>=1920&height>=1080",
            query(ListFilter {
                width_min: Some(1920),
                height_min: Some(1080),
                ..ListFilter::default()
            }),
        ),
        (
            "created=one month",
            query(ListFilter {
                created_from: Some(month_start),
                created_to: Some(month_start + 30 * MICROS_PER_DAY - 1),
                ..ListFilter::default()
            }),
        ),
        ("ordering=name", ordered(SortField::Name, false)),
        ("ordering=-size", ordered(SortField::Size, true)),
        (
            "ordering=user__username",
            ordered(SortField::UserUsername, false),
        ),
        (
            "search=beach",
            query(ListFilter {
                search: vec!["beach".into()],
                ..ListFilter::default()
            }),
        ),
        (
            "search=beach sunset",
            query(ListFilter {
                search: vec!["beach".into(), "sunset".into()],
                ..ListFilter::default()
            }),
        ),
        (
            // A term no name has: what a typo or a search for one specific file costs.
            "search=zebra (no match)",
            query(ListFilter {
                search: vec!["zebra".into()],
                ..ListFilter::default()
            }),
        ),
        // Orderings by columns with few distinct values, where the `-id` tie-break decides
        // whether an index gives the order.
        ("ordering=type", ordered(SortField::Type, false)),
        ("ordering=width", ordered(SortField::Width, false)),
        ("ordering=mode", ordered(SortField::Mode, false)),
        // Seed 004's `/api/media` list: `type=file` is every type but image, video and audio;
        // its search looks at names only.
        (
            "/api/media?type=file&page=3",
            ListQuery {
                limit: 20,
                offset: 40,
                ..query(ListFilter {
                    media_types: [
                        "pdf",
                        "document",
                        "text",
                        "spreadsheet",
                        "presentation",
                        "compressed",
                    ]
                    .map(String::from)
                    .to_vec(),
                    ..ListFilter::default()
                })
            },
        ),
        (
            "/api/media?search=beach",
            ListQuery {
                limit: 20,
                ..query(ListFilter {
                    search: vec!["beach".into()],
                    search_names_only: true,
                    ..ListFilter::default()
                })
            },
        ),
        (
            "id=1000 in the middle",
            query(ListFilter {
                id_min: Some(middle_id),
                id_max: Some(middle_id + 999),
                ..ListFilter::default()
            }),
        ),
    ]
}

// ---- The plans ----

/// The "Execution Time" of an `EXPLAIN ANALYZE`, in ms.
fn execution_ms(plan: &[String]) -> f64 {
    plan.iter()
        .find_map(|line| line.trim().strip_prefix("Execution Time: "))
        .and_then(|rest| rest.trim_end_matches(" ms").parse().ok())
        .unwrap_or(f64::NAN)
}

/// Print the plans of the count and page statements exactly as `list` builds them.
async fn explain(
    pool: &AnyPool,
    model: &MediaReadModel,
    name: &str,
    query: &ListQuery,
) -> anyhow::Result<()> {
    println!("\n======== {name} ========");
    let ListStatements { count, page } = model.list_statements(query);
    for (part, statement) in [("count", count), ("page", page)] {
        println!("---- {part}: {}", statement.text());
        let plan: Vec<String> = statement
            .prefixed("EXPLAIN (ANALYZE, BUFFERS) ")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        for line in &plan {
            println!("  {line}");
        }
        println!("  -- {part}: {:.3} ms", execution_ms(&plan));
    }
    Ok(())
}

// ---- Timing ----

struct Timing {
    name: String,
    count: i64,
    list: Percentiles,
    count_sql: Percentiles,
    page_sql: Percentiles,
}

#[derive(Default)]
struct Percentiles {
    n: usize,
    p50: f64,
    p99: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        // Nearest rank.
        let rank = |p: f64| {
            samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        Self {
            n: samples.len(),
            p50: rank(0.50),
            p99: rank(0.99),
        }
    }
}

/// Repeat `run` after a warm-up until `iterations` or the time budget (but at least 20
/// times); milliseconds per call.
async fn sample<F, Fut>(iterations: usize, budget: Duration, mut run: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    // Warm up past PostgreSQL's five custom plans per prepared statement, after which it may
    // switch to a generic plan: the timed calls see the plan a long-running server would use.
    // (Run one at a time, the calls reuse one pooled connection.)
    let warm_up = Instant::now();
    for i in 0..20 {
        run().await?;
        if i >= 6 && warm_up.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let started = Instant::now();
    let mut samples = Vec::with_capacity(iterations);
    while samples.len() < iterations && (samples.len() < 20 || started.elapsed() < budget) {
        let call = Instant::now();
        run().await?;
        samples.push(call.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

async fn time_query(
    pool: &AnyPool,
    model: &MediaReadModel,
    name: &str,
    query: &ListQuery,
    iterations: usize,
    budget: Duration,
) -> anyhow::Result<Timing> {
    let count = model.list(query).await?.count;
    let list = sample(iterations, budget, || async {
        std::hint::black_box(model.list(query).await?);
        Ok(())
    })
    .await?;
    // The two statements `list` runs, each alone, to tell which one costs.
    let count_sql = sample(iterations / 2, budget / 3, || async {
        let count = model.list_statements(query).count;
        std::hint::black_box(count.fetch_i64(pool).await?);
        Ok(())
    })
    .await?;
    let page_sql = sample(iterations / 2, budget / 3, || async {
        let page = model.list_statements(query).page;
        std::hint::black_box(page.fetch_all(pool).await?);
        Ok(())
    })
    .await?;
    let timing = Timing {
        name: name.to_string(),
        count,
        list: Percentiles::of(list),
        count_sql: Percentiles::of(count_sql),
        page_sql: Percentiles::of(page_sql),
    };
    eprintln!(
        "timed {name}: p50 {:.2} ms, p99 {:.2} ms",
        timing.list.p50, timing.list.p99
    );
    Ok(timing)
}

fn print_table(rows: i64, table: &[Timing]) {
    println!("\nMediaReadModel::list on {rows} files (ms; count and page SQL also timed alone)");
    println!(
        "| {:<26} | {:>8} | {:>9} | {:>9} | {:>4} | {:>9} | {:>9} | {:>8} | {:>8} |",
        "query",
        "count",
        "list p50",
        "list p99",
        "n",
        "count p50",
        "count p99",
        "page p50",
        "page p99"
    );
    println!(
        "|{:-<28}|{:->10}|{:->11}|{:->11}|{:->6}|{:->11}|{:->11}|{:->10}|{:->10}|",
        ":", ":", ":", ":", ":", ":", ":", ":", ":"
    );
    for t in table {
        println!(
            "| {:<26} | {:>8} | {:>9.2} | {:>9.2} | {:>4} | {:>9.2} | {:>9.2} | {:>8.2} | {:>8.2} |",
            t.name,
            t.count,
            t.list.p50,
            t.list.p99,
            t.list.n,
            t.count_sql.p50,
            t.count_sql.p99,
            t.page_sql.p50,
            t.page_sql.p99
        );
    }
}

fn run_criterion(
    runtime: &tokio::runtime::Runtime,
    model: &MediaReadModel,
    queries: &[(&str, ListQuery)],
) {
    // Short by default so that the whole bench takes minutes: the p50/p99 table above is the
    // main result, criterion adds its means and change detection between runs.
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let mut group = criterion.benchmark_group("list");
    // Flat sampling: the slow queries would otherwise need many more iterations.
    group.sampling_mode(SamplingMode::Flat);
    for (name, query) in queries {
        group.bench_function(*name, |b| {
            b.to_async(runtime)
                .iter(|| async { std::hint::black_box(model.list(query).await.expect("list")) })
        });
    }
    group.finish();
    criterion.final_summary();
}
