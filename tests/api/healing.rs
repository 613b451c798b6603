//! The read model heals itself: events stored without being projected (a crash between the
//! two) are applied on the next start, once.

use mediastore::config::DatabaseUrl;
use mediastore::domain::{
    BlobHash, Description, FileName, FileUploaded, MediaFileCommand, MediaType, Uploader,
};
use mediastore::store::Database;
use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    an_event_stored_but_not_projected_is_applied_on_restart,
    a_version_1_upload_event_is_upcast_when_replayed,
    a_recorded_change_whose_projection_fails_is_answered_from_its_events,
);

/// Triggers that make the read model refuse one upload's row, one rename and deletes, as a database
/// failing between the event's commit and the projection would.
fn refusing_triggers(postgres: bool) -> Vec<&'static str> {
    if postgres {
        vec![
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER refuse_upload BEFORE INSERT ON media_files FOR EACH ROW \
             WHEN (NEW.original_filename = 'refused.txt') EXECUTE FUNCTION refuse()",
            "CREATE TRIGGER refuse_rename BEFORE UPDATE ON media_files FOR EACH ROW \
             WHEN (NEW.name = 'refused rename') EXECUTE FUNCTION refuse()",
            "CREATE TRIGGER refuse_delete BEFORE UPDATE ON media_files FOR EACH ROW \
             WHEN (NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION refuse()",
        ]
    } else {
        vec![
            "CREATE TRIGGER refuse_upload BEFORE INSERT ON media_files \
             WHEN NEW.original_filename = 'refused.txt' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            "CREATE TRIGGER refuse_rename BEFORE UPDATE ON media_files \
             WHEN NEW.name = 'refused rename' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            "CREATE TRIGGER refuse_delete BEFORE UPDATE ON media_files \
             WHEN NEW.deleted_at IS NOT NULL \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ]
    }
}

/// Once an upload's or an update's event is stored, the change is made: a read model that
/// cannot take it then must not turn it into an error (a client would retry an upload that
/// exists). The answer comes from the events, and the follower projects it later.
async fn a_recorded_change_whose_projection_fails_is_answered_from_its_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = DatabaseUrl::parse(app.database_url.as_deref(), app.data_dir.path()).expect("url");
    let database = Database::connect(&url).await.expect("connect");
    for statement in refusing_triggers(app.database_url.is_some()) {
        sqlx::query(statement)
            .execute(&database.any)
            .await
            .expect(statement);
    }
    // SQLite's triggers belong to the schema, PostgreSQL's to their table.
    let on_table = if app.database_url.is_some() {
        " ON media_files"
    } else {
        ""
    };
    let drop_trigger = async |name: &str| {
        sqlx::query(&format!("DROP TRIGGER {name}{on_table}"))
            .execute(&database.any)
            .await
            .expect("drop trigger");
    };
    // Polls the detail until the follower has projected what `expected` shows.
    let projected = async |id: &str, expected: &Value| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let response = app.get_file(id).await;
            if response.status() == 200 {
                let detail: Value = response.json().await.expect("json");
                if detail["name"] == expected["name"] {
                    return detail;
                }
            }
            assert!(std::time::Instant::now() < deadline, "{id} never projected");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };

    let uploaded = app.uploaded("refused.txt", fixtures::text()).await;
    assert_eq!(uploaded["name"], "refused.txt");
    let id = uploaded["id"].to_string();
    assert_eq!(app.get_file(&id).await.status(), 404, "not projected yet");
    drop_trigger("refuse_upload").await;
    assert_eq!(projected(&id, &uploaded).await, uploaded);

    let renamed = app
        .patch_file(&id, serde_json::json!({"name": "refused rename"}))
        .await;
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.expect("json");
    assert_eq!(renamed["name"], "refused rename");
    drop_trigger("refuse_rename").await;
    assert_eq!(projected(&id, &renamed).await, renamed);
    assert_eq!(app.list("").await["count"], 1, "listed once");

    assert_eq!(app.delete_file(&id).await.status(), 204);
    assert_eq!(app.get_file(&id).await.status(), 200, "not projected yet");
    drop_trigger("refuse_delete").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.get_file(&id).await.status() != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "delete never projected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    database.close().await;
}

