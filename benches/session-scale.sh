#!/usr/bin/env bash
# session-scale.sh: does a finished unit cost the same at the end of a big release as at the
# start? A synthetic release of 500 images with 10 layers each (5,000 layers, tiny ones, so
# the session's own writes are what is measured) is read and pushed by the streaming path
# (Artifacts with the registry known), under `strace`, which records every write(2) into the
# session directory with a timestamp. A unit is done when its record reaches the disk: a
# journal line (`journal-<n>.jsonl`), or for a ckf-airgap before the journal, a rewrite of
# `session.json` (its temporary file). For the first and the last thousand units it prints the
# time per unit and the bytes written to the session directory per unit (journal, session
# file and log together, between one unit and the next), and their ratio. What is written
# once per step (the inventory, the save at the step's end) is reported on its own.
#
# Usage: benches/session-scale.sh [BINARY ...]
#   BINARY defaults to target/release/ckf-airgap (built here). Give several to compare them in
#   one run, e.g. a build of an earlier commit:
#     git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release)
#     benches/session-scale.sh target/release/ckf-airgap /tmp/old/target/release/ckf-airgap
#
# Needs strace, and the TLS registry of ../shared/perf/registry-up.sh (started here with an
# empty storage before each run). Results: /tmp/airgap-bench/scale/<label>.txt
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PERF=$(cd "$ROOT/../shared/perf" && pwd)
OUT=/tmp/airgap-bench/scale
mkdir -p "$OUT"
command -v strace >/dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 1; }

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin ckf-airgap --example synth_release
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=("$ROOT/target/release/ckf-airgap")

REL=$OUT/release-500x10
if [ ! -f "$REL/images.tar.gz" ]; then
  # 500 images: one of three shared base layers (4, 2 and 1 KiB) and 9 unique 1 KiB layers.
  "$ROOT/target/release/examples/synth_release" "$REL" 500 4K 1K legacy,docker25 9 >/dev/null
fi
EMPTY_CHARMS=$OUT/empty-charms.tar.gz
[ -f "$EMPTY_CHARMS" ] || tar -czf "$EMPTY_CHARMS" -T /dev/null

n=0
for BIN in "${BINS[@]}"; do
  n=$((n + 1))
  label="run$n"
  "$PERF/registry-up.sh" --fresh >/dev/null
  # shellcheck disable=SC1091
  . /tmp/airgap-bench/registry/env
  export REGISTRY_PASS
  state=$OUT/$label-state
  rm -rf "$state" "$OUT/$label-work"
  mkdir -p "$state"
  cat > "$state/answers.toml" <<ANS
[artifacts]
images = "$REL/images.tar.gz"
charms = "$EMPTY_CHARMS"
work_dir = "$OUT/$label-work"
[registry]
target = "$REGISTRY/scale"
username = "$REGISTRY_USER"
password_env = "REGISTRY_PASS"
ca_file = "$REGISTRY_CA"
[skip]
environment-checks = "benchmark"
placeholder-mapping = "benchmark"
gateway-type = "benchmark"
bundle-preview = "benchmark"
juju-deploy = "benchmark"
ANS
  start=$(date +%s.%N)
  # One trace file per thread (-ff), so that no call is split into unfinished/resumed halves.
  rm -rf "$OUT/$label.strace"
  mkdir -p "$OUT/$label.strace"
  strace --seccomp-bpf -ff -qq -ttt -y -e trace=write,writev,pwrite64 -o "$OUT/$label.strace/t" \
    "$BIN" --state-dir "$state" --mode headless --answers "$state/answers.toml" --new \
    > "$OUT/$label.log" 2>&1 || { echo "$BIN failed: see $OUT/$label.log" >&2; exit 1; }
  end=$(date +%s.%N)
  {
    echo "binary: $BIN"
    echo "wall under strace: $(echo "$end - $start" | bc) s"
    python3 - "$OUT/$label.strace" "$state/sessions" <<'PY'
import datetime, glob, re, sys
traces, sessions = sys.argv[1], sys.argv[2]
# The Artifacts step (the streaming push) as the session's log dates it.
log = glob.glob(sessions + "/*/ckf-airgap.log")[0]
def stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
start = end = None
for raw in open(log, errors="replace"):
    if "step started step=artifacts" in raw:
        start = stamp(raw.split()[0])
    elif "step finished step=artifacts" in raw:
        end = stamp(raw.split()[0])
line_re = re.compile(r'^(\d+\.\d+)\s+(?:write|writev|pwrite64)\((\d+)<([^>]*)>.*\)\s+=\s+(\d+)$')
events = []  # (time, path, bytes)
for trace in glob.glob(traces + "/t.*"):
    for raw in open(trace, errors="replace"):
        m = line_re.match(raw.strip())
        if not m or not m.group(3).startswith(sessions):
            continue
        events.append((float(m.group(1)), m.group(3), int(m.group(4))))
events.sort()
def name(path):
    return path.rsplit("/", 1)[-1]
journal = any(name(p).startswith("journal-") and name(p).endswith(".jsonl") for _, p, _ in events)
def is_unit(path):
    # A ckf-airgap with a journal records a unit as a journal line (its session.json saves
    # are the step's start and end); one without rewrites session.json for every unit.
    if journal:
        return name(path).startswith("journal-") and name(path).endswith(".jsonl")
    return name(path).startswith(".session.json.tmp.")
units = []     # (time, bytes written to the session directory since the previous unit)
pending = 0
after = 0      # bytes written after the step: the saves of the steps that follow
for t, path, n in events:
    if t > end:
        after += n
        continue
    if t < start:
        continue
    pending += n
    if is_unit(path):
        units.append((t, pending))
        pending = 0
total = len(units)
print(f"Artifacts step: {end - start:.1f} s, {total} units, {sum(b for _, b in units) + pending} bytes written to the session directory")
print(f"  of which after its last unit (the inventory, the step's own save): {pending} bytes")
print(f"after the step (the later steps' saves, the push report, the log): {after} bytes")
if total < 2000:
    sys.exit("fewer than 2,000 units: the release is too small to compare")
def window(part):
    t = [u[0] for u in part]
    per_unit_ms = (t[-1] - t[0]) / (len(part) - 1) * 1000
    bytes_per_unit = sum(u[1] for u in part[1:]) / (len(part) - 1)
    return per_unit_ms, bytes_per_unit
first, last = window(units[:1000]), window(units[-1000:])
print(f"first 1000 units: {first[0]:.3f} ms per unit, {first[1]:.0f} bytes per unit")
print(f"last 1000 units:  {last[0]:.3f} ms per unit, {last[1]:.0f} bytes per unit")
print(f"last / first: time {last[0] / first[0]:.2f}x, bytes {last[1] / first[1]:.2f}x")
PY
  } | tee "$OUT/$label.txt"
  rm -rf "$OUT/$label.strace"
done
