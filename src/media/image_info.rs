//! Header-only probing of JPEG, PNG, GIF, WebP, BMP and TIFF uploads.
//!
//! Reports what Pillow's `Image.open(f)` reports (`im.size`, `im.mode`,
//! `im.is_animated`, `im.has_transparency_data`, `im.getexif()[0x0112]`)
//! without decoding pixel data. The rules mirror Pillow 11–13 (and, for WebP,
//! the libwebp demuxer Pillow uses), including the cases where a file is
//! rejected, so that a file accepted here is one Pillow will open.
//!
//! Input is untrusted: nothing here panics, every loop is bounded, and no
//! buffer is sized from a value read from the file.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
    Tiff,
}

impl ImageFormat {
    /// The name Pillow gives the format (`im.format`).
    pub fn pillow_name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Gif => "GIF",
            ImageFormat::WebP => "WEBP",
            ImageFormat::Bmp => "BMP",
            ImageFormat::Tiff => "TIFF",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    /// Pillow's `im.size`. These are the stored dimensions before any EXIF
    /// rotation, with one Pillow exception: since Pillow 11.0 a TIFF whose
    /// Orientation tag is 5–8 reports the transposed size (and Pillow rotates
    /// TIFF pixels itself when loading).
    pub width: u32,
    pub height: u32,
    /// Pillow's `im.mode`: "1", "L", "LA", "La", "I", "I;16", "I;16B", "F",
    /// "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr" or "LAB".
    pub mode: &'static str,
    /// EXIF orientation 1..=8 (1 when absent or invalid), from JPEG APP1,
    /// PNG eXIf (before the image data), WebP EXIF or the TIFF IFD0 tag.
    pub orientation: u8,
    /// Pillow's `im.is_animated`: more than one GIF frame, APNG frames, WebP
    /// ANMF frames, or a second TIFF page. Always false for JPEG, even where
    /// Pillow would open an MPF (multi-picture) JPEG as an "MPO".
    pub animated: bool,
    /// Pillow's `im.has_transparency_data`: an alpha band (LA, La, PA, RGBA)
    /// or a transparency entry (PNG tRNS, GIF first-frame transparency).
    pub has_alpha: bool,
}

impl ImageInfo {
    /// Declared pixel count, for refusing decompression bombs before decoding.
    pub fn pixel_count(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageInfoError {
    /// Not one of the six formats, or a variant of one that Pillow cannot open.
    Unsupported,
    /// A truncated or corrupt header; the message is fit for the uploader.
    Corrupt(String),
}

impl fmt::Display for ImageInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageInfoError::Unsupported => {
                f.write_str("The file is not a supported image (JPEG, PNG, GIF, WebP, BMP or TIFF)")
            }
            ImageInfoError::Corrupt(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ImageInfoError {}

type Result<T> = std::result::Result<T, ImageInfoError>;

fn corrupt(detail: &str) -> ImageInfoError {
    ImageInfoError::Corrupt(format!("The image is truncated or corrupt ({detail})"))
}

fn truncated() -> ImageInfoError {
    ImageInfoError::Corrupt("The image is truncated or corrupt".to_string())
}

fn io_error(e: &io::Error) -> ImageInfoError {
    ImageInfoError::Corrupt(format!("The image could not be read ({e})"))
}

/// Reads the format, size and mode of the image in `reader`, as Pillow would
/// report them, from its header alone.
///
/// Like `Image.open`, it reads from the start of the stream whatever the
/// current position, and leaves the position unspecified. It seeks over what
/// it does not need, so it reads little beyond the header; where Pillow
/// reads more, so does this: every PNG chunk before the image data is read
/// to check its CRC, a GIF's first-frame data is scanned (not decoded) to
/// find a second frame, and every WebP frame header is checked.
pub fn read_image_info<R: Read + Seek>(reader: &mut R) -> Result<ImageInfo> {
    let mut input = Input::new(reader)?;
    let mut head = [0u8; 16];
    let n = input.read_at(0, &mut head)?;
    let head = head.get(..n).unwrap_or_default();
    let info = if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(&mut input)?
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg(&mut input)?
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        gif(&mut input)?
    } else if head.starts_with(b"RIFF")
        && head.get(8..12) == Some(b"WEBP")
        && matches!(head.get(12..16), Some(b"VP8 " | b"VP8L" | b"VP8X"))
    {
        webp(&mut input)?
    } else if head.starts_with(b"BM") {
        bmp(&mut input)?
    } else if TIFF_PREFIXES.iter().any(|p| head.starts_with(*p)) {
        tiff(&mut input)?
    } else {
        return Err(ImageInfoError::Unsupported);
    };
    if info.width == 0 || info.height == 0 {
        return Err(corrupt("zero width or height"));
    }
    Ok(info)
}

// ---------------------------------------------------------------------------
// Input: random access with a small fixed read-ahead buffer.

const BUF_SIZE: usize = 8192;

struct Input<'a, R> {
    inner: &'a mut R,
    len: u64,
    buf: Box<[u8; BUF_SIZE]>,
    buf_pos: u64,
    buf_len: usize,
}

impl<'a, R: Read + Seek> Input<'a, R> {
    fn new(inner: &'a mut R) -> Result<Self> {
        let len = inner.seek(SeekFrom::End(0)).map_err(|e| io_error(&e))?;
        Ok(Input {
            inner,
            len,
            buf: Box::new([0u8; BUF_SIZE]),
            buf_pos: 0,
            buf_len: 0,
        })
    }

    fn fill(&mut self, pos: u64) -> Result<()> {
        self.buf_pos = pos;
        self.buf_len = 0;
        self.inner
            .seek(SeekFrom::Start(pos))
            .map_err(|e| io_error(&e))?;
        let want = usize::try_from(self.len.saturating_sub(pos))
            .unwrap_or(BUF_SIZE)
            .min(BUF_SIZE);
        while self.buf_len < want {
            let Some(dst) = self.buf.get_mut(self.buf_len..want) else {
                break;
            };
            match self.inner.read(dst) {
                Ok(0) => break,
                Ok(n) => self.buf_len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(&e)),
            }
        }
        Ok(())
    }

    /// Copies the bytes at `off` into `out`; returns how many there were
    /// (fewer than `out.len()` only at the end of the stream).
    fn read_at(&mut self, off: u64, out: &mut [u8]) -> Result<usize> {
        let mut done = 0usize;
        while done < out.len() {
            let Some(pos) = off.checked_add(done as u64) else {
                break;
            };
            if pos >= self.len {
                break;
            }
            let buffered = pos >= self.buf_pos && pos - self.buf_pos < self.buf_len as u64;
            if !buffered {
                self.fill(pos)?;
            }
            let start = usize::try_from(pos - self.buf_pos).unwrap_or(usize::MAX);
            let avail = self.buf.get(start..self.buf_len).unwrap_or_default();
            let n = avail.len().min(out.len() - done);
            match (out.get_mut(done..done + n), avail.get(..n)) {
                (Some(dst), Some(src)) if n > 0 => dst.copy_from_slice(src),
                _ => break,
            }
            done += n;
        }
        Ok(done)
    }

    fn exact_at(&mut self, off: u64, out: &mut [u8]) -> Result<()> {
        if self.read_at(off, out)? == out.len() {
            Ok(())
        } else {
            Err(truncated())
        }
    }

    fn array<const N: usize>(&mut self, off: u64) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        self.exact_at(off, &mut a)?;
        Ok(a)
    }

    fn byte_at(&mut self, off: u64) -> Result<Option<u8>> {
        let mut b = [0u8; 1];
        Ok((self.read_at(off, &mut b)? == 1).then_some(b[0]))
    }

    fn remaining(&self, off: u64) -> u64 {
        self.len.saturating_sub(off)
    }
}

fn rd<const N: usize>(s: &[u8], i: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = s.get(i..i.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

fn be16(s: &[u8], i: usize) -> u16 {
    u16::from_be_bytes(rd(s, i))
}
fn be32(s: &[u8], i: usize) -> u32 {
    u32::from_be_bytes(rd(s, i))
}
fn le16(s: &[u8], i: usize) -> u16 {
    u16::from_le_bytes(rd(s, i))
}
fn le24(s: &[u8], i: usize) -> u32 {
    let [a, b, c] = rd::<3>(s, i);
    u32::from_le_bytes([a, b, c, 0])
}
fn le32(s: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(rd(s, i))
}

// ---------------------------------------------------------------------------
// PNG

const MAX_PNG_CHUNKS: u32 = 1 << 16;

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        #[allow(clippy::indexing_slicing)] // const evaluation, n < 256
        {
            table[n] = c;
        }
        n += 1;
    }
    table
};

fn crc_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        let idx = usize::from((crc as u8) ^ b);
        crc = CRC_TABLE.get(idx).copied().unwrap_or(0) ^ (crc >> 8);
    }
    crc
}

/// CRC-32 of `len` bytes at `off`, streamed through a fixed buffer.
fn crc_range<R: Read + Seek>(inp: &mut Input<R>, mut off: u64, mut len: u64) -> Result<u32> {
    let mut crc = 0xFFFF_FFFFu32;
    let mut chunk = [0u8; 4096];
    while len > 0 {
        let n = usize::try_from(len).unwrap_or(chunk.len()).min(chunk.len());
        let dst = chunk.get_mut(..n).unwrap_or_default();
        inp.exact_at(off, dst)?;
        crc = crc_update(crc, dst);
        off += n as u64;
        len -= n as u64;
    }
    Ok(crc ^ 0xFFFF_FFFF)
}

fn png_mode(bits: u8, colour: u8) -> Option<&'static str> {
    Some(match (bits, colour) {
        (1, 0) => "1",
        (2 | 4 | 8, 0) => "L",
        (16, 0) => "I;16",
        (8 | 16, 2) => "RGB",
        (1 | 2 | 4 | 8, 3) => "P",
        (8, 4) => "LA",
        // Pillow has no 16-bit LA mode and opens these as RGBA.
        (16, 4) => "RGBA",
        (8 | 16, 6) => "RGBA",
        _ => return None,
    })
}

#[derive(Default)]
struct PngHeader {
    mode: Option<&'static str>,
    width: u32,
    height: u32,
    transparency: bool,
    n_frames: Option<u32>,
    default_image: bool,
    exif: Option<(u64, u64)>,
}

fn png<R: Read + Seek>(inp: &mut Input<R>) -> Result<ImageInfo> {
    let hdr = png_header(inp)?;
    let mode = hdr
        .mode
        .ok_or_else(|| corrupt("missing or invalid IHDR chunk"))?;
    let frames = hdr
        .n_frames
        .map_or(1, |n| u64::from(n) + u64::from(hdr.default_image));
    let orientation = match hdr.exif {
        Some((off, len)) => exif_orientation(inp, off, len)?,
        None => 1,
    };
    Ok(ImageInfo {
        format: ImageFormat::Png,
        width: hdr.width,
        height: hdr.height,
        mode,
        orientation,
        animated: frames > 1,
        has_alpha: matches!(mode, "LA" | "RGBA") || hdr.transparency,
    })
}

/// Pillow's PngImageFile._open: every chunk up to the first IDAT/fdAT is
/// read and its CRC checked.
fn png_header<R: Read + Seek>(inp: &mut Input<R>) -> Result<PngHeader> {
    let mut hdr = PngHeader::default();
    let mut pos: u64 = 8;
    let mut seq: Option<u32> = None;
    let mut frame_control = false;
    for _ in 0..MAX_PNG_CHUNKS {
        let chunk: [u8; 8] = inp.array(pos)?;
        let length = be32(&chunk, 0);
        let cid: [u8; 4] = rd(&chunk, 4);
        if !cid.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            return Err(corrupt("broken PNG chunk"));
        }
        let data = pos + 8;
        match &cid {
            b"IDAT" | b"fdAT" => {
                if &cid == b"fdAT" {
                    if length < 4 {
                        return Err(corrupt("truncated fdAT chunk"));
                    }
                    let s = be32(&inp.array::<4>(data)?, 0);
                    if seq.map(|q| u64::from(q) + 1) != Some(u64::from(s)) {
                        return Err(corrupt("APNG frame sequence error"));
                    }
                }
                // Image data not announced by an fcTL is a default image,
                // which Pillow counts as an extra frame.
                if hdr.n_frames.is_some() && !frame_control {
                    hdr.default_image = true;
                }
                return Ok(hdr);
            }
            b"IEND" => return Ok(hdr),
            _ => {}
        }
        let end = data + u64::from(length);
        if end > inp.len {
            return Err(truncated());
        }
        let too_short = |min: u32| length < min;
        match &cid {
            b"IHDR" => {
                if too_short(13) {
                    return Err(corrupt("truncated IHDR chunk"));
                }
                let s: [u8; 13] = inp.array(data)?;
                hdr.width = be32(&s, 0);
                hdr.height = be32(&s, 4);
                if let Some(m) = png_mode(s[8], s[9]) {
                    hdr.mode = Some(m);
                }
                if s[11] != 0 {
                    return Err(corrupt("unknown PNG filter method"));
                }
            }
            b"tRNS" => match hdr.mode {
                Some("P") => hdr.transparency = true,
                Some("1" | "L" | "I;16") if too_short(2) => {
                    return Err(corrupt("truncated tRNS chunk"))
                }
                Some("RGB") if too_short(6) => return Err(corrupt("truncated tRNS chunk")),
                Some("1" | "L" | "I;16" | "RGB") => hdr.transparency = true,
                _ => {}
            },
            b"gAMA" if too_short(4) => return Err(corrupt("truncated gAMA chunk")),
            b"cHRM" if too_short(32) => return Err(corrupt("truncated cHRM chunk")),
            b"sRGB" if too_short(1) => return Err(corrupt("truncated sRGB chunk")),
            b"pHYs" if too_short(9) => return Err(corrupt("truncated pHYs chunk")),
            b"eXIf" => hdr.exif = Some((data, u64::from(length))),
            b"acTL" => {
                if too_short(8) {
                    return Err(corrupt("truncated acTL chunk"));
                }
                let n = be32(&inp.array::<4>(data)?, 0);
                if hdr.n_frames.is_some() {
                    // Pillow ignores the animation when acTL is repeated.
                    hdr.n_frames = None;
                } else if n != 0 && n <= 0x8000_0000 {
                    hdr.n_frames = Some(n);
                }
            }
            b"fcTL" => {
                if too_short(26) {
                    return Err(corrupt("truncated fcTL chunk"));
                }
                let s: [u8; 26] = inp.array(data)?;
                let n = be32(&s, 0);
                if u64::from(n) != seq.map_or(0, |q| u64::from(q) + 1) {
                    return Err(corrupt("APNG frame sequence error"));
                }
                seq = Some(n);
                let right = u64::from(be32(&s, 12)) + u64::from(be32(&s, 4));
                let bottom = u64::from(be32(&s, 16)) + u64::from(be32(&s, 8));
                if right > u64::from(hdr.width) || bottom > u64::from(hdr.height) {
                    return Err(corrupt("APNG frame outside the image"));
                }
                frame_control = true;
            }
            _ => {}
        }
        let crc = crc_range(inp, pos + 4, u64::from(length) + 4)?;
        if crc != be32(&inp.array::<4>(end)?, 0) {
            return Err(corrupt("bad PNG chunk checksum"));
        }
        pos = end + 4;
    }
    Err(corrupt("too many PNG chunks before the image data"))
}

