//! Content-based detection of an upload's media type.
//!
//! Flow: `sniff` the first `HEAD_LEN` bytes, stream the rest to a temp file while feeding
//! every chunk to a `TextCheck`, then `resolve` once the file is complete. The declared MIME
//! type and the file name are hints: they only pick a text subtype and, as a last resort, the
//! flavour of an OLE compound file (doc/xls/ppt). They never make content acceptable.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::domain::MediaType;

/// How many leading bytes the caller keeps for `sniff` and `resolve`.
pub const HEAD_LEN: usize = 8192;

/// Most central-directory entries examined when telling an office file from a plain zip.
const MAX_ZIP_ENTRIES: usize = 10_000;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
const ODT: &str = "application/vnd.oasis.opendocument.text";
const ODS: &str = "application/vnd.oasis.opendocument.spreadsheet";
const ODP: &str = "application/vnd.oasis.opendocument.presentation";
const EPUB: &str = "application/epub+zip";
const DOC: &str = "application/msword";
const XLS: &str = "application/vnd.ms-excel";
const PPT: &str = "application/vnd.ms-powerpoint";
const ZIP: &str = "application/zip";

/// Verdict on the first bytes alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniff {
    /// The magic bytes decide: the type and its MIME type.
    Known {
        media_type: MediaType,
        mime: &'static str,
    },
    /// A zip container: which office format (if any) needs the central directory.
    Zip,
    /// An OLE compound file (doc/xls/ppt): the root CLSID or the name/MIME hint picks among them.
    Ole,
    /// No magic: text if the whole file turns out to be valid UTF-8 without NUL and not active content.
    MaybeText,
}

