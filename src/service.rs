//! The use cases: upload, read, delete. Each maps to a command or a query; the HTTP layers of
//! both APIs call these and nothing below them.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use mediastore_projections::{FileRow, ListQuery, MediaReadModel, Page, ReadModelError};
use uuid::Uuid;

use crate::blobs::{BlobError, BlobLocks, BlobReader, BlobStore, Persisted};
use crate::domain::{
    BlobHash, Description, FileName, FileUploaded, MediaFileCommand, MediaFileError,
    MetadataChange, Uploader,
};
use crate::media::Ingested;
use crate::projector::{Projector, ProjectorError};
use crate::store::{CommandBus, CommandError, IdAllocator};

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
    #[error("allocating an id: {0}")]
    Ids(#[from] sqlx::Error),
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
    pub commands: CommandBus,
    pub projector: Projector,
    pub read_model: MediaReadModel,
    pub blobs: Arc<dyn BlobStore>,
    pub locks: BlobLocks,
    pub ids: IdAllocator,
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
        let file_id = self.ids.next_file_id().await?;
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
        };
        let aggregate_id = file_uuid.to_string();
        {
            // Held until the file is projected: a concurrent delete of another file with the
            // same bytes then sees this one as a user of the blob.
            let _guard = self.locks.lock(&ingested.hash).await;
            let persisted = self.blobs.persist(ingested.temp, &ingested.hash).await?;
            let command = MediaFileCommand::Upload(Box::new(facts));
            if let Err(error) = self
                .commands
                .execute(&aggregate_id, command, metadata(actor))
                .await
            {
                if persisted == Persisted::Created {
                    self.blobs.remove(&ingested.hash).await?;
                }
                return Err(error.into());
            }
            self.projector.catch_up_file(&aggregate_id).await?;
        }
        self.read_model
            .get(file_id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn get(&self, id: i64) -> Result<FileRow, ServiceError> {
        self.read_model.get(id).await?.ok_or(ServiceError::NotFound)
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
        self.projector.catch_up_file(&file.aggregate_id).await?;
        self.get(file.id).await
    }

    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<(), ServiceError> {
        let file = self.get(id).await?;
        let command = MediaFileCommand::Delete { at: now() };
        self.commands
            .execute(&file.aggregate_id, command, metadata(actor))
            .await?;
        self.projector.catch_up_file(&file.aggregate_id).await?;
        let hashes = std::iter::once(file.blob_hash.as_str())
            .chain(file.thumbnails.iter().map(|t| t.blob_hash.as_str()));
        for hash in hashes.filter_map(BlobHash::parse) {
            self.remove_blob_if_unused(&hash).await?;
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

    async fn remove_blob_if_unused(&self, hash: &BlobHash) -> Result<(), ServiceError> {
        let _guard = self.locks.lock(hash).await;
        if !self.read_model.blob_in_use(hash.as_str()).await? {
            self.blobs.remove(hash).await?;
        }
        Ok(())
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
