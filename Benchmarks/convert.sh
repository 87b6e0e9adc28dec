#!/usr/bin/env bash
# make bench, conversion part: `discport convert` over 500 photo-sized JPEGs
# (1600×1200 baseline with EXIF) and 100 PDFs, against a shell loop of DCMTK's
# img2dcm / pdf2dcm over the same files and against cp of them.
#
#   bash Benchmarks/convert.sh [.build/release/discport]
#
# Inputs are generated once (make_convert_fixtures.py --bench) into
# .build/bench-data/convert-J-P (BENCH_DATA, BENCH_JPEGS, BENCH_PDFS override).
# Warm cache, best of BENCH_RUNS (default 3); every run writes into an empty
# folder on the same file system. discport writes each file atomically and
# durably, which cp and the DCMTK tools do not: temporary files, one syncfs(2)
# per batch of 64 files (all their data on disk), then the renames and one
# fsync of the folder; a crash leaves under each name nothing or a whole file.
# Compare with the cp+sync column for the cost of that flush.
# Targets: discport ≥ 10× faster than the img2dcm/pdf2dcm loop; verbatim JPEG
# within 2× of cp.
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
JPEGS=${BENCH_JPEGS:-500}
PDFS=${BENCH_PDFS:-100}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-.build/bench-data}
IN="$DATA/convert-$JPEGS-$PDFS"
OUT="$DATA/convert-out"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in img2dcm pdf2dcm python3; do
    command -v "$tool" > /dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 1; }
done
if [ ! -f "$IN/.complete-v1" ]; then
    echo "bench: generating $JPEGS JPEGs and $PDFS PDFs in $IN (once; cached)"
    rm -rf "$IN"
    python3 "$here/../Tests/conformance/make_convert_fixtures.py" "$IN" --bench "$JPEGS" "$PDFS"
    touch "$IN/.complete-v1"
fi
cat "$IN"/* > /dev/null
jpeg_bytes=$(cat "$IN"/*.jpg | wc -c)
pdf_bytes=$(cat "$IN"/*.pdf | wc -c)

now() { date +%s.%N; }
# best NAME COMMAND...: runs the command RUNS times into an empty $OUT, prints the best time.
best() {
    local result=""
    for _ in $(seq "$RUNS"); do
        rm -rf "$OUT"; mkdir -p "$OUT"
        local start end
        start=$(now)
        "$@" > /dev/null 2>&1 || { echo "bench: failed: $*" >&2; exit 1; }
        end=$(now)
        result=$(awk -v s="$start" -v e="$end" -v b="$result" 'BEGIN { t = e - s; if (b == "" || t < b) print t; else print b }')
    done
    echo "$result"
}
id_args=(--patient-id BENCH-1 --patient-name "Bench^Patient")
discport_jpeg() { "$DISCPORT" convert "$IN"/*.jpg --out "$OUT" "${id_args[@]}" --json; }
discport_pdf() { "$DISCPORT" convert "$IN"/*.pdf --out "$OUT" "${id_args[@]}" --json; }
loop_jpeg() { for f in "$IN"/*.jpg; do img2dcm -k "PatientID=BENCH-1" "$f" "$OUT/$(basename "$f").dcm"; done; }
loop_pdf() { for f in "$IN"/*.pdf; do pdf2dcm --patient-id BENCH-1 "$f" "$OUT/$(basename "$f").dcm"; done; }
cp_jpeg() { cp "$IN"/*.jpg "$OUT"/; }
cp_pdf() { cp "$IN"/*.pdf "$OUT"/; }
# cp, then the file system flushed: what discport's durable writes pay for too.
cp_sync_jpeg() { cp "$IN"/*.jpg "$OUT"/ && sync -f "$OUT"; }
cp_sync_pdf() { cp "$IN"/*.pdf "$OUT"/ && sync -f "$OUT"; }

# The JPEGs must be converted verbatim (JPEG Baseline), or the comparison with cp means nothing.
rm -rf "$OUT"; mkdir -p "$OUT"
check=$("$DISCPORT" convert "$IN/photo0000.jpg" --out "$OUT" "${id_args[@]}" --json)
case "$check" in
    *'"transfer_syntax_uid":"1.2.840.10008.1.2.4.50"'*) ;;
    *) echo "bench: the JPEGs were not converted verbatim: $check" >&2; exit 1 ;;
esac

echo "bench: convert $JPEGS JPEGs ($((jpeg_bytes / 1048576)) MB) and $PDFS PDFs, best of $RUNS"
dj=$(best discport_jpeg); lj=$(best loop_jpeg); cj=$(best cp_jpeg); sj=$(best cp_sync_jpeg)
dp=$(best discport_pdf); lp=$(best loop_pdf); cpp=$(best cp_pdf); sp=$(best cp_sync_pdf)


echo
echo "== results: warm cache, best of $RUNS =="
awk -v nj="$JPEGS" -v np="$PDFS" -v dj="$dj" -v lj="$lj" -v cj="$cj" -v sj="$sj" -v dp="$dp" -v lp="$lp" -v cp="$cpp" -v sp="$sp" 'BEGIN {
    printf "%-28s %10s %10s %10s %10s\n", "", "discport", "DCMTK loop", "cp", "cp+sync"
    printf "%-28s %9.3fs %9.3fs %9.3fs %9.3fs\n", nj " JPEG -> SC (verbatim)", dj, lj, cj, sj
    printf "%-28s %9.3fs %9.3fs %9.3fs %9.3fs\n", np " PDF -> Encapsulated PDF", dp, lp, cp, sp
    r1 = lj / dj; r2 = dj / cj; r3 = lp / dp; r4 = dj / sj
    printf "JPEG: loop / discport    %8.1f x  (target >= 10) %s\n", r1, (r1 >= 10 ? "met" : "MISSED")
    printf "JPEG: discport / cp      %8.2f x  (target <= 2)  %s\n", r2, (r2 <= 2 ? "met" : "MISSED")
    printf "JPEG: discport / cp+sync %8.2f x\n", r4
    printf "PDF:  loop / discport    %8.1f x  (target >= 10) %s\n", r3, (r3 >= 10 ? "met" : "MISSED")
}'
rm -rf "$OUT"
