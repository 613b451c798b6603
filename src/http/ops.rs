//! Operator endpoints, without a token: `/healthz` (the process is up), `/readyz` (database
//! and blob store reachable), `/metrics` (Prometheus text); and the request-metrics layer.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use opentelemetry::context::FutureExt as _;
use opentelemetry::KeyValue;
use serde_json::json;

use super::AppState;
use crate::telemetry::RequestSpan;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let database = state.media.read_model.ping().await.is_ok();
    let blobs = state.media.blobs.ready().await.is_ok();
    let status = if database && blobs {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "database": if database { "ok" } else { "unreachable" },
        "blob_store": if blobs { "ok" } else { "unreachable" },
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    sample_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Record the gauges that are cheapest to read when they are wanted: at each scrape, and
/// before each OTLP push.
pub async fn sample_gauges(state: &AppState) {
    let labels = [KeyValue::new("projection", "media_files")];
    if let Ok((_, behind)) = state.media.projector.status().await {
        state.metrics.projection_lag.record(behind, &labels);
    }
    // Written by the rebuilding process, which may not be this one.
    if let Ok(rebuild) = state.media.read_model.rebuild_progress().await {
        let metrics = &state.metrics;
        metrics
            .rebuild_replayed
            .record(rebuild.events_done, &labels);
        metrics.rebuild_target.record(rebuild.events_total, &labels);
        metrics
            .rebuild_running
            .record(i64::from(rebuild.running), &labels);
    }
    state
        .metrics
        .blob_store_bytes
        .record(state.media.blobs.stored_bytes(), &[]);
    let (size, idle) = state.media.read_model.pool_use();
    state
        .metrics
        .db_connections
        .record(i64::from(idle), &[KeyValue::new("state", "idle")]);
    state.metrics.db_connections.record(
        i64::from(size.saturating_sub(idle)),
        &[KeyValue::new("state", "in_use")],
    );
}

/// Count and time every request by method, route template and status.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_string();
    let span = tracing::Span::current();
    span.record("http.route", route.as_str());
    let traced = RequestSpan::start(&request, &route);
    let response = match &traced {
        Some(traced) => next.run(request).with_context(traced.context()).await,
        None => next.run(request).await,
    };
    span.record("http.response.status_code", response.status().as_u16());
    if let Some(traced) = traced {
        traced.end(response.status());
    }
    let labels = [
        KeyValue::new("method", method),
        KeyValue::new("route", route),
        KeyValue::new("status", i64::from(response.status().as_u16())),
    ];
    state.metrics.http_requests.add(1, &labels);
    state
        .metrics
        .http_duration
        .record(started.elapsed().as_secs_f64(), &labels);
    response
}
