//! Durations (issue 8): `av_probe::probe` against ffprobe's view of real fixtures
//! (tests/fixtures/av/expected.tsv, written by make_fixtures.sh there) and against hostile
//! input; then the same fixtures through both APIs, and through a rebuild.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mediastore::domain::AvFacts;
use mediastore::media::av_probe::probe;

const TOLERANCE_SECS: f64 = 0.1;

struct Expected {
    file: String,
    mime: String,
    duration: Option<f64>,
    width: Option<u32>,
    height: Option<u32>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/av")
}

fn expected() -> Vec<Expected> {
    let tsv = std::fs::read_to_string(fixtures_dir().join("expected.tsv"))
        .expect("tests/fixtures/av/expected.tsv missing: run make_fixtures.sh there");
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 5, "bad row: {line:?}");
            let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            Expected {
                file: cols[0].to_owned(),
                mime: cols[1].to_owned(),
                duration: opt(cols[2]).map(|s| s.parse().expect("a number")),
                width: opt(cols[3]).map(|s| s.parse().expect("a number")),
                height: opt(cols[4]).map(|s| s.parse().expect("a number")),
            }
        })
        .collect()
}

#[test]
fn matches_ffprobe_for_every_fixture() {
    let rows = expected();
    assert!(rows.len() >= 20, "expected.tsv looks incomplete");
    let mut failures = Vec::new();
    eprintln!(
        "{:<22} {:<17} {:>9} {:>9}  size",
        "file", "mime", "ffprobe", "ours"
    );
    for row in &rows {
        let got = probe(&fixtures_dir().join(&row.file), &row.mime);
        let fmt = |d: Option<f64>| d.map_or("-".to_owned(), |d| format!("{d:.6}"));
        let size = match (got.width, got.height) {
            (Some(w), Some(h)) => format!("{w}x{h}"),
            _ => "-".to_owned(),
        };
        eprintln!(
            "{:<22} {:<17} {:>9} {:>9}  {size}",
            row.file,
            row.mime,
            fmt(row.duration),
            fmt(got.duration),
        );
        let duration_ok = match (row.duration, got.duration) {
            (Some(want), Some(have)) => (want - have).abs() <= TOLERANCE_SECS,
            (None, None) => true,
            _ => false,
        };
        if !duration_ok || got.width != row.width || got.height != row.height {
            failures.push(format!(
                "{}: want {:?} {:?}x{:?}, got {got:?}",
                row.file, row.duration, row.width, row.height
            ));
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn hostile_fixtures_give_nothing() {
    let rows = expected();
    for (name, mime) in [
        ("truncated.mp4", "video/mp4"),
        ("truncated.flac", "audio/flac"),
        ("truncated.webm", "video/webm"),
        ("random.mp3", "audio/mpeg"),
        ("empty.mp3", "audio/mpeg"),
    ] {
        assert!(
            rows.iter().any(|r| r.file == name),
            "{name} not in expected.tsv"
        );
        assert_eq!(
            probe(&fixtures_dir().join(name), mime),
            AvFacts::default(),
            "{name}"
        );
    }
}

#[test]
fn garbage_under_every_mime_gives_nothing_quickly() {
    let dir = tempfile::tempdir().expect("fixture I/O");
    let random = std::fs::read(fixtures_dir().join("random.mp3")).expect("fixture I/O");
    let mimes = [
        "audio/mpeg",
        "audio/mp4",
        "video/mp4",
        "video/quicktime",
        "audio/wav",
        "audio/ogg",
        "audio/opus",
        "audio/flac",
        "audio/aac",
        "video/webm",
        "video/x-matroska",
        "application/octet-stream",
    ];
    let zeros = vec![0u8; 64 * 1024];
    for (i, bytes) in [&random[..], &zeros[..], &random[..1]]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("garbage{i}"));
        std::fs::write(&path, bytes).expect("fixture I/O");
        for mime in mimes {
            let start = Instant::now();
            assert_eq!(
                probe(&path, mime),
                AvFacts::default(),
                "garbage{i} as {mime}"
            );
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "slow on garbage{i} as {mime}"
            );
        }
    }
}

#[test]
fn missing_file_gives_nothing() {
    assert_eq!(
        probe(Path::new("/nonexistent/av_probe/file.mp3"), "audio/mpeg"),
        AvFacts::default()
    );
}

#[test]
fn huge_sparse_file_is_not_read_in_full() {
    let dir = tempfile::tempdir().expect("fixture I/O");
    let path = dir.path().join("zeros.mp3");
    File::create(&path)
        .expect("fixture I/O")
        .set_len(1024 * 1024 * 1024)
        .expect("fixture I/O");
    for mime in ["audio/mpeg", "video/mp4", "audio/aac", "video/webm"] {
        let start = Instant::now();
        assert_eq!(probe(&path, mime), AvFacts::default(), "{mime}");
        // A full read of 1 GiB would take far longer than this.
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{mime} took {:?}",
            start.elapsed()
        );
    }
}

