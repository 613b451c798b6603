//! The projector: turns stored events into read-model writes. The only code that knows both.
//!
//! It follows the event store itself rather than cqrs-es's query dispatch (which runs after
//! the commit and swallows errors), in two ways that meet in idempotent writes:
//! - after a command, `catch_up_file` applies that file's events beyond its row's version,
//!   so a read right after the command sees it;
//! - at start and then every few seconds, `catch_up_all` applies every committed event after
//!   the checkpoint, in commit order, moving the checkpoint in the same transaction. That heals
//!   a crash between storing an event and projecting it. Rows skip versions they have seen,
//!   so the two paths never apply an event twice.

use std::time::{Duration, Instant};

use mediastore_projections::{
    ChangeNotes, MediaReadModel, NewFile, Position, ReadModelError, ThumbnailRow, Write,
};

use crate::domain::{read_payload, MediaFileEvent};
use crate::store::{EventLog, Selection, StoredEvent};

const BATCH: i64 = 1000;
/// Events per rebuild batch by default: each is one transaction of multi-row statements.
pub const REBUILD_BATCH: i64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("reading the event store: {0}")]
    EventStore(#[from] sqlx::Error),
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    #[error("reading events failed: {0}")]
    Reader(#[from] tokio::task::JoinError),
    #[error("event {aggregate_id}#{sequence} cannot be read: {reason}")]
    Undecodable {
        aggregate_id: String,
        sequence: i64,
        reason: String,
    },
}

#[derive(Clone)]
pub struct Projector {
    log: EventLog,
    read_model: MediaReadModel,
}

impl Projector {
    pub fn new(log: EventLog, read_model: MediaReadModel) -> Self {
        Self { log, read_model }
    }

    /// Bring one file's row up to date with its events; how many it applied.
    pub async fn catch_up_file(&self, aggregate_id: &str) -> Result<u64, ProjectorError> {
        let update = self.update_file(aggregate_id);
        crate::telemetry::database_step("projection.update", aggregate_id, update).await
    }

    async fn update_file(&self, aggregate_id: &str) -> Result<u64, ProjectorError> {
        let version = self.read_model.version_of(aggregate_id).await?;
        let events = self.log.events_of(aggregate_id, version).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let writes = events.iter().map(to_write).collect::<Result<Vec<_>, _>>()?;
        self.read_model.apply(&writes, None).await?;
        Ok(events.len() as u64)
    }

    /// Apply every committed event after the checkpoint; returns how many were read.
    pub async fn catch_up_all(&self) -> Result<u64, ProjectorError> {
        let mut total = 0;
        loop {
            let checkpoint = self.read_model.checkpoint().await?;
            let events = self.log.committed_after(checkpoint, BATCH).await?;
            let Some(last) = events.last() else {
                return Ok(total);
            };
            let writes = events.iter().map(to_write).collect::<Result<Vec<_>, _>>()?;
            self.read_model.apply(&writes, Some(last.position)).await?;
            total += events.len() as u64;
        }
    }

    /// Rebuild the read model from every event into tables beside the live ones, then swap
    /// them in (see `mediastore_projections::Rebuild`): the service keeps answering, and an
    /// interrupted rebuild leaves the live tables as they were. `progress` hears (events
    /// replayed, events in the store) after each batch.
    ///
    /// The events stored when it starts are replayed in two passes: first the changes
    /// (updates, deletes), folded in memory per file, then the uploads, so each file's row is
    /// written once, as its last event left it. Events stored meanwhile follow in order.
    pub async fn rebuild(
        &self,
        batch: i64,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<u64, ProjectorError> {
        let batch = batch.max(1);
        tracing::info!("rebuild: starting");
        // Counting the events (for the progress) takes a scan: beside the shadow tables' setup.
        let (total, mut rebuild) = tokio::try_join!(
            async { Ok::<_, ProjectorError>(self.log.count_after(Position::default()).await?) },
            async { Ok(self.read_model.begin_rebuild().await?) },
        )?;
        let total = u64::try_from(total).unwrap_or(0);
        let up_to = self.log.last_position().await?;
        let started_at = chrono::Utc::now().timestamp_micros();
        let mut done = 0;
        let mut recorded: Option<Instant> = None;
        // Progress goes to `progress` after each batch, and to the database (which the
        // server shows in /metrics) once a second; never during the swap, which on SQLite
        // holds the one write lock.
        let mut report = async |events: usize, record: bool| {
            done += events as u64;
            progress(done, total.max(done));
            if record && recorded.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                recorded = Some(Instant::now());
                self.record_rebuild(started_at, done, total, false).await;
            }
            done
        };
        report(0, true).await;
        let started = Instant::now();
        // The changes pass reads every event for a sixth of them, batch after batch, each
        // waiting on the database: the two halves of the store are read at once, the later
        // one noted apart and added after the earlier.
        let middle = Position { seq: up_to.seq / 2 };
        let changes_until = |position| Selection {
            up_to: Some(position),
            uploads: Some(false),
        };
        let mut later = ChangeNotes::default();
        let mut later_events = 0;
        tokio::try_join!(
            self.replay(
                Position::default(),
                changes_until(middle),
                batch,
                async |writes: &[Write]| {
                    rebuild.note_changes(writes);
                    report(writes.len(), true).await;
                    Ok(())
                },
            ),
            self.replay(
                middle,
                changes_until(up_to),
                batch,
                async |writes: &[Write]| {
                    later.note(writes);
                    later_events += writes.len();
                    Ok(())
                },
            ),
        )?;
        rebuild.note_later_changes(later);
        report(later_events, true).await;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "rebuild: changes read"
        );
        let uploads = Selection {
            up_to: Some(up_to),
            uploads: Some(true),
        };
        self.replay(
            Position::default(),
            uploads,
            batch,
            async |writes: &[Write]| {
                rebuild.apply(writes).await?;
                report(writes.len(), true).await;
                Ok(())
            },
        )
        .await?;
        let since = Selection::default();
        let mut position = self
            .replay(up_to, since, batch, async |writes: &[Write]| {
                rebuild.apply(writes).await?;
                report(writes.len(), true).await;
                Ok(())
            })
            .await?;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "rebuild: events loaded"
        );
        // What was committed while the batches ran goes into the swap itself.
        let mut swap = rebuild.begin_swap().await?;
        position = self
            .replay(position, since, batch, async |writes: &[Write]| {
                swap.apply(writes).await?;
                report(writes.len(), false).await;
                Ok(())
            })
            .await?;
        swap.commit(position).await?;
        let done = report(0, false).await;
        self.record_rebuild(started_at, done, total, true).await;
        Ok(done)
    }

    /// Write a rebuild's progress; a failure is only logged, as progress is for show.
    async fn record_rebuild(&self, started_at: i64, done: u64, total: u64, finished: bool) {
        if let Err(error) = self
            .read_model
            .record_rebuild(started_at, done, total.max(done), finished)
            .await
        {
            tracing::warn!(%error, "could not record the rebuild's progress");
        }
    }

    /// Hand the events `selection` takes after `position` to `apply`, a batch at a time;
    /// returns the position of the last one (`position` if there was none).
    async fn replay(
        &self,
        mut position: Position,
        selection: Selection,
        batch: i64,
        mut apply: impl AsyncFnMut(&[Write]) -> Result<(), ReadModelError>,
    ) -> Result<Position, ProjectorError> {
        // Three batches at a time, each on its own worker: one is fetched, the one before is
        // decoded, and the one before that applied. The next fetch needs only the position
        // of the last event fetched, so it need not wait for the decoding.
        let fetch = |after: Position| {
            let log = self.log.clone();
            tokio::spawn(async move { log.committed(after, selection, batch).await })
        };
        let decode = |events: Vec<StoredEvent>| {
            tokio::spawn(async move { events.iter().map(to_write).collect::<Result<Vec<_>, _>>() })
        };
        let mut fetching = fetch(position);
        let mut decoding: Option<tokio::task::JoinHandle<Result<Vec<Write>, ProjectorError>>> =
            None;
        loop {
            let events = fetching.await??;
            let Some(last) = events.last() else {
                if let Some(decoded) = decoding {
                    apply(&decoded.await??).await?;
                }
                return Ok(position);
            };
            position = last.position;
            fetching = fetch(position);
            if let Some(decoded) = decoding.replace(decode(events)) {
                apply(&decoded.await??).await?;
            }
        }
    }

    /// The last event applied, and how many committed events are not applied yet.
    pub async fn status(&self) -> Result<(Position, i64), ProjectorError> {
        let checkpoint = self.read_model.checkpoint().await?;
        Ok((checkpoint, self.log.count_after(checkpoint).await?))
    }

    /// Keep following the event store in the background (events of other processes, and
    /// anything a failed `catch_up_file` left behind).
    pub fn spawn_follower(self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                if let Err(error) = self.catch_up_all().await {
                    tracing::error!(%error, "projector could not catch up; will retry");
                }
            }
        })
    }
}

