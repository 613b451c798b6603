//! Thumbnails for stored images: four boxes (64, 128, 512, 1080), EXIF orientation applied,
//! JPEG (q85, baseline, 4:2:0) for opaque images and PNG (RGBA/LA) for images with transparency.
//!
//! JPEG decoding, where nearly all the time goes, uses the cores there are:
//! - a large baseline JPEG (grey or YCbCr) is decoded by `reduced_jpeg`,
//!   straight to 1/2, 3/8, 1/4 or 1/8 scale, its scan split across threads;
//! - a large progressive YCbCr JPEG is split into its luma scans and its chroma scans
//!   (`progressive_split`), decoded by two libjpeg decoders at once;
//! - everything else JPEG, and any file those two refuse, is decoded whole by libjpeg-turbo's
//!   decoder (the `mozjpeg` crate, built from C source by the `cc` crate, no SIMD/nasm) with
//!   its DCT-domain scaling (any N/8), which also gives the verdict on broken files.
//!
//! Other formats go through `image` with decoder limits. The 1080 thumbnail is resized from
//! the decoded image and each smaller one from the previous result; the 1080 one is encoded
//! on a second thread meanwhile. The output does not depend on the number of threads.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use fast_image_resize as fr;

use super::{progressive_split, reduced_jpeg};
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageEncoder, ImageFormat, ImageReader};

/// Thumbnail boxes, in the order the thumbnails are returned.
pub const BOXES: [u32; 4] = [64, 128, 512, 1080];
const JPEG_QUALITY: u8 = 85;

/// What the caller learnt from the header when the file was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFacts {
    /// Declared dimensions; the decoded image may not be larger than these (either way round).
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1..=8; anything else is treated as 1.
    pub orientation: u8,
    /// Alpha channel or palette transparency: thumbnails are PNG instead of JPEG.
    pub has_alpha: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbFormat {
    Jpeg,
    Png,
}

impl ThumbFormat {
    pub fn mime_type(self) -> &'static str {
        match self {
            ThumbFormat::Jpeg => "image/jpeg",
            ThumbFormat::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ThumbFormat::Jpeg => "jpg",
            ThumbFormat::Png => "png",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub box_size: u32,
    pub width: u32,
    pub height: u32,
    pub format: ThumbFormat,
    pub bytes: Vec<u8>,
}

/// Bounds applied to every decode, whatever the header claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest width x height accepted.
    pub max_pixels: u64,
    /// Largest allocation a decoder may make (decoded pixels, JPEG coefficient buffers),
    /// and the largest file read into memory.
    pub max_alloc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 100_000_000,
            max_alloc: 1 << 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThumbnailError {
    /// Unreadable, truncated, corrupt or unsupported image data (a client error).
    Decode(String),
    /// The image exceeds the limits or its declared size.
    TooLarge(String),
    /// Encoding the thumbnail failed (an internal error; not expected to happen).
    Encode(String),
}

impl fmt::Display for ThumbnailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThumbnailError::Decode(m) => write!(f, "cannot decode image: {m}"),
            ThumbnailError::TooLarge(m) => write!(f, "image too large: {m}"),
            ThumbnailError::Encode(m) => write!(f, "cannot encode thumbnail: {m}"),
        }
    }
}

impl std::error::Error for ThumbnailError {}

fn decode_err(e: impl fmt::Display) -> ThumbnailError {
    ThumbnailError::Decode(e.to_string())
}

fn encode_err(e: impl fmt::Display) -> ThumbnailError {
    ThumbnailError::Encode(e.to_string())
}

/// Decode (shrink-on-load for JPEG), orient, and make the four thumbnails in `BOXES` order.
pub fn make_thumbnails(
    path: &Path,
    facts: &SourceFacts,
    limits: &Limits,
) -> Result<Vec<Thumbnail>, ThumbnailError> {
    let file = File::open(path).map_err(decode_err)?;
    // Streamed rather than read whole: a 16 MB JPEG is not worth a 16 MB copy.
    make_thumbnails_from_reader(BufReader::with_capacity(1 << 16, file), facts, limits)
}

/// As [`make_thumbnails`], for an image already in memory.
pub fn make_thumbnails_from_bytes(
    data: &[u8],
    facts: &SourceFacts,
    limits: &Limits,
) -> Result<Vec<Thumbnail>, ThumbnailError> {
    make_thumbnails_from_reader(Cursor::new(data), facts, limits)
}

fn make_thumbnails_from_reader<R: BufRead + Seek>(
    mut reader: R,
    facts: &SourceFacts,
    limits: &Limits,
) -> Result<Vec<Thumbnail>, ThumbnailError> {
    let bounds = Bounds::new(facts, limits);
    let format = image::guess_format(reader.fill_buf().map_err(decode_err)?)
        .map_err(|_| ThumbnailError::Decode("unrecognised image format".into()))?;
    let decode = tracing::info_span!("image.decode", image.format = ?format).entered();
    let decoded = match format {
        ImageFormat::Jpeg => match decode_jpeg_in_parallel(&mut reader, &bounds, facts) {
            Some(decoded) => decoded,
            None => {
                reader.rewind().map_err(decode_err)?;
                decode_jpeg(reader, &bounds, facts.has_alpha, JpegPart::Whole)?
            }
        },
        ImageFormat::Png
        | ImageFormat::Gif
        | ImageFormat::WebP
        | ImageFormat::Bmp
        | ImageFormat::Tiff => decode_other(reader, format, &bounds)?,
        other => {
            return Err(ThumbnailError::Decode(format!(
                "unsupported image format {other:?}"
            )))
        }
    };
    drop(decode);
    thumbnails_from(decoded, facts)
}

/// Pillow's `Image.thumbnail` size rule: fit inside the box, keep the aspect ratio,
/// never upscale, never 0.
pub fn fit_in_box(width: u32, height: u32, box_size: u32) -> (u32, u32) {
    if width <= box_size && height <= box_size {
        return (width, height);
    }
    let scale =
        (f64::from(box_size) / f64::from(width)).min(f64::from(box_size) / f64::from(height));
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, box_size);
    (side(width), side(height))
}

/// The limits in force for one image: `Limits`, and no more than the declared dimensions.
struct Bounds {
    max_side: u32,
    max_pixels: u64,
    max_alloc: u64,
}

impl Bounds {
    fn new(facts: &SourceFacts, limits: &Limits) -> Self {
        let declared = u64::from(facts.width) * u64::from(facts.height);
        Bounds {
            max_side: facts.width.max(facts.height),
            max_pixels: limits.max_pixels.min(declared),
            max_alloc: limits.max_alloc,
        }
    }

    fn check(&self, width: u32, height: u32) -> Result<(), ThumbnailError> {
        let pixels = u64::from(width) * u64::from(height);
        if width == 0 || height == 0 {
            return Err(ThumbnailError::Decode(format!(
                "image has no pixels ({width}x{height})"
            )));
        }
        if width > self.max_side || height > self.max_side || pixels > self.max_pixels {
            return Err(ThumbnailError::TooLarge(format!(
                "{width}x{height} exceeds the declared size or the limit of {} pixels",
                self.max_pixels
            )));
        }
        Ok(())
    }

