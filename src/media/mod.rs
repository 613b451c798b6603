//! What the service learns from an upload's bytes: its type, and (for images) its facts,
//! (for audio and video) its duration and video size.

pub mod av_probe;
pub mod detect;
pub mod image_info;
pub mod ingest;
mod jpeg_markers;
pub mod progressive_split;
pub mod reduced_jpeg;
pub mod thumbnails;

pub use ingest::{ingest, Hints, IngestError, Ingested, SizeLimits};
