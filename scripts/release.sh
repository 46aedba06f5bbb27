#!/usr/bin/env bash
# scripts/release.sh: the release for x86_64 Linux hosts with glibc 2.28 or later (Ubuntu 20.04,
# 22.04, 24.04; RHEL 8 and later), built with cargo-zigbuild so no other toolchain or sysroot
# is needed, checked for its highest GLIBC_ symbol, and packed with completions, the man page,
# README, licence and SHA256SUMS.
#
# Usage: scripts/release.sh
#   Needs: cargo (rustup), python3 with pip (installs cargo-zigbuild and ziglang from PyPI when
#   missing), objdump (binutils), sha256sum, tar.
# Writes: dist/ckf-airgap-<version>-x86_64-linux/ and dist/ckf-airgap-<version>-x86_64-linux.tar.gz
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=x86_64-unknown-linux-gnu
GLIBC=2.28

if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "release.sh: installing cargo-zigbuild and ziglang from PyPI"
  python3 -m pip install --quiet cargo-zigbuild ziglang
fi
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET"

cargo zigbuild --release --locked --target "$TARGET.$GLIBC"
BIN=target/$TARGET/release/ckf-airgap

highest=$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
echo "release.sh: highest GLIBC_ symbol: $highest (at most $GLIBC allowed)"
if [ "$(printf '%s\n%s\n' "$highest" "$GLIBC" | sort -V | tail -1)" != "$GLIBC" ]; then
  echo "release.sh: $BIN needs glibc $highest, above $GLIBC: it would not start on RHEL 8" >&2
  exit 1
fi

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
NAME=ckf-airgap-$VERSION-x86_64-linux
DIST=dist/$NAME
rm -rf "$DIST"
mkdir -p "$DIST/completions"
cp "$BIN" "$DIST/ckf-airgap"
"$BIN" completions bash > "$DIST/completions/ckf-airgap.bash"
"$BIN" completions zsh > "$DIST/completions/_ckf-airgap"
"$BIN" completions fish > "$DIST/completions/ckf-airgap.fish"
"$BIN" man > "$DIST/ckf-airgap.1"
cp README.md LICENSE CHANGELOG.md "$DIST/"
(cd "$DIST" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS)
tar -czf "dist/$NAME.tar.gz" -C dist "$NAME"
echo "release.sh: $DIST and dist/$NAME.tar.gz ($("$BIN" --version))"
