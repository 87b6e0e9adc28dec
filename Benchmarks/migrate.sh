#!/usr/bin/env bash
# make bench, part: `discport migrate` of a generated legacy tree (JPEG, PNG,
# PDF and DICOM in turn, with a manifest) against `cp -r` of the same tree to
# the same disk, in one run; peak memory at 2,000 and 20,000 rows (issue #10).
#
#   bash Benchmarks/migrate.sh [.build/release/discport]
#
# Trees are cached in .build/bench-data/migrate-N (BENCH_DATA overrides),
# written by Tests/conformance/make_legacy_tree.py. Warm cache, best of
# BENCH_RUNS (default 3), a fresh destination each run (kept until the size
# is done: ext4 is slow to allocate right after a mass deletion):
#   cp        cp -r legacy DEST
#   migrate   discport migrate --manifest manifest.csv --root legacy --home DEST
#             (pre-flight, conversion of JPEG/PNG/PDF, re-identification of
#             DICOM, hashing, catalog, fsync); also its least CPU time
#             (user + system) over the runs, steadier than the wall clock
# Targets: migrate <= 2x cp; peak RSS flat from 2k to 20k rows (<= 1.5x).
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-.build/bench-data}
SIZES=${MIGRATE_BENCH_SIZES:-"2000 20000"}
TIME=/usr/bin/time
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -x "$DISCPORT" ] || { echo "migrate bench: $DISCPORT is missing (make release)" >&2; exit 1; }
[ -x "$TIME" ] || { echo "migrate bench: $TIME is missing (make deps installs the 'time' package)" >&2; exit 1; }

scratch="$DATA/migrate-scratch"
. "$here/scratch.sh"
[ -e "$scratch" ] && discard "$scratch"
mkdir -p "$scratch"
trap '[ -e "$scratch" ] && discard "$scratch"; empty_trash' EXIT
declare -A peak
echo "migrate bench: best of $RUNS, warm cache, load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $SIZES; do
    tree="$DATA/migrate-$n"
    if [ ! -f "$tree/.complete-v2" ]; then
        echo "migrate bench: generating $n rows in $tree (once; cached)"
        rm -rf "$tree"
        python3 "$here/../Tests/conformance/make_legacy_tree.py" "$tree" "$n" --no-bad-rows
        touch "$tree/.complete-v2"
    fi
    find "$tree/legacy" -type f -print0 | xargs -0 cat > /dev/null
    best_cp=""; best_sync=""; best_mg=""; best_cpu=""; rss=0
    for run in $(seq "$RUNS"); do
        "$TIME" -f "%e %M" -o "$scratch/t" cp -r "$tree/legacy" "$scratch/cp-$n-$run"
        read -r s _ < "$scratch/t"
        if [ -z "$best_cp" ] || awk "BEGIN {exit !($s < $best_cp)}"; then best_cp=$s; fi
        # cp+sync: the copy made durable, as migrate makes what it stores.
        "$TIME" -f "%e %M" -o "$scratch/t" sh -c 'cp -r "$1" "$2" && sync -f "$2"' _ "$tree/legacy" "$scratch/cp-sync-$n-$run"
        read -r s _ < "$scratch/t"
        if [ -z "$best_sync" ] || awk "BEGIN {exit !($s < $best_sync)}"; then best_sync=$s; fi
        "$TIME" -f "%e %M %U %S" -o "$scratch/t" "$DISCPORT" migrate --manifest "$tree/manifest.csv" --root "$tree/legacy" \
            --home "$scratch/home-$n-$run" --json > "$scratch/log.jsonl" || { echo "migrate bench: discport migrate failed" >&2; tail -3 "$scratch/log.jsonl" >&2; exit 1; }
        read -r s kb user sys < "$scratch/t"
        grep -q "\"stored\":$n" "$scratch/log.jsonl" || { echo "migrate bench: not every row stored" >&2; tail -1 "$scratch/log.jsonl" >&2; exit 1; }
        if [ -z "$best_mg" ] || awk "BEGIN {exit !($s < $best_mg)}"; then best_mg=$s; fi
        # CPU seconds (user + system) of the run: steadier than the wall
        # clock on a machine whose disk and neighbours come and go.
        cpu=$(awk "BEGIN {print $user + $sys}")
        if [ -z "$best_cpu" ] || awk "BEGIN {exit !($cpu < $best_cpu)}"; then best_cpu=$cpu; fi
        [ "$kb" -gt "$rss" ] && rss=$kb
    done
    peak[$n]=$rss
    ratio=$(awk "BEGIN {print $best_mg / $best_cp}")
    printf "%6d rows (%s): cp -r %.3f s, cp+sync %.3f s, discport migrate %.3f s = %.2fx cp (%.2fx cp+sync; target <= 2x cp: %s), CPU %.2f s (%.0f µs/row), peak RSS %.1f MB\n" \
        "$n" "$(du -sh "$tree/legacy" | cut -f1)" "$best_cp" "$best_sync" "$best_mg" "$ratio" "$(awk "BEGIN {print $best_mg / $best_sync}")" \
        "$(awk "BEGIN {print ($ratio <= 2) ? \"met\" : \"MISSED\"}")" "$best_cpu" "$(awk "BEGIN {print $best_cpu / $n * 1e6}")" "$(awk "BEGIN {print $rss / 1024}")"
done
if [ -n "${peak[2000]:-}" ] && [ -n "${peak[20000]:-}" ]; then
    echo "migrate bench: peak RSS 2k $(awk "BEGIN {print ${peak[2000]} / 1024}") MB, 20k $(awk "BEGIN {print ${peak[20000]} / 1024}") MB; flat (<= 1.5x): $(awk "BEGIN {print (${peak[20000]} <= 1.5 * ${peak[2000]}) ? \"met\" : \"MISSED\"}")"
fi