impl Sniff {
    /// The media type that decides the per-type size limit while the rest streams in.
    pub fn limit_class(&self) -> MediaType {
        match self {
            Sniff::Known { media_type, .. } => *media_type,
            Sniff::Zip | Sniff::Ole => MediaType::Compressed,
            Sniff::MaybeText => MediaType::Text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectError {
    /// Display: "Invalid file type"
    InvalidType,
    /// Display: "Unsupported image format: {0}"
    UnsupportedImage(&'static str),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::InvalidType => f.write_str("Invalid file type"),
            DetectError::UnsupportedImage(name) => write!(f, "Unsupported image format: {name}"),
        }
    }
}

impl std::error::Error for DetectError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub media_type: MediaType,
    pub mime: String,
}

/// Incremental UTF-8 + no-NUL validator that works across chunk boundaries. Constant memory.
#[derive(Debug, Clone, Default)]
pub struct TextCheck {
    /// The start of a multi-byte character cut by the end of the previous chunk.
    pending: [u8; 4],
    pending_len: usize,
    failed: bool,
}

impl TextCheck {
    pub fn push(&mut self, mut chunk: &[u8]) {
        if self.failed {
            return;
        }
        if chunk.contains(&0) {
            self.failed = true;
            return;
        }
        if self.pending_len > 0 {
            // pending[0] is a valid lead byte (from_utf8 reported an incomplete, not invalid, tail).
            let width = match self.pending[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (width - self.pending_len).min(chunk.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&chunk[..take]);
            self.pending_len += take;
            chunk = &chunk[take..];
            match std::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => return, // still incomplete: chunk used up
                Err(_) => {
                    self.failed = true;
                    return;
                }
            }
        }
        if let Err(e) = std::str::from_utf8(chunk) {
            if e.error_len().is_some() {
                self.failed = true;
            } else {
                let tail = &chunk[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
            }
        }
    }

    /// True when everything pushed is valid UTF-8 without NUL, with no character cut off at the end.
    pub fn finish(self) -> bool {
        !self.failed && self.pending_len == 0
    }
}

/// Classify from the head. Err for content refused from its magic (executables, html/svg/shebang,
/// unsupported image formats) and for a head that is neither known binary nor possible text.
pub fn sniff(head: &[u8]) -> Result<Sniff, DetectError> {
    let h = head;
    if is_executable(h) {
        return Err(DetectError::InvalidType);
    }
    // Before the other magics: a 256-byte `ftyp` box starts 00 00 01 00, like an ICO file.
    if at(h, 4, b"ftyp") {
        return iso_media(h);
    }
    if let Some(name) = unsupported_image(h) {
        return Err(DetectError::UnsupportedImage(name));
    }
    if let Some((media_type, mime)) = known_magic(h) {
        return Ok(Sniff::Known { media_type, mime });
    }
    if at(h, 0, b"PK\x03\x04") || at(h, 0, b"PK\x05\x06") || at(h, 0, b"PK\x07\x08") {
        return Ok(Sniff::Zip);
    }
    if at(h, 0, OLE_MAGIC) {
        return Ok(Sniff::Ole);
    }
    if is_active_text(h) || !could_be_text(h) {
        return Err(DetectError::InvalidType);
    }
    Ok(Sniff::MaybeText)
}

/// Final verdict once the whole file is on disk at `path`.
///
/// `is_text` is `TextCheck::finish()` over the whole content; `file_name` and `declared_mime`
/// are the client's hints (may be empty). Only `Zip` (central directory) and `Ole` (root
/// directory entry) read from `path`.
pub fn resolve(
    sniff: Sniff,
    head: &[u8],
    path: &Path,
    is_text: bool,
    file_name: &str,
    declared_mime: &str,
) -> Result<Detected, DetectError> {
    let hints = Hints::new(file_name, declared_mime);
    let (media_type, mime) = match sniff {
        Sniff::Known { media_type, mime } => (media_type, mime),
        // An unreadable central directory is still a zip: stored as-is, never extracted.
        Sniff::Zip => zip_kind(path)
            .ok()
            .flatten()
            .unwrap_or((MediaType::Compressed, ZIP)),
        Sniff::Ole => ole_kind(head, path, &hints)?,
        Sniff::MaybeText => {
            if !is_text || is_active_text(head) {
                return Err(DetectError::InvalidType);
            }
            (MediaType::Text, text_mime(&hints))
        }
    };
    Ok(Detected {
        media_type,
        mime: mime.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Magic bytes

/// `magic` at `offset` in `h`.
fn at(h: &[u8], offset: usize, magic: &[u8]) -> bool {
    h.get(offset..offset + magic.len()) == Some(magic)
}

fn is_executable(h: &[u8]) -> bool {
    const MAGICS: [&[u8]; 8] = [
        b"\x7FELF",
        b"\0asm",
        b"\xCA\xFE\xBA\xBE", // Java class, and fat Mach-O: both refused
        b"\xFE\xED\xFA\xCE",
        b"\xFE\xED\xFA\xCF",
        b"\xCE\xFA\xED\xFE",
        b"\xCF\xFA\xED\xFE",
        b"dex\n",
    ];
    // A real MZ/PE header has NULs early; "MZ" followed by plain text is just text.
    MAGICS.iter().any(|m| h.starts_with(m)) || (h.starts_with(b"MZ") && !could_be_text(h))
}

/// Image formats we recognise but cannot decode: their short name for the error message.
fn unsupported_image(h: &[u8]) -> Option<&'static str> {
    let tiff = at(h, 0, b"II*\0") || at(h, 0, b"MM\0*");
    if at(h, 0, b"\xFF\x0A") || at(h, 0, b"\0\0\0\x0CJXL \r\n\x87\n") {
        Some("jxl")
    } else if at(h, 0, b"\0\0\0\x0CjP  \r\n\x87\n") {
        Some("jp2")
    } else if at(h, 0, b"\xFF\x4F\xFF\x51") {
        Some("j2k")
    } else if at(h, 0, b"\0\0\x01\0") && !at(h, 4, b"\0\0") {
        Some("ico")
    } else if at(h, 0, b"\0\0\x02\0") && !at(h, 4, b"\0\0") {
        Some("cur")
    } else if at(h, 0, b"8BPS\0\x01") || at(h, 0, b"8BPS\0\x02") {
        Some("psd")
    } else if at(h, 0, b"II\xBC") {
        Some("jxr")
    } else if tiff && at(h, 8, b"CR\x02") {
        Some("cr2")
    } else {
        None
    }
}

fn image_brand(brand: &[u8]) -> Option<&'static str> {
    match brand {
        b"avif" | b"avis" => Some("avif"),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"hevm" | b"hevs" => {
            Some("heic")
        }
        b"mif1" | b"msf1" | b"miaf" => Some("heif"),
        b"crx " => Some("cr3"),
        _ => None,
    }
}

/// ISO base media file (`ftyp` box first): mp4/mov/m4v/m4a/3gp, or a HEIF-family image.
fn iso_media(h: &[u8]) -> Result<Sniff, DetectError> {
    use MediaType::{Audio, Video};
    let major = h.get(8..12).unwrap_or_default();
    let box_end = h
        .get(0..4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let compatible = h.get(16..box_end.min(h.len())).unwrap_or_default();
    if let Some(mut name) = image_brand(major) {
        // mif1/msf1 is the generic HEIF brand: the compatible brands tell AVIF or HEIC apart.
        if name == "heif" {
            name = compatible
                .chunks_exact(4)
                .filter_map(image_brand)
                .find(|n| *n != "heif")
                .unwrap_or("heif");
        }
        return Err(DetectError::UnsupportedImage(name));
    }
    let (media_type, mime) = match major {
        b"M4A " | b"M4B " | b"M4P " | b"F4A " | b"F4B " => (Audio, "audio/mp4"),
        b"qt  " => (Video, "video/quicktime"),
        b"M4V " | b"M4VH" | b"M4VP" => (Video, "video/x-m4v"),
        b if b.starts_with(b"3g2") => (Video, "video/3gpp2"),
        b if b.starts_with(b"3g") => (Video, "video/3gpp"),
        _ => (Video, "video/mp4"),
    };
    Ok(Sniff::Known { media_type, mime })
}

fn known_magic(h: &[u8]) -> Option<(MediaType, &'static str)> {
    use MediaType::*;
    let riff = at(h, 0, b"RIFF");
    let tiff = at(h, 0, b"II*\0") || at(h, 0, b"MM\0*") || at(h, 0, b"II+\0") || at(h, 0, b"MM\0+");
    let found = if at(h, 0, b"%PDF-") {
        (Pdf, "application/pdf")
    } else if at(h, 0, b"{\\rtf") {
        (Document, "application/rtf")
    // Images
    } else if at(h, 0, b"\xFF\xD8\xFF") {
        (Image, "image/jpeg")
    } else if at(h, 0, b"\x89PNG\r\n\x1A\n") {
        (Image, "image/png")
    } else if at(h, 0, b"GIF87a") || at(h, 0, b"GIF89a") {
        (Image, "image/gif")
    } else if riff && at(h, 8, b"WEBP") {
        (Image, "image/webp")
    } else if is_bmp(h) {
        (Image, "image/bmp")
    } else if tiff {
        (Image, "image/tiff")
    // Audio
    } else if at(h, 0, b"ID3") && matches!(h.get(3), Some(2..=4)) {
        (Audio, "audio/mpeg")
    } else if let Some(found) = mpeg_audio(h) {
        found
    } else if (riff || at(h, 0, b"RF64")) && at(h, 8, b"WAVE") {
        (Audio, "audio/wav")
    } else if at(h, 0, b"fLaC") && h.get(4).is_some_and(|b| b & 0x7F == 0) {
        (Audio, "audio/flac")
    } else if at(h, 0, b"OggS\0") {
        ogg(h)
    } else if at(h, 0, b"FORM") && (at(h, 8, b"AIFF") || at(h, 8, b"AIFC")) {
        (Audio, "audio/aiff")
    } else if at(h, 0, b"#!AMR\n") {
        (Audio, "audio/amr")
    } else if at(h, 0, b"#!AMR-WB\n") {
        (Audio, "audio/amr-wb")
    } else if at(h, 0, b"MThd\0\0\0\x06") {
        (Audio, "audio/midi")
    // Video
    } else if at(h, 0, b"\x1A\x45\xDF\xA3") {
        ebml(h)
    } else if riff && at(h, 8, b"AVI ") {
        (Video, "video/x-msvideo")
    } else if at(h, 0, b"FLV\x01") {
        (Video, "video/x-flv")
    } else if at(h, 0, b"\x30\x26\xB2\x75\x8E\x66\xCF\x11") {
        (Video, "video/x-ms-asf")
    } else if at(h, 0, b"\0\0\x01\xBA") || at(h, 0, b"\0\0\x01\xB3") {
        (Video, "video/mpeg")
    } else if is_mpeg_ts(h, 188, 0) || is_mpeg_ts(h, 192, 4) {
        (Video, "video/mp2t")
    } else if is_old_quicktime(h) {
        (Video, "video/quicktime")
    // Archives
    } else if at(h, 0, b"\x1F\x8B\x08") {
        (Compressed, "application/gzip")
    } else if is_bzip2(h) {
        (Compressed, "application/x-bzip2")
    } else if at(h, 0, b"\xFD7zXZ\0") {
        (Compressed, "application/x-xz")
    } else if at(h, 0, b"7z\xBC\xAF\x27\x1C") {
        (Compressed, "application/x-7z-compressed")
    } else if at(h, 0, b"Rar!\x1A\x07\0") || at(h, 0, b"Rar!\x1A\x07\x01\0") {
        (Compressed, "application/vnd.rar")
    } else if at(h, 0, b"\x28\xB5\x2F\xFD") {
        (Compressed, "application/zstd")
    } else if at(h, 257, b"ustar\0") || at(h, 257, b"ustar ") {
        (Compressed, "application/x-tar")
    } else {
        return None;
    };
    Some(found)
}

/// "BM" alone is too weak (text starts with it): also require a known DIB header size, whose
/// NUL bytes text cannot have.
fn is_bmp(h: &[u8]) -> bool {
    let dib_size = h
        .get(14..18)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    at(h, 0, b"BM") && matches!(dib_size, Some(12 | 16 | 40 | 52 | 56 | 64 | 108 | 124))
}

/// "BZh" + block size digit, then a block or end-of-stream magic.
fn is_bzip2(h: &[u8]) -> bool {
    at(h, 0, b"BZh")
        && matches!(h.get(3), Some(b'1'..=b'9'))
        && (at(h, 4, b"\x31\x41\x59\x26\x53\x59") || at(h, 4, b"\x17\x72\x45\x38\x50\x90"))
}

/// MPEG audio frame (mp3 without ID3) or AAC ADTS frame.
fn mpeg_audio(h: &[u8]) -> Option<(MediaType, &'static str)> {
    let (b1, b2) = match h {
        [0xFF, b1, b2, ..] if b1 & 0xE0 == 0xE0 => (*b1, *b2),
        _ => return None,
    };
    if (b1 >> 1) & 0b11 == 0 {
        // Layer 0 is ADTS: 12-bit sync and a valid sampling-frequency index.
        (b1 & 0xF6 == 0xF0 && (b2 >> 2) & 0x0F < 13).then_some((MediaType::Audio, "audio/aac"))
    } else {
        let version_ok = (b1 >> 3) & 0b11 != 0b01;
        let bitrate_ok = b2 >> 4 != 0x0F;
        let rate_ok = (b2 >> 2) & 0b11 != 0b11;
        (version_ok && bitrate_ok && rate_ok).then_some((MediaType::Audio, "audio/mpeg"))
    }
}

/// Ogg: every logical stream starts with a beginning-of-stream page whose first packet names the
/// codec, and those pages come first. Any video codec makes it a video.
fn ogg(h: &[u8]) -> (MediaType, &'static str) {
    const VIDEO: [&[u8]; 4] = [b"\x80theora", b"\x01video\0\0\0", b"BBCD\0", b"\x80daala"];
    let mut pos = 0;
    while let Some(page) = h.get(pos..) {
        // 27-byte page header; header_type bit 1 = beginning of stream.
        if !page.starts_with(b"OggS") || page.len() < 27 || page[5] & 0x02 == 0 {
            break;
        }
        let segments = usize::from(page[26]);
        let Some(table) = page.get(27..27 + segments) else {
            break;
        };
        let body = &page[27 + segments..];
        if VIDEO.iter().any(|m| body.starts_with(m)) {
            return (MediaType::Video, "video/ogg");
        }
        pos += 27 + segments + table.iter().map(|&b| usize::from(b)).sum::<usize>();
    }
    (MediaType::Audio, "audio/ogg")
}

/// EBML (Matroska family): the DocType element (ID 0x4282) says webm or matroska.
fn ebml(h: &[u8]) -> (MediaType, &'static str) {
    let window = &h[..h.len().min(256)];
    let doc_type = window
        .windows(2)
        .position(|w| w == b"\x42\x82")
        .and_then(|i| {
            let size = *window.get(i + 2)?;
            // One-byte size vint (0x80 | len) is what muxers write for a short string.
            let len = usize::from(size & 0x7F);
            (size & 0x80 != 0)
                .then(|| window.get(i + 3..i + 3 + len))
                .flatten()
        });
    match doc_type {
        Some(t) if t.starts_with(b"webm") => (MediaType::Video, "video/webm"),
        _ => (MediaType::Video, "video/x-matroska"),
    }
}

/// MPEG transport stream: a 0x47 sync byte at the start of every packet in the head (3 at least).
fn is_mpeg_ts(h: &[u8], packet: usize, offset: usize) -> bool {
    let syncs = (offset..h.len()).step_by(packet);
    syncs.clone().count() >= 3 && syncs.map(|p| h[p]).all(|b| b == 0x47)
}

/// QuickTime files older than the `ftyp` box start with another top-level atom.
fn is_old_quicktime(h: &[u8]) -> bool {
    // A small first atom (size < 16 MiB, so a leading 0 byte) rules out text that happens to match.
    h.first() == Some(&0)
        && [b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"]
            .iter()
            .any(|atom| at(h, 4, *atom))
}

// ---------------------------------------------------------------------------------------------
// Text

/// Valid UTF-8 without NUL so far (a character cut by the end of the head is fine).
fn could_be_text(head: &[u8]) -> bool {
    let mut check = TextCheck::default();
    check.push(head);
    !check.failed
}

/// HTML, SVG and scripts are refused even though they are text.
fn is_active_text(head: &[u8]) -> bool {
    let s = head
        .strip_prefix(UTF8_BOM)
        .unwrap_or(head)
        .trim_ascii_start();
    const PREFIXES: [&[u8]; 5] = [b"#!", b"<!doctype html", b"<html", b"<script", b"<svg"];
    if PREFIXES.iter().any(|p| starts_with_ignore_case(s, p)) {
        return true;
    }
    match markup_root(s) {
        Root::Element(name) => is_active_element(name),
        // The prolog runs past the head: refuse rather than guess what follows.
        Root::Truncated => head.len() >= HEAD_LEN,
        Root::NotMarkup => false,
    }
}

fn is_active_element(name: &[u8]) -> bool {
    [&b"html"[..], b"svg", b"script"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

enum Root<'a> {
    /// Local name of the root element (or of the DOCTYPE when that is already active).
    Element(&'a [u8]),
    NotMarkup,
    Truncated,
}

/// Skip an XML/HTML prolog (declaration, processing instructions, comments, DOCTYPE) and return
/// the root element's local name.
fn markup_root(mut s: &[u8]) -> Root<'_> {
    loop {
        s = s.trim_ascii_start();
        let rest = if s.starts_with(b"<?") {
            after(s, b"?>")
        } else if s.starts_with(b"<!--") {
            after(s, b"-->")
        } else if starts_with_ignore_case(s, b"<!doctype") {
            let name = xml_local_name(s[9..].trim_ascii_start());
            if is_active_element(name) {
                return Root::Element(name);
            }
            skip_doctype(s)
        } else if let Some(tag) = s.strip_prefix(b"<") {
            let name = xml_local_name(tag);
            return if name.is_empty() {
                Root::NotMarkup
            } else {
                Root::Element(name)
            };
        } else {
            return Root::NotMarkup;
        };
        match rest {
            Some(rest) => s = rest,
            None => return Root::Truncated,
        }
    }
}

/// Name up to whitespace, `>`, `/` or `[`; without a namespace prefix (`svg:svg` -> `svg`).
fn xml_local_name(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .position(|&b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/' | b'['))
        .unwrap_or(s.len());
    let name = &s[..end];
    match name.iter().rposition(|&b| b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

/// The rest after `<!DOCTYPE ...>`, whose internal subset `[...]` may contain `>`.
fn skip_doctype(s: &[u8]) -> Option<&[u8]> {
    let mut depth = 0usize;
    for (i, &b) in s.iter().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'>' if depth == 0 => return Some(&s[i + 1..]),
            _ => {}
        }
    }
    None
}

fn after<'a>(s: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    s.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| &s[i + needle.len()..])
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

// ---------------------------------------------------------------------------------------------
// Hints

struct Hints {
    /// Lower-case extension of the file name, without the dot ("" if none).
    ext: String,
    /// Lower-case declared MIME type without parameters.
    mime: String,
}

impl Hints {
    fn new(file_name: &str, declared_mime: &str) -> Self {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
        let ext = base.rsplit_once('.').map_or("", |(_, ext)| ext);
        let mime = declared_mime.split(';').next().unwrap_or_default().trim();
        Hints {
            ext: ext.to_ascii_lowercase(),
            mime: mime.to_ascii_lowercase(),
        }
    }
}

fn text_mime(hints: &Hints) -> &'static str {
    const TSV: &str = "text/tab-separated-values";
    let by_ext = match hints.ext.as_str() {
        "csv" => Some("text/csv"),
        "tsv" | "tab" => Some(TSV),
        "md" | "markdown" => Some("text/markdown"),
        "json" => Some("application/json"),
        "xml" => Some("application/xml"),
        "txt" | "text" | "log" => Some("text/plain"),
        _ => None,
    };
    let by_mime = || match hints.mime.as_str() {
        "text/csv" => Some("text/csv"),
        TSV => Some(TSV),
        "text/markdown" | "text/x-markdown" => Some("text/markdown"),
        "application/json" => Some("application/json"),
        "application/xml" | "text/xml" => Some("application/xml"),
        _ => None,
    };
    by_ext.or_else(by_mime).unwrap_or("text/plain")
}

// ---------------------------------------------------------------------------------------------
// OLE compound files (doc/xls/ppt share the container)

const fn clsid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (d1.to_le_bytes(), d2.to_le_bytes(), d3.to_le_bytes());
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

const MS_TAIL: [u8; 8] = [0xC0, 0, 0, 0, 0, 0, 0, 0x46];
const WORD_CLSIDS: [[u8; 16]; 2] = [
    clsid(0x0002_0906, 0, 0, MS_TAIL),
    clsid(0x0002_0900, 0, 0, MS_TAIL),
];
const EXCEL_CLSIDS: [[u8; 16]; 2] = [
    clsid(0x0002_0820, 0, 0, MS_TAIL),
    clsid(0x0002_0810, 0, 0, MS_TAIL),
];
const POWERPOINT_CLSIDS: [[u8; 16]; 2] = [
    clsid(
        0x6481_8D10,
        0x4F9B,
        0x11CF,
        [0x86, 0xEA, 0x00, 0xAA, 0x00, 0xB9, 0x29, 0xE8],
    ),
    clsid(
        0xEA7B_AE70,
        0xFB3B,
        0x11CD,
        [0xA9, 0x03, 0x00, 0xAA, 0x00, 0x51, 0x0E, 0xA3],
    ),
];
/// Windows Installer package, patch and transform: executables in an OLE container.
const INSTALLER_CLSIDS: [[u8; 16]; 3] = [
    clsid(0x000C_1084, 0, 0, MS_TAIL),
    clsid(0x000C_1086, 0, 0, MS_TAIL),
    clsid(0x000C_1082, 0, 0, MS_TAIL),
];

fn ole_kind(
    head: &[u8],
    path: &Path,
    hints: &Hints,
) -> Result<(MediaType, &'static str), DetectError> {
    if matches!(hints.ext.as_str(), "msi" | "msp" | "mst") {
        return Err(DetectError::InvalidType);
    }
    if let Some(id) = ole_root_clsid(head, path) {
        if INSTALLER_CLSIDS.contains(&id) {
            return Err(DetectError::InvalidType);
        } else if WORD_CLSIDS.contains(&id) {
            return Ok((MediaType::Document, DOC));
        } else if EXCEL_CLSIDS.contains(&id) {
            return Ok((MediaType::Spreadsheet, XLS));
        } else if POWERPOINT_CLSIDS.contains(&id) {
            return Ok((MediaType::Presentation, PPT));
        }
    }
    // The root CLSID is often left zero: the hint is all that is left.
    let ext = hints.ext.as_str();
    Ok(
        if matches!(ext, "xls" | "xlt" | "xla" | "xlw") || hints.mime == XLS {
            (MediaType::Spreadsheet, XLS)
        } else if matches!(ext, "ppt" | "pps" | "pot" | "ppa") || hints.mime == PPT {
            (MediaType::Presentation, PPT)
        } else {
            (MediaType::Document, DOC)
        },
    )
}

/// CLSID of the root storage: the first entry of the first directory sector.
fn ole_root_clsid(head: &[u8], path: &Path) -> Option<[u8; 16]> {
    let shift = head
        .get(0x1E..0x20)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))?;
    let first_dir = head
        .get(0x30..0x34)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))?;
    // 512- or 4096-byte sectors; ids from 0xFFFFFFFA up are markers, not sectors.
    if !(shift == 9 || shift == 12) || first_dir >= 0xFFFF_FFFA {
        return None;
    }
    // The header occupies sector "-1".
    let offset = (u64::from(first_dir) + 1) << shift;
    let mut entry = [0u8; 128];
    let mut file = File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut entry).ok()?;
    const ROOT_STORAGE: u8 = 5;
    if entry[0x42] != ROOT_STORAGE {
        return None;
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&entry[0x50..0x60]);
    Some(id)
}

// ---------------------------------------------------------------------------------------------
// Zip containers: office formats are told apart by their central directory.
//
// Hand-written rather than zip::ZipArchive because that one scans the whole file for
// end-of-central-directory signatures, retries every candidate, and loads every entry: unbounded
// work on a hostile file. Here: one EOCD from the last 64 KiB, at most MAX_ZIP_ENTRIES entries,
// and at most 100 bytes of one stored entry.

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from(le32(b, at)) | (u64::from(le32(b, at + 4)) << 32)
}

/// The end-of-central-directory record, with zip64 values already substituted.
struct Eocd {
    /// Absolute position of the (32-bit) record in the file; the directory ends before it.
    pos: u64,
    multi_disk: bool,
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
}

/// What the central directory says, as far as classification goes.
#[derive(Default)]
struct ZipEntries {
    content_types: bool,
    word: bool,
    xl: bool,
    ppt: bool,
    /// The `mimetype` entry of ODF/EPUB: (compression method, compressed size, local header offset).
    mimetype: Option<(u16, u32, u32)>,
}

/// `Ok(None)`: a plain (or unreadable) zip.
fn zip_kind(path: &Path) -> io::Result<Option<(MediaType, &'static str)>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let Some(eocd) = find_eocd(&mut file, len)? else {
        return Ok(None);
    };
    let Some(entries) = read_central_directory(&mut file, &eocd)? else {
        return Ok(None);
    };
    if let Some(mimetype) = entries.mimetype {
        let content = read_stored_mimetype(&mut file, mimetype).ok().flatten();
        let kind = match content.as_deref() {
            Some(b"application/vnd.oasis.opendocument.text") => Some((MediaType::Document, ODT)),
            Some(b"application/vnd.oasis.opendocument.spreadsheet") => {
                Some((MediaType::Spreadsheet, ODS))
            }
            Some(b"application/vnd.oasis.opendocument.presentation") => {
                Some((MediaType::Presentation, ODP))
            }
            Some(b"application/epub+zip") => Some((MediaType::Document, EPUB)),
            _ => None,
        };
        if kind.is_some() {
            return Ok(kind);
        }
    }
    if entries.content_types {
        if entries.word {
            return Ok(Some((MediaType::Document, DOCX)));
        } else if entries.xl {
            return Ok(Some((MediaType::Spreadsheet, XLSX)));
        } else if entries.ppt {
            return Ok(Some((MediaType::Presentation, PPTX)));
        }
    }
    Ok(None)
}

