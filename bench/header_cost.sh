#!/usr/bin/env bash
# Compile-time cost of `#include <runbase/runbase.hpp>` against the standard headers it uses.
#
#   bench/header_cost.sh            # g++ (or $CXX), 15 compiles of each file, interleaved
#   RUNS=30 CXX=clang++ bench/header_cost.sh
#
# Three one-line translation units are compiled with -std=c++17 -O0 -c, as a user's file would be:
#   empty.cpp    nothing included (the compiler's fixed cost)
#   std.cpp      every standard header that include/runbase/*.hpp includes
#   runbase.cpp  #include <runbase/runbase.hpp>
# The median compiler CPU time (user + system) of each is printed, with what runbase.hpp adds over the standard headers it needs.
# The generated headers (version.hpp, export.hpp) come from a configure in $BUILD_DIR
# (default build-header-cost), made here when missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx="${CXX:-c++}"
runs="${RUNS:-15}"
build="${BUILD_DIR:-$root/build-header-cost}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ ! -f "$build/include/runbase/export.hpp" ]]; then
  cmake -S "$root" -B "$build" -DRUNBASE_BUILD_TESTS=OFF -DRUNBASE_BUILD_TOOLS=OFF \
    -DRUNBASE_BUILD_EXAMPLES=OFF -DRUNBASE_INSTALL=OFF >/dev/null
fi

headers=$(cat "$root"/include/runbase/*.hpp "$build/include/runbase/version.hpp" |
  sed -n 's/^#include <\([^>]*\)>.*/\1/p' | sort -u)
printf 'int main() { return 0; }\n' >"$work/empty.cpp"
{
  for header in $headers; do printf '#include <%s>\n' "$header"; done
  printf 'int main() { return 0; }\n'
} >"$work/std.cpp"
printf '#include <runbase/runbase.hpp>\nint main() { return 0; }\n' >"$work/runbase.cpp"

# CPU time (user + system) of the compiler, in ms: steadier than wall time on a busy machine.
compile_ms() {
  local TIMEFORMAT='%3U %3S' cpu
  cpu=$({ time "$cxx" -std=c++17 -O0 -I"$root/include" -I"$build/include" -c "$work/$1.cpp" \
    -o "$work/$1.o" 2>/dev/null; } 2>&1)
  awk -v t="$cpu" 'BEGIN { split(t, p, " "); printf "%d", (p[1] + p[2]) * 1000 }'
}

declare -A times=([empty]="" [std]="" [runbase]="")
for ((i = 0; i < runs; i++)); do
  for unit in empty std runbase; do times[$unit]+="$(compile_ms "$unit") "; done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
empty=$(echo "${times[empty]}" | median)
std=$(echo "${times[std]}" | median)
runbase=$(echo "${times[runbase]}" | median)

echo "compiler: $("$cxx" --version | head -1); $runs compiles each, median compiler CPU time"
echo "standard headers used by include/runbase: $(echo $headers)"
printf '%-34s %8s\n' "translation unit" "CPU ms"
printf '%-34s %8s\n' "empty" "$empty"
printf '%-34s %8s\n' "the standard headers above" "$std"
printf '%-34s %8s\n' "#include <runbase/runbase.hpp>" "$runbase"
awk -v e="$empty" -v s="$std" -v r="$runbase" 'BEGIN {
  printf "runbase.hpp / standard headers: %.2f (runbase.hpp adds %d ms over them)\n", r / s, r - s
  if (s > e) printf "beyond the empty file: standard headers %d ms, runbase.hpp %d ms (%.2fx)\n", s - e, r - e, (r - e) / (s - e)
}'
