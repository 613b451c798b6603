//! Duration and video dimensions of audio/video files, read from container
//! headers with symphonia's demuxers. Nothing is decoded, and every byte goes
//! through a fixed read budget so huge or hostile files stay cheap.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known::{FORMAT_ID_ADTS, FORMAT_ID_MP3, FORMAT_ID_OGG};
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadBytes};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{Duration, TimeBase};

use crate::domain::AvFacts;

/// Most bytes one probe may read; demuxers only need headers (and for MP4 the
/// `moov` box), so this is generous while bounding the cost of any input.
const READ_BUDGET: u64 = 16 * 1024 * 1024;
/// ADTS bytes our frame-header scan covers before extrapolating; well inside
/// the budget left after symphonia's own probing.
const ADTS_SCAN_LIMIT: u64 = READ_BUDGET / 2;
/// Seeks read nothing, so they get their own cap against seek/retry loops.
const SEEK_BUDGET: u32 = 4096;

/// Reads duration and first-video-track size from `path`'s container headers.
/// `mime` is the already-detected type, used as a hint for the prober. Any
/// failure, including a panic inside a demuxer, yields `AvFacts::default()`.
pub fn probe(path: &Path, mime: &str) -> AvFacts {
    panic::catch_unwind(AssertUnwindSafe(|| probe_file(path, mime)))
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn probe_file(path: &Path, mime: &str) -> Option<AvFacts> {
    // "audio/ogg; codecs=opus" -> "audio/ogg".
    let mime = mime.split(';').next()?.trim().to_ascii_lowercase();
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return None;
    }
    let source = Budgeted {
        inner: file,
        len,
        bytes_left: READ_BUDGET,
        seeks_left: SEEK_BUDGET,
    };
    let mut mss = MediaSourceStream::new(Box::new(source), Default::default());
    // Seek past a leading ID3v2 tag: symphonia would read it whole (cover art
    // can exceed the budget) or, without its id3v2 reader, give up 1 MiB in.
    skip_id3v2(&mut mss)?;

    let mut hint = Hint::new();
    hint.mime_type(&mime);
    if let Some(ext) = extension_for(&mime) {
        hint.with_extension(ext);
    }
    let reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .ok()?;

    let symphonia_duration = duration_secs(reader.as_ref());
    let (width, height) = video_size(reader.as_ref());
    let format = reader.format_info().format;
    // Our own header scans beat symphonia's estimates for these two formats;
    // they reuse the stream, and so its read budget.
    let mut mss = reader.into_inner();
    let own = match format {
        FORMAT_ID_MP3 => mp3_cbr_duration(&mut mss, len),
        FORMAT_ID_ADTS => adts_duration(&mut mss, len),
        _ => None,
    };
    let duration = own.or(symphonia_duration);
    Some(AvFacts {
        duration,
        width,
        height,
    })
}

/// Container duration, adjusted where symphonia's convention differs from
/// ffprobe's `format=duration` (our reference) or from the real play time.
fn duration_secs(reader: &dyn FormatReader) -> Option<f64> {
    let info = reader.media_info();
    let (tb, mut dur) = (info.time_base?, info.duration?);
    let track = reader.first_track(TrackType::Audio);
    match (reader.format_info().format, track) {
        // symphonia drops LAME delay/padding; ffprobe counts every Xing frame,
        // and at low sample rates the gap exceeds 0.1 s.
        (FORMAT_ID_MP3, Some(t)) => {
            let gapless = u64::from(t.delay.unwrap_or(0)) + u64::from(t.padding.unwrap_or(0));
            dur = dur.saturating_add(Duration::new(gapless));
        }
        // Ogg Opus granules include the pre-skip, which is never played.
        (FORMAT_ID_OGG, Some(t)) if is_opus(t) && info.duration == t.duration => {
            dur = dur.saturating_sub(Duration::new(u64::from(t.delay.unwrap_or(0))));
        }
        _ => {}
    }
    seconds(tb, dur)
}

fn is_opus(track: &Track) -> bool {
    matches!(&track.codec_params, Some(CodecParameters::Audio(p)) if p.codec == CODEC_ID_OPUS)
}

/// Zero counts as unknown: fragmented MP4 writes 0 to `mvhd` and keeps the
/// real length in the fragments, which we don't walk.
fn seconds(tb: TimeBase, dur: Duration) -> Option<f64> {
    let secs = tb.calc_duration(dur)?.as_secs_f64();
    (secs.is_finite() && secs > 0.0).then_some(secs)
}