    fn check_alloc(&self, bytes: u64, what: &str) -> Result<(), ThumbnailError> {
        if bytes > self.max_alloc {
            return Err(ThumbnailError::TooLarge(format!(
                "{what} needs {bytes} bytes, limit {}",
                self.max_alloc
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    L8,
    La8,
    Rgb8,
    Rgba8,
    /// JPEG's YCbCr, only ever encoded straight back to JPEG.
    Ycc8,
}

impl Layout {
    fn channels(self) -> usize {
        match self {
            Layout::L8 => 1,
            Layout::La8 => 2,
            Layout::Rgb8 | Layout::Ycc8 => 3,
            Layout::Rgba8 => 4,
        }
    }

    fn pixel_type(self) -> fr::PixelType {
        match self {
            Layout::L8 => fr::PixelType::U8,
            Layout::La8 => fr::PixelType::U8x2,
            Layout::Rgb8 | Layout::Ycc8 => fr::PixelType::U8x3,
            Layout::Rgba8 => fr::PixelType::U8x4,
        }
    }
}

/// 8-bit pixels, rows packed.
struct Raster {
    width: u32,
    height: u32,
    layout: Layout,
    data: Vec<u8>,
}

/// A decoded image and the size of the full image (a JPEG may be decoded at a reduced scale).
struct Decoded {
    pixels: Pixels,
    full_width: u32,
    full_height: u32,
}

enum Pixels {
    Raster(Raster),
    /// Grey, or Y, Cb and Cr, each at its own resolution (see `reduced_jpeg`).
    Planes(Vec<reduced_jpeg::Plane>),
}

/// Reads a JPEG from memory and records whether libjpeg asked for bytes past the end:
/// libjpeg (and the mozjpeg crate) pad a truncated file with a fake EOI and carry on.
struct EofFlagReader<'a, R> {
    inner: R,
    hit_eof: &'a Cell<bool>,
}

impl<R: BufRead> Read for EofFlagReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof.set(true);
        }
        Ok(n)
    }
}

impl<R: BufRead> BufRead for EofFlagReader<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let buf = self.inner.fill_buf()?;
        if buf.is_empty() {
            self.hit_eof.set(true);
        }
        Ok(buf)
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}

/// Smallest N (of N/8) whose decoded size still covers the 1080 thumbnail.
fn jpeg_scale_numerator(width: u32, height: u32) -> u8 {
    let (tw, th) = fit_in_box(width, height, BOXES[3]);
    let scaled = |v: u32, n: u32| (u64::from(v) * u64::from(n)).div_ceil(8);
    (1..=8u8)
        .find(|&n| {
            scaled(width, n.into()) >= u64::from(tw) && scaled(height, n.into()) >= u64::from(th)
        })
        .unwrap_or(8)
}

/// The fast paths for large JPEGs, both using more than one core: a baseline file goes to
/// `reduced_jpeg`, a progressive one is decoded in two halves (`progressive_split`). `None`
/// for everything else, and for any error: libjpeg then decodes the file whole and has the
/// last word on whether it is broken.
fn decode_jpeg_in_parallel<R: BufRead + Seek>(
    reader: &mut R,
    bounds: &Bounds,
    facts: &SourceFacts,
) -> Option<Decoded> {
    // Neither path takes a file under this: not worth reading it into memory to find out.
    const MIN_BYTES: u64 = 256 * 1024;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if facts.has_alpha || threads < 2 {
        return None;
    }
    let len = reader.seek(io::SeekFrom::End(0)).ok()?;
    reader.rewind().ok()?;
    if len < MIN_BYTES {
        return None;
    }
    // Sized once: growing a vector to 18 MB by doubling costs more than a tenth of decoding.
    let capacity = len.min(bounds.max_alloc) as usize + reduced_jpeg::SPARE_CAPACITY;
    let mut data = Vec::with_capacity(capacity);
    reader
        .take(bounds.max_alloc.saturating_add(1))
        .read_to_end(&mut data)
        .ok()?;
    match reduced_jpeg::Header::parse(&data) {
        Ok(header) => decode_reduced_jpeg(header, data, bounds, threads),
        Err(_) => decode_progressive_halves(&data, bounds),
    }
}

/// A baseline JPEG, grey or YCbCr, reduced by 1/2, 3/8, 1/4 or 1/8 to cover the 1080 box, when
/// its scan is large enough to split across threads.
fn decode_reduced_jpeg(
    header: reduced_jpeg::Header,
    data: Vec<u8>,
    bounds: &Bounds,
    threads: usize,
) -> Option<Decoded> {
    let (w, h) = (header.width, header.height);
    bounds.check(w, h).ok()?;
    let scale = match jpeg_scale_numerator(w, h) {
        scale @ 1..=4 => usize::from(scale),
        _ => return None, // little to gain over libjpeg's own N/8 scaling
    };
    if header.segments(data.len(), threads) < 2 {
        return None;
    }
    let memory = header.memory_needed(data.len(), scale, threads).ok()?;
    bounds.check_alloc(memory, "reduced JPEG").ok()?;
    let planes = header.decode(data, scale, threads).ok()?;
    Some(Decoded {
        pixels: Pixels::Planes(planes),
        full_width: w,
        full_height: h,
    })
}

/// A progressive YCbCr JPEG as two files, luma scans and chroma scans, decoded by libjpeg
/// on two threads; Y comes from the first, Cb and Cr from the second.
fn decode_progressive_halves(data: &[u8], bounds: &Bounds) -> Option<Decoded> {
    let [luma, chroma] = progressive_split::split_luma_chroma(data)?;
    // Each decoder holds every component's coefficients: the memory limit is shared.
    let half = Bounds {
        max_alloc: bounds.max_alloc / 2,
        ..*bounds
    };
    let decode = |file: &[u8], part, layout| {
        match decode_jpeg(Cursor::new(file), &half, false, part) {
            Ok(Decoded {
                pixels: Pixels::Raster(raster),
                full_width,
                full_height,
            }) if raster.layout == layout => Some((raster, full_width, full_height)),
            _ => None, // an error, or not YCbCr after all (Adobe RGB): decoded whole instead
        }
    };
    let (luma, chroma) = std::thread::scope(|scope| {
        let chroma = scope.spawn(|| decode(&chroma, JpegPart::Chroma, Layout::Ycc8));
        let luma = decode(&luma, JpegPart::Luma, Layout::L8);
        (luma, chroma.join().ok().flatten())
    });
    let ((luma, full_width, full_height), (mut raster, ..)) = (luma?, chroma?);
    if raster.data.len() != luma.data.len() * 3 {
        return None;
    }
    for (ycc, &y) in raster.data.chunks_exact_mut(3).zip(&luma.data) {
        ycc[0] = y;
    }
    Some(Decoded {
        pixels: Pixels::Raster(raster),
        full_width,
        full_height,
    })
}

