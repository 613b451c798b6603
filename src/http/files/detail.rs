//! `GET /api/media/files/{id}` (seed 001).

use axum::extract::{Path, State};
use axum::Json;

use super::parse_id;
use crate::accounts::Permission;
use crate::http::error::{ApiError, Result};
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::representation::MediaFileJson;
use crate::http::AppState;

pub async fn detail(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<MediaFileJson>> {
    user.require(Permission::Read)?;
    let id = parse_id(&id).ok_or_else(ApiError::media_not_found)?;
    let file = state.media.get(id).await?;
    Ok(Json(MediaFileJson::new(&file, &base)))
}
