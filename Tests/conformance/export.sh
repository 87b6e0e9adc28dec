#!/usr/bin/env bash
# Acceptance of `discport export` and `discport verify` (issue 8), judged by
# tools discport did not write:
#   1. the sample disc and clean generated sources (pydicom) imported into a
#      temporary store, exported as dir, ISO and zip: dciodvfy finds ZERO
#      errors in the DICOMDIR, and no error in an exported file that it does
#      not find in the stored source; dcmdump reads every file; pydicom's
#      FileSet loads the exact instance count; xorriso/isoinfo list the
#      expected names and volume id; bsdtar lists the zip with DICOMDIR at
#      its root; INDEX.HTM keeps its Japanese text and has no script;
#   2. `discport verify` passes the good media and finds every defect of
#      deliberately broken ones (lowercase File IDs, a missing file, bad
#      offsets, implicit VR on a CD, AUTORUN.INF, no README.TXT);
#   3. refusals: JPEG on STD-GEN-CD (kept on DVD-JPEG), a missing Type 1
#      key without --invent (made up with it), two patients on one medium;
#   4. round trip: export → discport import into a fresh store gives the
#      same SOP Instance UIDs and pixel data hashes;
#   5. --xdm: IHE_XDM/SUBSET01/METADATA.XML parses with xmllint, has the
#      ebRS namespaces, and every DocumentEntry URI names a zip entry of the
#      stated size and SHA-1 (read with Python's zipfile); the DICOMDIR stays
#      at the zip root and pydicom's FileSet loads it;
#   6. --encrypt: bsdtar cannot extract the zip without the passphrase and
#      does with it, the extracted file-set passes the judges and discport
#      verify; discport verify / scan say a passphrase is needed; the
#      passphrase is nowhere in the output or the store;
#   7. INDEX.HTM in headless Chromium: the Japanese name is in the rendered
#      DOM, no <script>; the screenshot is kept in $ARTIFACTS_DIR (default
#      .build/test-artifacts/) and its path printed. Under CI=true a missing
#      chromium fails the test; elsewhere that part is skipped.
#   8. --from PATH re-masters a messy folder (lowercase names, no DICOMDIR,
#      raw data sets, implicit VR, junk, a viewer, a truncated DICOM file)
#      and a zip of it: dciodvfy zero errors, exact pydicom FileSet count,
#      discport verify clean, the truncated file named as left off; a bare
#      name that is both a node and a folder is refused as ambiguous;
#   9. capacity: refused without --split (nothing written), split into
#      volumes with a small --capacity, each verified by discport verify,
#      listed by xorriso, loaded by pydicom, the counts summing to the
#      total; a series larger than a medium refused;
#  10. --burn without a drive (/dev/nonexistent, /dev/null): a clear
#      failure, the verified ISO kept and said where.
#
# usage: bash Tests/conformance/export.sh path/to/discport
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="$(cd "$(dirname "${1:?usage: export.sh path/to/discport}")" && pwd)/$(basename "$1")"

missing=""
for tool in dcmdump dciodvfy xorriso isoinfo bsdtar xmllint unzip 7z udfinfo; do command -v $tool > /dev/null || missing="$missing $tool"; done
python3 -c 'import pydicom' 2> /dev/null || missing="$missing pydicom"
if [ -n "$missing" ]; then
    if [ "${CI:-}" = "true" ]; then echo "export: FAILED: missing$missing (make deps installs them)" >&2; exit 1; fi
    echo "export: skipped: missing$missing (make deps installs them)"; exit 0
fi

