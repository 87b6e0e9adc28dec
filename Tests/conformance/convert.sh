#!/usr/bin/env bash
# Acceptance of `discport convert` (issue 6), judged by tools discport did not write:
#   1. every input kind converts; damaged, encrypted and mislabelled PDFs are
#      refused with a message naming the file (exit 1);
#   2. dciodvfy: zero errors in every output (SC, multi-frame SC, VL Photographic,
#      Encapsulated PDF, rendered PDF pages);
#   3. pydicom reads every output; verbatim JPEGs keep the input's scan data
#      byte for byte and no EXIF/GPS/comment; decoded inputs equal Pillow's decode;
#      Encapsulated PDF attributes (convert_oracle.py);
#   4. Japanese names are written as ISO_IR 192;
#   5. --import stores everything; --study attaches to a stored study;
#   6. side by side with DCMTK img2dcm / pdf2dcm on the same inputs: discport has
#      the same or fewer dciodvfy findings (printed).
#
# usage: bash Tests/conformance/convert.sh path/to/discport
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(cd "$(dirname "${1:?usage: convert.sh path/to/discport}")" && pwd)/$(basename "$1")"

missing=""
for tool in dciodvfy img2dcm pdf2dcm pdftoppm; do command -v "$tool" > /dev/null || missing="$missing $tool"; done
python3 -c 'import pydicom, numpy, PIL' 2> /dev/null || missing="$missing pydicom/numpy/Pillow"
if [ -n "$missing" ]; then
    if [ "${CI:-}" = "true" ]; then echo "convert: FAILED: missing$missing (make deps installs them)" >&2; exit 1; fi
    echo "convert: skipped: missing$missing (make deps installs them)"; exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
in="$work/in"
python3 "$here/make_convert_fixtures.py" "$in"
fail() { echo "convert: FAILED: $*" >&2; exit 1; }
name='Yamada^Tarou=山田^太郎=やまだ^たろう'

