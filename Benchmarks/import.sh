#!/usr/bin/env bash
# make bench, part 3: `discport import` of a generated tree against `cp -r` of
# the same tree to the same disk, in one run; peak memory at 2,000 and
# 20,000 files; CPU use (both cores?) (issue #4).
#
#   bash Benchmarks/import.sh [.build/release/discport]
#
# Trees (cached in .build/bench-data/import-N; BENCH_DATA overrides): N
# single-patient files of ~33 KB written by pydicom with
# Tests/conformance/make_import_tree.py (explicit and implicit VR, raw data
# sets without Part 10 header, encapsulated JPEG, `;1` names). Warm cache.
# Best of BENCH_RUNS (default 3), each into a fresh destination on the same
# file system as the tree:
# Destinations are kept until the end (scratch.sh), one per size, kind and run.
#   cp        cp -r TREE DEST
#   cp+sync   cp -r TREE DEST && sync -f DEST   (the store fsyncs what it writes)
#   as-is     discport import TREE --as-is --yes --json --home DEST > /dev/null
#             (scan, hash, copy byte-exact, catalog, fsync)
#   coerce    discport import TREE --patient-id LOCAL --yes … (headers rewritten)
# Targets: as-is <= 1.3x cp; peak RSS at 20k < 100 MB and flat (<= 1.5x the 2k figure).
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-.build/bench-data}
SIZES=${IMPORT_BENCH_SIZES:-"2000 20000"}
TIME=/usr/bin/time
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

[ -x "$DISCPORT" ] || { echo "import bench: $DISCPORT is missing (make release)" >&2; exit 1; }
[ -x "$TIME" ] || { echo "import bench: $TIME is missing (make deps installs the 'time' package)" >&2; exit 1; }

mkdir -p "$DATA"
scratch="$DATA/import-scratch"
. "$here/scratch.sh"
[ -e "$scratch" ] && discard "$scratch"
mkdir -p "$scratch"
trap '[ -e "$scratch" ] && discard "$scratch"; empty_trash' EXIT

# best SECONDS of a command run RUNS times; $1 = label; a fresh $dest each run.
measure() { # measure TREE KIND -> prints "seconds cpu_percent peak_kb"
    local tree=$1 kind=$2 best="" cpu="" peak=""
    for run in $(seq "$RUNS"); do
        # A new destination each run, kept until nothing is measured any
        # more (scratch.sh: no deletion while measuring).
        local dest="$scratch/dest-$(basename "$tree")-$kind-$run"
        sync -f "$scratch" 2> /dev/null || sync
        local out="$scratch/time.txt"
        case "$kind" in
            cp)      "$TIME" -f "%e %P %M" -o "$out" cp -r "$tree" "$dest" ;;
            cp+sync) "$TIME" -f "%e %P %M" -o "$out" sh -c 'cp -r "$1" "$2" && sync -f "$2"' _ "$tree" "$dest" ;;
            as-is)   "$TIME" -f "%e %P %M" -o "$out" "$DISCPORT" import "$tree" --as-is --yes --json --home "$dest" > "$scratch/log.jsonl" ;;
            coerce)  "$TIME" -f "%e %P %M" -o "$out" "$DISCPORT" import "$tree" --patient-id LOCAL-1 --yes --json --home "$dest" > "$scratch/log.jsonl" ;;
        esac
        if [ "$kind" = as-is ] || [ "$kind" = coerce ]; then
            python3 - "$scratch/log.jsonl" "$(find "$tree" -path '*/dicom/*' -type f | wc -l)" <<'PY'
import json, sys
finish = [json.loads(l) for l in open(sys.argv[1]) if '"finish"' in l][-1]
c = finish["counts"]
assert c["stored"] == int(sys.argv[2]) and c["failed"] == 0 and c["conflicts"] == 0, c
PY
        fi
        read -r seconds percent kb < "$out"
        if [ -z "$best" ] || awk "BEGIN {exit !($seconds < $best)}"; then best=$seconds; cpu=${percent%\%}; fi
        if [ -z "$peak" ] || [ "$kb" -gt "$peak" ]; then peak=$kb; fi
    done
    echo "$best $cpu $peak"
}

declare -A peak_at
echo "import bench: best of $RUNS, warm cache, same file system ($(df -h "$DATA" | awk 'NR==2 {print $1}')), load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $SIZES; do
    tree="$DATA/import-$n"
    if [ ! -f "$tree/.complete-v1" ]; then
        echo "import bench: generating $n files in $tree (once; cached)"
        rm -rf "$tree"
        python3 "$here/../Tests/conformance/make_import_tree.py" "$tree" "$n" --pixels 32768
        touch "$tree/.complete-v1"
    fi
    find "$tree" -type f -print0 | xargs -0 cat > /dev/null
    size=$(du -sm "$tree" | cut -f1)
    printf "\n%d files, %d MB\n" "$n" "$size"
    printf "  %-8s %9s %8s %9s %8s\n" tool seconds "x cp" "CPU %" "RSS MB"
    read -r cp_s cp_cpu cp_kb < <(measure "$tree" cp)
    for kind in cp cp+sync as-is coerce; do
        if [ "$kind" = cp ]; then s=$cp_s; c=$cp_cpu; kb=$cp_kb; else read -r s c kb < <(measure "$tree" "$kind"); fi
        printf "  %-8s %9.3f %8.2f %9s %8.1f\n" "$kind" "$s" "$(awk "BEGIN {print $s / $cp_s}")" "$c" "$(awk "BEGIN {print $kb / 1024}")"
        [ "$kind" = as-is ] && peak_at[$n]=$kb && asis_ratio=$(awk "BEGIN {print $s / $cp_s}")
    done
    echo "  target: as-is <= 1.30x cp: $(awk "BEGIN {print ($asis_ratio <= 1.3) ? \"met\" : \"MISSED\"}") (${asis_ratio}x)"
done
if [ -n "${peak_at[2000]:-}" ] && [ -n "${peak_at[20000]:-}" ]; then
    small=${peak_at[2000]}; large=${peak_at[20000]}
    echo
    echo "import bench: peak RSS 2k $(awk "BEGIN {print $small / 1024}") MB, 20k $(awk "BEGIN {print $large / 1024}") MB;" \
        "target < 100 MB: $(awk "BEGIN {print ($large < 102400) ? \"met\" : \"MISSED\"}"), flat (<= 1.5x): $(awk "BEGIN {print ($large <= 1.5 * $small) ? \"met\" : \"MISSED\"}")"
fi
