#!/usr/bin/env bash
# The A2A gateway example driven by the official Python A2A SDK (a2a-sdk from PyPI, A2A 1.0) over both bindings,
# JSON-RPC and HTTP+JSON: card, send, stream, get, list, cancel, refusals (scripts/a2a/client_check.py). Installs
# the SDK into .tools/a2a-venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly SDK="a2a-sdk==1.3.0"
venv=".tools/a2a-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import a2a' 2>/dev/null; then
  echo "a2a-interop: installing $SDK into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "$SDK"
fi

cargo build -q --example a2a_gateway
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token="interop-$(date +%s%N)"
log="target/a2a-gateway-example.log"
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
"$target_dir/debug/examples/a2a_gateway" --listen "127.0.0.1:$port" --token "$token" >"$log" 2>&1 &
gateway=$!
trap 'kill "$gateway" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  grep -q "bearer token" "$log" && break
  kill -0 "$gateway" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.5
done
grep -q "bearer token" "$log" || { echo "a2a-interop: the gateway did not come up" >&2; cat "$log"; exit 1; }
for binding in JSONRPC HTTP+JSON; do
  "$venv/bin/python" scripts/a2a/client_check.py "http://127.0.0.1:$port" "$token" "$binding"
done
