//! What the service learns from an upload's bytes: its type, and (for images) its facts.

pub mod detect;
pub mod image_info;
pub mod ingest;
pub mod thumbnails;

pub use ingest::{ingest, Hints, IngestError, Ingested, SizeLimits};
