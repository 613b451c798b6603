//! Baseline JPEG decoded straight to 1/2, 3/8, 1/4 or 1/8 scale, its entropy decoding split
//! across cores.
//!
//! Why: for a thumbnail of a large JPEG nearly all the time goes into Huffman decoding, which
//! libjpeg does on one core. A scan with restart markers splits exactly at them; one without
//! has no marked way in.
//! Here the entropy-coded data is cut into one segment per core and each segment is decoded
//! from its cut on speculation. JPEG's Huffman codes resynchronise within a few blocks, so
//! where one segment's decoding (from the true start) reaches an MCU boundary at the same bit
//! position as an MCU boundary of the next segment's speculative decoding, everything the
//! next segment decoded from there on is right, except for the DC predictors, which differ
//! by a constant per component and are corrected in the final pass. Without such a match the
//! decoding carries on serially, so the result never depends on the speculation: it is the
//! same, bit for bit, for any number of segments.
//!
//! Each 8x8 block is reduced while it is decoded to s x s samples (s = 1, 2, 3, 4), each the
//! mean of the full-size IDCT over its square of 8/s x 8/s pixels (for s = 3, libjpeg's
//! 3-point IDCT of the lowest frequencies), a linear function of the coefficients
//! (`weights`): the Huffman loop stores each coefficient, and one pass per block weighs them
//! into the s x s samples.
//! The planes come back at their own resolution (chroma smaller when subsampled); the caller
//! resizes each to the thumbnail.
//!
//! Only what is common and simple is handled: 8-bit baseline or extended Huffman, one
//! interleaved scan, grey or YCbCr. Anything else, and any error, is
//! [`Unsupported`] or [`Invalid`]: the caller then uses libjpeg, which gives the verdict on
//! broken files, so this module never decides whether an upload is acceptable.
//!
//! [`Unsupported`]: ReduceError::Unsupported
//! [`Invalid`]: ReduceError::Invalid

use std::f32::consts::PI;

use super::jpeg_markers::Markers;

/// Why a JPEG is not decoded here (the caller falls back to libjpeg either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReduceError {
    /// A valid file this decoder does not handle (progressive, CMYK, 12-bit...).
    Unsupported(&'static str),
    /// The data is broken: truncated, a bad Huffman code, a table missing.
    Invalid(&'static str),
}

type Result<T> = std::result::Result<T, ReduceError>;

/// One decoded component, `scale`/8 of its own resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plane {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant: usize,
    dc_table: usize,
    ac_table: usize,
}

/// The headers of a baseline JPEG, and where its scan data is.
#[derive(Debug, Clone)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    components: Vec<Component>,
    quant: [Option<[u16; 64]>; 4],
    dc_tables: [Option<Huffman>; 4],
    ac_tables: [Option<Huffman>; 4],
    /// Byte offset of the entropy-coded data of the (only) scan.
    scan_start: usize,
    /// MCUs between restart markers; 0: none.
    restart_interval: usize,
}

fn be16(data: &[u8], at: usize) -> Result<usize> {
    match data.get(at..at + 2) {
        Some(b) => Ok(usize::from(u16::from_be_bytes([b[0], b[1]]))),
        None => Err(ReduceError::Invalid("header cut short")),
    }
}

impl Header {
    /// Reads the markers up to the first scan.
    pub fn parse(data: &[u8]) -> Result<Header> {
        let mut markers = Markers::after_soi(data).ok_or(ReduceError::Invalid("not a JPEG"))?;
        let mut header = Header {
            width: 0,
            height: 0,
            components: Vec::new(),
            quant: [None; 4],
            dc_tables: [None, None, None, None],
            ac_tables: [None, None, None, None],
            scan_start: 0,
            restart_interval: 0,
        };
        let mut adobe_transform = None;
        loop {
            let segment = markers.next_segment().map_err(ReduceError::Invalid)?;
            let body = segment.body;
            match segment.marker {
                0xC0 | 0xC1 => header.read_frame(body)?,
                0xC2..=0xCF if !matches!(segment.marker, 0xC4 | 0xC8 | 0xCC) => {
                    return Err(ReduceError::Unsupported("not a baseline Huffman JPEG"))
                }
                0xC4 => header.read_huffman(body)?,
                0xCC => return Err(ReduceError::Unsupported("arithmetic coding")),
                0xDB => header.read_quant(body)?,
                0xDD => header.restart_interval = be16(body, 0)?,
                0xEE if body.starts_with(b"Adobe") && body.len() >= 12 => {
                    adobe_transform = Some(body[11]);
                }
                0xDA => {
                    header.read_scan(body)?;
                    header.scan_start = segment.end;
                    break;
                }
                0xD8 | 0xD9 | 0x01 | 0xD0..=0xD7 => {
                    return Err(ReduceError::Invalid("unexpected marker"))
                }
                _ => {} // APPn, COM and the rest: not needed here.
            }
        }
        match header.components.len() {
            1 => {}
            3 => {
                let ids: Vec<u8> = header.components.iter().map(|c| c.id).collect();
                if adobe_transform == Some(0) || ids == b"RGB" {
                    return Err(ReduceError::Unsupported("RGB JPEG"));
                }
            }
            _ => return Err(ReduceError::Unsupported("neither grey nor YCbCr")),
        }
        Ok(header)
    }

    fn read_frame(&mut self, body: &[u8]) -> Result<()> {
        if !self.components.is_empty() {
            return Err(ReduceError::Invalid("two frames"));
        }
        if body.first() != Some(&8) {
            return Err(ReduceError::Unsupported("not 8-bit"));
        }
        self.height = be16(body, 1)? as u32;
        self.width = be16(body, 3)? as u32;
        if self.width == 0 || self.height == 0 {
            return Err(ReduceError::Unsupported("no size in the frame header"));
        }
        let count = usize::from(*body.get(5).ok_or(ReduceError::Invalid("frame cut short"))?);
        for i in 0..count {
            let c = body
                .get(6 + 3 * i..9 + 3 * i)
                .ok_or(ReduceError::Invalid("frame cut short"))?;
            let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            if !matches!(h, 1 | 2) || !matches!(v, 1 | 2) || c[2] > 3 {
                return Err(ReduceError::Unsupported("sampling factors"));
            }
            self.components.push(Component {
                id: c[0],
                h,
                v,
                quant: usize::from(c[2]),
                dc_table: 0,
                ac_table: 0,
            });
        }
        if self.components.iter().skip(1).any(|c| c.h != 1 || c.v != 1) {
            return Err(ReduceError::Unsupported("subsampled luma"));
        }
        Ok(())
    }

