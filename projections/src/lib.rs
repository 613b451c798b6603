//! mediastore's read side: the relational read models that list and detail are served from,
//! the writes a projector makes to them, and their queries.
//!
//! It knows no events and no HTTP. The SQL is written once over `sqlx::Any`, because the two
//! backends agree on every statement here (integers, text, `ON CONFLICT`, `RETURNING`, partial
//! indexes); the schemas, which do differ, live in `migrations/{postgres,sqlite}`.

mod cells;
mod error;
mod list_query;
mod media_files;
mod rebuild;
mod rows;
mod sql;

pub use error::ReadModelError;
pub use list_query::{ListFilter, ListQuery, ListStatements, Page, Sort, SortField};
pub use media_files::MediaReadModel;
pub use rebuild::{ChangeNotes, Rebuild, RebuildProgress, Swap};
pub use rows::{FileRow, NewFile, Position, ThumbnailRow, UserRef, Write};
pub use sql::Sql;

/// Install the sqlx `Any` drivers; call once before connecting an `AnyPool`.
pub fn install_drivers() {
    sqlx::any::install_default_drivers();
}