/// A stored event as the domain knows it.
pub fn decode(stored: &StoredEvent) -> Result<MediaFileEvent, ProjectorError> {
    read_payload(&stored.event_type, &stored.event_version, &stored.payload).map_err(|e| {
        ProjectorError::Undecodable {
            aggregate_id: stored.aggregate_id.clone(),
            sequence: stored.sequence,
            reason: e.to_string(),
        }
    })
}

/// A file as it was at `at`, from its events alone (with its last change time); `None` if it
/// did not exist yet or was already deleted then.
pub fn file_as_of(
    stored: &[StoredEvent],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(NewFile, i64)>, ProjectorError> {
    let mut file: Option<(NewFile, i64)> = None;
    for event in stored {
        let decoded = decode(event)?;
        if decoded.at() > at {
            break;
        }
        match write_for(event, decoded) {
            Write::Insert { file: new, .. } => {
                let created = new.created_at;
                file = Some((*new, created));
            }
            Write::UpdateMetadata {
                name,
                description,
                at,
                ..
            } => {
                if let Some((current, updated_at)) = file.as_mut() {
                    if let Some(name) = name {
                        current.name = name;
                    }
                    if let Some(description) = description {
                        current.description = description;
                    }
                    *updated_at = at;
                }
            }
            Write::Delete { .. } => file = None,
        }
    }
    Ok(file)
}

fn to_write(stored: &StoredEvent) -> Result<Write, ProjectorError> {
    Ok(write_for(stored, decode(stored)?))
}

/// The read-model write for an already decoded event.
fn write_for(stored: &StoredEvent, event: MediaFileEvent) -> Write {
    let version = stored.sequence;
    match event {
        MediaFileEvent::Uploaded(f) => Write::Insert {
            version,
            file: Box::new(NewFile {
                id: f.file_id,
                aggregate_id: stored.aggregate_id.clone(),
                user_id: f.uploader.id,
                media_type: f.media_type.as_str().to_string(),
                mime: f.mime,
                blob_hash: f.blob.into(),
                original_filename: f.original_filename,
                name: f.name.into(),
                description: f.description.into(),
                size: i64::try_from(f.size).unwrap_or(i64::MAX),
                width: f.image.as_ref().map(|i| i64::from(i.width)),
                height: f.image.as_ref().map(|i| i64::from(i.height)),
                mode: f.image.map(|i| i.mode),
                duration: f.av.as_ref().and_then(|a| a.duration),
                video_width: f.av.as_ref().and_then(|a| a.width).map(i64::from),
                video_height: f.av.as_ref().and_then(|a| a.height).map(i64::from),
                created_at: f.at.timestamp_micros(),
                thumbnails: f
                    .thumbnails
                    .into_iter()
                    .map(|t| ThumbnailRow {
                        id: t.id,
                        box_size: i64::from(t.box_size),
                        blob_hash: t.blob.into(),
                        mime: t.mime,
                        width: i64::from(t.width),
                        height: i64::from(t.height),
                        bytes: i64::try_from(t.bytes).unwrap_or(i64::MAX),
                    })
                    .collect(),
            }),
        },
        MediaFileEvent::MetadataUpdated(u) => Write::UpdateMetadata {
            aggregate_id: stored.aggregate_id.clone(),
            version,
            name: u.name.map(|c| c.to.into()),
            description: u.description.map(|c| c.to.into()),
            at: u.at.timestamp_micros(),
        },
        MediaFileEvent::Deleted { at } => Write::Delete {
            aggregate_id: stored.aggregate_id.clone(),
            version,
            at: at.timestamp_micros(),
        },
    }
}