    fn read_quant(&mut self, mut body: &[u8]) -> Result<()> {
        while let Some((&pq_tq, rest)) = body.split_first() {
            let (precision, id) = (pq_tq >> 4, usize::from(pq_tq & 15));
            let size = if precision == 0 { 64 } else { 128 };
            if id > 3 || precision > 1 || rest.len() < size {
                return Err(ReduceError::Invalid("bad quantisation table"));
            }
            let mut table = [0u16; 64];
            for (k, q) in table.iter_mut().enumerate() {
                *q = if precision == 0 {
                    u16::from(rest[k])
                } else {
                    u16::from_be_bytes([rest[2 * k], rest[2 * k + 1]])
                };
            }
            self.quant[id] = Some(table);
            body = &rest[size..];
        }
        Ok(())
    }

    fn read_huffman(&mut self, mut body: &[u8]) -> Result<()> {
        while let Some((&tc_th, rest)) = body.split_first() {
            let (class, id) = (tc_th >> 4, usize::from(tc_th & 15));
            let counts: [u8; 16] = rest
                .get(..16)
                .and_then(|c| c.try_into().ok())
                .ok_or(ReduceError::Invalid("bad Huffman table"))?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let symbols = rest
                .get(16..16 + total)
                .ok_or(ReduceError::Invalid("bad Huffman table"))?;
            if id > 3 || class > 1 {
                return Err(ReduceError::Invalid("bad Huffman table"));
            }
            let table = Huffman::new(&counts, symbols)?;
            if class == 0 {
                self.dc_tables[id] = Some(table);
            } else {
                self.ac_tables[id] = Some(table);
            }
            body = &rest[16 + total..];
        }
        Ok(())
    }

    fn read_scan(&mut self, body: &[u8]) -> Result<()> {
        if self.components.is_empty() {
            return Err(ReduceError::Invalid("scan before frame"));
        }
        let count = usize::from(*body.first().ok_or(ReduceError::Invalid("bad scan"))?);
        if count != self.components.len() {
            return Err(ReduceError::Unsupported("more than one scan"));
        }
        for i in 0..count {
            let s = body
                .get(1 + 2 * i..3 + 2 * i)
                .ok_or(ReduceError::Invalid("bad scan"))?;
            // Scan components come in frame order in every file seen; others go to libjpeg.
            let c = &mut self.components[i];
            if c.id != s[0] {
                return Err(ReduceError::Unsupported(
                    "scan order differs from frame order",
                ));
            }
            c.dc_table = usize::from(s[1] >> 4);
            c.ac_table = usize::from(s[1] & 15);
            if c.dc_table > 3 || c.ac_table > 3 {
                return Err(ReduceError::Invalid("bad scan"));
            }
        }
        let tail = body
            .get(1 + 2 * count..4 + 2 * count)
            .ok_or(ReduceError::Invalid("bad scan"))?;
        if tail != [0, 63, 0] {
            return Err(ReduceError::Unsupported("not a sequential scan"));
        }
        Ok(())
    }

    /// How many threads the scan of a `file_len`-byte file would be split across, at most
    /// `threads`. With one, libjpeg is faster: this decoder wins by splitting.
    pub fn segments(&self, file_len: usize, threads: usize) -> usize {
        segment_count(file_len.saturating_sub(self.scan_start), threads)
    }

    /// The most memory `decode` may allocate for a `file_len`-byte file: the file, the planes,
    /// and for every segment room for every MCU (a speculative segment decoding garbage may
    /// record as many as the image has), its start state, DC values and samples, twice over
    /// since a vector grows by doubling.
    pub fn memory_needed(&self, file_len: usize, scale: usize, threads: usize) -> Result<u64> {
        let layout = Layout::new(self, scale)?;
        let blocks = layout.blocks.len() as u64;
        let per_mcu =
            std::mem::size_of::<State>() as u64 + blocks * 4 * (1 + (scale * scale) as u64);
        let segments = self.segments(file_len, threads) as u64;
        let planes: u64 = layout.sizes.iter().map(|&(w, h)| (w * h) as u64).sum();
        let segments = 2 * segments * layout.mcus() as u64 * per_mcu;
        Ok(file_len as u64 + PADDING as u64 + segments + planes)
    }

    /// Decodes the image to `scale`/8 (1 to 4) of each component's resolution, using up
    /// to `threads` threads. `data` is the whole file (it is overwritten: the scan data is
    /// unstuffed in place).
    pub fn decode(&self, mut data: Vec<u8>, scale: usize, threads: usize) -> Result<Vec<Plane>> {
        let layout = Layout::new(self, scale)?;
        let mut restarts = Vec::new();
        let scan_len = unstuff_in_place(&mut data, self.scan_start, &mut restarts)?;
        if self.restart_interval == 0 && !restarts.is_empty() {
            return Err(ReduceError::Invalid(
                "restart marker without a restart interval",
            ));
        }
        data.truncate(self.scan_start + scan_len);
        // Padding: a block never reads more than 2,048 bits past its start.
        data.extend_from_slice(&[0; PADDING]);
        let scan = Scan {
            data: &data[self.scan_start..],
            bits: scan_len * 8,
            layout: &layout,
            restarts: &restarts,
        };
        let (segments, parts) = scan.decode_segments(threads)?;
        Ok(layout.compose(&segments, &parts))
    }
}

const PADDING: usize = 512;

/// Room to leave after a file's bytes in the vector given to [`Header::decode`], so that
/// padding the scan does not reallocate (and copy) the whole file.
pub const SPARE_CAPACITY: usize = PADDING;

