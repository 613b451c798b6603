//! Four thumbnails per image, content-addressed, oriented, never upscaled (SPEC §3, issue 5).

use std::path::Path;

use mediastore::media::image_info::read_image_info;
use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    an_image_gets_four_thumbnails_fitting_their_boxes,
    thumbnails_follow_exif_orientation_and_keep_transparency,
    the_same_image_twice_makes_no_new_thumbnail_blobs,
);

/// (width, height, content type) of a thumbnail as served.
async fn served(app: &TestApp, url: &str) -> (u32, u32, String) {
    let response = app.client.get(url).send().await.expect("thumbnail");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    let bytes = response.bytes().await.expect("bytes").to_vec();
    let info = read_image_info(&mut std::io::Cursor::new(bytes)).expect("a readable image");
    (info.width, info.height, content_type)
}

async fn an_image_gets_four_thumbnails_fitting_their_boxes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = app
        .uploaded("computer.png", fixtures::palette_png(235, 215))
        .await;
    assert_eq!(
        (
            body["width"].as_i64(),
            body["height"].as_i64(),
            body["mode"].as_str()
        ),
        (Some(235), Some(215), Some("P"))
    );
    let thumbnails = body["thumbnails"].as_array().expect("thumbnails");
    let sizes: Vec<i64> = thumbnails
        .iter()
        .map(|t| t["size"].as_i64().expect("size"))
        .collect();
    assert_eq!(sizes, [64, 128, 512, 1080]);
    let mut ids: Vec<i64> = thumbnails
        .iter()
        .map(|t| t["id"].as_i64().expect("id"))
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let mut dims = Vec::new();
    for t in thumbnails {
        let keys: Vec<&str> = t
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["id", "f", "size"]);
        let (w, h, content_type) = served(&app, t["f"].as_str().expect("f")).await;
        assert_eq!(
            content_type, "image/jpeg",
            "an opaque image gets JPEG thumbnails"
        );
        dims.push((w, h));
    }
    assert_eq!(
        dims,
        [(64, 59), (128, 117), (235, 215), (235, 215)],
        "never upscaled"
    );
    let detail: Value = app
        .get_file(&body["id"].to_string())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(detail["thumbnails"], body["thumbnails"]);
    assert_eq!(
        app.list("type=image").await["results"][0]["thumbnails"],
        body["thumbnails"]
    );
}

async fn thumbnails_follow_exif_orientation_and_keep_transparency(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    // Stored 7x5 with orientation 8: shown (and thumbnailed) as 5x7.
    let rotated = app
        .uploaded(
            "rotated.jpg",
            std::fs::read(dir.join("jpeg_exif_be_orient8.jpg")).expect("fixture"),
        )
        .await;
    assert_eq!(
        (rotated["width"].as_i64(), rotated["height"].as_i64()),
        (Some(7), Some(5))
    );
    let (w, h, _) = served(&app, rotated["thumbnails"][0]["f"].as_str().expect("f")).await;
    assert_eq!((w, h), (5, 7));

    let transparent = app.uploaded("pixel.png", fixtures::png()).await;
    let (w, h, content_type) =
        served(&app, transparent["thumbnails"][3]["f"].as_str().expect("f")).await;
    assert_eq!((w, h, content_type.as_str()), (1, 1, "image/png"));
}

async fn the_same_image_twice_makes_no_new_thumbnail_blobs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.uploaded("a.png", fixtures::palette_png(300, 200)).await;
    let blobs = app.blob_files().len();
    // The 512 and 1080 boxes both keep the 300x200 size: the same bytes, one blob.
    assert_eq!(blobs, 1 + 3);
    let second = app.uploaded("b.png", fixtures::palette_png(300, 200)).await;
    assert_eq!(app.blob_files().len(), blobs);
    let urls = |file: &Value| -> Vec<String> {
        file["thumbnails"]
            .as_array()
            .expect("thumbnails")
            .iter()
            .map(|t| t["f"].as_str().expect("f").to_string())
            .collect()
    };
    assert_eq!(urls(&first), urls(&second));
    assert_ne!(first["thumbnails"][0]["id"], second["thumbnails"][0]["id"]);

    assert_eq!(
        app.delete_file(&first["id"].to_string()).await.status(),
        204
    );
    assert_eq!(
        app.blob_files().len(),
        blobs,
        "the second file still uses them"
    );
    assert_eq!(
        app.delete_file(&second["id"].to_string()).await.status(),
        204
    );
    assert!(app.blob_files().is_empty());
    let gone = app.client.get(&urls(&first)[0]).send().await.expect("get");
    assert_eq!(gone.status(), 404);
}
