#!/usr/bin/env bash
# The fuzzing driver behind `make fuzz` and `make fuzz-smoke` (fuzz/README.md): configures and
# builds the fuzz preset (build/fuzz, target fuzz_all), then runs each libFuzzer target for
# FUZZ_SECONDS on a fresh corpus seeded from the fixtures, keeps crashes under
# build/fuzz/findings/<name>/ and prints a summary table. Exits non-zero when any target crashed.
#
#   FUZZ_SECONDS=300 fuzz/run.sh            # every target, 300 s each
#   FUZZ_TARGETS="antminer prices" fuzz/run.sh
#   FUZZ_JOBS=2 fuzz/run.sh                 # two targets at a time (default 1)
#   FUZZ_NO_BUILD=1 fuzz/run.sh             # use the executables already built
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${FUZZ_SECONDS:-300}
jobs=${FUZZ_JOBS:-1}
build=build/fuzz
nice_cmd=(nice -n "${FUZZ_NICE:-10}")

if [[ -z "${FUZZ_NO_BUILD:-}" ]]; then
  [[ -f $build/build.ninja ]] || cmake --preset fuzz >/dev/null
  "${nice_cmd[@]}" cmake --build --preset fuzz -j "${JOBS:-$(nproc)}"
fi

list=$build/fuzz/targets.txt
[[ -f $list ]] || { echo "fuzz: $list missing; configure with 'cmake --preset fuzz'" >&2; exit 2; }
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a wanted <<<"$FUZZ_TARGETS"
else
  mapfile -t wanted < <(awk '{print $1}' "$list")
fi

# Seeds: each fixture once per selector byte (fuzz/fuzz_input.hpp), cut to 64 KiB so the ERCOT
# week does not set libFuzzer's max_len; then the saved regressions as they are.
seed_corpus() {
  local name=$1 selectors=$2 corpus=$3
  shift 3
  local dir f s i=0
  for dir in "$@"; do
    for f in "$dir"/*; do
      [[ -f $f ]] || continue
      i=$((i + 1))
      if [[ $selectors -eq 0 ]]; then
        head -c 65536 "$f" >"$corpus/seed_${i}"
        continue
      fi
      for ((s = 0; s < selectors; s++)); do
        { printf "\\x$(printf %02x "$s")"; head -c 65535 "$f"; } >"$corpus/seed_${i}_${s}"
      done
    done
  done
  for f in fuzz/regressions/"$name"/*; do
    [[ -f $f ]] && cp "$f" "$corpus/"
  done
  return 0
}

run_one() {
  local name=$1 selectors seeds exe corpus findings log dict
  read -r _ selectors seeds < <(awk -v n="$name" '$1 == n' "$list")
  exe=$build/fuzz/${name}_fuzz
  [[ -x $exe ]] || { echo "fuzz: $exe not built" >&2; return 2; }
  corpus=$build/corpus/$name
  findings=$build/findings/$name
  log=$build/logs/$name.log
  rm -rf "$corpus"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  # shellcheck disable=SC2086
  seed_corpus "$name" "$selectors" "$corpus" $seeds
  local args=(-max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10
              -artifact_prefix="$findings/")
  for dict in fuzz/dict/"$name".dict; do
    [[ -f $dict ]] && args+=(-dict="$dict")
  done
  case $name in
    antminer | whatsminer | avalon | braiins | luxos | vnish | driver_helpers | cgminer_json | ingest)
      args+=(-dict=fuzz/dict/json.dict) ;;
    config | policy) args+=(-dict=fuzz/dict/toml.dict) ;;
    prices) args+=(-dict=fuzz/dict/csv.dict) ;;
  esac
  local start end rc=0
  start=$(date +%s)
  # Findings of earlier runs stay (they are the inputs to keep); only this run's are counted.
  touch "$build/logs/$name.started"
  # CPU seconds of the target (user + system) from bash's `times`-like TIMEFORMAT.
  local TIMEFORMAT='%U %S'
  { time "${nice_cmd[@]}" "$exe" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?; } 2>"$log.time"
  end=$(date +%s)
  local cpu execs size crashes
  cpu=$(awk '{printf "%.1f", $1 + $2}' "$log.time")
  execs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  crashes=$(find "$findings" -type f -newer "$build/logs/$name.started" \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [[ $rc -ne 0 && $crashes -eq 0 ]]; then crashes=1; fi  # died without writing an input
  echo "$name ${cpu} ${execs:-0} $size $crashes $((end - start)) $rc" >"$build/logs/$name.result"
}

mkdir -p "$build/logs"
rm -f "$build"/logs/*.result
running=0
for name in "${wanted[@]}"; do
  echo "fuzz: $name for ${seconds}s"
  run_one "$name" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

printf '\n%-16s %10s %14s %8s %8s\n' target cpu_s executions corpus crashes
total_cpu=0
total_execs=0
failed=0
for name in "${wanted[@]}"; do
  r=$build/logs/$name.result
  if [[ ! -f $r ]]; then
    printf '%-16s %10s %14s %8s %8s\n' "$name" - - - "not run"
    failed=1
    continue
  fi
  read -r _ cpu execs size crashes _ _ <"$r"
  printf '%-16s %10s %14s %8s %8s\n' "$name" "$cpu" "$execs" "$size" "$crashes"
  total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN {printf "%.1f", a + b}')
  total_execs=$((total_execs + execs))
  [[ $crashes -eq 0 ]] || failed=1
done
printf '%-16s %10s %14s\n' total "$total_cpu" "$total_execs"
if [[ $failed -ne 0 ]]; then
  echo "fuzz: crashes found: inputs in $build/findings/<target>/, logs in $build/logs/" >&2
  exit 1
fi
