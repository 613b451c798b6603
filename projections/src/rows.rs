//! The shapes the read model stores and serves.

/// One media file as list and detail serve it, its uploader joined in.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRow {
    pub id: i64,
    pub aggregate_id: String,
    pub user: UserRef,
    pub media_type: String,
    pub mime: String,
    pub blob_hash: String,
    pub original_filename: String,
    pub name: String,
    pub description: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub mode: Option<String>,
    /// Audio and video: seconds.
    pub duration: Option<f64>,
    pub video_width: Option<i64>,
    pub video_height: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    pub thumbnails: Vec<ThumbnailRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub id: i64,
    pub uuid: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailRow {
    pub id: i64,
    pub box_size: i64,
    pub blob_hash: String,
    pub mime: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
}

/// A new file as a projector inserts it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    pub id: i64,
    pub aggregate_id: String,
    pub user_id: i64,
    pub media_type: String,
    pub mime: String,
    pub blob_hash: String,
    pub original_filename: String,
    pub name: String,
    pub description: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub mode: Option<String>,
    pub duration: Option<f64>,
    pub video_width: Option<i64>,
    pub video_height: Option<i64>,
    pub created_at: i64,
    pub thumbnails: Vec<ThumbnailRow>,
}

/// One change to the read model. `version` is the aggregate sequence of the event it comes
/// from: a row that has already seen that version ignores it, so replays are harmless.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Insert {
        version: i64,
        file: Box<NewFile>,
    },
    UpdateMetadata {
        aggregate_id: String,
        version: i64,
        name: Option<String>,
        description: Option<String>,
        at: i64,
    },
    Delete {
        aggregate_id: String,
        version: i64,
        at: i64,
    },
}

/// A position in the event store's commit order: the event's `global_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub seq: i64,
}