/// Removes the 0x00 stuffed after every 0xFF of the scan starting at `start`, and its restart
/// markers, moving the scan data to the front of `data[start..]`; stops at the first other
/// marker. Returns the scan's length; `restarts` gets the offset in it where each restart
/// interval after the first begins.
fn unstuff_in_place(data: &mut [u8], start: usize, restarts: &mut Vec<usize>) -> Result<usize> {
    let (mut read, mut write) = (start, start);
    loop {
        let Some(found) = memchr::memchr(0xFF, &data[read..]) else {
            data.copy_within(read.., write);
            return Ok(write + (data.len() - read) - start);
        };
        let ff = read + found;
        data.copy_within(read..ff, write);
        write += ff - read;
        match data.get(ff + 1) {
            Some(&0x00) => {
                data[write] = 0xFF;
                write += 1;
                read = ff + 2;
            }
            Some(&marker @ 0xD0..=0xD7) => {
                // RST0..RST7 in turn; another number means data went missing.
                if usize::from(marker - 0xD0) != restarts.len() % 8 {
                    return Err(ReduceError::Invalid("restart marker out of sequence"));
                }
                restarts.push(write - start);
                read = ff + 2;
            }
            // Another marker (or fill bytes before one): the end of the scan.
            _ => return Ok(write - start),
        }
    }
}

/// A Huffman table: a lookup on the next `FAST_BITS` bits for the short codes (nearly all of
/// them), canonical decoding for the longer ones.
#[derive(Debug, Clone)]
struct Huffman {
    /// `(length << 8) | symbol` for codes up to `FAST_BITS` long, 0 otherwise.
    lookup: Box<[u16; 1 << FAST_BITS]>,
    /// For AC coefficients: where a code and its value bits fit in `FAST_BITS` together,
    /// the whole step in one entry, `value << 8 | run << 4 | length of both`; 0 otherwise.
    /// The common coefficient then costs one lookup and one shift, with no branch on its
    /// size or sign.
    coefficient: Box<[i32; 1 << FAST_BITS]>,
    /// Largest code of each length (1..=16), left-aligned to 16 bits, or -1.
    maxcode: [i32; 18],
    /// Index into `symbols` of the first code of each length, minus that code.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

const FAST_BITS: u32 = 10;

impl Huffman {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Huffman> {
        let mut lookup = Box::new([0u16; 1 << FAST_BITS]);
        let mut maxcode = [-1i32; 18];
        let mut offset = [0i32; 17];
        let mut code: u32 = 0;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = u32::from(counts[len as usize - 1]);
            offset[len as usize] = k as i32 - code as i32;
            for _ in 0..n {
                if code >= 1 << len {
                    return Err(ReduceError::Invalid("bad Huffman table"));
                }
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let first = (code << shift) as usize;
                    lookup[first..first + (1 << shift)]
                        .fill(((len as u16) << 8) | u16::from(symbols[k]));
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len as usize] = ((code - 1) << (16 - len)) as i32 | ((1 << (16 - len)) - 1);
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX;
        let mut coefficient = Box::new([0i32; 1 << FAST_BITS]);
        for (index, (&entry, step)) in lookup.iter().zip(coefficient.iter_mut()).enumerate() {
            let (len, symbol) = (u32::from(entry >> 8), entry as u8);
            let (run, size) = (i32::from(symbol >> 4), u32::from(symbol & 15));
            // Length 0 is no code here; size 0 is an end of block or a run of sixteen zeros.
            if len == 0 || size == 0 || len + size > FAST_BITS {
                continue;
            }
            let bits = (index as u32 >> (FAST_BITS - len - size)) & ((1 << size) - 1);
            *step = extend(bits, size) << 8 | run << 4 | (len + size) as i32;
        }
        Ok(Huffman {
            lookup,
            coefficient,
            maxcode,
            offset,
            symbols: symbols.to_vec(),
        })
    }
}

/// JPEG's sign extension of a `size`-bit (1..=15) magnitude category value. Branch-free:
/// the sign of a coefficient is a coin toss, and a branch on it would be mispredicted half
/// the time.
#[inline(always)]
fn extend(bits: u32, size: u32) -> i32 {
    let negative = (bits >> (size - 1)) ^ 1; // top bit clear: negative
    bits as i32 + ((negative as i32).wrapping_neg() & ((-1i32 << size) + 1))
}

/// Reads the unstuffed scan from any bit position, big-endian as JPEG writes it: a 64-bit
/// buffer with its valid bits at the top, refilled eight bytes at a time.
struct Bits<'a> {
    data: &'a [u8],
    buf: u64,
    count: u32,
    /// Next byte to load.
    next: usize,
}

