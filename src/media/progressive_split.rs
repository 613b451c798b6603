//! A progressive YCbCr JPEG split in two: one file with the scans that carry luma, one with
//! the scans that carry chroma, so two libjpeg decoders can share the work.
//!
//! Why: a progressive JPEG's time goes into Huffman-decoding its scans, which libjpeg does on
//! one core. Most scans of a progressive file name a single component (the DC scan names all
//! three), and decoded to YCbCr each output channel depends only on its own component's
//! coefficients. So a decoder given every marker but only the luma scans returns the right Y
//! channel, one given only the chroma scans the right Cb and Cr, and the two together are
//! the image, bit for bit, in roughly the time of the larger half.

use super::jpeg_markers::Markers;

/// The luma file and the chroma file, or `None` when the data is not a progressive Huffman
/// JPEG with three components, or is anything out of the ordinary (truncated, no EOI...):
/// the caller then decodes the file whole.
pub fn split_luma_chroma(data: &[u8]) -> Option<[Vec<u8>; 2]> {
    let mut markers = Markers::after_soi(data)?;
    let mut luma = Vec::with_capacity(data.len());
    let mut chroma = Vec::with_capacity(data.len() / 2);
    let mut luma_id = None;
    let mut progressive = false;
    luma.extend_from_slice(&data[..2]);
    chroma.extend_from_slice(&data[..2]);
    loop {
        let segment = markers.next_segment().ok()?;
        let body = segment.body;
        match segment.marker {
            0xD9 => break,
            0xD8 | 0x01 | 0xD0..=0xD7 => return None,
            0xC2 => {
                // Progressive Huffman: 8-bit, three components (Y first).
                if progressive || body.len() < 15 || body[0] != 8 || body[5] != 3 {
                    return None;
                }
                progressive = true;
                luma_id = Some(body[6]);
            }
            0xC0 | 0xC1 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
            0xDA => {
                let luma_id = luma_id?;
                let count = usize::from(*body.first()?);
                let ids = body.get(1..1 + 2 * count)?;
                let has_luma = ids.chunks(2).any(|c| c[0] == luma_id);
                let has_chroma = ids.chunks(2).any(|c| c[0] != luma_id);
                let scan_end = segment.end + scan_length(&data[segment.end..])?;
                let scan = &data[segment.start..scan_end];
                if has_luma {
                    luma.extend_from_slice(scan);
                }
                if has_chroma {
                    chroma.extend_from_slice(scan);
                }
                markers.pos = scan_end;
                continue;
            }
            _ => {}
        }
        // Tables, restart intervals, APPn, COM: both files, in their place, since tables may
        // be redefined between scans.
        let whole = &data[segment.start..segment.end];
        luma.extend_from_slice(whole);
        chroma.extend_from_slice(whole);
    }
    if !progressive {
        return None;
    }
    for file in [&mut luma, &mut chroma] {
        file.extend_from_slice(&[0xFF, 0xD9]);
    }
    Some([luma, chroma])
}

/// Length of the entropy-coded data at the start of `data`: up to the first marker that is
/// not a stuffed 0xFF00 or a restart marker. `None` if the data ends first.
fn scan_length(data: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        at += memchr::memchr(0xFF, &data[at..])?;
        match *data.get(at + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => at += 1,
            _ => return Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progressive_jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut state = 0x1234_5678_u64;
        let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h) * 3)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((i % 251) as u8).wrapping_add((state >> 60) as u8)
            })
            .collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive(true);
        encoder
            .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    fn ycbcr(jpeg: &[u8]) -> Vec<[u8; 3]> {
        let mut dec = mozjpeg::Decompress::new_mem(jpeg).unwrap();
        dec.scale(2);
        let mut started = dec.to_colorspace(mozjpeg::ColorSpace::JCS_YCbCr).unwrap();
        started.read_scanlines().unwrap()
    }

    #[test]
    fn the_two_halves_decode_to_the_whole_image_bit_for_bit() {
        let jpeg = progressive_jpeg(333, 217);
        let [luma, chroma] = split_luma_chroma(&jpeg).unwrap();
        assert!(luma.len() < jpeg.len() && chroma.len() < jpeg.len());
        let (whole, y, c) = (ycbcr(&jpeg), ycbcr(&luma), ycbcr(&chroma));
        let joined: Vec<[u8; 3]> = y.iter().zip(&c).map(|(y, c)| [y[0], c[1], c[2]]).collect();
        assert!(joined == whole);
        // Each half alone is not the image: the split really divides the work.
        assert!(y != whole && c != whole);
    }

    #[test]
    fn other_files_are_not_split() {
        let jpeg = progressive_jpeg(64, 64);
        // Truncated, or without its end marker.
        assert!(split_luma_chroma(&jpeg[..jpeg.len() / 2]).is_none());
        assert!(split_luma_chroma(&jpeg[..jpeg.len() - 2]).is_none());
        // Baseline.
        let mut baseline = Vec::new();
        jpeg_encoder::Encoder::new(&mut baseline, 90)
            .encode(&[0u8; 64 * 64 * 3], 64, 64, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert!(split_luma_chroma(&baseline).is_none());
        // Grey progressive: one component.
        let mut grey = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut grey, 90);
        encoder.set_progressive(true);
        encoder
            .encode(&[7u8; 64 * 64], 64, 64, jpeg_encoder::ColorType::Luma)
            .unwrap();
        assert!(split_luma_chroma(&grey).is_none());
        assert!(split_luma_chroma(b"not a jpeg").is_none());
        for cut in 0..200 {
            let _ = split_luma_chroma(&jpeg[..cut]);
        }
    }
}
