//! Health, readiness and metrics endpoints (issue 7).

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    health_and_readiness_answer_without_a_token,
    metrics_count_requests_and_uploads
);

async fn health_and_readiness_answer_without_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["blob_store"], "ok");
}

/// The value of one sample line `name{labels} value` whose labels include all of `with`.
fn sample(text: &str, name: &str, with: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .find(|line| with.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn metrics_count_requests_and_uploads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.uploaded("a.pdf", fixtures::pdf()).await;
    app.uploaded("b.pdf", fixtures::pdf()).await;
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let text = response.text().await.expect("text");
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        assert!(series.starts_with("mediastore_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    assert_eq!(
        sample(&text, "mediastore_uploads_total", &["type=\"pdf\""]),
        Some(2.0),
        "{text}"
    );
    let size = fixtures::pdf().len() as f64;
    assert_eq!(
        sample(&text, "mediastore_upload_bytes_total", &["type=\"pdf\""]),
        Some(2.0 * size)
    );
    assert_eq!(sample(&text, "mediastore_dedup_hits_total", &[]), Some(1.0));
    assert_eq!(
        sample(&text, "mediastore_dedup_saved_bytes_total", &[]),
        Some(size)
    );
    assert_eq!(
        sample(&text, "mediastore_events_appended_total", &[]),
        Some(2.0)
    );
    let posts = [
        "method=\"POST\"",
        "route=\"/api/media/files\"",
        "status=\"201\"",
    ];
    assert_eq!(
        sample(&text, "mediastore_http_requests_total", &posts),
        Some(2.0)
    );
    assert!(
        sample(
            &text,
            "mediastore_http_request_duration_seconds_count",
            &posts
        )
        .is_some(),
        "{text}"
    );
    // Applied at once for reads, the commit-order follower catches up within a second.
    let lag = sample(
        &text,
        "mediastore_projection_lag_events",
        &["projection=\"media_files\""],
    );
    assert!(lag.is_some_and(|lag| lag <= 2.0), "{text}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if sample(&text, "mediastore_projection_lag_events", &[]) == Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the projection never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
