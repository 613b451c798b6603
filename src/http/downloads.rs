//! `GET|HEAD /media/<hash>/<name>`: the stored bytes, without a token (the URL carries the
//! content hash), with a strong ETag, ranges and immutable caching (SPEC §1).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::error::{ApiError, Result};
use super::AppState;
use crate::domain::BlobHash;

pub async fn download(
    State(state): State<AppState>,
    Path((hash, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let not_found = || ApiError::NotFound("Not found");
    let hash = BlobHash::parse(&hash).ok_or_else(not_found)?;
    let (mut reader, mime) = state.media.open_blob(&hash).await?.ok_or_else(not_found)?;
    let etag = format!("\"{hash}\"");

    let mut response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::ACCEPT_RANGES, "bytes");

    if if_none_match(&headers, &etag) {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(ApiError::internal);
    }

    let len = reader.len;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => match parse_range(value, len) {
            RangeRequest::Ignore => None,
            RangeRequest::Satisfiable(start, end) => Some((start, end)),
            RangeRequest::Unsatisfiable => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                )
                    .into_response());
            }
        },
    };

    let disposition = if mime.starts_with("image/") {
        "inline"
    } else {
        "attachment"
    };
    response = response.header(header::CONTENT_TYPE, mime).header(
        header::CONTENT_DISPOSITION,
        content_disposition(disposition, &name),
    );

    let (status, start, count) = match range {
        Some((start, end)) => {
            response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, len),
    };
    if start > 0 {
        reader
            .file
            .seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(ApiError::internal)?;
    }
    let body = Body::from_stream(ReaderStream::with_capacity(
        reader.file.take(count),
        64 * 1024,
    ));
    response
        .status(status)
        .header(header::CONTENT_LENGTH, count)
        .body(body)
        .map_err(ApiError::internal)
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// Not a single byte range we understand: answer with the whole content, as RFC 9110 allows.
    Ignore,
    Satisfiable(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range: `a-b`, `a-` or `-n` (the last n bytes). Inclusive bounds.
fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignore;
    };
    if spec.contains(',') {
        return RangeRequest::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignore;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => RangeRequest::Ignore,
        (true, false) => match parse(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Satisfiable(len.saturating_sub(n), len - 1),
            None => RangeRequest::Ignore,
        },
        (false, open_end) => {
            let Some(start) = parse(first) else {
                return RangeRequest::Ignore;
            };
            let end = if open_end {
                Some(len.saturating_sub(1))
            } else {
                parse(last)
            };
            match end {
                None => RangeRequest::Ignore,
                Some(_) if start >= len => RangeRequest::Unsatisfiable,
                Some(end) if end < start => RangeRequest::Ignore,
                Some(end) => RangeRequest::Satisfiable(start, end.min(len - 1)),
            }
        }
    }
}

/// `inline` or `attachment`, with an ASCII fallback name and the exact UTF-8 one (RFC 6266).
fn content_disposition(kind: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-3", 10), Satisfiable(0, 3));
        assert_eq!(parse_range("bytes=5-", 10), Satisfiable(5, 9));
        assert_eq!(parse_range("bytes=-3", 10), Satisfiable(7, 9));
        assert_eq!(parse_range("bytes=-30", 10), Satisfiable(0, 9));
        assert_eq!(parse_range("bytes=8-100", 10), Satisfiable(8, 9));
        assert_eq!(parse_range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(parse_range("bytes=3-1", 10), Ignore);
        assert_eq!(parse_range("bytes=0-1,4-5", 10), Ignore);
        assert_eq!(parse_range("items=0-1", 10), Ignore);
    }

    #[test]
    fn the_disposition_keeps_the_name_safe() {
        let value = content_disposition("attachment", "a\"b\r\n.txt");
        let text = value.to_str().expect("ascii");
        assert!(
            text.starts_with("attachment; filename=\"a_b__.txt\""),
            "{text}"
        );
    }
}
