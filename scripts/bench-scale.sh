#!/usr/bin/env bash
# The scale curves: host memory and first-message latency vs distinct agent ids (with and without passivation),
# host and broker CPU vs hosted agent types. Writes target/bench/scale.json, scale.md and scale-*.png.
#   scripts/bench-scale.sh            full counts (1k to 100k ids; 1, 4, 16 types), ~10 min on 2 CPUs
#   scripts/bench-scale.sh --quick    a smoke run
#   scripts/bench-scale.sh --max-ids 20000 --skip-types --out target/bench/ids20k   one figure
# The broker is the embedded mock cluster; AUTOGEN_KAFKA_TEST_BROKER=tansu (scripts/install-tansu.sh) or
# KAFKA_BOOTSTRAP_SERVERS choose another. The charts need a TrueType font (fonts-dejavu-core), installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  echo "bench-scale: installing fonts-dejavu-core for the charts" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq fonts-dejavu-core >/dev/null 2>&1 || echo "bench-scale: no font; charts skipped" >&2
fi

echo "bench-scale: building the harness (release)" >&2
cargo build --release -p autogen-kafka-bench --bins

target_dir="${CARGO_TARGET_DIR:-}"
if [ -z "$target_dir" ]; then
  target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
fi
case " $* " in
  *" --out "*) exec "$target_dir/release/bench-scale" "$@" ;;
  *) exec "$target_dir/release/bench-scale" --out target/bench "$@" ;;
esac
