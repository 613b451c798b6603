//! Metrics over OTLP (issue 7): the real binary, pointed by the standard variables at an
//! OTLP/HTTP receiver in this test, pushes the same instruments `/metrics` shows, gauges
//! included, and exports no traces when `OTEL_TRACES_EXPORTER=none` says so.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{fresh_postgres_database, Backend, BinaryServer};
use crate::on_both_backends;

on_both_backends!(metrics_are_pushed_over_otlp);

/// A data point as exported: its metric's name, its attributes and its value as text.
#[derive(Debug, Clone)]
struct Point {
    metric: String,
    attributes: Vec<(String, String)>,
    value: String,
}

fn points_of(export: &Value) -> Vec<Point> {
    let empty = Vec::new();
    let list = |value: &Value| value.as_array().unwrap_or(&empty).clone();
    let mut points = Vec::new();
    for resource in list(&export["resourceMetrics"]) {
        for scope in list(&resource["scopeMetrics"]) {
            for metric in list(&scope["metrics"]) {
                let name = metric["name"].as_str().unwrap_or_default().to_string();
                for kind in ["sum", "gauge", "histogram"] {
                    for point in list(&metric[kind]["dataPoints"]) {
                        let value = ["asInt", "asDouble", "count"]
                            .iter()
                            .find_map(|key| point.get(*key))
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                            .unwrap_or_default();
                        let attributes = list(&point["attributes"])
                            .iter()
                            .map(|a| {
                                let value = a["value"]
                                    .as_object()
                                    .and_then(|o| o.values().next())
                                    .map(|v| {
                                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                                    })
                                    .unwrap_or_default();
                                (a["key"].as_str().unwrap_or_default().to_string(), value)
                            })
                            .collect();
                        points.push(Point {
                            metric: name.clone(),
                            attributes,
                            value,
                        });
                    }
                }
            }
        }
    }
    points
}

#[derive(Default)]
struct Received {
    points: Vec<Point>,
    service_names: Vec<String>,
    trace_exports: usize,
}

/// An OTLP/HTTP (JSON) receiver for metrics and traces on a free port.
async fn receiver() -> (String, Arc<Mutex<Received>>) {
    let received: Arc<Mutex<Received>> = Arc::default();
    let metrics_sink = received.clone();
    let traces_sink = received.clone();
    let app = axum::Router::new()
        .route(
            "/v1/metrics",
            post(move |Json(export): Json<Value>| async move {
                let mut received = metrics_sink.lock().expect("received");
                for resource in export["resourceMetrics"].as_array().into_iter().flatten() {
                    for attribute in resource["resource"]["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        if attribute["key"] == "service.name" {
                            let name = attribute["value"]["stringValue"].as_str();
                            received
                                .service_names
                                .push(name.unwrap_or_default().to_string());
                        }
                    }
                }
                received.points.extend(points_of(&export));
                Json(json!({}))
            }),
        )
        .route(
            "/v1/traces",
            post(move || async move {
                traces_sink.lock().expect("received").trace_exports += 1;
                Json(json!({}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn metrics_are_pushed_over_otlp(backend: Backend) {
    let (endpoint, received) = receiver().await;
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres(base) => Some(fresh_postgres_database(&base).await),
    };
    let (server, token) = BinaryServer::start(
        data_dir.path(),
        &database_url,
        true,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ],
    );
    let token = token.expect("the first start prints the admin token");
    let form = reqwest::multipart::Form::new().part(
        "f",
        reqwest::multipart::Part::bytes(fixtures::png()).file_name("pixel.png"),
    );
    let uploaded = reqwest::Client::new()
        .post(format!("{}/api/media/files", server.address))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), 201);

    let has = |points: &[Point], metric: &str, attribute: (&str, &str)| {
        points.iter().any(|p| {
            p.metric == metric
                && p.attributes
                    .iter()
                    .any(|(k, v)| k == attribute.0 && v == attribute.1)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let points = loop {
        let points = received.lock().expect("received").points.clone();
        if has(&points, "mediastore_http_requests", ("status", "201"))
            && has(
                &points,
                "mediastore_projection_lag_events",
                ("projection", "media_files"),
            )
        {
            break points;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never arrived; got {:?}",
            points.iter().map(|p| &p.metric).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let upload = points
        .iter()
        .rev()
        .find(|p| {
            p.metric == "mediastore_http_requests"
                && p.attributes
                    .contains(&("route".into(), "/api/media/files".into()))
                && p.attributes.contains(&("method".into(), "POST".into()))
        })
        .expect("the upload is counted by route and method");
    assert_eq!(upload.value, "1", "{upload:?}");
    assert!(
        has(&points, "mediastore_uploads", ("type", "image")),
        "uploads by type: {points:?}"
    );
    for metric in [
        "mediastore_http_request_duration",
        "mediastore_upload",
        "mediastore_events_appended",
        "mediastore_blob_store",
        "mediastore_db_pool_connections",
    ] {
        assert!(
            points.iter().any(|p| p.metric == metric),
            "{metric} is not pushed: {:?}",
            points.iter().map(|p| &p.metric).collect::<Vec<_>>()
        );
    }
    let received = received.lock().expect("received");
    assert!(
        received
            .service_names
            .iter()
            .all(|name| name == "mediastore")
            && !received.service_names.is_empty(),
        "{:?}",
        received.service_names
    );
    assert_eq!(
        received.trace_exports, 0,
        "OTEL_TRACES_EXPORTER=none exports no spans"
    );
    drop(server);
}