work=${EXPORT_TEST_DIR:-$(mktemp -d)}
[ -n "${EXPORT_TEST_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
home="$work/home"
fail() { echo "export: FAILED: $*" >&2; exit 1; }
checks=0
ok() { checks=$((checks + 1)); }

python3 "$here/make_export_fixtures.py" "$work/fx"
"$bin" import "$repo/testdata/sample-disc" --patient-id 12345 --issuer CLINIC --yes --home "$home" --json > /dev/null
for p in a b c; do
    "$bin" import "$work/fx/$p" --patient-id "EXP-$(echo $p | tr a-z A-Z)" --yes --home "$home" --json > /dev/null
done
printf '[institution]\nname = "テスト医院"\ncontact = "03-0000-0000"\n' > "$home/config.toml"

# dciodvfy error lines of the stored sources of one patient (the baseline).
stored_errors() {
    "$bin" ls instances --home "$home" --json | python3 -c "
import json, sys
for i in json.load(sys.stdin):
    if i['patient_id'] == sys.argv[1]: print(i['path'])" "$1" | while read -r f; do
        dciodvfy "$f" 2>&1 | grep '^Error' || true
    done | sort -u
}

# Judges on an extracted file-set folder: $1 folder, $2 expected instances, $3 patient.
judge() {
    local dir=$1 count=$2 patient=$3
    local dd_errors
    dd_errors=$(dciodvfy "$dir/DICOMDIR" 2>&1 | grep -c '^Error' || true)
    [ "$dd_errors" = 0 ] || { dciodvfy "$dir/DICOMDIR" 2>&1 | grep '^Error' | head; fail "dciodvfy: $dd_errors errors in $dir/DICOMDIR"; }
    ok
    local n=0
    : > "$work/exported.err"
    while read -r f; do
        dcmdump -q "$f" > /dev/null || fail "dcmdump cannot read $f"
        dciodvfy "$f" 2>&1 | grep '^Error' >> "$work/exported.err" || true
        n=$((n + 1))
    done < <(find "$dir/DICOM" -type f)
    [ "$n" = "$count" ] || fail "$n files in $dir/DICOM, expected $count"
    sort -u "$work/exported.err" > "$work/exported.sorted"
    stored_errors "$patient" > "$work/stored.sorted"
    new=$(comm -23 "$work/exported.sorted" "$work/stored.sorted")
    [ -z "$new" ] || fail "dciodvfy finds errors in exported files that the stored sources do not have: $new"
    ok
    got=$(python3 -c "
from pydicom import dcmread
from pydicom.fileset import FileSet
print(len(FileSet(dcmread('$dir/DICOMDIR'))))")
    [ "$got" = "$count" ] || fail "pydicom FileSet loads $got instances from $dir, expected $count"
    ok
    [ -f "$dir/README.TXT" ] || fail "no README.TXT in $dir"
    ok
}

# 1. The sample disc as an ISO (CD, Japanese), the clean patient as dir, ISO and zip.
"$bin" export --patient 12345 --format iso --out "$work/sample.iso" --file-set-id SAMPLE_DISC --home "$home" > /dev/null
xorriso -indev "$work/sample.iso" -ls / 2> /dev/null | grep "'DICOMDIR'" > /dev/null || fail "xorriso: no DICOMDIR in the ISO"
xorriso -indev "$work/sample.iso" -ls / 2> /dev/null | grep "'README.TXT'" > /dev/null || fail "xorriso: no README.TXT in the ISO"
isoinfo -d -i "$work/sample.iso" | grep "Volume id: SAMPLE_DISC" > /dev/null || fail "isoinfo: volume id is not SAMPLE_DISC"
isoinfo -l -i "$work/sample.iso" | grep "DICOMDIR.;1" > /dev/null || fail "isoinfo: no DICOMDIR.;1 in the ISO 9660 directory"
isoinfo -l -i "$work/sample.iso" | grep "IMG00001.;1" > /dev/null || fail "isoinfo: no IMG00001.;1"
ok
[ -f "$work/sample.label.svg" ] || fail "no label beside the ISO"
grep -q "山田" "$work/sample.label.svg" && grep -q "Yamada" "$work/sample.label.svg" && grep -q "やまだ" "$work/sample.label.svg" \
    || fail "the label lacks a PN group of the patient's name"
grep -q "DICOM PLUS WEB" "$work/sample.label.svg" || fail "the label does not say DICOM PLUS WEB"
ok
mkdir "$work/sample"; bsdtar -xf "$work/sample.iso" -C "$work/sample"
judge "$work/sample" 5 12345

"$bin" export --patient EXP-A --format dir --out "$work/a-dir" --home "$home" --json > "$work/a-dir.json"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['verified'] and s['instances']==13 and len(s['rewritten'])==8, s" "$work/a-dir.json" \
    || fail "summary of the dir export"
judge "$work/a-dir" 13 EXP-A
grep -q "山田 太郎" "$work/a-dir/INDEX.HTM" || fail "INDEX.HTM lost the Japanese name"
grep -qi "<script" "$work/a-dir/INDEX.HTM" "$work/a-dir"/IHE_PDI/*.HTM && fail "a script in the web content"
# Thumbnails: one JPEG per image series, referenced by the study pages, readable by Pillow.
python3 - "$work/a-dir" <<'PY' || fail "thumbnails of the web content"
import glob, os, re, sys
from PIL import Image
root = sys.argv[1]
refs = set()
for page in glob.glob(os.path.join(root, "IHE_PDI", "*.HTM")):
    refs |= set(re.findall(r'src="(THUMBS/[A-Z0-9]+\.JPG)"', open(page, encoding="utf-8").read()))
assert refs, "no thumbnail referenced"
for ref in refs:
    image = Image.open(os.path.join(root, "IHE_PDI", ref))
    assert image.format == "JPEG" and max(image.size) <= 128, (ref, image.format, image.size)
print(f"export: {len(refs)} series thumbnails in the web content")
PY
grep -q "テスト医院" "$work/a-dir/README.TXT" || fail "README.TXT lacks the institution of config.toml"
ok
"$bin" export --patient EXP-A --format iso --lang en --out "$work/a.iso" --home "$home" > /dev/null
mkdir "$work/a-iso"; bsdtar -xf "$work/a.iso" -C "$work/a-iso"
judge "$work/a-iso" 13 EXP-A
grep -q "How to open" "$work/a-iso/README.TXT" || fail "--lang en README"
ok
mkdir -p "$work/viewer/bin"; echo "viewer" > "$work/viewer/bin/viewer.exe"
"$bin" export --patient EXP-A --format zip --out "$work/a.zip" --viewer "$work/viewer" --home "$home" > /dev/null
bsdtar -tf "$work/a.zip" | grep -x "DICOMDIR" > /dev/null || fail "bsdtar: no DICOMDIR at the zip root"
bsdtar -tf "$work/a.zip" | grep "^VIEWER/bin/viewer.exe" > /dev/null || fail "bsdtar: the viewer is not under VIEWER/"
mkdir "$work/a-zip"; bsdtar -xf "$work/a.zip" -C "$work/a-zip"
judge "$work/a-zip" 13 EXP-A

# 2. verify agrees on good media and finds each defect of broken ones.
for m in "$work/sample.iso" "$work/a-dir" "$work/a.iso" "$work/a.zip"; do
    "$bin" verify "$m" > "$work/verify.txt" || { cat "$work/verify.txt"; fail "verify rejects the good medium $m"; }
done
ok
broken() {   # $1 name, $2 expected code, then the mutation (run inside the copy)
    local name=$1 code=$2; shift 2
    rm -rf "$work/broken-$name"; cp -r "$work/a-dir" "$work/broken-$name"
    (cd "$work/broken-$name" && eval "$@")
    if "$bin" verify "$work/broken-$name" --json > "$work/broken.json"; then fail "verify passes a medium with $name"; fi
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if any(p['code']==sys.argv[2] and p['severity']=='error' for p in r['problems']) else 1)" \
        "$work/broken.json" "$code" || { cat "$work/broken.json"; fail "verify does not report $code for $name"; }
    ok
}
broken lowercase file-id 'mv DICOM/PAT00001/STU00001/SER00001/IMG00001 DICOM/PAT00001/STU00001/SER00001/img00001'
broken missing-file scan:referenced-file-missing 'rm DICOM/PAT00001/STU00002/SER00001/IMG00002'
broken bad-offsets scan:dicomdir-wrong-offsets 'python3 -c "
from pydicom import dcmread
ds = dcmread(\"DICOMDIR\")
for r in ds.DirectoryRecordSequence:
    if r.OffsetOfTheNextDirectoryRecord: r.OffsetOfTheNextDirectoryRecord += 6
ds.save_as(\"DICOMDIR\")"'
broken implicit-vr transfer-syntax 'python3 -c "
from pydicom import dcmread
from pydicom.uid import ImplicitVRLittleEndian
p = \"DICOM/PAT00001/STU00001/SER00001/IMG00001\"
ds = dcmread(p); ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
ds.save_as(p, implicit_vr=True, little_endian=True)"'
broken autorun forbidden-root-content 'printf "[autorun]\r\nopen=VIEWER.EXE\r\n" > AUTORUN.INF'
broken no-readme readme-missing 'rm README.TXT'
# pydicom sees the missing file too: it warns and loads one instance fewer.
got=$(python3 -W ignore -c "
from pydicom import dcmread
from pydicom.fileset import FileSet
print(len(FileSet(dcmread('$work/broken-missing-file/DICOMDIR'))))")
[ "$got" = 12 ] || fail "pydicom loads $got instances of the file-set with a missing file (expected 12 of 13)"
ok

# 3. Profiles: JPEG Baseline on STD-GEN-CD is decompressed losslessly (the
#    source stays marked lossy), kept as it is on DVD-JPEG; refusals below.
"$bin" export --patient EXP-B --format dir --out "$work/b-cd" --home "$home" > /dev/null 2> "$work/b.err" || fail "JPEG on STD-GEN-CD: $(cat "$work/b.err")"
"$bin" verify "$work/b-cd" --profile STD-GEN-CD > /dev/null || fail "verify rejects the decompressed CD export"
python3 -W ignore - "$work/b-cd" <<'PY' || fail "the decompressed files"
import sys
from pydicom import dcmread
from pydicom.fileset import FileSet
fs = FileSet(dcmread(sys.argv[1] + "/DICOMDIR"))
decompressed = 0
for instance in fs:
    ds = instance.load()
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1", ds.file_meta.TransferSyntaxUID
    assert len(ds.PixelData) == ds.Rows * ds.Columns * ds.SamplesPerPixel * (ds.BitsAllocated // 8) * int(getattr(ds, "NumberOfFrames", 1) or 1)
    if ds.PhotometricInterpretation == "RGB":   # the JPEG Baseline source
        assert ds.LossyImageCompression == "01", "a lossy source must stay marked lossy"
        decompressed += 1
assert decompressed == 1, decompressed
print("export: JPEG Baseline decompressed for STD-GEN-CD, still marked lossy")
PY
"$bin" export --patient EXP-B --format iso --media dvd --out "$work/b-dvd.iso" --home "$home" > /dev/null || fail "JPEG refused on DVD-JPEG"
"$bin" verify "$work/b-dvd.iso" --profile STD-GEN-DVD-JPEG > /dev/null || fail "verify rejects the DVD-JPEG export"
if "$bin" verify "$work/b-dvd.iso" --profile STD-GEN-CD > /dev/null; then fail "verify accepts JPEG under STD-GEN-CD"; fi
ok
# BD (PS3.12 Annex X): a UDF 2.60 image, no ISO 9660, read by 7-Zip and
# udftools; the files are those of a folder export of the same patient.
"$bin" export --patient EXP-B --format iso --media bd --out "$work/b-bd.iso" --home "$home" > /dev/null || fail "BD export"
isoinfo -d -i "$work/b-bd.iso" > /dev/null 2>&1 && fail "the BD image has an ISO 9660 volume"
udfinfo "$work/b-bd.iso" > "$work/b-bd.udfinfo" 2>&1 || { cat "$work/b-bd.udfinfo" >&2; fail "udfinfo cannot read the BD image"; }
for want in udfrev=2.50 udfwriterev=2.60 integrity=closed accesstype=readonly numfiles=; do
    grep -q "^$want" "$work/b-bd.udfinfo" || { cat "$work/b-bd.udfinfo" >&2; fail "udfinfo: no $want"; }
done
label=$(sed -n 's/^lvid=//p' "$work/b-bd.udfinfo")
7z l "$work/b-bd.iso" > "$work/b-bd.7z" 2>&1 || { cat "$work/b-bd.7z" >&2; fail "7-Zip cannot list the BD image"; }
grep -q "^Type = Udf" "$work/b-bd.7z" && grep -q "^Version = 2.60" "$work/b-bd.7z" || fail "7-Zip does not see UDF 2.60"
grep -qi "warning\|error" "$work/b-bd.7z" && { cat "$work/b-bd.7z" >&2; fail "7-Zip warns about the BD image"; }
7z x -o"$work/b-bd" "$work/b-bd.iso" > /dev/null || fail "7-Zip cannot extract the BD image"
"$bin" export --patient EXP-B --format dir --media bd --file-set-id "$label" --out "$work/b-bd-dir" --home "$home" > /dev/null
diff -r "$work/b-bd/DICOM" "$work/b-bd-dir/DICOM" > /dev/null || fail "the DICOM files of the BD image differ from a folder export"
# The DICOMDIRs differ in their own SOP Instance UID only (a new one per
# export). Its length varies (2.25 UIDs have 1 to 39 digits), which moves the
# meta group length and every record offset by the same amount: their values
# are left out of the comparison (dciodvfy and pydicom check the offsets).
dicomdir_dump() {
    dcmdump "$1" | grep -v -e MediaStorageSOPInstanceUID -e FileMetaInformationGroupLength \
        | sed -e 's/offset=\$[0-9]*/offset=N/' -e 's/ up [1-9][0-9]* */ up N /'
}
diff <(dicomdir_dump "$work/b-bd/DICOMDIR") <(dicomdir_dump "$work/b-bd-dir/DICOMDIR") \
    || fail "the DICOMDIR of the BD image differs from a folder export's"
judge "$work/b-bd" "$(find "$work/b-bd-dir/DICOM" -type f | wc -l)" EXP-B
"$bin" verify "$work/b-bd.iso" --profile STD-GEN-BD-JPEG > /dev/null || fail "verify rejects the BD export"
"$bin" verify "$work/b-bd.iso" > "$work/b-bd.verify" || fail "verify rejects the BD export (profile inferred)"
grep -q "STD-GEN-CD" "$work/b-bd.verify" && fail "a UDF-only image inferred to be a CD"
# The file system against the declared medium: BD is UDF, CD is ISO 9660.
for pair in "b-dvd.iso STD-GEN-BD-JPEG" "b-bd.iso STD-GEN-CD"; do
    read -r image declared <<< "$pair"
    if "$bin" verify "$work/$image" --profile "$declared" --json > "$work/fs.json"; then fail "verify accepts $image as $declared"; fi
    python3 -c "import json,sys; sys.exit(0 if any(p['code'] == 'file-system' for p in json.load(open(sys.argv[1]))['problems']) else 1)" "$work/fs.json" \
        || fail "verify does not name the file system of $image declared $declared"
done
ok
if "$bin" export --patient EXP-C --format dir --out "$work/c" --home "$home" 2> "$work/c.err"; then fail "missing Study ID accepted without --invent"; fi
grep -q "StudyID" "$work/c.err" || fail "the refusal does not name the missing key"
"$bin" export --patient EXP-C --format dir --invent --out "$work/c" --home "$home" --json > "$work/c.json"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert [i['keyword'] for i in s['inventions']]==['StudyID'], s" "$work/c.json" || fail "--invent not recorded"
dciodvfy "$work/c/DICOMDIR" 2>&1 | grep '^Error' > /dev/null && fail "dciodvfy errors in the DICOMDIR with an invented key"
python3 - "$home" <<'PY' || fail "the export is not in the audit log"
import sqlite3, sys
n = sqlite3.connect(sys.argv[1] + "/catalog.sqlite").execute("select count(*) from audit_log where action='export'").fetchone()[0]
sys.exit(0 if n >= 5 else 1)
PY
ok
a_study=$("$bin" ls studies --home "$home" --json | python3 -c "import json,sys; print([s['study_instance_uid'] for s in json.load(sys.stdin) if s['patient_id']=='EXP-A'][0])")
b_study=$("$bin" ls studies --home "$home" --json | python3 -c "import json,sys; print([s['study_instance_uid'] for s in json.load(sys.stdin) if s['patient_id']=='EXP-B'][0])")
if "$bin" export --study "$a_study" "$b_study" --format dir --media dvd --out "$work/two" --home "$home" 2> /dev/null; then fail "two patients on one medium without --allow-multi-patient"; fi
"$bin" export --study "$a_study" "$b_study" --format dir --media dvd --allow-multi-patient --out "$work/two" --home "$home" 2> "$work/two.err" > /dev/null
grep -q "2 patients" "$work/two.err" || fail "no warning for two patients"
# IHE XDM with two patients: one submission set (SUBSETnn) each.
"$bin" export --study "$a_study" "$b_study" --format zip --xdm --media dvd --allow-multi-patient --out "$work/two-xdm.zip" --home "$home" 2> /dev/null > /dev/null \
    || fail "--xdm with two patients"
python3 - "$work/two-xdm.zip" <<'PY' || fail "XDM subsets per patient"
import sys, zipfile
import xml.etree.ElementTree as ET
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
archive = zipfile.ZipFile(sys.argv[1])
metas = sorted(n for n in archive.namelist() if n.endswith("/METADATA.XML"))
assert metas == ["IHE_XDM/SUBSET01/METADATA.XML", "IHE_XDM/SUBSET02/METADATA.XML"], metas
patients, entries = set(), 0
for meta in metas:
    root = ET.fromstring(archive.read(meta))
    ids = {v.text for s in root.iter(RIM + "Slot") if s.get("name") == "sourcePatientId" for v in s.iter(RIM + "Value")}
    assert len(ids) == 1, ids
    patients |= ids
    entries += len(list(root.iter(RIM + "ExtrinsicObject")))
dicom = [n for n in archive.namelist() if n.startswith("DICOM/") and not n.endswith("/")]
assert len(patients) == 2 and entries == len(dicom), (patients, entries, len(dicom))
PY
ok

# 4. Round trip: the ISO imported into a fresh store, same UIDs and pixel data.
"$bin" import "$work/a.iso" --patient-id EXP-A --yes --home "$work/home2" --json > /dev/null
pixels() {
    "$bin" ls instances --home "$1" --json | python3 -c "
import hashlib, json, sys
from pydicom import dcmread
for i in sorted(json.load(sys.stdin), key=lambda i: i['sop_instance_uid']):
    if i['patient_id'] != 'EXP-A': continue
    ds = dcmread(i['path'])
    data = ds.PixelData if 'PixelData' in ds else ds.EncapsulatedDocument
    print(i['sop_instance_uid'], hashlib.sha256(data).hexdigest())"
}
[ "$(pixels "$home")" = "$(pixels "$work/home2")" ] || fail "round trip: UIDs or pixel data differ"
[ "$(pixels "$work/home2" | wc -l)" = 13 ] || fail "round trip: not 13 instances"
ok

# 5. IHE XDM in the zip.
printf 'assigning_authority = "1.2.392.200119.99.1"\n' >> "$home/config.toml"
"$bin" export --patient EXP-A --format zip --xdm --out "$work/a-xdm.zip" --home "$home" --json > "$work/a-xdm.json"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['xdm_documents']==13 and not s['encrypted'], s" "$work/a-xdm.json" \
    || fail "summary of the --xdm export"
bsdtar -tf "$work/a-xdm.zip" > "$work/a-xdm.list"
for name in DICOMDIR README.TXT INDEX.HTM IHE_XDM/SUBSET01/METADATA.XML; do
    grep -qx "$name" "$work/a-xdm.list" || fail "bsdtar: no $name in the XDM zip"
done
mkdir "$work/a-xdm"; bsdtar -xf "$work/a-xdm.zip" -C "$work/a-xdm"
xmllint --noout "$work/a-xdm/IHE_XDM/SUBSET01/METADATA.XML" || fail "xmllint rejects METADATA.XML"
python3 - "$work/a-xdm.zip" <<'PY' || fail "the XDM metadata"
import hashlib, posixpath, sys, zipfile
import xml.etree.ElementTree as ET
from pydicom import dcmread
LCM = "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
archive = zipfile.ZipFile(sys.argv[1])
names = set(archive.namelist())
meta = "IHE_XDM/SUBSET01/METADATA.XML"
root = ET.fromstring(archive.read(meta))
assert root.tag == LCM + "SubmitObjectsRequest", root.tag
objects = root.find(RIM + "RegistryObjectList")
assert objects is not None, "no rim:RegistryObjectList"
def slot(element, name):
    return [v.text for s in element.findall(RIM + "Slot") if s.get("name") == name for v in s.iter(RIM + "Value")]
def identifier(element, scheme):
    return [e.get("value") for e in element.findall(RIM + "ExternalIdentifier") if e.get("identificationScheme") == scheme]
packages = objects.findall(RIM + "RegistryPackage")
assert len(packages) == 1, len(packages)
ss = packages[0]
assert slot(ss, "submissionTime") and identifier(ss, "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8") \
    and identifier(ss, "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"), "submission set without time, uniqueId or sourceId"
cx = "EXP-A^^^&1.2.392.200119.99.1&ISO"
assert identifier(ss, "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446") == [cx], "submission set patientId"
entries = objects.findall(RIM + "ExtrinsicObject")
members = {a.get("targetObject") for a in objects.findall(RIM + "Association")
           if a.get("sourceObject") == ss.get("id") and a.get("associationType").endswith("HasMember")}
uids = set()
for entry in entries:
    assert entry.get("mimeType") == "application/dicom" and entry.get("id") in members, entry.attrib
    (uri,) = slot(entry, "URI")
    name = posixpath.normpath(posixpath.join(posixpath.dirname(meta), uri))
    assert name in names and not name.startswith(".."), f"{uri} is not in the zip"
    data = archive.read(name)
    assert slot(entry, "size") == [str(len(data))], (uri, slot(entry, "size"), len(data))
    assert slot(entry, "hash") == [hashlib.sha1(data).hexdigest()], (uri, "hash")
    assert identifier(entry, "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427") == [cx], "document patientId"
    (uid,) = identifier(entry, "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab")
    with archive.open(name) as f:
        assert dcmread(f).SOPInstanceUID == uid, (uri, uid)
    uids.add(uid)
dicom = [n for n in names if n.startswith("DICOM/") and not n.endswith("/")]
assert len(entries) == len(dicom) == len(uids) == 13, (len(entries), len(dicom), len(uids))
print(f"export: XDM metadata: {len(entries)} DocumentEntries, sizes and SHA-1 match the zip entries")
PY
ok
judge "$work/a-xdm" 13 EXP-A
grep -q "IHE_XDM/SUBSET01/METADATA.XML" "$work/a-xdm/INDEX.HTM" || fail "INDEX.HTM does not link the XDM metadata"
# verify reads the metadata back: a stated hash that is not the file's is an error.
cp -r "$work/a-xdm" "$work/broken-xdm"
python3 - "$work/broken-xdm/IHE_XDM/SUBSET01/METADATA.XML" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
text = re.sub(r'(<rim:Slot name="hash">\s*<rim:ValueList>\s*<rim:Value>)[0-9a-f]{40}', r'\g<1>' + "0" * 40, text, count=1)
open(sys.argv[1], "w", encoding="utf-8").write(text)
PY
if "$bin" verify "$work/broken-xdm" --json > "$work/broken.json"; then fail "verify passes XDM metadata with a wrong hash"; fi
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if [p for p in r['problems'] if p['code']=='xdm' and 'SHA-1' in p['message']] else 1)" "$work/broken.json" \
    || { cat "$work/broken.json"; fail "verify does not report the wrong XDM hash"; }