/// Events stored before `uploaded` carried image facts (version 1) still load: the projector
/// and the aggregate both read them through the upcaster.
async fn a_version_1_upload_event_is_upcast_when_replayed(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let first = app.uploaded("doc.pdf", fixtures::pdf()).await;
    app.stop().await;

    let url = DatabaseUrl::parse(app.database_url.as_deref(), app.data_dir.path()).expect("url");
    let database = Database::connect(&url).await.expect("connect");
    let file_id = database.ids().next_file_id().await.expect("id");
    let aggregate_id = uuid::Uuid::new_v4();
    // Exactly what version 1 wrote: no "image" key.
    let payload = serde_json::json!({"Uploaded": {
        "file_id": file_id, "file_uuid": aggregate_id,
        "blob": blake3::hash(&fixtures::pdf()).to_hex().to_string(),
        "size": fixtures::pdf().len(), "media_type": "pdf", "mime": "application/pdf",
        "original_filename": "old.pdf", "name": "old.pdf", "description": "",
        "uploader": {"id": first["user"]["id"], "uuid": uuid::Uuid::nil()},
        "at": "2025-12-22T17:29:34.807896Z"
    }});
    let insert = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
                  VALUES ('MediaFile', $1, 1, 'uploaded', '1', $2, '{}')";
    let pool = sqlx::AnyPool::connect(&match &url {
        DatabaseUrl::Postgres(url) => url.clone(),
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
    })
    .await
    .expect("connect");
    let is_postgres = matches!(url, DatabaseUrl::Postgres(_));
    let payload = payload.to_string();
    let sql = if is_postgres {
        insert.replace("$2", "CAST($2 AS json)")
    } else {
        insert.to_string()
    };
    sqlx::query(&sql)
        .bind(aggregate_id.to_string())
        .bind(payload)
        .execute(&pool)
        .await
        .expect("insert v1");
    pool.close().await;
    database.close().await;

    app.restart().await;
    let (status, old) = app.get_json(&format!("/api/media/files/{file_id}")).await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["name"], "old.pdf");
    assert_eq!(old["created_at"], "2025-12-22T17:29:34.807896Z");
    // The aggregate loads it too: a command on the old file works.
    let renamed = app
        .patch_file(&file_id.to_string(), serde_json::json!({"name": "renamed"}))
        .await;
    assert_eq!(renamed.status(), 200);
    let (_, history) = app
        .get_json(&format!("/api/media/files/{file_id}/history"))
        .await;
    assert_eq!(
        history["results"][0]["version"], 1,
        "the stored event is not rewritten"
    );
    assert_eq!(history["results"][1]["event"], "metadata_updated");
}

async fn an_event_stored_but_not_projected_is_applied_on_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let first = app.uploaded("doc.pdf", fixtures::pdf()).await;
    app.stop().await;

    // What a process that died right after committing the event leaves behind.
    let url = DatabaseUrl::parse(app.database_url.as_deref(), app.data_dir.path()).expect("url");
    let database = Database::connect(&url).await.expect("connect");
    let file_uuid = uuid::Uuid::new_v4();
    let facts = FileUploaded {
        file_id: database.ids().next_file_id().await.expect("id"),
        file_uuid,
        blob: BlobHash::parse(&blake3::hash(&fixtures::pdf()).to_hex()).expect("hash"),
        size: fixtures::pdf().len() as u64,
        media_type: MediaType::Pdf,
        mime: "application/pdf".into(),
        original_filename: "orphan.pdf".into(),
        name: FileName::parse("orphan.pdf").expect("name"),
        description: Description::default(),
        uploader: Uploader {
            id: first["user"]["id"].as_i64().expect("id"),
            uuid: uuid::Uuid::nil(),
        },
        at: mediastore::service::now(),
        image: None,
        av: None,
        thumbnails: Vec::new(),
    };
    let id = facts.file_id;
    database
        .command_bus()
        .execute(
            &file_uuid.to_string(),
            MediaFileCommand::Upload(Box::new(facts)),
            Default::default(),
        )
        .await
        .expect("event stored");
    database.close().await;

    app.restart().await;
    let response = app.get_file(&id.to_string()).await;
    assert_eq!(response.status(), 200);
    let healed: Value = response.json().await.expect("json");
    assert_eq!(healed["name"], "orphan.pdf");
    // Restarting again applies nothing twice.
    app.restart().await;
    assert_eq!(app.get_file(&id.to_string()).await.status(), 200);
    assert_eq!(app.get_file(&first["id"].to_string()).await.status(), 200);
}

