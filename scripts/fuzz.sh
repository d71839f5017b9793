#!/usr/bin/env bash
# Fuzzes every decoder of autogen-kafka-events (the targets in fuzz/fuzz_targets/).
#   scripts/fuzz.sh [SECONDS]    run each target for SECONDS (default 30)
# Needs the nightly toolchain (`cargo +nightly`); installs cargo-fuzz when it is missing. Each target's
# corpus (fuzz/corpus/<target>, not committed) is seeded at run time from the golden vectors in
# crates/autogen-kafka-events/tests/vectors/. Exits non-zero when a target crashes (a panic, a failed
# check, a timeout or out of memory); the input that did it is kept in fuzz/artifacts/<target>/.
# Environment: FUZZ_TOOLCHAIN (default nightly), FUZZ_SANITIZER (default address; `none` is faster),
# FUZZ_TARGETS (space-separated subset), CARGO_TARGET_DIR (build directory; default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS]   (SECONDS: a positive whole number, default 30)" >&2
  exit 2
fi
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo "+$toolchain" --version >/dev/null 2>&1; then
  echo "fuzz: the $toolchain toolchain is missing: rustup toolchain install $toolchain" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

# The fuzz project is outside the workspace; start from the workspace's lock file so that it
# tests the dependency versions the workspace uses.
cp Cargo.lock fuzz/Cargo.lock

build_flags=(--sanitizer "$sanitizer")
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  build_flags+=(--target-dir "$CARGO_TARGET_DIR/fuzz")
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

echo "== building ${#targets[@]} fuzz targets" >&2
cargo "+$toolchain" fuzz build "${build_flags[@]}"

vectors=crates/autogen-kafka-events/tests/vectors
seed() {
  local target="$1" dir="fuzz/corpus/$1"
  mkdir -p "$dir"
  cp "$vectors"/*.bin "$dir"/
  if [ "$target" = binary_headers ]; then
    # Binary content mode: `key:value` header lines, an empty line, the value.
    printf 'ce_specversion:1.0\nce_id:msg-1\nce_source:default\nce_type:news\nce_time:2025-01-02T03:04:05.123456+00:00\nce_subject:default\nce_dataschema:Ping\ncontent-type:application/json\nce_agagentsendertype:caller\nce_agagentsenderkey:default\nce_agmsgkind:publish\n\n{"content": "hello"}' \
      >"$dir/seed_binary_publish"
    printf 'ce_specversion:1.0\nce_id:msg-2\nce_source:default\nce_type:news\n' >"$dir/seed_binary_minimal"
  fi
}

failed=()
for target in "${targets[@]}"; do
  seed "$target"
  echo "== fuzzing $target for ${seconds}s" >&2
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: libFuzzer's default (2 GiB).
  if ! cargo "+$toolchain" fuzz run "${build_flags[@]}" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash" >&2
