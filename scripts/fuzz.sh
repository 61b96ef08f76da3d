#!/usr/bin/env bash
# Builds the libFuzzer targets under tests/fuzz with clang (ASan + UBSan) and runs each one for a
# bounded time from its seed corpus. Fails on any crash, leak, sanitizer report or timeout.
#
#   scripts/fuzz.sh                 # 60 s per target (two targets at a time on 2 cores)
#   FUZZ_SECONDS=300 scripts/fuzz.sh
#   FUZZ_TARGETS="fuzz_url" scripts/fuzz.sh
#
# Environment: FUZZ_SECONDS (default 60), FUZZ_JOBS (targets run at once, default 2),
# FUZZ_TARGETS (space-separated subset), FUZZ_BUILD_DIR (default build-fuzz).
# A crash leaves its reproducer in $FUZZ_BUILD_DIR/artifacts/<target>/; replay it with
#   $FUZZ_BUILD_DIR/tests/fuzz/<target> <file>
# and, once understood, copy it into tests/fuzz/corpus/<target>/ so it is replayed every run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-2}"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
targets="${FUZZ_TARGETS:-fuzz_run_json fuzz_http_error fuzz_retry_after fuzz_url}"
started=$(date +%s)

# --- what the build needs, from Debian's packages when missing ------------------------------
clang_rt_fuzzer() {
  local dir
  dir="$(clang++ -print-resource-dir 2>/dev/null)/lib/linux"
  [[ -f "$dir/libclang_rt.fuzzer-x86_64.a" || -f "$dir/libclang_rt.fuzzer-$(uname -m).a" ]]
}
missing=()
command -v clang++ >/dev/null || missing+=(clang)
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || command -v make >/dev/null || missing+=(make)
command -v llvm-symbolizer >/dev/null || missing+=(llvm)
if ! command -v clang++ >/dev/null || ! clang_rt_fuzzer; then missing+=(libclang-rt-14-dev); fi
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev pkg-config)
[[ -f /usr/include/nlohmann/json.hpp ]] || missing+=(nlohmann-json3-dev)
if ((${#missing[@]})); then
  echo "fuzz.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- build ----------------------------------------------------------------------------------
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ -f "$build/CMakeCache.txt" ]] && ! grep -q '^RUNBASE_BUILD_FUZZERS:BOOL=ON' "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
[[ -f "$build/CMakeCache.txt" ]] || cmake -S "$root" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DRUNBASE_BUILD_FUZZERS=ON \
  -DRUNBASE_BUILD_TESTS=OFF -DRUNBASE_BUILD_EXAMPLES=OFF -DRUNBASE_BUILD_TOOLS=OFF \
  -DRUNBASE_BUILD_BENCHMARKS=OFF -DRUNBASE_INSTALL=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j2 --target $targets
built=$(date +%s)

# --- run ------------------------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
results="$build/fuzz-results"
rm -rf "$results"
mkdir -p "$results"

run_target() {
  local target=$1
  local corpus="$build/corpus/$target" artifacts="$build/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  # New inputs go to the build tree's corpus; the seeds in the repository are read, never written.
  local dict=()
  case $target in
    fuzz_run_json) dict=(-dict="$root/tests/fuzz/json.dict") ;;
    fuzz_http_error | fuzz_retry_after) dict=(-dict="$root/tests/fuzz/http.dict") ;;
  esac
  local status=0
  "$build/tests/fuzz/$target" "$corpus" "$root/tests/fuzz/corpus/$target" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" \
    >"$results/$target.log" 2>&1 || status=$?
  echo "$status" >"$results/$target.status"
}

pids=()
for target in $targets; do
  run_target "$target" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

# --- summary --------------------------------------------------------------------------------
failed=0
echo
printf '%-18s %-7s %12s %10s %8s %8s\n' target result executions exec/s cover corpus
for target in $targets; do
  log="$results/$target.log"
  status=$(cat "$results/$target.status")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cover=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  corpus=$( (grep -o 'corp: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  result=ok
  if [[ "$status" != 0 ]]; then
    result=CRASH
    failed=$((failed + 1))
  fi
  printf '%-18s %-7s %12s %10s %8s %8s\n' "$target" "$result" "${runs:--}" "${speed:--}" \
    "${cover:--}" "${corpus:--}"
done
for target in $targets; do
  if [[ "$(cat "$results/$target.status")" != 0 ]]; then
    echo
    echo "=== $target failed; reproducer(s) in $build/artifacts/$target/ ==="
    ls -1 "$build/artifacts/$target/" || true
    echo "--- last lines of $results/$target.log ---"
    (grep -v '^#[0-9]' "$results/$target.log" || true) | tail -60
  fi
done
echo
echo "fuzz.sh: ${seconds}s per target; build $((built - started))s, total $(($(date +%s) - started))s"
total=$(echo $targets | wc -w)
echo "fuzz: $((total - failed)) passed, $failed failed"
exit $((failed > 0))
