//! The four thumbnails of real photos, against Pillow and libvips.
//!
//! `bash benches/fetch_images.sh` first (it fetches the image set from Debian's wallpaper
//! packages), then `cargo bench --bench thumbnails`. For every image of the set the bench
//! times the whole thumbnail pipeline (see [`thumbnail_once`]), prints a table of medians,
//! and then runs the same work under criterion, and prints the table again at the end.
//!
//! The goal: our four thumbnails take no longer than the faster of Pillow and libvips on the
//! same image in the same run, at most 0.8x on baseline JPEGs and PNGs and 1.0x on progressive
//! JPEGs. With `BENCH_REFERENCE=1` the bench runs the reference timer
//! (`shared/bench/thumbs_reference.sh`) on each image right after timing ours on it, so both
//! sides are measured interleaved on the same machine state, and prints the ratio
//! ours / min(Pillow, libvips) with the goal and pass/fail.
//!
//! What each side's time includes, per run, with the file already in the page cache:
//! - ours: opening the file and reading its header (`read_image_info`, the facts ingest hands
//!   the thumbnailer; this stands for the reference's `Image.open` / libvips' header read and
//!   costs well under a millisecond, shown apart as "hdr"), then `make_thumbnails`: reading
//!   and decoding the file (JPEG at a reduced DCT scale), resizing to 1080 and from each
//!   result to 512, 128 and 64, and encoding the four thumbnails into memory (JPEG q85, or PNG
//!   for an image with alpha). Single-threaded.
//! - Pillow: `Image.open`, `draft` (DCT shrink-on-load) and `load`, then for each box a copy,
//!   `thumbnail` and a JPEG q85 encode into memory.
//! - libvips: `thumbnail` from the file to 1080 (shrink-on-load), into memory, JPEG q85 into
//!   memory, then `thumbnail_image` of it to 512, 128 and 64, each encoded. libvips may use
//!   more than one thread.
//!
//! Environment:
//! - `BENCH_IMAGES_DIR`: the images, default `/var/tmp/mediastore-bench-images/set` (every
//!   `.jpg`, `.jpeg` and `.png` in it; baseline JPEGs, progressive JPEGs, then PNGs, each
//!   by size).
//! - `BENCH_RUNS`: timed runs per image for the table, default 15 (after one warm-up run).
//! - `BENCH_REFERENCE=1`: also run the reference timer on each image. It sets up its venv
//!   (Pillow, pyvips, Debian's libvips) on first use. `THUMBS_REFERENCE` overrides its path
//!   (default `../shared/bench/thumbs_reference.sh` beside the repository); its `ROUNDS`
//!   (default 5) is passed through.
//! - `BENCH_CRITERION=0`: the table only, no criterion.
//! - `BENCH_SPANS=0`: time the table's runs without a tracing subscriber, and so without the
//!   breakdown of our time into decode, resize to 1080 and the four boxes' resize and encode.
//!
//! Criterion's own flags follow `--`, e.g. `cargo bench --bench thumbnails -- progressive`
//! (a filter applies to criterion only; the table covers every image).

use std::collections::HashMap;
use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use criterion::{Criterion, SamplingMode};
use mediastore::media::image_info::{read_image_info, ImageFormat};
use mediastore::media::thumbnails::{make_thumbnails, Limits, SourceFacts, BOXES};
use tracing::span;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

const DEFAULT_DIR: &str = "/var/tmp/mediastore-bench-images/set";
const DEFAULT_REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/bench/thumbs_reference.sh"
);

/// In table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Baseline,
    Progressive,
    Png,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Baseline => "baseline",
            Kind::Progressive => "progressive",
            Kind::Png => "PNG",
        }
    }

    /// The goal: ours / min(Pillow, libvips) at most this.
    fn goal(self) -> f64 {
        match self {
            Kind::Progressive => 1.0,
            Kind::Baseline | Kind::Png => 0.8,
        }
    }
}

struct Image {
    path: PathBuf,
    name: String,
    width: u32,
    height: u32,
    kind: Kind,
}

