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

on_both_backends!(an_event_stored_but_not_projected_is_applied_on_restart);

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
