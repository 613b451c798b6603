//! Seed 004's CMS-style API, `/api/media`, over the same files, events and blobs as the
//! primary API (SPEC §9): page/page_size paging, a `data`/`meta` envelope, UUID ids.

mod delete;
mod detail;
mod list;
mod representation;
mod upload;

use axum::routing::get;
use axum::Router;
use uuid::Uuid;

use super::files::upload_body_limit;
use super::AppState;
use crate::media::SizeLimits;

pub fn router(limits: &SizeLimits) -> Router<AppState> {
    Router::new()
        .route(
            "/api/media",
            get(list::list)
                .post(upload::upload)
                .layer(upload_body_limit(limits)),
        )
        .route(
            "/api/media/{id}",
            get(detail::detail).delete(delete::delete),
        )
}

/// A file's id is its UUID written lower-case and hyphenated; any other spelling names
/// nothing (SPEC §9).
fn parse_uuid(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw)
        .ok()
        .filter(|uuid| uuid.hyphenated().to_string() == raw)
}
