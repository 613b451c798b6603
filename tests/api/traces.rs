//! Traces over OTLP (issue 7): the real binary, pointed by the standard variables at an
//! OTLP/HTTP receiver in this test, exports a server span per request, named by its route
//! and carrying status, user, file and request id, with the upload's steps as its children.
//! Both encodings: protobuf (the default, written by the service's own encoder) and JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Json;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{fresh_postgres_database, Backend, BinaryServer};
use crate::on_both_backends;

on_both_backends!(
    an_upload_is_one_trace_with_a_span_per_step,
    traces_go_out_in_json_when_asked
);

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span as exported: name, ids, and attributes as strings.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
    kind: i64,
    attributes: HashMap<String, String>,
}

/// An attribute's value, whatever its OTLP JSON type, as text.
fn attribute_text(value: &Value) -> String {
    let Some((_, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return String::new();
    };
    match inner {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn spans_of(export: &Value) -> Vec<Span> {
    let mut spans = Vec::new();
    let empty = Vec::new();
    for resource in export["resourceSpans"].as_array().unwrap_or(&empty) {
        for scope in resource["scopeSpans"].as_array().unwrap_or(&empty) {
            for span in scope["spans"].as_array().unwrap_or(&empty) {
                let text = |key: &str| span[key].as_str().unwrap_or_default().to_string();
                spans.push(Span {
                    name: text("name"),
                    trace_id: text("traceId"),
                    span_id: text("spanId"),
                    parent_id: text("parentSpanId"),
                    kind: span["kind"].as_i64().unwrap_or_default(),
                    attributes: span["attributes"]
                        .as_array()
                        .unwrap_or(&empty)
                        .iter()
                        .map(|a| {
                            let key = a["key"].as_str().unwrap_or_default().to_string();
                            (key, attribute_text(&a["value"]))
                        })
                        .collect(),
                });
            }
        }
    }
    spans
}

fn spans_of_protobuf(body: &[u8]) -> Vec<Span> {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let export = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut spans = Vec::new();
    for resource in export.resource_spans {
        for scope in resource.scope_spans {
            for span in scope.spans {
                let attributes = span.attributes.into_iter().map(|a| {
                    let value = match a.value.and_then(|v| v.value) {
                        Some(any_value::Value::StringValue(text)) => text,
                        Some(any_value::Value::IntValue(number)) => number.to_string(),
                        other => format!("{other:?}"),
                    };
                    (a.key, value)
                });
                spans.push(Span {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_id: hex(&span.parent_span_id),
                    kind: i64::from(span.kind),
                    attributes: attributes.collect(),
                });
            }
        }
    }
    spans
}

/// An OTLP/HTTP trace receiver on a free port (protobuf or JSON, by content type): its URL
/// and what it received.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let received: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let spans = match headers.get("content-type").and_then(|v| v.to_str().ok()) {
                Some("application/json") => {
                    spans_of(&serde_json::from_slice(&body).expect("an OTLP JSON export"))
                }
                Some("application/x-protobuf") => spans_of_protobuf(&body),
                other => panic!("an export of content type {other:?}"),
            };
            sink.lock().expect("spans").extend(spans);
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

/// The spans received so far once `done` holds of them, or a failure after a while.
async fn wait_for(received: &Mutex<Vec<Span>>, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = received.lock().expect("spans").clone();
        if done(&spans) {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "spans never arrived; got {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn an_upload_is_one_trace_with_a_span_per_step(backend: Backend) {
    upload_and_detail_traced(backend, None).await;
}

async fn traces_go_out_in_json_when_asked(backend: Backend) {
    upload_and_detail_traced(backend, Some("http/json")).await;
}

/// An upload and a detail exported in `protocol` (the default when `None`), checked.
async fn upload_and_detail_traced(backend: Backend, protocol: Option<&str>) {
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
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.unwrap_or("")),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let token = token.expect("the first start prints the admin token");
    let client = reqwest::Client::new();
    let form = reqwest::multipart::Form::new().part(
        "f",
        reqwest::multipart::Part::bytes(fixtures::png()).file_name("pixel.png"),
    );
    let uploaded: Value = client
        .post(format!("{}/api/media/files", server.address))
        .header("Authorization", format!("Token {token}"))
        .header("X-Request-Id", "trace-upload-1")
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let id = uploaded["id"].as_i64().expect("an id");
    let detail = client
        .get(format!("{}/api/media/files/{id}", server.address))
        .header("Authorization", format!("Token {token}"))
        .header("X-Request-Id", "trace-detail-1")
        // A caller's trace: the request's span joins it.
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("detail");
    assert_eq!(detail.status(), 200);

    let is_request = |span: &Span, request_id: &str| {
        span.attributes.get("request_id").map(String::as_str) == Some(request_id)
    };
    let spans = wait_for(&received, |spans| {
        ["trace-upload-1", "trace-detail-1"]
            .iter()
            .all(|id| spans.iter().any(|s| is_request(s, id)))
            && spans.iter().filter(|s| s.name == "thumbnail").count() >= 4
    })
    .await;

    let upload = spans
        .iter()
        .find(|s| is_request(s, "trace-upload-1"))
        .expect("the upload's span");
    assert_eq!(upload.name, "POST /api/media/files");
    assert_eq!(upload.kind, 2, "a server span");
    for (key, value) in [
        ("http.request.method", "POST"),
        ("http.route", "/api/media/files"),
        ("http.response.status_code", "201"),
        ("user.id", "1"),
        ("file.id", id.to_string().as_str()),
    ] {
        assert_eq!(
            upload.attributes.get(key).map(String::as_str),
            Some(value),
            "{key} of {upload:?}"
        );
    }
    assert!(upload.parent_id.is_empty(), "the request span is the root");

    // Every step of the upload is in its trace, below the request span.
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let under_upload = |span: &Span| {
        let mut current = span;
        while let Some(parent) = by_id.get(current.parent_id.as_str()) {
            if parent.span_id == upload.span_id {
                return true;
            }
            current = parent;
        }
        false
    };
    let steps: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == upload.trace_id && s.span_id != upload.span_id)
        .collect();
    for step in &steps {
        assert!(under_upload(step), "{} is not below the request", step.name);
    }
    let count = |name: &str| steps.iter().filter(|s| s.name == name).count();
    for name in [
        "blob.hash_and_write",
        "media.detect",
        "image.read_header",
        "image.decode",
        "blob.persist",
        "event_store.append",
        "projection.update",
    ] {
        assert!(count(name) >= 1, "no {name} span in {steps:?}");
    }
    assert_eq!(count("thumbnail"), 4, "one span per thumbnail");
    let hashed = steps
        .iter()
        .find(|s| s.name == "blob.hash_and_write")
        .expect("hashing");
    let hash = hashed.attributes.get("blob.hash").expect("the blob's hash");
    assert_eq!(hash.len(), 64, "{hash}");
    let url = uploaded["f"].as_str().expect("file url");
    assert!(url.contains(hash.as_str()), "{url} is named by {hash}");

    let detail = spans
        .iter()
        .find(|s| is_request(s, "trace-detail-1"))
        .expect("the detail's span");
    assert_eq!(detail.name, "GET /api/media/files/{id}");
    assert_eq!(detail.trace_id, CALLER_TRACE, "joins the caller's trace");
    assert_eq!(detail.parent_id, CALLER_SPAN);
    assert_eq!(
        detail.attributes.get("file.id").map(String::as_str),
        Some(id.to_string().as_str())
    );
    assert_eq!(
        detail
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("200")
    );
    drop(server);
}
