//! Spans exported over OTLP/HTTP in protobuf, written straight from the SDK's `SpanData`.
//!
//! Why not `opentelemetry-otlp`'s exporter for this: it first converts each span into the
//! generated protobuf structs (a `String` for every attribute key and value, a `Vec` for every
//! id) and prost then measures each nested message once per enclosing level. That was ~18,000
//! instructions per span, a third of what traces cost a detail request. Here each span is
//! written once, into one buffer. `http/json` still goes through `opentelemetry-otlp`.
//!
//! The variables read are the standard ones, as `opentelemetry-otlp` reads them:
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus
//! `/v1/traces`), `..._HEADERS` (`key=value,...`, values URL-decoded) and `..._TIMEOUT`
//! (milliseconds, 10 s by default), the per-signal one first.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use otlp_http::blocking::Client;
use otlp_http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use super::env;

#[derive(Debug)]
pub struct ProtobufSpanExporter {
    client: Client,
    endpoint: String,
    headers: HeaderMap,
    /// The body of the `Resource` message of every export, written once.
    resource: Vec<u8>,
    resource_schema_url: String,
}

impl ProtobufSpanExporter {
    /// The exporter the `OTEL_EXPORTER_OTLP_*` variables describe. Call outside an async
    /// runtime: the blocking HTTP client must not be made inside one.
    pub fn from_env() -> anyhow::Result<ProtobufSpanExporter> {
        let endpoint = match env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(endpoint) => endpoint,
            None => {
                let base = env("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .context("OTEL_EXPORTER_OTLP_ENDPOINT is not set")?;
                let path = if base.ends_with('/') {
                    "v1/traces"
                } else {
                    "/v1/traces"
                };
                format!("{base}{path}")
            }
        };
        otlp_http::Url::parse(&endpoint)
            .with_context(|| format!("the OTLP traces endpoint {endpoint:?} is not a URL"))?;
        let timeout = env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| env("OTEL_EXPORTER_OTLP_TIMEOUT"))
            .and_then(|ms| ms.trim().parse().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        let headers = match env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"))
        {
            Some(list) => parse_headers(&list)?,
            None => HeaderMap::new(),
        };
        let client = Client::builder()
            .timeout(timeout)
            .build()
            .context("making the OTLP HTTP client")?;
        Ok(ProtobufSpanExporter::new(client, endpoint, headers))
    }

    /// The resource is set later by the tracer provider (`set_resource`).
    fn new(client: Client, endpoint: String, headers: HeaderMap) -> ProtobufSpanExporter {
        ProtobufSpanExporter {
            client,
            endpoint,
            headers,
            resource: Vec::new(),
            resource_schema_url: String::new(),
        }
    }

    /// The `ExportTraceServiceRequest` of `batch`.
    fn encode(&self, batch: &[SpanData]) -> Vec<u8> {
        // Spans grouped by scope, in the order the scopes first appear; one scope is usual.
        let mut scopes: Vec<(&InstrumentationScope, Vec<&SpanData>)> = Vec::new();
        for span in batch {
            match scopes
                .iter_mut()
                .find(|(scope, _)| **scope == span.instrumentation_scope)
            {
                Some((_, spans)) => spans.push(span),
                None => scopes.push((&span.instrumentation_scope, vec![span])),
            }
        }
        let mut out = Writer(Vec::with_capacity(256 + 512 * batch.len()));
        // ExportTraceServiceRequest.resource_spans
        out.message(1, |w| {
            w.message(1, |w| w.0.extend_from_slice(&self.resource));
            for (scope, spans) in &scopes {
                w.message(2, |w| {
                    w.message(1, |w| write_scope(w, scope));
                    for span in spans {
                        w.message(2, |w| write_span(w, span));
                    }
                    w.string(3, scope.schema_url().unwrap_or_default());
                });
            }
            w.string(3, &self.resource_schema_url);
        });
        out.0
    }
}

