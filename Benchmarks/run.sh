#!/usr/bin/env bash
# make bench: discport's header scan against the raw I/O floor and DCMTK's
# dcmdump on the same generated tree.
#
#   bash Benchmarks/run.sh [.build/release/discport]
#
# The tree (5,000 CT-like files, ~2.6 GB) is generated once with discport's
# own writer and cached in .build/bench-data (BENCH_DATA overrides; BENCH_FILES
# sets the count, BENCH_WIDTH the task width, BENCH_RUNS the best-of count).
# Measured warm: every file is read once before timing.
#   (a) discport: DICOMFile(contentsOf:options: .header) on every file, W tasks at a time
#   (b) floor:    open + pread of the first 4 KB + close, same walker, same W
#   (a) and (b) again one file at a time, in thread CPU time (discport-bench cpu)
#   (c) dcmdump:  one process over the whole tree: dcmdump -q +sd +r DIR > /dev/null
# Targets: discport/floor <= 1.5, dcmdump/discport >= 5.
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
BIN_DIR=$(dirname "$DISCPORT")
BENCH="$BIN_DIR/discport-bench"
FILES=${BENCH_FILES:-5000}
WIDTH=${BENCH_WIDTH:-4}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-.build/bench-data}
TREE="$DATA/tree-$FILES"
MARK="$TREE/.complete-v1"

if [ ! -x "$BENCH" ]; then
    echo "bench: $BENCH is missing; build it with: make release" >&2
    exit 1
fi

if [ ! -f "$MARK" ]; then
    echo "bench: generating $FILES files in $TREE (once; cached)"
    rm -rf "$TREE"
    mkdir -p "$TREE"
    "$BENCH" generate "$TREE" --count "$FILES"
    touch "$MARK"
fi

echo "bench: warming the page cache"
find "$TREE" -type f -print0 | xargs -0 cat > /dev/null

now() { date +%s.%N; }

echo "bench: discport header scan and I/O floor (width $WIDTH, best of $RUNS)"
result=$("$BENCH" measure "$TREE" --width "$WIDTH" --runs "$RUNS")
echo "$result" | sed 's/^/  /'
files=$(echo "$result" | awk '$1 == "files" {print $2}')
header=$(echo "$result" | awk '$1 == "header_seconds" {print $2}')
floor=$(echo "$result" | awk '$1 == "floor_seconds" {print $2}')
header_ok=$(echo "$result" | awk '$1 == "header_ok" {print $2}')
if [ "$header_ok" != "$files" ]; then
    echo "bench: discport read only $header_ok of $files headers" >&2
    exit 1
fi

# The same two passes on one thread, in CPU time: what the wall clock above
# hides when the page cache, not the parse, sets the pace (or other work
# loads the machine).
cpu=$("$BENCH" cpu "$TREE" --runs "$RUNS")
header_cpu=$(echo "$cpu" | awk '$1 == "header_cpu_seconds" {print $2}')
floor_cpu=$(echo "$cpu" | awk '$1 == "floor_cpu_seconds" {print $2}')

dcmdump_best=""
if command -v dcmdump > /dev/null; then
    echo "bench: dcmdump -q +sd +r (one process over the tree, best of $RUNS)"
    for _ in $(seq "$RUNS"); do
        start=$(now)
        dcmdump -q +sd +r "$TREE" > /dev/null 2>&1 || true
        end=$(now)
        dcmdump_best=$(awk -v s="$start" -v e="$end" -v b="$dcmdump_best" 'BEGIN { t = e - s; if (b == "" || t < b) print t; else print b }')
    done
else
    echo "bench: dcmdump not installed (make deps); skipping (c)"
fi

echo
echo "== results: $files files, warm cache, best of $RUNS =="
awk -v n="$files" -v h="$header" -v f="$floor" -v d="$dcmdump_best" -v hc="$header_cpu" -v fc="$floor_cpu" 'BEGIN {
    printf "discport header scan   %8.3f s  %8.1f µs/file  (CPU, one thread: %.1f µs/file)\n", h, h / n * 1e6, hc / n * 1e6
    printf "I/O floor (first 4 KB) %8.3f s  %8.1f µs/file  (CPU, one thread: %.1f µs/file)\n", f, f / n * 1e6, fc / n * 1e6
    printf "discport / floor, CPU  %8.2f x\n", hc / fc
    if (d != "") printf "dcmdump (one process)  %8.3f s  %8.1f µs/file\n", d, d / n * 1e6
    r1 = h / f
    printf "discport / floor       %8.2f x  (target <= 1.5) %s\n", r1, (r1 <= 1.5 ? "met" : "MISSED")
    if (d != "") { r2 = d / h; printf "dcmdump / discport     %8.2f x  (target >= 5)   %s\n", r2, (r2 >= 5 ? "met" : "MISSED") }
}'

# The scripts below set their outputs aside rather than delete them while
# measuring (scratch.sh); the trash is emptied once, at the end.
export BENCH_KEEP_TRASH=1
trap 'rm -rf "$DATA/trash"' EXIT

# Part 2: the whole `discport scan` against gdcmscanner, dcmdump and pydicom (issue #3).
bash "$(dirname "$0")/scan.sh" "$DISCPORT"

# Part 3: `discport import` against cp -r (issue #4).
bash "$(dirname "$0")/import.sh" "$DISCPORT"

# Part 4: `discport convert` against img2dcm/pdf2dcm and cp (issue #6).
bash "$(dirname "${BASH_SOURCE[0]}")/convert.sh" "$DISCPORT"

# Part 5: `discport export --format iso` against dcmmkdir + xorriso (issue #8).
bash "$(dirname "$0")/export.sh" "$DISCPORT"

# Part 6: `discport migrate` against cp -r (issue #10).
bash "$(dirname "$0")/migrate.sh" "$DISCPORT"

# Part 7: `discport transcode` of JPEG Lossless against dcmdjpeg (issue #7).
bash "$(dirname "$0")/transcode.sh" "$DISCPORT"

# Part 8: `discport send` to Orthanc against DCMTK storescu (issue #9).
bash "$(dirname "$0")/network.sh" "$DISCPORT"