/// Resizes grey or Y/Cb/Cr planes to `width` x `height`, into one raster (L8 or Ycc8).
fn resize_planes(
    resizer: &mut fr::Resizer,
    planes: Vec<reduced_jpeg::Plane>,
    width: u32,
    height: u32,
) -> Result<Raster, ThumbnailError> {
    let resize_plane = |resizer: &mut fr::Resizer, plane: reduced_jpeg::Plane| {
        let (w, h) = (plane.width as usize, plane.height as usize);
        let raster = raster_from(w, h, Layout::L8, plane.data)?;
        Ok::<_, ThumbnailError>(resize(resizer, raster, width, height)?.data)
    };
    // Luma on this thread, chroma on another: the decoder has just used both cores too.
    let mut planes = planes.into_iter();
    let luma = planes.next();
    let chroma: Vec<_> = planes.collect();
    let (luma, chroma) = std::thread::scope(|scope| {
        let chroma = (!chroma.is_empty()).then(|| {
            scope.spawn(|| {
                let mut resizer = fr::Resizer::new();
                chroma
                    .into_iter()
                    .map(|p| resize_plane(&mut resizer, p))
                    .collect::<Result<Vec<_>, _>>()
            })
        });
        let luma = luma.map(|p| resize_plane(resizer, p)).transpose();
        let chroma = chroma.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Err(ThumbnailError::Encode("resize thread failed".into())))
        });
        (luma, chroma.transpose())
    });
    let mut resized: Vec<Vec<u8>> = luma?.into_iter().collect();
    resized.extend(chroma?.into_iter().flatten());
    match resized.as_mut_slice() {
        [grey] => raster_from(
            width as usize,
            height as usize,
            Layout::L8,
            std::mem::take(grey),
        ),
        [y, cb, cr] => {
            let mut data = Vec::with_capacity(y.len() * 3);
            for ((&y, &cb), &cr) in y.iter().zip(cb.iter()).zip(cr.iter()) {
                data.extend_from_slice(&[y, cb, cr]);
            }
            raster_from(width as usize, height as usize, Layout::Ycc8, data)
        }
        _ => Err(ThumbnailError::Decode("unexpected JPEG components".into())),
    }
}

/// What of a JPEG libjpeg is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JpegPart {
    /// The image.
    Whole,
    /// The luma file of a progressive split: Y only, as grey (libjpeg then skips the other
    /// components), and no block smoothing (which the missing chroma would switch on).
    Luma,
    /// The chroma file: YCbCr (Cb and Cr are used), no block smoothing.
    Chroma,
}

fn decode_jpeg<R: BufRead>(
    reader: R,
    bounds: &Bounds,
    has_alpha: bool,
    part: JpegPart,
) -> Result<Decoded, ThumbnailError> {
    let hit_eof = Cell::new(false);
    // libjpeg reports fatal errors by unwinding out of its error_exit callback (the mozjpeg
    // crate's design); catch_unwind turns that into an Err. Needs panic = "unwind".
    let result = catch_unwind(AssertUnwindSafe(|| {
        decode_jpeg_inner(reader, bounds, has_alpha, part, &hit_eof)
    }));
    let decoded = match result {
        Ok(r) => r?,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg error".to_string());
            return Err(ThumbnailError::Decode(msg));
        }
    };
    if hit_eof.get() {
        return Err(ThumbnailError::Decode(
            "JPEG data is truncated (premature end of file)".into(),
        ));
    }
    Ok(decoded)
}

fn decode_jpeg_inner<R: BufRead>(
    reader: R,
    bounds: &Bounds,
    has_alpha: bool,
    part: JpegPart,
    hit_eof: &Cell<bool>,
) -> Result<Decoded, ThumbnailError> {
    use mozjpeg::{ColorSpace, Marker};

    let reader = EofFlagReader {
        inner: reader,
        hit_eof,
    };
    let mut dec = mozjpeg::Decompress::with_markers(&[Marker::APP(14)])
        .from_reader(reader)
        .map_err(decode_err)?;
    let (w, h) = dec.size();
    let (w, h) = (
        u32::try_from(w).map_err(decode_err)?,
        u32::try_from(h).map_err(decode_err)?,
    );
    bounds.check(w, h)?;
    // A progressive file keeps every coefficient (64 x i16 per block) in memory until the end.
    let coefficients: u64 = dec
        .components()
        .iter()
        .map(|c| u64::from(c.width_in_blocks) * u64::from(c.height_in_blocks) * 128)
        .sum();
    bounds.check_alloc(coefficients, "JPEG coefficient buffer")?;
    // Photoshop and most CMYK writers store inverted CMYK and say so in an Adobe APP14 marker.
    let adobe = dec
        .markers()
        .any(|m| m.marker == Marker::APP(14) && m.data.starts_with(b"Adobe"));
    dec.scale(jpeg_scale_numerator(w, h));
    if part != JpegPart::Whole {
        dec.do_block_smoothing(false);
    }

    // The luma half of a progressive split is read as grey: that is the Y channel, untouched.
    let luma_only = part == JpegPart::Luma && dec.color_space() == ColorSpace::JCS_YCbCr;
    let raster = match dec.color_space() {
        space if luma_only || space == ColorSpace::JCS_GRAYSCALE => {
            let mut s = dec.grayscale().map_err(decode_err)?;
            let (ow, oh) = (s.width(), s.height());
            bounds.check_alloc((ow * oh) as u64, "decoded image")?;
            let pixels: Vec<u8> = s.read_scanlines().map_err(decode_err)?;
            s.finish().map_err(decode_err)?;
            raster_from(ow, oh, Layout::L8, pixels)?
        }
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => {
            let mut s = dec
                .to_colorspace(ColorSpace::JCS_CMYK)
                .map_err(decode_err)?;
            let (ow, oh) = (s.width(), s.height());
            bounds.check_alloc((ow * oh * 4) as u64, "decoded image")?;
            let cmyk: Vec<[u8; 4]> = s.read_scanlines().map_err(decode_err)?;
            s.finish().map_err(decode_err)?;
            raster_from(ow, oh, Layout::Rgb8, cmyk_to_rgb(&cmyk, adobe))?
        }
        // For a JPEG thumbnail, YCbCr goes through untouched: resizing commutes with the
        // (affine) colour transform, and it saves converting to RGB and back.
        ColorSpace::JCS_YCbCr if !has_alpha => {
            let mut s = dec
                .to_colorspace(ColorSpace::JCS_YCbCr)
                .map_err(decode_err)?;
            let (ow, oh) = (s.width(), s.height());
            bounds.check_alloc((ow * oh * 3) as u64, "decoded image")?;
            let pixels: Vec<u8> = s.read_scanlines().map_err(decode_err)?;
            s.finish().map_err(decode_err)?;
            raster_from(ow, oh, Layout::Ycc8, pixels)?
        }
        _ => {
            let mut s = dec.rgb().map_err(decode_err)?;
            let (ow, oh) = (s.width(), s.height());
            bounds.check_alloc((ow * oh * 3) as u64, "decoded image")?;
            let pixels: Vec<u8> = s.read_scanlines().map_err(decode_err)?;
            s.finish().map_err(decode_err)?;
            raster_from(ow, oh, Layout::Rgb8, pixels)?
        }
    };
    Ok(Decoded {
        pixels: Pixels::Raster(raster),
        full_width: w,
        full_height: h,
    })
}

fn raster_from(
    width: usize,
    height: usize,
    layout: Layout,
    data: Vec<u8>,
) -> Result<Raster, ThumbnailError> {
    if data.len() != width * height * layout.channels() || width == 0 || height == 0 {
        return Err(ThumbnailError::Decode(format!(
            "decoder returned {} bytes for {width}x{height}",
            data.len()
        )));
    }
    Ok(Raster {
        width: u32::try_from(width).map_err(decode_err)?,
        height: u32::try_from(height).map_err(decode_err)?,
        layout,
        data,
    })
}