impl SpanExporter for ProtobufSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let failed = |why: String| OTelSdkError::InternalFailure(why);
        let response = self
            .client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .body(self.encode(&batch))
            .send()
            .map_err(|error| failed(format!("sending spans to {}: {error}", self.endpoint)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(format!(
                "{} answered {status} to an export of spans",
                self.endpoint
            )));
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let mut w = Writer(Vec::new());
        for (key, value) in resource.iter() {
            w.message(1, |w| write_key_value(w, key.as_str(), value));
        }
        self.resource = w.0;
        self.resource_schema_url = resource.schema_url().unwrap_or_default().to_string();
    }
}

/// `key=value,...` with URL-encoded values, as `OTEL_EXPORTER_OTLP_HEADERS` holds them.
fn parse_headers(list: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for pair in list.split_terminator(',').map(str::trim) {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("OTLP header {pair:?} is not key=value"))?;
        let value = value.trim();
        let value = url_decode(value).unwrap_or_else(|| value.to_string());
        let name = HeaderName::from_bytes(key.trim().as_bytes())
            .with_context(|| format!("OTLP header name {key:?} is not valid"))?;
        let value = HeaderValue::from_str(&value)
            .with_context(|| format!("OTLP header {key:?} has a value that is not valid"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// `%XX` escapes decoded; `None` if one is broken or the result is not UTF-8.
fn url_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits only: `from_str_radix` alone would also take a sign ("%+1").
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// Field numbers below are those of opentelemetry-proto's trace.proto and common.proto.

fn write_scope(w: &mut Writer, scope: &InstrumentationScope) {
    w.string(1, scope.name());
    w.string(2, scope.version().unwrap_or_default());
    write_attributes(w, 3, scope.attributes());
}

fn write_span(w: &mut Writer, span: &SpanData) {
    let context = &span.span_context;
    w.bytes(1, &context.trace_id().to_bytes());
    w.bytes(2, &context.span_id().to_bytes());
    w.string(3, &context.trace_state().header());
    if span.parent_span_id != SpanId::INVALID {
        w.bytes(4, &span.parent_span_id.to_bytes());
    }
    w.string(5, &span.name);
    w.uint(6, span_kind(&span.span_kind));
    w.fixed64(7, unix_nanos(span.start_time));
    w.fixed64(8, unix_nanos(span.end_time));
    write_attributes(w, 9, &span.attributes);
    w.uint(10, span.dropped_attributes_count.into());
    for event in span.events.iter() {
        w.message(11, |w| {
            w.fixed64(1, unix_nanos(event.timestamp));
            w.string(2, &event.name);
            write_attributes(w, 3, &event.attributes);
            w.uint(4, event.dropped_attributes_count.into());
        });
    }
    w.uint(12, span.events.dropped_count.into());
    for link in span.links.iter() {
        w.message(13, |w| {
            let linked = &link.span_context;
            w.bytes(1, &linked.trace_id().to_bytes());
            w.bytes(2, &linked.span_id().to_bytes());
            w.string(3, &linked.trace_state().header());
            write_attributes(w, 4, &link.attributes);
            w.uint(5, link.dropped_attributes_count.into());
            w.fixed32(6, flags(linked, linked.is_remote()));
        });
    }
    w.uint(14, span.links.dropped_count.into());
    w.message(15, |w| {
        let (code, message) = match &span.status {
            Status::Unset => (0, ""),
            Status::Ok => (1, ""),
            Status::Error { description } => (2, description.as_ref()),
        };
        w.string(2, message);
        w.uint(3, code);
    });
    w.fixed32(16, flags(context, span.parent_span_is_remote));
}

/// The W3C trace flags, and whether the parent is remote (known, then its value).
fn flags(context: &SpanContext, remote: bool) -> u32 {
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    let flags = u32::from(context.trace_flags().to_u8()) | HAS_IS_REMOTE;
    if remote {
        flags | IS_REMOTE
    } else {
        flags
    }
}

fn span_kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

fn write_attributes<'a>(
    w: &mut Writer,
    field: u32,
    attributes: impl IntoIterator<Item = &'a KeyValue>,
) {
    for attribute in attributes {
        w.message(field, |w| {
            write_key_value(w, attribute.key.as_str(), &attribute.value)
        });
    }
}

fn write_key_value(w: &mut Writer, key: &str, value: &Value) {
    w.string(1, key);
    w.message(2, |w| write_any_value(w, value));
}

/// An `AnyValue`'s one field (written even when it holds a default: it says which one).
fn write_any_value(w: &mut Writer, value: &Value) {
    match value {
        Value::Bool(value) => any_bool(w, *value),
        Value::I64(value) => any_int(w, *value),
        Value::F64(value) => any_double(w, *value),
        Value::String(value) => any_string(w, value.as_str()),
        Value::Array(array) => w.message(5, |w| match array {
            Array::Bool(values) => write_values(w, values, |w, v| any_bool(w, *v)),
            Array::I64(values) => write_values(w, values, |w, v| any_int(w, *v)),
            Array::F64(values) => write_values(w, values, |w, v| any_double(w, *v)),
            Array::String(values) => write_values(w, values, |w, v| any_string(w, v.as_str())),
            // A kind of array newer than this code: its text.
            other => write_values(w, &[other.to_string()], |w, v| any_string(w, v)),
        }),
        // A kind of value newer than this code: its text.
        other => any_string(w, &other.as_str()),
    }
}

fn any_bool(w: &mut Writer, value: bool) {
    w.varint_field(2, u64::from(value));
}

fn any_int(w: &mut Writer, value: i64) {
    w.varint_field(3, value as u64);
}

fn any_double(w: &mut Writer, value: f64) {
    w.key(4, FIXED64);
    w.0.extend_from_slice(&value.to_bits().to_le_bytes());
}

fn any_string(w: &mut Writer, value: &str) {
    w.bytes(1, value.as_bytes());
}

/// An `ArrayValue`'s items, each an `AnyValue` written by `item`.
fn write_values<T>(w: &mut Writer, values: &[T], item: impl Fn(&mut Writer, &T)) {
    for value in values {
        w.message(1, |w| item(w, value));
    }
}

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Protobuf wire format into one buffer. Fields that hold their default are left out, as
/// proto3 encoders do; a decoder reads them back as the default.
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from(field << 3 | wire_type));
    }

    fn varint_field(&mut self, field: u32, value: u64) {
        self.key(field, VARINT);
        self.varint(value);
    }

    fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.varint_field(field, value);
        }
    }

    fn fixed64(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.key(field, FIXED64);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn fixed32(&mut self, field: u32, value: u32) {
        if value != 0 {
            self.key(field, FIXED32);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, LEN);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, text: &str) {
        if !text.is_empty() {
            self.bytes(field, text.as_bytes());
        }
    }

    /// A nested message: written in place after a one-byte length, which grows (moving the
    /// message) only when the message is 128 bytes or more.
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Writer)) {
        self.key(field, LEN);
        let at = self.0.len();
        self.0.push(0);
        body(self);
        let len = self.0.len() - at - 1;
        if len < 0x80 {
            self.0[at] = len as u8;
        } else {
            let mut prefix = Writer(Vec::with_capacity(10));
            prefix.varint(len as u64);
            self.0.splice(at..at + 1, prefix.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message as _;
    use std::borrow::Cow;

    fn exporter(resource: &Resource) -> ProtobufSpanExporter {
        let mut exporter =
            ProtobufSpanExporter::new(Client::new(), String::new(), HeaderMap::new());
        exporter.set_resource(resource);
        exporter
    }

    fn context(trace: u128, span: u64, remote: bool, state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            remote,
            state.parse::<TraceState>().expect("a trace state"),
        )
    }

    /// Spans using every part of the format: each kind of value (negative, empty, long,
    /// arrays), events, links, each status, a remote parent, a trace state, two scopes.
    fn spans() -> Vec<SpanData> {
        let long = "x".repeat(300);
        let attributes = vec![
            KeyValue::new("http.route", "/api/media/files/{id}"),
            KeyValue::new("empty", ""),
            KeyValue::new("long", long.clone()),
            KeyValue::new("user.id", 7_i64),
            KeyValue::new("negative", -3_i64),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("ratio", 0.25),
            KeyValue::new("yes", true),
            KeyValue::new("no", false),
            KeyValue::new("bools", Value::Array(vec![true, false].into())),
            KeyValue::new("ints", Value::Array(vec![1_i64, -1].into())),
            KeyValue::new("floats", Value::Array(vec![1.5_f64].into())),
            KeyValue::new(
                "texts",
                Value::Array(
                    vec![opentelemetry::StringValue::from("a"), long.clone().into()].into(),
                ),
            ),
        ];
        let start = UNIX_EPOCH + Duration::from_nanos(1_764_000_000_123_456_789);
        let span = |id: u64, parent: u64, scope: &InstrumentationScope, status: Status| {
            let mut events = SpanEvents::default();
            events.events.push(opentelemetry::trace::Event::new(
                "warning",
                start + Duration::from_micros(5),
                vec![KeyValue::new("message", "could not project")],
                1,
            ));
            events.dropped_count = 2;
            let mut links = SpanLinks::default();
            links.links.push(opentelemetry::trace::Link::new(
                context(9, 10, true, "k=v"),
                vec![KeyValue::new("why", "retry")],
                3,
            ));
            SpanData {
                span_context: context(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736, id, false, ""),
                parent_span_id: SpanId::from(parent),
                parent_span_is_remote: parent == 0x00f0_67aa_0ba9_02b7,
                span_kind: if parent == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Internal
                },
                name: Cow::Owned(format!("span {id}")),
                start_time: start,
                end_time: start + Duration::from_millis(id),
                attributes: attributes.clone(),
                dropped_attributes_count: id as u32,
                events,
                links,
                status,
                instrumentation_scope: scope.clone(),
            }
        };
        let ours = InstrumentationScope::builder("mediastore").build();
        let other = InstrumentationScope::builder("other")
            .with_version("1.2")
            .with_schema_url("https://opentelemetry.io/schemas/1.0.0")
            .with_attributes([KeyValue::new("scope.attr", 1_i64)])
            .build();
        vec![
            span(1, 0, &ours, Status::Unset),
            span(2, 1, &ours, Status::Ok),
            span(3, 0x00f0_67aa_0ba9_02b7, &other, Status::error("it broke")),
            span(4, 2, &ours, Status::error("")),
        ]
    }

    #[test]
    fn writes_what_the_reference_conversion_makes() {
        let resource = Resource::builder()
            .with_service_name("mediastore")
            .with_attribute(KeyValue::new("deployment.environment", "test"))
            .with_schema_url([], "https://opentelemetry.io/schemas/1.2.0")
            .build();
        let batch = spans();
        let written = exporter(&resource).encode(&batch);
        let decoded = ExportTraceServiceRequest::decode(written.as_slice()).expect("protobuf");
        let reference = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                batch,
                &ResourceAttributesWithSchema::from(&resource),
            ),
        };
        assert_eq!(decoded, reference);
    }

    #[test]
    fn an_empty_batch_is_one_resource_without_scopes() {
        let resource = Resource::builder_empty().build();
        let written = exporter(&resource).encode(&[]);
        let decoded = ExportTraceServiceRequest::decode(written.as_slice()).expect("protobuf");
        assert_eq!(decoded.resource_spans.len(), 1);
        assert!(decoded.resource_spans[0].scope_spans.is_empty());
    }

    #[test]
    fn headers_are_pairs_with_url_decoded_values() {
        let headers = parse_headers("api-key=a%20b%2Cc , x-tenant = t1,").expect("headers");
        assert_eq!(headers["api-key"], "a b,c");
        assert_eq!(headers["x-tenant"], "t1");
        let error = parse_headers("api-key").expect_err("no value").to_string();
        assert!(error.contains("key=value"), "{error}");
        assert_eq!(url_decode("100%"), None);
        assert_eq!(url_decode("%+1"), None);
        assert_eq!(url_decode("%e2%82%ac"), Some("€".to_string()));
    }
}