/// The end-of-central-directory record: 22 bytes plus a comment of at most 64 KiB, at the end.
fn find_eocd(file: &mut File, len: u64) -> io::Result<Option<Eocd>> {
    const EOCD_LEN: usize = 22;
    if len < EOCD_LEN as u64 {
        return Ok(None);
    }
    let tail_len = len.min((EOCD_LEN + usize::from(u16::MAX)) as u64);
    let tail_start = len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    file.seek(SeekFrom::Start(tail_start))?;
    file.read_exact(&mut tail)?;
    for i in (0..=tail.len() - EOCD_LEN).rev() {
        let r = &tail[i..];
        if !r.starts_with(b"PK\x05\x06") || EOCD_LEN + usize::from(le16(r, 20)) > r.len() {
            continue;
        }
        let eocd = Eocd {
            pos: tail_start + i as u64,
            multi_disk: le16(r, 4) != 0 || le16(r, 6) != 0,
            entries: u64::from(le16(r, 10)),
            cd_size: u64::from(le32(r, 12)),
            cd_offset: u64::from(le32(r, 16)),
        };
        let zip64 = eocd.entries == u64::from(u16::MAX)
            || eocd.cd_size == u64::from(u32::MAX)
            || eocd.cd_offset == u64::from(u32::MAX);
        // Some writers emit zip64 records even for small files.
        return if zip64 {
            read_zip64_eocd(file, eocd.pos)
        } else {
            Ok(Some(eocd))
        };
    }
    Ok(None)
}

