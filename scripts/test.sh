#!/usr/bin/env bash
# The README's test command: installs the build dependencies that are missing (Debian/Ubuntu,
# with apt-get), configures one build (CMake preset `dev`: Debug, warnings as errors, tests, tools
# and examples), builds it, and runs every test with CTest.
#
# usage: scripts/test.sh [--preset NAME] [-- CTEST_ARGS...]
#   --preset NAME   another preset from CMakePresets.json (release, asan, tsan, shared);
#                   or set RUNBASE_PRESET=NAME
#   CTEST_ARGS      passed to ctest, e.g. -- -L unit   or   -- -R package
# The build goes to build/<preset>; running it again rebuilds only what changed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

preset=${RUNBASE_PRESET:-dev}
ctest_args=()
while (($#)); do
  case $1 in
    --preset) preset=${2:?--preset needs a name}; shift 2 ;;
    --preset=*) preset=${1#--preset=}; shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# nghttp2-server: nghttpd, the HTTP/2 server of the transport tests.
packages=(build-essential cmake pkg-config libcurl4-openssl-dev nlohmann-json3-dev libgtest-dev
          libgmock-dev libcpp-httplib-dev libcli11-dev libpng-dev libbenchmark-dev python3-requests
          nghttp2-server)

stage_start=0
stage() {
  stage_start=$SECONDS
  printf '\n==> %s\n' "$*"
}
stage_done() {
  printf '==> %s took %ds\n' "$1" $((SECONDS - stage_start))
}

stage "dependencies"
if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=()
    if ((EUID != 0)); then
      command -v sudo >/dev/null 2>&1 || { echo "test.sh: not root and no sudo: install ${missing[*]}" >&2; exit 1; }
      sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
  else
    echo "all installed: ${packages[*]}"
  fi
else
  echo "test.sh installs its dependencies only on Debian or Ubuntu (apt-get). Install the" >&2
  echo "equivalents of these Debian packages, then run it again:" >&2
  echo "  ${packages[*]}" >&2
  echo "(a C++17 compiler, CMake >= 3.21, pkg-config, libcurl, nlohmann/json, GoogleTest + GoogleMock," >&2
  echo " cpp-httplib, CLI11, libpng, Google Benchmark, Python 3 with requests, nghttpd)" >&2
  exit 1
fi
stage_done "dependencies"

jobs=$(nproc 2>/dev/null || echo 2)

stage "configure (cmake --preset $preset)"
cmake --preset "$preset"
stage_done "configure"

stage "build (cmake --build --preset $preset -j$jobs)"
cmake --build --preset "$preset" -j"$jobs"
stage_done "build"

stage "test (ctest --preset $preset -j2 --output-on-failure ${ctest_args[*]})"
ctest --preset "$preset" -j2 --output-on-failure "${ctest_args[@]}"
stage_done "test"