"$bin" verify "$work/a-xdm.zip" > "$work/verify.txt" || { cat "$work/verify.txt"; fail "verify rejects the XDM zip"; }
ok

# 6. The encrypted zip.
secret="tiger lily $$ 雨"
printf '%s\nnot this line\n' "$secret" > "$work/pass.txt"
if "$bin" export --patient EXP-A --format iso --encrypt --passphrase-file "$work/pass.txt" --out "$work/enc.iso" --home "$home" 2> "$work/enc.err"; then
    fail "--encrypt accepted for an ISO image"
fi
grep -q "zip" "$work/enc.err" || fail "the --encrypt refusal does not say it needs zip"
[ ! -e "$work/enc.iso" ] || fail "an ISO was written although --encrypt was refused"
"$bin" export --patient EXP-A --format zip --encrypt --passphrase-file "$work/pass.txt" --out "$work/a-enc.zip" --home "$home" --json \
    > "$work/a-enc.json" 2> "$work/a-enc.err" || { cat "$work/a-enc.err"; fail "the encrypted export"; }
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['encrypted'] and s['verified'] and s['instances']==13, s" "$work/a-enc.json" \
    || fail "summary of the encrypted export"
mkdir "$work/locked" "$work/locked-unzip"
# A wrong passphrase (bsdtar without one and without a terminal keeps asking
# for minutes), and Info-ZIP unzip without one: neither gets the files out.
if setsid bsdtar --passphrase "not the passphrase" -xf "$work/a-enc.zip" -C "$work/locked" < /dev/null 2> "$work/locked.err"; then
    fail "bsdtar extracts the encrypted zip with a wrong passphrase"