// ---------------------------------------------------------------------------
// JPEG

/// Marker bytes plus skipped fill/junk bytes examined before giving up.
const MAX_JPEG_STEPS: u32 = 1 << 22;

fn jpeg<R: Read + Seek>(inp: &mut Input<R>) -> Result<ImageInfo> {
    let mut pos: u64 = 3;
    let mut cur = Some(0xFFu8);
    let mut frame: Option<(u32, u32, &'static str)> = None;
    let mut exif: Option<(u64, u64)> = None;
    // Pillow indexes byte 13 of the smallest (sorted) ICC_PROFILE segment
    // at each SOF, so a short one there is an error.
    let mut icc_min: Option<Vec<u8>> = None;
    let mut steps = 0u32;

    // Pillow's marker loop: junk between markers is skipped a byte at a time,
    // and it runs until SOS (or the end of the file), the last SOF winning.
    while let Some(b) = cur {
        steps += 1;
        if steps > MAX_JPEG_STEPS {
            return Err(corrupt("no image data found"));
        }
        if b != 0xFF {
            cur = inp.byte_at(pos)?;
            pos += 1;
            continue;
        }
        let Some(m) = inp.byte_at(pos)? else {
            break;
        };
        pos += 1;
        match m {
            0xFF => {
                cur = Some(0xFF);
                continue;
            }
            0x00 => {
                cur = inp.byte_at(pos)?;
                pos += 1;
                continue;
            }
            0x01..=0xBF => return Err(corrupt("no JPEG marker found")),
            _ => {}
        }
        let standalone = matches!(m, 0xC8 | 0xD0..=0xD9 | 0xF0..=0xFD);
        if !standalone {
            let n = u64::from(be16(&inp.array::<2>(pos)?, 0).saturating_sub(2));
            let payload = pos + 2;
            let end = payload + n;
            if end > inp.len {
                return Err(truncated());
            }
            match m {
                0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDE => {
                    frame = Some(jpeg_sof(inp, payload, n, &mut icc_min)?);
                }
                0xDB => jpeg_dqt(inp, payload, n)?,
                0xE0..=0xEF => {
                    let mut s = [0u8; 32];
                    let k = usize::try_from(n).unwrap_or(s.len()).min(s.len());
                    let s = s.get_mut(..k).unwrap_or_default();
                    inp.exact_at(payload, s)?;
                    if m == 0xE0 && s.starts_with(b"JFIF") && n < 7 {
                        return Err(corrupt("short JFIF segment"));
                    }
                    if m == 0xEE && s.starts_with(b"Adobe") && n < 7 {
                        return Err(corrupt("short Adobe segment"));
                    }
                    if m == 0xE1 && s.starts_with(b"Exif\0\0") && exif.is_none() {
                        exif = Some((payload, n));
                    }
                    if m == 0xE2 && s.starts_with(b"ICC_PROFILE\0") {
                        let key = s.get(..14).unwrap_or(s).to_vec();
                        if icc_min.as_ref().is_none_or(|old| key < *old) {
                            icc_min = Some(key);
                        }
                    }
                }
                _ => {}
            }
            pos = end;
            if m == 0xDA {
                break;
            }
        }
        cur = inp.byte_at(pos)?;
        pos += 1;
    }

    let (width, height, mode) = frame.ok_or_else(|| corrupt("no JPEG frame header"))?;
    let orientation = match exif {
        Some((off, len)) => exif_orientation(inp, off, len)?,
        None => 1,
    };
    Ok(ImageInfo {
        format: ImageFormat::Jpeg,
        width,
        height,
        mode,
        orientation,
        animated: false,
        has_alpha: false,
    })
}

fn jpeg_sof<R: Read + Seek>(
    inp: &mut Input<R>,
    payload: u64,
    n: u64,
    icc_min: &mut Option<Vec<u8>>,
) -> Result<(u32, u32, &'static str)> {
    if n < 5 {
        return Err(corrupt("short frame header"));
    }
    let mut s = [0u8; 6];
    let k = if n < 6 { 5 } else { 6 };
    inp.exact_at(payload, s.get_mut(..k).unwrap_or_default())?;
    if s[0] != 8 {
        // Pillow: "cannot handle 12-bit layers" (and the like).
        return Err(ImageInfoError::Unsupported);
    }
    if n < 6 {
        return Err(corrupt("short frame header"));
    }
    let mode = match s[5] {
        1 => "L",
        3 => "RGB",
        // Adobe CMYK and YCCK alike.
        4 => "CMYK",
        _ => return Err(ImageInfoError::Unsupported),
    };
    if icc_min.take().is_some_and(|k| k.len() < 14) {
        return Err(corrupt("short ICC profile segment"));
    }
    if (n - 6) % 3 != 0 {
        return Err(corrupt("bad frame header length"));
    }
    Ok((u32::from(be16(&s, 3)), u32::from(be16(&s, 1)), mode))
}

fn jpeg_dqt<R: Read + Seek>(inp: &mut Input<R>, mut off: u64, mut left: u64) -> Result<()> {
    // Each table is at least 65 bytes, so this runs at most ~1000 times.
    while left > 0 {
        let v = inp.byte_at(off)?.ok_or_else(truncated)?;
        let table_len = if v >> 4 == 0 { 65 } else { 129 };
        if left < table_len {
            return Err(corrupt("bad quantization table"));
        }
        off += table_len;
        left -= table_len;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// GIF

/// Sub-blocks and stray bytes examined while looking for one frame.
const MAX_GIF_STEPS: u32 = 1 << 22;

struct GifFrame {
    transparency: bool,
    /// `Some(needed)` when the frame has a local colour table.
    local_palette: Option<bool>,
    right: u32,
    bottom: u32,
    data_pos: u64,
}

enum GifScan {
    Frame(GifFrame),
    NoFrame,
}

/// Pillow drops a colour table that is the identity grey ramp (and the
/// image is then "L"); a trailing partial entry that would need comparing
/// is an IndexError there.
fn gif_palette_needed<R: Read + Seek>(inp: &mut Input<R>, off: u64, len: u64) -> Result<bool> {
    let mut p = [0u8; 768];
    let k = usize::try_from(len).unwrap_or(p.len()).min(p.len());
    let p = p.get_mut(..k).unwrap_or_default();
    inp.exact_at(off, p)?;
    for (i, entry) in p.chunks(3).enumerate() {
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        for (j, &c) in entry.iter().enumerate() {
            let expected = if j == 0 {
                index
            } else {
                entry.first().copied().unwrap_or(0)
            };
            if c != expected {
                return Ok(true);
            }
        }
        if entry.len() < 3 {
            return Err(corrupt("truncated colour table"));
        }
    }
    Ok(false)
}

/// One GIF data sub-block: `None` at a terminator or the end of the file,
/// otherwise its position and the length actually present.
fn gif_block<R: Read + Seek>(
    inp: &mut Input<R>,
    pos: &mut u64,
    steps: &mut u32,
) -> Result<Option<(u64, u64)>> {
    *steps += 1;
    if *steps > MAX_GIF_STEPS {
        return Err(corrupt("too many GIF blocks"));
    }
    match inp.byte_at(*pos)? {
        None => Ok(None),
        Some(0) => {
            *pos += 1;
            Ok(None)
        }
        Some(l) => {
            *pos += 1;
            let start = *pos;
            let avail = u64::from(l).min(inp.remaining(start));
            *pos += avail;
            Ok(Some((start, avail)))
        }
    }
}

fn gif_skip_blocks<R: Read + Seek>(
    inp: &mut Input<R>,
    pos: &mut u64,
    steps: &mut u32,
) -> Result<()> {
    while let Some((_, len)) = gif_block(inp, pos, steps)? {
        if len == 0 {
            break;
        }
    }
    Ok(())
}

/// Mirrors Pillow's `GifImageFile._seek` up to the next image descriptor.
fn gif_scan_frame<R: Read + Seek>(
    inp: &mut Input<R>,
    mut pos: u64,
    first: bool,
) -> Result<GifScan> {
    let mut steps = 0u32;
    let mut transparency = false;
    match inp.byte_at(pos)? {
        None | Some(b';') => return Ok(GifScan::NoFrame),
        Some(_) => {}
    }
    loop {
        steps += 1;
        if steps > MAX_GIF_STEPS {
            return Err(corrupt("too many GIF blocks"));
        }
        let Some(b) = inp.byte_at(pos)? else {
            return Ok(GifScan::NoFrame);
        };
        pos += 1;
        match b {
            b';' => return Ok(GifScan::NoFrame),
            b'!' => {
                let label = inp.byte_at(pos)?.ok_or_else(truncated)?;
                pos += 1;
                let block = gif_block(inp, &mut pos, &mut steps)?;
                match (label, block) {
                    (0xF9, Some((off, len))) => {
                        let mut s = [0u8; 4];
                        let k = usize::try_from(len).unwrap_or(4).min(4);
                        inp.exact_at(off, s.get_mut(..k).unwrap_or_default())?;
                        if len == 0 {
                            return Err(corrupt("empty graphic control extension"));
                        }
                        if s[0] & 1 != 0 {
                            if len < 4 {
                                return Err(corrupt("short graphic control extension"));
                            }
                            transparency = true;
                        }
                        if len < 3 {
                            return Err(corrupt("short graphic control extension"));
                        }
                    }
                    (0xFE, mut comment) => {
                        while matches!(comment, Some((_, len)) if len > 0) {
                            comment = gif_block(inp, &mut pos, &mut steps)?;
                        }
                        continue;
                    }
                    (0xFF, Some((off, len))) if first => {
                        let mut s = [0u8; 11];
                        let k = usize::try_from(len).unwrap_or(11).min(11);
                        inp.exact_at(off, s.get_mut(..k).unwrap_or_default())?;
                        if &s == b"NETSCAPE2.0" {
                            gif_block(inp, &mut pos, &mut steps)?;
                        }
                    }
                    _ => {}
                }
                gif_skip_blocks(inp, &mut pos, &mut steps)?;
            }
            b',' => {
                let d: [u8; 9] = inp.array(pos)?;
                pos += 9;
                let right = u32::from(le16(&d, 0)) + u32::from(le16(&d, 4));
                let bottom = u32::from(le16(&d, 2)) + u32::from(le16(&d, 6));
                let flags = d[8];
                let mut local_palette = None;
                if flags & 0x80 != 0 {
                    let len = (3u64 << ((flags & 7) + 1)).min(inp.remaining(pos));
                    local_palette = Some(gif_palette_needed(inp, pos, len)?);
                    pos += len;
                }
                inp.byte_at(pos)?.ok_or_else(truncated)?; // LZW minimum code size
                pos += 1;
                return Ok(GifScan::Frame(GifFrame {
                    transparency,
                    local_palette,
                    right,
                    bottom,
                    data_pos: pos,
                }));
            }
            _ => {} // Pillow skips stray bytes between blocks.
        }
    }
}

fn gif<R: Read + Seek>(inp: &mut Input<R>) -> Result<ImageInfo> {
    let s: [u8; 13] = inp.array(0)?;
    let screen_w = u32::from(le16(&s, 6));
    let screen_h = u32::from(le16(&s, 8));
    let flags = s[10];
    let mut pos: u64 = 13;
    let mut global_needed = false;
    if flags & 0x80 != 0 {
        let len = (3u64 << ((flags & 7) + 1)).min(inp.remaining(pos));
        global_needed = gif_palette_needed(inp, pos, len)?;
        pos += len;
    }
    let GifScan::Frame(first) = gif_scan_frame(inp, pos, true)? else {
        return Err(corrupt("no image in GIF file"));
    };
    let palette = first.local_palette.unwrap_or(global_needed);

    // Pillow's is_animated: skip frame 0's data and look for another image
    // descriptor. Damage after the first frame only means "not animated".
    let mut data_pos = first.data_pos;
    let mut steps = 0u32;
    let animated = gif_skip_blocks(inp, &mut data_pos, &mut steps).is_ok()
        && matches!(gif_scan_frame(inp, data_pos, false), Ok(GifScan::Frame(_)));

    Ok(ImageInfo {
        format: ImageFormat::Gif,
        // Pillow grows the canvas to fit a first frame that overhangs it.
        width: screen_w.max(first.right),
        height: screen_h.max(first.bottom),
        mode: if palette { "P" } else { "L" },
        orientation: 1,
        animated,
        has_alpha: first.transparency,
    })
}

// ---------------------------------------------------------------------------
// WebP: mirrors libwebp's WebPDemux (used by Pillow's WebPAnimDecoder) on a
// complete file, and WebPGetFeatures for the alpha flag that picks the mode.

const MAX_WEBP_CHUNKS: u32 = 1 << 17;
const MAX_CHUNK_PAYLOAD: u64 = 0xFFFF_FFF6;
const WEBP_ANIMATION_FLAG: u8 = 0x02;
const WEBP_EXIF_FLAG: u8 = 0x08;
const WEBP_ALPHA_FLAG: u8 = 0x10;
const WEBP_VALID_FLAGS: u8 = 0x3E;

#[derive(Default, Clone, Copy)]
struct WebpFrame {
    x_offset: u64,
    y_offset: u64,
    width: u64,
    height: u64,
    frame_num: u32,
    complete: bool,
    /// An ALPH chunk before / after the image chunk.
    alpha_before: bool,
    alpha_after: bool,
    vp8l_alpha: bool,
    lossless: bool,
}

struct Demux {
    pos: u64,
    end: u64,
    flags: u8,
    ext: bool,
    canvas: (u64, u64),
    num_frames: u32,
    last_complete: Option<bool>,
    first: Option<WebpFrame>,
    exif: Option<(u64, u64)>,
    chunks: u32,
}

fn webp_err() -> ImageInfoError {
    corrupt("invalid WebP structure")
}

impl Demux {
    fn left(&self) -> u64 {
        self.end.saturating_sub(self.pos)
    }

    fn tick(&mut self) -> Result<()> {
        self.chunks += 1;
        if self.chunks > MAX_WEBP_CHUNKS {
            return Err(corrupt("too many WebP chunks"));
        }
        Ok(())
    }

    /// Reads a chunk header at `pos`, returning its fourcc and padded size.
    fn chunk_header<R: Read + Seek>(&mut self, inp: &mut Input<R>) -> Result<([u8; 4], u64, u64)> {
        let h: [u8; 8] = inp.array(self.pos)?;
        self.pos += 8;
        let size = u64::from(le32(&h, 4));
        if size > MAX_CHUNK_PAYLOAD {
            return Err(webp_err());
        }
        let padded = size + (size & 1);
        if padded > self.left() {
            return Err(webp_err());
        }
        Ok((rd(&h, 0), size, padded))
    }

    fn add_frame(&mut self, frame: WebpFrame) -> Result<()> {
        if self.last_complete == Some(false) {
            return Err(webp_err());
        }
        self.last_complete = Some(frame.complete);
        if self.first.is_none() {
            self.first = Some(frame);
        }
        Ok(())
    }

    fn store_frame<R: Read + Seek>(
        &mut self,
        inp: &mut Input<R>,
        frame_num: u32,
        min_size: u64,
        frame: &mut WebpFrame,
    ) -> Result<()> {
        if self.left() < 8 || self.left() < min_size {
            return Err(webp_err());
        }
        let (mut alpha_chunks, mut image_chunks) = (0, 0);
        loop {
            self.tick()?;
            let start = self.pos;
            let (fourcc, size, padded) = self.chunk_header(inp)?;
            match &fourcc {
                b"ALPH" if alpha_chunks == 0 => {
                    alpha_chunks += 1;
                    if image_chunks == 0 {
                        frame.alpha_before = true;
                    } else {
                        frame.alpha_after = true;
                    }
                    frame.frame_num = frame_num;
                    self.pos += padded;
                }
                b"VP8L" if alpha_chunks > 0 => return Err(webp_err()),
                b"VP8 " | b"VP8L" if image_chunks == 0 => {
                    let (w, h, alpha) = vp8_features(inp, &fourcc, start + 8, size, padded)?;
                    image_chunks += 1;
                    frame.width = u64::from(w);
                    frame.height = u64::from(h);
                    frame.vp8l_alpha = alpha;
                    frame.lossless = &fourcc == b"VP8L";
                    frame.frame_num = frame_num;
                    frame.complete = true;
                    self.pos += padded;
                }
                _ => {
                    self.pos = start;
                    return Ok(());
                }
            }
            if self.pos == self.end {
                return Ok(());
            }
            if self.left() < 8 {
                return Err(webp_err());
            }
        }
    }

    fn single_image<R: Read + Seek>(&mut self, inp: &mut Input<R>) -> Result<()> {
        if self.last_complete.is_some() || self.left() < 8 {
            return Err(webp_err());
        }
        let mut frame = WebpFrame::default();
        self.store_frame(inp, 1, 0, &mut frame)?;
        if self.flags & WEBP_ALPHA_FLAG == 0 {
            // libwebp drops the ALPH chunk of a still image without the flag
            // (it still counts for WebPGetFeatures, so alpha_before stays).
            frame.alpha_after = false;
        }
        if !self.ext && frame.width > 0 && frame.height > 0 {
            self.canvas = (frame.width, frame.height);
        }
        self.add_frame(frame)?;
        self.num_frames = 1;
        Ok(())
    }

    fn animation_frame<R: Read + Seek>(&mut self, inp: &mut Input<R>, padded: u64) -> Result<()> {
        if padded < 16 || self.left() < 16 {
            return Err(webp_err());
        }
        let h: [u8; 16] = inp.array(self.pos)?;
        self.pos += 16;
        let mut frame = WebpFrame {
            x_offset: 2 * u64::from(le24(&h, 0)),
            y_offset: 2 * u64::from(le24(&h, 3)),
            width: 1 + u64::from(le24(&h, 6)),
            height: 1 + u64::from(le24(&h, 9)),
            ..WebpFrame::default()
        };
        if frame.width * frame.height >= 1 << 32 {
            return Err(webp_err());
        }
        let start = self.pos;
        let payload = padded - 16;
        self.store_frame(inp, self.num_frames + 1, payload, &mut frame)?;
        if self.pos - start > payload {
            return Err(webp_err());
        }
        if self.flags & WEBP_ANIMATION_FLAG != 0 && frame.frame_num > 0 {
            self.check_frame(&frame, false)?;
            self.add_frame(frame)?;
            self.num_frames += 1;
        }
        Ok(())
    }

    /// IsValidExtendedFormat's per-frame checks, for a complete file.
    fn check_frame(&self, f: &WebpFrame, exact: bool) -> Result<()> {
        let (cw, ch) = self.canvas;
        let ok = if !f.complete || f.alpha_after {
            false
        } else if exact {
            f.x_offset == 0 && f.y_offset == 0 && f.width == cw && f.height == ch
        } else {
            f.x_offset + f.width <= cw && f.y_offset + f.height <= ch
        };
        if ok {
            Ok(())
        } else {
            Err(webp_err())
        }
    }

    fn vp8x<R: Read + Seek>(&mut self, inp: &mut Input<R>) -> Result<()> {
        self.ext = true;
        let (_, size, padded) = self.chunk_header(inp)?;
        if size < 10 {
            return Err(webp_err());
        }
        let h: [u8; 10] = inp.array(self.pos)?;
        self.flags = h[0];
        self.canvas = (1 + u64::from(le24(&h, 4)), 1 + u64::from(le24(&h, 7)));
        if self.canvas.0 * self.canvas.1 >= 1 << 32 {
            return Err(webp_err());
        }
        self.pos += padded;
        if self.left() < 8 {
            return Err(webp_err());
        }
        let animation = self.flags & WEBP_ANIMATION_FLAG != 0;
        let mut anim_chunks = 0;
        loop {
            self.tick()?;
            let start = self.pos;
            let (fourcc, size, padded) = self.chunk_header(inp)?;
            match &fourcc {
                b"VP8X" => return Err(webp_err()),
                b"ALPH" | b"VP8 " | b"VP8L" => {
                    if anim_chunks > 0 || animation {
                        return Err(webp_err());
                    }
                    self.pos = start;
                    self.single_image(inp)?;
                    if let Some(f) = self.first {
                        self.check_frame(&f, true)?;
                    }
                }
                b"ANIM" => {
                    if padded < 6 {
                        return Err(webp_err());
                    }
                    anim_chunks += 1;
                    self.pos += padded;
                }
                b"ANMF" => {
                    if anim_chunks == 0 {
                        return Err(webp_err());
                    }
                    self.animation_frame(inp, padded)?;
                }
                b"EXIF" => {
                    if self.flags & WEBP_EXIF_FLAG != 0 && self.exif.is_none() {
                        self.exif = Some((self.pos, size));
                    }
                    self.pos += padded;
                }
                _ => self.pos += padded,
            }
            if self.pos == self.end {
                break;
            }
            if self.left() < 8 {
                return Err(webp_err());
            }
        }
        if self.first.is_none() || self.flags & !WEBP_VALID_FLAGS != 0 {
            return Err(webp_err());
        }
        Ok(())
    }
}

/// WebPGetFeatures on one VP8/VP8L chunk: (width, height, alpha bit).
fn vp8_features<R: Read + Seek>(
    inp: &mut Input<R>,
    fourcc: &[u8; 4],
    off: u64,
    size: u64,
    padded: u64,
) -> Result<(u32, u32, bool)> {
    if fourcc == b"VP8L" {
        if padded < 5 {
            return Err(webp_err());
        }
        let d: [u8; 5] = inp.array(off)?;
        let bits = le32(&d, 1);
        if d[0] != 0x2F || d[4] >> 5 != 0 {
            return Err(webp_err());
        }
        return Ok((
            (bits & 0x3FFF) + 1,
            ((bits >> 14) & 0x3FFF) + 1,
            (bits >> 28) & 1 == 1,
        ));
    }
    if padded < 10 {
        return Err(webp_err());
    }
    let d: [u8; 10] = inp.array(off)?;
    let bits = u32::from(d[0]) | u32::from(d[1]) << 8 | u32::from(d[2]) << 16;
    let (w, h) = (
        u32::from(le16(&d, 6) & 0x3FFF),
        u32::from(le16(&d, 8) & 0x3FFF),
    );
    let valid = d[3..6] == [0x9D, 0x01, 0x2A]
        && bits & 1 == 0 // key frame
        && (bits >> 1) & 7 <= 3 // known profile
        && (bits >> 4) & 1 == 1 // shown
        && u64::from(bits >> 5) < size // first partition fits
        && w != 0
        && h != 0;
    if !valid {
        return Err(webp_err());
    }
    Ok((w, h, false))
}

fn webp<R: Read + Seek>(inp: &mut Input<R>) -> Result<ImageInfo> {
    let hdr: [u8; 20] = inp.array(0)?;
    let riff_size = u64::from(le32(&hdr, 4));
    if !(8..=MAX_CHUNK_PAYLOAD).contains(&riff_size) {
        return Err(webp_err());
    }
    let end = riff_size + 8;
    // Pillow hands libwebp the whole file and it refuses a partial one.
    if inp.len < end {
        return Err(truncated());
    }
    let mut d = Demux {
        pos: 12,
        end,
        flags: 0,
        ext: false,
        canvas: (0, 0),
        num_frames: 0,
        last_complete: None,
        first: None,
        exif: None,
        chunks: 0,
    };
    if hdr.get(12..16) == Some(b"VP8X") {
        d.vp8x(inp)?;
    } else {
        d.single_image(inp)?;
    }
    let first = d.first.ok_or_else(webp_err)?;
    if d.canvas.0 == 0 || d.canvas.1 == 0 || !first.complete {
        return Err(webp_err());
    }
    // WebPGetFeatures: the VP8X flag for animations, the VP8L header bit for
    // lossless stills (even under VP8X), else the VP8X flag or an ALPH chunk.
    let alpha = if d.flags & WEBP_ANIMATION_FLAG != 0 {
        d.flags & WEBP_ALPHA_FLAG != 0
    } else if first.lossless {
        first.vp8l_alpha
    } else {
        d.ext && (d.flags & WEBP_ALPHA_FLAG != 0 || first.alpha_before)
    };
    let orientation = match d.exif {
        Some((off, len)) => exif_orientation(inp, off, len)?,
        None => 1,
    };
    Ok(ImageInfo {
        format: ImageFormat::WebP,
        width: u32::try_from(d.canvas.0).map_err(|_| webp_err())?,
        height: u32::try_from(d.canvas.1).map_err(|_| webp_err())?,
        mode: if alpha { "RGBA" } else { "RGB" },
        orientation,
        animated: d.num_frames > 1,
        has_alpha: alpha,
    })
}

// ---------------------------------------------------------------------------
// BMP

fn bmp<R: Read + Seek>(inp: &mut Input<R>) -> Result<ImageInfo> {
    inp.array::<14>(0)?;
    let header_size = le32(&inp.array::<4>(14)?, 0);
    if !matches!(header_size, 12 | 40 | 52 | 56 | 64 | 108 | 124) {
        return Err(ImageInfoError::Unsupported);
    }
    let mut h = [0u8; 120];
    let h_len = header_size as usize - 4;
    let h = h.get_mut(..h_len).unwrap_or_default();
    inp.exact_at(18, h)?;
    let h: &[u8] = h;
    let palette_pos = 14 + u64::from(header_size);

    let (width, height, bits, compression, colors, padding);
    if header_size == 12 {
        width = u32::from(le16(h, 0));
        height = u32::from(le16(h, 2));
        bits = le16(h, 6);
        (compression, colors, padding) = (0, 0, 3);
    } else {
        width = le32(h, 0);
        let raw_height = le32(h, 4);
        // Pillow's test for a top-down (negative height) bitmap.
        height = if h.get(7) == Some(&0xFF) {
            raw_height.wrapping_neg()
        } else {
            raw_height
        };
        bits = le16(h, 10);
        compression = le32(h, 12);
        colors = le32(h, 28);
        padding = 4;
    }

    let mut mode = match bits {
        1 | 4 | 8 => "P",
        16 | 24 | 32 => "RGB",
        _ => return Err(ImageInfoError::Unsupported),
    };
    match compression {
        0..=2 => {}
        3 => {
            let (r, g, b, a) = if h_len >= 48 {
                let a = if h_len >= 52 { le32(h, 48) } else { 0 };
                (le32(h, 36), le32(h, 40), le32(h, 44), a)
            } else {
                let m: [u8; 12] = inp.array(palette_pos)?;
                (le32(&m, 0), le32(&m, 4), le32(&m, 8), 0)
            };
            match (bits, (r, g, b, a)) {
                (
                    32,
                    (0xFF, 0xFF00, 0xFF_0000, 0xFF00_0000)
                    | (0xFF_0000, 0xFF00, 0xFF, 0xFF00_0000)
                    | (0xFF00_0000, 0xFF_0000, 0xFF00, 0xFF)
                    | (0xFF00_0000, 0xFF00, 0xFF, 0xFF_0000)
                    // Pillow reads all-zero masks as BGRA.
                    | (0, 0, 0, 0),
                ) => mode = "RGBA",
                (
                    32,
                    (0xFF_0000, 0xFF00, 0xFF, 0)
                    | (0xFF00_0000, 0xFF_0000, 0xFF00, 0)
                    | (0xFF00_0000, 0xFF00, 0xFF, 0),
                ) => {}
                (24, (0xFF_0000, 0xFF00, 0xFF, _)) => {}
                (16, (0xF800, 0x7E0, 0x1F, _) | (0x7C00, 0x3E0, 0x1F, _)) => {}
                _ => return Err(ImageInfoError::Unsupported),
            }
        }
        _ => return Err(ImageInfoError::Unsupported),
    }

    if mode == "P" {
        let colors = if colors == 0 { 1u32 << bits } else { colors };
        if colors > 65536 {
            return Err(ImageInfoError::Unsupported);
        }
        // Pillow opens an all-grey palette as "1" (two colours) or "L".
        let mut grey = true;
        for ind in 0..colors {
            let val = if colors == 2 && ind == 1 {
                255
            } else {
                ind as u8
            };
            let mut rgb = [0u8; 3];
            let entry = palette_pos + u64::from(ind) * padding;
            if inp.read_at(entry, &mut rgb)? != 3 || rgb != [val; 3] {
                grey = false;
                break;
            }
        }
        if grey {
            mode = if colors <= 2 { "1" } else { "L" };
        }
    }
    Ok(ImageInfo {
        format: ImageFormat::Bmp,
        width,
        height,
        mode,
        orientation: 1,
        animated: false,
        has_alpha: mode == "RGBA",
    })
}

// ---------------------------------------------------------------------------
// TIFF (and the TIFF structure inside EXIF blocks)

const TIFF_PREFIXES: [&[u8; 4]; 6] = [
    b"MM\x00\x2a",
    b"II\x2a\x00",
    b"MM\x2a\x00",
    b"II\x00\x2a",
    b"MM\x00\x2b",
    b"II\x2b\x00",
];

/// Entries read from one IFD; Pillow has no limit, but the tags that matter
/// here all sort far below entry 4096 in any real file.
const MAX_IFD_ENTRIES: u64 = 4096;
const MAX_TAG_VALUES: usize = 16;

const TAG_WIDTH: u16 = 256;
const TAG_LENGTH: u16 = 257;
const TAG_BITS: u16 = 258;
const TAG_COMPRESSION: u16 = 259;
const TAG_PHOTOMETRIC: u16 = 262;
const TAG_FILL_ORDER: u16 = 266;
const TAG_STRIP_OFFSETS: u16 = 273;
const TAG_ORIENTATION: u16 = 274;
const TAG_SAMPLES: u16 = 277;
const TAG_PLANAR: u16 = 284;
const TAG_COLORMAP: u16 = 320;
const TAG_TILE_WIDTH: u16 = 322;
const TAG_TILE_LENGTH: u16 = 323;
const TAG_TILE_OFFSETS: u16 = 324;
const TAG_EXTRA_SAMPLES: u16 = 338;
const TAG_SAMPLE_FORMAT: u16 = 339;
const TAG_WMP: u16 = 0xBC01;

const WANTED_TAGS: [u16; 17] = [
    TAG_WIDTH,
    TAG_LENGTH,
    TAG_BITS,
    TAG_COMPRESSION,
    TAG_PHOTOMETRIC,
    TAG_FILL_ORDER,
    TAG_STRIP_OFFSETS,
    TAG_ORIENTATION,
    TAG_SAMPLES,
    TAG_PLANAR,
    TAG_COLORMAP,
    TAG_TILE_WIDTH,
    TAG_TILE_LENGTH,
    TAG_TILE_OFFSETS,
    TAG_EXTRA_SAMPLES,
    TAG_SAMPLE_FORMAT,
    TAG_WMP,
];

/// Compression values Pillow knows (TiffImagePlugin.COMPRESSION_INFO).
const TIFF_COMPRESSIONS: [i64; 17] = [
    1, 2, 3, 4, 5, 6, 7, 8, 32771, 32773, 32809, 32946, 34676, 34677, 34925, 50000, 50001,
];

type TiffModeRow = (
    i64,
    &'static [i64],
    i64,
    &'static [i64],
    &'static [i64],
    Option<&'static str>,
    Option<&'static str>,
);

/// Pillow's TiffImagePlugin.OPEN_INFO: (photometric, sample format, fill
/// order, bits per sample, extra samples) -> mode for II and MM files.
const TIFF_MODES: [TiffModeRow; 64] = [
    (0, &[1], 1, &[1], &[], Some("1"), Some("1")),
    (0, &[1], 2, &[1], &[], Some("1"), Some("1")),
    (1, &[1], 1, &[1], &[], Some("1"), Some("1")),
    (1, &[1], 2, &[1], &[], Some("1"), Some("1")),
    (0, &[1], 1, &[2], &[], Some("L"), Some("L")),
    (0, &[1], 2, &[2], &[], Some("L"), Some("L")),
    (1, &[1], 1, &[2], &[], Some("L"), Some("L")),
    (1, &[1], 2, &[2], &[], Some("L"), Some("L")),
    (0, &[1], 1, &[4], &[], Some("L"), Some("L")),
    (0, &[1], 2, &[4], &[], Some("L"), Some("L")),
    (1, &[1], 1, &[4], &[], Some("L"), Some("L")),
    (1, &[1], 2, &[4], &[], Some("L"), Some("L")),
    (0, &[1], 1, &[8], &[], Some("L"), Some("L")),
    (0, &[1], 2, &[8], &[], Some("L"), Some("L")),
    (1, &[1], 1, &[8], &[], Some("L"), Some("L")),
    (1, &[2], 1, &[8], &[], Some("L"), Some("L")),
    (1, &[1], 2, &[8], &[], Some("L"), Some("L")),
    (1, &[1], 1, &[12], &[], Some("I;16"), None),
    (0, &[1], 1, &[16], &[], Some("I;16"), None),
    (1, &[1], 1, &[16], &[], Some("I;16"), Some("I;16B")),
    (1, &[1], 2, &[16], &[], Some("I;16"), None),
    (1, &[2], 1, &[16], &[], Some("I"), Some("I")),
    (0, &[3], 1, &[32], &[], Some("F"), Some("F")),
    (1, &[1], 1, &[32], &[], Some("I"), None),
    (1, &[2], 1, &[32], &[], Some("I"), Some("I")),
    (1, &[3], 1, &[32], &[], Some("F"), Some("F")),
    (1, &[1], 1, &[8, 8], &[0], Some("L"), Some("L")),
    (1, &[1], 1, &[8, 8], &[1], Some("La"), Some("La")),
    (1, &[1], 1, &[8, 8], &[2], Some("LA"), Some("LA")),
    (2, &[1], 1, &[8, 8, 8], &[], Some("RGB"), Some("RGB")),
    (2, &[1], 2, &[8, 8, 8], &[], Some("RGB"), Some("RGB")),
    (2, &[1], 1, &[8, 8, 8, 8], &[], Some("RGBA"), Some("RGBA")),
    (2, &[1], 1, &[8, 8, 8, 8], &[0], Some("RGB"), Some("RGB")),
    (
        2,
        &[1],
        1,
        &[8, 8, 8, 8, 8],
        &[0, 0],
        Some("RGB"),
        Some("RGB"),
    ),
    (
        2,
        &[1],
        1,
        &[8, 8, 8, 8, 8, 8],
        &[0, 0, 0],
        Some("RGB"),
        Some("RGB"),
    ),
    (2, &[1], 1, &[8, 8, 8, 8], &[1], Some("RGBA"), Some("RGBA")),
    (
        2,
        &[1],
        1,
        &[8, 8, 8, 8, 8],
        &[1, 0],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (
        2,
        &[1],
        1,
        &[8, 8, 8, 8, 8, 8],
        &[1, 0, 0],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (2, &[1], 1, &[8, 8, 8, 8], &[2], Some("RGBA"), Some("RGBA")),
    (
        2,
        &[1],
        1,
        &[8, 8, 8, 8, 8],
        &[2, 0],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (
        2,
        &[1],
        1,
        &[8, 8, 8, 8, 8, 8],
        &[2, 0, 0],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (
        2,
        &[1],
        1,
        &[8, 8, 8, 8],
        &[999],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (2, &[1], 1, &[16, 16, 16], &[], Some("RGB"), Some("RGB")),
    (
        2,
        &[1],
        1,
        &[16, 16, 16, 16],
        &[],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (
        2,
        &[1],
        1,
        &[16, 16, 16, 16],
        &[0],
        Some("RGB"),
        Some("RGB"),
    ),
    (
        2,
        &[1],
        1,
        &[16, 16, 16, 16],
        &[1],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (
        2,
        &[1],
        1,
        &[16, 16, 16, 16],
        &[2],
        Some("RGBA"),
        Some("RGBA"),
    ),
    (3, &[1], 1, &[1], &[], Some("P"), Some("P")),
    (3, &[1], 2, &[1], &[], Some("P"), Some("P")),
    (3, &[1], 1, &[2], &[], Some("P"), Some("P")),
    (3, &[1], 2, &[2], &[], Some("P"), Some("P")),
    (3, &[1], 1, &[4], &[], Some("P"), Some("P")),
    (3, &[1], 2, &[4], &[], Some("P"), Some("P")),
    (3, &[1], 1, &[8], &[], Some("P"), Some("P")),
    (3, &[1], 1, &[8, 8], &[0], Some("P"), Some("P")),
    (3, &[1], 1, &[8, 8], &[2], Some("PA"), Some("PA")),
    (3, &[1], 2, &[8], &[], Some("P"), Some("P")),
    (5, &[1], 1, &[8, 8, 8, 8], &[], Some("CMYK"), Some("CMYK")),
    (
        5,
        &[1],
        1,
        &[8, 8, 8, 8, 8],
        &[0],
        Some("CMYK"),
        Some("CMYK"),
    ),
    (
        5,
        &[1],
        1,
        &[8, 8, 8, 8, 8, 8],
        &[0, 0],
        Some("CMYK"),
        Some("CMYK"),
    ),
    (
        5,
        &[1],
        1,
        &[16, 16, 16, 16],
        &[],
        Some("CMYK"),
        Some("CMYK"),
    ),
    (6, &[1], 1, &[8], &[], Some("L"), Some("L")),
    (6, &[1], 1, &[8, 8, 8], &[], Some("YCbCr"), Some("YCbCr")),
    (8, &[1], 1, &[8, 8, 8], &[], Some("LAB"), Some("LAB")),
];

/// A TIFF structure at `base` (0 for a TIFF file, the block start for EXIF);
/// offsets inside it are relative to `base` and it ends `len` bytes later.
#[derive(Clone, Copy)]
struct TiffWindow {
    base: u64,
    len: u64,
    big_endian: bool,
    big_tiff: bool,
}

#[derive(Clone, Copy)]
struct TagRef {
    typ: u16,
    count: u64,
    inline: [u8; 8],
    /// Window offset of out-of-line data.
    at: Option<u64>,
}

struct Ifd {
    tags: [Option<TagRef>; WANTED_TAGS.len()],
    next: Option<u64>,
}

/// Tag values as Pillow decodes them: integers, or something that is not
/// (bytes, text, rationals, floats), which never matches what Pillow wants.
enum TagValue {
    Ints {
        vals: [i64; MAX_TAG_VALUES],
        count: u64,
    },
    Other,
}

impl TagValue {
    fn first(&self) -> Option<i64> {
        match self {
            TagValue::Ints { vals, .. } => Some(vals[0]),
            TagValue::Other => None,
        }
    }
}

fn tiff_type_size(typ: u16) -> Option<u64> {
    match typ {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 | 16 => Some(8),
        _ => None,
    }
}

impl TiffWindow {
    fn u16(&self, b: [u8; 2]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn u64(&self, b: [u8; 8]) -> u64 {
        if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        }
    }

    /// Reads `out.len()` bytes at window offset `off`; false if they are not
    /// all inside the window.
    fn read<R: Read + Seek>(&self, inp: &mut Input<R>, off: u64, out: &mut [u8]) -> Result<bool> {
        let fits = off
            .checked_add(out.len() as u64)
            .is_some_and(|end| end <= self.len);
        if !fits {
            return Ok(false);
        }
        let abs = self.base.checked_add(off).ok_or_else(truncated)?;
        Ok(inp.read_at(abs, out)? == out.len())
    }

    /// Pillow's ImageFileDirectory_v2.load: entries are taken in order, a
    /// duplicate tag keeps the first copy, unknown types are skipped, and a
    /// read past the end stops the directory there (keeping what was read).
    fn load_ifd<R: Read + Seek>(&self, inp: &mut Input<R>, offset: u64) -> Result<Ifd> {
        let mut ifd = Ifd {
            tags: [None; WANTED_TAGS.len()],
            next: None,
        };
        let mut seen: Vec<u64> = vec![0; 1024];
        let (count_size, entry_size, inline_size) = if self.big_tiff {
            (8, 20, 8)
        } else {
            (2, 12, 4)
        };
        let mut buf = [0u8; 20];
        let count_buf = buf.get_mut(..count_size).unwrap_or_default();
        if !self.read(inp, offset, count_buf)? {
            return Ok(ifd);
        }
        let count = if self.big_tiff {
            self.u64(rd(count_buf, 0))
        } else {
            u64::from(self.u16(rd(count_buf, 0)))
        };
        let mut pos = offset + count_size as u64;
        let mut total_size: u128 = 0;
        for _ in 0..count.min(MAX_IFD_ENTRIES) {
            let entry = buf.get_mut(..entry_size).unwrap_or_default();
            if !self.read(inp, pos, entry)? {
                return Ok(ifd);
            }
            pos += entry_size as u64;
            let entry: &[u8] = entry;
            let tag = self.u16(rd(entry, 0));
            let typ = self.u16(rd(entry, 2));
            let (count, data): (u64, [u8; 8]) = if self.big_tiff {
                (self.u64(rd(entry, 4)), rd(entry, 12))
            } else {
                let d: [u8; 4] = rd(entry, 8);
                (
                    u64::from(self.u32(rd(entry, 4))),
                    [d[0], d[1], d[2], d[3], 0, 0, 0, 0],
                )
            };
            let slot = seen.get_mut(usize::from(tag / 64));
            let bit = 1u64 << (tag % 64);
            if slot.as_ref().is_some_and(|s| **s & bit != 0) {
                continue;
            }
            let Some(unit) = tiff_type_size(typ) else {
                continue;
            };
            let size = u128::from(count) * u128::from(unit);
            let mut at = None;
            if size > inline_size {
                let value_off = if self.big_tiff {
                    self.u64(data)
                } else {
                    u64::from(self.u32(rd(&data, 0)))
                };
                if value_off >= 1 << 63 {
                    continue;
                }
                total_size += size;
                if total_size > u128::from(self.len) {
                    continue;
                }
                if u128::from(value_off) + size > u128::from(self.len) {
                    return Ok(ifd);
                }
                at = Some(value_off);
            } else if size == 0 {
                continue;
            }
            if let Some(s) = slot {
                *s |= bit;
            }
            if let Some(i) = WANTED_TAGS.iter().position(|&t| t == tag) {
                if let Some(t) = ifd.tags.get_mut(i) {
                    *t = Some(TagRef {
                        typ,
                        count,
                        inline: data,
                        at,
                    });
                }
            }
        }
        if count > MAX_IFD_ENTRIES {
            return Ok(ifd);
        }
        let mut next = [0u8; 8];
        let next = next
            .get_mut(..if self.big_tiff { 8 } else { 4 })
            .unwrap_or_default();
        if self.read(inp, pos, next)? {
            ifd.next = Some(if self.big_tiff {
                self.u64(rd(next, 0))
            } else {
                u64::from(self.u32(rd(next, 0)))
            });
        }
        Ok(ifd)
    }

    fn tag_ref(&self, ifd: &Ifd, tag: u16) -> Option<TagRef> {
        let i = WANTED_TAGS.iter().position(|&t| t == tag)?;
        ifd.tags.get(i).copied().flatten()
    }

    fn value<R: Read + Seek>(&self, inp: &mut Input<R>, t: &TagRef) -> Result<TagValue> {
        let unit = match t.typ {
            3 | 8 => 2usize,
            4 | 9 | 13 => 4,
            6 => 1,
            16 => 8,
            _ => return Ok(TagValue::Other),
        };
        let n = usize::try_from(t.count)
            .unwrap_or(MAX_TAG_VALUES)
            .min(MAX_TAG_VALUES);
        let mut raw = [0u8; MAX_TAG_VALUES * 8];
        let raw = raw.get_mut(..n * unit).unwrap_or_default();
        match t.at {
            Some(off) => {
                if !self.read(inp, off, raw)? {
                    return Err(truncated());
                }
            }
            None => {
                for (d, s) in raw.iter_mut().zip(t.inline.iter()) {
                    *d = *s;
                }
            }
        }
        let mut vals = [0i64; MAX_TAG_VALUES];
        for (v, c) in vals.iter_mut().zip(raw.chunks_exact(unit)) {
            *v = match t.typ {
                3 => i64::from(self.u16(rd(c, 0))),
                8 => i64::from(self.u16(rd(c, 0)) as i16),
                4 | 13 => i64::from(self.u32(rd(c, 0))),
                9 => i64::from(self.u32(rd(c, 0)) as i32),
                6 => i64::from(c.first().copied().unwrap_or(0) as i8),
                _ => i64::try_from(self.u64(rd(c, 0))).unwrap_or(i64::MAX),
            };
        }
        Ok(TagValue::Ints {
            vals,
            count: t.count,
        })
    }

    fn get<R: Read + Seek>(
        &self,
        inp: &mut Input<R>,
        ifd: &Ifd,
        tag: u16,
    ) -> Result<Option<TagValue>> {
        match self.tag_ref(ifd, tag) {
            Some(t) => Ok(Some(self.value(inp, &t)?)),
            None => Ok(None),
        }
    }

    /// A tag Pillow defines as single-valued: the first value, or `default`
    /// when absent; `None` when it is not an integer.
    fn scalar<R: Read + Seek>(
        &self,
        inp: &mut Input<R>,
        ifd: &Ifd,
        tag: u16,
        default: i64,
    ) -> Result<Option<i64>> {
        Ok(match self.get(inp, ifd, tag)? {
            None => Some(default),
            Some(v) => v.first(),
        })
    }
}

/// An integer tag's first (up to 16) values and its full count, or the
/// default when absent; `None` when the values are not integers.
fn tiff_ints(v: Option<TagValue>, default: &[i64]) -> Option<(Vec<i64>, u64)> {
    match v {
        None => Some((default.to_vec(), default.len() as u64)),
        Some(TagValue::Ints { vals, count }) => {
            let n = usize::try_from(count)
                .unwrap_or(MAX_TAG_VALUES)
                .min(MAX_TAG_VALUES);
            Some((vals.get(..n)?.to_vec(), count))
        }
        Some(TagValue::Other) => None,
    }
}

/// All of a short integer tag's values; `None` also when there are more
/// than 16, which matches nothing Pillow accepts.
fn tiff_vector(v: Option<TagValue>, default: &[i64]) -> Option<Vec<i64>> {
    let (vals, count) = tiff_ints(v, default)?;
    (vals.len() as u64 == count).then_some(vals)
}

fn exif_orientation<R: Read + Seek>(inp: &mut Input<R>, mut base: u64, mut len: u64) -> Result<u8> {
    // Pillow strips one or two "Exif\0\0" prefixes before the TIFF header.
    for _ in 0..2 {
        let mut p = [0u8; 6];
        if len >= 6 && inp.read_at(base, &mut p)? == 6 && &p == b"Exif\0\0" {
            base += 6;
            len -= 6;
        }
    }
    let mut head = [0u8; 8];
    if len < 8 || inp.read_at(base, &mut head)? != 8 {
        return Ok(1);
    }
    // A BigTIFF header here is an error in Pillow's EXIF reader.
    if !TIFF_PREFIXES.iter().any(|p| head.starts_with(*p)) || head[2] == 43 {
        return Ok(1);
    }
    let win = TiffWindow {
        base,
        len,
        big_endian: head[0] == b'M',
        big_tiff: false,
    };
    let ifd = win.load_ifd(inp, u64::from(win.u32(rd(&head, 4))))?;
    // A corrupt value only loses the orientation.
    let value = match win.tag_ref(&ifd, TAG_ORIENTATION) {
        Some(t) => win.value(inp, &t).ok().and_then(|v| v.first()),
        None => None,
    };
    Ok(orientation_from(value))
}

fn orientation_from(value: Option<i64>) -> u8 {
    match value {
        Some(v @ 1..=8) => v as u8,
        _ => 1,
    }
}

fn tiff<R: Read + Seek>(inp: &mut Input<R>) -> Result<ImageInfo> {
    let mut head = [0u8; 16];
    let n = inp.read_at(0, &mut head)?;
    // Pillow keys BigTIFF on the third byte, so big-endian BigTIFF
    // ("MM\0\x2b") is read as classic TIFF, as here.
    let big_tiff = head[2] == 43;
    if n < 8 || (big_tiff && n < 16) {
        return Err(truncated());
    }
    let win = TiffWindow {
        base: 0,
        len: inp.len,
        big_endian: head[0] == b'M',
        big_tiff,
    };
    let first = if big_tiff {
        win.u64(rd(&head, 8))
    } else {
        u64::from(win.u32(rd(&head, 4)))
    };
    if first == 0 || first >= 1 << 63 {
        return Err(corrupt("no image directory"));
    }
    let ifd = win.load_ifd(inp, first)?;
    let next = ifd.next.unwrap_or(first);
    let animated = next != 0 && next != first;

    let has = |tag| win.tag_ref(&ifd, tag).is_some();
    if has(TAG_WMP) {
        return Err(ImageInfoError::Unsupported);
    }
    let unsupported = || ImageInfoError::Unsupported;
    let compression = win
        .scalar(inp, &ifd, TAG_COMPRESSION, 1)?
        .filter(|c| TIFF_COMPRESSIONS.contains(c))
        .ok_or_else(unsupported)?;
    let planar = win.scalar(inp, &ifd, TAG_PLANAR, 1)?;
    // Pillow drops a multi-valued PhotometricInterpretation (default 0).
    let photometric_values = win.tag_ref(&ifd, TAG_PHOTOMETRIC).map_or(0, |t| t.count);
    let mut photo = if photometric_values > 1 {
        0
    } else {
        win.scalar(inp, &ifd, TAG_PHOTOMETRIC, 0)?
            .ok_or_else(unsupported)?
    };
    if compression == 6 {
        // Old-style JPEG: Pillow assumes YCbCr.
        photo = 6;
    }
    let fill_order = win
        .scalar(inp, &ifd, TAG_FILL_ORDER, 1)?
        .ok_or_else(unsupported)?;

    let dimension = |v: Option<TagValue>| -> Result<i64> {
        let v = v.ok_or_else(|| corrupt("missing TIFF dimensions"))?;
        v.first().ok_or_else(|| corrupt("invalid TIFF dimensions"))
    };
    let xsize = dimension(win.get(inp, &ifd, TAG_WIDTH)?)?;
    let ysize = dimension(win.get(inp, &ifd, TAG_LENGTH)?)?;
    let orientation = win.get(inp, &ifd, TAG_ORIENTATION)?.and_then(|v| v.first());

    let mut sample_format =
        tiff_vector(win.get(inp, &ifd, TAG_SAMPLE_FORMAT)?, &[1]).ok_or_else(unsupported)?;
    if sample_format.windows(2).all(|w| w.first() == w.get(1)) {
        sample_format.truncate(1);
    }
    let (bps_vals, bps_count) =
        tiff_ints(win.get(inp, &ifd, TAG_BITS)?, &[1]).ok_or_else(unsupported)?;
    let mut bps_len = i128::from(bps_count);
    let mut extra =
        tiff_vector(win.get(inp, &ifd, TAG_EXTRA_SAMPLES)?, &[]).ok_or_else(unsupported)?;
    let default_spp = if compression == 6 && matches!(photo, 2 | 6) {
        3
    } else {
        1
    };
    let mut spp = i128::from(
        win.scalar(inp, &ifd, TAG_SAMPLES, default_spp)?
            .ok_or_else(unsupported)?,
    );

    if planar == Some(2) && extra.iter().max() == Some(&0) {
        // Separate planes: trailing unspecified extra samples are ignored.
        let n = extra.len() as i128;
        bps_len = (bps_len - n).max(0);
        spp -= n;
        extra.clear();
    }
    if spp > 6 {
        return Err(ImageInfoError::Unsupported);
    }
    // Pillow's bps[:spp], or one value repeated for every sample.
    let bps: Vec<i64> = if spp < bps_len {
        if spp < 0 {
            return Err(corrupt("inconsistent TIFF samples"));
        }
        bps_vals.iter().copied().take(spp as usize).collect()
    } else if spp > bps_len && bps_len == 1 {
        vec![bps_vals.first().copied().unwrap_or(0); spp as usize]
    } else if spp == bps_len {
        bps_vals.iter().copied().take(spp as usize).collect()
    } else {
        return Err(corrupt("inconsistent TIFF samples"));
    };
    let row = TIFF_MODES.iter().find(|r| {
        r.0 == photo
            && r.1 == sample_format.as_slice()
            && r.2 == fill_order
            && r.3 == bps.as_slice()
            && r.4 == extra.as_slice()
    });
    let mut mode = row
        .and_then(|r| if win.big_endian { r.6 } else { r.5 })
        .ok_or_else(unsupported)?;

    if compression != 1 {
        // Pillow decodes compressed YCbCr through libtiff straight to RGB.
        if photo == 6 {
            mode = "RGB";
        }
    } else if !has(TAG_STRIP_OFFSETS) {
        if !has(TAG_TILE_OFFSETS) {
            return Err(corrupt("no TIFF strips or tiles"));
        }
        let tile_w = win.get(inp, &ifd, TAG_TILE_WIDTH)?.and_then(|v| v.first());
        let tile_h = win.get(inp, &ifd, TAG_TILE_LENGTH)?.and_then(|v| v.first());
        if tile_w.is_none() || tile_h.is_none() {
            return Err(corrupt("invalid TIFF tile dimensions"));
        }
    }
    if matches!(mode, "P" | "PA") && !has(TAG_COLORMAP) {
        return Err(corrupt("missing TIFF colour map"));
    }

    // Pillow >= 11 swaps a TIFF's size for orientations 5-8 (it rotates TIFF pixels on
    // load); SPEC §3 asks for the stored dimensions, before any rotation, for every format.
    let (w, h) = (xsize, ysize);
    if w <= 0 || h <= 0 {
        return Err(corrupt("zero width or height"));
    }
    Ok(ImageInfo {
        format: ImageFormat::Tiff,
        width: u32::try_from(w).map_err(|_| unsupported())?,
        height: u32::try_from(h).map_err(|_| unsupported())?,
        mode,
        orientation: orientation_from(orientation),
        animated,
        has_alpha: matches!(mode, "LA" | "La" | "PA" | "RGBA"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn probe(data: &[u8]) -> Result<ImageInfo> {
        read_image_info(&mut Cursor::new(data))
    }

    fn info(data: &[u8]) -> ImageInfo {
        probe(data).unwrap_or_else(|e| panic!("expected an image, got {e:?}"))
    }

    /// (width, height, mode, orientation, animated, has_alpha)
    fn summary(data: &[u8]) -> (u32, u32, &'static str, u8, bool, bool) {
        let i = info(data);
        (
            i.width,
            i.height,
            i.mode,
            i.orientation,
            i.animated,
            i.has_alpha,
        )
    }

    fn dims(data: &[u8]) -> (u32, u32, &'static str) {
        let i = info(data);
        (i.width, i.height, i.mode)
    }

    fn assert_corrupt(data: &[u8]) {
        match probe(data) {
            Err(ImageInfoError::Corrupt(msg)) => {
                assert!(
                    msg.starts_with("The image is truncated or corrupt"),
                    "{msg}"
                )
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    fn assert_unsupported(data: &[u8]) {
        assert_eq!(probe(data), Err(ImageInfoError::Unsupported));
    }

    fn be16b(v: u16) -> [u8; 2] {
        v.to_be_bytes()
    }

    fn le24b(v: u32) -> [u8; 3] {
        let b = v.to_le_bytes();
        [b[0], b[1], b[2]]
    }

    /// A minimal TIFF structure whose IFD0 has only an Orientation tag.
    fn exif_tiff(big_endian: bool, orientation: u16) -> Vec<u8> {
        let mut t = Vec::new();
        if big_endian {
            t.extend(b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01");
            t.extend(orientation.to_be_bytes());
        } else {
            t.extend(b"II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0");
            t.extend(orientation.to_le_bytes());
        }
        t.extend([0, 0, 0, 0, 0, 0]);
        t
    }

    // ---- PNG

    fn chunk(cid: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(cid);
        c.extend(data);
        let crc = crc_update(crc_update(0xFFFF_FFFF, cid), data) ^ 0xFFFF_FFFF;
        c.extend(crc.to_be_bytes());
        c
    }

    fn ihdr(w: u32, h: u32, bits: u8, colour: u8) -> Vec<u8> {
        let mut d = w.to_be_bytes().to_vec();
        d.extend(h.to_be_bytes());
        d.extend([bits, colour, 0, 0, 0]);
        chunk(b"IHDR", &d)
    }

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut f = b"\x89PNG\r\n\x1a\n".to_vec();
        for c in chunks {
            f.extend(c);
        }
        f.extend(chunk(b"IDAT", b"\x78\x9c\x03\0\0\0\0\x01"));
        f.extend(chunk(b"IEND", b""));
        f
    }

    fn actl(frames: u32) -> Vec<u8> {
        let mut d = frames.to_be_bytes().to_vec();
        d.extend([0, 0, 0, 0]);
        chunk(b"acTL", &d)
    }

    fn fctl(seq: u32, w: u32, h: u32, x: u32, y: u32) -> Vec<u8> {
        let mut d = Vec::new();
        for v in [seq, w, h, x, y] {
            d.extend(v.to_be_bytes());
        }
        d.extend([0, 1, 0, 10, 0, 0]);
        chunk(b"fcTL", &d)
    }

    #[test]
    fn crc_matches_the_png_specification() {
        assert_eq!(crc_update(0xFFFF_FFFF, b"IEND") ^ 0xFFFF_FFFF, 0xAE42_6082);
    }

    #[test]
    fn png_modes_follow_pillow() {
        let cases = [
            (1, 0, "1"),
            (2, 0, "L"),
            (4, 0, "L"),
            (8, 0, "L"),
            (16, 0, "I;16"),
            (8, 2, "RGB"),
            (16, 2, "RGB"),
            (1, 3, "P"),
            (4, 3, "P"),
            (8, 3, "P"),
            (8, 4, "LA"),
            (16, 4, "RGBA"),
            (8, 6, "RGBA"),
            (16, 6, "RGBA"),
        ];
        for (bits, colour, mode) in cases {
            let i = info(&png(&[ihdr(7, 5, bits, colour)]));
            assert_eq!(
                (i.format, i.width, i.height, i.mode),
                (ImageFormat::Png, 7, 5, mode)
            );
            assert_eq!(
                i.has_alpha,
                matches!(mode, "LA" | "RGBA"),
                "{bits}/{colour}"
            );
        }
        assert_corrupt(&png(&[ihdr(7, 5, 3, 2)]));
    }

    #[test]
    fn png_trns_means_transparency_for_palette_grey_and_rgb() {
        let p = png(&[
            ihdr(4, 4, 8, 3),
            chunk(b"PLTE", &[0; 6]),
            chunk(b"tRNS", &[0]),
        ]);
        assert_eq!(summary(&p), (4, 4, "P", 1, false, true));
        assert!(info(&png(&[ihdr(4, 4, 8, 0), chunk(b"tRNS", &[0, 9])])).has_alpha);
        assert!(info(&png(&[ihdr(4, 4, 1, 0), chunk(b"tRNS", &[0, 1])])).has_alpha);
        assert!(info(&png(&[ihdr(4, 4, 8, 2), chunk(b"tRNS", &[0; 6])])).has_alpha);
        assert_corrupt(&png(&[ihdr(4, 4, 8, 2), chunk(b"tRNS", &[0; 4])]));
        assert_corrupt(&png(&[ihdr(4, 4, 16, 0), chunk(b"tRNS", &[0])]));
        // Ignored before IHDR (no mode yet) and for modes with alpha.
        assert!(!info(&png(&[chunk(b"tRNS", &[0]), ihdr(4, 4, 8, 0)])).has_alpha);
        assert_eq!(
            info(&png(&[ihdr(4, 4, 8, 4), chunk(b"tRNS", &[0])])).mode,
            "LA"
        );
    }

    #[test]
    fn png_chunks_before_the_image_data_are_checked() {
        let mut bad_crc = png(&[ihdr(4, 4, 8, 2), chunk(b"tEXt", b"a\0b")]);
        let text_crc = 8 + 25 + 8 + 3;
        bad_crc[text_crc] ^= 1;
        assert_corrupt(&bad_crc);
        assert_corrupt(&png(&[ihdr(4, 4, 8, 2), chunk(b"gA A", &[0; 4])]));
        assert_corrupt(&png(&[ihdr(4, 4, 8, 2), chunk(b"pHYs", &[0; 8])]));
        assert_corrupt(&png(&[chunk(b"IHDR", &[0; 12])]));
        assert_corrupt(&png(&[ihdr(0, 4, 8, 2)]));
        assert_corrupt(&png(&[]));
        let mut filter = ihdr(4, 4, 8, 2);
        filter[8 + 11] = 1;
        let crc = crc_update(0xFFFF_FFFF, &filter[4..21]) ^ 0xFFFF_FFFF;
        filter[21..25].copy_from_slice(&crc.to_be_bytes());
        assert_corrupt(&png(&[filter]));
        // A chunk claiming more data than the file holds.
        let mut huge = png(&[ihdr(4, 4, 8, 2)]);
        huge.splice(33..33, [0xFF, 0xFF, 0xFF, 0xF0, b't', b'E', b'X', b't']);
        assert_corrupt(&huge);
    }

    #[test]
    fn apng_frames_are_counted_as_pillow_counts_them() {
        let base = ihdr(8, 8, 8, 6);
        assert!(info(&png(&[base.clone(), actl(2), fctl(0, 8, 8, 0, 0)])).animated);
        assert!(!info(&png(&[base.clone(), actl(1), fctl(0, 8, 8, 0, 0)])).animated);
        // The IDAT without an fcTL is an extra "default image" frame.
        assert!(info(&png(&[base.clone(), actl(1)])).animated);
        // A second acTL cancels the animation; a zero count is ignored.
        assert!(!info(&png(&[base.clone(), actl(3), actl(3), fctl(0, 8, 8, 0, 0)])).animated);
        assert!(!info(&png(&[base.clone(), actl(0)])).animated);
        assert_corrupt(&png(&[base.clone(), actl(2), fctl(1, 8, 8, 0, 0)]));
        assert_corrupt(&png(&[base.clone(), actl(2), fctl(0, 8, 8, 1, 0)]));
        assert!(!info(&png(&[base])).animated);
    }

    #[test]
    fn png_exif_orientation_in_both_byte_orders() {
        for (be, o) in [(false, 6), (true, 8), (true, 3)] {
            let p = png(&[ihdr(3, 2, 8, 2), chunk(b"eXIf", &exif_tiff(be, o))]);
            assert_eq!(info(&p).orientation, o as u8);
            assert_eq!(
                (info(&p).width, info(&p).height),
                (3, 2),
                "stored size, not rotated"
            );
        }
        let mut prefixed = b"Exif\0\0".to_vec();
        prefixed.extend(exif_tiff(false, 5));
        assert_eq!(
            info(&png(&[ihdr(3, 2, 8, 2), chunk(b"eXIf", &prefixed)])).orientation,
            5
        );
        assert_eq!(
            info(&png(&[
                ihdr(3, 2, 8, 2),
                chunk(b"eXIf", &exif_tiff(false, 9))
            ]))
            .orientation,
            1
        );
        assert_eq!(
            info(&png(&[ihdr(3, 2, 8, 2), chunk(b"eXIf", b"junk")])).orientation,
            1
        );
    }

    #[test]
    fn decompression_bombs_are_reported_not_refused() {
        let i = info(&png(&[ihdr(50_000, 50_000, 8, 2)]));
        assert_eq!(i.pixel_count(), 2_500_000_000);
    }

    // ---- JPEG

    fn seg(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend(be16b(payload.len() as u16 + 2));
        s.extend(payload);
        s
    }

    fn sof(marker: u8, bits: u8, w: u16, h: u16, components: u8) -> Vec<u8> {
        let mut p = vec![bits];
        p.extend(be16b(h));
        p.extend(be16b(w));
        p.push(components);
        for c in 0..components {
            p.extend([c + 1, 0x11, 0]);
        }
        seg(marker, &p)
    }

    fn jpeg(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        for s in segments {
            f.extend(s);
        }
        f.extend(seg(0xDA, &[1, 1, 0, 0, 63, 0]));
        f.extend([0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]);
        f
    }

    fn app1_exif(be: bool, orientation: u16) -> Vec<u8> {
        let mut p = b"Exif\0\0".to_vec();
        p.extend(exif_tiff(be, orientation));
        seg(0xE1, &p)
    }

    #[test]
    fn jpeg_components_give_the_mode() {
        for (n, mode) in [(1, "L"), (3, "RGB"), (4, "CMYK")] {
            let j = jpeg(&[
                seg(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
                sof(0xC0, 8, 7, 5, n),
            ]);
            assert_eq!(summary(&j), (7, 5, mode, 1, false, false));
        }
        // Adobe APP14 with transform 2 (YCCK) is still CMYK to Pillow.
        let adobe = seg(0xEE, b"Adobe\0\x64\0\0\0\0\x02");
        assert_eq!(info(&jpeg(&[adobe, sof(0xC0, 8, 7, 5, 4)])).mode, "CMYK");
        assert_eq!(info(&jpeg(&[sof(0xC2, 8, 9, 4, 3)])).mode, "RGB");
        assert_unsupported(&jpeg(&[sof(0xC0, 8, 7, 5, 2)]));
        assert_unsupported(&jpeg(&[sof(0xC0, 12, 7, 5, 3)]));
        assert_corrupt(&jpeg(&[sof(0xC0, 8, 7, 0, 3)]));
    }

    #[test]
    fn jpeg_exif_orientation_in_both_byte_orders() {
        for (be, o) in [(false, 6), (true, 8), (false, 2), (true, 7)] {
            let j = jpeg(&[app1_exif(be, o), sof(0xC0, 8, 7, 5, 3)]);
            assert_eq!(summary(&j), (7, 5, "RGB", o as u8, false, false));
        }
        // The first Exif segment counts; XMP and other APP1s do not.
        let j = jpeg(&[
            seg(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>"),
            app1_exif(true, 3),
            app1_exif(true, 6),
            sof(0xC0, 8, 7, 5, 3),
        ]);
        assert_eq!(info(&j).orientation, 3);
        assert_eq!(
            info(&jpeg(&[app1_exif(true, 0), sof(0xC0, 8, 7, 5, 3)])).orientation,
            1
        );
        let mut broken = b"Exif\0\0MM\0\x2a\xff\xff\xff\xf0".to_vec();
        broken.extend([0; 8]);
        assert_eq!(
            info(&jpeg(&[seg(0xE1, &broken), sof(0xC0, 8, 7, 5, 3)])).orientation,
            1
        );
    }

    /// Counts the bytes read through it.
    struct Counting<R> {
        inner: R,
        read: u64,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn jpeg_large_segments_are_seeked_over() {
        let big = vec![0u8; 65_000];
        let mut segments = Vec::new();
        for _ in 0..20 {
            segments.push(seg(0xE2, &big));
        }
        segments.push(sof(0xC0, 8, 640, 480, 3));
        let data = jpeg(&segments);
        let mut r = Counting {
            inner: Cursor::new(&data),
            read: 0,
        };
        let i = read_image_info(&mut r).unwrap();
        assert_eq!((i.width, i.height), (640, 480));
        assert!(data.len() > 1_000_000);
        assert!(r.read < 200_000, "read {} bytes", r.read);
    }

    #[test]
    fn jpeg_marker_scan_follows_pillow() {
        // The last SOF before SOS wins; one after SOS is never seen.
        let mut j = jpeg(&[sof(0xC0, 8, 7, 5, 1), sof(0xC1, 8, 9, 4, 3)]);
        assert_eq!(dims(&j), (9, 4, "RGB"));
        j.extend(sof(0xC0, 8, 1, 1, 4));
        assert_eq!(info(&j).width, 9);
        // Fill bytes, stray bytes and a header without scan data are fine.
        let mut junk = vec![0xFF, 0xD8, 0xFF, 0xFF, 0x00, 0x13];
        junk.extend(sof(0xC0, 8, 3, 2, 3));
        assert_eq!(info(&junk).width, 3);
        let mut eoi_first = vec![0xFF, 0xD8, 0xFF, 0xD9];
        eoi_first.extend(sof(0xC0, 8, 3, 2, 3));
        assert_eq!(info(&eoi_first).height, 2);
        assert_corrupt(&jpeg(&[]));
        assert_corrupt(&jpeg(&[seg(0x01, &[]), sof(0xC0, 8, 3, 2, 3)]));
        let mut truncated = jpeg(&[seg(0xE1, &[0; 100]), sof(0xC0, 8, 3, 2, 3)]);
        truncated.truncate(60);
        assert_corrupt(&truncated);
        assert_corrupt(&jpeg(&[seg(0xDB, &[0; 64]), sof(0xC0, 8, 3, 2, 3)]));
        assert!(probe(&jpeg(&[seg(0xDB, &[0; 130]), sof(0xC0, 8, 3, 2, 3)])).is_ok());
        let mut dqt16 = vec![0x10; 129];
        dqt16.extend([0; 65]);
        assert!(probe(&jpeg(&[seg(0xDB, &dqt16), sof(0xC0, 8, 3, 2, 3)])).is_ok());
        assert_corrupt(&jpeg(&[seg(0xDB, &[0x10; 128]), sof(0xC0, 8, 3, 2, 3)]));
        assert_corrupt(&jpeg(&[seg(0xEE, b"Adobe\0"), sof(0xC0, 8, 3, 2, 3)]));
        assert_corrupt(&jpeg(&[
            seg(0xE2, b"ICC_PROFILE\0\x01"),
            sof(0xC0, 8, 3, 2, 3),
        ]));
        assert!(probe(&jpeg(&[
            seg(0xE2, b"ICC_PROFILE\0\x01\x01"),
            sof(0xC0, 8, 3, 2, 3)
        ]))
        .is_ok());
        let mut odd_sof = sof(0xC0, 8, 3, 2, 3);
        odd_sof[3] += 1;
        odd_sof.push(0);
        assert_corrupt(&jpeg(&[odd_sof]));
    }

    #[test]
    fn jpeg_fill_bytes_are_bounded() {
        let mut j = vec![0xFF, 0xD8];
        j.extend(vec![0xFF; (MAX_JPEG_STEPS as usize) + 10]);
        assert_corrupt(&j);
    }

    // ---- GIF

    fn gif_header(w: u16, h: u16, palette: Option<&[u8]>) -> Vec<u8> {
        let mut g = b"GIF89a".to_vec();
        g.extend(w.to_le_bytes());
        g.extend(h.to_le_bytes());
        match palette {
            Some(p) => {
                g.extend([0x80 | ((p.len() / 3).trailing_zeros() as u8 - 1), 0, 0]);
                g.extend(p);
            }
            None => g.extend([0, 0, 0]),
        }
        g
    }

    fn gif_image(x: u16, y: u16, w: u16, h: u16, palette: Option<&[u8]>) -> Vec<u8> {
        let mut g = vec![b','];
        for v in [x, y, w, h] {
            g.extend(v.to_le_bytes());
        }
        match palette {
            Some(p) => {
                g.push(0x80 | ((p.len() / 3).trailing_zeros() as u8 - 1));
                g.extend(p);
            }
            None => g.push(0),
        }
        g.extend([2, 2, 0x44, 0x01, 0]);
        g
    }

    fn gce(transparent: Option<u8>) -> Vec<u8> {
        let (flag, index) = transparent.map_or((0, 0), |i| (1, i));
        vec![b'!', 0xF9, 4, flag, 0, 0, index, 0]
    }

    const COLOURS: [u8; 12] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3];
    const GREYS: [u8; 12] = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3];

    fn gif(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut g: Vec<u8> = parts.concat();
        g.push(b';');
        g
    }

    #[test]
    fn gif_frames_palettes_and_transparency() {
        let head = gif_header(7, 5, Some(&COLOURS));
        let one = gif(&[head.clone(), gif_image(0, 0, 7, 5, None)]);
        assert_eq!(summary(&one), (7, 5, "P", 1, false, false));
        let two = gif(&[
            head.clone(),
            gce(Some(1)),
            gif_image(0, 0, 7, 5, None),
            gif_image(1, 1, 2, 2, None),
        ]);
        assert_eq!(summary(&two), (7, 5, "P", 1, true, true));
        // Transparency in a later frame does not count.
        let later = gif(&[
            head.clone(),
            gif_image(0, 0, 7, 5, None),
            gce(Some(1)),
            gif_image(0, 0, 2, 2, None),
        ]);
        assert_eq!(summary(&later), (7, 5, "P", 1, true, false));
        assert!(
            !info(&gif(&[
                head.clone(),
                gce(None),
                gif_image(0, 0, 7, 5, None)
            ]))
            .has_alpha
        );
        // Extensions, comments and stray bytes are skipped.
        let mut ext = head.clone();
        ext.extend(b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0");
        ext.extend(b"!\xfe\x03abc\x02de\0\x07\x07");
        ext.extend(gif_image(0, 0, 7, 5, None));
        assert_eq!(summary(&gif(&[ext])), (7, 5, "P", 1, false, false));
    }

    #[test]
    fn gif_grey_ramp_palettes_are_l() {
        assert_eq!(
            info(&gif(&[
                gif_header(7, 5, Some(&GREYS)),
                gif_image(0, 0, 7, 5, None)
            ]))
            .mode,
            "L"
        );
        assert_eq!(
            info(&gif(&[gif_header(7, 5, None), gif_image(0, 0, 7, 5, None)])).mode,
            "L"
        );
        let local = gif(&[
            gif_header(7, 5, None),
            gif_image(0, 0, 7, 5, Some(&COLOURS)),
        ]);
        assert_eq!(info(&local).mode, "P");
        let grey_local = gif(&[
            gif_header(7, 5, Some(&COLOURS)),
            gif_image(0, 0, 7, 5, Some(&GREYS)),
        ]);
        assert_eq!(info(&grey_local).mode, "L");
    }

    #[test]
    fn gif_canvas_grows_to_the_first_frame() {
        let g = gif(&[
            gif_header(4, 3, Some(&COLOURS)),
            gif_image(2, 1, 7, 5, None),
        ]);
        assert_eq!((info(&g).width, info(&g).height), (9, 6));
        let g = gif(&[
            gif_header(0, 0, Some(&COLOURS)),
            gif_image(0, 0, 3, 2, None),
        ]);
        assert_eq!((info(&g).width, info(&g).height), (3, 2));
        assert_corrupt(&gif(&[
            gif_header(0, 0, Some(&COLOURS)),
            gif_image(0, 0, 0, 0, None),
        ]));
    }

    #[test]
    fn gif_damage_after_the_first_frame_only_loses_animation() {
        let mut g = gif(&[
            gif_header(7, 5, Some(&COLOURS)),
            gif_image(0, 0, 7, 5, None),
        ]);
        g.pop();
        g.extend(b",\x01\x00");
        assert_eq!(summary(&g), (7, 5, "P", 1, false, false));
        assert_corrupt(&gif(&[gif_header(7, 5, Some(&COLOURS))]));
        assert_corrupt(&gif_header(7, 5, Some(&COLOURS))[..20]);
        assert_corrupt(&gif(&[
            gif_header(7, 5, None),
            b"!\xf9\x02\x01\0\0".to_vec(),
            gif_image(0, 0, 7, 5, None),
        ]));
        assert_corrupt(&b"GIF89a\x07\0"[..]);
    }

    // ---- WebP

    fn wchunk(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut c = fourcc.to_vec();
        c.extend((payload.len() as u32).to_le_bytes());
        c.extend(payload);
        if payload.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body = chunks.concat();
        let mut f = b"RIFF".to_vec();
        f.extend((body.len() as u32 + 4).to_le_bytes());
        f.extend(b"WEBP");
        f.extend(body);
        f
    }

    fn vp8(w: u16, h: u16) -> Vec<u8> {
        // Key frame, profile 0, shown, first partition of 1 byte.
        let mut p = vec![0x30, 0, 0, 0x9D, 0x01, 0x2A];
        p.extend(w.to_le_bytes());
        p.extend(h.to_le_bytes());
        p.extend([0; 6]);
        wchunk(b"VP8 ", &p)
    }

    fn vp8l(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let bits = (w - 1) | (h - 1) << 14 | u32::from(alpha) << 28;
        let mut p = vec![0x2F];
        p.extend(bits.to_le_bytes());
        p.extend([0; 3]);
        wchunk(b"VP8L", &p)
    }

    fn vp8x(flags: u8, w: u32, h: u32) -> Vec<u8> {
        let mut p = vec![flags, 0, 0, 0];
        p.extend(le24b(w - 1));
        p.extend(le24b(h - 1));
        wchunk(b"VP8X", &p)
    }

    fn anmf(x: u32, y: u32, image: &[Vec<u8>], w: u32, h: u32) -> Vec<u8> {
        let mut p = Vec::new();
        for v in [x / 2, y / 2, w - 1, h - 1, 100] {
            p.extend(le24b(v));
        }
        p.push(0);
        p.extend(image.concat());
        wchunk(b"ANMF", &p)
    }

    fn anim() -> Vec<u8> {
        wchunk(b"ANIM", &[0; 6])
    }

    #[test]
    fn webp_still_images() {
        assert_eq!(summary(&riff(&[vp8(7, 5)])), (7, 5, "RGB", 1, false, false));
        assert_eq!(
            summary(&riff(&[vp8l(7, 5, false)])),
            (7, 5, "RGB", 1, false, false)
        );
        assert_eq!(
            summary(&riff(&[vp8l(7, 5, true)])),
            (7, 5, "RGBA", 1, false, true)
        );
        let alph = wchunk(b"ALPH", &[0; 3]);
        let lossy_alpha = riff(&[vp8x(0x10, 7, 5), alph.clone(), vp8(7, 5)]);
        assert_eq!(summary(&lossy_alpha), (7, 5, "RGBA", 1, false, true));
        // WebPGetFeatures: the flag alone, or the ALPH chunk alone, is alpha...
        assert!(info(&riff(&[vp8x(0x10, 7, 5), vp8(7, 5)])).has_alpha);
        assert!(info(&riff(&[vp8x(0, 7, 5), alph.clone(), vp8(7, 5)])).has_alpha);
        // ...but a lossless image's own header bit overrides the VP8X flag.
        assert_eq!(
            info(&riff(&[vp8x(0x10, 7, 5), vp8l(7, 5, false)])).mode,
            "RGB"
        );
        assert_eq!(info(&riff(&[vp8x(0, 7, 5), vp8l(7, 5, true)])).mode, "RGBA");
        // An ALPH after the image is an error only when the flag keeps it.
        assert_eq!(info(&riff(&[vp8(7, 5), alph.clone()])).mode, "RGB");
        assert_eq!(
            info(&riff(&[vp8x(0, 7, 5), vp8(7, 5), alph.clone()])).mode,
            "RGB"
        );
        assert_corrupt(&riff(&[vp8x(0x10, 7, 5), vp8(7, 5), alph]));
    }

    #[test]
    fn webp_structure_is_validated_like_libwebp() {
        assert_corrupt(&riff(&[vp8x(0, 8, 5), vp8(7, 5)]));
        assert_corrupt(&riff(&[vp8x(0x01, 7, 5), vp8(7, 5)]));
        assert_corrupt(&riff(&[vp8x(0, 7, 5)]));
        assert_corrupt(&riff(&[vp8x(0, 7, 5), vp8(7, 5), vp8(7, 5)]));
        assert_corrupt(&riff(&[
            vp8x(0, 7, 5),
            wchunk(b"ALPH", &[0]),
            vp8l(7, 5, false),
        ]));
        assert_corrupt(&riff(&[vp8(0, 5)]));
        let mut truncated = riff(&[vp8(7, 5)]);
        truncated.truncate(truncated.len() - 1);
        assert_corrupt(&truncated);
        let mut bad_sig = riff(&[vp8(7, 5)]);
        bad_sig[23] = 0;
        assert_corrupt(&bad_sig);
        let mut trailing = riff(&[vp8(7, 5)]);
        trailing.extend([0; 4]);
        trailing[4] += 4;
        assert_corrupt(&trailing);
        // Bytes after the RIFF chunk are ignored.
        let mut extra = riff(&[vp8(7, 5)]);
        extra.extend([1, 2, 3]);
        assert!(probe(&extra).is_ok());
        assert_unsupported(&riff(&[wchunk(b"ABCD", &[0; 10])]));
    }

    #[test]
    fn webp_animation() {
        let frames = [
            anmf(0, 0, &[vp8(7, 5)], 7, 5),
            anmf(2, 2, &[vp8l(3, 2, true)], 3, 2),
        ];
        let mut chunks = vec![vp8x(0x12, 7, 5), anim()];
        chunks.extend(frames.iter().cloned());
        assert_eq!(summary(&riff(&chunks)), (7, 5, "RGBA", 1, true, true));
        // The mode of an animation is the VP8X alpha flag.
        chunks[0] = vp8x(0x02, 7, 5);
        assert_eq!(summary(&riff(&chunks)), (7, 5, "RGB", 1, true, false));
        let single = riff(&[vp8x(0x02, 7, 5), anim(), frames[0].clone()]);
        assert!(!info(&single).animated);
        assert_corrupt(&riff(&[vp8x(0x02, 7, 5), frames[0].clone()]));
        assert_corrupt(&riff(&[
            vp8x(0x02, 7, 5),
            anim(),
            anmf(6, 0, &[vp8(7, 5)], 7, 5),
        ]));
        assert_corrupt(&riff(&[vp8x(0x02, 7, 5), anim(), vp8(7, 5)]));
        assert_corrupt(&riff(&[vp8x(0x02, 7, 5), anim()]));
        // A frame's image must lie inside its ANMF chunk.
        let empty_anmf = wchunk(b"ANMF", &[0, 0, 0, 0, 0, 0, 6, 0, 0, 4, 0, 0, 0, 0, 0, 0]);
        assert_corrupt(&riff(&[vp8x(0x02, 7, 5), anim(), empty_anmf, vp8(7, 5)]));
        // ALPH must precede the image in a frame.
        let late_alpha = anmf(0, 0, &[vp8(7, 5), wchunk(b"ALPH", &[0])], 7, 5);
        assert_corrupt(&riff(&[vp8x(0x12, 7, 5), anim(), late_alpha]));
    }

    #[test]
    fn webp_exif_needs_the_vp8x_flag() {
        let exif = wchunk(b"EXIF", &exif_tiff(false, 6));
        assert_eq!(
            info(&riff(&[vp8x(0x08, 7, 5), vp8(7, 5), exif.clone()])).orientation,
            6
        );
        assert_eq!(
            info(&riff(&[vp8x(0x00, 7, 5), vp8(7, 5), exif.clone()])).orientation,
            1
        );
        assert_eq!(info(&riff(&[vp8(7, 5), exif])).orientation, 1);
        let mut prefixed = b"Exif\0\0".to_vec();
        prefixed.extend(exif_tiff(true, 8));
        let exif = wchunk(b"EXIF", &prefixed);
        assert_eq!(
            info(&riff(&[vp8x(0x08, 7, 5), exif, vp8(7, 5)])).orientation,
            8
        );
    }

    // ---- BMP

    fn bmp(w: i32, h: i32, bits: u16, header: u32, compression: u32, extra: &[u8]) -> Vec<u8> {
        let mut info_hdr = header.to_le_bytes().to_vec();
        if header == 12 {
            info_hdr.extend((w as u16).to_le_bytes());
            info_hdr.extend((h as u16).to_le_bytes());
            info_hdr.extend(1u16.to_le_bytes());
            info_hdr.extend(bits.to_le_bytes());
        } else {
            info_hdr.extend(w.to_le_bytes());
            info_hdr.extend(h.to_le_bytes());
            info_hdr.extend(1u16.to_le_bytes());
            info_hdr.extend(bits.to_le_bytes());
            info_hdr.extend(compression.to_le_bytes());
            info_hdr.resize(header as usize, 0);
        }
        let mut f = b"BM".to_vec();
        f.extend([0; 12]);
        f.extend(info_hdr);
        f.extend(extra);
        f.extend([0; 64]);
        f
    }

    fn with_masks(mut f: Vec<u8>, masks: [u32; 4]) -> Vec<u8> {
        for (i, m) in masks.iter().enumerate() {
            f[14 + 40 + 4 * i..14 + 44 + 4 * i].copy_from_slice(&m.to_le_bytes());
        }
        f
    }

    fn palette(entries: &[[u8; 3]]) -> Vec<u8> {
        entries.iter().flat_map(|e| [e[2], e[1], e[0], 0]).collect()
    }

    #[test]
    fn bmp_true_colour() {
        assert_eq!(
            summary(&bmp(7, 5, 24, 40, 0, &[])),
            (7, 5, "RGB", 1, false, false)
        );
        assert_eq!(info(&bmp(7, 5, 16, 40, 0, &[])).mode, "RGB");
        // Pillow ignores the fourth byte of a plain 32-bit bitmap.
        assert_eq!(info(&bmp(7, 5, 32, 40, 0, &[])).mode, "RGB");
        let v4 = with_masks(
            bmp(7, 5, 32, 108, 3, &[]),
            [0xFF_0000, 0xFF00, 0xFF, 0xFF00_0000],
        );
        assert_eq!(summary(&v4), (7, 5, "RGBA", 1, false, true));
        let no_alpha = with_masks(bmp(7, 5, 32, 108, 3, &[]), [0xFF_0000, 0xFF00, 0xFF, 0]);
        assert_eq!(info(&no_alpha).mode, "RGB");
        let masks40: Vec<u8> = [0xF800u32, 0x7E0, 0x1F]
            .iter()
            .flat_map(|m| m.to_le_bytes())
            .collect();
        assert_eq!(info(&bmp(7, 5, 16, 40, 3, &masks40)).mode, "RGB");
        assert_unsupported(&with_masks(bmp(7, 5, 32, 108, 3, &[]), [1, 2, 3, 4]));
        assert_eq!(dims(&bmp(7, -5, 24, 40, 0, &[])), (7, 5, "RGB"));
        assert_eq!(dims(&bmp(7, 5, 24, 12, 0, &[])), (7, 5, "RGB"));
        assert_eq!(
            info(&bmp(7, 5, 8, 40, 1, &palette(&[[9, 0, 0]; 256]))).mode,
            "P"
        );
    }

    #[test]
    fn bmp_palettes_that_are_grey_become_1_or_l() {
        let grey: Vec<[u8; 3]> = (0..=255u8).map(|i| [i, i, i]).collect();
        assert_eq!(info(&bmp(7, 5, 8, 40, 0, &palette(&grey))).mode, "L");
        assert_eq!(
            info(&bmp(7, 5, 1, 40, 0, &palette(&[[0; 3], [255; 3]]))).mode,
            "1"
        );
        assert_eq!(
            info(&bmp(7, 5, 1, 40, 0, &palette(&[[0; 3], [0, 0, 255]]))).mode,
            "P"
        );
        assert_eq!(info(&bmp(7, 5, 4, 40, 0, &palette(&grey[..16]))).mode, "L");
        let mut colour = grey[..16].to_vec();
        colour[3] = [3, 3, 4];
        assert_eq!(info(&bmp(7, 5, 4, 40, 0, &palette(&colour))).mode, "P");
        // An OS/2 header has three-byte palette entries.
        let os2: Vec<u8> = [[0u8; 3], [255; 3]].concat();
        assert_eq!(info(&bmp(7, 5, 1, 12, 0, &os2)).mode, "1");
    }

    #[test]
    fn bmp_rejections() {
        assert_unsupported(&bmp(7, 5, 2, 40, 0, &[]));
        assert_unsupported(&bmp(7, 5, 24, 40, 4, &[]));
        assert_unsupported(&bmp(7, 5, 24, 20, 0, &[]));
        let mut many_colours = bmp(7, 5, 8, 40, 0, &[]);
        many_colours[14 + 32..14 + 36].copy_from_slice(&70_000u32.to_le_bytes());
        assert_unsupported(&many_colours);
        assert_corrupt(&bmp(0, 5, 24, 40, 0, &[]));
        assert_corrupt(&bmp(7, 5, 24, 40, 0, &[])[..40]);
        assert_corrupt(b"BM\0\0");
    }

    // ---- TIFF

    /// TIFF with the given IFDs in order; `(tag, type, values)` entries,
    /// values written as SHORT (3) or LONG (4). `last_next` overrides the
    /// final next-IFD pointer.
    fn tiff(be: bool, ifds: &[Vec<(u16, u16, Vec<u32>)>], last_next: Option<u32>) -> Vec<u8> {
        let u16b = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut f = if be {
            b"MM\0\x2a".to_vec()
        } else {
            b"II\x2a\0".to_vec()
        };
        f.extend(u32b(8));
        for (n, entries) in ifds.iter().enumerate() {
            let start = f.len() as u32;
            let extra_start = start + 2 + 12 * entries.len() as u32 + 4;
            let mut extra = Vec::new();
            f.extend(u16b(entries.len() as u16));
            for (tag, typ, vals) in entries {
                let mut payload = Vec::new();
                for &v in vals {
                    if *typ == 3 {
                        payload.extend(u16b(v as u16));
                    } else {
                        payload.extend(u32b(v));
                    }
                }
                f.extend(u16b(*tag));
                f.extend(u16b(*typ));
                f.extend(u32b(vals.len() as u32));
                if payload.len() <= 4 {
                    payload.resize(4, 0);
                    f.extend(payload);
                } else {
                    f.extend(u32b(extra_start + extra.len() as u32));
                    extra.extend(payload);
                }
            }
            let next = if n + 1 == ifds.len() {
                last_next.unwrap_or(0)
            } else {
                extra_start + extra.len() as u32
            };
            f.extend(u32b(next));
            f.extend(extra);
        }
        f
    }

    fn rgb_ifd(w: u32, h: u32) -> Vec<(u16, u16, Vec<u32>)> {
        vec![
            (256, 3, vec![w]),
            (257, 3, vec![h]),
            (258, 3, vec![8, 8, 8]),
            (262, 3, vec![2]),
            (273, 4, vec![8]),
            (277, 3, vec![3]),
        ]
    }

    fn with(
        mut ifd: Vec<(u16, u16, Vec<u32>)>,
        entry: (u16, u16, Vec<u32>),
    ) -> Vec<(u16, u16, Vec<u32>)> {
        ifd.retain(|e| e.0 != entry.0);
        ifd.push(entry);
        ifd.sort_by_key(|e| e.0);
        ifd
    }

    #[test]
    fn tiff_modes_follow_pillow() {
        for be in [false, true] {
            assert_eq!(
                summary(&tiff(be, &[rgb_ifd(7, 5)], None)),
                (7, 5, "RGB", 1, false, false)
            );
            let grey16 = with(
                with(with(rgb_ifd(7, 5), (258, 3, vec![16])), (262, 3, vec![1])),
                (277, 3, vec![1]),
            );
            assert_eq!(
                info(&tiff(be, &[grey16], None)).mode,
                if be { "I;16B" } else { "I;16" }
            );
        }
        let rgba = with(
            with(rgb_ifd(7, 5), (258, 3, vec![8, 8, 8, 8])),
            (277, 3, vec![4]),
        );
        assert_eq!(
            summary(&tiff(false, std::slice::from_ref(&rgba), None)),
            (7, 5, "RGBA", 1, false, true)
        );
        assert_eq!(
            info(&tiff(false, &[with(rgba.clone(), (338, 3, vec![0]))], None)).mode,
            "RGB"
        );
        assert_eq!(
            info(&tiff(false, &[with(rgba.clone(), (338, 3, vec![1]))], None)).mode,
            "RGBA"
        );
        let cmyk = with(rgba.clone(), (262, 3, vec![5]));
        assert_eq!(info(&tiff(false, &[cmyk], None)).mode, "CMYK");
        let bilevel = vec![(256, 3, vec![7]), (257, 3, vec![5]), (273, 4, vec![8])];
        assert_eq!(info(&tiff(false, &[bilevel], None)).mode, "1");
        // One BitsPerSample value stands for every sample.
        assert_eq!(
            info(&tiff(
                false,
                &[with(rgb_ifd(7, 5), (258, 3, vec![8]))],
                None
            ))
            .mode,
            "RGB"
        );
        let palette = with(
            with(with(rgb_ifd(7, 5), (262, 3, vec![3])), (258, 3, vec![8])),
            (277, 3, vec![1]),
        );
        assert_corrupt(&tiff(false, std::slice::from_ref(&palette), None));
        let palette = with(palette, (320, 3, vec![0; 768]));
        assert_eq!(info(&tiff(false, &[palette], None)).mode, "P");
        // Compressed YCbCr is decoded to RGB; raw YCbCr stays YCbCr.
        let ycbcr = with(rgb_ifd(7, 5), (262, 3, vec![6]));
        assert_eq!(
            info(&tiff(false, std::slice::from_ref(&ycbcr), None)).mode,
            "YCbCr"
        );
        assert_eq!(
            info(&tiff(false, &[with(ycbcr, (259, 3, vec![5]))], None)).mode,
            "RGB"
        );
        assert_eq!(
            info(&tiff(
                false,
                &[with(rgb_ifd(7, 5), (259, 3, vec![6]))],
                None
            ))
            .mode,
            "RGB"
        );
        assert_unsupported(&tiff(
            false,
            &[with(rgb_ifd(7, 5), (259, 3, vec![9]))],
            None,
        ));
        assert_unsupported(&tiff(
            false,
            &[with(rgb_ifd(7, 5), (258, 3, vec![8, 8, 4]))],
            None,
        ));
        assert_corrupt(&tiff(
            false,
            &[with(rgb_ifd(7, 5), (258, 3, vec![8, 8]))],
            None,
        ));
        assert_corrupt(&tiff(false, &[rgb_ifd(7, 5)[1..].to_vec()], None));
        assert_corrupt(&tiff(false, &[rgb_ifd(7, 0)], None));
        let no_strips: Vec<_> = rgb_ifd(7, 5).into_iter().filter(|e| e.0 != 273).collect();
        assert_corrupt(&tiff(false, &[no_strips], None));
    }

    #[test]
    fn tiff_sizes_are_the_stored_ones_whatever_the_orientation() {
        // SPEC §3: stored dimensions; Pillow >= 11 would transpose orientations 5-8.
        for (o, size) in [
            (1, (7, 5)),
            (3, (7, 5)),
            (5, (7, 5)),
            (6, (7, 5)),
            (8, (7, 5)),
        ] {
            let i = info(&tiff(true, &[with(rgb_ifd(7, 5), (274, 3, vec![o]))], None));
            assert_eq!(((i.width, i.height), i.orientation), (size, o as u8));
        }
    }

    #[test]
    fn tiff_pages_and_directory_loops() {
        let two = tiff(false, &[rgb_ifd(7, 5), rgb_ifd(3, 3)], None);
        assert_eq!(summary(&two), (7, 5, "RGB", 1, true, false));
        assert!(!info(&tiff(false, &[rgb_ifd(7, 5)], Some(8))).animated);
        // A next pointer we do not follow still makes Pillow say animated.
        assert!(info(&tiff(false, &[rgb_ifd(7, 5)], Some(0xFFFF_FF00))).animated);
    }

    #[test]
    fn tiff_directories_are_read_like_pillow() {
        // A value stored past the end stops the directory there: the
        // photometric and samples tags after it are lost, so with their
        // defaults (0 and 1) this reads as min-is-white "L", not RGB.
        // (Pillow agrees: fixtures tiff_value_in_order / _past_end.)
        let ifd = vec![
            (256, 3, vec![7]),
            (257, 3, vec![5]),
            (258, 3, vec![8]),
            (259, 3, vec![5]),
            (261, 4, vec![0, 0]),
            (262, 3, vec![2]),
            (273, 4, vec![8]),
            (277, 3, vec![3]),
        ];
        let mut f = tiff(false, &[ifd], None);
        assert_eq!(info(&f).mode, "RGB");
        let at = 10 + 4 * 12 + 8;
        f[at..at + 4].copy_from_slice(&0xFFFF_0000u32.to_le_bytes());
        assert_eq!(info(&f).mode, "L");
        // The first of two identical tags wins.
        let mut dup = rgb_ifd(9, 5);
        dup.insert(1, (256, 3, vec![4]));
        assert_eq!(info(&tiff(false, &[dup], None)).width, 9);
        // A huge entry count ends at the end of the file.
        let mut f = tiff(false, &[rgb_ifd(7, 5)], None);
        f[8..10].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(probe(&f).is_ok());
        assert_corrupt(&tiff(false, &[rgb_ifd(7, 5)], None)[..12]);
        assert_corrupt(b"II\x2a\0\0\0\0\0");
        assert_corrupt(b"II\x2a\0\x10\0\0\0");
    }

    #[test]
    fn bigtiff_is_read_only_in_little_endian_like_pillow() {
        let mut big = b"II\x2b\0\x08\0\0\0\x10\0\0\0\0\0\0\0".to_vec();
        let entries: [(u16, u16, u64, [u8; 8]); 6] = [
            (256, 3, 1, [7, 0, 0, 0, 0, 0, 0, 0]),
            (257, 3, 1, [5, 0, 0, 0, 0, 0, 0, 0]),
            (258, 3, 3, [8, 0, 8, 0, 8, 0, 0, 0]),
            (262, 3, 1, [2, 0, 0, 0, 0, 0, 0, 0]),
            (273, 16, 1, [16, 0, 0, 0, 0, 0, 0, 0]),
            (277, 3, 1, [3, 0, 0, 0, 0, 0, 0, 0]),
        ];
        big.extend(6u64.to_le_bytes());
        for (tag, typ, count, value) in entries {
            big.extend(tag.to_le_bytes());
            big.extend(typ.to_le_bytes());
            big.extend(count.to_le_bytes());
            big.extend(value);
        }
        big.extend([0; 8]);
        assert_eq!(summary(&big), (7, 5, "RGB", 1, false, false));
        // Pillow takes "MM\0\x2b" for classic TIFF (it keys on byte 2).
        let mut be = big.clone();
        be[..4].copy_from_slice(b"MM\0\x2b");
        assert!(probe(&be).is_err());
    }

    // ---- everything

    #[test]
    fn unknown_input_is_unsupported() {
        for data in [
            &b""[..],
            b"hello world, not an image",
            b"\x89PN",
            b"RIFF\0\0\0\0WAVEfmt ",
            b"BA\0\0",
        ] {
            assert_unsupported(data);
        }
    }

    #[test]
    fn errors_have_messages_for_uploaders() {
        assert_eq!(truncated().to_string(), "The image is truncated or corrupt");
        assert!(ImageInfoError::Unsupported
            .to_string()
            .contains("not a supported image"));
        let e: Box<dyn std::error::Error> = Box::new(corrupt("x"));
        assert_eq!(e.to_string(), "The image is truncated or corrupt (x)");
    }

    #[test]
    fn reads_from_the_start_whatever_the_reader_position() {
        let mut c = Cursor::new(png(&[ihdr(3, 2, 8, 2)]));
        c.set_position(20);
        assert_eq!(read_image_info(&mut c).unwrap().width, 3);
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }

    impl Seek for Failing {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Ok(1000)
        }
    }

    #[test]
    fn read_errors_are_reported() {
        match read_image_info(&mut Failing) {
            Err(ImageInfoError::Corrupt(m)) => assert!(m.contains("disk on fire"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn random_headers_never_panic() {
        let seeds: Vec<Vec<u8>> = vec![
            png(&[
                ihdr(7, 5, 8, 6),
                actl(2),
                fctl(0, 7, 5, 0, 0),
                chunk(b"eXIf", &exif_tiff(true, 6)),
            ]),
            jpeg(&[app1_exif(false, 6), sof(0xC2, 8, 7, 5, 3)]),
            gif(&[
                gif_header(7, 5, Some(&COLOURS)),
                gce(Some(0)),
                gif_image(0, 0, 7, 5, None),
                gif_image(0, 0, 2, 2, None),
            ]),
            riff(&[
                vp8x(0x1A, 7, 5),
                anim(),
                anmf(0, 0, &[wchunk(b"ALPH", &[0]), vp8(7, 5)], 7, 5),
            ]),
            with_masks(
                bmp(7, 5, 32, 108, 3, &[]),
                [0xFF, 0xFF00, 0xFF_0000, 0xFF00_0000],
            ),
            tiff(
                true,
                &[with(rgb_ifd(7, 5), (274, 3, vec![6])), rgb_ifd(2, 2)],
                None,
            ),
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in &seeds {
            assert!(probe(seed).is_ok(), "seed must be valid: {:?}", probe(seed));
            for _ in 0..3000 {
                let mut m = seed.clone();
                match next() % 3 {
                    0 => m.truncate((next() % m.len() as u64) as usize),
                    1 => {
                        for _ in 0..1 + next() % 3 {
                            let i = (next() % m.len() as u64) as usize;
                            m[i] = next() as u8;
                        }
                    }
                    _ => {
                        let i = (next() % m.len() as u64) as usize;
                        m[i] = [0, 0xFF, 0x7F, 0x80][(next() % 4) as usize];
                    }
                }
                if let Ok(i) = probe(&m) {
                    assert!(i.width > 0 && i.height > 0 && (1..=8).contains(&i.orientation));
                }
            }
        }
    }
}
