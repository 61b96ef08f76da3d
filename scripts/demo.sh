#!/usr/bin/env bash
# The README's first command: from a clean clone to an image on disk.
#
#   scripts/demo.sh
#
# 1. Installs the missing build dependencies (apt-get on Debian/Ubuntu; elsewhere it says what to
#    install).
# 2. Builds the `runbase` command-line program and `runbase-emulator` (Release, in build/demo).
# 3. Without RUNBASE_API_KEY: starts runbase-emulator, a local stand-in for the Runbase API, on a
#    free port, and generates against it (free, offline).
#    With RUNBASE_API_KEY: generates against the real service (one run costs $0.05).
# 4. Runs `runbase generate "A cinematic product photo of a ceramic lamp" --out out/` and prints
#    the path of the PNG it saved.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$ROOT/build/demo"
PROMPT="A cinematic product photo of a ceramic lamp"
OUT_DIR="out"

say() { printf '==> %s\n' "$*"; }
fail() {
  printf 'demo.sh: %s\n' "$*" >&2
  exit 1
}

# --- 1. dependencies ------------------------------------------------------------------------------

# Debian/Ubuntu packages the build needs (the tests' GoogleTest is not needed here).
DEBIAN_PACKAGES=(
  g++ make cmake pkg-config
  libcurl4-openssl-dev nlohmann-json3-dev  # the SDK
  libcli11-dev                             # the runbase program's arguments
  libcpp-httplib-dev libpng-dev            # runbase-emulator (brings libssl-dev, zlib, brotli)
  ca-certificates                          # TLS to the real service
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    fail "need root to run: $* (install sudo, or run that command as root, then run demo.sh again)"
  fi
}

install_debian_packages() {
  local missing=()
  local package
  for package in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
      missing+=("$package")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    say "Build dependencies: all installed"
    return
  fi
  say "Installing the missing build dependencies: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh system (a container) has no package lists yet: only then update first. Otherwise try
  # the lists at hand, and update only if they turn out to be stale.
  if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
    as_root apt-get update
  fi
  if ! as_root apt-get install -y --no-install-recommends "${missing[@]}"; then
    say "Installing failed; refreshing the package lists and trying again"
    as_root apt-get update
    as_root apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

check_other_system() {
  local tool missing=()
  for tool in cmake c++ pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  cat <<'EOF'
==> Not Debian/Ubuntu: demo.sh cannot install packages here. The build needs
    a C++17 compiler, CMake >= 3.16, pkg-config, libcurl (development files), nlohmann/json,
    CLI11, cpp-httplib (built with OpenSSL), OpenSSL and libpng. For example:
      Fedora:  sudo dnf install gcc-c++ cmake pkgconf libcurl-devel json-devel cli11-devel \
                 cpp-httplib-devel openssl-devel libpng-devel
      macOS:   brew install cmake pkg-config curl nlohmann-json cli11 cpp-httplib openssl libpng
EOF
  if [ "${#missing[@]}" -gt 0 ]; then
    fail "missing: ${missing[*]}; install the packages above and run demo.sh again"
  fi
  say "Trying the build with what is installed"
}

if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  install_debian_packages
else
  check_other_system
fi

# --- 2. build ------------------------------------------------------------------------------------

JOBS="$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)"
say "Building runbase and runbase-emulator (Release) in ${BUILD_DIR#"$ROOT"/}:" \
  "a few minutes the first time"
# Configure quietly (errors still reach stderr); show the build's progress.
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
  -DRUNBASE_BUILD_TOOLS=ON -DRUNBASE_BUILD_TESTS=OFF -DRUNBASE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD_DIR" --target runbase-cli runbase-emulator --parallel "$JOBS"
RUNBASE="$BUILD_DIR/tools/cli/runbase"
EMULATOR="$BUILD_DIR/tools/emulator/runbase-emulator"
[ -x "$RUNBASE" ] || fail "the build did not produce $RUNBASE"

# --- 3. where to generate ------------------------------------------------------------------------

EMULATOR_PID=""
WORK_DIR="$(mktemp -d)"
cleanup() {
  if [ -n "$EMULATOR_PID" ]; then
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${RUNBASE_API_KEY:-}" ]; then
  if [ -z "${RUNBASE_BASE_URL:-}" ]; then
    say "RUNBASE_API_KEY is set: using the real Runbase service (https://runbase.net/api/v1)." \
      "This run costs \$0.05."
  else
    say "RUNBASE_API_KEY is set: using the API at $RUNBASE_BASE_URL (RUNBASE_BASE_URL)." \
      "On the real service this run costs \$0.05."
  fi
  say "(To use the local emulator instead: RUNBASE_API_KEY= scripts/demo.sh)"
else
  say "No RUNBASE_API_KEY: starting runbase-emulator, a local stand-in for the Runbase API" \
    "(free, offline)"
  # --port 0: the system picks a free port; the emulator prints it on its first line.
  "$EMULATOR" --port 0 --latency-ms 2000 >"$WORK_DIR/emulator.log" 2>&1 &
  EMULATOR_PID=$!
  BASE_URL=""
  for _ in $(seq 1 100); do
    BASE_URL="$(sed -n 's/^runbase-emulator listening on //p' "$WORK_DIR/emulator.log")"
    [ -n "$BASE_URL" ] && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$BASE_URL" ]; then
    cat "$WORK_DIR/emulator.log" >&2
    fail "runbase-emulator did not start (its output is above)"
  fi
  say "runbase-emulator is listening on $BASE_URL"
  export RUNBASE_BASE_URL="$BASE_URL"
  # The emulator accepts any key that starts with sk-.
  export RUNBASE_API_KEY="sk-demo-local-emulator"
fi

# --- 4. generate ---------------------------------------------------------------------------------

cd "$ROOT"
say "runbase generate \"$PROMPT\" --out $OUT_DIR/"
# stdout: the saved paths; stderr (the status line, errors) goes straight to the terminal.
status=0
PATHS="$("$RUNBASE" generate "$PROMPT" --out "$OUT_DIR/")" || status=$?
if [ "$status" -ne 0 ]; then
  fail "runbase generate failed (exit code $status; docs/CLI.md lists them)"
fi

saved=""
while IFS= read -r path; do
  [ -n "$path" ] || continue
  case "$path" in
    /*) ;;
    *) path="$ROOT/${path#./}" ;;
  esac
  if [ "$(head -c 4 "$path" | tail -c 3)" != "PNG" ]; then
    fail "$path is not a PNG image"
  fi
  saved="$path"
  say "Saved a PNG image: $path"
done <<<"$PATHS"
[ -n "$saved" ] || fail "runbase generate saved no image"

RELATIVE_RUNBASE="${RUNBASE#"$ROOT"/}"
cat <<EOF

Next:
  $RELATIVE_RUNBASE --help    # every command; docs/CLI.md has the details
  export RUNBASE_API_KEY=sk-...    # your key (runbase.net, Settings -> API Keys); \$0.05 a run
  $RELATIVE_RUNBASE generate "A red fox in the snow" --aspect-ratio 3:2 --out out/
  examples/quickstart.cpp          # the same in C++
EOF
