//! A read-model row as seed 004's media object: every key, always, null where there is none.

use mediastore_projections::FileRow;
use serde::Serialize;

use crate::http::representation::{content_url, timestamp};

#[derive(Debug, Serialize)]
pub struct CmsMediaJson {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub mime_type: String,
    pub size: i64,
    pub path: String,
    pub url: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration: Option<f64>,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: String,
}

/// Seed 004 knows four kinds: image, video, audio, and `file` for everything else.
pub fn kind_of(media_type: &str) -> &'static str {
    match media_type {
        "image" => "image",
        "video" => "video",
        "audio" => "audio",
        _ => "file",
    }
}

impl CmsMediaJson {
    pub fn new(row: &FileRow, base: &str) -> Self {
        let url = content_url(base, &row.blob_hash, &row.original_filename);
        let path = url[base.len()..].trim_start_matches('/').to_string();
        let (width, height) = match row.media_type.as_str() {
            "image" => (row.width, row.height),
            "video" => (row.video_width, row.video_height),
            _ => (None, None),
        };
        Self {
            id: row.aggregate_id.clone(),
            name: row.name.clone(),
            kind: kind_of(&row.media_type),
            mime_type: row.mime.clone(),
            size: row.size,
            path,
            url,
            width,
            height,
            duration: row.duration,
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
            created_by: row.user.uuid.clone(),
        }
    }
}

/// `{"data": ...}`, the envelope of seed 004.
#[derive(Debug, Serialize)]
pub struct Data<T> {
    pub data: T,
}
