#!/usr/bin/env bash
# Formatting and static analysis, as CI runs them. Exits non-zero on any finding.
#
#   scripts/lint.sh            # clang-format over every tracked .cpp/.hpp, clang-tidy over src/
#   LINT_FORMAT_ONLY=1 scripts/lint.sh
#   LINT_TIDY_ONLY=1 scripts/lint.sh
#
# clang-format uses .clang-format, clang-tidy uses .clang-tidy (findings in include/runbase and
# src headers are reported too). clang-tidy reads the compile_commands.json of a configure made
# here, in $LINT_BUILD_DIR (default build-lint), with the tests, tools and examples off; it checks
# every file of the library (src/*.cpp as compiled by the runbase_objects target).
# To fix formatting: clang-format -i <files listed>.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${LINT_BUILD_DIR:-$root/build-lint}"
jobs="${LINT_JOBS:-2}"
cd "$root"
started=$(date +%s)

missing=()
command -v clang-format >/dev/null || missing+=(clang-format)
command -v clang-tidy >/dev/null || missing+=(clang-tidy)
command -v clang++ >/dev/null || missing+=(clang)
command -v cmake >/dev/null || missing+=(cmake)
command -v git >/dev/null || missing+=(git)
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev pkg-config)
[[ -f /usr/include/nlohmann/json.hpp ]] || missing+=(nlohmann-json3-dev)
if ((${#missing[@]})); then
  echo "lint.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

format_failed=()
tidy_failed=()

# --- clang-format -----------------------------------------------------------------------------
if [[ -z "${LINT_TIDY_ONLY:-}" ]]; then
  # Tracked files only: build trees and generated headers are never tracked.
  mapfile -t sources < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^build')
  for file in "${sources[@]}"; do
    [[ -f "$file" ]] || continue  # deleted in the work tree, not yet in the index
    if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then
      format_failed+=("$file")
    fi
  done
  echo "clang-format: ${#sources[@]} files checked, ${#format_failed[@]} not formatted"
  for file in "${format_failed[@]}"; do echo "  needs clang-format: $file"; done
fi

# --- clang-tidy -------------------------------------------------------------------------------
if [[ -z "${LINT_FORMAT_ONLY:-}" ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DRUNBASE_BUILD_TESTS=OFF -DRUNBASE_BUILD_TOOLS=OFF \
    -DRUNBASE_BUILD_EXAMPLES=OFF -DRUNBASE_BUILD_BENCHMARKS=OFF -DRUNBASE_INSTALL=OFF >/dev/null
  # The library's own sources, as the configure compiles them.
  mapfile -t units < <(grep -o '"file": *"[^"]*"' "$build/compile_commands.json" |
    sed 's/"file": *"\(.*\)"/\1/' | grep "^$root/src/.*\.cpp$" | sort -u)
  logs="$build/tidy"
  rm -rf "$logs"
  mkdir -p "$logs"
  printf '%s\n' "${units[@]}" |
    xargs -P "$jobs" -I{} sh -c 'clang-tidy -p "$1" --quiet "$2" >"$3/$(basename "$2").log" 2>&1 ||
                                  echo "$2" >>"$3/failed"' sh "$build" {} "$logs"
  if [[ -f "$logs/failed" ]]; then
    mapfile -t tidy_failed < <(sort "$logs/failed")
    for unit in "${tidy_failed[@]}"; do
      echo "--- clang-tidy ${unit#"$root"/} ---"
      grep -E '(warning|error):' "$logs/$(basename "$unit").log" | sed "s|$root/||" || true
    done
  fi
  # grep finds nothing on a clean run: that is not a failure of the pipeline.
  findings=$({ cat "$logs"/*.log | grep -E '(warning|error):' || true; } | sort -u | wc -l)
  echo "clang-tidy: ${#units[@]} files checked, ${#tidy_failed[@]} with findings, $findings distinct findings"
fi

echo "lint.sh: $(($(date +%s) - started)) s"
if ((${#format_failed[@]} + ${#tidy_failed[@]})); then exit 1; fi
echo "lint: clean"
