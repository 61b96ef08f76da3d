#!/usr/bin/env bash
# Compile-cost ratio: how much more a translation unit that includes runbase/runbase.hpp costs to
# compile than one that includes only the standard headers the public API uses (STYLE.md's bar).
# Same compiler, same flags (the response file), full compile to an object file. The cost is the
# compiler's CPU time (user + sys), which a busy machine disturbs far less than wall time. Each TU
# is compiled RUNS times, alternately, and the cheapest of each is compared.
# Fails when the ratio is above LIMIT (STYLE.md: 1.25).
# usage: compile_cost.sh CXX RSP MEASURED.cpp BASELINE.cpp OUTDIR RUNS LIMIT
set -euo pipefail
cxx=$1 rsp=$2 measured=$3 baseline=$4 outdir=$5 runs=$6 limit=$7
mkdir -p "$outdir"

cpu_ms() {  # prints the CPU time of one compile of $1, in milliseconds
  local TIMEFORMAT='%3U %3S' times
  if ! times=$( { time "$cxx" "@$rsp" -c "$1" -o "$outdir/$(basename "$1").o" 2>"$outdir/stderr"; } 2>&1 ); then
    echo "compile failed: $cxx @$rsp -c $1" >&2
    cat "$outdir/stderr" >&2
    return 1
  fi
  awk -v t="$times" 'BEGIN { split(t, a, " "); printf "%d\n", (a[1] + a[2]) * 1000 }'
}

cpu_ms "$measured" >/dev/null  # warm the file cache
best_measured=0 best_baseline=0
for ((i = 1; i <= runs; i++)); do
  b=$(cpu_ms "$baseline")
  m=$(cpu_ms "$measured")
  ((best_baseline == 0 || b < best_baseline)) && best_baseline=$b
  ((best_measured == 0 || m < best_measured)) && best_measured=$m
  printf 'run %d: standard headers %5d ms, runbase.hpp %5d ms (CPU)\n' "$i" "$b" "$m"
done

awk -v m="$best_measured" -v b="$best_baseline" -v limit="$limit" 'BEGIN {
  ratio = m / b
  printf "cheapest: standard headers %d ms, runbase.hpp %d ms: ratio %.3f (limit %.2f)\n",
         b, m, ratio, limit
  if (ratio > limit) {
    print "FAIL: runbase/runbase.hpp costs more to compile than STYLE.md allows over the standard"
    print "headers the API uses. Look for a new heavy #include or inline code in include/runbase/."
    exit 1
  }
}'
