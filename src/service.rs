//! The use cases: upload, read, delete. Each maps to a command or a query; the HTTP layers of
//! both APIs call these and nothing below them.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use mediastore_projections::{FileRow, ListQuery, MediaReadModel, Page, ReadModelError, UserRef};
use uuid::Uuid;

use crate::blobs::TempFile;
use crate::blobs::{BlobError, BlobLocks, BlobReader, BlobStore, Persisted};
use crate::domain::MediaFileEvent;
use crate::domain::{
    BlobHash, Description, FileName, FileUploaded, MediaFileCommand, MediaFileError,
    MetadataChange, Uploader,
};
use crate::domain::{ImageFacts, ThumbnailFacts};
use crate::media::{thumbnails, Ingested};
use crate::projector::{self, Projector, ProjectorError};
use crate::store::{CommandBus, CommandError, EventLog, IdAllocator, StoredEvent};
use crate::telemetry::Metrics;

/// Who asked, for the event metadata (the audit trail).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub user_uuid: Uuid,
    pub request_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("Media not found")]
    NotFound,
    #[error(transparent)]
    Command(CommandError),
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    #[error(transparent)]
    Projector(#[from] ProjectorError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The image cannot be decoded (corrupt, truncated, over the limits): the client's.
    #[error("{0}")]
    BadImage(String),
    #[error("making thumbnails: {0}")]
    Thumbnail(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<CommandError> for ServiceError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Rejected(MediaFileError::NotFound) => ServiceError::NotFound,
            other => ServiceError::Command(other),
        }
    }
}

pub struct MediaService {
    pub metrics: Arc<Metrics>,
    /// Bounds how many images are decoded at once.
    pub thumbnail_slots: tokio::sync::Semaphore,
    pub thumbnail_limits: thumbnails::Limits,
    pub commands: CommandBus,
    pub events: EventLog,
    pub projector: Projector,
    pub read_model: MediaReadModel,
    pub blobs: Arc<dyn BlobStore>,
    pub locks: BlobLocks,
    pub ids: IdAllocator,
}

/// One event of a file's history, with who caused it.
pub struct RecordedEvent {
    pub sequence: i64,
    pub version: String,
    pub event: MediaFileEvent,
    pub user: Option<UserRef>,
    pub request_id: Option<String>,
}

/// What an upload asks for besides its bytes.
pub struct UploadRequest {
    pub ingested: Ingested,
    pub original_filename: String,
    pub name: FileName,
    pub description: Description,
}

impl MediaService {
    pub async fn upload(
        &self,
        actor: &Actor,
        request: UploadRequest,
    ) -> Result<FileRow, ServiceError> {
        let UploadRequest {
            ingested,
            original_filename,
            name,
            description,
        } = request;
        let thumbnails = match &ingested.image {
            Some(image) => self.thumbnails_for(&ingested, image).await?,
            None => Vec::new(),
        };
        let file_id = self.ids.next_file_id().await?;
        let (facts_type, size) = (ingested.detected.media_type, ingested.size);
        let file_uuid = Uuid::new_v4();
        let facts = FileUploaded {
            file_id,
            file_uuid,
            blob: ingested.hash.clone(),
            size: ingested.size,
            media_type: ingested.detected.media_type,
            mime: ingested.detected.mime.clone(),
            original_filename,
            name,
            description,
            uploader: Uploader {
                id: actor.user_id,
                uuid: actor.user_uuid,
            },
            at: now(),
            image: ingested.image.clone(),
            av: ingested.av.clone(),
            thumbnails: thumbnails.iter().map(|(facts, _)| facts.clone()).collect(),
        };
        let aggregate_id = file_uuid.to_string();
        let mut hashes = vec![ingested.hash.clone()];
        hashes.extend(thumbnails.iter().map(|(facts, _)| facts.blob.clone()));
        let projected = {
            // Held until the file is projected (or that has failed): a concurrent delete of
            // another file with the same bytes then sees this one as a user of its blobs.
            let _guards = self.locks.lock_all(&hashes).await;
            let mut created = Vec::new();
            if self.blobs.persist(ingested.temp, &ingested.hash).await? == Persisted::Created {
                created.push(ingested.hash.clone());
            }
            let deduplicated = created.is_empty();
            for (facts, temp) in thumbnails {
                if let Some(temp) = temp {
                    if self.blobs.persist(temp, &facts.blob).await? == Persisted::Created {
                        created.push(facts.blob);
                    }
                }
            }
            let command = MediaFileCommand::Upload(Box::new(facts));
            if let Err(error) = self
                .commands
                .execute(&aggregate_id, command, metadata(actor))
                .await
            {
                for hash in &created {
                    self.blobs.remove(hash).await?;
                }
                return Err(error.into());
            }
            let projected = self.project(&aggregate_id).await;
            self.metrics
                .record_upload(facts_type.as_str(), size, deduplicated);
            projected
        };
        crate::telemetry::record_on_request("file.id", file_id);
        self.changed_file(projected, &aggregate_id, file_id).await
    }

