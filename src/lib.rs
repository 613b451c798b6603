//! mediastore: a media-file service. Event-sourced writes (cqrs-es), content-addressed blobs,
//! relational read models, on SQLite or PostgreSQL.

// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

/// Users, permissions and API tokens.
pub mod accounts;
/// Wiring of the server: build, bind, serve, shut down.
pub mod app;
/// Content-addressed blob storage.
pub mod blobs;
/// The `mediastore` command line.
pub mod cli;
/// Configuration from flags and environment.
pub mod config;
/// The write-side model: aggregate, commands, events, values. No I/O.
pub mod domain;
/// The HTTP API.
pub mod http;
/// Type detection and the upload pipeline.
pub mod media;
/// Events to read-model writes.
pub mod projector;
/// The use cases the HTTP layers call.
pub mod service;
/// Databases: connection, migrations, event store, id allocation.
pub mod store;
/// Metrics (Prometheus text at /metrics).
pub mod telemetry;
