# autogen-kafka task runner. `just --list` shows the recipes.
# Every recipe works on a fresh machine: the scripts install what they need.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Show the recipes.
default:
    @just --list

# Run the demo on the embedded broker (no setup needed).
quickstart:
    cargo run --example quickstart

# All tests: unit, doc and integration tests (installs the Tansu broker first).
test:
    bash scripts/test.sh

# Integration tests only (tests that span crates and need a broker).
test-integration:
    bash scripts/test.sh integration

# Clients over TLS and mutual TLS to Tansu behind a TLS proxy, and SASL/SCRAM to Tansu with SQLite storage
# (feature ssl: builds OpenSSL into librdkafka; the SQLite Tansu is built from crates.io on first use, ~10 min).
test-tls:
    bash scripts/install-tansu.sh
    bash scripts/install-tansu-sasl.sh
    AUTOGEN_KAFKA_TEST_BROKER=tansu cargo nextest run -p autogen-kafka-integration-tests --features ssl -E 'test(/tls::|sasl::/)'

# The A2A gateway example driven by the official Python A2A SDK (installed into .tools/a2a-venv on first use).
test-a2a:
    bash scripts/a2a-interop.sh

# Format check and clippy with warnings denied, docs without warnings.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p autogen-kafka-testing --features kafka-container --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# The fault harness: hosts killed, restarted, joined and the broker faulted under load; checks the fleet's
# guarantees and exits non-zero on a violation (docs/reliability.md). `just chaos --bounded` is the CI variant.
chaos *args="":
    bash scripts/chaos.sh {{args}}

# Benchmarks: writes target/bench/results.json and a Markdown table.
bench:
    bash scripts/bench.sh

# Scale curves (memory vs agent ids, cost vs agent types): target/bench/scale.json and scale-*.png.
bench-scale *args="":
    bash scripts/bench-scale.sh {{args}}

# Fuzz every decoder for a short while each (needs the nightly toolchain and cargo-fuzz).
fuzz seconds="30":
    bash scripts/fuzz.sh {{seconds}}

# Install the Tansu broker used by multi-process tests into .tools/.
install-tansu:
    bash scripts/install-tansu.sh
