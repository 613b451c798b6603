//! The marker segments of a JPEG held in memory, in file order: what both decoders that take
//! a JPEG apart (`reduced_jpeg`, `progressive_split`) walk through.

/// One marker segment: its marker, where it starts (its 0xFF) and ends, and its body (after
/// the length field). A marker that stands alone (SOI, EOI, RSTn, TEM) has an empty body.
pub struct Segment<'a> {
    pub marker: u8,
    pub start: usize,
    pub end: usize,
    pub body: &'a [u8],
}

/// A walk over the segments. It does not step over a scan's entropy-coded data: after a scan
/// header (SOS) the caller sets `pos` past it, or stops.
pub struct Markers<'a> {
    data: &'a [u8],
    /// Where the next segment (or fill bytes before it) starts.
    pub pos: usize,
}

impl<'a> Markers<'a> {
    /// The walk after the SOI marker; `None` when `data` does not start with one.
    pub fn after_soi(data: &'a [u8]) -> Option<Markers<'a>> {
        data.starts_with(&[0xFF, 0xD8])
            .then_some(Markers { data, pos: 2 })
    }

    /// The next segment, skipping the 0xFF fill bytes any marker may have before it.
    pub fn next_segment(&mut self) -> Result<Segment<'a>, &'static str> {
        let data = self.data;
        let mut start = self.pos;
        while data.get(start) == Some(&0xFF) && data.get(start + 1) == Some(&0xFF) {
            start += 1;
        }
        if data.get(start) != Some(&0xFF) {
            return Err("marker expected");
        }
        let marker = *data.get(start + 1).ok_or("header cut short")?;
        let (end, body) = if matches!(marker, 0x01 | 0xD0..=0xD9) {
            (start + 2, &data[start + 2..start + 2])
        } else {
            let len = data
                .get(start + 2..start + 4)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or("header cut short")?;
            if len < 2 {
                return Err("bad marker length");
            }
            let end = start + 2 + len;
            (end, data.get(start + 4..end).ok_or("header cut short")?)
        };
        self.pos = end;
        Ok(Segment {
            marker,
            start,
            end,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment as (marker, start, end, body).
    type Walked = (u8, usize, usize, Vec<u8>);

    fn walk(data: &[u8]) -> Vec<Result<Walked, &'static str>> {
        let mut markers = Markers::after_soi(data).expect("SOI");
        let mut out = Vec::new();
        while markers.pos < data.len() {
            let next = markers.next_segment();
            let stop = next.is_err();
            out.push(next.map(|s| (s.marker, s.start, s.end, s.body.to_vec())));
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn segments_come_with_their_bounds_fill_bytes_skipped_and_standalone_markers_bodiless() {
        let data = [
            0xFF, 0xD8, // SOI
            0xFF, 0xFE, 0x00, 0x04, b'h', b'i', // COM "hi"
            0xFF, 0xFF, 0xFF, 0xD9, // fill bytes, then EOI
        ];
        assert_eq!(
            walk(&data),
            vec![
                Ok((0xFE, 2, 8, b"hi".to_vec())),
                Ok((0xD9, 10, 12, Vec::new()))
            ]
        );
        assert!(Markers::after_soi(&data[2..]).is_none(), "no SOI");
    }

    #[test]
    fn broken_segments_are_errors() {
        let cases: [(&[u8], &str); 4] = [
            (&[0xFF, 0xD8, 0x00, 0xFE], "marker expected"),
            (&[0xFF, 0xD8, 0xFF, 0xFE, 0x00], "header cut short"),
            (&[0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x01], "bad marker length"),
            (
                &[0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x09, 1, 2],
                "header cut short",
            ),
        ];
        for (data, error) in cases {
            assert_eq!(walk(data), vec![Err(error)], "{data:?}");
        }
    }
}