# 1. Everything at once, into a folder.
set +e
"$bin" convert "$in"/* --out "$work/out" --patient-id CONV-1 --patient-name "$name" \
    --birth-date 19580704 --sex M --series-description "紹介元の画像" --json > "$work/events.jsonl" 2> "$work/stderr"
status=$?
set -e
[ "$status" = 1 ] || fail "exit status $status with three bad PDFs among the inputs (expected 1): $(cat "$work/stderr")"
python3 - "$work/events.jsonl" <<'EOF' || fail "refusals"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
files = {e["source"].rsplit("/", 1)[1]: e for e in events if e["event"] == "file"}
refused = {k for k, e in files.items() if not e["ok"]}
assert refused == {"truncated.pdf", "encrypted.pdf", "mislabelled.pdf"}, refused
for k in refused:
    assert k in files[k]["error"], files[k]["error"]
assert "%%EOF" in files["truncated.pdf"]["error"]
assert "encrypted" in files["encrypted.pdf"]["error"]
assert "%PDF-" in files["mislabelled.pdf"]["error"]
finish = [e for e in events if e["event"] == "finish"][-1]
assert finish["converted"] == len(files) - 3 and finish["failed"] == 3, finish
print(f"convert: {finish['converted']} files converted into {finish['instances']} objects; refused with their names: "
      + "; ".join(files[k]["error"] for k in sorted(refused)))
EOF

# Also: rendered PDF pages, and clinical photos as VL Photographic Image.
"$bin" convert "$in/report.pdf" --pdf-as images --out "$work/pages" --patient-id CONV-1 --patient-name "$name" \
    --json > "$work/pages.jsonl" || fail "--pdf-as images exited $?"
"$bin" convert "$in/baseline.jpg" "$in/rotated.jpg" "$in/photo.png" --as photo --out "$work/photo" --patient-id CONV-1 \
    --patient-name "$name" --json > "$work/photo.jsonl" || fail "--as photo exited $?"
python3 - "$work/pages.jsonl" <<'EOF' || fail "--pdf-as images"
import json, sys
import pydicom
e = [json.loads(l) for l in open(sys.argv[1]) if '"file"' in l][0]
classes = [o["sop_class_uid"] for o in e["outputs"]]
assert classes == ["1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.7.4"], classes
pages = pydicom.dcmread(e["outputs"][1]["path"])
assert pages.NumberOfFrames == 2 and pages.pixel_array.shape[0] == 2, pages.NumberOfFrames
assert pages.BurnedInAnnotation == "YES"
print(f"convert: --pdf-as images: Encapsulated PDF + {pages.NumberOfFrames}-frame True Color SC {pages.Columns}x{pages.Rows}")
EOF

# 2. dciodvfy: zero errors everywhere.
errors=0
count=0
for f in "$work"/out/*.dcm "$work"/pages/*.dcm "$work"/photo/*.dcm; do
    count=$((count + 1))
    if dciodvfy "$f" 2>&1 | grep '^Error' > /dev/null; then
        echo "dciodvfy errors in $(basename "$f"):" >&2
        dciodvfy "$f" 2>&1 | grep '^Error' | sed 's/^/  /' >&2
        errors=$((errors + 1))
    fi
done
[ "$errors" = 0 ] || fail "$errors file(s) with dciodvfy errors"
echo "convert: dciodvfy finds no error in any of the $count outputs"

# 3. pydicom and Pillow.
python3 "$here/convert_oracle.py" "$work/events.jsonl" "$in" > "$work/oracle.txt" || { cat "$work/oracle.txt"; fail "pydicom/Pillow oracle"; }
python3 "$here/convert_oracle.py" "$work/photo.jsonl" "$in" > "$work/oracle-photo.txt" || { cat "$work/oracle-photo.txt"; fail "pydicom/Pillow oracle (photo)"; }
sed 's/^/  /' "$work/oracle.txt"
echo "convert: pydicom reads every output; scan data identical, no metadata leaks, pixels equal Pillow's"

# 4. Character set, identity, one study, series.
python3 - "$work/events.jsonl" "$work/photo.jsonl" <<'EOF' || fail "identity"
import json, sys
import pydicom
outs = [o["path"] for l in open(sys.argv[1]) if '"file"' in l for o in json.loads(l)["outputs"]]
dss = [pydicom.dcmread(p, stop_before_pixels=True) for p in outs]
assert all(d.SpecificCharacterSet == "ISO_IR 192" for d in dss)
assert all(str(d.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう" for d in dss), dss[0].PatientName
assert all(d.PatientID == "CONV-1" and d.PatientBirthDate == "19580704" and d.PatientSex == "M" for d in dss)
assert len({d.StudyInstanceUID for d in dss}) == 1, "one study"
images = [d for d in dss if d.Modality == "OT"]
docs = [d for d in dss if d.Modality == "DOC"]
assert len({d.SeriesInstanceUID for d in images}) == 1 and len({d.SeriesInstanceUID for d in docs}) == 1
assert sorted(int(d.InstanceNumber) for d in images) == list(range(1, len(images) + 1))
assert images[0].SeriesDescription == "紹介元の画像"
baseline = [d for d, p in zip(dss, outs) if p.endswith("/baseline.dcm")][0]
assert baseline.ContentDate == "20230405" and baseline.ContentTime == "101112", "EXIF DateTimeOriginal"
photos = [pydicom.dcmread(o["path"], stop_before_pixels=True) for l in open(sys.argv[2]) if '"file"' in l for o in json.loads(l)["outputs"]]
assert all(p.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4" and p.Modality == "XC" for p in photos)
print(f"convert: one study, {len(images)} SC in one series, {len(docs)} PDFs in another; ISO_IR 192; EXIF date used")
EOF

# 5. --import, then --study attaches to the stored study.
home="$work/home"
"$bin" convert "$in/baseline.jpg" "$in/report.pdf" --import --home "$home" --patient-id CONV-2 --patient-name "$name" \
    --json > "$work/import.jsonl" || fail "--import exited $?"
study=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "finish" in l][-1]["study_instance_uid"])' "$work/import.jsonl")
"$bin" convert "$in/photo.png" --import --home "$home" --study "$study" --json > "$work/attach.jsonl" || fail "--study exited $?"
"$bin" ls instances --json --home "$home" > "$work/instances.json"
"$bin" store check --home "$home" > /dev/null || fail "store check after --import"
python3 - "$work/instances.json" "$study" "$work/attach.jsonl" <<'EOF' || fail "--import / --study"
import json, sys
import pydicom
rows = json.load(open(sys.argv[1]))
assert len(rows) == 3 and all(r["study_instance_uid"] == sys.argv[2] for r in rows), rows
attached = [json.loads(l) for l in open(sys.argv[3]) if '"file"' in l][0]["outputs"][0]
d = pydicom.dcmread(attached["path"], stop_before_pixels=True)
assert d.PatientID == "CONV-2" and str(d.PatientName).startswith("Yamada^Tarou=山田"), (d.PatientID, d.PatientName)
assert int(d.SeriesNumber) == 3, d.SeriesNumber   # after the image and document series
print("convert: --import stored 2 objects; --study attached a third with the catalog's patient, series number 3")
EOF

# 6. Side by side with DCMTK on the same inputs.
dcmtk="$work/dcmtk"
mkdir -p "$dcmtk"
findings() { dciodvfy "$1" 2>&1 | grep -cE '^(Error|Warning)' || true; }
errs() { dciodvfy "$1" 2>&1 | grep -c '^Error' || true; }
printf '%-16s %-22s %6s %6s   %-22s %6s %6s\n' input "discport" errors warns "DCMTK" errors warns
worse=0
for input in baseline.jpg gray.jpg odd.jpg image.bmp report.pdf notitle.pdf; do
    ours="$work/out/${input%.*}.dcm"
    [ "$input" = gray.jpg ] && ours="$work/out/gray.dcm"
    theirs="$dcmtk/${input%.*}.dcm"
    case "$input" in
        *.pdf) tool="pdf2dcm"; pdf2dcm --patient-id CONV-1 --patient-name "Yamada^Tarou" "$in/$input" "$theirs" > /dev/null 2>&1 || true ;;
        *.bmp) tool="img2dcm -i BMP"; img2dcm -i BMP -k "PatientID=CONV-1" -k "PatientName=Yamada^Tarou" "$in/$input" "$theirs" > /dev/null 2>&1 || true ;;
        *) tool="img2dcm"; img2dcm -k "PatientID=CONV-1" -k "PatientName=Yamada^Tarou" "$in/$input" "$theirs" > /dev/null 2>&1 || true ;;
    esac
    [ -f "$theirs" ] || fail "$tool did not convert $input"
    oe=$(errs "$ours"); ow=$(( $(findings "$ours") - oe ))
    te=$(errs "$theirs"); tw=$(( $(findings "$theirs") - te ))
    printf '%-16s %-22s %6s %6s   %-22s %6s %6s\n' "$input" "discport convert" "$oe" "$ow" "$tool" "$te" "$tw"
    if [ $((oe + ow)) -gt $((te + tw)) ] || [ "$oe" -gt "$te" ]; then worse=$((worse + 1)); fi
done
[ "$worse" = 0 ] || fail "discport has more dciodvfy findings than DCMTK for $worse input(s)"
echo "convert: same or fewer dciodvfy findings than img2dcm/pdf2dcm on every input"

# A lossless JPEG (process 14, as DCMTK writes it) is encapsulated as it is,
# in its own lossless transfer syntax: DCMTK decodes it to the pixels of the original.
python3 - "$work" <<'PY' || fail "making a lossless JPEG"
import sys, numpy
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian
ds = dcmread(get_testdata_file("CT_small.dcm"))
pixels = ds.pixel_array.astype(numpy.int32) - int(ds.pixel_array.min())    # unsigned: a plain JPEG carries no sign
ds.PixelRepresentation = 0
ds.PixelData = pixels.astype(numpy.uint16).tobytes()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.save_as(sys.argv[1] + "/ct-native.dcm")
PY
dcmcjpeg +e1 "$work/ct-native.dcm" "$work/ct-lossless.dcm" || fail "dcmcjpeg +e1"
python3 -c '
import sys
from pydicom import dcmread
from pydicom.encaps import generate_fragmented_frames
ds = dcmread(sys.argv[1])
open(sys.argv[2], "wb").write(b"".join(next(generate_fragmented_frames(ds.PixelData))))' "$work/ct-lossless.dcm" "$work/lossless.jpg"
mkdir -p "$work/lossless-out"
"$bin" convert "$work/lossless.jpg" --out "$work/lossless-out" --patient-id CONV-9 > /dev/null || fail "convert of a lossless JPEG"
converted=$(ls "$work/lossless-out"/*.dcm | sed -n 1p)
dcmdjpeg "$converted" "$work/ours-decoded.dcm" || fail "DCMTK cannot decode the converted lossless JPEG"
python3 - "$converted" "$work/ours-decoded.dcm" "$work/ct-native.dcm" <<'PY' || fail "lossless JPEG pixels"
import sys
from pydicom import dcmread
ours, decoded, native = (dcmread(p) for p in sys.argv[1:4])
assert ours.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.57"), ours.file_meta.TransferSyntaxUID
assert ours.LossyImageCompression == "00"
assert decoded.PixelData == native.PixelData, "pixels differ from the original"
print("convert: lossless JPEG encapsulated as", ours.file_meta.TransferSyntaxUID, "- DCMTK decodes it to the original pixels")
PY
errors=$(dciodvfy "$converted" 2>&1 | grep '^Error' || true)
[ -z "$errors" ] || fail "dciodvfy errors in the lossless conversion: $errors"
echo "convert: passed"
