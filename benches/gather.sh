#!/usr/bin/env bash
# gather.sh: `ckf-airgap gather` against the standard daemonless path (skopeo copy
# docker://... docker-archive:... per image, then tar + pigz), on the same local upstream, in
# the same run.
#
# Usage: benches/gather.sh [--dataset small|large] [--reps N]
#
#   1. cargo build --release.
#   2. ../shared/perf/registry-up.sh --fresh (a TLS registry with basic auth on loopback) and
#      ../shared/perf/make-dataset.sh <set> when missing.
#   3. The dataset's images are copied into that registry with skopeo: it plays the upstream.
#   4. Per rep, each from scratch (new session, new output directory):
#        gather: ckf-airgap gather --mode headless with the image list (Docker config
#                credentials, the registry's CA) → images.tar.gz, retagged-images.txt, lock;
#        skopeo: a skopeo copy to docker-archive per image, then tar | pigz → images.tar.gz.
#   5. Prints wall time (median), peak RSS and the output sizes, and the ratio gather/skopeo.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PERF=$(cd "$ROOT/../shared/perf" && pwd)
SET=small
REPS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dataset) SET=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    *) echo "usage: $0 [--dataset small|large] [--reps N]" >&2; exit 2 ;;
  esac
done

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/ckf-airgap
DATASET=/tmp/airgap-bench/dataset-$SET
[ -f "$DATASET/images.tar.gz" ] || "$PERF/make-dataset.sh" "$SET"
"$PERF/registry-up.sh" --fresh >/dev/null
# shellcheck disable=SC1091
. /tmp/airgap-bench/registry/env
WORK=$(mktemp -d /tmp/airgap-bench/gather.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The upstream: every image of the dataset under its own name in the registry.
mkdir -p "$WORK/tars"
tar -xzf "$DATASET/images.tar.gz" -C "$WORK/tars"
: > "$WORK/images.txt"
while read -r name; do
  [ -n "$name" ] || continue
  path=${name#*/}
  file=$(echo "$name" | tr '/:' '--').tar
  [ -f "$WORK/tars/$file" ] || file=$(ls "$WORK/tars" | grep -F -- "$(echo "$path" | tr '/:' '--')" | head -n1)
  skopeo copy -q --dest-cert-dir "$REGISTRY_CERT_DIR" --dest-creds "$REGISTRY_USER:$REGISTRY_PASS" \
    "docker-archive:$WORK/tars/$file" "docker://$REGISTRY/$path"
  echo "$REGISTRY/$path" >> "$WORK/images.txt"
done < "$DATASET/images.txt"
rm -rf "$WORK/tars"
COUNT=$(wc -l < "$WORK/images.txt")

mkdir -p "$WORK/docker"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$REGISTRY" \
  "$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)" > "$WORK/docker/config.json"

measure() { # name, command...: appends "name wall_s rss_kib" to results
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/$name.log" 2>&1
  echo "$name $(cat "$WORK/time")" >> "$WORK/results"
}

for rep in $(seq 1 "$REPS"); do
  out=$WORK/gather-$rep
  cat > "$WORK/gather-$rep.toml" <<EOF
[gather]
image_lists = ["$WORK/images.txt"]
ca_file = "$REGISTRY_CA"
output_dir = "$out"
EOF
  DOCKER_CONFIG=$WORK/docker measure gather "$BIN" --state-dir "$WORK/state-$rep" gather \
    --mode headless --answers "$WORK/gather-$rep.toml"
  gz_gather=$(stat -c %s "$out/images.tar.gz")

  sk=$WORK/skopeo-$rep
  mkdir -p "$sk/tars"
  measure skopeo bash -c '
    set -euo pipefail
    while read -r ref; do
      file=$(echo "${ref#*/}" | tr "/:" "--").tar
      skopeo copy -q --src-cert-dir "$0" --src-creds "$1" "docker://$ref" "docker-archive:$2/tars/$file:$ref"
    done < "$3"
    tar -C "$2/tars" -cf - . | pigz > "$2/images.tar.gz"
  ' "$REGISTRY_CERT_DIR" "$REGISTRY_USER:$REGISTRY_PASS" "$sk" "$WORK/images.txt"
  gz_skopeo=$(stat -c %s "$sk/images.tar.gz")
  rm -rf "$sk/tars" "$WORK/state-$rep"
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
g=$(awk '$1=="gather"{print $2}' "$WORK/results" | median)
s=$(awk '$1=="skopeo"{print $2}' "$WORK/results" | median)
gr=$(awk '$1=="gather"{print $3}' "$WORK/results" | median)
sr=$(awk '$1=="skopeo"{print $3}' "$WORK/results" | median)
echo "dataset $SET: $COUNT images, $REPS rep(s)"
echo "gather: ${g}s wall (median), ${gr} KiB peak RSS, images.tar.gz $gz_gather bytes"
echo "skopeo + tar + pigz: ${s}s wall (median), ${sr} KiB peak RSS (largest process), images.tar.gz $gz_skopeo bytes"
awk -v g="$g" -v s="$s" 'BEGIN {printf "ratio gather/skopeo: %.2f\n", g / s}'