impl<'a> Bits<'a> {
    fn at(data: &'a [u8], pos: usize) -> Bits<'a> {
        let mut bits = Bits {
            data,
            buf: 0,
            count: 0,
            next: pos >> 3,
        };
        bits.refill();
        bits.consume((pos & 7) as u32);
        bits
    }

    /// The bit position of the next unread bit.
    fn pos(&self) -> usize {
        self.next * 8 - self.count as usize
    }

    /// Leaves at least 56 bits in the buffer (zeros past the end of the data).
    #[inline(always)]
    fn refill(&mut self) {
        let word = self
            .data
            .get(self.next..self.next + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        self.buf |= word >> self.count;
        self.next += (63 - self.count as usize) >> 3;
        self.count |= 56;
    }

    /// The next `n` bits (1..=16); the buffer must hold them.
    #[inline(always)]
    fn peek(&self, n: u32) -> u32 {
        (self.buf >> (64 - n)) as u32
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// The next Huffman code's length and symbol, not consumed; the buffer must hold 16 bits.
    #[inline(always)]
    fn code(&self, table: &Huffman) -> Result<(u32, u8)> {
        let entry = table.lookup[self.peek(FAST_BITS) as usize];
        if entry != 0 {
            return Ok((u32::from(entry >> 8), entry as u8));
        }
        let code = self.peek(16) as i32;
        let mut len = FAST_BITS as usize + 1;
        while code > table.maxcode[len] {
            len += 1;
        }
        if len > 16 {
            return Err(ReduceError::Invalid("bad Huffman code"));
        }
        let index = (code >> (16 - len)) + table.offset[len];
        match table.symbols.get(index as usize) {
            Some(&symbol) => Ok((len as u32, symbol)),
            None => Err(ReduceError::Invalid("bad Huffman code")),
        }
    }

    /// A Huffman code and the `symbol & 15` value bits after it, as (symbol, value); the
    /// buffer must hold 32 bits.
    #[inline(always)]
    fn coded_value(&mut self, table: &Huffman) -> Result<(u8, i32)> {
        let (len, symbol) = self.code(table)?;
        let size = u32::from(symbol & 15);
        if size == 0 {
            self.consume(len);
            return Ok((symbol, 0));
        }
        let bits = ((self.buf << len) >> (64 - size)) as u32;
        self.consume(len + size);
        Ok((symbol, extend(bits, size)))
    }
}

/// Zig-zag index -> row-major index in the 8x8 block.
const NATURAL: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// `weights(s)[i][u]`: what the 1-D IDCT basis function `u` (with its 1/2 C(u) factor) adds
/// to output sample `i`, so that a block reduced to s x s samples is
/// `out[i][j] = sum over v, u of F[v][u] * w[i][v] * w[j][u]`. Where s divides 8 it is the
/// basis function's mean over the sample's 8/s pixels; for 3 it is libjpeg's 3-point IDCT
/// of the three lowest frequencies (its 3/8 scaling), there being no whole pixels to average.
fn weights(s: usize) -> [[f32; 8]; 4] {
    let mut w = [[0f32; 8]; 4];
    for (i, row) in w.iter_mut().enumerate().take(s) {
        for (u, weight) in row.iter_mut().enumerate() {
            let c = if u == 0 { 0.5 / 2f32.sqrt() } else { 0.5 };
            let value = if 8 % s == 0 {
                let group = 8 / s;
                let sum: f32 = (i * group..(i + 1) * group)
                    .map(|x| (((2 * x + 1) * u) as f32 * PI / 16.0).cos())
                    .sum();
                c * sum / group as f32
            } else if u < s {
                c * (((2 * i + 1) * u) as f32 * PI / (2 * s) as f32).cos()
            } else {
                0.0
            };
            // Exact zeros stay zeros, so useless coefficients are skipped.
            *weight = if value.abs() < 1e-6 { 0.0 } else { value };
        }
    }
    w
}

/// Fixed-point fraction bits of the stored AC part of each sample.
const FRACTION: u32 = 8;

/// Per component: what each decoded coefficient adds to the reduced block.
#[derive(Debug, Clone)]
struct ComponentPlan<'h> {
    dc_table: &'h Huffman,
    ac_table: &'h Huffman,
    /// DC quantiser times the DC weight, in fixed point: `DC * dc_scale` is its share of each
    /// sample. Exact: the DC weight squared is 1/8.
    dc_scale: i32,
    /// Per zig-zag index k = (v, u): what the quantised coefficient adds to each sample
    /// `i * s + j` of the reduced block, `q[k] * w[i][v] * w[j][u]` (zero where it adds
    /// nothing: multiplying by zero is cheaper than a branch mispredicted half the time).
    ac: Vec<[f32; 16]>,
    /// The zig-zag indices whose weights are not all zero, ascending: the only ones the
    /// per-block pass needs to visit (25 of 63 at 1/4 scale).
    reaching: Vec<usize>,
}

/// Where blocks go: the MCU structure and the output planes' sizes.
#[derive(Debug)]
struct Layout<'h> {
    header: &'h Header,
    scale: usize,
    plans: Vec<ComponentPlan<'h>>,
    mcus_x: usize,
    mcus_y: usize,
    /// Blocks per MCU, and for each: (component, block column, block row) within the MCU.
    blocks: Vec<(usize, usize, usize)>,
    /// Output plane sizes, in samples.
    sizes: Vec<(usize, usize)>,
}

impl<'h> Layout<'h> {
    fn new(header: &'h Header, scale: usize) -> Result<Layout<'h>> {
        if !matches!(scale, 1..=4) {
            return Err(ReduceError::Unsupported("scale"));
        }
        let weights = weights(scale);
        let (w, h) = (header.width as usize, header.height as usize);
        let hmax = header.components.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = header.components.iter().map(|c| c.v).max().unwrap_or(1);
        let single = header.components.len() == 1;
        // A single-component scan is not interleaved: its MCU is one block, whatever the
        // sampling factors say.
        let (mcus_x, mcus_y) = if single {
            (w.div_ceil(8), h.div_ceil(8))
        } else {
            (w.div_ceil(8 * hmax), h.div_ceil(8 * vmax))
        };
        let mut plans = Vec::new();
        let mut blocks = Vec::new();
        let mut sizes = Vec::new();
        for (ci, c) in header.components.iter().enumerate() {
            let quant = header.quant[c.quant].ok_or(ReduceError::Invalid("table missing"))?;
            let missing = ReduceError::Invalid("table missing");
            let dc_table = header.dc_tables[c.dc_table]
                .as_ref()
                .ok_or(missing.clone())?;
            let ac_table = header.ac_tables[c.ac_table].as_ref().ok_or(missing)?;
            let mut ac = vec![[0f32; 16]; 64];
            for (k, entry) in ac.iter_mut().enumerate().skip(1) {
                let (v, u) = (NATURAL[k] / 8, NATURAL[k] % 8);
                for i in 0..scale {
                    for j in 0..scale {
                        entry[i * scale + j] = f32::from(quant[k]) * weights[i][v] * weights[j][u];
                    }
                }
            }
            let reaching = (1..64)
                .filter(|&k| ac[k].iter().any(|&w| w != 0.0))
                .collect();
            plans.push(ComponentPlan {
                dc_table,
                ac_table,
                reaching,
                dc_scale: i32::from(quant[0]) << (FRACTION - 3),
                ac,
            });
            let (bh, bv) = if single { (1, 1) } else { (c.h, c.v) };
            for row in 0..bv {
                for col in 0..bh {
                    blocks.push((ci, col, row));
                }
            }
            let (cw, ch) = (
                (w * c.h).div_ceil(hmax) * scale,
                (h * c.v).div_ceil(vmax) * scale,
            );
            sizes.push((cw.div_ceil(8), ch.div_ceil(8)));
        }
        if blocks.len() > 10 {
            return Err(ReduceError::Invalid("too many blocks per MCU"));
        }
        Ok(Layout {
            header,
            scale,
            plans,
            mcus_x,
            mcus_y,
            blocks,
            sizes,
        })
    }

    fn mcus(&self) -> usize {
        self.mcus_x * self.mcus_y
    }

    /// Samples per MCU in a segment's output: `s * s` per block.
    fn samples_per_mcu(&self) -> usize {
        self.blocks.len() * self.scale * self.scale
    }

    /// Writes the segments' MCUs, spliced, into planes.
    fn compose(&self, segments: &[Segment], parts: &[Part]) -> Vec<Plane> {
        let s = self.scale;
        let mut planes: Vec<Plane> = self
            .sizes
            .iter()
            .map(|&(w, h)| Plane {
                width: w as u32,
                height: h as u32,
                data: vec![0; w * h],
            })
            .collect();
        let per_mcu = self.samples_per_mcu();
        let nblocks = self.blocks.len();
        let single = self.header.components.len() == 1;
        let mut mcu = 0usize;
        for part in parts {
            let segment = &segments[part.segment];
            for local in part.first..part.first + part.count {
                let (mx, my) = (mcu % self.mcus_x, mcu / self.mcus_x);
                let samples = &segment.samples[local * per_mcu..(local + 1) * per_mcu];
                let dcs = &segment.dc[local * nblocks..(local + 1) * nblocks];
                for (b, &(ci, col, row)) in self.blocks.iter().enumerate() {
                    let plan = &self.plans[ci];
                    // Wrapping, like the predictors: hostile data may overflow, and then the
                    // picture is garbage but nothing panics.
                    let dc = dcs[b]
                        .wrapping_add(part.dc_delta[ci])
                        .wrapping_mul(plan.dc_scale);
                    let c = &self.header.components[ci];
                    let (bh, bv) = if single { (1, 1) } else { (c.h, c.v) };
                    let x0 = (mx * bh + col) * s;
                    let y0 = (my * bv + row) * s;
                    let plane = &mut planes[ci];
                    let (pw, ph) = (plane.width as usize, plane.height as usize);
                    for i in 0..s {
                        let y = y0 + i;
                        if y >= ph {
                            break;
                        }
                        for j in 0..s {
                            let x = x0 + j;
                            if x >= pw {
                                break;
                            }
                            let fixed = samples[b * s * s + i * s + j].wrapping_add(dc);
                            let rounded = fixed.saturating_add(1 << (FRACTION - 1)) >> FRACTION;
                            let value = rounded + 128;
                            plane.data[y * pw + x] = value.clamp(0, 255) as u8;
                        }
                    }
                }
                mcu += 1;
            }
        }
        planes
    }
}

/// The decoder state at an MCU boundary: all that decoding on from there depends on.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    pos: usize,
    dc: [i32; 3],
}

/// What one thread decoded from one starting point: per MCU its start state, and its blocks
/// (DC values and reduced AC samples).
#[derive(Debug, Default)]
struct Segment {
    starts: Vec<State>,
    /// The state after the last MCU.
    end: State,
    /// Absolute DC coefficient of every block, in this segment's predictor frame.
    dc: Vec<i32>,
    samples: Vec<i32>,
    /// MCU indices at which speculative decoding restarted after an error: the MCU before
    /// such an index does not run on into the one at it.
    breaks: Vec<usize>,
    /// Set when a trusted decoding stopped on an error.
    error: Option<ReduceError>,
}

impl Segment {
    /// Whether MCUs `first..=last` follow one another without a restart between them.
    fn continuous(&self, first: usize, last: usize) -> bool {
        !self.breaks.iter().any(|&b| b > first && b <= last)
    }
}

/// A run of MCUs of a segment that belongs in the image, and the DC correction it needs.
#[derive(Debug)]
struct Part {
    segment: usize,
    first: usize,
    count: usize,
    dc_delta: [i32; 3],
}

struct Scan<'a> {
    data: &'a [u8],
    bits: usize,
    layout: &'a Layout<'a>,
    /// Byte offsets of the restart intervals after the first.
    restarts: &'a [usize],
}

