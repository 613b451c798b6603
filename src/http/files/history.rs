//! `GET /api/media/files/{id}/history`: every event of a file, oldest first, paged like the
//! list (SPEC §7). Deleted files keep their history.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use cqrs_es::DomainEvent;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::list::{paging, PageJson, PageLinks, QueryParams};
use super::parse_id;
use crate::accounts::Permission;
use crate::domain::MediaFileEvent;
use crate::http::error::{ApiError, Result};
use crate::http::extract::{AuthUser, BaseUrl};
use crate::http::representation::timestamp;
use crate::http::AppState;
use crate::service::RecordedEvent;

#[derive(Debug, Serialize)]
pub struct HistoryJson {
    sequence: i64,
    event: String,
    version: i64,
    at: String,
    user: Option<Value>,
    request_id: Option<String>,
    data: Value,
}

pub async fn history(
    user: AuthUser,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<PageJson<HistoryJson>>> {
    user.require(Permission::Read)?;
    let id = parse_id(&id).ok_or_else(ApiError::media_not_found)?;
    let params = QueryParams::parse(raw.as_deref().unwrap_or(""));
    let (limit, offset) = paging(&params)?;
    let events = state.media.history(id).await?;
    let count = events.len() as i64;
    let links = PageLinks {
        url: format!("{base}/api/media/files/{id}/history"),
        params: &params,
        limit,
        offset,
        count,
    };
    let results = events
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(history_json)
        .collect();
    Ok(Json(PageJson {
        count,
        next: links.next(),
        previous: links.previous(),
        results,
    }))
}

fn history_json(recorded: &RecordedEvent) -> HistoryJson {
    HistoryJson {
        sequence: recorded.sequence,
        event: recorded.event.event_type(),
        version: recorded.version.parse().unwrap_or(1),
        at: timestamp(recorded.event.at().timestamp_micros()),
        user: recorded
            .user
            .as_ref()
            .map(|u| json!({"id": u.id, "username": u.username})),
        request_id: recorded.request_id.clone(),
        data: data(&recorded.event),
    }
}

/// The facts an event carries, as the API names them.
fn data(event: &MediaFileEvent) -> Value {
    match event {
        MediaFileEvent::Uploaded(f) => json!({
            "id": f.file_id,
            "uuid": f.file_uuid,
            "name": f.name.as_str(),
            "description": f.description.as_str(),
            "type": f.media_type.as_str(),
            "mime_type": f.mime,
            "size": f.size,
            "hash": f.blob.as_str(),
            "original_filename": f.original_filename,
        }),
        MediaFileEvent::MetadataUpdated(update) => {
            let mut changed = Map::new();
            if let Some(c) = &update.name {
                changed.insert(
                    "name".into(),
                    json!({"from": c.from.as_str(), "to": c.to.as_str()}),
                );
            }
            if let Some(c) = &update.description {
                changed.insert(
                    "description".into(),
                    json!({"from": c.from.as_str(), "to": c.to.as_str()}),
                );
            }
            Value::Object(changed)
        }
        MediaFileEvent::Deleted { .. } => json!({}),
    }
}
