//! Validated values: parsed once at the edge, so the aggregate never sees an unchecked string.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused; the message is what a client reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

/// The kinds of media the service tells apart (SPEC §3). The names are part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Pdf,
    Text,
    Image,
    Document,
    Compressed,
    Spreadsheet,
    Presentation,
    Video,
    Audio,
}

impl MediaType {
    pub const ALL: [MediaType; 9] = [
        MediaType::Pdf,
        MediaType::Text,
        MediaType::Image,
        MediaType::Document,
        MediaType::Compressed,
        MediaType::Spreadsheet,
        MediaType::Presentation,
        MediaType::Video,
        MediaType::Audio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Pdf => "pdf",
            MediaType::Text => "text",
            MediaType::Image => "image",
            MediaType::Document => "document",
            MediaType::Compressed => "compressed",
            MediaType::Spreadsheet => "spreadsheet",
            MediaType::Presentation => "presentation",
            MediaType::Video => "video",
            MediaType::Audio => "audio",
        }
    }

    pub fn parse(value: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file's display name: 1 to 255 characters (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileName(String);

impl FileName {
    pub const MAX_CHARS: usize = 255;

    /// A name a client sends: `stored`'s rules, and no NUL character.
    pub fn parse(value: impl Into<String>) -> Result<FileName, FieldError> {
        let value = value.into();
        refuse_nul(&value)?;
        FileName::stored(value)
    }

    /// The rules a name in a stored event was written under (see `refuse_nul`).
    fn stored(value: String) -> Result<FileName, FieldError> {
        match value.chars().count() {
            0 => Err(FieldError("This field may not be blank.".into())),
            n if n > Self::MAX_CHARS => Err(FieldError(format!(
                "Ensure this field has no more than {} characters.",
                Self::MAX_CHARS
            ))),
            _ => Ok(FileName(value)),
        }
    }

    /// The default name of an upload: the last path component of the client's filename,
    /// cut to 255 characters (SPEC §4). `None` when nothing usable is left.
    pub fn from_original(original: &str) -> Option<FileName> {
        let last = original.rsplit(['/', '\\']).next().unwrap_or(original);
        let cut: String = last.chars().take(Self::MAX_CHARS).collect();
        FileName::parse(cut).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FileName {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        FileName::stored(value)
    }
}

impl From<FileName> for String {
    fn from(value: FileName) -> String {
        value.0
    }
}

/// A file's description: up to 10,000 characters, empty by default (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 10_000;

    /// A description a client sends: `stored`'s rules, and no NUL character.
    pub fn parse(value: impl Into<String>) -> Result<Description, FieldError> {
        let value = value.into();
        refuse_nul(&value)?;
        Description::stored(value)
    }

    /// The rules a description in a stored event was written under (see `refuse_nul`).
    fn stored(value: String) -> Result<Description, FieldError> {
        if value.chars().count() > Self::MAX_CHARS {
            return Err(FieldError(format!(
                "Ensure this field has no more than {} characters.",
                Self::MAX_CHARS
            )));
        }
        Ok(Description(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Description {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Description::stored(value)
    }
}

/// Client text may not hold the NUL character, as DRF's `CharField` says (PostgreSQL's text
/// cannot store it, so it would fail there and pass on SQLite). Checked where a client's
/// text enters, not when events are read: an event stored on SQLite before this rule must
/// still replay.
fn refuse_nul(value: &str) -> Result<(), FieldError> {
    if value.contains('\0') {
        return Err(FieldError("Null characters are not allowed.".into()));
    }
    Ok(())
}

impl From<Description> for String {
    fn from(value: Description) -> String {
        value.0
    }
}

/// What an image's header says, as Pillow names it (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFacts {
    /// Stored dimensions, before any EXIF rotation.
    pub width: u32,
    pub height: u32,
    /// Pillow's mode name: `P`, `L`, `LA`, `I;16`, `RGB`, `RGBA`, `CMYK`, ...
    pub mode: String,
    /// EXIF orientation 1..=8.
    pub orientation: u8,
    pub animated: bool,
    /// An alpha channel or a transparent palette entry: thumbnails keep it (PNG).
    pub has_alpha: bool,
}

/// One stored thumbnail of an image (SPEC §3): recorded in the upload event, so a rebuilt
/// read model serves it without decoding anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailFacts {
    pub id: i64,
    /// The box edge: 64, 128, 512 or 1080.
    pub box_size: u32,
    pub blob: BlobHash,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub mime: String,
}

/// What an audio or video container's headers say.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AvFacts {
    /// Seconds, when the headers (or a constant bitrate) tell.
    pub duration: Option<f64>,
    /// The video track's size.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// The BLAKE3 hash that names a blob: 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobHash(String);

impl BlobHash {
    pub fn parse(value: &str) -> Option<BlobHash> {
        is_blake3_hex(value).then(|| BlobHash(value.to_owned()))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> BlobHash {
        use fmt::Write;
        let mut hex = String::with_capacity(64);
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        BlobHash(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BlobHash {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if is_blake3_hex(&value) {
            Ok(BlobHash(value))
        } else {
            Err(FieldError(format!("not a BLAKE3 hex hash: {value}")))
        }
    }
}

/// 64 lower-case hex digits. Every byte is looked at, without stopping at the first bad one:
/// the check then runs on whole vectors of bytes (a rebuild checks five hashes per image).
fn is_blake3_hex(value: &str) -> bool {
    value.len() == 64
        && value.bytes().fold(true, |valid, b| {
            valid & matches!(b, b'0'..=b'9' | b'a'..=b'f')
        })
}

impl From<BlobHash> for String {
    fn from(value: BlobHash) -> String {
        value.0
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_counts_characters_not_bytes() {
        assert!(FileName::parse("é".repeat(255)).is_ok());
        assert!(FileName::parse("é".repeat(256)).is_err());
        assert!(FileName::parse("").is_err());
    }

    #[test]
    fn the_default_name_is_the_last_path_component_cut_to_255() {
        let long = format!("dir\\sub/{}", "a".repeat(300));
        assert_eq!(FileName::from_original(&long).map(|n| n.0.len()), Some(255));
        assert_eq!(
            FileName::from_original("C:\\x\\photo.jpg").map(|n| n.0),
            Some("photo.jpg".into())
        );
        assert_eq!(FileName::from_original("dir/"), None);
    }

    #[test]
    fn a_description_may_be_empty_but_not_longer_than_10000() {
        assert!(Description::parse("").is_ok());
        assert!(Description::parse("x".repeat(10_000)).is_ok());
        assert!(Description::parse("x".repeat(10_001)).is_err());
    }

    #[test]
    fn clients_may_not_send_nul_but_stored_events_holding_it_still_load() {
        assert!(FileName::parse("a\0b").is_err());
        assert!(Description::parse("a\0b").is_err());
        let name: FileName = serde_json::from_str("\"a\\u0000b\"").expect("stored name");
        assert_eq!(name.as_str(), "a\0b");
        let description: Description =
            serde_json::from_str("\"a\\u0000b\"").expect("stored description");
        assert_eq!(description.as_str(), "a\0b");
        // The stored rules still hold.
        assert!(serde_json::from_str::<FileName>("\"\"").is_err());
    }

    #[test]
    fn a_blob_hash_is_64_lower_case_hex_digits() {
        assert!(BlobHash::parse(&"a".repeat(64)).is_some());
        assert!(BlobHash::parse(&"A".repeat(64)).is_none());
        assert!(BlobHash::parse("../../etc/passwd").is_none());
        assert_eq!(BlobHash::from_bytes([0xab; 32]).as_str(), "ab".repeat(32));
        // As stored events carry it: one bad digit anywhere, or too few, is refused.
        let read = |hex: String| serde_json::from_value::<BlobHash>(serde_json::json!(hex));
        assert!(read("0".repeat(64)).is_ok());
        assert!(read(format!("{}g", "f".repeat(63))).is_err());
        assert!(read(format!("g{}", "f".repeat(63))).is_err());
        assert!(read(format!("{}é", "f".repeat(62))).is_err());
        assert!(read("f".repeat(63)).is_err());
    }

    #[test]
    fn media_types_round_trip_through_their_names() {
        for t in MediaType::ALL {
            assert_eq!(MediaType::parse(t.as_str()), Some(t));
        }
        assert_eq!(MediaType::parse("exe"), None);
    }
}