/// Naive CMYK -> RGB (no ICC profile), as Pillow and libvips do without colour management.
fn cmyk_to_rgb(cmyk: &[[u8; 4]], adobe_inverted: bool) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() * 3);
    for &[c, m, y, k] in cmyk {
        // Inverted values are the ink's complement: R = (255 - C) * (255 - K) / 255.
        let (c, m, y, k) = if adobe_inverted {
            (c, m, y, k)
        } else {
            (255 - c, 255 - m, 255 - y, 255 - k)
        };
        let mul = |a: u8| ((u32::from(a) * u32::from(k) + 127) / 255) as u8;
        rgb.extend_from_slice(&[mul(c), mul(m), mul(y)]);
    }
    rgb
}

fn decode_other<R: BufRead + Seek>(
    reader: R,
    format: ImageFormat,
    bounds: &Bounds,
) -> Result<Decoded, ThumbnailError> {
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(bounds.max_side);
    image_limits.max_image_height = Some(bounds.max_side);
    image_limits.max_alloc = Some(bounds.max_alloc);

    let mut reader = ImageReader::with_format(reader, format);
    reader.limits(image_limits);
    let decoder = reader.into_decoder().map_err(map_image_err)?;
    let (w, h) = decoder.dimensions();
    bounds.check(w, h)?;
    bounds.check_alloc(decoder.total_bytes(), "decoded image")?;
    let image = DynamicImage::from_decoder(decoder).map_err(map_image_err)?;

    let raster = match image {
        DynamicImage::ImageLuma8(b) => (Layout::L8, b.into_raw()),
        DynamicImage::ImageLumaA8(b) => (Layout::La8, b.into_raw()),
        DynamicImage::ImageRgb8(b) => (Layout::Rgb8, b.into_raw()),
        DynamicImage::ImageRgba8(b) => (Layout::Rgba8, b.into_raw()),
        other => {
            // 16-bit and float images: down to 8 bits, keeping grey/colour and alpha.
            let color = other.color();
            match (color.has_color(), color.has_alpha()) {
                (false, false) => (Layout::L8, other.into_luma8().into_raw()),
                (false, true) => (Layout::La8, other.into_luma_alpha8().into_raw()),
                (true, false) => (Layout::Rgb8, other.into_rgb8().into_raw()),
                (true, true) => (Layout::Rgba8, other.into_rgba8().into_raw()),
            }
        }
    };
    let (layout, pixels) = raster;
    Ok(Decoded {
        pixels: Pixels::Raster(raster_from(w as usize, h as usize, layout, pixels)?),
        full_width: w,
        full_height: h,
    })
}

fn map_image_err(e: image::ImageError) -> ThumbnailError {
    match e {
        image::ImageError::Limits(l) => ThumbnailError::TooLarge(l.to_string()),
        other => ThumbnailError::Decode(other.to_string()),
    }
}

/// Adds or drops the alpha channel so the pixels match the output format.
fn with_alpha(r: Raster, alpha: bool) -> Raster {
    let layout = match (r.layout, alpha) {
        (Layout::L8 | Layout::La8, false) => Layout::L8,
        (Layout::Rgb8 | Layout::Rgba8, false) => Layout::Rgb8,
        (Layout::Ycc8, false) => Layout::Ycc8,
        (Layout::L8 | Layout::La8, true) => Layout::La8,
        (Layout::Rgb8 | Layout::Rgba8 | Layout::Ycc8, true) => Layout::Rgba8,
    };
    if layout == r.layout {
        return r;
    }
    let (from, to) = (r.layout.channels(), layout.channels());
    let mut data = Vec::with_capacity(r.data.len() / from * to);
    for px in r.data.chunks_exact(from) {
        if to > from {
            data.extend_from_slice(px);
            data.push(255);
        } else {
            data.extend_from_slice(&px[..to]);
        }
    }
    Raster { data, layout, ..r }
}

fn thumbnails_from(
    decoded: Decoded,
    facts: &SourceFacts,
) -> Result<Vec<Thumbnail>, ThumbnailError> {
    let Decoded {
        pixels,
        full_width,
        full_height,
    } = decoded;
    let orientation =
        Orientation::from_exif(facts.orientation).unwrap_or(Orientation::NoTransforms);
    let swaps = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let mut resizer = fr::Resizer::new();

    // Resize before orienting: the fit is symmetric in width and height, and turning a
    // 1080 image is cheaper than turning the decoded one.
    let (sw, sh) = fit_in_box(full_width, full_height, BOXES[3]);
    let largest = {
        let _span = tracing::info_span!("image.resize", width = sw, height = sh).entered();
        let resized = match pixels {
            Pixels::Raster(raster) => {
                resize(&mut resizer, with_alpha(raster, facts.has_alpha), sw, sh)?
            }
            Pixels::Planes(planes) => resize_planes(&mut resizer, planes, sw, sh)?,
        };
        orient(resized, orientation)?
    };
    let (ow, oh) = if swaps {
        (full_height, full_width)
    } else {
        (full_width, full_height)
    };
    let format = if facts.has_alpha {
        ThumbFormat::Png
    } else {
        ThumbFormat::Jpeg
    };

    // The 1080 thumbnail is encoded on a second thread while the smaller ones are resized
    // from it and encoded here: its encode is the largest single step after decoding.
    let (box_size, width, height) = (BOXES[3], largest.width, largest.height);
    let span = tracing::info_span!("thumbnail", box_size, width, height);
    std::thread::scope(|scope| {
        let big = scope.spawn(|| span.in_scope(|| encode(&largest, format)));
        let smaller = (|| {
            let mut out = Vec::with_capacity(BOXES.len());
            let mut previous: Option<Raster> = None;
            for &box_size in BOXES[..3].iter().rev() {
                let (tw, th) = fit_in_box(ow, oh, box_size);
                let _span =
                    tracing::info_span!("thumbnail", box_size, width = tw, height = th).entered();
                let source = previous.as_ref().unwrap_or(&largest);
                let current = resized(&mut resizer, source, tw, th)?;
                out.push(Thumbnail {
                    box_size,
                    width: tw,
                    height: th,
                    format,
                    bytes: encode(&current, format)?,
                });
                previous = Some(current);
            }
            out.reverse();
            Ok(out)
        })();
        // Joined before any error is returned: a panicked thread left to the scope would
        // resume its panic here.
        let bytes = big
            .join()
            .map_err(|_| ThumbnailError::Encode("encoding thread failed".into()))?;
        let (mut out, bytes) = (smaller?, bytes?);
        out.push(Thumbnail {
            box_size,
            width,
            height,
            format,
            bytes,
        });
        Ok(out)
    })
}

/// Resizes with Lanczos3 (convolution sized to the reduction, so it also averages properly
/// when shrinking a lot). Returns the raster itself when the size is already right.
fn resize(
    resizer: &mut fr::Resizer,
    src: Raster,
    width: u32,
    height: u32,
) -> Result<Raster, ThumbnailError> {
    if src.width == width && src.height == height {
        return Ok(src);
    }
    resized(resizer, &src, width, height)
}

