//! What a client asks of a media file. Values are validated before they become a command.

use chrono::{DateTime, Utc};

use super::events::FileUploaded;
use super::values::{Description, FileName};

#[derive(Debug, Clone)]
pub enum MediaFileCommand {
    /// Record a new file whose bytes are already stored; the facts become the event as they are.
    Upload(Box<UploadFile>),
    /// Change the name and/or description; `None` leaves a field as it is.
    UpdateMetadata(MetadataChange),
    Delete {
        at: DateTime<Utc>,
    },
}

/// The facts of an accepted upload: identical to what the `Uploaded` event records.
pub type UploadFile = FileUploaded;

#[derive(Debug, Clone)]
pub struct MetadataChange {
    pub name: Option<FileName>,
    pub description: Option<Description>,
    pub at: DateTime<Utc>,
}