/// How far a segment decodes past the next one's start, looking for the bit position at
/// which the two agree. Resynchronisation takes a few blocks in practice; past this the
/// decoding goes on serially.
const OVERRUN_BITS: usize = 64 * 1024 * 8;
/// Below this, a segment is not worth a thread.
const MIN_SEGMENT_BYTES: usize = 256 * 1024;

fn segment_count(scan_bytes: usize, threads: usize) -> usize {
    threads
        .clamp(1, 16)
        .min((scan_bytes / MIN_SEGMENT_BYTES).max(1))
}

impl Scan<'_> {
    fn decode_segments(&self, threads: usize) -> Result<(Vec<Segment>, Vec<Part>)> {
        if self.layout.header.restart_interval > 0 {
            return self.decode_intervals(threads);
        }
        let total = self.layout.mcus();
        let count = segment_count(self.bits / 8, threads);
        let cuts: Vec<usize> = (0..count).map(|i| self.bits / 8 * i / count * 8).collect();
        // Segment i decodes from cut i to a little past cut i + 1; segment 0 is the truth.
        let stop = |i: usize| cuts.get(i + 1).map_or(usize::MAX, |&c| c + OVERRUN_BITS);
        let start = |i: usize| State {
            pos: cuts[i],
            dc: [0; 3],
        };
        let segments: Vec<Segment> = if count == 1 {
            vec![self.decode_from(start(0), stop(0), total, false)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (1..count)
                    .map(|i| scope.spawn(move || self.decode_from(start(i), stop(i), total, true)))
                    .collect();
                let first = self.decode_from(start(0), stop(0), total, false);
                std::iter::once(first)
                    .chain(handles.into_iter().map(|h| {
                        // A panic is a bug here, not a property of the file; without the
                        // segment the splice simply decodes that stretch serially.
                        h.join().unwrap_or_default()
                    }))
                    .collect()
            })
        };
        self.splice(segments, total)
    }

    /// With restart markers the scan splits exactly: each interval starts on a known byte
    /// with the predictors at zero. Groups of intervals go to the threads; every interval
    /// must hold its MCUs and end before the next one starts.
    fn decode_intervals(&self, threads: usize) -> Result<(Vec<Segment>, Vec<Part>)> {
        let total = self.layout.mcus();
        let interval = self.layout.header.restart_interval;
        let intervals = total.div_ceil(interval);
        if self.restarts.len() + 1 != intervals {
            return Err(ReduceError::Invalid("restart markers missing or extra"));
        }
        let starts: Vec<usize> = std::iter::once(0)
            .chain(self.restarts.iter().map(|&byte| byte * 8))
            .chain(std::iter::once(self.bits))
            .collect();
        let decode = |i: usize| {
            let mcus = interval.min(total - i * interval);
            let start = State {
                pos: starts[i],
                dc: [0; 3],
            };
            let segment = self.decode_from(start, usize::MAX, mcus, false);
            let whole = segment.error.is_none()
                && segment.starts.len() == mcus
                && segment.end.pos <= starts[i + 1];
            whole.then_some(segment)
        };
        let groups = segment_count(self.bits / 8, threads).min(intervals);
        let bounds = |g: usize| (intervals * g / groups, intervals * (g + 1) / groups);
        let decode_group = |g: usize| {
            let (first, end) = bounds(g);
            (first..end).map(decode).collect::<Option<Vec<_>>>()
        };
        let decoded: Vec<Option<Vec<Segment>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..groups)
                .map(|g| scope.spawn(move || decode_group(g)))
                .collect();
            std::iter::once(decode_group(0))
                .chain(handles.into_iter().map(|h| h.join().ok().flatten()))
                .collect()
        });
        let mut segments = Vec::with_capacity(intervals);
        for group in decoded {
            segments.extend(group.ok_or(ReduceError::Invalid("broken restart interval"))?);
        }
        let parts = segments
            .iter()
            .enumerate()
            .map(|(i, segment)| Part {
                segment: i,
                first: 0,
                count: segment.starts.len(),
                dc_delta: [0; 3],
            })
            .collect();
        Ok((segments, parts))
    }

    /// Chains the segments into the image's MCUs: each trusted segment runs until its first
    /// MCU boundary that the next segment also has; the next is trusted from there. Where
    /// none is found, decoding goes on serially from the trusted segment's end.
    fn splice(
        &self,
        mut segments: Vec<Segment>,
        total: usize,
    ) -> Result<(Vec<Segment>, Vec<Part>)> {
        let speculative = segments.len();
        let mut parts = Vec::new();
        let mut placed = 0;
        let (mut current, mut first, mut dc_delta) = (0, 0, [0i32; 3]);
        loop {
            let seg = &segments[current];
            let next = (current + 1 < speculative).then(|| &segments[current + 1]);
            let matched = next.and_then(|next| {
                let (a, b) = (&seg.starts, &next.starts);
                let (mut i, mut j) = (first, 0);
                while i < a.len() && j < b.len() {
                    match a[i].pos.cmp(&b[j].pos) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => return Some((i, j)),
                    }
                }
                None
            });
            let end = matched.map_or(seg.starts.len(), |(i, _)| i);
            let count = (end - first).min(total - placed);
            // The MCUs used must follow one another, and so must the last one and the MCU at
            // which the next segment takes over.
            let last = if matched.is_some() && count == end - first {
                end
            } else {
                (first + count).saturating_sub(1)
            };
            if !seg.continuous(first, last) {
                return Err(ReduceError::Invalid("broken entropy-coded data"));
            }
            parts.push(Part {
                segment: current,
                first,
                count,
                dc_delta,
            });
            placed += count;
            if placed == total {
                return Ok((segments, parts));
            }
            match matched {
                Some((i, j)) => {
                    let (ours, theirs) = (seg.starts[i].dc, segments[current + 1].starts[j].dc);
                    for c in 0..3 {
                        dc_delta[c] = ours[c].wrapping_add(dc_delta[c]).wrapping_sub(theirs[c]);
                    }
                    current += 1;
                    first = j;
                }
                None => {
                    if let Some(error) = &seg.error {
                        return Err(error.clone());
                    }
                    if count == 0 && current >= speculative {
                        return Err(ReduceError::Invalid("data cut short"));
                    }
                    let mut state = seg.end;
                    for (dc, delta) in state.dc.iter_mut().zip(dc_delta) {
                        *dc = dc.wrapping_add(delta);
                    }
                    let rest = self.decode_from(state, usize::MAX, total - placed, false);
                    segments.push(rest);
                    (current, first, dc_delta) = (segments.len() - 1, 0, [0; 3]);
                }
            }
        }
    }

    /// Decodes MCUs from `state` until a start at or past `stop` (a bit position), `limit`
    /// MCUs, or the end of the data. Speculative decoding restarts after an error, at the
    /// position it reached; a trusted one ends there.
    fn decode_from(
        &self,
        mut state: State,
        stop: usize,
        limit: usize,
        speculative: bool,
    ) -> Segment {
        let layout = self.layout;
        let s2 = layout.scale * layout.scale;
        let nblocks = layout.blocks.len();
        let mut seg = Segment::default();
        let mut block = Block::new(layout.scale);
        let mut samples = [0i32; 10 * 16];
        let mut dcs = [0i32; 10];
        let mut bits = Bits::at(self.data, state.pos);
        'mcus: while seg.starts.len() < limit && state.pos < stop.min(self.bits) {
            let begin = state;
            for (b, &(ci, _, _)) in layout.blocks.iter().enumerate() {
                let out = &mut samples[b * s2..(b + 1) * s2];
                let mut result = block.decode(&mut bits, &layout.plans[ci], &mut state.dc[ci], out);
                if result.is_ok() && bits.pos() > self.bits {
                    result = Err(ReduceError::Invalid("data cut short"));
                }
                if let Err(error) = result {
                    if !speculative || bits.pos() >= self.bits {
                        if !speculative {
                            seg.error = Some(error);
                        }
                        break 'mcus;
                    }
                    // Resume where decoding failed, predictors unknown.
                    state = State {
                        pos: bits.pos().max(state.pos + 1),
                        dc: [0; 3],
                    };
                    bits = Bits::at(self.data, state.pos);
                    seg.breaks.push(seg.starts.len());
                    continue 'mcus;
                }
                dcs[b] = state.dc[ci];
            }
            seg.starts.push(begin);
            seg.dc.extend_from_slice(&dcs[..nblocks]);
            seg.samples.extend_from_slice(&samples[..nblocks * s2]);
            state.pos = bits.pos();
            seg.end = state;
        }
        seg
    }
}

