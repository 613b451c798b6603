//! The primary API, `/api/media/files` (seeds 000–003): one endpoint per file.

mod delete;
mod detail;
mod form;
mod history;
mod list;
mod update;
mod upload;

pub(crate) use list::{integer, invalid, search_terms, QueryParams};
pub(crate) use upload::read_upload;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::media::SizeLimits;

/// Room for the multipart framing and the text fields around the largest file.
const MULTIPART_OVERHEAD: u64 = 1024 * 1024;

/// The body limit of an upload route: the largest file, and room for the rest of the form.
pub(crate) fn upload_body_limit(limits: &SizeLimits) -> DefaultBodyLimit {
    DefaultBodyLimit::max(usize::try_from(limits.max() + MULTIPART_OVERHEAD).unwrap_or(usize::MAX))
}

pub fn router(limits: &SizeLimits) -> Router<AppState> {
    Router::new()
        .route(
            "/api/media/files",
            get(list::list)
                .post(upload::upload)
                .layer(upload_body_limit(limits)),
        )
        .route(
            "/api/media/files/{id}",
            get(detail::detail)
                .patch(update::patch)
                .put(update::put)
                .delete(delete::delete),
        )
        .route("/api/media/files/{id}/history", get(history::history))
}

/// A path id that is not a positive integer cannot name a file: 404, as a missing one is.
fn parse_id(raw: &str) -> Option<i64> {
    let id = raw.parse::<i64>().ok().filter(|id| *id > 0)?;
    crate::telemetry::record_on_request("file.id", id);
    Some(id)
}
