#!/usr/bin/env bash
# push-scale.sh: does the whole push cost the same per gigabyte when the release is four times
# bigger? The benchmark release of ../shared/perf/make-dataset.sh large at its size (1x) and at
# SCALE=4 (every layer four times as big: about 11 GB of docker save tars) is read and pushed
# by the real binary, from images.tar.gz to the last manifest (Artifacts with the registry
# known, login, Push; the cluster steps skipped), into an empty TLS registry each time, in the
# same run, alternating 1x and 4x per repetition.
#
# Usage: benches/push-scale.sh [--reps N] [--codec gzip|zstd]
#
# Each run starts from an empty registry (registry-up.sh --fresh, on its own port and state
# directory, so it does not disturb a registry another benchmark left running), after `sync`
# and with images.tar.gz read once into the page cache, so neither size pays for the other's
# write-back or for a cold disk. Per run it records wall time, user+sys CPU and peak RSS
# (/usr/bin/time) and peak extra disk (work and session directories, sampled every 100 ms by
# one process). Per size it prints the medians and seconds per GB of images (the sum of the
# docker save tars, from dataset.json), and the 4x/1x ratios.
#
# Datasets: /tmp/airgap-bench/dataset-large (1x) and /tmp/airgap-bench/scale4/dataset-large
# (4x), generated when missing (~80 s and ~6 min). Results: /tmp/airgap-bench/push-scale/.
# The registry is stopped at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PERF=$(cd "$ROOT/../shared/perf" && pwd)
REPS=3
CODEC=gzip
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --codec) CODEC=$2; shift 2 ;;
    *) echo "usage: $0 [--reps N] [--codec gzip|zstd]" >&2; exit 2 ;;
  esac
done

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin ckf-airgap
BIN=$ROOT/target/release/ckf-airgap
ONE=/tmp/airgap-bench/dataset-large
FOUR=/tmp/airgap-bench/scale4/dataset-large
[ -f "$ONE/images.tar.gz" ] || "$PERF/make-dataset.sh" large
[ -f "$FOUR/images.tar.gz" ] || SCALE=4 OUT_BASE=/tmp/airgap-bench/scale4 "$PERF/make-dataset.sh" large
OUT=/tmp/airgap-bench/push-scale
mkdir -p "$OUT"
rm -f "$OUT/runs.txt"
EMPTY_CHARMS=$OUT/empty-charms.tar.gz
[ -f "$EMPTY_CHARMS" ] || tar -czf "$EMPTY_CHARMS" -T /dev/null
export REG_DIR=$OUT/registry REG_PORT=5444

run() { # label dataset
  local label=$1 dataset=$2 stamp state work
  stamp=$(date +%s%N)
  state=$OUT/state-$stamp
  work=$OUT/work-$stamp
  mkdir -p "$state" "$work"
  "$PERF/registry-up.sh" --fresh >/dev/null
  # shellcheck disable=SC1091
  . "$REG_DIR/env"
  export REGISTRY_PASS
  cat > "$state/answers.toml" <<ANS
[artifacts]
images = "$dataset/images.tar.gz"
charms = "$EMPTY_CHARMS"
work_dir = "$work"
[registry]
target = "$REGISTRY"
username = "$REGISTRY_USER"
password_env = "REGISTRY_PASS"
ca_file = "$REGISTRY_CA"
layer_compression = "$CODEC"
[skip]
environment-checks = "benchmark"
placeholder-mapping = "benchmark"
gateway-type = "benchmark"
bundle-preview = "benchmark"
juju-deploy = "benchmark"
ANS
  cat "$dataset/images.tar.gz" > /dev/null
  sync
  echo 0 > "$OUT/disk.peak"
  python3 "$ROOT/benches/peak-disk.py" "$work" "$state/sessions" "$OUT/disk.peak" &
  local sampler=$!
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/time" \
    "$BIN" --state-dir "$state" --mode headless --answers "$state/answers.toml" --new \
    > "$OUT/$label.last.log" 2>&1
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  grep -qE "pushed [0-9]+ images" "$OUT/$label.last.log" || {
    echo "$label: the push did not finish; see $OUT/$label.last.log" >&2
    exit 1
  }
  read -r wall user sys rss < "$OUT/time"
  local gb
  gb=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sum_tar_bytes'] / 1e9)" "$dataset/dataset.json")
  local stored
  stored=$(du -sb "$REG_DIR/storage" | cut -f1)
  echo "$label $wall $(echo "$user + $sys" | bc) $rss $(cat "$OUT/disk.peak") $gb $stored" | tee -a "$OUT/runs.txt"
  rm -rf "$state" "$work"
}

echo "label wall_s cpu_s peak_rss_kib peak_extra_disk_bytes images_gb registry_bytes"
for rep in $(seq "$REPS"); do
  run 1x "$ONE"
  run 4x "$FOUR"
done
"$PERF/registry-up.sh" --stop >/dev/null 2>&1 || true

python3 - "$OUT/runs.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, wall, cpu, rss, disk, gb, stored = line.split()
    rows.setdefault(label, []).append((float(wall), float(cpu), int(rss), int(disk), float(gb), int(stored)))
med = {}
print()
print("| size | images (GB of tars) | wall (median) | s per GB | CPU s per GB | peak RSS | peak extra disk | registry storage |")
print("|---|---|---|---|---|---|---|---|")
for label in ("1x", "4x"):
    r = rows[label]
    gb = r[0][4]
    wall = statistics.median(x[0] for x in r)
    cpu = statistics.median(x[1] for x in r)
    rss = statistics.median(x[2] for x in r) / 1024
    disk = statistics.median(x[3] for x in r) / 1e6
    stored = statistics.median(x[5] for x in r) / 2**20
    med[label] = (wall / gb, cpu / gb, rss, disk)
    walls = ", ".join(f"{x[0]:.1f}" for x in r)
    print(f"| {label} | {gb:.2f} | {wall:.1f} s ({walls}) | {wall / gb:.2f} | {cpu / gb:.2f} | {rss:.0f} MiB | {disk:.1f} MB | {stored:.0f} MiB |")
a, b = med["1x"], med["4x"]
print()
print(f"4x / 1x: s per GB {b[0] / a[0]:.2f}, CPU per GB {b[1] / a[1]:.2f}, peak RSS {b[2] / a[2]:.2f}, peak extra disk {b[3] / a[3]:.2f}")
PY
