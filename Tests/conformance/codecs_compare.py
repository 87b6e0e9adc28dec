"""Compares discport's decoded pixels with an independent decoder's.

usage: codecs_compare.py OURS REFERENCE TOLERANCE
       codecs_compare.py < LINES     (one "OURS REFERENCE TOLERANCE" a line)
  OURS       a file discport transcoded (native or RLE)
  REFERENCE  the same image decoded by DCMTK/GDCM (a native file), or the
             compressed source itself, then decoded by pydicom
  TOLERANCE  the largest allowed absolute difference per sample (0 = exact)

Both are read with pydicom (`pixel_array`, which masks to Bits Stored,
sign-extends and turns YBR into RGB), so layouts may differ (planar
configuration, YBR_FULL vs RGB) but the pixels must agree. Prints one line
per pair: `ok max-diff N ...` or `FAIL ...`; exit status 1 if any failed.
"""
import sys
import numpy as np
import pydicom

import warnings
warnings.simplefilter("ignore")


def compare(ours_path, ref_path, tolerance):
    ours = pydicom.dcmread(ours_path)
    ref = pydicom.dcmread(ref_path)
    a = ours.pixel_array.astype(np.int64)
    b = ref.pixel_array.astype(np.int64)
    if a.shape != b.shape:
        return f"FAIL shape {a.shape} vs {b.shape}"
    # If one side stayed YBR (pydicom turns YBR_FULL into RGB with its own
    # rounding) allow that rounding.
    pa, pb = ours.PhotometricInterpretation, ref.PhotometricInterpretation
    if pa != pb and tolerance == 0 and ("YBR" in pa or "YBR" in pb):
        tolerance = 2
    # Bits Stored may differ (GDCM raises it to a JPEG 2000 codestream's
    # precision); pixel_array reads each file with its own.
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "PixelRepresentation"):
        if ours.get(keyword) != ref.get(keyword):
            return f"FAIL {keyword} {ours.get(keyword)} vs {ref.get(keyword)}"
    diff = int(np.abs(a - b).max()) if a.size else 0
    if diff > tolerance:
        return f"FAIL max-diff {diff} > {tolerance} ({int((np.abs(a - b) > tolerance).sum())} samples)"
    return f"ok max-diff {diff} ({pa} vs {pb})"


jobs = [sys.argv[1:4]] if len(sys.argv) == 4 else [line.split() for line in sys.stdin if line.strip()]
failed = 0
for ours_path, ref_path, tolerance in jobs:
    try:
        result = compare(ours_path, ref_path, int(tolerance))
    except Exception as error:
        result = f"FAIL {error}"
    failed += result.startswith("FAIL")
    print(f"{ours_path}: {result}" if len(jobs) > 1 else result)
sys.exit(1 if failed else 0)
