//! `DELETE /api/media/{id}`: 204 with an empty body; gone from both APIs.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::parse_uuid;
use crate::accounts::Permission;
use crate::http::error::{ApiError, Result};
use crate::http::extract::AuthUser;
use crate::http::AppState;

pub async fn delete(
    user: AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    user.require(Permission::Delete)?;
    let uuid = parse_uuid(&id).ok_or_else(ApiError::media_not_found)?;
    let file = state.media.get_by_uuid(&uuid).await?;
    state.media.delete(&user.actor(), file.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