    /// Bring the read model up to date with a file's events just recorded; whether it is.
    /// The events are recorded whatever happens here, so a failure is logged, not answered:
    /// the follower projects them later, and the caller answers from the events meanwhile
    /// (an error would tell the client that what was done was not, and invite a retry).
    async fn project(&self, aggregate_id: &str) -> bool {
        match self.projector.catch_up_file(aggregate_id).await {
            Ok(applied) => {
                self.metrics.events_appended.add(applied, &[]);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "change recorded; its projection is left to the follower");
                false
            }
        }
    }

    /// A file just changed, as `project` left it: from the read model, or from its events.
    async fn changed_file(
        &self,
        projected: bool,
        aggregate_id: &str,
        id: i64,
    ) -> Result<FileRow, ServiceError> {
        if projected {
            self.get(id).await
        } else {
            self.file_from_events(aggregate_id, now()).await
        }
    }

    /// The four thumbnails of an image, each with its temporary file when it is new. An image
    /// whose bytes are already stored reuses the thumbnails made for it (new ids, same blobs).
    async fn thumbnails_for(
        &self,
        ingested: &Ingested,
        image: &ImageFacts,
    ) -> Result<Vec<(ThumbnailFacts, Option<TempFile>)>, ServiceError> {
        let existing = self
            .read_model
            .thumbnails_of_blob(ingested.hash.as_str())
            .await?;
        let mut out = Vec::new();
        if existing.len() == thumbnails::BOXES.len() {
            for row in existing {
                let blob = BlobHash::parse(&row.blob_hash)
                    .ok_or_else(|| ServiceError::BadImage("stored thumbnail hash".into()))?;
                out.push((
                    ThumbnailFacts {
                        id: self.ids.next_thumbnail_id().await?,
                        box_size: u32::try_from(row.box_size).unwrap_or_default(),
                        blob,
                        width: u32::try_from(row.width).unwrap_or_default(),
                        height: u32::try_from(row.height).unwrap_or_default(),
                        bytes: u64::try_from(row.bytes).unwrap_or_default(),
                        mime: row.mime,
                    },
                    None,
                ));
            }
            return Ok(out);
        }
        // Decoding is CPU work: at most one per core at a time, off the async workers.
        let _slot = self
            .thumbnail_slots
            .acquire()
            .await
            .map_err(|e| ServiceError::BadImage(e.to_string()))?;
        let path = ingested.temp.path().to_path_buf();
        let source = thumbnails::SourceFacts {
            width: image.width,
            height: image.height,
            orientation: image.orientation,
            has_alpha: image.has_alpha,
        };
        let limits = self.thumbnail_limits;
        // The blocking thread's spans are the request's children.
        let parent = crate::telemetry::Parent::current();
        let started = std::time::Instant::now();
        let made = tokio::task::spawn_blocking(move || {
            let _entered = parent.enter();
            thumbnails::make_thumbnails(&path, &source, &limits)
        })
        .await
        .map_err(|e| ServiceError::BadImage(e.to_string()))?
        .map_err(|e| match e {
            thumbnails::ThumbnailError::Encode(cause) => ServiceError::Thumbnail(cause),
            refused => ServiceError::BadImage(refused.to_string()),
        })?;
        self.metrics
            .thumbnail_duration
            .record(started.elapsed().as_secs_f64(), &[]);
        for thumbnail in made {
            let blob = BlobHash::from_bytes(*blake3::hash(&thumbnail.bytes).as_bytes());
            let temp = self.blobs.temp_file_with(&thumbnail.bytes).await?;
            out.push((
                ThumbnailFacts {
                    id: self.ids.next_thumbnail_id().await?,
                    box_size: thumbnail.box_size,
                    blob,
                    width: thumbnail.width,
                    height: thumbnail.height,
                    bytes: thumbnail.bytes.len() as u64,
                    mime: thumbnail.format.mime_type().to_string(),
                },
                Some(temp),
            ));
        }
        Ok(out)
    }

    pub async fn get(&self, id: i64) -> Result<FileRow, ServiceError> {
        self.read_model.get(id).await?.ok_or(ServiceError::NotFound)
    }

    /// A live file by its UUID (seed 004's `id`).
    pub async fn get_by_uuid(&self, uuid: &Uuid) -> Result<FileRow, ServiceError> {
        self.read_model
            .get_by_aggregate_id(&uuid.to_string())
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Page, ServiceError> {
        Ok(self.read_model.list(query).await?)
    }

    /// Change the name and/or description; an update that changes nothing records no event.
    pub async fn update(
        &self,
        actor: &Actor,
        file: &FileRow,
        name: Option<FileName>,
        description: Option<Description>,
    ) -> Result<FileRow, ServiceError> {
        let command = MediaFileCommand::UpdateMetadata(MetadataChange {
            name,
            description,
            at: now(),
        });
        self.commands
            .execute(&file.aggregate_id, command, metadata(actor))
            .await?;
        let projected = self.project(&file.aggregate_id).await;
        self.changed_file(projected, &file.aggregate_id, file.id)
            .await
    }

    /// Every event of a file, oldest first, also once it is deleted.
    pub async fn history(&self, id: i64) -> Result<Vec<RecordedEvent>, ServiceError> {
        let aggregate_id = self
            .read_model
            .aggregate_id_of(id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let stored = self.events.events_of(&aggregate_id, 0).await?;
        let user_of = |event: &StoredEvent| {
            event
                .metadata_entry("user_id")
                .and_then(|v| v.parse::<i64>().ok())
        };
        let mut user_ids: Vec<i64> = stored.iter().filter_map(user_of).collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let users = self.read_model.users(&user_ids).await?;
        stored
            .iter()
            .map(|e| {
                Ok(RecordedEvent {
                    sequence: e.sequence,
                    version: e.event_version.clone(),
                    event: projector::decode(e)?,
                    user: user_of(e).and_then(|id| users.iter().find(|u| u.id == id).cloned()),
                    request_id: e.metadata_entry("request_id"),
                })
            })
            .collect()
    }

    /// A file as it was at `at`, rebuilt from its events.
    pub async fn get_as_of(&self, id: i64, at: DateTime<Utc>) -> Result<FileRow, ServiceError> {
        let aggregate_id = self
            .read_model
            .aggregate_id_of(id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.file_from_events(&aggregate_id, at).await
    }

    /// A file as its events made it at `at` (not found if it did not exist then, or was
    /// deleted), in the read model's shape.
    async fn file_from_events(
        &self,
        aggregate_id: &str,
        at: DateTime<Utc>,
    ) -> Result<FileRow, ServiceError> {
        let stored = self.events.events_of(aggregate_id, 0).await?;
        let (file, updated_at) =
            projector::file_as_of(&stored, at)?.ok_or(ServiceError::NotFound)?;
        let user = self
            .read_model
            .users(&[file.user_id])
            .await?
            .pop()
            .ok_or(ServiceError::NotFound)?;
        Ok(FileRow {
            id: file.id,
            aggregate_id: aggregate_id.to_string(),
            user,
            media_type: file.media_type,
            mime: file.mime,
            blob_hash: file.blob_hash,
            original_filename: file.original_filename,
            name: file.name,
            description: file.description,
            size: file.size,
            width: file.width,
            height: file.height,
            mode: file.mode,
            duration: file.duration,
            video_width: file.video_width,
            video_height: file.video_height,
            created_at: file.created_at,
            updated_at,
            thumbnails: file.thumbnails,
        })
    }

    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<(), ServiceError> {
        let file = self.get(id).await?;
        let command = MediaFileCommand::Delete { at: now() };
        self.commands
            .execute(&file.aggregate_id, command, metadata(actor))
            .await?;
        // The delete is recorded: what follows cannot undo it. Unprojected, the startup
        // sweep removes any blob left behind.
        if !self.project(&file.aggregate_id).await {
            return Ok(());
        }
        let hashes = std::iter::once(file.blob_hash.as_str())
            .chain(file.thumbnails.iter().map(|t| t.blob_hash.as_str()));
        for hash in hashes.filter_map(BlobHash::parse) {
            if let Err(error) = self.remove_blob_if_unused(&hash).await {
                tracing::warn!(%error, blob = %hash, "could not remove an unused blob; the startup sweep will");
            }
        }
        Ok(())
    }

    /// A stored blob and the MIME type it is served as, if a live file uses it.
    pub async fn open_blob(
        &self,
        hash: &BlobHash,
    ) -> Result<Option<(BlobReader, String)>, ServiceError> {
        let Some(mime) = self.read_model.blob_mime(hash.as_str()).await? else {
            return Ok(None);
        };
        Ok(self.blobs.open(hash).await?.map(|reader| (reader, mime)))
    }

    /// Remove a blob unless a live file or thumbnail uses it; whether it was removed.
    async fn remove_blob_if_unused(&self, hash: &BlobHash) -> Result<bool, ServiceError> {
        // The lock is held by an upload from storing its blob until its file is projected.
        let _guard = self.locks.lock(hash).await;
        if self.read_model.blob_in_use(hash.as_str()).await? {
            return Ok(false);
        }
        self.blobs.remove(hash).await?;
        Ok(true)
    }

    /// Remove every stored blob that no file refers to: what an upload interrupted between
    /// storing its bytes and recording its event leaves behind. Returns how many went.
    pub async fn sweep_orphan_blobs(&self) -> Result<u64, ServiceError> {
        let mut removed = 0;
        for shard in 0..=u16::MAX {
            for hash in self.blobs.list_shard(shard).await? {
                if self.remove_blob_if_unused(&hash).await? {
                    tracing::warn!(blob = %hash, "removed a blob that no file refers to");
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Times are kept to the microsecond, as the API writes them.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn metadata(actor: &Actor) -> HashMap<String, String> {
    HashMap::from([
        ("user_id".to_string(), actor.user_id.to_string()),
        ("user_uuid".to_string(), actor.user_uuid.to_string()),
        ("request_id".to_string(), actor.request_id.clone()),
        ("timestamp".to_string(), now().to_rfc3339()),
    ])
}
