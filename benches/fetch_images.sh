#!/usr/bin/env bash
# Fetches the image set of the thumbnail benchmark (benches/thumbnails.rs): real photos and
# artwork from Debian's wallpaper packages, never committed to the repository.
#
#   bash benches/fetch_images.sh
#
# Downloads the packages with `apt-get download` (no install), unpacks them with `dpkg -x`
# under $BENCH_IMAGES_ROOT/pkgs, and copies the chosen images into $BENCH_IMAGES_ROOT/set with
# descriptive names (kind and megapixels). Idempotent: what is already there is reused, and
# files in set/ that are not part of the set are removed. Prints the set with dimensions,
# chroma subsampling and whether each JPEG is progressive.
#
# The set: baseline JPEGs at ~2, 5, 9, 15 and 18 MP, progressive JPEGs at 4, 8, 15 and 18 MP
# (the packages ship these progressive), and one 14.7 MP RGB PNG (no alpha, so that our
# thumbnails are JPEG, as the reference's are).
#
# The packages have no baseline JPEG near 18 MP: baseline_17.9mp.jpg is the progressive
# Elephants_5640x3172.jpg rewritten as baseline by `jpegtran` (libjpeg-turbo-progs), which is
# lossless: the same DCT coefficients, only the scan layout changes.
#
# Env: BENCH_IMAGES_ROOT (default /var/tmp/mediastore-bench-images); THUMBS_REFERENCE, the
# reference timer whose Pillow venv is used to print the list (default
# ../shared/bench/thumbs_reference.sh beside the repository); THUMBS_REF_VENV (its venv,
# default /tmp/thumbs-ref-venv).
set -euo pipefail

root=${BENCH_IMAGES_ROOT:-/var/tmp/mediastore-bench-images}
repo=$(cd "$(dirname "$0")/.." && pwd)
reference=${THUMBS_REFERENCE:-$repo/../shared/bench/thumbs_reference.sh}
venv=${THUMBS_REF_VENV:-/tmp/thumbs-ref-venv}
packages=(mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers)

mkdir -p "$root/debs" "$root/pkgs" "$root/set"

first_deb() {
  local f
  for f in "$root/debs/$1"_*.deb; do
    if [ -f "$f" ]; then echo "$f"; return; fi
  done
}

sudo_if_needed() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Download and unpack the packages (once).
for pkg in "${packages[@]}"; do
  if [ -f "$root/pkgs/$pkg/.unpacked" ]; then
    continue
  fi
  deb=$(first_deb "$pkg")
  if [ -z "$deb" ]; then
    if ! (cd "$root/debs" && apt-get download "$pkg"); then
      # An empty or stale package list: refresh it once and try again.
      sudo_if_needed apt-get update -qq
      (cd "$root/debs" && apt-get download "$pkg")
    fi
    deb=$(first_deb "$pkg")
  fi
  echo "unpacking $(basename "$deb")"
  rm -rf "$root/pkgs/$pkg"
  mkdir -p "$root/pkgs/$pkg"
  dpkg -x "$deb" "$root/pkgs/$pkg"
  touch "$root/pkgs/$pkg/.unpacked"
done

if ! command -v jpegtran >/dev/null; then
  sudo_if_needed apt-get install -y -qq libjpeg-turbo-progs >/dev/null
fi

# 2. The set: name in set/ <- file in pkgs/.
mate=$root/pkgs/mate-backgrounds/usr/share/backgrounds/mate
plasma=$root/pkgs/plasma-workspace-wallpapers/usr/share/wallpapers
ukui=$root/pkgs/ukui-wallpapers/usr/share/backgrounds
set_files=(
  "baseline_2.3mp.jpg=$mate/nature/RainDrops.jpg"                       # 1920x1200, 4:2:0
  "baseline_4.9mp.jpg=$mate/nature/Wood.jpg"                            # 2560x1920, 4:2:2
  "baseline_8.7mp.jpg=$ukui/string.jpg"                                 # 3640x2400, 4:4:4
  "baseline_14.7mp.jpg=$plasma/SafeLanding/contents/images/5120x2880.jpg" # 5120x2880, 4:2:0
  "baseline_17.9mp.jpg=jpegtran:$mate/abstract/Elephants_5640x3172.jpg" # 5640x3172, 4:2:2
  "progressive_4.1mp.jpg=$plasma/Autumn/contents/images/2560x1600.jpg"  # 2560x1600, 4:4:4
  "progressive_8.3mp.jpg=$mate/abstract/Elephants_3840x2160.jpg"        # 3840x2160, 4:2:2
  "progressive_14.7mp.jpg=$plasma/Volna/contents/images/5120x2880.jpg"  # 5120x2880, 4:4:4
  "progressive_17.9mp.jpg=$mate/abstract/Elephants_5640x3172.jpg"       # 5640x3172, 4:2:2
  "png_14.7mp.png=$plasma/Altai/contents/images/5120x2880.png"          # 5120x2880, RGB
)

wanted=()
for entry in "${set_files[@]}"; do
  name=${entry%%=*}
  src=${entry#*=}
  wanted+=("$name")
  dest=$root/set/$name
  if [[ $src == jpegtran:* ]]; then
    src=${src#jpegtran:}
    [ -f "$src" ] || { echo "missing $src (package changed?)" >&2; exit 1; }
    # Baseline (sequential) copy of a progressive file; -copy all keeps EXIF/ICC.
    if [ ! -s "$dest" ] || [ "$src" -nt "$dest" ]; then
      jpegtran -copy all -outfile "$dest.tmp" "$src"
      mv "$dest.tmp" "$dest"
    fi
  else
    [ -f "$src" ] || { echo "missing $src (package changed?)" >&2; exit 1; }
    if ! cmp -s "$src" "$dest"; then
      cp "$src" "$dest.tmp"
      mv "$dest.tmp" "$dest"
    fi
  fi
done

# Drop anything else from set/ (an older set), so that the bench runs exactly this set.
for f in "$root/set"/*; do
  [ -e "$f" ] || continue
  keep=0
  for name in "${wanted[@]}"; do
    [ "$(basename "$f")" = "$name" ] && keep=1
  done
  if [ $keep = 0 ]; then
    echo "removing $(basename "$f") (not in the set)"
    rm -f "$f"
  fi
done

# 3. The list, read with Pillow from the reference venv (set up by the reference script).
if [ ! -x "$venv/bin/python" ] && [ -x "$reference" ]; then
  THUMBS_REF_VENV=$venv "$reference" >/dev/null
fi
python=$venv/bin/python
if [ ! -x "$python" ]; then
  python=python3
fi
echo "image set in $root/set:"
"$python" - "$root/set" <<'EOF' || ls -la "$root/set"
import os, sys
from PIL import Image

SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    path = os.path.join(d, name)
    with Image.open(path) as im:
        if im.format == "JPEG":
            from PIL import JpegImagePlugin
            kind = "progressive" if im.info.get("progressive") else "baseline"
            sub = SUBSAMPLING.get(JpegImagePlugin.get_sampling(im), "?")
        else:
            kind, sub = im.format, "-"
        print(f"  {name:24} {im.width:5}x{im.height:<5} {im.width * im.height / 1e6:5.1f} MP"
              f"  {im.mode:4} {sub:5}  {kind:11}  {os.path.getsize(path) / 1e6:5.1f} MB")
EOF
