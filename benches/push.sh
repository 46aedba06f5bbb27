#!/usr/bin/env bash
# push.sh — benchmark the registry module (examples/push.rs) against the skopeo loop.
#
# Usage: benches/push.sh [--reps N] [--no-dataset]
#
# What it does:
#   1. cargo build --release --example push   (the timed command runs the built binary,
#      so cargo's own start-up is not measured; it is what `cargo run --release --example push`
#      would run)
#   2. /work/shared/perf/make-dataset.sh large   if /tmp/airgap-bench/dataset-large is missing
#      (20 images, 2.7 GB of docker-archive tars; ~80 s)
#   3. /work/shared/perf/baseline.sh --steps "push-cold push-warm tool-cold tool-warm"
#      with TOOL_CMD = our example pushing every extracted X.tar of the push list.
#      baseline.sh starts the TLS registry itself (registry-up.sh), runs every step under
#      /usr/bin/time -v (wall, CPU, peak RSS) and checks that every repo:tag resolves.
#   The example keeps a JSON ledger in /tmp/airgap-bench/ckf-ledger.json. A cold step starts
#   a fresh registry (new PID); the ledger is then dropped, as the engine drops its session's
#   ledger for a new target, so tool-cold starts with nothing known and tool-warm resumes
#   from the ledger of the cold run.
#   Note: the example first extracts each X.tar's members to a temp dir (the pusher streams
#   layers from files; the product gets them from its artifacts module). That copy is inside
#   the timed tool steps; the example prints "extract Xs, push Ys" to the step's log.
#
# Results: /tmp/airgap-bench/results/<UTC timestamp>/summary.md (min/median per step),
# runs.csv, logs/. The registry is left running (stop: /work/shared/perf/registry-up.sh --stop).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
PERF=/work/shared/perf
REPS=1
DATASET=1
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --no-dataset) DATASET=0; shift ;;
    *) echo "usage: $0 [--reps N] [--no-dataset]" >&2; exit 2 ;;
  esac
done

(cd "$HERE" && cargo build --release --example push)
BIN=$HERE/target/release/examples/push

if [ ! -f /tmp/airgap-bench/dataset-large/images.tar.gz ]; then
  [ "$DATASET" = 1 ] || { echo "no dataset and --no-dataset given" >&2; exit 1; }
  "$PERF/make-dataset.sh" large
fi

L=/tmp/airgap-bench/ckf-ledger.json
export TOOL_CMD='P=$(cat "$REG_DIR/registry.pid"); [ "$(cat '"$L"'.pid 2>/dev/null)" = "$P" ] || rm -f '"$L"'; echo "$P" >'"$L"'.pid; '"$BIN"' --registry "$REGISTRY" --ca "$REGISTRY_CA" -u "$REGISTRY_USER" -p "$REGISTRY_PASS" --ledger '"$L"' $(cut -f1 "$PUSHLIST")'
exec "$PERF/baseline.sh" --reps "$REPS" --steps "push-cold push-warm tool-cold tool-warm"
