//! The upload pipeline: stream a body to a temporary file while hashing it, enforce the
//! per-type size limit as the bytes arrive, and detect the type from the content.
//!
//! Memory stays constant whatever the size: one write buffer and the first `HEAD_LEN` bytes.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::av_probe;
use super::detect::{self, DetectError, Detected, TextCheck, HEAD_LEN};
use super::image_info::{self, ImageInfoError};
use crate::blobs::{BlobError, BlobStore, TempFile};
use crate::domain::{AvFacts, BlobHash, ImageFacts, MediaType};

/// Per-type upload limits in bytes (SPEC §4). Exactly the limit is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    pub image: u64,
    /// pdf, text, document, spreadsheet, presentation, compressed.
    pub document: u64,
    pub audio: u64,
    pub video: u64,
    /// Largest image, in pixels, that is accepted (decompression bombs are refused).
    pub image_pixels: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for SizeLimits {
    fn default() -> Self {
        Self {
            image: 10 * MIB,
            document: 20 * MIB,
            audio: 50 * MIB,
            video: 100 * MIB,
            image_pixels: 100_000_000,
        }
    }
}

impl SizeLimits {
    pub fn for_type(&self, media_type: MediaType) -> u64 {
        match media_type {
            MediaType::Image => self.image,
            MediaType::Audio => self.audio,
            MediaType::Video => self.video,
            MediaType::Pdf
            | MediaType::Text
            | MediaType::Document
            | MediaType::Compressed
            | MediaType::Spreadsheet
            | MediaType::Presentation => self.document,
        }
    }

    /// The largest limit: what a body may reach before its type is known.
    pub fn max(&self) -> u64 {
        self.image
            .max(self.document)
            .max(self.audio)
            .max(self.video)
    }
}

/// What the client said about the file: hints only, never decisive alone.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub file_name: String,
    pub mime: String,
}

/// An upload fully on disk, hashed and typed, not yet a blob.
#[derive(Debug)]
pub struct Ingested {
    pub temp: TempFile,
    pub hash: BlobHash,
    pub size: u64,
    pub detected: Detected,
    /// The header facts of an image.
    pub image: Option<ImageFacts>,
    /// The container facts of audio or video.
    pub av: Option<AvFacts>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("The submitted file is empty.")]
    Empty,
    #[error("File too large: {media_type} files may be at most {limit} bytes")]
    TooLarge { media_type: MediaType, limit: u64 },
    /// The whole request body went over the route's limit before the file ended.
    #[error("File too large: the request body is over the limit")]
    BodyTooLarge,
    #[error("{0}")]
    Refused(#[from] DetectError),
    /// An image whose header is broken, or that declares more pixels than allowed.
    #[error("{0}")]
    BadImage(String),
    /// The client's stream broke off or was malformed.
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Storage(#[from] BlobError),
}

impl From<std::io::Error> for IngestError {
    fn from(error: std::io::Error) -> Self {
        IngestError::Storage(BlobError::Io(error))
    }
}

/// The type that governs the size limit, and the sniff it came from, once the head is known.
struct Verdict {
    sniff: detect::Sniff,
    limit_type: MediaType,
    limit: u64,
}

/// Stream `body` into a new temporary file. The caller maps its transport's errors to
/// `IngestError` (a body-length limit is `TooLarge`, a broken stream `Interrupted`).
///
/// One pass hashes and writes each chunk as it arrives, so the span is both.
#[tracing::instrument(
    name = "blob.hash_and_write",
    skip_all,
    fields(blob.bytes = tracing::field::Empty, blob.hash = tracing::field::Empty)
)]
pub async fn ingest<S>(
    blobs: &dyn BlobStore,
    body: S,
    hints: &Hints,
    limits: &SizeLimits,
) -> Result<Ingested, IngestError>
where
    S: Stream<Item = Result<Bytes, IngestError>>,
{
    let mut body = std::pin::pin!(body);
    let mut temp = blobs.temp_file().await?;
    let file = temp
        .take_file()
        .ok_or_else(|| IngestError::Interrupted("temporary file already used".into()))?;
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    let mut hasher = blake3::Hasher::new();
    let mut text = TextCheck::default();
    let mut head: Vec<u8> = Vec::with_capacity(HEAD_LEN);
    let mut size: u64 = 0;
    let mut verdict: Option<Verdict> = None;

    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if verdict.is_none() {
            let wanted = (HEAD_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..wanted]);
            if head.len() == HEAD_LEN {
                verdict = Some(judge(&head, limits)?);
            }
        }
        let limit = verdict.as_ref().map_or(limits.max(), |v| v.limit);
        if size > limit {
            let media_type = verdict.as_ref().map_or(MediaType::Video, |v| v.limit_type);
            return Err(IngestError::TooLarge { media_type, limit });
        }
        hasher.update(&chunk);
        text.push(&chunk);
        writer.write_all(&chunk).await?;
    }
    if size == 0 {
        return Err(IngestError::Empty);
    }
    let verdict = match verdict {
        Some(verdict) => verdict,
        None => judge(&head, limits)?,
    };
    if size > verdict.limit {
        return Err(IngestError::TooLarge {
            media_type: verdict.limit_type,
            limit: verdict.limit,
        });
    }
    writer.flush().await?;
    let file = writer.into_inner();
    file.sync_all().await?;
    drop(file);

    let path = temp.path().to_path_buf();
    let (is_text, hints_owned) = (text.finish(), hints.clone());
    let max_pixels = limits.image_pixels;
    let parent = crate::telemetry::Parent::current();
    let (detected, image, av) = tokio::task::spawn_blocking(move || {
        let _entered = parent.enter();
        let detect =
            tracing::info_span!("media.detect", media.type = tracing::field::Empty).entered();
        let detected = detect::resolve(
            verdict.sniff,
            &head,
            &path,
            is_text,
            &hints_owned.file_name,
            &hints_owned.mime,
        )?;
        detect.record("media.type", detected.media_type.as_str());
        drop(detect);
        let image = match detected.media_type {
            MediaType::Image => {
                let _span = tracing::info_span!("image.read_header").entered();
                Some(image_facts(&path, max_pixels)?)
            }
            _ => None,
        };
        // From the container's headers (bounded reads, nothing decoded), so that the event
        // carries it and a rebuild never opens a blob.
        let av = match detected.media_type {
            MediaType::Audio | MediaType::Video => {
                let _span = tracing::info_span!("av.probe").entered();
                Some(av_probe::probe(&path, &detected.mime))
            }
            _ => None,
        };
        let detected = match av.as_ref() {
            Some(av) => audio_if_no_video_track(detected, av),
            None => detected,
        };
        Ok::<_, IngestError>((detected, image, av))
    })
    .await
    .map_err(|e| IngestError::Interrupted(e.to_string()))??;
    // A Matroska file found to be audio has the (smaller) audio limit.
    let limit = limits.for_type(detected.media_type);
    if size > limit {
        return Err(IngestError::TooLarge {
            media_type: detected.media_type,
            limit,
        });
    }

    let hash = BlobHash::from_bytes(*hasher.finalize().as_bytes());
    let span = tracing::Span::current();
    span.record("blob.bytes", size);
    span.record("blob.hash", hash.as_str());
    Ok(Ingested {
        temp,
        hash,
        size,
        detected,
        image,
        av,
    })
}

