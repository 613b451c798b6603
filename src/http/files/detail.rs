//! `GET /api/media/files/{id}` (seed 001), and `?as_of=<RFC 3339 time>`: the file as it was
//! then, rebuilt from its events.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};

use super::list::{invalid, QueryParams};
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
    RawQuery(raw): RawQuery,
) -> Result<Json<MediaFileJson>> {
    user.require(Permission::Read)?;
    let id = parse_id(&id).ok_or_else(ApiError::media_not_found)?;
    let params = QueryParams::parse(raw.as_deref().unwrap_or(""));
    let file = match params.get("as_of") {
        None => state.media.get(id).await?,
        Some(as_of) => {
            // An unescaped `+` of an offset arrives as a space.
            let at = DateTime::parse_from_rfc3339(&as_of.trim().replace(' ', "+"))
                .map_err(|_| invalid("as_of", "must be an RFC 3339 time"))?;
            state.media.get_as_of(id, at.with_timezone(&Utc)).await?
        }
    };
    Ok(Json(MediaFileJson::new(&file, &base)))
}