fi
grep -q "Incorrect passphrase" "$work/locked.err" || { head -3 "$work/locked.err"; fail "bsdtar does not say the passphrase is wrong"; }
if unzip -q "$work/a-enc.zip" -d "$work/locked-unzip" < /dev/null > "$work/locked.err" 2>&1; then fail "unzip extracts the encrypted zip without a passphrase"; fi
# (bsdtar leaves the files it could not decrypt behind, zero-filled: none may hold real content.)
python3 - "$work/locked" "$work/locked-unzip" <<'PY' || fail "content came out of the encrypted zip without the passphrase"
import os, sys
for folder, _, files in (step for top in sys.argv[1:] for step in os.walk(top)):
    for name in files:
        data = open(os.path.join(folder, name), "rb").read()
        assert not data.strip(b"\0"), os.path.join(folder, name)
PY
python3 - "$work/a-enc.zip" <<'PY' || fail "the zip is not AES-encrypted throughout"
import sys, zipfile
for info in zipfile.ZipFile(sys.argv[1]).infolist():
    if info.is_dir(): continue
    assert info.flag_bits & 1 and info.compress_type == 99, (info.filename, info.flag_bits, info.compress_type)   # 99: WinZip AES
PY
mkdir "$work/a-enc"
setsid bsdtar --passphrase "$secret" -xf "$work/a-enc.zip" -C "$work/a-enc" < /dev/null || fail "bsdtar cannot extract the encrypted zip with the passphrase"
judge "$work/a-enc" 13 EXP-A
"$bin" verify "$work/a-enc" > /dev/null || fail "verify rejects the extracted file-set"
if "$bin" verify "$work/a-enc.zip" > "$work/verify.txt" 2>&1; then fail "verify passes an encrypted zip it cannot read"; fi
grep -q "passphrase" "$work/verify.txt" || { cat "$work/verify.txt"; fail "verify of the encrypted zip does not say a passphrase is needed"; }
"$bin" verify "$work/a-enc.zip" --passphrase-file "$work/pass.txt" > "$work/verify.txt" || { cat "$work/verify.txt"; fail "verify --passphrase-file rejects the encrypted zip"; }
set +e; "$bin" scan "$work/a-enc.zip" > "$work/scan.txt" 2>&1; rc=$?; set -e
[ "$rc" -lt 128 ] || fail "scan of the encrypted zip crashed ($rc)"
grep -q "passphrase" "$work/scan.txt" || { cat "$work/scan.txt"; fail "scan of the encrypted zip does not say a passphrase is needed"; }
# The prompt (a terminal from script(1)): asked twice, no echo once asked; differing answers write nothing.
printf 'prompted secret\nprompted secret\n' | script -qec "'$bin' export --patient EXP-A --format zip --encrypt --out '$work/a-prompt.zip' --home '$home'" /dev/null \
    > "$work/prompt.txt" || { cat "$work/prompt.txt"; fail "export --encrypt with the passphrase typed on the terminal"; }