impl Image {
    fn megapixels(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) / 1e6
    }
}

/// Reference medians for one image, from the reference timer's JSON line.
struct Reference {
    pillow_ms: f64,
    libvips_ms: f64,
}

impl Reference {
    fn best_ms(&self) -> f64 {
        self.pillow_ms.min(self.libvips_ms)
    }
}

struct Row {
    header_ms: f64,
    ours_ms: f64,
    ours_min_ms: f64,
    ours_max_ms: f64,
    /// Medians of the `make_thumbnails` spans, when recorded.
    spans: Option<SpanMedians>,
    reference: Option<Reference>,
}

/// Where our time goes, from the tracing spans `make_thumbnails` opens: `image.decode`
/// (JPEG at its reduced DCT scale), `image.resize` (decoded image to 1080, and EXIF
/// orientation) and the four `thumbnail` spans (each resizes the previous result, a no-op
/// for 1080, and encodes).
#[derive(Default)]
struct SpanMedians {
    decode_ms: f64,
    resize_ms: f64,
    boxes_ms: f64,
}

/// Total wall time per span name, over the spans closed since the last `take`.
#[derive(Clone, Default)]
struct SpanTimes(Arc<Mutex<HashMap<&'static str, Duration>>>);

struct SpanStart(Instant);

impl SpanTimes {
    fn take(&self) -> HashMap<&'static str, Duration> {
        self.0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

impl<S> Layer<S> for SpanTimes
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanStart(Instant::now()));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<SpanStart>().map(|s| s.0) else {
            return;
        };
        if let Ok(mut times) = self.0.lock() {
            *times.entry(span.name()).or_default() += started.elapsed();
        }
    }
}

fn main() -> anyhow::Result<()> {
    let dir =
        PathBuf::from(std::env::var("BENCH_IMAGES_DIR").unwrap_or_else(|_| DEFAULT_DIR.into()));
    let runs = match std::env::var("BENCH_RUNS") {
        Ok(v) => v
            .parse::<usize>()
            .with_context(|| format!("BENCH_RUNS={v}"))?
            .max(1),
        Err(_) => 15,
    };
    let with_reference = std::env::var("BENCH_REFERENCE").as_deref() == Ok("1");
    let with_spans = std::env::var("BENCH_SPANS").as_deref() != Ok("0");
    let reference_script =
        std::env::var("THUMBS_REFERENCE").unwrap_or_else(|_| DEFAULT_REFERENCE.into());

    let images = find_images(&dir)?;
    if images.is_empty() {
        println!(
            "No images in {} (set BENCH_IMAGES_DIR, or fetch the set first with \
             `bash benches/fetch_images.sh`): nothing to bench.",
            dir.display()
        );
        return Ok(());
    }

    let started = Instant::now();
    println!(
        "{} images in {}; {runs} timed runs each after a warm-up{}",
        images.len(),
        dir.display(),
        if with_reference {
            ", each followed by the reference timer"
        } else {
            " (BENCH_REFERENCE=1 adds Pillow and libvips)"
        }
    );
    let mut rows = Vec::with_capacity(images.len());
    for image in &images {
        let row = time_ours(image, runs, with_spans)?;
        println!(
            "  {:24} ours {:8.1} ms (min {:.1}, max {:.1})",
            image.name, row.ours_ms, row.ours_min_ms, row.ours_max_ms
        );
        let reference = if with_reference {
            let r = run_reference(&reference_script, &image.path)?;
            println!(
                "  {:24} Pillow {:6.1} ms, libvips {:6.1} ms",
                image.name, r.pillow_ms, r.libvips_ms
            );
            Some(r)
        } else {
            None
        };
        rows.push(Row { reference, ..row });
    }
    let table_secs = started.elapsed().as_secs_f64();
    print_table(&images, &rows, runs);
    println!("(table took {table_secs:.0} s)");

    if std::env::var("BENCH_CRITERION").as_deref() != Ok("0") {
        run_criterion(&images);
        // The table again, so that it is the last thing on the screen.
        print_table(&images, &rows, runs);
    }
    println!(
        "(whole bench took {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn find_images(dir: &Path) -> anyhow::Result<Vec<Image>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) && path.is_file() {
            paths.push(path);
        }
    }
    let mut images = paths
        .iter()
        .map(|p| describe(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Baseline JPEGs, progressive JPEGs, PNGs, each from the smallest.
    images.sort_by_key(|i| {
        (
            i.kind,
            u64::from(i.width) * u64::from(i.height),
            i.name.clone(),
        )
    });
    Ok(images)
}

fn describe(path: &Path) -> anyhow::Result<Image> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let info = read_image_info(&mut std::io::Cursor::new(&data))
        .with_context(|| format!("{name}: header"))?;
    let kind = match info.format {
        ImageFormat::Jpeg if jpeg_is_progressive(&data) => Kind::Progressive,
        ImageFormat::Jpeg => Kind::Baseline,
        ImageFormat::Png => Kind::Png,
        other => bail!("{name}: {other:?} is not in the benchmark's kinds (JPEG, PNG)"),
    };
    if info.has_alpha {
        println!(
            "note: {name} has alpha, so our thumbnails are PNG while the reference's are JPEG"
        );
    }
    Ok(Image {
        path: path.to_path_buf(),
        name,
        width: info.width,
        height: info.height,
        kind,
    })
}

