#!/usr/bin/env bash
# Ingest benchmark: `synapse add` of a 1 GiB file against `sha256sum` and `cp` of the same file,
# in the same run, 3 rounds each (median), plus `synapse cat` of it to /dev/null. All read the
# input from the page cache; `synapse add` is durable (fsync, store.sync = true), `cp` is not.
# The last line is one JSON object:
# {"bench":"ingest","bytes":N,"synapse_s":x,"sha256sum_s":y,"cp_s":z,"ratio_vs_sha256sum":y/x,
#  "peak_rss_mb":m,"cat_s":c,"cat_gb_per_s":g}
#
#   BENCH_BYTES    input size (default 1 GiB)
#   BENCH_ROUNDS   rounds (default 3)
#   SYNAPSE        the binary (default build/cli/synapse)
set -euo pipefail
cd "$(dirname "$0")/.."

bytes=${BENCH_BYTES:-$((1 << 30))}
rounds=${BENCH_ROUNDS:-3}
synapse=${SYNAPSE:-$PWD/build/cli/synapse}
[[ -x "$synapse" ]] || { echo "build first: cmake --build build --target synapse" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/synapse-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

head -c "$bytes" /dev/urandom >"$work/input"
cat "$work/input" >/dev/null  # every contender reads it from the page cache
sync                          # and none waits behind write-back of the input

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

add_times=() sha_times=() cp_times=() cat_times=() rss=()
for ((round = 1; round <= rounds; round++)); do
  rm -rf "$work/home" "$work/copy"
  "$synapse" --home "$work/home" init >/dev/null
  sync  # each timed step starts with no write-back pending from the previous one
  t0=$(now)
  cid=$(/usr/bin/time -f %M -o "$work/rss" "$synapse" --home "$work/home" add -q "$work/input")
  t1=$(now)
  add_times+=("$(elapsed "$t0" "$t1")")
  rss+=("$(cat "$work/rss")")

  sync; t0=$(now); sha256sum "$work/input" >/dev/null; t1=$(now)
  sha_times+=("$(elapsed "$t0" "$t1")")

  sync; t0=$(now); cp "$work/input" "$work/copy"; t1=$(now)
  cp_times+=("$(elapsed "$t0" "$t1")")
  rm -f "$work/copy"

  sync; t0=$(now); "$synapse" --home "$work/home" cat "$cid" >/dev/null; t1=$(now)
  cat_times+=("$(elapsed "$t0" "$t1")")
  echo "round $round: add ${add_times[-1]}s sha256sum ${sha_times[-1]}s cp ${cp_times[-1]}s" \
       "cat ${cat_times[-1]}s rss $((${rss[-1]} / 1024)) MiB" >&2
done

add=$(median "${add_times[@]}")
sha=$(median "${sha_times[@]}")
cpt=$(median "${cp_times[@]}")
catt=$(median "${cat_times[@]}")
peak=$(printf '%s\n' "${rss[@]}" | sort -n | tail -n 1)
printf '{"bench":"ingest","bytes":%d,"synapse_s":%.3f,"sha256sum_s":%.3f,"cp_s":%.3f,"ratio_vs_sha256sum":%.2f,"peak_rss_mb":%.1f,"cat_s":%.3f,"cat_gb_per_s":%.2f}\n' \
  "$bytes" "$add" "$sha" "$cpt" "$(echo "$sha / $add" | bc -l)" "$(echo "$peak / 1024" | bc -l)" \
  "$catt" "$(echo "$bytes / $catt / 1000000000" | bc -l)"
