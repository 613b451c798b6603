//! Health, readiness and metrics endpoints (issue 7).

use crate::fixtures;
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    health_and_readiness_answer_without_a_token,
    metrics_count_requests_and_uploads,
    every_metric_the_dashboard_shows_is_exported,
    blob_store_size_follows_uploads_and_deletes,
    a_rebuild_in_another_process_shows_its_progress,
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

async fn metrics_text(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("text")
}

/// The metric names in the Grafana dashboard's queries.
fn dashboard_metrics() -> std::collections::BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/observability/grafana/dashboards/mediastore.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard"))
            .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("expr", serde_json::Value::String(expr)) => out.push(expr.clone()),
                        _ => collect(inner, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    collect(&dashboard, &mut exprs);
    let mut names = std::collections::BTreeSet::new();
    for expr in exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("mediastore_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names
}

async fn every_metric_the_dashboard_shows_is_exported(backend: Backend) {
    let names = dashboard_metrics();
    assert!(names.len() >= 10, "{names:?}");
    let app = TestApp::spawn(backend).await;
    // Whatever moves each series at least once: an image (thumbnails), the same bytes
    // again (dedup), a request of every kind.
    app.uploaded("a.png", fixtures::png()).await;
    app.uploaded("b.png", fixtures::png()).await;
    let text = metrics_text(&app).await;
    let exported: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in /metrics: {missing:?}\n{text}");
}

async fn blob_store_size_follows_uploads_and_deletes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = |text: &str| sample(text, "mediastore_blob_store_bytes", &[]);
    assert_eq!(stored(&metrics_text(&app).await), Some(0.0));
    let pdf = app.uploaded("a.pdf", fixtures::pdf()).await;
    let size = fixtures::pdf().len() as f64;
    assert_eq!(stored(&metrics_text(&app).await), Some(size));
    app.uploaded("again.pdf", fixtures::pdf()).await;
    assert_eq!(stored(&metrics_text(&app).await), Some(size), "stored once");
    let text = b"some words\n".to_vec();
    let words = app.uploaded("a.txt", text.clone()).await;
    let both = size + text.len() as f64;
    assert_eq!(stored(&metrics_text(&app).await), Some(both));
    let id = words["id"].to_string();
    assert_eq!(app.delete_file(&id).await.status(), 204);
    assert_eq!(stored(&metrics_text(&app).await), Some(size));
    // Counted from the disk on a restart.
    let mut app = app;
    app.restart().await;
    assert_eq!(stored(&metrics_text(&app).await), Some(size));
    drop(pdf);
}

async fn a_rebuild_in_another_process_shows_its_progress(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let gauges = |text: &str| {
        ["replayed_events", "target_events", "running"].map(|name| {
            sample(
                text,
                &format!("mediastore_rebuild_{name}"),
                &["projection=\"media_files\""],
            )
        })
    };
    assert_eq!(
        gauges(&metrics_text(&app).await),
        [Some(0.0); 3],
        "no rebuild yet"
    );
    let text = app.uploaded("a.txt", b"words\n".to_vec()).await;
    app.uploaded("b.pdf", fixtures::pdf()).await;
    assert_eq!(app.delete_file(&text["id"].to_string()).await.status(), 204);
    let output = app.cli(&["projections", "rebuild"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The CLI is its own process: the server reads what it recorded.
    assert_eq!(
        gauges(&metrics_text(&app).await),
        [Some(3.0), Some(3.0), Some(0.0)],
        "three events replayed of three, finished"
    );
}