/// A PostgreSQL transaction can take a lower global sequence and commit after a higher one,
/// and a reader of "everything after the last sequence" would skip it for ever. Event writers
/// take turns instead: the second one waits until the first has committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_committing_event_is_not_skipped_on_postgres() {
    use mediastore::accounts::{Accounts, NewUser};
    use mediastore::projector::Projector;
    use mediastore_projections::MediaReadModel;
    use sqlx::{Connection, PgConnection};

    let Some(Backend::Postgres(base)) = Backend::postgres("a_late_committing_event_is_not_skipped")
    else {
        return;
    };
    let url = crate::helpers::fresh_postgres_database(&base).await;
    let database = Database::connect(&DatabaseUrl::Postgres(url.clone()))
        .await
        .expect("connect");
    let accounts = Accounts::new(database.any.clone());
    let now = mediastore::service::now().timestamp_micros();
    let user = accounts
        .create_user(
            &NewUser {
                username: "u".into(),
                is_admin: true,
                ..NewUser::default()
            },
            now,
        )
        .await
        .expect("user");
    let read_model = MediaReadModel::new(database.any.clone());
    let projector = Projector::new(database.event_log(), read_model.clone());
    let facts = |file_id: i64, name: &str| FileUploaded {
        file_id,
        file_uuid: uuid::Uuid::new_v4(),
        blob: BlobHash::parse(&"ab".repeat(32)).expect("hash"),
        size: 3,
        media_type: MediaType::Text,
        mime: "text/plain".into(),
        original_filename: name.into(),
        name: FileName::parse(name).expect("name"),
        description: Description::default(),
        uploader: Uploader {
            id: user.id,
            uuid: user.uuid,
        },
        at: mediastore::service::now(),
        image: None,
        av: None,
        thumbnails: Vec::new(),
    };

    // The slow writer: its event takes a sequence number, and its transaction stays open.
    let late = facts(1, "late.txt");
    let mut slow = PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut slow)
        .await
        .expect("begin");
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('MediaFile', $1, 1, 'uploaded', '1', $2, '{}')",
    )
    .bind(late.file_uuid.to_string())
    .bind(serde_json::to_value(mediastore::domain::MediaFileEvent::Uploaded(late.clone())).expect("json"))
    .execute(&mut slow)
    .await
    .expect("insert");

    // A second writer cannot commit (nor even number its event) before the first.
    let early = facts(2, "early.txt");
    let bus = database.command_bus();
    let second = tokio::spawn(async move {
        let id = early.file_uuid.to_string();
        bus.execute(
            &id,
            MediaFileCommand::Upload(Box::new(early)),
            Default::default(),
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second writer went ahead of an uncommitted first"
    );
    projector.catch_up_all().await.expect("catch up");
    assert!(read_model.get(2).await.expect("read").is_none());

    sqlx::query("COMMIT")
        .execute(&mut slow)
        .await
        .expect("commit");
    second.await.expect("join").expect("second event");
    projector.catch_up_all().await.expect("catch up");
    assert!(
        read_model.get(1).await.expect("read").is_some(),
        "the late event was skipped"
    );
    assert!(read_model.get(2).await.expect("read").is_some());
    database.close().await;
}