/// As [`resize`], into a new raster (a copy when the size is already right).
fn resized(
    resizer: &mut fr::Resizer,
    src: &Raster,
    width: u32,
    height: u32,
) -> Result<Raster, ThumbnailError> {
    let layout = src.layout;
    if src.width == width && src.height == height {
        return Ok(Raster {
            data: src.data.clone(),
            ..*src
        });
    }
    let src_image =
        fr::images::ImageRef::new(src.width, src.height, &src.data, layout.pixel_type())
            .map_err(encode_err)?;
    let mut dst = fr::images::Image::new(width, height, layout.pixel_type());
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    resizer
        .resize(&src_image, &mut dst, &options)
        .map_err(encode_err)?;
    Ok(Raster {
        width,
        height,
        layout,
        data: dst.into_vec(),
    })
}

fn orient(r: Raster, orientation: Orientation) -> Result<Raster, ThumbnailError> {
    if orientation == Orientation::NoTransforms {
        return Ok(r);
    }
    let (w, h, layout) = (r.width, r.height, r.layout);
    let bad = || ThumbnailError::Encode("raster size mismatch".into());
    let mut image = match layout {
        Layout::L8 => {
            DynamicImage::ImageLuma8(ImageBuffer::from_raw(w, h, r.data).ok_or_else(bad)?)
        }
        Layout::La8 => {
            DynamicImage::ImageLumaA8(ImageBuffer::from_raw(w, h, r.data).ok_or_else(bad)?)
        }
        Layout::Rgb8 | Layout::Ycc8 => {
            DynamicImage::ImageRgb8(ImageBuffer::from_raw(w, h, r.data).ok_or_else(bad)?)
        }
        Layout::Rgba8 => {
            DynamicImage::ImageRgba8(ImageBuffer::from_raw(w, h, r.data).ok_or_else(bad)?)
        }
    };
    image.apply_orientation(orientation);
    Ok(Raster {
        width: image.width(),
        height: image.height(),
        layout,
        data: image.into_bytes(),
    })
}

