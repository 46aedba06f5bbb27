#!/usr/bin/env bash
# wizard-push.sh: the whole product path, images.tar.gz to the last manifest, timed against the
# standard tools on the same machine in the same run.
#
# Usage: benches/wizard-push.sh [--reps N] [--codec gzip|zstd|gzip,zstd] [--zstd-level N]
#
#   --codec: the layers' codec, written as [registry] layer_compression (default gzip; the
#   wizard's own default follows the cluster's runtimes, which the benchmark has none of).
#   Several, comma-separated: each repetition runs the tool steps once per codec after the
#   same skopeo run, and the table at the end compares each with those skopeo runs.
#   --zstd-level: written as [registry] zstd_level for zstd (default: the wizard's).
#
#   1. cargo build --release (the real binary, not an example).
#   2. ../shared/perf/make-dataset.sh large when /tmp/airgap-bench/dataset-large is missing
#      (20 images, 2.7 GB of docker save tars, images.tar.gz of 1.1 GB; ~80 s).
#   3. ../shared/perf/baseline.sh, per repetition --steps "e2e-cold push-warm" then (after a
#      `sync`, as baseline.sh does before e2e-cold) --steps "tool-cold tool-warm", where
#      e2e-cold is the operator's way (tar -xzf, then a skopeo copy loop) and TOOL_CMD runs
#      `ckf-airgap --mode headless` with an answers file that reads images.tar.gz (Artifacts
#      step: one pass, every layer verified and, the registry being known, pushed while read),
#      logs in (preflight) and runs the Push step (which finds every image pushed), skipping
#      the cluster steps. Each tool run is a new session:
#        tool-cold: empty registry, so every layer is compressed and sent;
#        tool-warm: the registry holds everything; a new session adopts every image by its
#                   manifest and sends no blob (it still reads and verifies the archive).
#   While each tool run works, a sampler records the peak size of its work directory and the
#   session directory every 100 ms ("peak extra disk").
#   4. A re-run of the cold session itself (`--session ID`): every unit is recorded, so it
#      finishes at once. Printed as "same-session re-run".
#
# Results: /tmp/airgap-bench/results/<UTC timestamp>/ (the skopeo steps) and
# <timestamp>-<codec>/ (the tool steps), each with summary.md and runs.csv (wall, CPU, peak
# RSS); then one table of medians, each codec against the skopeo runs of the same repetitions.
# The registry is left running (stop: ../shared/perf/registry-up.sh --stop).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PERF=$(cd "$ROOT/../shared/perf" && pwd)
REPS=1
CODEC=gzip
ZSTD_LEVEL=
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --codec) CODEC=$2; shift 2 ;;
    --zstd-level) ZSTD_LEVEL=$2; shift 2 ;;
    *) echo "usage: $0 [--reps N] [--codec gzip|zstd|gzip,zstd] [--zstd-level N]" >&2; exit 2 ;;
  esac
done

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/ckf-airgap
DATASET=/tmp/airgap-bench/dataset-large
[ -f "$DATASET/images.tar.gz" ] || "$PERF/make-dataset.sh" large
EMPTY_CHARMS=/tmp/airgap-bench/empty-charms.tar.gz
[ -f "$EMPTY_CHARMS" ] || tar -czf "$EMPTY_CHARMS" -T /dev/null