grep -q "Passphrase again:" "$work/prompt.txt" || fail "the passphrase was not asked twice"
printf 'prompted secret\n' > "$work/prompt-pass.txt"
"$bin" verify "$work/a-prompt.zip" --passphrase-file "$work/prompt-pass.txt" > /dev/null || fail "the zip made with the typed passphrase"
printf 'one\ntwo\n' | script -qec "'$bin' export --patient EXP-A --format zip --encrypt --out '$work/a-differ.zip' --home '$home'" /dev/null > "$work/prompt.txt" || true
grep -q "differ" "$work/prompt.txt" && [ ! -e "$work/a-differ.zip" ] || { cat "$work/prompt.txt"; fail "differing passphrases must write nothing"; }
if grep -rqF "tiger lily" "$work/a-enc.json" "$work/a-enc.err" "$work/verify.txt" "$work/scan.txt" "$home" 2> /dev/null; then
    fail "the passphrase shows in the output or the store"
fi
ok

# 7. INDEX.HTM in headless Chromium (the a-dir export: 山田 太郎, ISO 2022 IR 87 source).
chromium_bin=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium_bin" ] || ! fc-list ':lang=ja' 2> /dev/null | grep . > /dev/null; then
    [ "${CI:-}" = "true" ] && fail "chromium or a Japanese font is missing (make deps installs chromium and fonts-noto-cjk)"
    echo "export: INDEX.HTM rendering skipped: no chromium or no Japanese font (make deps installs them)"