/// One block's decoding into its reduced samples.
struct Block {
    scale: usize,
    /// The block's AC coefficients by zig-zag index (zero past the last one decoded): the
    /// Huffman loop only stores them, and `reduce` weighs them all in one pass, so no
    /// coefficient waits on the previous one's arithmetic.
    coefficients: [f32; 64],
}

impl Block {
    fn new(scale: usize) -> Block {
        Block {
            scale,
            coefficients: [0.0; 64],
        }
    }

    #[inline(always)]
    fn decode(
        &mut self,
        bits: &mut Bits<'_>,
        plan: &ComponentPlan<'_>,
        dc_pred: &mut i32,
        out: &mut [i32],
    ) -> Result<()> {
        let (dc_table, ac_table) = (plan.dc_table, plan.ac_table);
        bits.refill();
        let (size, diff) = bits.coded_value(dc_table)?;
        if size > 11 {
            return Err(ReduceError::Invalid("bad DC value"));
        }
        *dc_pred = dc_pred.wrapping_add(diff);
        let mut last = 0;
        let mut k = 1usize;
        while k < 64 {
            if bits.count < 32 {
                bits.refill();
            }
            let step = ac_table.coefficient[bits.peek(FAST_BITS) as usize];
            if step != 0 {
                bits.consume((step & 15) as u32);
                k += ((step >> 4) & 15) as usize;
                if k > 63 {
                    return Err(ReduceError::Invalid("coefficient out of the block"));
                }
                self.coefficients[k] = (step >> 8) as f32;
                last = k;
                k += 1;
                continue;
            }
            let (rs, value) = bits.coded_value(ac_table)?;
            if rs & 15 == 0 {
                if rs == 0xF0 {
                    k += 16; // sixteen zeros
                    continue;
                }
                break; // end of block
            }
            k += usize::from(rs >> 4);
            if k > 63 {
                return Err(ReduceError::Invalid("coefficient out of the block"));
            }
            self.coefficients[k] = value as f32;
            last = k;
            k += 1;
        }
        if k > 64 {
            return Err(ReduceError::Invalid("coefficient out of the block"));
        }
        match self.scale {
            2 => self.reduce::<4>(last, plan, out),
            3 => self.reduce::<9>(last, plan, out),
            4 => self.reduce::<16>(last, plan, out),
            // At 1/8 a block is its DC: every AC weight is zero.
            _ => out.fill(0),
        }
        Ok(())
    }

