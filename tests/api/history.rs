//! History and time travel from the events (SPEC §7, issue 6).

use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    history_lists_every_event_oldest_first_also_after_delete,
    as_of_shows_the_file_as_it_was,
);

async fn history_lists_every_event_oldest_first_also_after_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let file = app.uploaded("textfile.txt", fixtures::text()).await;
    let id = file["id"].to_string();
    app.patch_file(&id, json!({"name": "chris fehn"})).await;
    app.patch_file(&id, json!({"description": "new"})).await;
    assert_eq!(app.delete_file(&id).await.status(), 204);

    let (status, history) = app
        .get_json(&format!("/api/media/files/{id}/history"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(history["count"], 4);
    let results = history["results"].as_array().expect("results");
    let events: Vec<&str> = results
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect();
    assert_eq!(
        events,
        [
            "uploaded",
            "metadata_updated",
            "metadata_updated",
            "deleted"
        ]
    );
    let keys: Vec<&str> = results[1]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "sequence",
            "event",
            "version",
            "at",
            "user",
            "request_id",
            "data"
        ]
    );
    assert_eq!(results[0]["sequence"], 1);
    assert_eq!(results[3]["sequence"], 4);
    assert_eq!(results[0]["version"], 2, "uploaded is at version 2");
    assert_eq!(results[1]["version"], 1);
    assert_eq!(results[0]["user"]["username"], "admin");
    assert_eq!(results[0]["data"]["name"], "textfile.txt");
    assert_eq!(results[0]["data"]["type"], "text");
    assert_eq!(results[0]["data"]["size"], fixtures::text().len());
    assert_eq!(results[0]["at"], file["created_at"]);
    assert_eq!(
        results[1]["data"],
        json!({"name": {"from": "textfile.txt", "to": "chris fehn"}})
    );
    assert_eq!(
        results[2]["data"],
        json!({"description": {"from": "", "to": "new"}})
    );
    assert!(results[1]["request_id"]
        .as_str()
        .is_some_and(|r| r.len() == 36));

    let (_, page) = app
        .get_json(&format!("/api/media/files/{id}/history?limit=3&offset=3"))
        .await;
    assert_eq!(page["results"].as_array().expect("results").len(), 1);
    assert_eq!(page["next"], Value::Null);
    assert!(page["previous"]
        .as_str()
        .expect("previous")
        .ends_with("/history?limit=3"));
    let (status, _) = app.get_json("/api/media/files/999/history").await;
    assert_eq!(status, 404);
}

async fn as_of_shows_the_file_as_it_was(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let file = app.uploaded("first.txt", fixtures::text()).await;
    let id = file["id"].to_string();
    let renamed: Value = app
        .patch_file(&id, json!({"name": "second"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(app.delete_file(&id).await.status(), 204);
    let (_, history) = app
        .get_json(&format!("/api/media/files/{id}/history"))
        .await;
    let at = |i: usize| {
        history["results"][i]["at"]
            .as_str()
            .expect("at")
            .to_string()
    };

    let app = &app;
    let as_of = |time: String| {
        let path = format!("/api/media/files/{id}?as_of={}", time.replace('+', "%2B"));
        async move { app.get_json(&path).await }
    };
    let (status, then) = as_of(at(0)).await;
    assert_eq!(status, 200);
    assert_eq!(then, file);
    let (status, then) = as_of(at(1)).await;
    assert_eq!(status, 200);
    assert_eq!(then, renamed);
    let (status, _) = as_of(at(2)).await;
    assert_eq!(status, 404, "deleted by then");
    let (status, _) = as_of("2000-01-01T00:00:00Z".into()).await;
    assert_eq!(status, 404, "not yet uploaded");
    let (status, _) = as_of("yesterday".into()).await;
    assert_eq!(status, 400);
}