/// Whether the first start-of-frame marker is a progressive one (SOF2, SOF6, SOF10, SOF14).
fn jpeg_is_progressive(data: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return false;
        }
        let marker = data[i + 1];
        match marker {
            // Fill byte.
            0xFF => i += 1,
            // Markers without a length.
            0x01 | 0xD0..=0xD8 => i += 2,
            0xC2 | 0xC6 | 0xCA | 0xCE => return true,
            0xC0 | 0xC1 | 0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF | 0xD9 | 0xDA => {
                return false
            }
            _ => {
                let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
                i += 2 + len;
            }
        }
    }
    false
}

/// One run of what the service does for an uploaded image: the header facts, then the four
/// thumbnails. Returns (header time, total time).
fn thumbnail_once(path: &Path) -> anyhow::Result<(Duration, Duration)> {
    let t0 = Instant::now();
    let mut file = File::open(path)?;
    let info = read_image_info(&mut file)?;
    drop(file);
    let facts = SourceFacts {
        width: info.width,
        height: info.height,
        orientation: info.orientation,
        has_alpha: info.has_alpha,
    };
    let header = t0.elapsed();
    let thumbnails = make_thumbnails(path, &facts, &Limits::default())?;
    let total = t0.elapsed();
    if thumbnails.len() != BOXES.len() {
        bail!("{} thumbnails instead of {}", thumbnails.len(), BOXES.len());
    }
    black_box(thumbnails);
    Ok((header, total))
}

