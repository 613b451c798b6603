//! `POST /api/media`: multipart with the file in `file` (or `f`) and an optional `name`;
//! 201 `{"data": {...}}`. The primary API's upload pipeline, with seed 004's 500 messages.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;

use super::representation::{CmsMediaJson, Data};
use crate::accounts::Permission;
use crate::http::error::{ApiError, Result};
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::files::read_upload;
use crate::http::AppState;
use crate::service::ServiceError;

pub async fn upload(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Data<CmsMediaJson>>)> {
    user.require(Permission::Create)?;
    let request = read_upload(&state, multipart, &["file", "f"])
        .await
        .map_err(|error| match error {
            ApiError::Internal(cause) => ApiError::Failed {
                message: "Failed to upload file",
                cause,
            },
            other => other,
        })?;
    let row = state
        .media
        .upload(&user.actor(), request)
        .await
        .map_err(|error| match error {
            ServiceError::Blob(cause) => ApiError::Failed {
                message: "Failed to upload file",
                cause: cause.to_string(),
            },
            other => ApiError::Failed {
                message: "Failed to create media record",
                cause: other.to_string(),
            },
        })?;
    Ok((
        StatusCode::CREATED,
        Json(Data {
            data: CmsMediaJson::new(&row, &base),
        }),
    ))
}
