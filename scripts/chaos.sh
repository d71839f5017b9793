#!/usr/bin/env bash
# The fault harness: builds the `chaos` driver and the `chaos-host` processes, then runs the driver with the
# given arguments (see docs/reliability.md).
#   scripts/chaos.sh                     the full run (120 s of load under faults)
#   scripts/chaos.sh --bounded           the CI variant (at most 3 minutes in all, each fault kind once)
#   scripts/chaos.sh --duration 300 --seed 7
# The broker is librdkafka's in-process mock cluster unless AUTOGEN_KAFKA_TEST_BROKER=tansu (run
# scripts/install-tansu.sh first) or KAFKA_BOOTSTRAP_SERVERS=host:port says otherwise. Exit status: 0 when every
# invariant held, 1 when one was violated, 2 when the harness failed.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -p autogen-kafka-integration-tests --bins
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-target}/debug/chaos" "$@"
