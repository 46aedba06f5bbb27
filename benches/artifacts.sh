#!/usr/bin/env bash
# Benchmark: our single-pass inventory+verify of images.tar.gz against the
# operator's way (tar -xzf, unpack each docker save tar, sha256sum every
# layer) on the same synthetic ~2 GB release. Prints wall time, CPU, peak RSS
# and the ratio. Usage: benches/artifacts.sh [OUT_DIR] [IMAGES] [BASE_MB] [APP_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/ckf-artifacts-bench}
IMAGES=${2:-20}
BASE_MB=${3:-96}
APP_MB=${4:-40}
mkdir -p "$OUT"

cargo build --release --examples --quiet
BIN=target/release/examples

if [ ! -f "$OUT/rel/images.tar.gz" ]; then
  echo "generating $IMAGES images (base $BASE_MB MiB shared, 2 x $APP_MB MiB each) ..."
  /usr/bin/time -f "generate: %e s" "$BIN/synth_release" "$OUT/rel" "$IMAGES" "$BASE_MB" "$APP_MB" \
    legacy,symlinks,docker25,compressed-oci
fi
GZ="$OUT/rel/images.tar.gz"
ls -l "$GZ"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -v "$@" 2> "$OUT/$label.time" > "$OUT/$label.out"
  local wall rss user sys
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$OUT/$label.time")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$OUT/$label.time")
  user=$(awk -F': ' '/User time/{print $2}' "$OUT/$label.time")
  sys=$(awk -F': ' '/System time/{print $2}' "$OUT/$label.time")
  echo "$label: wall $wall  user ${user}s  sys ${sys}s  maxRSS ${rss} KiB"
  # m:ss.xx → seconds
  echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' > "$OUT/$label.secs"
}

rm -rf "$OUT/work" "$OUT/extract"
sync
measure ours "$BIN/inventory" "$GZ" "$OUT/work"
cat "$OUT/ours.out"

baseline() {
  mkdir -p "$OUT/extract/outer"
  tar -xzf "$GZ" -C "$OUT/extract/outer"
  for m in "$OUT"/extract/outer/*.tar; do
    d="$OUT/extract/inner/$(basename "$m" .tar)"
    mkdir -p "$d"
    tar -xf "$m" -C "$d"
  done
  # Every layer/blob file (regular files only, symlinks are duplicates).
  find "$OUT/extract/inner" -type f \( -name 'layer.tar' -o -path '*/blobs/sha256/*' -o -name '*.tar' \) \
    -print0 | xargs -0 sha256sum > /dev/null
}
export -f baseline
export OUT GZ
sync
measure baseline bash -c baseline

# References: the inflate floor, and the outer extraction alone.
measure ref_gunzip bash -c 'gzip -dc "$GZ" > /dev/null'
rm -rf "$OUT/extract"; mkdir -p "$OUT/extract"; sync
measure ref_tar_xzf tar -xzf "$GZ" -C "$OUT/extract"

ours=$(cat "$OUT/ours.secs"); base=$(cat "$OUT/baseline.secs")
awk -v o="$ours" -v b="$base" 'BEGIN { printf "ratio ours/baseline wall: %.2f (%.1f s vs %.1f s)\n", o/b, o, b }'
du -sh "$OUT/work" "$OUT/extract" 2>/dev/null || true
rm -rf "$OUT/extract"