else
    artifacts=${ARTIFACTS_DIR:-$repo/.build/test-artifacts}
    mkdir -p "$artifacts"
    shot="$(cd "$artifacts" && pwd)/export-index-ja.png"
    rm -f "$shot"
    browse() { timeout 120 "$chromium_bin" --headless --no-sandbox --disable-gpu --user-data-dir="$work/chromium" "$@" 2>> "$work/chromium.log"; }
    browse --screenshot="$shot" --window-size=1024,768 "file://$work/a-dir/INDEX.HTM" > /dev/null || { tail "$work/chromium.log"; fail "chromium could not render INDEX.HTM"; }
    browse --dump-dom "file://$work/a-dir/INDEX.HTM" > "$work/index.dom" || { tail "$work/chromium.log"; fail "chromium --dump-dom"; }
    grep -q "山田 太郎" "$work/index.dom" || fail "the rendered DOM of INDEX.HTM lacks the Japanese name 山田 太郎"
    grep -q "胸部CT" "$work/index.dom" || fail "the rendered DOM of INDEX.HTM lacks the study description 胸部CT"
    python3 - "$work/index.dom" "$shot" <<'PY' || fail "the rendered INDEX.HTM"
import sys
from html.parser import HTMLParser
from PIL import Image
class Tags(HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = []
    def handle_starttag(self, tag, attrs): self.tags.append(tag)
parser = Tags(); parser.feed(open(sys.argv[1], encoding="utf-8").read())
assert "table" in parser.tags, "no table in the rendered page"
assert "script" not in parser.tags, "a <script> element in the rendered page"
image = Image.open(sys.argv[2]).convert("L")
assert image.size == (1024, 768), image.size
dark = sum(image.histogram()[:128])
assert dark > 2000, f"the screenshot is nearly blank ({dark} dark pixels)"
PY
    echo "export: INDEX.HTM screenshot (headless Chromium): $shot"
    ok
fi

# 8. Re-master a messy foreign folder (and a zip of it) with --from PATH.
messy="$work/messy"
mkdir -p "$messy/viewer"
cp -r "$work/fx/a/." "$messy/"                       # lowercase names, no DICOMDIR, raw + implicit VR
printf 'junk' > "$messy/Thumbs.db"; printf '\0\0' > "$messy/.DS_Store"; : > "$messy/empty"
printf '[autorun]\r\nopen=viewer\\viewer.exe\r\n' > "$messy/autorun.inf"
printf 'MZ viewer' > "$messy/viewer/viewer.exe"; printf 'read me' > "$messy/readme.txt"
python3 -c "from PIL import Image; Image.new('L', (8, 8)).save('$messy/photo.jpg')"
head -c 400 "$messy/s2/se1/im1.dcm" > "$messy/broken.dcm"   # a truncated DICOM file
"$bin" export --from "$messy" --format iso --out "$work/messy.iso" --home "$work/home-remaster" --json > "$work/messy.json" 2> "$work/messy.err" \
    || { cat "$work/messy.err"; fail "re-mastering the messy folder"; }
python3 - "$work/messy.json" <<'PY' || fail "summary of the re-mastered folder"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["verified"] and s["instances"] == 13 and s["source_medium"].endswith("messy"), s
assert any("broken.dcm" in line for line in s["left_off"]), s["left_off"]
assert s["patient_ids"] == ["EXP-A"], s["patient_ids"]
PY
grep -q "broken.dcm" "$work/messy.err" || fail "the truncated file is not named on stderr"
"$bin" verify "$work/messy.iso" > "$work/verify.txt" || { cat "$work/verify.txt"; fail "verify rejects the re-mastered ISO"; }
mkdir "$work/messy-iso"; bsdtar -xf "$work/messy.iso" -C "$work/messy-iso"
judge "$work/messy-iso" 13 EXP-A
[ ! -e "$work/messy-iso/VIEWER" ] && [ ! -e "$work/messy-iso/AUTORUN.INF" ] && [ ! -e "$work/messy-iso/autorun.inf" ] \
    || fail "loose, viewer or autorun files of the source were carried over"
ok
(cd "$messy" && bsdtar -a -cf "$work/messy.zip" .)
"$bin" export --from "$work/messy.zip" --format dir --media usb --out "$work/messy-zip" --home "$work/home-remaster" --json > "$work/messy-zip.json" 2> /dev/null \
    || fail "re-mastering the zip"
"$bin" verify "$work/messy-zip" > /dev/null || fail "verify rejects the folder re-mastered from a zip"
judge "$work/messy-zip" 13 EXP-A
# The selection filters the medium; a name that is both a node and a folder is ambiguous.
s1=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['study_instance_uids'][0])" "$work/messy.json")
"$bin" export --from "$messy" --study "$s1" --format dir --out "$work/messy-one" --home "$work/home-remaster" --json > "$work/messy-one.json"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['instances']==7 and s['study_instance_uids']==[sys.argv[2]], s" "$work/messy-one.json" "$s1" \
    || fail "--from PATH --study"
