//! Logs, traces and metrics.
//!
//! - Logs go to stderr (stdout carries command output), JSON when `MEDIASTORE_LOG_FORMAT=json`.
//! - Traces, exported by OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//!   `..._TRACES_ENDPOINT`) is set; the standard `OTEL_*` variables apply. Each request's span
//!   is made with the OpenTelemetry API ([`RequestSpan`]); every `tracing` span of this crate
//!   inside it becomes its child. Without an exporter neither exists, and the request's
//!   `tracing` span (which logs use) costs what it costs without traces.
//! - Metrics: OpenTelemetry instruments read out in Prometheus text format at `/metrics`.
//!   Names start with `mediastore_` and follow Prometheus conventions (the exporter adds the
//!   unit and `_total` suffixes: `mediastore_upload_bytes_total`, `..._duration_seconds`).
//!   Also pushed by OTLP/HTTP every `OTEL_METRIC_EXPORT_INTERVAL` (60 s) when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._METRICS_ENDPOINT`) is set.

mod otlp_traces;

use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider};
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use prometheus::{Encoder, TextEncoder};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// The process's logs and traces; dropping it sends the spans not exported yet.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Install the global subscriber. Call before any async runtime starts: the OTLP
    /// exporter's blocking HTTP client must not be made inside one.
    pub fn init() -> anyhow::Result<Tracing> {
        let provider = otlp_tracer_provider()?;
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let logs = if std::env::var("MEDIASTORE_LOG_FORMAT").as_deref() == Ok("json") {
            logs.json().boxed()
        } else {
            logs.boxed()
        };
        // Spans are exported whatever RUST_LOG says about logs: a quiet log must not blind
        // the traces.
        let spans = provider.as_ref().map(|provider| {
            use opentelemetry::trace::TracerProvider as _;
            let tracer = provider.tracer("mediastore");
            let _ = TRACER.set(tracer.clone());
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                // Per-span extras that cost on every poll (busy/idle clocks) or allocate
                // per span (thread, source location) and that no trace viewer needs here.
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_location(false)
                // Entering a tracing span need not attach its OpenTelemetry context (a
                // context clone and a guard on every poll): spans find their parents through
                // `tracing`, and without a visible one, in the context that `RequestSpan` and
                // `database_step` attach.
                .with_context_activation(false)
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target("mediastore", tracing::Level::INFO)
                        .with_target(REQUEST_LOG_TARGET, tracing::level_filters::LevelFilter::OFF),
                )
        });
        tracing_subscriber::registry()
            .with(logs.with_filter(filter))
            .with(spans)
            .init();
        Ok(Tracing { provider })
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("could not send the last traces: {error}");
            }
        }
    }
}

/// The target of each request's `tracing` span, which only logs see: its OpenTelemetry twin
/// is a [`RequestSpan`].
///
/// Why two: a `tracing` span that the OpenTelemetry layer sees costs ~900 instructions each
/// time it is entered and left, and a request's span is entered ~30 times (every poll of the
/// request, and sqlx enters the caller's span for each command on its worker threads). That
/// alone was 12% of a detail request.
pub const REQUEST_LOG_TARGET: &str = "mediastore::request";

/// The tracer of the OTLP exporter, once [`Tracing::init`] has made one.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// A request's server span, made when traces are exported. It is the OpenTelemetry context
/// of the request's future ([`RequestSpan::context`]), so the `tracing` spans of its steps
/// become its children.
pub struct RequestSpan {
    context: opentelemetry::Context,
}

impl RequestSpan {
    /// Start the span of `request`, routed to `route`, or `None` when traces are not
    /// exported. A caller's W3C trace context (`traceparent`) is its parent.
    pub fn start(request: &axum::extract::Request, route: &str) -> Option<RequestSpan> {
        let tracer = TRACER.get()?;
        let headers = request.headers();
        let parent = if headers.contains_key("traceparent") {
            use opentelemetry::propagation::TextMapPropagator as _;
            opentelemetry_sdk::propagation::TraceContextPropagator::new()
                .extract(&opentelemetry_http::HeaderExtractor(headers))
        } else {
            opentelemetry::Context::new()
        };
        let method = request.method().as_str();
        let request_id = request
            .extensions()
            .get::<tower_http::request_id::RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or_default();
        let builder = tracer
            .span_builder(format!("{method} {route}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", request.uri().path().to_string()),
                KeyValue::new("http.route", route.to_string()),
                KeyValue::new("request_id", request_id.to_string()),
            ]);
        Some(RequestSpan {
            context: start_below(tracer, builder, parent),
        })
    }

    /// The context to run the request's future in.
    pub fn context(&self) -> opentelemetry::Context {
        self.context.clone()
    }

    pub fn end(self, status: axum::http::StatusCode) {
        let span = self.context.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        if status.is_server_error() {
            span.set_status(Status::error(""));
        }
        span.end();
    }
}

