#!/usr/bin/env bash
# The layers the build keeps apart (docs/ARCHITECTURE.md, "Layers and what each may import").
# Each rule is a grep that must find nothing; a hit names the file and line that crossed a
# layer. Every rule the table and the text beneath it state is here, one line each.
set -euo pipefail
cd "$(dirname "$0")/.."

foundation="src/byte_size.rs src/image_ref.rs src/durable.rs src/gateway_type.rs src/charm_kind.rs src/secret.rs src/ckf_release.rs src/version.rs src/oci.rs src/shown_text.rs"
model="src/wizard src/session"
domain="src/registry src/artifacts src/bundle src/cluster src/synth src/release src/gather"
program='run|commands|demo|cli|logging|signals|main'
steps="src/engine/steps/checks.rs src/engine/steps/artifacts.rs src/engine/steps/registry.rs \
src/engine/steps/push.rs src/engine/steps/mapping.rs src/engine/steps/gateway.rs \
src/engine/steps/preview.rs src/engine/steps/deploy.rs src/engine/steps/gather.rs"
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
  rule "the foundation modules import only each other" \
    "crate::(engine|frontend|wizard|session|answers|artifacts|bundle|registry|cluster|release|gather|synth|$program)\\b" $foundation
  rule "the persisted model (wizard, session) imports only the foundation" \
    "crate::(engine|artifacts|bundle|registry|cluster|release|gather|synth|answers|frontend|$program)\\b" $model
  rule "the domain libraries import neither the engine nor the model" \
    "crate::(engine|frontend|wizard|session|answers|$program)\\b" $domain
  rule "registry, artifacts, bundle and synth import no other domain library" \
    'crate::(registry|artifacts|bundle|cluster|release|gather|synth)\b' src/registry src/synth
  rule "artifacts imports no other domain library" \
    'crate::(registry|bundle|cluster|release|gather|synth)\b' src/artifacts
  rule "bundle imports no other domain library" \
    'crate::(registry|artifacts|cluster|release|gather|synth)\b' src/bundle
  rule "cluster reads only bundle's model among the domain libraries" \
    'crate::(registry|artifacts|release|gather|synth)\b' src/cluster
  rule "release reads only bundle and artifacts among the domain libraries" \
    'crate::(registry|cluster|gather|synth)\b' src/release
  rule "gather reads only registry, release and artifacts among the domain libraries" \
    'crate::(bundle|cluster|synth)\b' src/gather
  rule "answers imports only the model and the foundation" \
    "crate::(engine|frontend|artifacts|bundle|registry|cluster|release|gather|synth|session|$program)\\b" src/answers
  rule "the engine imports no program module" "crate::($program)\\b" src/engine
  rule "front ends import only the engine, the model and the foundation" \
    "crate::(artifacts|bundle|registry|cluster|release|gather|synth|answers|$program)\\b" src/frontend
  rule "no step calls another step's functions (what they share lives beside them)" \
    '(super|steps)::(checks|artifacts|registry|push|mapping|gateway|preview|deploy|gather)::' $steps
  rule "no step branches on the bundle form: what differs is one module per form (engine/steps/forms)" \
    'BundleForm::|is_release\(|release_bundle::' $steps
}
exit $failed
