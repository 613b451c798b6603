//! `POST /api/media/files`: multipart `f` (required), `name`, `description` (seed 002, SPEC §4),
//! and the multipart reading both APIs share.

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use futures_util::TryStreamExt;

use crate::accounts::Permission;
use crate::domain::{Description, FileName};
use crate::http::error::{ApiError, Result};
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::files::form::read_text;
use crate::http::representation::MediaFileJson;
use crate::http::AppState;
use crate::media::{ingest, Hints, IngestError, Ingested};
use crate::service::UploadRequest;

pub async fn upload(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<MediaFileJson>)> {
    user.require(Permission::Create)?;
    let request = read_upload(&state, multipart, &["f"]).await?;
    let row = state.media.upload(&user.actor(), request).await?;
    Ok((StatusCode::CREATED, Json(MediaFileJson::new(&row, &base))))
}

/// Read a multipart upload: the file from the first of `file_fields` present (streamed to
/// disk, hashed and typed as it arrives), `name` and `description`; validated per SPEC §4-5.
/// Shared by both APIs.
pub async fn read_upload(
    state: &AppState,
    multipart: Result<Multipart, MultipartRejection>,
    file_fields: &[&str],
) -> Result<UploadRequest> {
    let mut multipart = multipart.map_err(|_| ApiError::BadRequest("No file uploaded".into()))?;
    let mut file: Option<(Ingested, String)> = None;
    let mut name: Option<String> = None;
    let mut description: Option<String> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some(part) if file_fields.contains(&part) => {
                if file.is_some() {
                    return Err(ApiError::BadRequest("Send exactly one file".into()));
                }
                // A part's headers never hold control bytes, NUL included (multer refuses
                // them as malformed), so neither does the name, which PostgreSQL could not
                // store (see `domain::values::refuse_nul`).
                let original = match field.file_name() {
                    Some(name) => name.to_string(),
                    // The part names a file that could not be read: not UTF-8, or RFC 5987's
                    // `filename*`, which RFC 7578 rules out for forms.
                    None if names_a_file(&field) => return Err(ApiError::BadRequest(
                        "The file's name could not be read: send it as UTF-8 in filename=\"...\""
                            .into(),
                    )),
                    None => String::new(),
                };
                // A form sends `filename=""` when no file was chosen.
                if original.is_empty() {
                    return Err(ApiError::BadRequest("No file uploaded".into()));
                }
                let hints = Hints {
                    file_name: original.clone(),
                    mime: field.content_type().unwrap_or_default().to_string(),
                };
                let body = field.map_err(|e| ingest_error(&e));
                let ingested =
                    ingest(state.media.blobs.as_ref(), body, &hints, &state.limits).await?;
                file = Some((ingested, original));
            }
            Some("name") => name = Some(read_text(field, "name").await?),
            Some("description") => description = Some(read_text(field, "description").await?),
            // Unknown parts are read past (the body limit bounds them) and ignored.
            _ => drop(field),
        }
    }
    let (ingested, original_filename) =
        file.ok_or_else(|| ApiError::BadRequest("No file uploaded".into()))?;

    let name = match name.filter(|n| !n.is_empty()) {
        Some(given) => FileName::parse(given).map_err(|e| ApiError::Field {
            field: "name",
            message: e.0,
        })?,
        None => FileName::from_original(&original_filename)
            .ok_or_else(|| ApiError::BadRequest("No file uploaded".into()))?,
    };
    let description =
        Description::parse(description.unwrap_or_default()).map_err(|e| ApiError::Field {
            field: "description",
            message: e.0,
        })?;
    Ok(UploadRequest {
        ingested,
        original_filename,
        name,
        description,
    })
}

/// Whether a part's `Content-Disposition` has a file name parameter, readable or not.
fn names_a_file(field: &axum::extract::multipart::Field<'_>) -> bool {
    field
        .headers()
        .get(axum::http::header::CONTENT_DISPOSITION)
        .is_some_and(|value| {
            value
                .as_bytes()
                .windows(b"filename".len())
                .any(|window| window.eq_ignore_ascii_case(b"filename"))
        })
}

/// A body over the route's length limit is 413; any other broken multipart is the client's.
fn ingest_error(error: &MultipartError) -> IngestError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        IngestError::BodyTooLarge
    } else {
        IngestError::Interrupted(error.body_text())
    }
}

pub(super) fn multipart_error(error: MultipartError) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge("File too large: the request body is over the limit".into())
    } else {
        ApiError::BadRequest(format!("Malformed multipart body: {}", error.body_text()))
    }
}
