//! The media-file aggregate: decides on commands, and rebuilds its state from events.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::{MediaFileCommand, MetadataChange};
use super::error::MediaFileError;
use super::events::{Change, MediaFileEvent, MetadataUpdated};
use super::values::{Description, FileName};

/// Only what decisions need: whether the file lives, and its current metadata.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MediaFile {
    state: State,
}

#[derive(Debug, Default, Serialize, Deserialize)]
enum State {
    #[default]
    New,
    Live {
        name: FileName,
        description: Description,
    },
    Deleted,
}

impl Aggregate for MediaFile {
    const TYPE: &'static str = "MediaFile";
    type Command = MediaFileCommand;
    type Event = MediaFileEvent;
    type Error = MediaFileError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match (command, &self.state) {
            (MediaFileCommand::Upload(facts), State::New) => Some(MediaFileEvent::Uploaded(*facts)),
            (MediaFileCommand::Upload(_), _) => return Err(MediaFileError::AlreadyUploaded),
            (MediaFileCommand::UpdateMetadata(change), State::Live { name, description }) => {
                changes(change, name, description).map(MediaFileEvent::MetadataUpdated)
            }
            (MediaFileCommand::Delete { at }, State::Live { .. }) => {
                Some(MediaFileEvent::Deleted { at })
            }
            (_, State::New | State::Deleted) => return Err(MediaFileError::NotFound),
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            MediaFileEvent::Uploaded(facts) => {
                self.state = State::Live {
                    name: facts.name,
                    description: facts.description,
                }
            }
            MediaFileEvent::MetadataUpdated(update) => {
                if let State::Live { name, description } = &mut self.state {
                    if let Some(change) = update.name {
                        *name = change.to;
                    }
                    if let Some(change) = update.description {
                        *description = change.to;
                    }
                }
            }
            MediaFileEvent::Deleted { .. } => self.state = State::Deleted,
        }
    }
}

/// What an update would change; `None` when it changes nothing (no event is recorded then).
fn changes(
    change: MetadataChange,
    name: &FileName,
    description: &Description,
) -> Option<MetadataUpdated> {
    let name = change.name.filter(|new| new != name).map(|to| Change {
        from: name.clone(),
        to,
    });
    let description = change
        .description
        .filter(|new| new != description)
        .map(|to| Change {
            from: description.clone(),
            to,
        });
    (name.is_some() || description.is_some()).then_some(MetadataUpdated {
        name,
        description,
        at: change.at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BlobHash, FileUploaded, MediaType, Uploader};
    use chrono::{DateTime, Utc};
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    type Given = TestFramework<MediaFile>;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + seconds, 0).expect("valid time")
    }

    fn uploaded() -> FileUploaded {
        FileUploaded {
            file_id: 7,
            file_uuid: Uuid::nil(),
            blob: BlobHash::from_bytes([1; 32]),
            size: 3,
            media_type: MediaType::Text,
            mime: "text/plain".into(),
            original_filename: "notes.txt".into(),
            name: FileName::parse("notes.txt").expect("valid"),
            description: Description::default(),
            uploader: Uploader {
                id: 1,
                uuid: Uuid::nil(),
            },
            at: at(0),
            image: None,
            av: None,
            thumbnails: Vec::new(),
        }
    }

    fn rename(to: &str) -> MediaFileCommand {
        MediaFileCommand::UpdateMetadata(MetadataChange {
            name: Some(FileName::parse(to).expect("valid")),
            description: None,
            at: at(10),
        })
    }

    #[test]
    fn an_upload_records_its_facts_as_they_are() {
        Given::with(())
            .given_no_previous_events()
            .when(MediaFileCommand::Upload(Box::new(uploaded())))
            .then_expect_events(vec![MediaFileEvent::Uploaded(uploaded())]);
    }

    #[test]
    fn a_file_cannot_be_uploaded_twice() {
        Given::with(())
            .given(vec![MediaFileEvent::Uploaded(uploaded())])
            .when(MediaFileCommand::Upload(Box::new(uploaded())))
            .then_expect_error(MediaFileError::AlreadyUploaded);
    }

    #[test]
    fn an_update_records_each_changed_field_from_and_to() {
        Given::with(())
            .given(vec![MediaFileEvent::Uploaded(uploaded())])
            .when(rename("renamed"))
            .then_expect_events(vec![MediaFileEvent::MetadataUpdated(MetadataUpdated {
                name: Some(Change {
                    from: FileName::parse("notes.txt").expect("valid"),
                    to: FileName::parse("renamed").expect("valid"),
                }),
                description: None,
                at: at(10),
            })]);
    }

    #[test]
    fn an_update_that_changes_nothing_records_nothing() {
        Given::with(())
            .given(vec![MediaFileEvent::Uploaded(uploaded())])
            .when(rename("notes.txt"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_deleted_file_cannot_be_updated_or_deleted_again() {
        let history = vec![
            MediaFileEvent::Uploaded(uploaded()),
            MediaFileEvent::Deleted { at: at(5) },
        ];
        Given::with(())
            .given(history.clone())
            .when(rename("x"))
            .then_expect_error(MediaFileError::NotFound);
        Given::with(())
            .given(history)
            .when(MediaFileCommand::Delete { at: at(6) })
            .then_expect_error(MediaFileError::NotFound);
    }

    #[test]
    fn a_file_that_was_never_uploaded_is_not_found() {
        Given::with(())
            .given_no_previous_events()
            .when(MediaFileCommand::Delete { at: at(1) })
            .then_expect_error(MediaFileError::NotFound);
    }
}
