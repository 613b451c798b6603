//! What happened to a media file. Event names and field meanings are frozen once written:
//! a change of shape gets a new `event_version` and an upcaster.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{
    AvFacts, BlobHash, Description, FileName, ImageFacts, MediaType, ThumbnailFacts,
};

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
    /// Images only. Added in version 2 of `uploaded`; version 1 events are upcast (`upcast`).
    pub image: Option<ImageFacts>,
    /// Audio and video only. Added in version 2 too.
    pub av: Option<AvFacts>,
    /// Images only: the four thumbnails, in box order. Added in version 2 too.
    pub thumbnails: Vec<ThumbnailFacts>,
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
        match self {
            MediaFileEvent::Uploaded(_) => "2",
            MediaFileEvent::MetadataUpdated(_) | MediaFileEvent::Deleted { .. } => "1",
        }
        .to_string()
    }
}

/// Whether a stored payload of this version already has the current shape.
pub fn is_current(event_type: &str, version: &str) -> bool {
    upcast(event_type, version, serde_json::Value::Null).0 == version
}

/// A stored payload as the event it records, whatever its version.
pub fn read_payload(
    event_type: &str,
    version: &str,
    json: &str,
) -> Result<MediaFileEvent, serde_json::Error> {
    if is_current(event_type, version) {
        return serde_json::from_str(json);
    }
    let (_, payload) = upcast(event_type, version, serde_json::from_str(json)?);
    serde_json::from_value(payload)
}

/// Bring a stored payload of an older version to the current shape, one version at a time.
/// Returns the version it now has. The stored events themselves are never rewritten.
pub fn upcast(
    event_type: &str,
    version: &str,
    mut payload: serde_json::Value,
) -> (String, serde_json::Value) {
    match (event_type, version) {
        // Version 1 of `uploaded` carried no image facts: an old image reads as one whose
        // facts are unknown, never as a guess.
        (MediaFileEvent::UPLOADED, "1") => {
            if let Some(facts) = payload.get_mut("Uploaded").and_then(|f| f.as_object_mut()) {
                facts.entry("image").or_insert(serde_json::Value::Null);
                facts.entry("av").or_insert(serde_json::Value::Null);
                facts.entry("thumbnails").or_insert(serde_json::json!([]));
            }
            ("2".to_string(), payload)
        }
        _ => (version.to_string(), payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_upload_is_upcast_to_version_2_with_unknown_image_facts() {
        let v1 = serde_json::json!({"Uploaded": {"file_id": 1}});
        let (version, payload) = upcast(MediaFileEvent::UPLOADED, "1", v1);
        assert_eq!(version, "2");
        assert_eq!(
            payload,
            serde_json::json!({"Uploaded": {"file_id": 1, "image": null, "av": null, "thumbnails": []}})
        );
    }

    #[test]
    fn current_versions_pass_through_unchanged() {
        let v2 = serde_json::json!({"Uploaded": {"image": {"width": 1}}});
        assert_eq!(
            upcast(MediaFileEvent::UPLOADED, "2", v2.clone()),
            ("2".into(), v2)
        );
        let deleted = serde_json::json!({"Deleted": {}});
        assert_eq!(
            upcast(MediaFileEvent::DELETED, "1", deleted.clone()),
            ("1".into(), deleted)
        );
    }
}
