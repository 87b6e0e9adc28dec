#!/usr/bin/env bash
# make bench, part 4: `discport export --format iso` of 2,000 and 20,000
# instances against DCMTK's dcmmkdir + `xorriso -as mkisofs` on the same
# files, in one run (issue #8).
#
#   bash Benchmarks/export.sh [.build/release/discport]
#
# Trees: Tests/conformance/make_import_tree.py (pydicom; explicit and
# implicit VR, raw data sets, JPEG Baseline), imported once into a store in
# .build/bench-data/export-N (BENCH_DATA overrides). Profile STD-GEN-DVD-JPEG
# for both (the JPEG files stay; implicit ones are rewritten by discport).
# Warm cache, best of BENCH_RUNS (default 3), fresh outputs each run:
#   discport   discport export --patient LOCAL-1 --format iso --media dvd
#              (file-set written from the store, DICOMDIR, PDI content, ISO,
#              and the verification: re-read, UIDs and SHA-256 compared)
#   dcmtk      dcmmkdir -Pdv +r +I on discport's own conformant folder export
#              (File IDs already made), then xorriso -as mkisofs -J -V ID
# Target (issue #8): discport/dcmtk <= 1.0 at 2,000 and <= 0.3 at 20,000,
# discport's time growing linearly: the last line compares the time per
# instance of the largest and the smallest count (1.00 = linear).
# Counts: EXPORT_BENCH_SIZES="2000 20000" (default), any list.
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
RUNS=${BENCH_RUNS:-3}
DATA=${BENCH_DATA:-.build/bench-data}
SIZES=${EXPORT_BENCH_SIZES:-"2000 20000"}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in dcmmkdir xorriso; do
    command -v $tool > /dev/null || { echo "export bench: $tool is missing (make deps)"; exit 0; }
done
now() { date +%s.%N; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b < a) print b; else print a }'; }

mkdir -p "$DATA"; DATA=$(cd "$DATA" && pwd)
results=""
for n in $SIZES; do
    store="$DATA/export-$n"
    if [ ! -f "$store/.complete-v1" ]; then
        echo "export bench: generating and importing $n files into $store (once; cached)"
        rm -rf "$store"; mkdir -p "$store"
        python3 "$here/../Tests/conformance/make_import_tree.py" "$store/tree" "$n" --patients 1
        "$DISCPORT" import "$store/tree" --patient-id LOCAL-1 --yes --json --home "$store/home" > /dev/null
        rm -rf "$store/tree"
        touch "$store/.complete-v1"
    fi
    scratch="$store/scratch"; rm -rf "$scratch"; mkdir -p "$scratch"
    find "$store/home/instances" -type f -print0 | xargs -0 cat > /dev/null
    # The same files, laid out by discport once, for dcmmkdir.
    "$DISCPORT" export --patient LOCAL-1 --format dir --media dvd --no-web --out "$scratch/tree" --home "$store/home" --json > /dev/null
    rm -f "$scratch/tree/DICOMDIR" "$scratch/tree/README.TXT" "$scratch/tree.label.svg"
    d_best=""; m_best=""
    for run in $(seq "$RUNS"); do
        start=$(now)
        "$DISCPORT" export --patient LOCAL-1 --format iso --media dvd --out "$scratch/d$run.iso" --home "$store/home" --json > /dev/null
        d_best=$(best "$d_best" "$(awk -v s="$start" -v e="$(now)" 'BEGIN { print e - s }')")
        rm -f "$scratch/d$run.iso" "$scratch/d$run.label.svg"
        rm -f "$scratch/tree/DICOMDIR"
        start=$(now)
        (cd "$scratch/tree" && dcmmkdir -q -Pdv +r +I +D DICOMDIR DICOM && \
            xorriso -as mkisofs -quiet -J -V BENCH -o "$scratch/m$run.iso" . 2> /dev/null)
        m_best=$(best "$m_best" "$(awk -v s="$start" -v e="$(now)" 'BEGIN { print e - s }')")
        rm -f "$scratch/m$run.iso"
    done
    awk -v n="$n" -v d="$d_best" -v m="$m_best" 'BEGIN {
        r = d / m
        printf "export %6d instances: discport %7.2f s (verified)  dcmmkdir+xorriso %7.2f s  ratio %.2f x\n", n, d, m, r
    }'
    results="$results $n:$d_best:$m_best"
    rm -rf "$scratch"
done
# Growth: time per instance at the largest count over that at the smallest.
echo "$results" | tr ' ' '\n' | grep . | sort -t: -k1,1n | awk -F: '
    NR == 1 { n0 = $1; d0 = $2; m0 = $3 } { n1 = $1; d1 = $2; m1 = $3 }
    END { if (NR > 1) printf "export growth %d -> %d instances (x%.1f): discport time x%.2f (per instance x%.2f, %s), dcmmkdir+xorriso x%.2f (per instance x%.2f)\n",
        n0, n1, n1 / n0, d1 / d0, (d1 / n1) / (d0 / n0), ((d1 / n1) / (d0 / n0) <= 1.25 ? "linear" : "faster than linear"), m1 / m0, (m1 / n1) / (m0 / n0) }'