/// The zip64 record, found through the 20-byte locator just before the 32-bit EOCD.
fn read_zip64_eocd(file: &mut File, eocd_pos: u64) -> io::Result<Option<Eocd>> {
    let Some(locator_pos) = eocd_pos.checked_sub(20) else {
        return Ok(None);
    };
    let mut locator = [0u8; 20];
    file.seek(SeekFrom::Start(locator_pos))?;
    file.read_exact(&mut locator)?;
    let record_pos = le64(&locator, 8);
    if !locator.starts_with(b"PK\x06\x07") || record_pos > locator_pos {
        return Ok(None);
    }
    let mut r = [0u8; 56];
    file.seek(SeekFrom::Start(record_pos))?;
    file.read_exact(&mut r)?;
    if !r.starts_with(b"PK\x06\x06") {
        return Ok(None);
    }
    Ok(Some(Eocd {
        pos: record_pos,
        multi_disk: le32(&r, 16) != 0 || le32(&r, 20) != 0,
        entries: le64(&r, 32),
        cd_size: le64(&r, 40),
        cd_offset: le64(&r, 48),
    }))
}

/// `Ok(None)` when the directory is not one we classify (multi-disk, out of bounds, corrupt).
fn read_central_directory(file: &mut File, eocd: &Eocd) -> io::Result<Option<ZipEntries>> {
    let inside = eocd
        .cd_offset
        .checked_add(eocd.cd_size)
        .is_some_and(|end| end <= eocd.pos);
    if eocd.multi_disk || !inside {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(eocd.cd_offset))?;
    // `take` keeps every read inside the declared directory, whatever the entries claim.
    let mut cd = BufReader::new(Read::by_ref(file).take(eocd.cd_size));
    let mut found = ZipEntries::default();
    let mut name = Vec::new();
    for _ in 0..eocd.entries.min(MAX_ZIP_ENTRIES as u64) {
        let mut header = [0u8; 46];
        cd.read_exact(&mut header)?;
        if !header.starts_with(b"PK\x01\x02") {
            return Ok(None);
        }
        let (name_len, extra_len, comment_len) =
            (le16(&header, 28), le16(&header, 30), le16(&header, 32));
        name.resize(usize::from(name_len), 0);
        cd.read_exact(&mut name)?;
        let skip = u64::from(extra_len) + u64::from(comment_len);
        if io::copy(&mut Read::by_ref(&mut cd).take(skip), &mut io::sink())? != skip {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match name.as_slice() {
            b"[Content_Types].xml" => found.content_types = true,
            b"mimetype" => {
                found.mimetype = Some((le16(&header, 10), le32(&header, 20), le32(&header, 42)))
            }
            n if n.starts_with(b"word/") => found.word = true,
            n if n.starts_with(b"xl/") => found.xl = true,
            n if n.starts_with(b"ppt/") => found.ppt = true,
            _ => {}
        }
    }
    Ok(Some(found))
}

/// Content of the `mimetype` entry, which ODF and EPUB require to be stored uncompressed.
fn read_stored_mimetype(
    file: &mut File,
    (method, size, local_offset): (u16, u32, u32),
) -> io::Result<Option<Vec<u8>>> {
    const STORED: u16 = 0;
    if method != STORED || size > 100 {
        return Ok(None);
    }
    let mut local = [0u8; 30];
    file.seek(SeekFrom::Start(u64::from(local_offset)))?;
    file.read_exact(&mut local)?;
    if !local.starts_with(b"PK\x03\x04") {
        return Ok(None);
    }
    let skip = i64::from(le16(&local, 26)) + i64::from(le16(&local, 28));
    file.seek(SeekFrom::Current(skip))?;
    let mut content = vec![0u8; size as usize];
    file.read_exact(&mut content)?;
    Ok(Some(content.trim_ascii().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use MediaType::*;

    // ---- helpers --------------------------------------------------------------------------

    /// The caller's flow: head, TextCheck over chunks, sniff, then resolve on the temp file.
    fn detect(bytes: &[u8], name: &str, mime: &str) -> Result<Detected, DetectError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        file.flush().unwrap();
        let head = &bytes[..bytes.len().min(HEAD_LEN)];
        let mut check = TextCheck::default();
        // 1000 does not line up with character boundaries or HEAD_LEN.
        for chunk in bytes.chunks(1000) {
            check.push(chunk);
        }
        let sniffed = sniff(head)?;
        resolve(sniffed, head, file.path(), check.finish(), name, mime)
    }

    fn kind(bytes: &[u8], name: &str) -> (MediaType, String) {
        let d = detect(bytes, name, "").unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        (d.media_type, d.mime)
    }

    fn assert_kind(bytes: &[u8], name: &str, media_type: MediaType, mime: &str) {
        assert_eq!(kind(bytes, name), (media_type, mime.to_string()), "{name}");
    }

    fn assert_refused(bytes: &[u8], name: &str) {
        assert_eq!(
            detect(bytes, name, ""),
            Err(DetectError::InvalidType),
            "{name}"
        );
    }

    fn unsupported(bytes: &[u8]) -> DetectError {
        detect(bytes, "photo.jpg", "image/jpeg").unwrap_err()
    }

    fn le32b(n: u32) -> [u8; 4] {
        n.to_le_bytes()
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A real zip from the zip crate's writer; `stored` entries are uncompressed.
    fn zip_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        use zip::write::SimpleFileOptions;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, stored) in entries {
            let method = if *stored {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            };
            w.start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const CT: &[u8] = b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
    const XML: &[u8] = b"<?xml version=\"1.0\"?><x>some content that deflates well, well, well</x>";

    fn docx() -> Vec<u8> {
        zip_of(&[
            ("[Content_Types].xml", CT, false),
            ("_rels/.rels", XML, false),
            ("word/document.xml", XML, false),
        ])
    }

    fn xlsx() -> Vec<u8> {
        zip_of(&[
            ("[Content_Types].xml", CT, false),
            ("_rels/.rels", XML, false),
            ("xl/workbook.xml", XML, false),
            ("xl/worksheets/sheet1.xml", XML, false),
        ])
    }

    fn pptx() -> Vec<u8> {
        zip_of(&[
            ("[Content_Types].xml", CT, false),
            ("_rels/.rels", XML, false),
            ("ppt/presentation.xml", XML, false),
        ])
    }

    fn odf(mimetype: &str) -> Vec<u8> {
        zip_of(&[
            ("mimetype", mimetype.as_bytes(), true),
            ("content.xml", XML, false),
            ("META-INF/manifest.xml", XML, false),
        ])
    }

    fn plain_zip() -> Vec<u8> {
        zip_of(&[
            ("notes.txt", b"hello hello hello", false),
            ("dir/data.bin", &[7u8; 300], false),
            ("raw", b"raw stored", true),
        ])
    }

    fn png() -> Vec<u8> {
        let mut v =
            b"\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1F\x15\xC4\x89"
                .to_vec();
        v.extend_from_slice(b"\0\0\0\x0AIDATx\x9Cc\0\x01\0\0\x05\0\x01\x0D\x0A\x2D\xB4");
        v.extend_from_slice(b"\0\0\0\0IEND\xAE\x42\x60\x82");
        v
    }

    fn pdf() -> Vec<u8> {
        b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
    }

    fn bmp() -> Vec<u8> {
        let mut v = cat(&[
            b"BM",
            &le32b(58),
            &[0; 4],
            &le32b(54),
            &le32b(40),
            &le32b(1),
            &le32b(1),
        ]);
        v.extend_from_slice(&[1, 0, 24, 0]); // planes, bits per pixel
        v.resize(54, 0);
        v.extend_from_slice(&[0, 0, 255, 0]);
        v
    }

    fn wav() -> Vec<u8> {
        let mut v = cat(&[b"RIFF", &le32b(40), b"WAVEfmt ", &le32b(16)]);
        v.extend_from_slice(&[1, 0, 1, 0, 0x44, 0xAC, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0]);
        v.extend_from_slice(&cat(&[b"data", &le32b(4), &[0, 0, 1, 0]]));
        v
    }

    /// An `ftyp` box with the given brands, then an empty `mdat`.
    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut v = cat(&[&size.to_be_bytes(), b"ftyp", major, &[0, 0, 2, 0]]);
        for b in compatible {
            v.extend_from_slice(*b);
        }
        v.extend_from_slice(b"\0\0\0\x08mdat");
        v
    }

    /// One beginning-of-stream Ogg page whose packet is `packet` (padded to 30 bytes).
    fn ogg_page(packet: &[u8]) -> Vec<u8> {
        let mut body = packet.to_vec();
        body.resize(30, 0);
        let mut v = b"OggS\0\x02".to_vec();
        v.extend_from_slice(&[0; 8]); // granule position
        v.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]); // serial, sequence
        v.extend_from_slice(&[0; 4]); // crc
        v.extend_from_slice(&[1, 30]); // one segment of 30 bytes
        v.extend_from_slice(&body);
        v
    }

    fn ebml(doc_type: &[u8]) -> Vec<u8> {
        let mut header =
            b"\x42\x86\x81\x01\x42\xF7\x81\x01\x42\xF2\x81\x04\x42\xF3\x81\x08".to_vec();
        header.extend_from_slice(&[0x42, 0x82, 0x80 | doc_type.len() as u8]);
        header.extend_from_slice(doc_type);
        header.extend_from_slice(b"\x42\x87\x81\x02\x42\x85\x81\x02");
        let mut v = b"\x1A\x45\xDF\xA3".to_vec();
        v.push(0x80 | header.len() as u8);
        v.extend_from_slice(&header);
        v.extend_from_slice(b"\x18\x53\x80\x67\x01\0\0\0\0\0\0\0");
        v
    }

    /// A 1024-byte OLE compound file: header, then a directory sector with the root entry.
    fn ole(root_clsid: [u8; 16]) -> Vec<u8> {
        let mut v = vec![0u8; 1024];
        v[..8].copy_from_slice(OLE_MAGIC);
        v[0x18..0x1A].copy_from_slice(&0x3Eu16.to_le_bytes());
        v[0x1A..0x1C].copy_from_slice(&3u16.to_le_bytes());
        v[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes());
        v[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes());
        v[0x20..0x22].copy_from_slice(&6u16.to_le_bytes());
        v[0x30..0x34].copy_from_slice(&0u32.to_le_bytes()); // first directory sector: #0, at 512
        let entry = &mut v[512..640];
        for (i, c) in "Root Entry".encode_utf16().enumerate() {
            entry[2 * i..2 * i + 2].copy_from_slice(&c.to_le_bytes());
        }
        entry[0x40] = 22;
        entry[0x42] = 5;
        entry[0x50..0x60].copy_from_slice(&root_clsid);
        v
    }

    fn tar() -> Vec<u8> {
        let mut v = vec![0u8; 1024];
        v[..9].copy_from_slice(b"hello.txt");
        v[100..108].copy_from_slice(b"0000644\0");
        v[257..265].copy_from_slice(b"ustar\x0000");
        v
    }

    // ---- the nine types -------------------------------------------------------------------

    #[test]
    fn one_of_each_type() {
        assert_kind(&pdf(), "a.pdf", Pdf, "application/pdf");
        assert_kind(b"just some words\n", "a.txt", Text, "text/plain");
        assert_kind(&png(), "a.png", Image, "image/png");
        assert_kind(&docx(), "a.docx", Document, DOCX);
        assert_kind(
            b"\x1F\x8B\x08\0\0\0\0\0\0\x03\x03\0\0\0\0\0\0\0\0\0",
            "a.gz",
            Compressed,
            "application/gzip",
        );
        assert_kind(&xlsx(), "a.xlsx", Spreadsheet, XLSX);
        assert_kind(&pptx(), "a.pptx", Presentation, PPTX);
        assert_kind(
            &ftyp(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]),
            "a.mp4",
            Video,
            "video/mp4",
        );
        assert_kind(&wav(), "a.wav", Audio, "audio/wav");
    }

    // ---- content beats hints --------------------------------------------------------------

    #[test]
    fn pdf_named_png_is_pdf() {
        assert_eq!(
            detect(&pdf(), "picture.png", "image/png").unwrap(),
            Detected {
                media_type: Pdf,
                mime: "application/pdf".into()
            }
        );
    }

    #[test]
    fn png_named_jpg_is_png() {
        let d = detect(&png(), "photo.jpg", "image/jpeg").unwrap();
        assert_eq!((d.media_type, d.mime.as_str()), (Image, "image/png"));
    }

    #[test]
    fn docx_named_zip_is_a_document() {
        let d = detect(&docx(), "archive.zip", "application/zip").unwrap();
        assert_eq!((d.media_type, d.mime.as_str()), (Document, DOCX));
    }

    #[test]
    fn plain_zip_named_docx_is_compressed() {
        assert_kind(&plain_zip(), "report.docx", Compressed, ZIP);
    }

    #[test]
    fn text_with_binary_hint_is_text() {
        let d = detect(b"hello", "photo.jpg", "image/jpeg").unwrap();
        assert_eq!((d.media_type, d.mime.as_str()), (Text, "text/plain"));
    }

    // ---- images ---------------------------------------------------------------------------

    #[test]
    fn supported_images() {
        let jpeg = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xFF\xD9";
        assert_kind(jpeg, "a.jpg", Image, "image/jpeg");
        let gif = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xFF\xFF\xFF!\xF9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;";
        assert_kind(gif, "a.gif", Image, "image/gif");
        let webp = cat(&[
            b"RIFF",
            &le32b(26),
            b"WEBPVP8L",
            &le32b(13),
            b"\x2F\0\0\0\x10\x07\x10\x11\x11\x88\x88\xFE\x07\0",
        ]);
        assert_kind(&webp, "a.webp", Image, "image/webp");
        assert_kind(&bmp(), "a.bmp", Image, "image/bmp");
        let tiff = cat(&[b"II*\0", &le32b(8), &[0, 0], &[0; 4]]);
        assert_kind(&tiff, "a.tif", Image, "image/tiff");
        assert_kind(
            &cat(&[b"MM\0*", &8u32.to_be_bytes(), &[0; 6]]),
            "b.tiff",
            Image,
            "image/tiff",
        );
    }

    #[test]
    fn heic_is_unsupported_with_exact_message() {
        let err = unsupported(&ftyp(b"heic", &[b"mif1", b"heic"]));
        assert_eq!(err, DetectError::UnsupportedImage("heic"));
        assert_eq!(err.to_string(), "Unsupported image format: heic");
    }

    #[test]
    fn avif_is_unsupported() {
        assert_eq!(
            unsupported(&ftyp(b"avif", &[b"avif", b"mif1", b"miaf"])),
            DetectError::UnsupportedImage("avif")
        );
        // Generic HEIF major brand: the compatible brands name the codec.
        assert_eq!(
            unsupported(&ftyp(b"mif1", &[b"mif1", b"avif"])),
            DetectError::UnsupportedImage("avif")
        );
        assert_eq!(
            unsupported(&ftyp(b"mif1", &[b"mif1", b"heic"])),
            DetectError::UnsupportedImage("heic")
        );
        assert_eq!(
            unsupported(&ftyp(b"mif1", &[b"mif1"])),
            DetectError::UnsupportedImage("heif")
        );
        assert_eq!(
            unsupported(&ftyp(b"avif", &[])).to_string(),
            "Unsupported image format: avif"
        );
    }

    #[test]
    fn other_undecodable_images_are_unsupported() {
        let cases: [(&[u8], &str); 7] = [
            (b"\xFF\x0A\xFA\x7F\x01\x90\x08", "jxl"),
            (b"\0\0\0\x0CJXL \r\n\x87\n\0\0\0\x14ftypjxl ", "jxl"),
            (b"\0\0\0\x0CjP  \r\n\x87\n\0\0\0\x14ftypjp2 ", "jp2"),
            (b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0\x20\0", "ico"),
            (b"8BPS\0\x01\0\0\0\0\0\0\0\x03", "psd"),
            (b"II\xBC\x01\x08\0\0\0", "jxr"),
            (b"II*\0\x10\0\0\0CR\x02\0\0\0\0\0", "cr2"),
        ];
        for (bytes, name) in cases {
            assert_eq!(
                unsupported(bytes),
                DetectError::UnsupportedImage(name),
                "{name}"
            );
        }
    }

    // ---- refused content ------------------------------------------------------------------

    #[test]
    fn elf_named_jpg_is_refused() {
        let mut elf = b"\x7FELF\x02\x01\x01\0".to_vec();
        elf.resize(64, 0);
        assert_eq!(sniff(&elf), Err(DetectError::InvalidType));
        assert_refused(&elf, "photo.jpg");
    }

    #[test]
    fn executables_are_refused() {
        let mut mz = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0\xB8\0".to_vec();
        mz.resize(128, 0);
        let samples: [(&[u8], &str); 5] = [
            (&mz, "setup.exe"),
            (b"\xCF\xFA\xED\xFE\x07\0\0\x01\x03\0\0\0", "tool"),
            (b"\0asm\x01\0\0\0", "mod.wasm"),
            (b"\xCA\xFE\xBA\xBE\0\0\0\x34\0\x10", "Main.class"),
            (b"dex\n035\0\0\0\0\0", "classes.dex"),
        ];
        for (bytes, name) in samples {
            assert_refused(bytes, name);
            // Refused for its magic, not merely for the NULs that also make it non-text.
            assert!(is_executable(bytes), "{name}");
        }
    }

    #[test]
    fn text_starting_like_weak_magic_is_still_text() {
        assert_kind(b"BMI,weight\n22,70\n", "bmi.csv", Text, "text/csv");
        assert_kind(b"MZ is my signature\n", "a.txt", Text, "text/plain");
        assert_kind(
            b"GIF is pronounced with a hard g\n",
            "a.txt",
            Text,
            "text/plain",
        );
        assert_kind(b"ID3 tags are metadata\n", "a.md", Text, "text/markdown");
        assert_kind(
            b"OggS is the Ogg capture pattern\n",
            "a.txt",
            Text,
            "text/plain",
        );
    }

    #[test]
    fn html_is_refused() {
        assert_refused(b"<!DOCTYPE html>\n<html><body>hi</body></html>", "page.txt");
        assert_refused(b"<html><script>alert(1)</script></html>", "a.txt");
        // BOM, leading whitespace, upper case.
        assert_refused(b"\xEF\xBB\xBF \r\n\t<HTML lang=en>", "a.txt");
        assert_refused(b"<script>alert(1)</script>", "a.js");
        assert_refused(b"<!-- generated --><html>", "a.txt");
        assert_refused(
            b"<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"/>",
            "a.xml",
        );
        assert_refused(
            b"<?xml version=\"1.0\"?><x:html xmlns:x=\"http://www.w3.org/1999/xhtml\"/>",
            "a.xml",
        );
    }

    #[test]
    fn svg_is_refused() {
        assert_refused(
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            "a.svg",
        );
        assert_refused(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "a.xml");
        assert_refused(
            b"<?xml version=\"1.0\"?>\n<!-- drawn by hand -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<svg/>",
            "a.xml",
        );
        // `>` inside the DOCTYPE's internal subset must not end it.
        assert_refused(
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><svg/>",
            "a.xml",
        );
        assert_refused(
            b"<?xml version=\"1.0\"?><s:svg xmlns:s=\"http://www.w3.org/2000/svg\"/>",
            "a.xml",
        );
    }

    #[test]
    fn shebang_scripts_are_refused() {
        assert_refused(b"#!/bin/sh\nrm -rf /\n", "notes.txt");
        assert_refused(b"\xEF\xBB\xBF#!/usr/bin/env python3\nprint(1)\n", "a.txt");
        // AMR's magic starts with "#!" but is audio.
        assert_kind(
            b"#!AMR\n\x3C\x48\xF5\x1F\x96\x66\x79\xE1",
            "a.amr",
            Audio,
            "audio/amr",
        );
    }

    #[test]
    fn xml_that_is_not_active_is_text() {
        let xml = b"<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE note [<!ELEMENT note (#PCDATA)>]>\n<note>hi</note>\n";
        assert_kind(xml, "note.xml", Text, "application/xml");
        assert_kind(b"<3 this\n", "a.txt", Text, "text/plain");
        // Short file, whole prolog seen, no root at all.
        assert_kind(b"<?xml version=\"1.0\"?>", "a.xml", Text, "application/xml");
    }

    #[test]
    fn prolog_longer_than_the_head_is_refused() {
        let mut xml = b"<?xml version=\"1.0\"?>\n<!--".to_vec();
        xml.resize(HEAD_LEN + 100, b'x');
        xml.extend_from_slice(b"-->\n<svg/>");
        assert_refused(&xml, "a.xml");
    }

    #[test]
    fn binary_garbage_is_refused() {
        let garbage: Vec<u8> = (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(garbage.contains(&0));
        assert_eq!(sniff(&garbage), Err(DetectError::InvalidType));
        assert_refused(&garbage, "data.csv");
        // Not UTF-8, no NUL.
        assert_refused(b"\xC3\x28\xA0\xA1 latin-1 caf\xE9", "a.txt");
    }

    #[test]
    fn nul_after_the_head_is_refused_at_resolve() {
        let mut bytes = vec![b'a'; HEAD_LEN + 500];
        bytes[HEAD_LEN + 10] = 0;
        assert_eq!(sniff(&bytes[..HEAD_LEN]), Ok(Sniff::MaybeText));
        assert_refused(&bytes, "a.txt");
    }

    #[test]
    fn char_cut_by_the_head_is_still_text() {
        let mut bytes = vec![b'a'; HEAD_LEN - 1];
        bytes.extend_from_slice("€ and more".as_bytes()); // the euro sign straddles HEAD_LEN
        assert_eq!(sniff(&bytes[..HEAD_LEN]), Ok(Sniff::MaybeText));
        assert_kind(&bytes, "a.txt", Text, "text/plain");
    }

    #[test]
    fn resolve_maybe_text_needs_is_text() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let r = resolve(
            Sniff::MaybeText,
            b"hello",
            file.path(),
            false,
            "a.txt",
            "text/plain",
        );
        assert_eq!(r, Err(DetectError::InvalidType));
        // And re-checks active content even if handed MaybeText.
        let r = resolve(Sniff::MaybeText, b"<svg/>", file.path(), true, "a.txt", "");
        assert_eq!(r, Err(DetectError::InvalidType));
    }

    // ---- TextCheck ------------------------------------------------------------------------

    fn check(chunks: &[&[u8]]) -> bool {
        let mut c = TextCheck::default();
        for chunk in chunks {
            c.push(chunk);
        }
        c.finish()
    }

    #[test]
    fn text_split_inside_a_three_byte_char_passes() {
        // "€" is E2 82 AC.
        assert!(check(&[b"price: \xE2", b"\x82", b"\xAC 5\n"]));
        assert!(check(&[b"price: \xE2\x82", b"\xAC 5\n"]));
        assert!(check(&[b"\xE2", b"", b"\x82\xAC"]));
    }

    #[test]
    fn every_split_point_passes() {
        let s = "héllo € 𝄞 日本語 ok".as_bytes();
        for i in 0..=s.len() {
            assert!(check(&[&s[..i], &s[i..]]), "split at {i}");
        }
        let bytes: Vec<&[u8]> = s.chunks(1).collect();
        assert!(check(&bytes));
    }

    #[test]
    fn invalid_utf8_fails() {
        assert!(!check(&[b"ok \xC3\x28"]));
        assert!(!check(&[b"ok \xE2", b"A"])); // lead byte, then no continuation
        assert!(!check(&[b"\xED\xA0\x80"])); // surrogate
        assert!(!check(&[b"\xC0\xAF"])); // overlong
        assert!(!check(&[b"\xF0\x9D", b"\x84", b"\x28"]));
    }

    #[test]
    fn truncated_char_at_the_end_fails() {
        assert!(!check(&[b"abc\xE2\x82"]));
        assert!(!check(&[b"abc", b"\xF0\x9D\x84"]));
    }

    #[test]
    fn nul_fails_and_failure_sticks() {
        assert!(!check(&[b"abc", b"d\0e"]));
        assert!(!check(&[b"\xFF", b"all fine after"]));
        assert!(check(&[]));
        assert!(check(&[b"\xEF\xBB\xBFwith BOM"]));
    }

    // ---- text subtypes --------------------------------------------------------------------

    #[test]
    fn text_mime_from_name_hint() {
        assert_kind(b"a,b\n1,2\n", "data.CSV", Text, "text/csv");
        assert_kind(b"{\"a\": [1, 2]}", "dir/x.json", Text, "application/json");
        assert_kind(b"# Title\n\n*hi*\n", "README.md", Text, "text/markdown");
        assert_kind(b"a\tb\n", "t.tsv", Text, "text/tab-separated-values");
        assert_kind(b"12:00 started\n", "app.log", Text, "text/plain");
        assert_kind(b"no extension", "Makefile", Text, "text/plain");
    }

    #[test]
    fn text_mime_from_declared_mime_when_name_says_nothing() {
        let mime = |m: &str| detect(b"a,b\n", "upload", m).unwrap().mime;
        assert_eq!(mime("text/csv; charset=utf-8"), "text/csv");
        assert_eq!(mime("Application/JSON"), "application/json");
        assert_eq!(mime("text/xml"), "application/xml");
        assert_eq!(mime("text/markdown"), "text/markdown");
        assert_eq!(
            mime("text/tab-separated-values"),
            "text/tab-separated-values"
        );
        assert_eq!(mime("text/html"), "text/plain");
        assert_eq!(mime(""), "text/plain");
        // The extension wins over the declared type.
        assert_eq!(
            detect(b"a,b\n", "x.csv", "application/json").unwrap().mime,
            "text/csv"
        );
    }

    #[test]
    fn empty_file_is_text() {
        assert_kind(b"", "empty.txt", Text, "text/plain");
    }

    // ---- documents ------------------------------------------------------------------------

    #[test]
    fn odf_and_epub() {
        assert_kind(&odf(ODT), "a.odt", Document, ODT);
        assert_kind(&odf(ODS), "a.ods", Spreadsheet, ODS);
        assert_kind(&odf(ODP), "a.odp", Presentation, ODP);
        assert_kind(&odf(EPUB), "book.zip", Document, EPUB);
    }

    #[test]
    fn odf_mimetype_must_be_stored() {
        let deflated = zip_of(&[
            ("mimetype", ODT.as_bytes(), false),
            ("content.xml", XML, false),
        ]);
        assert_kind(&deflated, "a.odt", Compressed, ZIP);
        let other = odf("application/vnd.oasis.opendocument.graphics");
        assert_kind(&other, "a.odg", Compressed, ZIP);
    }

    #[test]
    fn ooxml_needs_content_types() {
        let no_ct = zip_of(&[("word/document.xml", XML, false)]);
        assert_kind(&no_ct, "a.docx", Compressed, ZIP);
    }

    #[test]
    fn rtf_is_a_document() {
        assert_kind(
            b"{\\rtf1\\ansi{\\fonttbl\\f0 Arial;}\\f0 Hello}",
            "a.rtf",
            Document,
            "application/rtf",
        );
    }

    #[test]
    fn ole_uses_hint_when_clsid_is_blank() {
        let blank = ole([0; 16]);
        assert_eq!(sniff(&blank), Ok(Sniff::Ole));
        assert_kind(&blank, "budget.xls", Spreadsheet, XLS);
        assert_kind(&blank, "deck.PPT", Presentation, PPT);
        assert_kind(&blank, "letter.doc", Document, DOC);
        assert_kind(&blank, "upload", Document, DOC);
        let d = detect(&blank, "upload", "application/vnd.ms-excel").unwrap();
        assert_eq!(d.media_type, Spreadsheet);
    }

    #[test]
    fn ole_root_clsid_beats_hint() {
        assert_kind(&ole(EXCEL_CLSIDS[0]), "letter.doc", Spreadsheet, XLS);
        assert_kind(&ole(POWERPOINT_CLSIDS[0]), "budget.xls", Presentation, PPT);
        assert_kind(&ole(WORD_CLSIDS[0]), "deck.ppt", Document, DOC);
        // Sanity of the CLSID byte layout: {00020906-0000-0000-C000-000000000046}.
        assert_eq!(WORD_CLSIDS[0][..4], [0x06, 0x09, 0x02, 0x00]);
        assert_eq!(
            POWERPOINT_CLSIDS[0][..8],
            [0x10, 0x8D, 0x81, 0x64, 0x9B, 0x4F, 0xCF, 0x11]
        );
    }

    #[test]
    fn windows_installers_are_refused() {
        assert_refused(&ole(INSTALLER_CLSIDS[0]), "letter.doc");
        assert_refused(&ole([0; 16]), "setup.msi");
    }

    #[test]
    fn truncated_ole_falls_back_to_hint() {
        assert_kind(OLE_MAGIC, "a.xls", Spreadsheet, XLS);
        let mut bad = ole(EXCEL_CLSIDS[0]);
        bad[0x30..0x34].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes()); // far past the end
        assert_kind(&bad, "a.ppt", Presentation, PPT);
    }

    // ---- zips -----------------------------------------------------------------------------

    #[test]
    fn zip_with_random_entries_is_compressed() {
        assert_eq!(sniff(&plain_zip()), Ok(Sniff::Zip));
        assert_kind(&plain_zip(), "stuff.zip", Compressed, ZIP);
        assert_kind(&zip_of(&[]), "empty.zip", Compressed, ZIP);
    }

    #[test]
    fn corrupt_zip_is_compressed() {
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.extend((0..5000u32).map(|i| (i * 31 % 256) as u8));
        assert_kind(&bytes, "a.docx", Compressed, ZIP);
        assert_kind(b"PK\x03\x04", "a.zip", Compressed, ZIP);

        // Cut off before the central directory.
        let doc = docx();
        assert_kind(&doc[..doc.len() / 2], "a.docx", Compressed, ZIP);

        // EOCD pointing outside the file, claiming many entries.
        let eocd = |entries: u16, size: u32, offset: u32| {
            cat(&[
                b"PK\x05\x06\0\0\0\0",
                &entries.to_le_bytes(),
                &entries.to_le_bytes(),
                &le32b(size),
                &le32b(offset),
                &[0, 0],
            ])
        };
        assert_kind(
            &cat(&[b"PK\x03\x04", &[0; 40], &eocd(9000, 1000, 0xFFFF_FF00)]),
            "a.zip",
            Compressed,
            ZIP,
        );
        // EOCD pointing at a local header instead of a directory entry.
        assert_kind(
            &cat(&[b"PK\x03\x04", &[0; 60], &eocd(3, 60, 0)]),
            "a.zip",
            Compressed,
            ZIP,
        );
        // Zip64 markers without a zip64 locator.
        assert_kind(
            &cat(&[b"PK\x03\x04", &[0; 60], &eocd(u16::MAX, u32::MAX, u32::MAX)]),
            "a.zip",
            Compressed,
            ZIP,
        );
    }

    /// Rewrite a zip's end records into zip64 form (record + locator + 32-bit EOCD of markers).
    fn as_zip64(zip: &[u8], locator_target: Option<u64>) -> Vec<u8> {
        let pos = zip.len() - 22; // the writer adds no comment
        let e = &zip[pos..];
        assert!(e.starts_with(b"PK\x05\x06"));
        let (entries, cd_size, cd_offset) = (le16(e, 10), le32(e, 12), le32(e, 16));
        let mut v = zip[..pos].to_vec();
        v.extend_from_slice(b"PK\x06\x06");
        v.extend_from_slice(&44u64.to_le_bytes());
        v.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        v.extend_from_slice(&u64::from(entries).to_le_bytes());
        v.extend_from_slice(&u64::from(entries).to_le_bytes());
        v.extend_from_slice(&u64::from(cd_size).to_le_bytes());
        v.extend_from_slice(&u64::from(cd_offset).to_le_bytes());
        v.extend_from_slice(b"PK\x06\x07\0\0\0\0");
        v.extend_from_slice(&locator_target.unwrap_or(pos as u64).to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(b"PK\x05\x06\0\0\0\0\xFF\xFF\xFF\xFF");
        v.extend_from_slice(&[0xFF; 8]);
        v.extend_from_slice(&[0, 0]);
        v
    }

    #[test]
    fn zip64_end_records_are_followed() {
        assert_kind(&as_zip64(&docx(), None), "a.docx", Document, DOCX);
        assert_kind(&as_zip64(&odf(ODS), None), "a.ods", Spreadsheet, ODS);
        // Locator pointing past itself, or at garbage.
        assert_kind(
            &as_zip64(&docx(), Some(u64::MAX)),
            "a.docx",
            Compressed,
            ZIP,
        );
        assert_kind(&as_zip64(&docx(), Some(0)), "a.docx", Compressed, ZIP);
    }

    #[test]
    fn every_truncation_of_every_fixture_is_handled() {
        let fixtures = [
            pdf(),
            png(),
            bmp(),
            wav(),
            docx(),
            odf(ODT),
            as_zip64(&xlsx(), None),
            ole(EXCEL_CLSIDS[0]),
            tar(),
            ftyp(b"mif1", &[b"mif1", b"heic"]),
            ftyp(b"isom", &[b"isom"]),
            ogg_page(b"\x80theora"),
            ebml(b"webm"),
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><svg/>".to_vec(),
            "日本語 €".as_bytes().to_vec(),
        ];
        for fixture in fixtures {
            for len in 0..=fixture.len() {
                // Only completes without panicking; verdicts on cut files vary.
                let _ = detect(&fixture[..len], "x.xls", "");
            }
        }
    }

    #[test]
    fn damaged_directory_bytes_never_panic() {
        let doc = docx();
        // Every byte of the central directory and EOCD, set to 0xFF and to 0x00 in turn.
        for i in doc.len().saturating_sub(260)..doc.len() {
            for value in [0xFF, 0x00] {
                let mut bad = doc.clone();
                bad[i] = value;
                let d = detect(&bad, "a.docx", "").unwrap();
                assert!(matches!(d.media_type, Document | Compressed), "byte {i}");
            }
        }
    }

    #[test]
    fn central_directory_examination_is_capped() {
        // Exactly 10,000 entries before the office marker when it comes last.
        let filler: Vec<String> = (0..9_999).map(|i| format!("f/{i}")).collect();
        let build = |word_first: bool| {
            let mut entries: Vec<(&str, &[u8], bool)> = vec![("[Content_Types].xml", CT, true)];
            if word_first {
                entries.push(("word/document.xml", XML, true));
            }
            entries.extend(filler.iter().map(|n| (n.as_str(), &b""[..], true)));
            if !word_first {
                entries.push(("word/document.xml", XML, true));
            }
            zip_of(&entries)
        };
        assert_kind(&build(true), "a.docx", Document, DOCX);
        assert_kind(&build(false), "a.docx", Compressed, ZIP);
    }

    // ---- archives -------------------------------------------------------------------------

    #[test]
    fn archives_are_compressed() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"7z\xBC\xAF\x27\x1C\0\x04\0\0\0\0",
                "application/x-7z-compressed",
            ),
            (b"Rar!\x1A\x07\x01\0\x33\x92", "application/vnd.rar"),
            (b"Rar!\x1A\x07\0\xCF\x90\x73", "application/vnd.rar"),
            (b"BZh91AY&SY\x12\x34", "application/x-bzip2"),
            (b"\xFD7zXZ\0\0\x04\xE6\xD6", "application/x-xz"),
            (b"\x28\xB5\x2F\xFD\x24\0\x01\0\0", "application/zstd"),
        ];
        for (bytes, mime) in cases {
            assert_kind(bytes, "a.bin", Compressed, mime);
        }
        assert_kind(&tar(), "a.tar", Compressed, "application/x-tar");
        // Text that merely starts with "BZh".
        assert_kind(b"BZh9 is a bzip2 header", "a.txt", Text, "text/plain");
    }

    // ---- audio ----------------------------------------------------------------------------

    #[test]
    fn audio_formats() {
        assert_kind(
            b"ID3\x04\0\0\0\0\0\x0A\0\0\0\0\0\0\0\0\0\0\xFF\xFB\x90\x64",
            "a.mp3",
            Audio,
            "audio/mpeg",
        );
        assert_kind(b"\xFF\xFB\x90\x64\0\0\0\0", "a.mp3", Audio, "audio/mpeg");
        assert_kind(b"\xFF\xF1\x50\x80\x02\x1F\xFC", "a.aac", Audio, "audio/aac");
        assert_kind(
            &cat(&[b"fLaC\0\0\0\x22", &[0; 34]]),
            "a.flac",
            Audio,
            "audio/flac",
        );
        assert_kind(
            &ogg_page(b"\x01vorbis\0\0\0\0\x02\x44\xAC"),
            "a.ogg",
            Audio,
            "audio/ogg",
        );
        assert_kind(&ogg_page(b"OpusHead\x01\x02"), "a.opus", Audio, "audio/ogg");
        assert_kind(
            &cat(&[b"FORM", &46u32.to_be_bytes(), b"AIFFCOMM"]),
            "a.aiff",
            Audio,
            "audio/aiff",
        );
        assert_kind(
            b"MThd\0\0\0\x06\0\0\0\x01\0\x60MTrk",
            "a.mid",
            Audio,
            "audio/midi",
        );
        assert_kind(
            &ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"]),
            "a.m4a",
            Audio,
            "audio/mp4",
        );
    }

    // ---- video ----------------------------------------------------------------------------

    #[test]
    fn ogg_with_theora_is_video() {
        assert_kind(
            &ogg_page(b"\x80theora\x03\x02\x01"),
            "a.ogg",
            Video,
            "video/ogg",
        );
        // Theora as the second stream (after a Vorbis BOS page).
        let both = cat(&[&ogg_page(b"\x01vorbis\0"), &ogg_page(b"\x80theora\x03")]);
        assert_kind(&both, "a.ogv", Video, "video/ogg");
    }

    #[test]
    fn video_formats() {
        assert_kind(
            &ftyp(b"qt  ", &[b"qt  "]),
            "a.mov",
            Video,
            "video/quicktime",
        );
        assert_kind(
            &ftyp(b"M4V ", &[b"M4V ", b"M4A ", b"mp42"]),
            "a.m4v",
            Video,
            "video/x-m4v",
        );
        assert_kind(
            &ftyp(b"3gp4", &[b"3gp4", b"isom"]),
            "a.3gp",
            Video,
            "video/3gpp",
        );
        assert_kind(&ebml(b"webm"), "a.webm", Video, "video/webm");
        assert_kind(&ebml(b"matroska"), "a.mkv", Video, "video/x-matroska");
        assert_kind(
            &cat(&[b"RIFF", &le32b(100), b"AVI LIST"]),
            "a.avi",
            Video,
            "video/x-msvideo",
        );
        assert_kind(
            b"FLV\x01\x05\0\0\0\x09\0\0\0\0",
            "a.flv",
            Video,
            "video/x-flv",
        );
        assert_kind(
            b"\0\0\x01\xBA\x44\0\x04\0\x04\x01\x01\x89\xC3\xF8",
            "a.mpg",
            Video,
            "video/mpeg",
        );
        let mut ts = Vec::new();
        for _ in 0..5 {
            let mut packet = vec![0xFFu8; 188];
            packet[..4].copy_from_slice(&[0x47, 0x40, 0x00, 0x10]);
            ts.extend_from_slice(&packet);
        }
        assert_kind(&ts, "a.ts", Video, "video/mp2t");
        assert_kind(
            b"\0\0\0\x10moov\0\0\0\x08mvhd",
            "old.mov",
            Video,
            "video/quicktime",
        );
        // A 256-byte ftyp box begins 00 00 01 00, the ICO magic.
        let mut big = ftyp(b"isom", &[b"isom"; 60]);
        assert_eq!(big[..4], [0, 0, 1, 0]);
        big.truncate(300);
        assert_kind(&big, "a.mp4", Video, "video/mp4");
    }

    #[test]
    fn text_with_g_is_not_a_transport_stream() {
        let mut text = vec![b'x'; 600];
        for p in [0, 188, 376] {
            text[p] = b'G';
        }
        text[564] = b'y'; // a sync position that fails
        assert_kind(&text, "a.txt", Text, "text/plain");
    }

    // ---- Sniff and errors -----------------------------------------------------------------

    #[test]
    fn limit_class() {
        assert_eq!(sniff(&pdf()).unwrap().limit_class(), Pdf);
        assert_eq!(sniff(&wav()).unwrap().limit_class(), Audio);
        assert_eq!(Sniff::Zip.limit_class(), Compressed);
        assert_eq!(Sniff::Ole.limit_class(), Compressed);
        assert_eq!(Sniff::MaybeText.limit_class(), Text);
        assert_eq!(sniff(b"plain words"), Ok(Sniff::MaybeText));
    }

    #[test]
    fn error_messages() {
        assert_eq!(DetectError::InvalidType.to_string(), "Invalid file type");
        assert_eq!(
            DetectError::UnsupportedImage("jxl").to_string(),
            "Unsupported image format: jxl"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(DetectError::InvalidType);
        assert_eq!(boxed.to_string(), "Invalid file type");
    }
}