"$bin" nodes add MESSY --ae MESSY --host 127.0.0.1 --port 1 --home "$work/home-remaster" > /dev/null
mkdir -p "$work/cwd/MESSY"
if (cd "$work/cwd" && "$bin" export --from MESSY --patient X --out "$work/amb.iso" --home "$work/home-remaster" 2> "$work/amb.err"); then
    fail "an ambiguous --from accepted"
fi
grep -q "ambiguous" "$work/amb.err" && grep -q "./MESSY" "$work/amb.err" || { cat "$work/amb.err"; fail "the ambiguity message"; }
(cd "$work/cwd" && cp -r "$messy/." MESSY/ && "$bin" export --from ./MESSY --out "$work/dot.iso" --home "$work/home-remaster" > /dev/null) \
    || fail "--from ./NAME is not taken as a path"
ok

# 9. Capacity and --split (small --capacity, the same patient).
total=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['instances'])" "$work/a-dir.json")
if "$bin" export --patient EXP-A --format iso --capacity 2.2M --out "$work/big.iso" --home "$home" 2> "$work/big.err"; then
    fail "an export larger than --capacity accepted without --split"
fi
grep -q -- "--split" "$work/big.err" && grep -q "2.20 MB" "$work/big.err" || { cat "$work/big.err"; fail "the capacity refusal"; }
ls "$work"/big* | grep -v 'big.err' > /dev/null && fail "something was written for a refused export"
if "$bin" export --patient EXP-A --format iso --capacity 22M --media cd --out "$work/cdcap.iso" --home "$home" > /dev/null 2>&1; then :; else
    fail "an export within --capacity refused"; fi
