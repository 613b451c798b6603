//! `PATCH`/`PUT /api/media/files/{id}` (seed 003, SPEC §5).

use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    patch_changes_what_it_names_and_moves_updated_at_only,
    an_update_that_changes_nothing_keeps_updated_at,
    read_only_fields_are_ignored_and_f_may_only_repeat_itself,
    bad_updates_are_400_and_change_nothing,
    put_requires_a_name_and_resets_the_description,
    form_bodies_work_like_json,
    updates_need_a_token_the_permission_and_an_existing_file,
    concurrent_patches_of_one_file_all_succeed,
);

async fn patch_changes_what_it_names_and_moves_updated_at_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let file = app.uploaded("notes.txt", fixtures::text()).await;
    let id = file["id"].to_string();
    let response = app.patch_file(&id, json!({"name": "chris fehn"})).await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.expect("json");
    assert_eq!(patched["name"], "chris fehn");
    assert_eq!(patched["description"], "");
    assert_eq!(patched["created_at"], file["created_at"]);
    assert!(patched["updated_at"].as_str() > file["updated_at"].as_str());

    let described: Value = app
        .patch_file(&id, json!({"description": "some new description for file"}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(described["name"], "chris fehn");
    assert_eq!(described["description"], "some new description for file");
    let detail: Value = app.get_file(&id).await.json().await.expect("json");
    assert_eq!(detail, described);
    assert_eq!(app.list("search=fehn").await["count"], 1);
}

async fn an_update_that_changes_nothing_keeps_updated_at(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let file = app.uploaded("notes.txt", fixtures::text()).await;
    let id = file["id"].to_string();
    for body in [json!({}), json!({"name": "notes.txt", "description": ""})] {
        let response = app.patch_file(&id, body.clone()).await;
        assert_eq!(response.status(), 200, "{body}");
        let same: Value = response.json().await.expect("json");
        assert_eq!(same, file, "{body}");
    }
}

async fn read_only_fields_are_ignored_and_f_may_only_repeat_itself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let file = app.uploaded("notes.txt", fixtures::text()).await;
    let id = file["id"].to_string();
    let ignored = json!({"id": 999, "type": "pdf", "size": 1, "user": {"id": 5}, "width": 3,
                         "created_at": "2000-01-01T00:00:00Z", "thumbnails": []});
    let same: Value = app
        .patch_file(&id, ignored)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(same, file);

    let f = file["f"].as_str().expect("f").to_string();
    let path = f.trim_start_matches(&app.address).to_string();
    for current in [f.clone(), path.clone()] {
        let response = app
            .patch_file(&id, json!({"f": current, "name": "kept"}))
            .await;
        assert_eq!(response.status(), 200, "{current}");
    }
    let response = app
        .patch_file(&id, json!({"f": "http://elsewhere/media/x/y.txt"}))
        .await;
    assert_eq!(response.status(), 400);
    let response = app.patch_file(&id, json!({"f": null})).await;
    assert_eq!(response.status(), 400);
}

