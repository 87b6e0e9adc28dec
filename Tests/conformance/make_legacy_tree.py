#!/usr/bin/env python3
"""Writes an old image-filing system's export for `discport migrate` tests and
benchmarks: N files (JPEG, PNG, PDF, DICOM in turn) over 20 patients, plus
manifest.csv naming each of them, and then a few bad rows (missing file, no
patient, bad birth date, bad sex, an unsupported file):

    python3 make_legacy_tree.py OUT N [--no-bad-rows]

OUT/legacy/ holds the files, OUT/manifest.csv the manifest, OUT/expected
"good bad". DICOM files come from make_import_tree.py (each used once, so no
two rows carry the same SOP Instance UID), one source patient per manifest
patient that gets DICOM rows, so that no study is given to two patients
(discport refuses that in the pre-flight). Deterministic.
"""
import argparse, os, random, shutil, subprocess, sys
from PIL import Image

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("rows", type=int)
parser.add_argument("--no-bad-rows", action="store_true")
args = parser.parse_args()
work, rows = args.out, args.rows
here = os.path.dirname(os.path.abspath(__file__))
dicom_count = (rows + 3) // 4
# DICOM rows (i % 4 == 3) go to manifest patients 3, 7, 11, 15, 19 in turn:
# source patient k (its own studies) feeds manifest patient 4k + 3.
per_source = (dicom_count + 4) // 5
subprocess.run([sys.executable, os.path.join(here, "make_import_tree.py"), os.path.join(work, "dicom-src"), str(5 * per_source),
                "--patients", "5", "--pixels", "8192"], check=True, stdout=subprocess.DEVNULL)
legacy = os.path.join(work, "legacy")
source = os.path.join(work, "dicom-src", "dicom")
dicoms = [sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(source, f"p{k:04d}")) for f in fs) for k in range(5)]
pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
lines = ["path,patient_id,patient_name,birth_date,sex,study_date,study_key,study_description,modality,series_key"]
for i in range(rows):
    p = i % 20
    folder = os.path.join(legacy, f"P{p:03d}")
    os.makedirs(folder, exist_ok=True)
    kind = i % 4
    name = f"f{i:06d}" + [".jpg", ".png", ".pdf", ".dcm"][kind]
    path = os.path.join(folder, name)
    if kind == 0:
        Image.new("RGB", (48, 32), (i % 256, (i // 256) % 256, 90)).save(path, quality=85)
    elif kind == 1:
        picture = Image.new("L", (32, 32), i % 256)
        picture.putpixel((0, 0), (i // 256) % 256)      # every scan its own content
        picture.putpixel((1, 0), (i // 65536) % 256)
        picture.save(path)
    elif kind == 2:
        open(path, "wb").write(pdf + b"%% document %d\n" % i)   # every letter its own content
    else:
        shutil.copy(dicoms[p // 4][i // 20], path)
    lines.append(f"P{p:03d}/{name},OLD{p:03d},Patient^{p:03d},19{50 + p}0101,{'MF'[p % 2]},2019{1 + i % 12:02d}01,S{p:03d}-{i % 3},Legacy study,,")
bad = [] if args.no_bad_rows else [
    "P000/nothere.jpg,OLD000,,,,,,,,",                 # missing file
    "P001/f000001.png,,,,,,,,,",                       # no patient
    "P002/f000002.pdf,OLD002,,19991340,,,,,,",        # bad birth date
    "P003/f000003.dcm,OLD003,,,X,,,,,",                # bad sex
    "junk/notes.txt,OLD004,,,,,,,,",                   # unsupported format
]
if bad:
    os.makedirs(os.path.join(legacy, "junk"), exist_ok=True)
    open(os.path.join(legacy, "junk", "notes.txt"), "w").write("not an image")
open(os.path.join(work, "manifest.csv"), "w").write("\n".join(lines + bad) + "\n")
open(os.path.join(work, "expected"), "w").write(f"{rows} {len(bad)}\n")
shutil.rmtree(os.path.join(work, "dicom-src"))
