//! The HTTP layer: maps requests to the service's commands and queries, and back to JSON.

mod cms;
mod downloads;
mod error;
mod extract;
pub(crate) mod files;
mod ops;
mod representation;

use std::sync::Arc;

use axum::http::{HeaderName, Request};
use axum::routing::get;
use axum::Router;
use tower::Layer;
use tower_http::normalize_path::{NormalizePath, NormalizePathLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use error::ApiError;
pub use ops::sample_gauges;

use crate::accounts::Accounts;
use crate::media::SizeLimits;
use crate::service::MediaService;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub media: Arc<MediaService>,
    pub metrics: Arc<Metrics>,
    pub accounts: Accounts,
    pub limits: SizeLimits,
    pub public_base: Option<String>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client's `X-Request-Id` is kept (it ends up in event metadata and logs) only when it is
/// short and plain; otherwise a fresh one is made.
async fn drop_unusable_request_id<B>(mut request: Request<B>) -> Request<B> {
    let usable = request.headers().get(&REQUEST_ID).is_none_or(|id| {
        let id = id.as_bytes();
        !id.is_empty()
            && id.len() <= 128
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !usable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// The whole service. A trailing slash is accepted on every path (SPEC §1): it is trimmed
/// before routing, which is why the router is wrapped rather than layered.
pub fn app(state: AppState) -> NormalizePath<Router> {
    let router = Router::new()
        .merge(files::router(&state.limits))
        .merge(cms::router(&state.limits))
        .route("/media/{hash}/{name}", get(downloads::download))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::NotFound("Not found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::track,
        ))
        .with_state(state)
        // Layer order: the request id is set first (outermost), so the trace span and the
        // handlers see it, and it is copied onto the response last.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    // For logs only (its exported twin is made by `ops::track`, see
                    // `telemetry::REQUEST_LOG_TARGET`); completed there once routing has found
                    // the route. The request id is the one event metadata carries.
                    tracing::info_span!(
                        target: crate::telemetry::REQUEST_LOG_TARGET,
                        "request",
                        http.request.method = %request.method(),
                        url.path = %request.uri().path(),
                        http.route = tracing::field::Empty,
                        http.response.status_code = tracing::field::Empty,
                        user.id = tracing::field::Empty,
                        file.id = tracing::field::Empty,
                        request_id,
                    )
                })
                // One log line per request, at its end, with the span's fields (never headers,
                // so never a token).
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unusable_request_id));
    NormalizePathLayer::trim_trailing_slash().layer(router)
}