    /// The AC part of the `N` = s x s samples, in fixed point; clears the coefficients.
    #[inline(always)]
    fn reduce<const N: usize>(&mut self, last: usize, plan: &ComponentPlan<'_>, out: &mut [i32]) {
        let mut acc = [0f32; N];
        for &k in plan.reaching.iter().take_while(|&&k| k <= last) {
            let c = self.coefficients[k];
            for (a, w) in acc.iter_mut().zip(&plan.ac[k]) {
                *a += c * w;
            }
        }
        self.coefficients[1..=last].fill(0.0);
        for (o, a) in out.iter_mut().zip(acc) {
            // Rounded half away from zero; `as` saturates, and is not a libm call.
            let x = a * (1 << FRACTION) as f32;
            *o = (x + 0.5f32.copysign(x)) as i32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth gradient with noise on top: realistic enough for the IDCT, and the noise
    /// makes the scan large enough to split.
    fn photo(w: u32, h: u32, noise: u32) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n =
                    |shift: u32| ((state >> shift) as u32 % (2 * noise + 1)) as i32 - noise as i32;
                let base = [x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)];
                for (c, b) in base.iter().enumerate() {
                    data.push((*b as i32 + n(8 * c as u32)).clamp(0, 255) as u8);
                }
            }
        }
        data
    }

    /// An RGB image as a q92 JPEG, with the encoder set up by `configure`.
    fn encode_with(
        rgb: &[u8],
        w: u32,
        h: u32,
        configure: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 92);
        configure(&mut encoder);
        encoder
            .encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    fn encode(rgb: &[u8], w: u32, h: u32, sampling: jpeg_encoder::SamplingFactor) -> Vec<u8> {
        encode_with(rgb, w, h, |e| e.set_sampling_factor(sampling))
    }

    fn grey(w: u32, h: u32) -> Vec<u8> {
        let rgb = photo(w, h, 30);
        let luma: Vec<u8> = rgb.chunks(3).map(|p| p[1]).collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 92)
            .encode(&luma, w as u16, h as u16, jpeg_encoder::ColorType::Luma)
            .unwrap();
        out
    }

    fn decode(jpeg: &[u8], scale: usize, threads: usize) -> Result<Vec<Plane>> {
        Header::parse(jpeg)?.decode(jpeg.to_vec(), scale, threads)
    }

    /// libjpeg's own DCT-scaled decode (scale/8), channel `channel` of its YCbCr output.
    fn libjpeg_channel(jpeg: &[u8], scale: usize, channel: usize) -> (usize, usize, Vec<u8>) {
        let mut dec = mozjpeg::Decompress::new_mem(jpeg).unwrap();
        dec.scale(scale as u8);
        let grey = dec.color_space() == mozjpeg::ColorSpace::JCS_GRAYSCALE;
        let space = if grey {
            mozjpeg::ColorSpace::JCS_GRAYSCALE
        } else {
            mozjpeg::ColorSpace::JCS_YCbCr
        };
        let mut started = dec.to_colorspace(space).unwrap();
        let (w, h) = (started.width(), started.height());
        let pixels: Vec<u8> = started.read_scanlines().unwrap();
        let channels = if grey { 1 } else { 3 };
        let plane = pixels.chunks(channels).map(|p| p[channel]).collect();
        (w, h, plane)
    }

    fn assert_close_to_libjpeg(jpeg: &[u8], scale: usize) {
        let planes = decode(jpeg, scale, 1).unwrap();
        let (w, h, expected) = libjpeg_channel(jpeg, scale, 0);
        let luma = &planes[0];
        assert_eq!(
            (luma.width as usize, luma.height as usize),
            (w, h),
            "scale {scale}"
        );
        let diffs: Vec<i32> = luma
            .data
            .iter()
            .zip(&expected)
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
            .collect();
        let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
        let max = diffs.iter().copied().max().unwrap_or(0);
        assert!(
            mean < 0.1 && max <= 2,
            "scale {scale}: mean {mean}, max {max}"
        );
    }

    #[test]
    fn luma_matches_libjpegs_scaled_decode_at_every_scale_and_sampling() {
        let (w, h) = (517, 301); // neither a multiple of 8 nor of 16
        let rgb = photo(w, h, 12);
        for sampling in [
            jpeg_encoder::SamplingFactor::R_4_4_4,
            jpeg_encoder::SamplingFactor::R_4_2_2,
            jpeg_encoder::SamplingFactor::R_4_2_0,
        ] {
            let jpeg = encode(&rgb, w, h, sampling);
            for scale in 1..=4 {
                assert_close_to_libjpeg(&jpeg, scale);
            }
        }
        for scale in 1..=4 {
            assert_close_to_libjpeg(&grey(w, h), scale);
        }
    }

    #[test]
    fn chroma_planes_have_their_own_resolution_and_the_right_values() {
        // A flat colour: every chroma sample is the colour's Cb and Cr.
        let (w, h) = (640, 480);
        let rgb: Vec<u8> = (0..w * h).flat_map(|_| [200u8, 40, 90]).collect();
        let jpeg = encode(&rgb, w, h, jpeg_encoder::SamplingFactor::R_4_2_0);
        let planes = decode(&jpeg, 2, 1).unwrap();
        let sizes: Vec<_> = planes.iter().map(|p| (p.width, p.height)).collect();
        assert_eq!(sizes, [(160, 120), (80, 60), (80, 60)]);
        let (_, _, cb) = libjpeg_channel(&jpeg, 2, 1);
        let (_, _, cr) = libjpeg_channel(&jpeg, 2, 2);
        for (plane, reference) in [(&planes[1], cb[0]), (&planes[2], cr[0])] {
            assert!(plane.data.iter().all(|&v| v.abs_diff(reference) <= 1));
        }
    }

    /// Noisy enough for a scan of several 256 KiB segments.
    fn large_jpeg() -> Vec<u8> {
        let (w, h) = (1600, 1200);
        let rgb = photo(w, h, 60);
        encode(&rgb, w, h, jpeg_encoder::SamplingFactor::R_4_2_0)
    }

    /// Asserts that `jpeg` splits across threads and decodes the same on 1 to 4 of them.
    fn assert_same_on_any_number_of_threads(jpeg: &[u8]) -> Header {
        let header = Header::parse(jpeg).unwrap();
        assert!(header.segments(jpeg.len(), 4) >= 3, "{} bytes", jpeg.len());
        let one = decode(jpeg, 2, 1).unwrap();
        for threads in [2, 3, 4] {
            assert!(
                decode(jpeg, 2, threads).unwrap() == one,
                "{threads} threads"
            );
        }
        header
    }

    #[test]
    fn split_decoding_gives_the_same_planes_as_one_thread() {
        assert_same_on_any_number_of_threads(&large_jpeg());
    }

    fn with_restarts(rgb: &[u8], w: u32, h: u32, interval: u16) -> Vec<u8> {
        encode_with(rgb, w, h, |e| e.set_restart_interval(interval))
    }

    #[test]
    fn restart_intervals_are_split_exactly_and_decode_like_libjpeg() {
        let (w, h) = (517, 301);
        let jpeg = with_restarts(&photo(w, h, 12), w, h, 5);
        for scale in [1, 2, 4] {
            assert_close_to_libjpeg(&jpeg, scale);
        }
        let (w, h) = (1600, 1200);
        let jpeg = with_restarts(&photo(w, h, 60), w, h, 7);
        let header = assert_same_on_any_number_of_threads(&jpeg);
        // One restart marker taken out: the intervals no longer add up.
        let at = (header.scan_start..jpeg.len() - 1)
            .find(|&i| jpeg[i] == 0xFF && (0xD0..=0xD7).contains(&jpeg[i + 1]))
            .unwrap();
        let mut broken = jpeg.clone();
        broken.drain(at..at + 2);
        for threads in [1, 2] {
            assert!(header.decode(broken.clone(), 2, threads).is_err());
        }
    }

    #[test]
    fn broken_files_are_errors_never_panics() {
        let jpeg = large_jpeg();
        let header = Header::parse(&jpeg).unwrap();
        // Truncated anywhere in the scan, on one thread or several.
        for cut in [header.scan_start + 10, jpeg.len() / 2, jpeg.len() - 200] {
            for threads in [1, 2] {
                assert!(header.decode(jpeg[..cut].to_vec(), 2, threads).is_err());
            }
        }
        // Bytes of the scan overwritten: an error or some picture, never a panic.
        let mut state = 7u64;
        for _ in 0..40 {
            let mut broken = jpeg.clone();
            for _ in 0..8 {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = header.scan_start
                    + (state >> 33) as usize % (jpeg.len() - header.scan_start - 2);
                broken[at] = (state >> 17) as u8;
            }
            let _ = header.decode(broken, 2, 2);
        }
        // Headers cut short.
        for cut in 0..header.scan_start {
            let _ = Header::parse(&jpeg[..cut]);
        }
    }

    #[test]
    fn what_it_does_not_handle_is_unsupported() {
        let rgb = photo(64, 64, 5);
        let jpeg = encode(&rgb, 64, 64, jpeg_encoder::SamplingFactor::R_4_2_0);
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 90);
        encoder.set_progressive(true);
        encoder
            .encode(&rgb, 64, 64, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert!(matches!(
            Header::parse(&progressive),
            Err(ReduceError::Unsupported(_))
        ));
        let mut cmyk = Vec::new();
        let pixels: Vec<u8> = (0..64 * 64 * 4).map(|i| (i % 251) as u8).collect();
        jpeg_encoder::Encoder::new(&mut cmyk, 90)
            .encode(&pixels, 64, 64, jpeg_encoder::ColorType::Cmyk)
            .unwrap();
        assert!(matches!(
            Header::parse(&cmyk),
            Err(ReduceError::Unsupported(_))
        ));
        assert!(Header::parse(&jpeg).is_ok());
        assert!(matches!(
            Header::parse(b"GIF89a"),
            Err(ReduceError::Invalid(_))
        ));
    }
}
