//! Seed 004's `/api/media` over the same files (SPEC §9, issue 8).

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    the_object_has_every_key_for_each_kind,
    list_pages_filters_and_searches_names,
    paging_edges_are_200_or_400_naming_the_parameter,
    ids_are_lower_case_hyphenated_uuids,
    upload_takes_file_or_f_and_refuses_like_the_seed,
    a_read_token_cannot_upload_or_delete,
    a_file_crosses_between_the_two_apis,
);

fn file_form(part: &str, name: &str, bytes: Vec<u8>) -> Form {
    Form::new().part(
        part.to_string(),
        Part::bytes(bytes).file_name(name.to_string()),
    )
}

const KEYS: [&str; 13] = [
    "id",
    "name",
    "type",
    "mime_type",
    "size",
    "path",
    "url",
    "width",
    "height",
    "duration",
    "created_at",
    "updated_at",
    "created_by",
];

async fn the_object_has_every_key_for_each_kind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (name, bytes, kind, mime) in [
        ("pixel.png", fixtures::png(), "image", "image/png"),
        ("sound.wav", fixtures::wav(), "audio", "audio/wav"),
        ("clip.mp4", fixtures::mp4(), "video", "video/mp4"),
        ("doc.pdf", fixtures::pdf(), "file", "application/pdf"),
    ] {
        let (status, body) = app
            .cms_upload(&app.admin_token, file_form("file", name, bytes))
            .await;
        assert_eq!(status, 201, "{name}: {body}");
        let data = &body["data"];
        let keys: Vec<&str> = data
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, KEYS, "{name}");
        assert_eq!(data["type"], kind, "{name}");
        assert!(
            data["mime_type"]
                .as_str()
                .expect("mime")
                .starts_with(mime.split('/').next().unwrap_or("")),
            "{name}: {data}"
        );
        assert_eq!(data["name"], name);
        let url = data["url"].as_str().expect("url");
        assert_eq!(
            url,
            format!("{}/{}", app.address, data["path"].as_str().expect("path"))
        );
        assert!(data["path"].as_str().expect("path").starts_with("media/"));
        let (status, detail) = app
            .cms(
                reqwest::Method::GET,
                &format!("/api/media/{}", data["id"].as_str().expect("id")),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(&detail["data"], data);
        if kind == "image" {
            assert_eq!(
                (data["width"].as_i64(), data["height"].as_i64()),
                (Some(1), Some(1))
            );
        } else {
            assert_eq!(data["width"], Value::Null, "{name}");
        }
        if kind == "file" || kind == "image" {
            assert_eq!(data["duration"], Value::Null, "{name}");
        }
    }
    let (_, me) = app
        .cms(reqwest::Method::GET, "/api/media?page_size=1")
        .await;
    let users = app.cli(&["user", "create", "--username", "someone"]);
    assert!(users.status.success());
    assert_eq!(me["data"][0]["created_by"].as_str().map(str::len), Some(36));
}

async fn list_pages_filters_and_searches_names(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut names = Vec::new();
    for (name, bytes) in [
        ("alpha.png", fixtures::png()),
        ("beta.wav", fixtures::wav()),
        ("gamma.mp4", fixtures::mp4()),
        ("delta.pdf", fixtures::pdf()),
        ("epsilon.txt", fixtures::text()),
    ] {
        assert_eq!(
            app.cms_upload(&app.admin_token, file_form("f", name, bytes))
                .await
                .0,
            201
        );
        names.push(name);
    }
    let (status, page) = app.cms(reqwest::Method::GET, "/api/media").await;
    assert_eq!(status, 200);
    assert_eq!(
        page["meta"],
        json!({"total": 5, "page": 1, "page_size": 10})
    );
    let listed: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    names.reverse();
    assert_eq!(listed, names, "newest first");

    let (_, second) = app
        .cms(reqwest::Method::GET, "/api/media?page=2&page_size=2")
        .await;
    assert_eq!(second["data"].as_array().expect("data").len(), 2);
    assert_eq!(second["data"][0]["name"], "gamma.mp4");
    for (kind, total) in [("image", 1), ("video", 1), ("audio", 1), ("file", 2)] {
        let (_, page) = app
            .cms(reqwest::Method::GET, &format!("/api/media?type={kind}"))
            .await;
        assert_eq!(page["meta"]["total"], total, "{kind}");
    }
    let (_, found) = app
        .cms(reqwest::Method::GET, "/api/media?search=ALPHA")
        .await;
    assert_eq!(found["meta"]["total"], 1);
    let (_, by_id) = app.cms(reqwest::Method::GET, "/api/media?search=1").await;
    assert_eq!(by_id["meta"]["total"], 0, "the name only, not the id");
}

