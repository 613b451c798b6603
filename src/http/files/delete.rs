//! `DELETE /api/media/files/{id}`: 204 with an empty body (SPEC §5).

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::parse_id;
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
    let id = parse_id(&id).ok_or_else(ApiError::media_not_found)?;
    state.media.delete(&user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
