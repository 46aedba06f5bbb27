#!/usr/bin/env bash
# The project's test command (named in the README). On a fresh Debian machine, as root, it
# installs what the tests need, then checks formatting and lints and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: a real registry (CNCF distribution), an independent OCI
# client to check what we push, the tools that make TLS material and htpasswd files, and
# OpenSSH's ssh-keygen and ssh-agent to sign and check the lock.
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v ctr >/dev/null 2>&1 || need+=(containerd)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v pigz >/dev/null 2>&1 || need+=(pigz)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) and run again" >&2
    exit 1
  fi
fi

bash .ci/layers.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