/// Times `runs` runs after a warm-up. With `spans`, the runs are made under a subscriber that
/// only records span times (a few microseconds a run), as the service always has one.
fn time_ours(image: &Image, runs: usize, spans: bool) -> anyhow::Result<Row> {
    // Into the page cache, as the reference does.
    black_box(std::fs::read(&image.path)?);
    thumbnail_once(&image.path).with_context(|| format!("{}: thumbnails", image.name))?;
    let times = SpanTimes::default();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(times.clone()));
    let mut headers = Vec::with_capacity(runs);
    let mut totals = Vec::with_capacity(runs);
    let (mut decode, mut resize, mut boxes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (header, total) = if spans {
            times.take();
            let timed =
                tracing::dispatcher::with_default(&dispatch, || thumbnail_once(&image.path))?;
            let t = times.take();
            let get = |name| t.get(name).copied().map(ms).unwrap_or_default();
            decode.push(get("image.decode"));
            resize.push(get("image.resize"));
            boxes.push(get("thumbnail"));
            timed
        } else {
            thumbnail_once(&image.path)?
        };
        headers.push(ms(header));
        totals.push(ms(total));
    }
    totals.sort_by(f64::total_cmp);
    Ok(Row {
        header_ms: median(&mut headers),
        ours_ms: median(&mut totals),
        ours_min_ms: totals.first().copied().unwrap_or_default(),
        ours_max_ms: totals.last().copied().unwrap_or_default(),
        spans: spans.then(|| SpanMedians {
            decode_ms: median(&mut decode),
            resize_ms: median(&mut resize),
            boxes_ms: median(&mut boxes),
        }),
        reference: None,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs the reference timer on one image and reads its JSON line.
fn run_reference(script: &str, image: &Path) -> anyhow::Result<Reference> {
    let output = Command::new(script)
        .arg(image)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {script}"))?;
    if !output.status.success() {
        bail!("{script} {} failed: {}", image.display(), output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("no JSON line from {script}: {stdout}"))?;
    let value: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("parsing {line}"))?;
    let field = |name: &str| {
        value[name]
            .as_f64()
            .with_context(|| format!("no {name} in {line}"))
    };
    Ok(Reference {
        pillow_ms: field("pillow_ms")?,
        libvips_ms: field("libvips_ms")?,
    })
}

fn print_table(images: &[Image], rows: &[Row], runs: usize) {
    println!();
    println!(
        "Four thumbnails ({BOXES:?}), median ms over {runs} runs (ours) and the reference's \
         rounds; ratio = ours / min(Pillow, libvips)"
    );
    println!(
        "ours = hdr (open, header) + open, decode, resize and encode; of it: decode (at DCT \
         scale for JPEG), ->1080 (resize), boxes (4 encodes, resizes to 512/128/64)"
    );
    println!(
        "{:24} {:>11} {:>5} {:11} {:>5} {:>7} {:>7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>4}  result",
        "image",
        "size",
        "MP",
        "kind",
        "hdr",
        "ours",
        "decode",
        "->1080",
        "boxes",
        "Pillow",
        "libvips",
        "ratio",
        "goal"
    );
    let (mut passed, mut failed) = (0, 0);
    for (image, row) in images.iter().zip(rows) {
        let size = format!("{}x{}", image.width, image.height);
        let mut line = format!(
            "{:24} {:>11} {:5.1} {:11} {:5.2} {:7.1}",
            image.name,
            size,
            image.megapixels(),
            image.kind.name(),
            row.header_ms,
            row.ours_ms
        );
        match &row.spans {
            Some(s) => line.push_str(&format!(
                " {:7.1} {:7.1} {:6.1}",
                s.decode_ms, s.resize_ms, s.boxes_ms
            )),
            None => line.push_str(&format!(" {:>7} {:>7} {:>6}", "-", "-", "-")),
        }
        let goal = image.kind.goal();
        match &row.reference {
            Some(r) => {
                let ratio = row.ours_ms / r.best_ms();
                let ok = ratio <= goal;
                if ok {
                    passed += 1;
                } else {
                    failed += 1;
                }
                line.push_str(&format!(
                    " {:7.1} {:7.1} {:6.2} {:4.1}  {}",
                    r.pillow_ms,
                    r.libvips_ms,
                    ratio,
                    goal,
                    if ok { "pass" } else { "FAIL" }
                ));
            }
            None => line.push_str(&format!(" {:>7} {:>7} {:>6} {goal:4.1}  -", "-", "-", "-")),
        }
        println!("{line}");
    }
    if passed + failed > 0 {
        println!("goal: {passed} passed, {failed} failed");
    }
    println!();
}

fn run_criterion(images: &[Image]) {
    // Short by default so that the whole bench takes a few minutes: the table is the main
    // result, criterion adds its confidence intervals and change detection between runs.
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let mut group = criterion.benchmark_group("thumbnails");
    // Flat sampling: one run of a large image is already tens of milliseconds.
    group.sampling_mode(SamplingMode::Flat);
    for image in images {
        group.bench_function(&image.name, |b| {
            b.iter(|| thumbnail_once(&image.path).expect("thumbnails"))
        });
    }
    group.finish();
    criterion.final_summary();
}