fn video_size(reader: &dyn FormatReader) -> (Option<u32>, Option<u32>) {
    match reader
        .first_track(TrackType::Video)
        .and_then(|t| t.codec_params.as_ref())
    {
        Some(CodecParameters::Video(v)) => (v.width.map(u32::from), v.height.map(u32::from)),
        _ => (None, None),
    }
}

/// Extension hint for the prober, so the likely demuxer is tried first.
fn extension_for(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/mp4" | "audio/x-m4a" => "m4a",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
        "audio/ogg" | "application/ogg" => "ogg",
        "audio/opus" => "opus",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/aac" | "audio/aacp" => "aac",
        "video/webm" | "audio/webm" => "webm",
        "video/x-matroska" => "mkv",
        "audio/x-matroska" => "mka",
        _ => return None,
    })
}

/// A file that errors once `bytes_left` bytes were read or `seeks_left`
/// seeks made, so no demuxer can read the whole file or spin forever.
struct Budgeted {
    inner: File,
    len: u64,
    bytes_left: u64,
    seeks_left: u32,
}

impl Read for Budgeted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.bytes_left == 0 {
            return Err(io::Error::other("av_probe read budget exhausted"));
        }
        let max = buf
            .len()
            .min(usize::try_from(self.bytes_left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.bytes_left -= n as u64;
        Ok(n)
    }
}

impl Seek for Budgeted {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.seeks_left = self
            .seeks_left
            .checked_sub(1)
            .ok_or_else(|| io::Error::other("av_probe seek budget exhausted"))?;
        self.inner.seek(pos)
    }
}

