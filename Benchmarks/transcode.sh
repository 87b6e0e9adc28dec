#!/usr/bin/env bash
# make bench (part 2): `discport transcode --to explicit-le` of a JPEG Lossless
# (SV1) CT set against DCMTK's dcmdjpeg over the same files, one run each.
#
#   bash Benchmarks/transcode.sh [.build/release/discport]
#
# The set (TRANSCODE_FILES copies, default 2,000, of a 512×512 16-bit signed CT
# image made from pydicom's CT_small and compressed by dcmcjpeg +e1) is cached
# in .build/bench-data. Warm cache. dcmdjpeg runs once per file (it takes one
# file); discport takes the folder and uses both cores. Target: discport/dcmdjpeg <= 1.0.
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
FILES=${TRANSCODE_FILES:-2000}
DATA=${BENCH_DATA:-.build/bench-data}
SET="$DATA/jpeg-lossless-ct-$FILES"
MARK="$SET/.complete-v1"
for tool in dcmcjpeg dcmdjpeg; do command -v "$tool" > /dev/null || { echo "bench: $tool missing (make deps)" >&2; exit 1; }; done

if [ ! -f "$MARK" ]; then
    echo "bench: generating $FILES JPEG Lossless CT images in $SET (once; cached)"
    rm -rf "$SET"; mkdir -p "$SET/in"
    python3 - "$SET/ct512.dcm" <<'PY'
import sys
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
big = np.kron(ds.pixel_array.astype(np.int32), np.ones((4, 4), dtype=np.int32))
big += np.random.default_rng(1).integers(-20, 20, big.shape)
ds.Rows, ds.Columns = big.shape
ds.PixelData = big.astype(np.int16).tobytes()
ds.save_as(sys.argv[1])
PY
    dcmcjpeg +e1 "$SET/ct512.dcm" "$SET/ct512-jpeg.dcm"
    for i in $(seq -w "$FILES"); do cp "$SET/ct512-jpeg.dcm" "$SET/in/CT$i.dcm"; done
    touch "$MARK"
fi
cat "$SET"/in/* > /dev/null   # warm

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s%N)
for f in "$SET"/in/*.dcm; do dcmdjpeg "$f" "$out/dcmtk.dcm"; done
dcmtk=$(( $(date +%s%N) - start ))
start=$(date +%s%N)
"$DISCPORT" transcode "$SET/in" --to explicit-le --out "$out/discport" > /dev/null
ours=$(( $(date +%s%N) - start ))
python3 -c 'import sys; f, o, d = map(int, sys.argv[1:]); print(f"bench: transcode of {f} JPEG Lossless CT images: discport {o/1e9:.2f} s, dcmdjpeg {d/1e9:.2f} s, ratio {o/d:.2f} (target <= 1.0)")' "$FILES" "$ours" "$dcmtk"
