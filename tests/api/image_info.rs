//! Compares `read_image_info` with what Pillow reported for real files
//! (tests/fixtures/images/gen_fixtures.py made them and wrote expected.tsv).

use mediastore::media::image_info::{read_image_info, ImageFormat};
use std::fs::File;
use std::path::Path;

struct Outcome {
    checked: usize,
    failures: Vec<String>,
}

fn check_dir(dir: &Path) -> Outcome {
    let tsv = std::fs::read_to_string(dir.join("expected.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("expected.tsv").display()));
    let mut out = Outcome {
        checked: 0,
        failures: Vec::new(),
    };
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 2, "bad expected.tsv line: {line:?}");
        let name = cols[0];
        let mut file = File::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = read_image_info(&mut file);
        out.checked += 1;
        let fail = |what: String| format!("{name}: {what}");
        if cols[1] == "ERROR" {
            if let Ok(info) = got {
                out.failures.push(fail(format!(
                    "Pillow refuses it ({}), we said {info:?}",
                    cols[2]
                )));
            }
            continue;
        }
        let info = match got {
            Ok(info) => info,
            Err(e) => {
                out.failures
                    .push(fail(format!("Pillow opens it, we said {e:?}")));
                continue;
            }
        };
        // An MPF JPEG is "MPO" (and animated) to Pillow; we report the JPEG.
        let (format, animated) = match cols[1] {
            "MPO" => ("JPEG", "0"),
            f => (f, cols[6]),
        };
        if info.format.pillow_name() != format {
            out.failures
                .push(fail(format!("format {:?}, Pillow {format}", info.format)));
        }
        let size = format!("{}x{}", info.width, info.height);
        if size != format!("{}x{}", cols[2], cols[3]) {
            out.failures
                .push(fail(format!("size {size}, Pillow {}x{}", cols[2], cols[3])));
        }
        if info.mode != cols[4] {
            out.failures
                .push(fail(format!("mode {}, Pillow {}", info.mode, cols[4])));
        }
        if cols[5] != "?" && info.orientation.to_string() != cols[5] {
            out.failures.push(fail(format!(
                "orientation {}, Pillow {}",
                info.orientation, cols[5]
            )));
        }
        // Where Pillow raises looking for a second frame we say "not animated".
        let animated = if animated == "error" { "0" } else { animated };
        if u8::from(info.animated).to_string() != animated {
            out.failures.push(fail(format!(
                "animated {}, Pillow {animated}",
                info.animated
            )));
        }
        // Pillow refuses more than 2 * 89_478_485 pixels at open; we report
        // the size and the caller decides.
        if cols.get(8) == Some(&"decompression-bomb") && info.pixel_count() <= 178_956_970 {
            out.failures
                .push(fail(format!("{} pixels is no bomb", info.pixel_count())));
        }
        if u8::from(info.has_alpha).to_string() != cols[7] {
            out.failures.push(fail(format!(
                "has_alpha {}, Pillow {}",
                info.has_alpha, cols[7]
            )));
        }
    }
    out
}

#[test]
fn committed_fixtures_match_pillow() {
    let out = check_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images"));
    assert!(out.checked >= 12, "only {} fixtures checked", out.checked);
    assert!(out.failures.is_empty(), "{}", out.failures.join("\n"));
}

fn committed_fixture_bytes() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e != "tsv"))
        .map(|p| (p.display().to_string(), read(&p)))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "only {} fixtures", files.len());
    files
}

#[test]
fn every_truncation_of_every_committed_fixture_is_handled() {
    let mut cases = 0;
    for (name, data) in committed_fixture_bytes() {
        let whole = read_image_info(&mut std::io::Cursor::new(&data))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for len in 0..data.len() {
            // Most prefixes are corrupt; some (an image cut inside its pixel
            // data) are still readable, but never as something else.
            if let Ok(info) = read_image_info(&mut std::io::Cursor::new(&data[..len])) {
                assert_eq!(info.format, whole.format, "{name}[..{len}]");
                assert!(info.width > 0 && info.height > 0, "{name}[..{len}]");
            }
            cases += 1;
        }
    }
    assert!(cases > 1000, "only {cases} truncations tried");
}

#[test]
fn mutated_fixtures_never_panic() {
    // xorshift64*: deterministic, so a failure reproduces.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut accepted = 0;
    for (name, data) in committed_fixture_bytes() {
        for round in 0..1500 {
            let mut m = data.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % m.len() as u64) as usize;
                m[i] = match next() % 4 {
                    0 => 0,
                    1 => 0xFF,
                    _ => next() as u8,
                };
            }
            // Within a debug build this also catches arithmetic overflow.
            if let Ok(info) = read_image_info(&mut std::io::Cursor::new(&m)) {
                assert!(info.width > 0 && info.height > 0, "{name} round {round}");
                assert!((1..=8).contains(&info.orientation), "{name} round {round}");
                accepted += 1;
            }
        }
    }
    // Most single-byte changes land in pixel data and leave the header valid.
    assert!(accepted > 1000, "only {accepted} mutants accepted");
}

#[test]
fn formats_are_named_as_pillow_names_them() {
    let names: Vec<_> = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::WebP,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
    ]
    .iter()
    .map(|f| f.pillow_name())
    .collect();
    assert_eq!(names, ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]);
}
