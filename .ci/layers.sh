#!/usr/bin/env bash
# The layers the build keeps apart (docs/ARCHITECTURE.md). Each rule is a grep that must find
# nothing; a hit names the file and line that crossed a layer.
set -euo pipefail
cd "$(dirname "$0")/.."

foundation="src/image_ref.rs src/durable.rs src/gateway_type.rs src/charm_kind.rs src/secret.rs"
model="src/wizard src/session"
domain="src/registry src/artifacts src/bundle src/cluster src/synth src/release src/gather"
failed=0

rule() {
  local why=$1 pattern=$2
  shift 2
  if grep -rnE "$pattern" "$@"; then
    echo "layers: $why" >&2
    failed=1
  fi
}

# shellcheck disable=SC2086 # the lists are words on purpose
{
  rule "only the front ends may use a terminal crate or the front-end module" \
    'crate::frontend|ratatui|crossterm|dialoguer' src/engine src/answers $model $domain $foundation
  rule "the foundation modules import nothing of the crate" 'crate::' $foundation
  rule "the persisted model (wizard, session) imports only the foundation" \
    'crate::(engine|artifacts|bundle|registry|cluster|answers|demo|run|commands|synth)\b' $model
  rule "the domain libraries import neither the engine nor the model" \
    'crate::(engine|frontend|run|commands|demo|wizard|session|answers)\b' $domain
}
exit $failed
