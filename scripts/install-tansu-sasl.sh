#!/usr/bin/env bash
# Build the Tansu broker with SQLite storage for the SASL/SCRAM tests (`TestBroker::tansu_with_scram`).
#
# The prebuilt Tansu of scripts/install-tansu.sh has memory storage only, where Tansu 0.6 does not keep SCRAM
# credentials, so no client can authenticate to it. This script builds Tansu 0.6.0 from crates.io with the
# `libsql` feature (SQLite, bundled, no system library needed) into `<repo>/.tools/tansu-sasl/bin/tansu`
# (ignored by git), with a light optimisation level to keep the build short (about 10 minutes on 2 CPUs), then
# removes the build directory. Running it again when the binary is present does nothing.
#
# Usage: scripts/install-tansu-sasl.sh [--force]
set -euo pipefail

readonly VERSION="0.6.0"

force=0
for arg in "$@"; do
    case "$arg" in
    --force) force=1 ;;
    -h | --help)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-tansu-sasl: error: unknown argument '$arg'" >&2
        exit 1
        ;;
    esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$repo_root/.tools/tansu-sasl"
binary="$root/bin/tansu"
stamp="$root/VERSION"

if [ "$force" -eq 0 ] && [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VERSION+libsql" ]; then
    echo "install-tansu-sasl: tansu $VERSION (sqlite) already at $binary"
    exit 0
fi

echo "install-tansu-sasl: building tansu $VERSION with SQLite storage (several minutes)" >&2
started=$(date +%s)
mkdir -p "$root"
# A release build without LTO at opt-level 1: the broker serves a few test connections, and the build is what
# CI waits for.
CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
CARGO_PROFILE_RELEASE_LTO=false \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 \
CARGO_PROFILE_RELEASE_DEBUG=false \
CARGO_TARGET_DIR="$root/target" \
    cargo install tansu --version "$VERSION" --locked --no-default-features --features libsql \
    --root "$root" --quiet
rm -rf "$root/target"
"$binary" --version >/dev/null
echo "$VERSION+libsql" >"$stamp"
echo "install-tansu-sasl: installed tansu $VERSION (sqlite) at $binary in $(($(date +%s) - started)) s"