/// Truncated and bit-flipped copies of every fixture: the probe must return
/// (any answer) quickly, never panic out or hang.
#[test]
fn mangled_fixtures_never_panic_or_hang() {
    let dir = tempfile::tempdir().expect("fixture I/O");
    let path = dir.path().join("mangled");
    // xorshift64: deterministic mutations without a rand dependency.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for row in expected() {
        let original = std::fs::read(fixtures_dir().join(&row.file)).expect("fixture I/O");
        if original.is_empty() {
            continue;
        }
        for round in 0..60 {
            let mut bytes = original.clone();
            if round % 3 == 0 {
                bytes.truncate((next() as usize) % bytes.len());
            } else {
                // Mostly hit the first 512 bytes, where the headers live.
                let span = if round % 3 == 1 {
                    bytes.len().min(512)
                } else {
                    bytes.len()
                };
                for _ in 0..1 + next() % 8 {
                    let i = (next() as usize) % span;
                    bytes[i] = next() as u8;
                }
            }
            std::fs::write(&path, &bytes).expect("fixture I/O");
            let start = Instant::now();
            let _ = probe(&path, &row.mime);
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{} round {round} took {:?}",
                row.file,
                start.elapsed()
            );
        }
    }
}

/// A leading ID3v2 tag bigger than the read budget (huge cover art) is
/// skipped by seeking, not read.
#[test]
fn huge_id3v2_tag_is_skipped() {
    use std::io::{Seek, SeekFrom, Write};

    let rows = expected();
    let dir = tempfile::tempdir().expect("fixture I/O");
    for name in ["vbr_xing.mp3", "cbr_noxing.mp3"] {
        let want = rows
            .iter()
            .find(|r| r.file == name)
            .expect("fixture I/O")
            .duration
            .expect("fixture I/O");
        let mut audio = std::fs::read(fixtures_dir().join(name)).expect("fixture I/O");
        if audio.starts_with(b"ID3") {
            let size = audio[6..10]
                .iter()
                .fold(0, |acc, b| (acc << 7) | usize::from(*b));
            audio.drain(..10 + size);
        }
        // 20 MB syncsafe size, body left as a sparse hole.
        let size: u32 = 20_000_000;
        let syncsafe = [21, 14, 7, 0].map(|shift| ((size >> shift) & 0x7f) as u8);
        let path = dir.path().join(name);
        let mut file = File::create(&path).expect("fixture I/O");
        file.write_all(b"ID3\x03\x00\x00").expect("fixture I/O");
        file.write_all(&syncsafe).expect("fixture I/O");
        file.seek(SeekFrom::Start(10 + u64::from(size)))
            .expect("fixture I/O");
        file.write_all(&audio).expect("fixture I/O");
        drop(file);

        let got = probe(&path, "audio/mpeg").duration.expect(name);
        assert!(
            (got - want).abs() <= TOLERANCE_SECS,
            "{name}: {got} vs {want}"
        );
    }
}

// ---- Through the APIs ----

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(durations_reach_both_apis_and_survive_a_rebuild);

fn file_form(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    )
}

async fn durations_reach_both_apis_and_survive_a_rebuild(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rows: Vec<Expected> = expected()
        .into_iter()
        .filter(|row| row.duration.is_some())
        .collect();
    let mut uploaded = Vec::new();
    for row in &rows {
        let bytes = std::fs::read(fixtures_dir().join(&row.file)).expect("fixture");
        let (status, body) = app
            .cms_upload(&app.admin_token, file_form(&row.file, bytes))
            .await;
        assert_eq!(status, 201, "{}: {body}", row.file);
        let data = body["data"].clone();
        let kind = if row.width.is_some() {
            "video"
        } else {
            "audio"
        };
        assert_eq!(data["type"], kind, "{}: {data}", row.file);
        let duration = data["duration"].as_f64();
        assert!(
            duration
                .is_some_and(|d| (d - row.duration.unwrap_or_default()).abs() <= TOLERANCE_SECS),
            "{}: {duration:?} against ffprobe's {:?}",
            row.file,
            row.duration
        );
        assert_eq!(
            (data["width"].as_u64(), data["height"].as_u64()),
            (row.width.map(u64::from), row.height.map(u64::from)),
            "{}",
            row.file
        );
        uploaded.push(data);
    }
    // One file, two APIs: the primary list has them too.
    let audio = app.list("type=audio").await["count"].as_u64();
    let video = app.list("type=video").await["count"].as_u64();
    assert_eq!(
        audio.zip(video).map(|(a, v)| a + v),
        Some(rows.len() as u64)
    );

    // The facts are in the events: a rebuilt read model answers the same without a blob.
    let output = app.cli(&["projections", "rebuild"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for data in &uploaded {
        let id = data["id"].as_str().expect("uuid");
        let (status, detail) = app
            .cms(reqwest::Method::GET, &format!("/api/media/{id}"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(&detail["data"], data);
    }
}
