//! `mediastore projections rebuild|status`: the read model rebuilt from the events answers
//! byte for byte as before, also while the server is serving (issue 6).

use serde_json::json;

use crate::fixtures;
use mediastore::config::DatabaseUrl;
use mediastore::store::Database;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_rebuild_answers_byte_for_byte_as_before,
    a_rebuild_under_live_traffic_loses_nothing,
    a_rebuild_keeps_the_schema_and_clears_an_interrupted_one,
);

const ORDERINGS: [&str; 14] = [
    "id",
    "type",
    "name",
    "size",
    "width",
    "height",
    "mode",
    "created_at",
    "updated_at",
    "user__id",
    "user__username",
    "user__first_name",
    "user__last_name",
    "user__last_login",
];

async fn snapshot(app: &TestApp, ids: &[String]) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    for field in ORDERINGS {
        for prefix in ["", "-"] {
            bodies.push(
                app.raw(&format!(
                    "/api/media/files?ordering={prefix}{field}&limit=100"
                ))
                .await,
            );
        }
    }
    bodies.push(app.raw("/api/media/files?type=text").await);
    for id in ids {
        // Status and body: a deleted file's detail is a 404, before and after.
        let detail = app.get_file(id).await;
        let status = detail.status().as_u16();
        bodies.push(format!("{status} {}", detail.text().await.expect("body")).into_bytes());
        bodies.push(app.raw(&format!("/api/media/files/{id}/history")).await);
    }
    bodies
}

async fn a_rebuild_answers_byte_for_byte_as_before(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for (name, bytes) in [
        ("a.txt", fixtures::text()),
        ("b.pdf", fixtures::pdf()),
        ("c.png", fixtures::png()),
        ("d.txt", b"dee\n".to_vec()),
        ("e.zip", fixtures::plain_zip()),
    ] {
        ids.push(app.uploaded(name, bytes).await["id"].to_string());
    }
    // Multi-byte characters: binary COPY frames a text by its length in bytes.
    app.patch_file(
        &ids[0],
        json!({"name": "renamed ä € 日本", "description": "x"}),
    )
    .await;
    // What PostgreSQL's COPY text format would misread unless escaped.
    app.patch_file(
        &ids[2],
        json!({"description": "an image\twith tabs,\na second line, \\ and \\N, \r"}),
    )
    .await;
    assert_eq!(app.delete_file(&ids[3]).await.status(), 204);
    let before = snapshot(&app, &ids).await;

    let output = app.cli(&["projections", "rebuild"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(progress.contains("8/8 events"), "{progress}");
    assert!(progress.contains("events/s"), "{progress}");

    let after = snapshot(&app, &ids).await;
    let detail: serde_json::Value =
        serde_json::from_slice(&app.raw(&format!("/api/media/files/{}", ids[2])).await)
            .expect("detail JSON");
    assert_eq!(
        detail["description"],
        "an image\twith tabs,\na second line, \\ and \\N, \r"
    );
    assert_eq!(before.len(), after.len());
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert_eq!(
            String::from_utf8_lossy(b),
            String::from_utf8_lossy(a),
            "response {i}"
        );
    }
    let status = app.cli(&["projections", "status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("media_files") && status.contains(" 0 events behind"),
        "{status}"
    );
    // Running it again is as safe, in batches of any size.
    for batch in ["5000", "1", "3"] {
        let output = app.cli(&["projections", "rebuild", "--batch-size", batch]);
        assert!(output.status.success(), "batch {batch}");
        let again = snapshot(&app, &ids).await;
        for (i, (b, a)) in before.iter().zip(&again).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(b),
                String::from_utf8_lossy(a),
                "batch {batch}, response {i}"
            );
        }
    }
}

async fn a_rebuild_under_live_traffic_loses_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut seeds = Vec::new();
    for i in 0..20 {
        let file = app
            .uploaded(&format!("seed{i}.txt"), format!("seed {i}\n").into_bytes())
            .await;
        seeds.push(file["id"].to_string());
    }
    // Uploads, and renames of files the rebuild may have loaded already (folded in at its
    // swap, or after it by the follower).
    let traffic = async {
        let mut uploaded = 0;
        for i in 0..30 {
            let response = app
                .upload(&format!("live{i}.txt"), format!("live {i}\n").into_bytes())
                .await;
            assert_eq!(response.status(), 201);
            uploaded += 1;
            if let Some(id) = seeds.get(i) {
                let renamed = app.patch_file(id, json!({"name": format!("renamed {i}")}));
                assert_eq!(renamed.await.status(), 200);
            }
            let list = app.list_response("limit=5").await;
            assert_eq!(list.status(), 200);
        }
        uploaded
    };
    let command = app.cli_command(&["projections", "rebuild"]);
    let rebuild = tokio::task::spawn_blocking(move || {
        let mut command = command;
        command.output().expect("rebuild")
    });
    let (uploaded, output) = tokio::join!(traffic, rebuild);
    let output = output.expect("join");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(uploaded, 30);

    // The background follower applies whatever the rebuild's cut did not include.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let count = app.list("limit=1").await["count"].as_i64().expect("count");
        if count == 50 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {count} of 50 files listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let all = app.list("limit=100").await;
    let mut ids: Vec<i64> = all["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|f| f["id"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "nothing listed twice");
    let renamed = app.list("search=renamed&limit=100").await;
    assert_eq!(renamed["count"], 20, "{renamed}");
}

fn is_postgres(database: &Database) -> bool {
    database.any.connect_options().database_url.scheme() != "sqlite"
}

