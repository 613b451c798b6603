//! Metrics: OpenTelemetry instruments read out in Prometheus text format at `/metrics`.
//! Names start with `mediastore_` and follow Prometheus conventions (the exporter adds the
//! unit and `_total` suffixes: `mediastore_upload_bytes_total`, `..._duration_seconds`).

use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};

pub struct Metrics {
    registry: prometheus::Registry,
    _provider: SdkMeterProvider,
    pub http_requests: Counter<u64>,
    pub http_duration: Histogram<f64>,
    pub uploads: Counter<u64>,
    pub upload_bytes: Counter<u64>,
    pub dedup_hits: Counter<u64>,
    pub dedup_saved_bytes: Counter<u64>,
    pub events_appended: Counter<u64>,
    pub projection_lag: Gauge<i64>,
    pub db_connections: Gauge<i64>,
}

impl Metrics {
    pub fn new() -> Result<Metrics, opentelemetry_sdk::error::OTelSdkError> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .without_target_info()
            .build()?;
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
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
            db_connections: meter
                .i64_gauge("mediastore_db_pool_connections")
                .with_description("Database pool connections by state (idle, in use)")
                .build(),
            registry,
            _provider: provider,
        })
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