"$bin" export --patient EXP-A --format iso --capacity 2.1M --split --file-set-id SPLITTEST --out "$work/split.iso" --home "$home" --json > "$work/split.json" \
    || fail "--split"
python3 - "$work/split.json" "$total" <<'PY' || fail "the split summary"
import json, sys
s = json.load(open(sys.argv[1]))
vols = s["volumes"]
assert 2 <= len(vols) <= 3, [v["output"] for v in vols]
assert sum(v["instances"] for v in vols) == s["instances"] == int(sys.argv[2]), s
assert [v["file_set_id"] for v in vols] == [f"SPLITTEST_{i + 1}" for i in range(len(vols))], vols
print("export: split into", len(vols), "volumes:", [v["instances"] for v in vols])
PY
sum=0; n=0
for iso in "$work"/split-*.iso; do
    n=$((n + 1))
    "$bin" verify "$iso" > "$work/verify.txt" || { cat "$work/verify.txt"; fail "verify rejects volume $iso"; }
    xorriso -indev "$iso" -ls / 2> /dev/null | grep "'DICOMDIR'" > /dev/null || fail "xorriso: no DICOMDIR in $iso"
    xorriso -indev "$iso" -ls / 2> /dev/null | grep "'README.TXT'" > /dev/null || fail "xorriso: no README.TXT in $iso"
    isoinfo -d -i "$iso" | grep "Volume id: SPLITTEST_$n" > /dev/null || fail "isoinfo: volume id of $iso"
    mkdir "$work/split-$n"; bsdtar -xf "$iso" -C "$work/split-$n"
    grep -q "Volume.*$n" "$work/split-$n/README.TXT" || grep -q "$n 枚目" "$work/split-$n/README.TXT" || fail "README.TXT of $iso does not name its volume"
    dd_errors=$(dciodvfy "$work/split-$n/DICOMDIR" 2>&1 | grep -c '^Error' || true)
    [ "$dd_errors" = 0 ] || fail "dciodvfy: $dd_errors errors in the DICOMDIR of $iso"
    got=$(python3 -c "
from pydicom import dcmread
from pydicom.fileset import FileSet
print(len(FileSet(dcmread('$work/split-$n/DICOMDIR'))))")
    [ "$(find "$work/split-$n/DICOM" -type f | wc -l)" = "$got" ] || fail "pydicom loads $got instances of $iso, not its file count"
    sum=$((sum + got))
    [ -f "$work/split-$n.label.svg" ] || fail "no label for $iso"
done
[ "$n" -ge 2 ] || fail "only $n volume(s) written"
[ "$sum" = "$total" ] || fail "the volumes hold $sum instances, expected $total"
ok
if "$bin" export --patient EXP-A --format iso --capacity 2.03M --split --out "$work/tiny.iso" --home "$home" 2> "$work/tiny.err"; then
    fail "a series larger than the medium accepted"
fi
grep -q "does not cut a series\|a single instance of series" "$work/tiny.err" || { cat "$work/tiny.err"; fail "the series refusal"; }
ls "$work"/tiny* | grep -v 'tiny.err' > /dev/null && fail "something was written for a refused split"
ok

# 10. --burn without a drive: a clear failure, the verified ISO kept.
for dev in /dev/nonexistent /dev/null; do
    name=burn$(basename "$dev")
    if "$bin" export --patient EXP-A --format iso --burn "$dev" --out "$work/$name.iso" --home "$home" > /dev/null 2> "$work/$name.err"; then
        fail "--burn $dev reported success"
    fi
    grep -q "kept at $work/$name.iso" "$work/$name.err" || { cat "$work/$name.err"; fail "--burn $dev does not say where the ISO is"; }
    grep -q "xorriso -as cdrecord" "$work/$name.err" || fail "--burn $dev does not say how to burn by hand"
    "$bin" verify "$work/$name.iso" > /dev/null || fail "the ISO kept after --burn $dev is not verified"
done
grep -q "does not exist" "$work/burnnonexistent.err" || fail "--burn /dev/nonexistent: $(cat "$work/burnnonexistent.err")"
grep -q "not a block device" "$work/burnnull.err" || fail "--burn /dev/null: $(cat "$work/burnnull.err")"
ok

echo "export: $checks passed, 0 failed"
