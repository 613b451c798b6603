//! `/media/...`: exact bytes, ETag, ranges, caching and disposition headers (SPEC §1).

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    the_content_url_serves_the_exact_bytes_with_its_headers,
    etags_and_ranges_work,
    paths_outside_the_store_are_404,
);

async fn the_content_url_serves_the_exact_bytes_with_its_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pdf = app.uploaded("report 1.pdf", fixtures::pdf()).await;
    let response = app
        .client
        .get(pdf["f"].as_str().expect("f"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let hash = blake3::hash(&fixtures::pdf()).to_hex().to_string();
    assert_eq!(headers["etag"], format!("\"{hash}\"").as_str());
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment; filename=\"report 1.pdf\""),
        "{disposition}"
    );
    assert_eq!(
        response.bytes().await.expect("body").to_vec(),
        fixtures::pdf()
    );

    let png = app.uploaded("pixel.png", fixtures::png()).await;
    let response = app
        .client
        .get(png["f"].as_str().expect("f"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.headers()["content-type"], "image/png");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("ascii");
    assert!(disposition.starts_with("inline"), "{disposition}");

    let head = app
        .client
        .head(pdf["f"].as_str().expect("f"))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        fixtures::pdf().len().to_string().as_str()
    );
}

async fn etags_and_ranges_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.uploaded("doc.pdf", fixtures::pdf()).await["f"]
        .as_str()
        .expect("f")
        .to_string();
    let etag = app.client.get(&url).send().await.expect("get").headers()["etag"].clone();
    let cached = app
        .client
        .get(&url)
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("get");
    assert_eq!(cached.status(), 304);

    let partial = app
        .client
        .get(&url)
        .header("Range", "bytes=0-3")
        .send()
        .await
        .expect("get");
    assert_eq!(partial.status(), 206);
    let len = fixtures::pdf().len();
    assert_eq!(
        partial.headers()["content-range"],
        format!("bytes 0-3/{len}").as_str()
    );
    assert_eq!(partial.bytes().await.expect("body").as_ref(), b"%PDF");

    let beyond = app
        .client
        .get(&url)
        .header("Range", format!("bytes={}-", len + 10))
        .send()
        .await
        .expect("get");
    assert_eq!(beyond.status(), 416);
}

async fn paths_outside_the_store_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.uploaded("doc.pdf", fixtures::pdf()).await;
    for path in [
        "/media/..%2F..%2Fmediastore.db/x",
        "/media/../mediastore.db",
        "/media/00/00",
        &format!("/media/{}/x", "0".repeat(64)),
        "/media/blobs/x",
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), 404, "{path}");
    }
}
