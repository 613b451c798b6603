//! A read-model row as the MediaFile JSON of SPEC §3: exact keys, in the seeds' order, with
//! the image-only keys absent (not null) for other types.

use chrono::DateTime;
use mediastore_projections::FileRow;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct MediaFileJson {
    pub id: i64,
    #[serde(rename = "type")]
    pub media_type: String,
    pub user: UserJson,
    pub f: String,
    pub name: String,
    pub description: String,
    pub size: i64,
    pub human_readable_size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnails: Option<Vec<ThumbnailJson>>,
}

#[derive(Debug, Serialize)]
pub struct UserJson {
    pub id: i64,
    pub username: String,
    pub full_name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ThumbnailJson {
    pub id: i64,
    pub f: String,
    pub size: i64,
}

impl MediaFileJson {
    pub fn new(row: &FileRow, base: &str) -> Self {
        let is_image = row.media_type == "image";
        Self {
            id: row.id,
            media_type: row.media_type.clone(),
            user: UserJson {
                id: row.user.id,
                username: row.user.username.clone(),
                full_name: full_name(&row.user.first_name, &row.user.last_name),
            },
            f: content_url(base, &row.blob_hash, &row.original_filename),
            name: row.name.clone(),
            description: row.description.clone(),
            size: row.size,
            human_readable_size: human_readable_size(row.size),
            width: row.width.filter(|_| is_image),
            height: row.height.filter(|_| is_image),
            mode: row.mode.clone().filter(|_| is_image),
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
            thumbnails: is_image.then(|| {
                row.thumbnails
                    .iter()
                    .map(|t| ThumbnailJson {
                        id: t.id,
                        f: content_url(base, &t.blob_hash, &thumbnail_name(t.box_size, &t.mime)),
                        size: t.box_size,
                    })
                    .collect()
            }),
        }
    }
}

/// `thumbnail_64x64.jpg`, as the seeds name them.
fn thumbnail_name(box_size: i64, mime: &str) -> String {
    let extension = if mime == "image/png" { "png" } else { "jpg" };
    format!("thumbnail_{box_size}x{box_size}.{extension}")
}

/// Characters kept out of a path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `<base>/media/<hash>/<file name>`: the hash names the bytes, the name is for people and
/// for `Content-Disposition`.
pub fn content_url(base: &str, hash: &str, file_name: &str) -> String {
    let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let name = if name.is_empty() { "file" } else { name };
    format!("{base}/media/{hash}/{}", utf8_percent_encode(name, SEGMENT))
}

/// First and last name joined by one space, trimmed; `None` when both are empty.
pub fn full_name(first: &str, last: &str) -> Option<String> {
    let joined = format!("{first} {last}");
    let trimmed = joined.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Python's `f"{x:.2f}"` of the size divided by 1024 while it is at least 1024.
pub fn human_readable_size(bytes: i64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in ["KB", "MB", "GB", "TB"] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.2} {unit}")
}

/// RFC 3339 in UTC with microseconds and `Z`: `2025-12-22T17:29:34.807896Z`.
pub fn timestamp(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_seeds_write_them() {
        assert_eq!(human_readable_size(512), "512 B");
        assert_eq!(human_readable_size(1408), "1.38 KB");
        assert_eq!(human_readable_size(808_754), "789.80 KB");
        assert_eq!(human_readable_size(1_728_593), "1.65 MB");
        assert_eq!(human_readable_size(1_048_575), "1024.00 KB");
        // An exact tie rounds half to even, as Python does: 1.125 -> 1.12.
        assert_eq!(human_readable_size(1152), "1.12 KB");
        assert_eq!(
            human_readable_size(5 * 1024_i64.pow(4) * 1024),
            "5120.00 TB"
        );
    }

    #[test]
    fn full_names_are_trimmed_and_null_when_empty() {
        assert_eq!(full_name("zoe", ""), Some("zoe".into()));
        assert_eq!(full_name("", "doe"), Some("doe".into()));
        assert_eq!(full_name("a", "b"), Some("a b".into()));
        assert_eq!(full_name("", ""), None);
    }

    #[test]
    fn timestamps_have_microseconds_and_z() {
        assert_eq!(
            timestamp(1_766_424_574_807_896),
            "2025-12-22T17:29:34.807896Z"
        );
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn content_urls_escape_the_name() {
        assert_eq!(
            content_url("http://h", "ab", "my file #1.txt"),
            "http://h/media/ab/my%20file%20%231.txt"
        );
        assert_eq!(content_url("http://h", "ab", "../x"), "http://h/media/ab/x");
    }
}