async fn paging_edges_are_200_or_400_naming_the_parameter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.cms_upload(
        &app.admin_token,
        file_form("file", "a.txt", fixtures::text()),
    )
    .await;
    let (status, past) = app.cms(reqwest::Method::GET, "/api/media?page=5").await;
    assert_eq!(status, 200);
    assert_eq!(past["data"], json!([]));
    assert_eq!(past["meta"]["total"], 1);
    let (status, clamped) = app
        .cms(reqwest::Method::GET, "/api/media?page_size=101")
        .await;
    assert_eq!(status, 200);
    assert_eq!(clamped["meta"]["page_size"], 100);
    // Beyond 64 bits: still a page past the end, and a size to clamp.
    let (status, beyond) = app
        .cms(
            reqwest::Method::GET,
            "/api/media?page=99999999999999999999&page_size=99999999999999999999",
        )
        .await;
    assert_eq!(status, 200, "{beyond}");
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["meta"]["page_size"], 100);
    for (query, param) in [
        ("page_size=0", "page_size"),
        ("page_size=abc", "page_size"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("type=document", "type"),
        ("search=a%00b", "search"),
    ] {
        let (status, body) = app
            .cms(reqwest::Method::GET, &format!("/api/media?{query}"))
            .await;
        assert_eq!(status, 400, "{query}");
        assert!(
            body["error"].as_str().expect("error").contains(param),
            "{query}: {body}"
        );
    }
}

async fn ids_are_lower_case_hyphenated_uuids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, body) = app
        .cms_upload(
            &app.admin_token,
            file_form("file", "a.txt", fixtures::text()),
        )
        .await;
    let id = body["data"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        app.cms(reqwest::Method::GET, &format!("/api/media/{id}/"))
            .await
            .0,
        200
    );
    for other in [
        id.to_uppercase(),
        id.replace('-', ""),
        format!("{{{id}}}"),
        "1".into(),
        "abc".into(),
        uuid::Uuid::new_v4().to_string(),
    ] {
        let (status, body) = app
            .cms(reqwest::Method::GET, &format!("/api/media/{other}"))
            .await;
        assert_eq!(status, 404, "{other}");
        assert_eq!(body, json!({"error": "Media not found"}));
    }
}

async fn upload_takes_file_or_f_and_refuses_like_the_seed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.max_image_bytes = 1000).await;
    let named = file_form("file", "a.txt", fixtures::text()).text("name", "custom");
    let (status, body) = app.cms_upload(&app.admin_token, named).await;
    assert_eq!(status, 201);
    assert_eq!(body["data"]["name"], "custom");
    for (form, status, error) in [
        (Form::new().text("name", "x"), 400, "No file uploaded"),
        (
            file_form("file", "cat.jpg", fixtures::elf()),
            400,
            "Invalid file type",
        ),
    ] {
        let (got, body) = app.cms_upload(&app.admin_token, form).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(error)));
    }
    let mut big = fixtures::png();
    big.resize(1001, 0);
    let (status, body) = app
        .cms_upload(&app.admin_token, file_form("file", "big.png", big))
        .await;
    assert_eq!(status, 413);
    assert!(body["error"]
        .as_str()
        .expect("error")
        .starts_with("File too large: "));
}

async fn a_read_token_cannot_upload_or_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reader = app.token("admin", &["--scope", "media:read"]);
    let reader = reader.as_str();
    let (_, body) = app
        .cms_upload(
            &app.admin_token,
            file_form("file", "a.txt", fixtures::text()),
        )
        .await;
    let id = body["data"]["id"].as_str().expect("id").to_string();
    let (status, body) = app
        .cms_upload(reader, file_form("file", "b.txt", fixtures::text()))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("Insufficient scope"))
    );
    let delete = app
        .client
        .delete(app.url(&format!("/api/media/{id}")))
        .header("Authorization", format!("Bearer {reader}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), 403);
    let read = app
        .client
        .get(app.url(&format!("/api/media/{id}")))
        .header("Authorization", format!("Bearer {reader}"))
        .send()
        .await
        .expect("get");
    assert_eq!(read.status(), 200);
    let anonymous = app
        .client
        .get(app.url("/api/media"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
}

async fn a_file_crosses_between_the_two_apis(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, body) = app
        .cms_upload(
            &app.admin_token,
            file_form("file", "cross.pdf", fixtures::pdf()),
        )
        .await;
    let uuid = body["data"]["id"].as_str().expect("id").to_string();
    let primary = app.list("search=cross").await;
    assert_eq!(primary["count"], 1);
    let id = primary["results"][0]["id"].to_string();
    assert_eq!(primary["results"][0]["f"], body["data"]["url"]);

    assert_eq!(
        app.patch_file(&id, json!({"name": "renamed there"}))
            .await
            .status(),
        200
    );
    let (_, here) = app
        .cms(reqwest::Method::GET, &format!("/api/media/{uuid}"))
        .await;
    assert_eq!(here["data"]["name"], "renamed there");

    let (status, _) = app
        .cms(reqwest::Method::DELETE, &format!("/api/media/{uuid}"))
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.get_file(&id).await.status(), 404);
    assert_eq!(
        app.cms(reqwest::Method::GET, &format!("/api/media/{uuid}"))
            .await
            .0,
        404
    );
    assert!(app.blob_files().is_empty());
    let (_, history) = app
        .get_json(&format!("/api/media/files/{id}/history"))
        .await;
    let events: Vec<&str> = history["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect();
    assert_eq!(events, ["uploaded", "metadata_updated", "deleted"]);
}