STATE=/tmp/airgap-bench/ckf-state
WORKDIR=/tmp/airgap-bench/ckf-work
rm -rf "$STATE" "$WORKDIR" /tmp/airgap-bench/ckf-disk.log
TOOL=/tmp/airgap-bench/ckf-tool.sh
cat > "$TOOL" <<TOOL
#!/usr/bin/env bash
set -euo pipefail
stamp=\$(date +%s%N)
mkdir -p "$STATE"
ans="$STATE/answers-\$stamp.toml"
cat > "\$ans" <<ANS
[artifacts]
images = "\$GZ"
charms = "$EMPTY_CHARMS"
work_dir = "$WORKDIR/\$stamp"
[registry]
target = "\$REGISTRY"
username = "\$REGISTRY_USER"
password_env = "REGISTRY_PASS"
ca_file = "\$REGISTRY_CA"
layer_compression = "\$LAYER_CODEC"
\$LEVEL_LINE
[skip]
environment-checks = "benchmark"
placeholder-mapping = "benchmark"
gateway-type = "benchmark"
bundle-preview = "benchmark"
juju-deploy = "benchmark"
ANS
export REGISTRY_PASS
# Peak extra disk: the work directory and the session directory, sampled every 100 ms by one
# process (a shell loop would fork du, awk and sleep ten times a second, about 0.3 s of CPU the
# tool would be charged for).
mkdir -p "$WORKDIR/\$stamp"
echo 0 > /tmp/airgap-bench/ckf-disk.peak
python3 "$ROOT/benches/peak-disk.py" "$WORKDIR/\$stamp" "$STATE/sessions" /tmp/airgap-bench/ckf-disk.peak &
sampler=\$!
"$BIN" --state-dir "$STATE" --mode headless --answers "\$ans" --new > /tmp/airgap-bench/ckf-tool.last.log
kill "\$sampler" 2>/dev/null || true
echo "peak extra disk: \$(cat /tmp/airgap-bench/ckf-disk.peak) bytes" | tee -a /tmp/airgap-bench/ckf-disk.log
grep -E "pushed [0-9]+ images" /tmp/airgap-bench/ckf-tool.last.log || true
TOOL
chmod +x "$TOOL"

# baseline.sh runs `sync` before e2e-cold but not before tool-cold, so a tool run would pay for
# the write-back of what the skopeo run before it wrote. Each repetition therefore calls it twice
# into one results directory, with a `sync` before the tool steps as well: every timed run
# starts with no dirty pages, and the summary is computed over all rows.
OUT=/tmp/airgap-bench/results/$(date -u +%Y%m%dT%H%M%SZ)
IFS=, read -r -a CODECS <<< "$CODEC"
for rep in $(seq "$REPS"); do
  "$PERF/baseline.sh" --dataset "$DATASET" --reps 1 --out "$OUT" --steps "e2e-cold push-warm"
  for codec in "${CODECS[@]}"; do
    sync
    level=
    [ "$codec" = zstd ] && [ -n "$ZSTD_LEVEL" ] && level="zstd_level = $ZSTD_LEVEL"
    LAYER_CODEC=$codec LEVEL_LINE=$level TOOL_CMD="$TOOL" "$PERF/baseline.sh" \
      --dataset "$DATASET" --reps 1 --out "$OUT-$codec" --steps "tool-cold tool-warm"
  done
done

first=$(ls "$STATE/sessions" | sort | head -1)
answers=$(ls "$STATE"/answers-*.toml | sort | head -1)
. /tmp/airgap-bench/registry/env
export REGISTRY_PASS
start=$(date +%s.%N)
"$BIN" --state-dir "$STATE" --mode headless --answers "$answers" --session "$first" >/dev/null
end=$(date +%s.%N)
echo "same-session re-run: $(echo "$end - $start" | bc) s"
echo "peak extra disk per tool run (work and session directories), in run order:"
cat /tmp/airgap-bench/ckf-disk.log

python3 - "$OUT" "${CODECS[@]}" <<'PY'
import csv, statistics, sys
out, codecs = sys.argv[1], sys.argv[2:]
def rows(path, step):
    return [r for r in csv.DictReader(open(path + "/runs.csv")) if r["step"] == step]
base = rows(out, "e2e-cold")
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
b_wall, b_store = med(base, "wall_s"), med(base, "storage_bytes")
print()
print("| | cold wall, median (runs) | vs. tar + skopeo | user+sys | peak RSS | registry storage (vs. skopeo's) |")
print("|---|---|---|---|---|---|")
walls = ", ".join(r["wall_s"] for r in base)
print(f"| tar -xzf + skopeo loop | {b_wall:.1f} s ({walls}) | 1 | {med(base, 'user_s') + med(base, 'sys_s'):.1f} s | {med(base, 'maxrss_kb') / 1024:.0f} MiB | {b_store / 2**20:.0f} MiB |")
for codec in codecs:
    t = rows(f"{out}-{codec}", "tool-cold")
    wall = med(t, "wall_s")
    walls = ", ".join(r["wall_s"] for r in t)
    cpu = statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in t)
    store = med(t, "storage_bytes")
    print(f"| ckf-airgap, {codec} | {wall:.1f} s ({walls}) | {wall / b_wall:.3f} | {cpu:.1f} s | {med(t, 'maxrss_kb') / 1024:.0f} MiB | {store / 2**20:.0f} MiB ({store / b_store:.2f}) |")
PY
