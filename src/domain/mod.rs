//! The write side's model of a media file: aggregate, commands, events and the values they carry.
//!
//! No HTTP, no SQL, no files here: the domain decides what may happen and what did happen.

mod aggregate;
mod commands;
mod error;
mod events;
mod values;

pub use aggregate::MediaFile;
pub use commands::{MediaFileCommand, MetadataChange, UploadFile};
pub use error::MediaFileError;
pub use events::{
    is_current, read_payload, upcast, Change, FileUploaded, MediaFileEvent, MetadataUpdated,
    Uploader,
};
pub use values::{
    AvFacts, BlobHash, Description, FieldError, FileName, ImageFacts, MediaType, ThumbnailFacts,
};
