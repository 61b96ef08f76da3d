#!/usr/bin/env bash
# Builds the API reference of include/runbase with Doxygen, warnings as errors: an undocumented
# public declaration or a malformed comment fails it. Output: $DOCS_BUILD_DIR/docs/html/index.html.
#
#   scripts/docs.sh
#
# Environment: DOCS_BUILD_DIR (default build-docs).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DOCS_BUILD_DIR:-$root/build-docs}"
started=$(date +%s)

missing=()
command -v doxygen >/dev/null || missing+=(doxygen)
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=(g++)
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev pkg-config)
[[ -f /usr/include/nlohmann/json.hpp ]] || missing+=(nlohmann-json3-dev)
if ((${#missing[@]})); then
  echo "docs.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DRUNBASE_BUILD_DOCS=ON -DRUNBASE_BUILD_TESTS=OFF \
  -DRUNBASE_BUILD_TOOLS=OFF -DRUNBASE_BUILD_EXAMPLES=OFF -DRUNBASE_BUILD_BENCHMARKS=OFF \
  -DRUNBASE_INSTALL=OFF >/dev/null
status=0
cmake --build "$build" --target docs >"$build/docs-build.log" 2>&1 || status=$?
log="$build/docs/warnings.log"
# Doxygen repeats a base class's warnings under every derived class: show each once.
count=0
if [[ -s "$log" ]]; then
  count=$(sed "s|$root/||" "$log" | sort -u | wc -l)
  sed "s|$root/||" "$log" | sort -t: -k1,1 -k2,2n -u
fi
echo "docs.sh: $count distinct warnings, $(($(date +%s) - started)) s"
if ((status != 0)); then
  [[ -s "$log" ]] || cat "$build/docs-build.log"
  echo "docs: failed (fix the comments above in include/runbase)"
  exit 1
fi
echo "docs: $build/docs/html/index.html"