/// Matroska and WebM say nothing of their tracks at the start, so they are typed video
/// until the headers are read: one with a duration and no video track is audio.
fn audio_if_no_video_track(detected: Detected, av: &AvFacts) -> Detected {
    let audio_mime = match detected.mime.as_str() {
        "video/webm" => "audio/webm",
        "video/x-matroska" => "audio/x-matroska",
        _ => return detected,
    };
    if av.duration.is_some() && av.width.is_none() {
        Detected {
            media_type: MediaType::Audio,
            mime: audio_mime.to_string(),
        }
    } else {
        detected
    }
}

/// An image's facts from its header alone; a bomb is refused before anything is decoded.
fn image_facts(path: &std::path::Path, max_pixels: u64) -> Result<ImageFacts, IngestError> {
    let mut file = std::fs::File::open(path)?;
    let info = image_info::read_image_info(&mut file).map_err(|e| match e {
        ImageInfoError::Unsupported => {
            IngestError::BadImage("Unsupported image format: this variant cannot be decoded".into())
        }
        ImageInfoError::Corrupt(why) => IngestError::BadImage(why),
    })?;
    if info.pixel_count() > max_pixels {
        return Err(IngestError::BadImage(format!(
            "Image too large: {} x {} pixels is more than the {max_pixels} allowed",
            info.width, info.height
        )));
    }
    Ok(ImageFacts {
        width: info.width,
        height: info.height,
        mode: info.mode.to_string(),
        orientation: info.orientation,
        animated: info.animated,
        has_alpha: info.has_alpha,
    })
}

fn judge(head: &[u8], limits: &SizeLimits) -> Result<Verdict, DetectError> {
    let sniff = detect::sniff(head)?;
    let limit_type = sniff.limit_class();
    Ok(Verdict {
        limit: limits.for_type(limit_type),
        limit_type,
        sniff,
    })
}