fn encode(r: &Raster, format: ThumbFormat) -> Result<Vec<u8>, ThumbnailError> {
    let mut out = Vec::new();
    match format {
        ThumbFormat::Jpeg => {
            let color = match r.layout {
                Layout::L8 => jpeg_encoder::ColorType::Luma,
                Layout::Rgb8 => jpeg_encoder::ColorType::Rgb,
                Layout::Ycc8 => jpeg_encoder::ColorType::Ycbcr,
                Layout::La8 | Layout::Rgba8 => {
                    return Err(ThumbnailError::Encode("JPEG cannot keep alpha".into()))
                }
            };
            let w = u16::try_from(r.width).map_err(encode_err)?;
            let h = u16::try_from(r.height).map_err(encode_err)?;
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            encoder.encode(&r.data, w, h, color).map_err(encode_err)?;
        }
        ThumbFormat::Png => {
            let color = match r.layout {
                Layout::L8 => image::ExtendedColorType::L8,
                Layout::La8 => image::ExtendedColorType::La8,
                Layout::Rgb8 => image::ExtendedColorType::Rgb8,
                Layout::Rgba8 => image::ExtendedColorType::Rgba8,
                Layout::Ycc8 => return Err(ThumbnailError::Encode("PNG of YCbCr".into())),
            };
            PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive)
                .write_image(&r.data, r.width, r.height, color)
                .map_err(encode_err)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, Rgb, RgbImage, Rgba, RgbaImage};

    fn facts(width: u32, height: u32, has_alpha: bool) -> SourceFacts {
        SourceFacts {
            width,
            height,
            orientation: 1,
            has_alpha,
        }
    }

    fn thumbs(data: &[u8], facts: &SourceFacts) -> Vec<Thumbnail> {
        make_thumbnails_from_bytes(data, facts, &Limits::default()).unwrap()
    }

    fn sizes(t: &[Thumbnail]) -> Vec<(u32, u32, u32)> {
        t.iter().map(|t| (t.box_size, t.width, t.height)).collect()
    }

    /// Decodes every thumbnail and checks it says what the struct says.
    fn decode_all(t: &[Thumbnail]) -> Vec<DynamicImage> {
        t.iter()
            .map(|t| {
                let expected = match t.format {
                    ThumbFormat::Jpeg => ImageFormat::Jpeg,
                    ThumbFormat::Png => ImageFormat::Png,
                };
                assert_eq!(image::guess_format(&t.bytes).unwrap(), expected);
                let img = image::load_from_memory(&t.bytes).unwrap();
                assert_eq!(img.dimensions(), (t.width, t.height), "box {}", t.box_size);
                img
            })
            .collect()
    }

    fn png_bytes(img: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn jpeg_bytes(data: &[u8], w: u16, h: u16, color: jpeg_encoder::ColorType) -> Vec<u8> {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 92)
            .encode(data, w, h, color)
            .unwrap();
        out
    }

    fn rgb_jpeg(img: &RgbImage) -> Vec<u8> {
        let (w, h) = img.dimensions();
        jpeg_bytes(
            img.as_raw(),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
    }

    /// Deterministic noise, so JPEG scans are large enough to truncate meaningfully.
    fn noise_image(w: u32, h: u32) -> RgbImage {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        RgbImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let b = state.to_le_bytes();
            Rgb([b[0], b[1], b[2]])
        })
    }

    fn close(a: &[u8], b: &[u8], tolerance: i32) -> bool {
        a.iter()
            .zip(b)
            .all(|(&x, &y)| (i32::from(x) - i32::from(y)).abs() <= tolerance)
    }

    #[test]
    fn fit_in_box_follows_the_thumbnail_rule() {
        assert_eq!(fit_in_box(235, 215, 64), (64, 59));
        assert_eq!(fit_in_box(235, 215, 128), (128, 117));
        assert_eq!(fit_in_box(235, 215, 512), (235, 215));
        assert_eq!(fit_in_box(215, 235, 64), (59, 64));
        assert_eq!(fit_in_box(5000, 10, 64), (64, 1));
        assert_eq!(fit_in_box(10, 5000, 1080), (2, 1080));
        assert_eq!(fit_in_box(5120, 2880, 1080), (1080, 608));
        assert_eq!(fit_in_box(1080, 1080, 1080), (1080, 1080));
        assert_eq!(fit_in_box(1081, 1081, 1080), (1080, 1080));
        assert_eq!(fit_in_box(1, 1, 64), (1, 1));
    }

    #[test]
    fn jpeg_scale_keeps_the_1080_target_covered() {
        assert_eq!(jpeg_scale_numerator(5120, 2880), 2); // 1280x720 for 1080x608
        assert_eq!(jpeg_scale_numerator(3200, 2000), 3); // 1200x750
        assert_eq!(jpeg_scale_numerator(1920, 1280), 5); // 1200x800
        assert_eq!(jpeg_scale_numerator(1080, 700), 8);
        assert_eq!(jpeg_scale_numerator(12000, 9000), 1);
        assert_eq!(jpeg_scale_numerator(5000, 10), 2);
        for (w, h) in [
            (5120, 2880),
            (1622, 2880),
            (4001, 3001),
            (9, 8000),
            (1081, 3),
        ] {
            let n = u32::from(jpeg_scale_numerator(w, h));
            let (tw, th) = fit_in_box(w, h, 1080);
            assert!(
                (w * n).div_ceil(8) >= tw && (h * n).div_ceil(8) >= th,
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn palette_png_235x215_gives_pillow_sizes_and_never_upscales() {
        let (w, h) = (235u32, 215u32);
        let mut data = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut data, w, h);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(vec![255, 0, 0, 0, 0, 255]);
            let mut writer = enc.write_header().unwrap();
            let pixels: Vec<u8> = (0..w * h).map(|i| u8::from(i % w >= w / 2)).collect();
            writer.write_image_data(&pixels).unwrap();
        }
        let t = thumbs(&data, &facts(w, h, false));
        assert_eq!(
            sizes(&t),
            vec![
                (64, 64, 59),
                (128, 128, 117),
                (512, 235, 215),
                (1080, 235, 215)
            ]
        );
        assert!(t.iter().all(|t| t.format == ThumbFormat::Jpeg));
        let imgs = decode_all(&t);
        // Unresampled: the 512 and 1080 thumbnails are the image itself, re-encoded.
        let big = imgs[3].to_rgb8();
        assert!(close(&big.get_pixel(10, 100).0, &[255, 0, 0], 40));
        assert!(close(&big.get_pixel(225, 100).0, &[0, 0, 255], 40));
    }

    #[test]
    fn palette_png_with_transparency_gives_rgba_png() {
        let (w, h) = (300u32, 200u32);
        let mut data = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut data, w, h);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(vec![255, 0, 0, 0, 255, 0]);
            enc.set_trns(vec![0, 255]);
            let mut writer = enc.write_header().unwrap();
            let pixels: Vec<u8> = (0..w * h).map(|i| u8::from(i % w >= w / 2)).collect();
            writer.write_image_data(&pixels).unwrap();
        }
        let t = thumbs(&data, &facts(w, h, true));
        assert!(t.iter().all(|t| t.format == ThumbFormat::Png));
        for img in decode_all(&t) {
            assert_eq!(img.color(), image::ColorType::Rgba8);
            let (tw, th) = img.dimensions();
            assert_eq!(img.get_pixel(0, th / 2).0[3], 0);
            assert_eq!(img.get_pixel(tw - 1, th / 2).0, [0, 255, 0, 255]);
        }
    }

    #[test]
    fn exif_orientation_6_turns_a_landscape_jpeg_portrait() {
        // Stored landscape, left half red, right half blue. Orientation 6 means "rotate 90°
        // clockwise to display": the left (red) half ends up on top.
        let stored = RgbImage::from_fn(400, 300, |x, _| {
            if x < 200 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let f = SourceFacts {
            orientation: 6,
            ..facts(400, 300, false)
        };
        let t = thumbs(&rgb_jpeg(&stored), &f);
        assert_eq!(
            sizes(&t),
            vec![
                (64, 48, 64),
                (128, 96, 128),
                (512, 300, 400),
                (1080, 300, 400)
            ]
        );
        for img in decode_all(&t) {
            let img = img.to_rgb8();
            let (w, h) = img.dimensions();
            assert!(h > w);
            assert!(close(&img.get_pixel(w / 2, h / 8).0, &[255, 0, 0], 40));
            assert!(close(&img.get_pixel(w / 2, h * 7 / 8).0, &[0, 0, 255], 40));
        }
    }

    #[test]
    fn every_orientation_maps_the_corners_like_exif_says() {
        // A 64x32 image, red in the top-left quadrant only; where red lands for each tag.
        let stored = RgbaImage::from_fn(64, 32, |x, y| {
            if x < 32 && y < 16 {
                Rgba([255, 0, 0, 255])
            } else {
                Rgba([0, 0, 0, 255])
            }
        });
        let png = png_bytes(&DynamicImage::ImageRgba8(stored));
        // (display size, corner expected red: 0 tl, 1 tr, 2 br, 3 bl)
        let expected = [
            (1, (64, 32), 0),
            (2, (64, 32), 1),
            (3, (64, 32), 2),
            (4, (64, 32), 3),
            (5, (32, 64), 0),
            (6, (32, 64), 1),
            (7, (32, 64), 2),
            (8, (32, 64), 3),
        ];
        for (orientation, size, corner) in expected {
            let f = SourceFacts {
                orientation,
                ..facts(64, 32, true)
            };
            let t = thumbs(&png, &f);
            let img = decode_all(&t).pop().unwrap().to_rgba8();
            assert_eq!(img.dimensions(), size, "orientation {orientation}");
            let (w, h) = size;
            let corners = [(0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1)];
            for (i, (x, y)) in corners.into_iter().enumerate() {
                let red = img.get_pixel(x, y).0[0] > 128;
                assert_eq!(red, i == corner, "orientation {orientation} corner {i}");
            }
        }
    }

    #[test]
    fn rgba_png_keeps_its_alpha() {
        let img = RgbaImage::from_fn(600, 400, |x, _| {
            if x < 300 {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([200, 30, 30, 255])
            }
        });
        let t = thumbs(
            &png_bytes(&DynamicImage::ImageRgba8(img)),
            &facts(600, 400, true),
        );
        assert_eq!(
            sizes(&t),
            vec![
                (64, 64, 43),
                (128, 128, 85),
                (512, 512, 341),
                (1080, 600, 400)
            ]
        );
        for img in decode_all(&t) {
            assert_eq!(img.color(), image::ColorType::Rgba8);
            let (w, h) = img.dimensions();
            assert_eq!(img.get_pixel(2, h / 2).0[3], 0);
            assert!(close(
                &img.get_pixel(w - 3, h / 2).0,
                &[200, 30, 30, 255],
                2
            ));
        }
    }

    #[test]
    fn grey_alpha_png_stays_grey_alpha() {
        let img = image::GrayAlphaImage::from_fn(100, 80, |x, _| image::LumaA([90, (x * 2) as u8]));
        let t = thumbs(
            &png_bytes(&DynamicImage::ImageLumaA8(img)),
            &facts(100, 80, true),
        );
        for img in decode_all(&t) {
            assert_eq!(img.color(), image::ColorType::La8);
        }
    }

    #[test]
    fn sixteen_bit_png_becomes_an_8_bit_jpeg() {
        let img = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(
            300,
            200,
            Rgb([0x8080, 0x4040, 0xffff]),
        );
        let t = thumbs(
            &png_bytes(&DynamicImage::ImageRgb16(img)),
            &facts(300, 200, false),
        );
        assert_eq!(
            sizes(&t),
            vec![
                (64, 64, 43),
                (128, 128, 85),
                (512, 300, 200),
                (1080, 300, 200)
            ]
        );
        for img in decode_all(&t) {
            let img = img.to_rgb8();
            let (w, h) = img.dimensions();
            assert!(close(&img.get_pixel(w / 2, h / 2).0, &[128, 64, 255], 4));
        }
    }

    #[test]
    fn cmyk_and_ycck_jpegs_come_out_in_the_right_colours() {
        // True ink values in; jpeg-encoder stores them Adobe-inverted with an APP14 marker.
        let cases = [
            ([0u8, 255, 255, 0], [255u8, 0, 0]),
            ([255, 0, 255, 0], [0, 255, 0]),
            ([0, 128, 255, 64], [191, 95, 0]),
        ];
        for (ink, rgb) in cases {
            for color in [
                jpeg_encoder::ColorType::Cmyk,
                jpeg_encoder::ColorType::CmykAsYcck,
            ] {
                let data: Vec<u8> = ink.repeat(160 * 120);
                let jpeg = jpeg_bytes(&data, 160, 120, color);
                let t = thumbs(&jpeg, &facts(160, 120, false));
                for img in decode_all(&t) {
                    let img = img.to_rgb8();
                    let (w, h) = img.dimensions();
                    let centre = img.get_pixel(w / 2, h / 2).0;
                    assert!(close(&centre, &rgb, 12), "{ink:?} as {color:?}: {centre:?}");
                }
            }
        }
    }

    #[test]
    fn grey_jpeg_gives_grey_jpegs() {
        let data: Vec<u8> = (0..200 * 100).map(|i| (i % 200) as u8).collect();
        let jpeg = jpeg_bytes(&data, 200, 100, jpeg_encoder::ColorType::Luma);
        let t = thumbs(&jpeg, &facts(200, 100, false));
        for img in decode_all(&t) {
            assert_eq!(img.color(), image::ColorType::L8);
        }
    }

    #[test]
    fn large_jpeg_is_shrunk_on_load_without_losing_colour_or_geometry() {
        // 2400x1000 decodes at 4/8 (1200x500) for the 1080x450 thumbnail.
        let img = RgbImage::from_fn(2400, 1000, |x, _| {
            if x < 1200 {
                Rgb([250, 120, 10])
            } else {
                Rgb([10, 120, 250])
            }
        });
        let t = thumbs(&rgb_jpeg(&img), &facts(2400, 1000, false));
        assert_eq!(
            sizes(&t),
            vec![
                (64, 64, 27),
                (128, 128, 53),
                (512, 512, 213),
                (1080, 1080, 450)
            ]
        );
        for img in decode_all(&t) {
            let img = img.to_rgb8();
            let (w, h) = img.dimensions();
            assert!(close(&img.get_pixel(w / 8, h / 2).0, &[250, 120, 10], 12));
            assert!(close(
                &img.get_pixel(w * 7 / 8, h / 2).0,
                &[10, 120, 250],
                12
            ));
            // The edge stays in the middle.
            assert!(img.get_pixel(w / 2 - 2, h / 2).0[0] > 128);
            assert!(img.get_pixel(w / 2 + 2, h / 2).0[0] < 128);
        }
    }

    fn libjpeg_whole(jpeg: &[u8], bounds: &Bounds) -> Decoded {
        decode_jpeg(Cursor::new(jpeg), bounds, false, JpegPart::Whole).unwrap()
    }

    /// Two halves of flat colour, with noise on top so that the scan is large enough to be
    /// split across threads.
    fn noisy_halves(w: u32, h: u32) -> RgbImage {
        let noise = noise_image(w, h);
        RgbImage::from_fn(w, h, |x, y| {
            let base = if x < w / 2 {
                [200i32, 120, 40]
            } else {
                [40, 120, 200]
            };
            let n = noise.get_pixel(x, y).0;
            Rgb(std::array::from_fn(|c| {
                (base[c] + i32::from(n[c] % 41) - 20).clamp(0, 255) as u8
            }))
        })
    }

    #[test]
    fn large_baseline_jpeg_is_decoded_across_threads_like_libjpeg_decodes_it() {
        // 3/8 of 2400 (900) is too small for the 1080 box, so 1/2; 3/8 of 3000 (1125) is not.
        for (w, h, scale) in [(2400, 1700, 4), (3000, 1700, 3)] {
            large_baseline_jpeg_at(w, h, scale);
        }
    }

    fn large_baseline_jpeg_at(w: u32, h: u32, scale: u32) {
        let jpeg = rgb_jpeg(&noisy_halves(w, h));
        let f = facts(w, h, false);
        let bounds = Bounds::new(&f, &Limits::default());
        let mut reader = Cursor::new(jpeg.as_slice());
        let Some(reduced) = decode_jpeg_in_parallel(&mut reader, &bounds, &f) else {
            panic!(
                "a {} byte baseline JPEG should take the split path",
                jpeg.len()
            );
        };
        let Pixels::Planes(planes) = &reduced.pixels else {
            panic!("planes expected");
        };
        let scaled = |v: u32| (v * scale).div_ceil(8);
        assert_eq!((planes[0].width, planes[0].height), (scaled(w), scaled(h)));
        let libjpeg = libjpeg_whole(&jpeg, &bounds);
        let ours = thumbnails_from(reduced, &f).unwrap();
        let theirs = thumbnails_from(libjpeg, &f).unwrap();
        assert_eq!(sizes(&ours), sizes(&theirs));
        assert_eq!(
            ours,
            thumbs(&jpeg, &f),
            "make_thumbnails takes the split path"
        );
        // Short of the memory it may need, the split path stands aside for libjpeg.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let header = reduced_jpeg::Header::parse(&jpeg).unwrap();
        let needed = header
            .memory_needed(jpeg.len(), scale as usize, threads)
            .unwrap();
        let tight = Bounds {
            max_alloc: needed - 1,
            ..Bounds::new(&f, &Limits::default())
        };
        let mut reader = Cursor::new(jpeg.as_slice());
        assert!(decode_jpeg_in_parallel(&mut reader, &tight, &f).is_none());
        let enough = Bounds {
            max_alloc: needed,
            ..tight
        };
        let mut reader = Cursor::new(jpeg.as_slice());
        assert!(decode_jpeg_in_parallel(&mut reader, &enough, &f).is_some());
        for (a, b) in decode_all(&ours).iter().zip(decode_all(&theirs)) {
            let (a, b) = (a.to_rgb8(), b.to_rgb8());
            let total: u64 = a
                .iter()
                .zip(b.iter())
                .map(|(&x, &y)| u64::from(x.abs_diff(y)))
                .sum();
            let mean = total as f64 / a.len() as f64;
            // Noise in the chroma differs most: libjpeg decodes it at luma resolution.
            assert!(
                mean < 2.5,
                "{}x{}: mean difference {mean}",
                a.width(),
                a.height()
            );
            let (tw, th) = a.dimensions();
            assert!(close(&a.get_pixel(tw / 8, th / 2).0, &[200, 120, 40], 12));
            assert!(close(
                &a.get_pixel(tw * 7 / 8, th / 2).0,
                &[40, 120, 200],
                12
            ));
        }
    }

    #[test]
    fn large_progressive_jpeg_decoded_in_two_halves_is_the_whole_decode() {
        let (w, h) = (1800, 1200);
        let img = noisy_halves(w, h);
        let mut jpeg = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, 90);
        encoder.set_progressive(true);
        encoder
            .encode(
                img.as_raw(),
                w as u16,
                h as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
        let f = facts(w, h, false);
        let bounds = Bounds::new(&f, &Limits::default());
        let halves = decode_progressive_halves(&jpeg, &bounds).expect("split path");
        let whole = libjpeg_whole(&jpeg, &bounds);
        let (Pixels::Raster(a), Pixels::Raster(b)) = (&halves.pixels, &whole.pixels) else {
            panic!("rasters expected");
        };
        assert_eq!((a.width, a.height, a.layout), (b.width, b.height, b.layout));
        assert!(
            a.data == b.data,
            "the halves give the whole image, bit for bit"
        );
        let t = thumbnails_from(halves, &f).unwrap();
        assert_eq!(t, thumbs(&jpeg, &f));
        assert_eq!(t, thumbnails_from(whole, &f).unwrap());
    }

    #[test]
    fn animated_gif_uses_the_first_frame() {
        use image::codecs::gif::GifEncoder;
        use image::{Delay, Frame};
        let mut data = Vec::new();
        {
            let mut enc = GifEncoder::new(&mut data);
            let red = RgbaImage::from_pixel(120, 90, Rgba([255, 0, 0, 255]));
            let blue = RgbaImage::from_pixel(120, 90, Rgba([0, 0, 255, 255]));
            for frame in [red, blue.clone(), blue] {
                enc.encode_frame(Frame::from_parts(
                    frame,
                    0,
                    0,
                    Delay::from_numer_denom_ms(100, 1),
                ))
                .unwrap();
            }
        }
        let t = thumbs(&data, &facts(120, 90, false));
        assert_eq!(
            sizes(&t),
            vec![
                (64, 64, 48),
                (128, 120, 90),
                (512, 120, 90),
                (1080, 120, 90)
            ]
        );
        for img in decode_all(&t) {
            let img = img.to_rgb8();
            let (w, h) = img.dimensions();
            assert!(close(&img.get_pixel(w / 2, h / 2).0, &[255, 0, 0], 30));
        }
    }

    #[test]
    fn one_pixel_images_give_four_one_pixel_thumbnails() {
        let rgb = RgbImage::from_pixel(1, 1, Rgb([10, 200, 30]));
        let inputs = [
            (rgb_jpeg(&rgb), false),
            (png_bytes(&DynamicImage::ImageRgb8(rgb.clone())), false),
            (
                png_bytes(&DynamicImage::ImageRgba8(
                    DynamicImage::ImageRgb8(rgb).to_rgba8(),
                )),
                true,
            ),
        ];
        for (data, alpha) in inputs {
            let t = thumbs(&data, &facts(1, 1, alpha));
            assert_eq!(
                sizes(&t),
                vec![(64, 1, 1), (128, 1, 1), (512, 1, 1), (1080, 1, 1)]
            );
            decode_all(&t);
        }
    }

    #[test]
    fn very_wide_image_never_gets_a_zero_side() {
        let img = RgbImage::from_pixel(5000, 10, Rgb([40, 80, 160]));
        for data in [
            png_bytes(&DynamicImage::ImageRgb8(img.clone())),
            rgb_jpeg(&img),
        ] {
            let t = thumbs(&data, &facts(5000, 10, false));
            assert_eq!(
                sizes(&t),
                vec![(64, 64, 1), (128, 128, 1), (512, 512, 1), (1080, 1080, 2)]
            );
            decode_all(&t);
        }
    }

    #[test]
    fn other_formats_decode() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(150, 100, |x, y| {
            Rgb([(x + y) as u8, 60, 90])
        }));
        for format in [
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::WebP,
            ImageFormat::Png,
        ] {
            let mut out = Cursor::new(Vec::new());
            img.write_to(&mut out, format).unwrap();
            let t = thumbs(out.get_ref(), &facts(150, 100, false));
            assert_eq!(sizes(&t)[0], (64, 64, 43), "{format:?}");
            decode_all(&t);
        }
    }

    #[test]
    fn truncated_jpeg_is_an_error() {
        let jpeg = rgb_jpeg(&noise_image(256, 256));
        for cut in [jpeg.len() / 2, jpeg.len() - 2, 600, 200, 20, 3] {
            let r = make_thumbnails_from_bytes(
                &jpeg[..cut],
                &facts(256, 256, false),
                &Limits::default(),
            );
            assert!(
                matches!(r, Err(ThumbnailError::Decode(_))),
                "cut at {cut}: {r:?}"
            );
        }
        // The untruncated file is fine, so the cut is what fails.
        assert_eq!(thumbs(&jpeg, &facts(256, 256, false)).len(), 4);
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let jpeg = rgb_jpeg(&noise_image(64, 64));
        let png = png_bytes(&DynamicImage::ImageRgb8(noise_image(64, 64)));
        let mut bad_jpeg_header = jpeg.clone();
        bad_jpeg_header[2..40].fill(0xFF);
        let mut bad_png_header = png.clone();
        bad_png_header[16..24].fill(0x7F);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            b"not an image at all".to_vec(),
            vec![0xFF, 0xD8, 0xFF],
            bad_jpeg_header,
            bad_png_header,
            png[..png.len() / 2].to_vec(),
            png[..40].to_vec(),
        ];
        for data in cases {
            let r = make_thumbnails_from_bytes(&data, &facts(64, 64, false), &Limits::default());
            let err = r.expect_err("corrupt input accepted");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn limits_are_enforced_before_decoding() {
        let jpeg = rgb_jpeg(&RgbImage::from_pixel(300, 200, Rgb([1, 2, 3])));
        let png = png_bytes(&DynamicImage::ImageRgb8(RgbImage::from_pixel(
            300,
            200,
            Rgb([1, 2, 3]),
        )));
        for data in [&jpeg, &png] {
            // Larger than declared.
            let r = make_thumbnails_from_bytes(data, &facts(200, 200, false), &Limits::default());
            assert!(matches!(r, Err(ThumbnailError::TooLarge(_))), "{r:?}");
            // Too many pixels.
            let small = Limits {
                max_pixels: 50_000,
                ..Limits::default()
            };
            let r = make_thumbnails_from_bytes(data, &facts(300, 200, false), &small);
            assert!(matches!(r, Err(ThumbnailError::TooLarge(_))), "{r:?}");
            // Not enough memory allowed for the decoded pixels.
            let tight = Limits {
                max_alloc: 10_000,
                ..Limits::default()
            };
            let r = make_thumbnails_from_bytes(data, &facts(300, 200, false), &tight);
            assert!(matches!(r, Err(ThumbnailError::TooLarge(_))), "{r:?}");
            // Declared either way round is fine.
            assert_eq!(thumbs(data, &facts(200, 300, false)).len(), 4);
        }
    }

    #[test]
    fn output_is_deterministic() {
        let photo = rgb_jpeg(&noise_image(1500, 1300));
        let rgba = png_bytes(&DynamicImage::ImageRgba8(
            DynamicImage::ImageRgb8(noise_image(700, 500)).to_rgba8(),
        ));
        for (data, f) in [
            (photo, facts(1500, 1300, false)),
            (rgba, facts(700, 500, true)),
        ] {
            let a = thumbs(&data, &f);
            let b = thumbs(&data, &f);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn reads_from_a_path() {
        let dir = std::env::temp_dir().join(format!("thumbs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("photo.jpg");
        let jpeg = rgb_jpeg(&noise_image(1300, 900));
        std::fs::write(&path, &jpeg).unwrap();
        let from_path =
            make_thumbnails(&path, &facts(1300, 900, false), &Limits::default()).unwrap();
        assert_eq!(from_path, thumbs(&jpeg, &facts(1300, 900, false)));
        assert_eq!(
            sizes(&from_path),
            vec![
                (64, 64, 44),
                (128, 128, 89),
                (512, 512, 354),
                (1080, 1080, 748)
            ]
        );
        let missing = make_thumbnails(
            &dir.join("missing.jpg"),
            &facts(1, 1, false),
            &Limits::default(),
        );
        assert!(matches!(missing, Err(ThumbnailError::Decode(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