/// The read-model tables' indexes and constraints, each with its definition, and on
/// PostgreSQL the columns' raised statistics targets.
async fn schema(database: &Database) -> Vec<String> {
    let sql = if is_postgres(database) {
        "WITH t(oid) AS (VALUES (CAST('media_files' AS regclass)), \
             (CAST('media_thumbnails' AS regclass)), (CAST('media_counts' AS regclass))) \
         SELECT CAST(c.relname AS text) || ': ' || pg_get_indexdef(i.indexrelid) \
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
           WHERE i.indrelid IN (SELECT oid FROM t) \
         UNION ALL SELECT CAST(conname AS text) || ': ' || pg_get_constraintdef(oid) \
           FROM pg_constraint WHERE conrelid IN (SELECT oid FROM t) \
         UNION ALL SELECT CAST(attrelid AS regclass) || '.' || attname || ' statistics ' \
             || attstattarget FROM pg_attribute \
           WHERE attrelid IN (SELECT oid FROM t) AND attstattarget > 0 \
         ORDER BY 1"
    } else {
        "SELECT name || ': ' || COALESCE(sql, '') FROM sqlite_master WHERE type = 'index' \
           AND tbl_name IN ('media_files', 'media_thumbnails', 'media_counts') ORDER BY 1"
    };
    sqlx::query_scalar(sql)
        .fetch_all(&database.any)
        .await
        .expect("schema names")
}

const TABLES: [&str; 3] = ["media_counts", "media_files", "media_thumbnails"];

/// The tables whose names start as the read model's, the rebuild's or the replaced ones'.
async fn tables(database: &Database) -> Vec<String> {
    let sql = if is_postgres(database) {
        "SELECT CAST(tablename AS text) FROM pg_tables WHERE schemaname = current_schema()"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    };
    let mut names: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(&database.any)
        .await
        .expect("tables");
    names.retain(|name| {
        ["media_", "rebuild_", "retired_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    });
    names.sort();
    names
}

/// PostgreSQL: what the planner knows of the files table, as `pg_stats` shows it: each column
/// (`name_folded` only with its histogram) and each expression an index is on.
async fn statistics(database: &Database) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT tablename || '.' || attname FROM pg_stats \
         WHERE tablename IN ('media_files', 'media_files_id_trgm') \
           AND (attname <> 'name_folded' OR histogram_bounds IS NOT NULL) \
         ORDER BY 1",
    )
    .fetch_all(&database.any)
    .await
    .expect("statistics")
}

/// PostgreSQL: every column of the files, from the catalog, and the id as text of the id
/// trigram index: what `statistics` should list.
async fn analyzed(database: &Database) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'media_files.' || CAST(column_name AS text) FROM information_schema.columns \
           WHERE table_schema = current_schema() AND table_name = 'media_files' \
         UNION ALL SELECT 'media_files_id_trgm.id' ORDER BY 1",
    )
    .fetch_all(&database.any)
    .await
    .expect("columns")
}

/// `sql`'s one number for each read-model table, named in it as `{table}`.
async fn per_table(database: &Database, sql: &str) -> Vec<i64> {
    let mut numbers = Vec::new();
    for table in TABLES {
        numbers.push(
            sqlx::query_scalar(&sql.replace("{table}", table))
                .fetch_one(&database.any)
                .await
                .expect(sql),
        );
    }
    numbers
}

async fn a_rebuild_keeps_the_schema_and_clears_an_interrupted_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (name, bytes) in [
        ("a.txt", fixtures::text()),
        ("c.png", fixtures::png()),
        ("b.pdf", fixtures::pdf()),
    ] {
        app.uploaded(name, bytes).await;
    }
    let url = DatabaseUrl::parse(app.database_url.as_deref(), app.data_dir.path()).expect("url");
    let database = Database::connect(&url).await.expect("connect");
    let names = schema(&database).await;
    assert!(names.len() >= 20, "{names:?}");
    if app.database_url.is_some() {
        assert!(
            names.iter().any(|n| n.contains("PRIMARY KEY"))
                && names.iter().any(|n| n.contains("statistics 1000")),
            "{names:?}"
        );
    }
    let before = app.raw("/api/media/files?ordering=name").await;

    // What an interrupted rebuild leaves behind: a shadow table, here not even of the shape,
    // or (PostgreSQL, stopped right after its swap) a replaced table.
    for leftover in ["rebuild_media_files", "retired_media_thumbnails"] {
        sqlx::query(&format!("CREATE TABLE {leftover} (junk integer)"))
            .execute(&database.any)
            .await
            .expect("a leftover");
    }
    for round in 0..2 {
        let output = app.cli(&["projections", "rebuild"]);
        assert!(
            output.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(schema(&database).await, names, "round {round}");
        assert_eq!(
            tables(&database).await,
            TABLES,
            "round {round}: nothing left over"
        );
        if app.database_url.is_some() {
            assert_eq!(
                statistics(&database).await,
                analyzed(&database).await,
                "round {round}"
            );
            // The rows each table's last ANALYZE counted, and its rows.
            assert_eq!(
                per_table(
                    &database,
                    "SELECT CAST(reltuples AS bigint) FROM pg_class \
                     WHERE oid = CAST('{table}' AS regclass)"
                )
                .await,
                per_table(&database, "SELECT COUNT(*) FROM {table}").await,
                "round {round}: each table analyzed once filled"
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&app.raw("/api/media/files?ordering=name").await),
            String::from_utf8_lossy(&before),
            "round {round}"
        );
    }
    // The swapped-in tables take writes: a new file with thumbnails, a delete.
    let png = app.uploaded("d.png", fixtures::png()).await;
    assert_eq!(png["thumbnails"].as_array().map(Vec::len), Some(4));
    assert_eq!(app.delete_file(&png["id"].to_string()).await.status(), 204);
    assert_eq!(app.list("").await["count"], 3);
    database.close().await;
}