async fn bad_updates_are_400_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let file = app.uploaded("notes.txt", fixtures::text()).await;
    let id = file["id"].to_string();
    for body in [
        json!({"name": null}),
        json!({"description": null}),
        json!({"name": ""}),
        json!({"name": "n".repeat(256)}),
        json!({"description": "d".repeat(10_001)}),
        json!({"name": 5}),
        json!(["name"]),
        json!({"name": "fine", "description": null}),
    ] {
        let response = app.patch_file(&id, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.expect("json");
        assert!(error["error"].is_string(), "{error}");
    }
    let malformed = app
        .client
        .patch(app.url(&format!("/api/media/files/{id}")))
        .header("Authorization", format!("Token {}", app.admin_token))
        .header("Content-Type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("patch");
    assert_eq!(malformed.status(), 400);
    // PostgreSQL's text cannot hold NUL: refused as DRF's CharField does, on both backends.
    for field in ["name", "description"] {
        let response = app.patch_file(&id, json!({ field: "a\u{0}b" })).await;
        assert_eq!(response.status(), 400, "{field}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(
            error["fields"][field],
            json!(["Null characters are not allowed."]),
            "{error}"
        );
    }
    let unchanged: Value = app.get_file(&id).await.json().await.expect("json");
    assert_eq!(unchanged, file);
    assert!(app
        .patch_file(&id, json!({"name": "n".repeat(255)}))
        .await
        .status()
        .is_success());
}

async fn put_requires_a_name_and_resets_the_description(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "f",
            reqwest::multipart::Part::bytes(fixtures::text()).file_name("a.txt"),
        )
        .text("description", "to be reset");
    let file: Value = app
        .upload_form(&app.admin_token, form)
        .await
        .json()
        .await
        .expect("json");
    let id = file["id"].to_string();
    let response = app
        .send_update(Method::PUT, &id, json!({"description": "x"}))
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("json");
    assert_eq!(
        error["fields"],
        json!({"name": ["This field is required."]})
    );

    let response = app
        .send_update(Method::PUT, &id, json!({"name": "Company Logo"}))
        .await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.expect("json");
    assert_eq!(replaced["name"], "Company Logo");
    assert_eq!(replaced["description"], "");
    let with_f = json!({"name": "Company Logo", "description": "Official", "f": file["f"]});
    let response = app
        .send_update(Method::PUT, &format!("{id}/"), with_f)
        .await;
    assert_eq!(response.status(), 200);
}

async fn form_bodies_work_like_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.uploaded("notes.txt", fixtures::text()).await["id"].to_string();
    let url = app.url(&format!("/api/media/files/{id}"));
    let urlencoded: Value = app
        .client
        .patch(&url)
        .header("Authorization", format!("Token {}", app.admin_token))
        .form(&[("name", "from a form"), ("description", "é")])
        .send()
        .await
        .expect("patch")
        .json()
        .await
        .expect("json");
    assert_eq!(urlencoded["name"], "from a form");
    assert_eq!(urlencoded["description"], "é");
    let multipart: Value = app
        .client
        .patch(&url)
        .header("Authorization", format!("Token {}", app.admin_token))
        .multipart(reqwest::multipart::Form::new().text("name", "from multipart"))
        .send()
        .await
        .expect("patch")
        .json()
        .await
        .expect("json");
    assert_eq!(multipart["name"], "from multipart");
    assert_eq!(multipart["description"], "é");
}

async fn updates_need_a_token_the_permission_and_an_existing_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.uploaded("notes.txt", fixtures::text()).await["id"].to_string();
    let anonymous = app
        .client
        .patch(app.url(&format!("/api/media/files/{id}")))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(anonymous.status(), 401);
    let reader = app.token("admin", &["--scope", "media:read"]);
    let forbidden = app
        .client
        .patch(app.url(&format!("/api/media/files/{id}")))
        .header("Authorization", format!("Token {}", reader.trim()))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(forbidden.status(), 403);
    assert_eq!(
        app.patch_file("424242", json!({"name": "x"}))
            .await
            .status(),
        404
    );
    assert_eq!(app.delete_file(&id).await.status(), 204);
    assert_eq!(
        app.patch_file(&id, json!({"name": "x"})).await.status(),
        404
    );
}

async fn concurrent_patches_of_one_file_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.uploaded("notes.txt", fixtures::text()).await["id"].to_string();
    let names: Vec<String> = (0..10).map(|i| format!("name {i}")).collect();
    let patches = names
        .iter()
        .map(|name| app.patch_file(&id, json!({"name": name})));
    for response in futures_util::future::join_all(patches).await {
        assert_eq!(response.status(), 200);
    }
    let last: Value = app.get_file(&id).await.json().await.expect("json");
    assert!(names.contains(&last["name"].as_str().expect("name").to_string()));
}
