//! Tokens, permissions and scopes (SPEC §2).

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    requests_without_a_valid_token_are_401_before_anything_else,
    bearer_tokens_work_as_well,
    staff_need_the_permission_of_the_operation,
    a_scoped_token_is_limited_to_its_scopes,
    deactivated_users_and_revoked_tokens_stop_working,
);

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .expect("utf-8")
        .trim()
        .to_string()
}

async fn requests_without_a_valid_token_are_401_before_anything_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for header in [None, Some("Token wrong"), Some("Basic abc"), Some("Token")] {
        let mut request = app.client.get(app.url("/api/media/files/999"));
        if let Some(value) = header {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.expect("get");
        assert_eq!(response.status(), 401, "{header:?}");
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "Missing or invalid API token");
    }
    let upload = app.upload_as("nope", "a.txt", fixtures::text()).await;
    assert_eq!(upload.status(), 401);
    assert!(app.blob_files().is_empty());
}

async fn bearer_tokens_work_as_well(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.uploaded("doc.pdf", fixtures::pdf()).await["id"].to_string();
    let response = app
        .client
        .get(app.url(&format!("/api/media/files/{id}")))
        .header("Authorization", format!("Bearer {}", app.admin_token))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
}

async fn staff_need_the_permission_of_the_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.uploaded("doc.pdf", fixtures::pdf()).await["id"].to_string();
    stdout(&app.cli(&[
        "user",
        "create",
        "--username",
        "reader",
        "--staff",
        "--permission",
        "3802",
    ]));
    stdout(&app.cli(&[
        "user",
        "create",
        "--username",
        "plain",
        "--permission",
        "3802",
    ]));
    let reader = app.token("reader", &[]);
    let plain = app.token("plain", &[]);

    let get = |token: String| {
        app.client
            .get(app.url(&format!("/api/media/files/{id}")))
            .header("Authorization", format!("Token {token}"))
            .send()
    };
    assert_eq!(get(reader.clone()).await.expect("get").status(), 200);
    // Not staff: a permission alone gives nothing.
    assert_eq!(get(plain).await.expect("get").status(), 403);

    let upload = app.upload_as(&reader, "a.txt", fixtures::text()).await;
    assert_eq!(upload.status(), 403);
    let body: Value = upload.json().await.expect("json");
    assert_eq!(body["error"], "Insufficient scope");
    let delete = app
        .client
        .delete(app.url(&format!("/api/media/files/{id}")))
        .header("Authorization", format!("Token {reader}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), 403);
    assert_eq!(app.get_file(&id).await.status(), 200, "nothing changed");
}

async fn a_scoped_token_is_limited_to_its_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = stdout(&app.cli(&[
        "token",
        "create",
        "--username",
        "admin",
        "--scope",
        "media:read",
    ]));
    let id = app.uploaded("doc.pdf", fixtures::pdf()).await["id"].to_string();
    let get = app
        .client
        .get(app.url(&format!("/api/media/files/{id}")))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 200);
    assert_eq!(
        app.upload_as(&token, "a.txt", fixtures::text())
            .await
            .status(),
        403
    );
}

async fn deactivated_users_and_revoked_tokens_stop_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    stdout(&app.cli(&["user", "create", "--username", "temp", "--admin"]));
    let first = app.token("temp", &[]);
    let second = app.token("temp", &[]);
    assert_eq!(
        app.upload_as(&first, "a.txt", fixtures::text())
            .await
            .status(),
        201
    );

    stdout(&app.cli(&["token", "revoke", "--token", &first]));
    assert_eq!(
        app.upload_as(&first, "a.txt", fixtures::text())
            .await
            .status(),
        401
    );
    assert_eq!(
        app.upload_as(&second, "a.txt", fixtures::text())
            .await
            .status(),
        201
    );

    stdout(&app.cli(&["user", "deactivate", "--username", "temp"]));
    assert_eq!(
        app.upload_as(&second, "a.txt", fixtures::text())
            .await
            .status(),
        401
    );
}
