//! `GET /api/media`: `page`, `page_size`, `type`, `search` (name only), newest first;
//! `{"data": [...], "meta": {"total", "page", "page_size"}}`.

use axum::extract::{RawQuery, State};
use axum::Json;
use mediastore_projections::{ListFilter, ListQuery, Sort, SortField};
use serde::Serialize;

use super::representation::CmsMediaJson;
use crate::accounts::Permission;
use crate::domain::MediaType;
use crate::http::error::Result;
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::files::{integer, invalid, search_terms, QueryParams};
use crate::http::AppState;

const MAX_PAGE_SIZE: i64 = 100;

#[derive(Debug, Serialize)]
pub struct ListJson {
    data: Vec<CmsMediaJson>,
    meta: Meta,
}

#[derive(Debug, Serialize)]
struct Meta {
    total: i64,
    page: i64,
    page_size: i64,
}

pub async fn list(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Json<ListJson>> {
    user.require(Permission::Read)?;
    let params = QueryParams::parse(raw.as_deref().unwrap_or(""));
    let page = match integer(&params, "page")? {
        None => 1,
        Some(n) if n < 1 => return Err(invalid("page", "must be a positive integer")),
        Some(n) => n,
    };
    let page_size = match integer(&params, "page_size")? {
        None => 10,
        Some(n) if n < 1 => return Err(invalid("page_size", "must be a positive integer")),
        Some(n) => n.min(MAX_PAGE_SIZE),
    };
    let media_types: Vec<String> = match params.get("type").map(str::trim) {
        None => Vec::new(),
        Some(kind @ ("image" | "video" | "audio")) => vec![kind.to_string()],
        Some("file") => MediaType::ALL
            .iter()
            .map(|t| t.as_str())
            .filter(|t| !matches!(*t, "image" | "video" | "audio"))
            .map(str::to_string)
            .collect(),
        Some(_) => return Err(invalid("type", "must be one of image, video, audio, file")),
    };
    let query = ListQuery {
        filter: ListFilter {
            media_types,
            search: search_terms(&params)?,
            search_names_only: true,
            ..ListFilter::default()
        },
        ordering: vec![Sort {
            field: SortField::CreatedAt,
            descending: true,
        }],
        limit: page_size,
        offset: (page - 1).saturating_mul(page_size),
    };
    let found = state.media.list(&query).await?;
    Ok(Json(ListJson {
        data: found
            .files
            .iter()
            .map(|f| CmsMediaJson::new(f, &base))
            .collect(),
        meta: Meta {
            total: found.count,
            page,
            page_size,
        },
    }))
}