impl MediaSource for Budgeted {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

/// Offset just past a leading ID3v2 tag (0 if none), leaving `file` there.
fn skip_id3v2(mss: &mut MediaSourceStream<'_>) -> Option<u64> {
    mss.seek(SeekFrom::Start(0)).ok()?;
    let mut id3 = [0u8; 10];
    let start = match mss.read_exact(&mut id3) {
        Ok(()) if &id3[..3] == b"ID3" => {
            // Syncsafe size (7 bits per byte), plus the header and any footer.
            let size = id3[6..10]
                .iter()
                .fold(0u64, |acc, b| (acc << 7) | u64::from(b & 0x7f));
            10 + size + if id3[5] & 0x10 != 0 { 10 } else { 0 }
        }
        _ => 0,
    };
    mss.seek(SeekFrom::Start(start)).ok()
}

/// CBR MP3 duration from the first frame's bitrate and the audio byte count,
/// as ffprobe computes it. symphonia averages the first 16 frame sizes, which
/// drifts past 0.1 s on long files and gives up on files under 17 frames.
/// `None` when the first frame is a Xing/Info/VBRI tag: then symphonia's
/// frame count is exact. Reads at most 64 KiB past the ID3v2 tag.
fn mp3_cbr_duration(mss: &mut MediaSourceStream<'_>, len: u64) -> Option<f64> {
    let start = skip_id3v2(mss)?;
    let mut buf = Vec::new();
    mss.take(64 * 1024).read_to_end(&mut buf).ok()?;

    // First header whose successor frame also starts with a valid header (or
    // runs to the end), so stray 0xFF bytes in padding are not mistaken.
    let (offset, frame) = (0..buf.len()).find_map(|i| {
        let frame = MpegHeader::parse(buf.get(i..i + 4)?)?;
        let next = i + frame.len;
        let chained = next >= buf.len()
            || buf
                .get(next..next + 4)
                .and_then(MpegHeader::parse)
                .is_some();
        chained.then_some((i, frame))
    })?;
    let first = &buf[offset..(offset + frame.len).min(buf.len())];
    if first
        .windows(4)
        .any(|w| w == b"Xing" || w == b"Info" || w == b"VBRI")
    {
        return None;
    }

    let mut tail = [0u8; 3];
    let has_id3v1 = len >= 128
        && mss.seek(SeekFrom::Start(len - 128)).is_ok()
        && mss.read_exact(&mut tail).is_ok()
        && &tail == b"TAG";
    let audio = len.checked_sub(start + offset as u64 + if has_id3v1 { 128 } else { 0 })?;
    Some(audio as f64 * 8.0 / f64::from(frame.bitrate))
}

/// ADTS duration by hopping from frame header to frame header (7 bytes each,
/// payloads skipped). ADTS has no length field; symphonia and ffprobe both
/// estimate from a bitrate sample and miss by seconds on variable bitrate.
/// Past `ADTS_SCAN_LIMIT` the count is extrapolated by file size. `None` if
/// sync is lost well before the end (corrupt data: no reliable count).
fn adts_duration(mss: &mut MediaSourceStream<'_>, len: u64) -> Option<f64> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let start = skip_id3v2(mss)?;
    let (mut pos, mut samples, mut rate) = (start, 0u64, None);
    let mut h = [0u8; 7];
    while pos - start < ADTS_SCAN_LIMIT && mss.read_exact(&mut h).is_ok() {
        let frame_len = (u64::from(h[3] & 3) << 11) | (u64::from(h[4]) << 3) | u64::from(h[5] >> 5);
        let sr = RATES.get(usize::from((h[2] >> 2) & 0xf));
        if h[0] != 0xff || h[1] & 0xf6 != 0xf0 || frame_len < 7 || sr.is_none() {
            break;
        }
        rate = rate.or(sr.copied());
        // Each raw data block holds 1024 samples.
        samples += 1024 * u64::from((h[6] & 3) + 1);
        pos += frame_len;
        if mss.ignore_bytes(frame_len - 7).is_err() {
            break;
        }
    }
    let scanned = pos - start;
    let rest = len.saturating_sub(pos);
    // Up to an ID3v1 tag or similar trailer may follow the last frame.
    if scanned == 0 || (scanned < ADTS_SCAN_LIMIT && rest > 1024) {
        return None;
    }
    let scale = if rest > 0 && scanned >= ADTS_SCAN_LIMIT {
        (len - start) as f64 / scanned as f64
    } else {
        1.0
    };
    Some(samples as f64 * scale / f64::from(rate?))
}

struct MpegHeader {
    /// Bits per second.
    bitrate: u32,
    /// Frame length in bytes, header included.
    len: usize,
}

impl MpegHeader {
    fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 4 || b[0] != 0xff || b[1] & 0xe0 != 0xe0 {
            return None;
        }
        // Version: 0 = 2.5, 2 = 2, 3 = 1; layer: 1 = III, 2 = II, 3 = I.
        let (version, layer) = ((b[1] >> 3) & 3, (b[1] >> 1) & 3);
        let (br_idx, sr_idx, pad) = (
            usize::from(b[2] >> 4),
            usize::from((b[2] >> 2) & 3),
            (b[2] >> 1) & 1,
        );
        if version == 1 || layer == 0 || br_idx == 0 || br_idx == 15 || sr_idx == 3 {
            return None;
        }
        const V1: [[u16; 14]; 3] = [
            [
                32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
            ],
            [
                32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
            ],
            [
                32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
            ],
        ];
        const V2: [[u16; 14]; 2] = [
            [
                32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
            ],
            [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
        ];
        let layer_i = layer == 3;
        let kbps = match version {
            3 => V1[usize::from(3 - layer)][br_idx - 1],
            _ => V2[usize::from(!layer_i)][br_idx - 1],
        };
        // MPEG-2 halves and MPEG-2.5 quarters the MPEG-1 sample rates.
        let rate = [44100u32, 48000, 32000][sr_idx] >> (3 - version.max(1));
        let bitrate = u32::from(kbps) * 1000;
        let pad = u32::from(pad);
        let len = if layer_i {
            (12 * bitrate / rate + pad) * 4
        } else if layer == 1 && version != 3 {
            72 * bitrate / rate + pad
        } else {
            144 * bitrate / rate + pad
        };
        Some(Self {
            bitrate,
            len: len as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stops_reads_and_seeks() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(1 << 20).unwrap();
        let mut src = Budgeted {
            inner: file,
            len: 1 << 20,
            bytes_left: 1000,
            seeks_left: 2,
        };
        let mut sink = Vec::new();
        assert!(io::copy(&mut src, &mut sink).is_err());
        assert_eq!(sink.len(), 1000);
        assert!(src.seek(SeekFrom::Start(0)).is_ok());
        assert!(src.seek(SeekFrom::End(0)).is_ok());
        assert!(src.seek(SeekFrom::Start(0)).is_err());
    }

    #[test]
    fn mpeg_header_fields() {
        // MPEG-1 Layer III, 128 kb/s, 44.1 kHz, no padding: 417-byte frames.
        let h = MpegHeader::parse(&[0xff, 0xfb, 0x90, 0x00]).unwrap();
        assert_eq!((h.bitrate, h.len), (128_000, 417));
        // MPEG-2 Layer III, 32 kb/s, 22.05 kHz: 72 * 32000 / 22050 = 104 bytes.
        let h = MpegHeader::parse(&[0xff, 0xf3, 0x40, 0x00]).unwrap();
        assert_eq!((h.bitrate, h.len), (32_000, 104));
        // Bad bitrate index and bad sync are rejected.
        assert!(MpegHeader::parse(&[0xff, 0xfb, 0xf0, 0x00]).is_none());
        assert!(MpegHeader::parse(&[0xfe, 0xfb, 0x90, 0x00]).is_none());
    }
}
