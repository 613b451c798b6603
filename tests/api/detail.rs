//! `GET /api/media/files/{id}` (seed 001, SPEC §1).

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    detail_returns_the_object_the_upload_returned,
    an_image_has_the_image_keys_and_a_non_image_does_not,
    ids_that_cannot_exist_are_404,
    a_trailing_slash_is_accepted,
    every_response_carries_a_request_id,
);

async fn detail_returns_the_object_the_upload_returned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let uploaded = app.uploaded("doc.pdf", fixtures::pdf()).await;
    let response = app.get_file(&uploaded["id"].to_string()).await;
    assert_eq!(response.status(), 200);
    let detail: Value = response.json().await.expect("json");
    assert_eq!(detail, uploaded);
}

async fn an_image_has_the_image_keys_and_a_non_image_does_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let image = app.uploaded("pixel.png", fixtures::png()).await;
    let detail: Value = app
        .get_file(&image["id"].to_string())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(detail["type"], "image");
    assert!(detail["thumbnails"].is_array(), "{detail}");
    let text = app.uploaded("notes.txt", fixtures::text()).await;
    for key in ["width", "height", "mode", "thumbnails"] {
        assert!(text.get(key).is_none(), "a non-image has no {key}: {text}");
    }
}

async fn ids_that_cannot_exist_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for id in ["abc", "0", "-1", "99999999999999999999999", "12345"] {
        let response = app.get_file(id).await;
        assert_eq!(response.status(), 404, "{id}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, serde_json::json!({"error": "Media not found"}));
    }
}

async fn a_trailing_slash_is_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let uploaded = app.uploaded("doc.pdf", fixtures::pdf()).await;
    let response = app.get_file(&format!("{}/", uploaded["id"])).await;
    assert_eq!(response.status(), 200);
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let request = |id: Option<&str>| {
        let mut request = app
            .client
            .get(app.url("/api/media/files/1"))
            .header("Authorization", format!("Token {}", app.admin_token));
        if let Some(id) = id {
            request = request.header("X-Request-Id", id);
        }
        request.send()
    };
    let given = request(Some("trace-42")).await.expect("get");
    assert_eq!(given.headers()["x-request-id"], "trace-42");
    let made = request(None).await.expect("get");
    assert_eq!(made.headers()["x-request-id"].len(), 36, "a UUID");
    let hostile = "x".repeat(500);
    let replaced = request(Some(&hostile)).await.expect("get");
    assert_ne!(replaced.headers()["x-request-id"], hostile.as_str());
}