/// Run `step` as a span `name` (with the file's `aggregate_id`) below the current request's,
/// made with the OpenTelemetry API like the request's own. For steps that query the
/// database: sqlx enters the caller's `tracing` span for each command on its worker threads,
/// which costs the same as for the request's span (see [`REQUEST_LOG_TARGET`]). Just `step`
/// when traces are not exported.
pub async fn database_step<T>(
    name: &'static str,
    aggregate_id: &str,
    step: impl std::future::Future<Output = T>,
) -> T {
    use opentelemetry::context::FutureExt as _;
    let Some(tracer) = TRACER.get() else {
        return step.await;
    };
    let builder = tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_attributes([KeyValue::new("aggregate_id", aggregate_id.to_string())]);
    let context = start_below(tracer, builder, opentelemetry::Context::current());
    let output = step.with_context(context.clone()).await;
    context.span().end();
    output
}

/// Start `span` as a child of `parent`'s span (a root without one): the context to run its
/// work in. A context dropped before its span is ended ends it (a cancelled request).
fn start_below(
    tracer: &SdkTracer,
    span: opentelemetry::trace::SpanBuilder,
    parent: opentelemetry::Context,
) -> opentelemetry::Context {
    let span = span.start_with_context(tracer, &parent);
    parent.with_span(span)
}

/// Record an id (`user.id`, `file.id`) on the current request's span: the `tracing` one that
/// logs show and the exported one, if any.
pub fn record_on_request(key: &'static str, value: i64) {
    tracing::Span::current().record(key, value);
    opentelemetry::Context::map_current(|context| {
        if context.has_active_span() {
            context.span().set_attribute(KeyValue::new(key, value));
        }
    });
}

/// The current span, in `tracing` and in OpenTelemetry, carried onto a blocking thread so
/// that the spans made there are the request's children.
pub struct Parent {
    span: tracing::Span,
    context: opentelemetry::Context,
}

impl Parent {
    pub fn current() -> Parent {
        Parent {
            span: tracing::Span::current(),
            context: opentelemetry::Context::current(),
        }
    }

    /// Make it current on this thread until the guard is dropped.
    pub fn enter(self) -> Entered {
        Entered {
            _span: self.span.entered(),
            _context: self.context.attach(),
        }
    }
}

/// A [`Parent`] made current; dropping it restores what was.
pub struct Entered {
    _span: tracing::span::EnteredSpan,
    _context: opentelemetry::ContextGuard,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// A tracer provider exporting over OTLP, if the environment asks for one.
fn otlp_tracer_provider() -> anyhow::Result<Option<SdkTracerProvider>> {
    let Some(protocol) = otlp_protocol(Signal::Traces)? else {
        return Ok(None);
    };
    let provider = SdkTracerProvider::builder().with_resource(resource());
    let provider = match protocol {
        Protocol::HttpJson => provider.with_batch_exporter(
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .build()?,
        ),
        _ => provider.with_batch_exporter(otlp_traces::ProtobufSpanExporter::from_env()?),
    };
    Ok(Some(provider.build()))
}

#[derive(Clone, Copy)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    /// The infix of its variables: `OTEL_EXPORTER_OTLP_{infix}_ENDPOINT`, `OTEL_{infix}_EXPORTER`.
    fn infix(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        }
    }
}

