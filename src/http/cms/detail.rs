//! `GET /api/media/{id}`: one file by UUID, `{"data": {...}}`.

use axum::extract::{Path, State};
use axum::Json;

use super::parse_uuid;
use super::representation::{CmsMediaJson, Data};
use crate::accounts::Permission;
use crate::http::error::{ApiError, Result};
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::AppState;

pub async fn detail(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Data<CmsMediaJson>>> {
    user.require(Permission::Read)?;
    let uuid = parse_uuid(&id).ok_or_else(ApiError::media_not_found)?;
    let file = state.media.get_by_uuid(&uuid).await?;
    Ok(Json(Data {
        data: CmsMediaJson::new(&file, &base),
    }))
}
