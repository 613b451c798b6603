//! What happened to a media file. Event names and field meanings are frozen once written:
//! a change of shape gets a new `event_version` and an upcaster.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{BlobHash, Description, FileName, MediaType};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MediaFileEvent {
    Uploaded(FileUploaded),
    MetadataUpdated(MetadataUpdated),
    Deleted { at: DateTime<Utc> },
}

/// Every fact the API shows about a new file, so a rebuilt read model needs nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileUploaded {
    /// The public integer id of seeds 000–003, allocated when the upload was accepted.
    pub file_id: i64,
    /// The aggregate id, seed 004's `id`.
    pub file_uuid: Uuid,
    pub blob: BlobHash,
    pub size: u64,
    pub media_type: MediaType,
    pub mime: String,
    /// The client's filename as sent, for `Content-Disposition` and the `f` URL.
    pub original_filename: String,
    pub name: FileName,
    pub description: Description,
    pub uploader: Uploader,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uploader {
    pub id: i64,
    pub uuid: Uuid,
}

/// The fields an update changed, each from its old to its new value; unchanged ones are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Change<FileName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Change<Description>>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

impl MediaFileEvent {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            MediaFileEvent::Uploaded(facts) => facts.at,
            MediaFileEvent::MetadataUpdated(update) => update.at,
            MediaFileEvent::Deleted { at } => *at,
        }
    }

    pub const UPLOADED: &'static str = "uploaded";
    pub const METADATA_UPDATED: &'static str = "metadata_updated";
    pub const DELETED: &'static str = "deleted";
}

impl DomainEvent for MediaFileEvent {
    fn event_type(&self) -> String {
        match self {
            MediaFileEvent::Uploaded(_) => Self::UPLOADED,
            MediaFileEvent::MetadataUpdated(_) => Self::METADATA_UPDATED,
            MediaFileEvent::Deleted { .. } => Self::DELETED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