/// The OTLP protocol to export `signal` with, or `None` when the environment asks for no
/// export: no endpoint, `OTEL_SDK_DISABLED=true` or `OTEL_{TRACES,METRICS}_EXPORTER=none`.
/// The exporter itself reads the endpoint, headers and timeout from the same variables.
fn otlp_protocol(signal: Signal) -> anyhow::Result<Option<Protocol>> {
    let infix = signal.infix();
    let endpoint = env(&format!("OTEL_EXPORTER_OTLP_{infix}_ENDPOINT"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || env(&format!("OTEL_{infix}_EXPORTER")).is_some_and(|v| v == "none");
    if endpoint.is_none() || disabled {
        return Ok(None);
    }
    match env(&format!("OTEL_EXPORTER_OTLP_{infix}_PROTOCOL"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        None | Some("http/protobuf") => Ok(Some(Protocol::HttpBinary)),
        Some("http/json") => Ok(Some(Protocol::HttpJson)),
        Some(other) => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: use http/protobuf \
             (the collector's port 4318) or http/json"
        ),
    }
}

/// What every exported span and metric says about its source; `OTEL_SERVICE_NAME` and
/// `OTEL_RESOURCE_ATTRIBUTES` apply.
fn resource() -> opentelemetry_sdk::Resource {
    let mut resource = opentelemetry_sdk::Resource::builder();
    if env("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("mediastore");
    }
    resource.build()
}

/// How often metrics are pushed over OTLP (`OTEL_METRIC_EXPORT_INTERVAL`, milliseconds), as
/// the SDK reads it.
fn otlp_metric_interval() -> Duration {
    env("OTEL_METRIC_EXPORT_INTERVAL")
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

pub struct Metrics {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    /// How often metrics are pushed over OTLP; `None` when they are not.
    otlp_interval: Option<Duration>,
    pub http_requests: Counter<u64>,
    pub http_duration: Histogram<f64>,
    pub uploads: Counter<u64>,
    pub upload_bytes: Counter<u64>,
    pub dedup_hits: Counter<u64>,
    pub dedup_saved_bytes: Counter<u64>,
    pub events_appended: Counter<u64>,
    pub projection_lag: Gauge<i64>,
    pub rebuild_replayed: Gauge<i64>,
    pub rebuild_target: Gauge<i64>,
    pub rebuild_running: Gauge<i64>,
    pub db_connections: Gauge<i64>,
    pub thumbnail_duration: Histogram<f64>,
    pub blob_store_bytes: Gauge<u64>,
}

impl Metrics {
    /// The instruments, read out at `/metrics` and, if the environment asks, pushed over
    /// OTLP. The OTLP exporter builds its blocking HTTP client on a thread of its own, so
    /// this may run inside the async runtime.
    pub fn new() -> anyhow::Result<Metrics> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .without_target_info()
            .build()?;
        let mut provider = SdkMeterProvider::builder().with_reader(exporter);
        let mut otlp_interval = None;
        if let Some(protocol) = otlp_protocol(Signal::Metrics)? {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .build()?;
            // The SDK's reader reads OTEL_METRIC_EXPORT_INTERVAL itself.
            provider = provider
                .with_reader(opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).build())
                .with_resource(resource());
            otlp_interval = Some(otlp_metric_interval());
        }
        let provider = provider.build();
        let meter = provider.meter("mediastore");
        Ok(Metrics {
            http_requests: meter
                .u64_counter("mediastore_http_requests")
                .with_description("HTTP requests by method, route and status")
                .build(),
            http_duration: meter
                .f64_histogram("mediastore_http_request_duration")
                .with_unit("s")
                .with_description("HTTP request latency by method, route and status")
                .with_boundaries(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .build(),
            uploads: meter
                .u64_counter("mediastore_uploads")
                .with_description("Accepted uploads by type")
                .build(),
            upload_bytes: meter
                .u64_counter("mediastore_upload")
                .with_unit("By")
                .with_description("Bytes of accepted uploads by type")
                .build(),
            dedup_hits: meter
                .u64_counter("mediastore_dedup_hits")
                .with_description("Uploads whose bytes were already stored")
                .build(),
            dedup_saved_bytes: meter
                .u64_counter("mediastore_dedup_saved")
                .with_unit("By")
                .with_description("Bytes not stored again thanks to deduplication")
                .build(),
            events_appended: meter
                .u64_counter("mediastore_events_appended")
                .with_description("Events appended to the event store")
                .build(),
            projection_lag: meter
                .i64_gauge("mediastore_projection_lag_events")
                .with_description("Committed events a projection has not applied yet")
                .build(),
            rebuild_replayed: meter
                .i64_gauge("mediastore_rebuild_replayed_events")
                .with_description("Events the last `projections rebuild` has replayed so far")
                .build(),
            rebuild_target: meter
                .i64_gauge("mediastore_rebuild_target_events")
                .with_description("Events the last `projections rebuild` had to replay")
                .build(),
            rebuild_running: meter
                .i64_gauge("mediastore_rebuild_running")
                .with_description("1 while a `projections rebuild` is running, else 0")
                .build(),
            db_connections: meter
                .i64_gauge("mediastore_db_pool_connections")
                .with_description("Database pool connections by state (idle, in use)")
                .build(),
            thumbnail_duration: meter
                .f64_histogram("mediastore_thumbnail_duration")
                .with_unit("s")
                .with_description("Time to decode an image and make its four thumbnails")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .build(),
            blob_store_bytes: meter
                .u64_gauge("mediastore_blob_store")
                .with_unit("By")
                .with_description("Bytes of all stored blobs (originals and thumbnails)")
                .build(),
            registry,
            provider,
            otlp_interval,
        })
    }

    /// How often metrics are pushed over OTLP, so that gauges read at scrape time can be
    /// refreshed as often; `None` when they are not pushed.
    pub fn otlp_interval(&self) -> Option<Duration> {
        self.otlp_interval
    }

    /// Push what has not been exported yet; call before the process exits.
    pub fn shutdown(&self) {
        if self.otlp_interval.is_some() {
            if let Err(error) = self.provider.shutdown() {
                tracing::warn!(%error, "could not send the last metrics");
            }
        }
    }

    /// Everything in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn record_upload(&self, media_type: &str, bytes: u64, deduplicated: bool) {
        let labels = [KeyValue::new("type", media_type.to_string())];
        self.uploads.add(1, &labels);
        self.upload_bytes.add(bytes, &labels);
        if deduplicated {
            self.dedup_hits.add(1, &[]);
            self.dedup_saved_bytes.add(bytes, &[]);
        }
    }
}
