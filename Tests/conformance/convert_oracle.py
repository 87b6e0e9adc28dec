#!/usr/bin/env python3
"""Judges `discport convert` output with pydicom and Pillow (independent of discport).

usage: convert_oracle.py EVENTS.jsonl INPUT_DIR

EVENTS.jsonl is the --json output of one convert run over make_convert_fixtures.py's
folder. Checks, per output:
  - pydicom reads it (and its pixel data, where there is any);
  - verbatim JPEG: the fragment's scan data (first SOS .. EOI) is byte-identical to the
    input file's; no APP1/APP2/APP13/COM segment, no "Exif", GPS text, owner or
    comment text anywhere in the DICOM file;
  - decoded inputs: pixels equal Pillow's decode (exif_transpose'd, converted to L/RGB;
    16-bit PNG as stored), every frame of a multi-page TIFF;
  - Encapsulated PDF: the attributes of PS3.3 A.45.1 / C.24.2 and the document bytes.
Prints one line per file; exits 1 on the first failure.
"""
import io
import json
import os
import sys

import numpy as np
import pydicom
from PIL import Image, ImageOps

events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
indir = sys.argv[2]
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("  FAIL:", msg)


def scan_data(jpeg):
    """Bytes from the first SOS marker to the EOI (inclusive)."""
    i = 2
    while i < len(jpeg):
        assert jpeg[i] == 0xFF, f"marker expected at {i}"
        while jpeg[i] == 0xFF:
            i += 1
        m = jpeg[i]
        i += 1
        if m == 0xDA:
            start = i - 2
            end = jpeg.rindex(b"\xff\xd9") + 2
            return jpeg[start:end]
        if m == 0x01 or 0xD0 <= m <= 0xD7:
            continue
        i += int.from_bytes(jpeg[i:i + 2], "big")
    raise AssertionError("no SOS")


def segments(jpeg):
    out, i = [], 2
    while i < len(jpeg):
        while jpeg[i] == 0xFF:
            i += 1
        m = jpeg[i]
        i += 1
        if m == 0xDA:
            return out
        n = int.from_bytes(jpeg[i:i + 2], "big")
        out.append(m)
        i += n
    return out


def reference(path):
    """What Pillow decodes, as discport is to store it."""
    img = Image.open(path)
    frames = []
    for k in range(getattr(img, "n_frames", 1)):
        img.seek(k)
        f = ImageOps.exif_transpose(img) if img.format == "JPEG" else img.copy()
        if f.mode in ("I;16", "I;16B", "I;16L"):
            frames.append(np.asarray(f, dtype=np.uint16))
        elif f.mode in ("L", "1") or (f.mode == "P" and False):
            frames.append(np.asarray(f.convert("L")))
        elif f.mode == "LA":
            frames.append(np.asarray(f.convert("L")))
        else:
            frames.append(np.asarray(f.convert("RGB")))
    return frames


leaks = [b"Exif", b"ACME Phones", b"Hidden Owner", b"Camera Owner", b"Taro Yamada", b"xmpmeta", b"Private Clinic"]

for ev in events:
    if ev.get("event") != "file" or not ev["ok"]:
        continue
    src = ev["source"]
    name = os.path.basename(src)
    for out in ev["outputs"]:
        path = out["path"]
        ds = pydicom.dcmread(path)
        raw = open(path, "rb").read()
        ts = str(ds.file_meta.TransferSyntaxUID)
        print(f"{name} -> {os.path.basename(path)}: {ds.SOPClassUID.name}, {ts}")
        for leak in leaks:
            if leak in raw:
                fail(f"{leak!r} leaked into {path}")
        if ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1":
            pdf = open(src, "rb").read()
            doc = ds.EncapsulatedDocument
            if ds.Modality != "DOC": fail("Modality is not DOC")
            if ds.MIMETypeOfEncapsulatedDocument != "application/pdf": fail("MIME type")
            if ds.EncapsulatedDocumentLength != len(pdf): fail("Encapsulated Document Length")
            if len(doc) % 2 or doc[:len(pdf)] != pdf or doc[len(pdf):] not in (b"", b"\0"): fail("document bytes")
            if ds.ConversionType != "WSD": fail("Conversion Type")
            if ds.BurnedInAnnotation not in ("YES", "NO"): fail("Burned In Annotation")
            for kw in ("DocumentTitle", "ConceptNameCodeSequence", "ContentDate", "ContentTime", "AcquisitionDateTime", "InstanceNumber"):
                if kw not in ds: fail(f"{kw} missing")
            if name == "report.pdf" and ds.DocumentTitle != "紹介状 Referral": fail(f"title {ds.DocumentTitle!r}")
            if name == "report.pdf" and ds.ContentDate != "20220314": fail(f"content date {ds.ContentDate}")
            if name == "notitle.pdf" and ds.DocumentTitle != "notitle.pdf": fail(f"title {ds.DocumentTitle!r}")
            if name == "objstm.pdf" and (ds.DocumentTitle != "圧縮された報告 Report" or ds.ContentDate != "20230607"):
                fail(f"Info in an object stream: title {ds.DocumentTitle!r}, content date {ds.ContentDate}")
            continue
        arr = ds.pixel_array
        if ts in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"):
            jpeg_in = open(src, "rb").read()
            frag = bytes(next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)))
            if frag.endswith(b"\xd9\x00"):
                frag = frag[:-1]
            if scan_data(frag) != scan_data(jpeg_in): fail("scan data differs from the input's")
            bad = [hex(m) for m in segments(frag) if 0xE1 <= m <= 0xEF and m != 0xEE or m == 0xFE]
            if bad: fail(f"metadata segments kept: {bad}")
            if ds.LossyImageCompression != "01": fail("Lossy Image Compression is not 01")
            icc = Image.open(src).info.get("icc_profile")
            if icc and ds.get("ICCProfile") != icc: fail("ICC profile not carried into (0028,2000)")
            print(f"  scan data byte-identical ({len(scan_data(jpeg_in))} bytes); segments kept: "
                  + " ".join(hex(m) for m in segments(frag)))
            continue
        ref = reference(src)
        got = arr if int(ds.get("NumberOfFrames", 1)) > 1 else arr[np.newaxis, ...]
        if len(ref) != got.shape[0]:
            fail(f"{got.shape[0]} frames, Pillow has {len(ref)}")
            continue
        for k, r in enumerate(ref):
            if r.shape != got[k].shape:
                fail(f"frame {k}: shape {got[k].shape}, Pillow {r.shape}")
            elif not np.array_equal(r, got[k]):
                fail(f"frame {k}: {int((r != got[k]).sum())} samples differ from Pillow's decode")
        lossy = "01" if name.endswith(".jpg") else "00"
        if ds.LossyImageCompression != lossy: fail(f"Lossy Image Compression {ds.LossyImageCompression}, expected {lossy}")
        print(f"  pixels equal Pillow's decode ({len(ref)} frame(s), {ref[0].shape}, {ref[0].dtype})")

sys.exit(1 if failures else 0)
