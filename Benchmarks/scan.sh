#!/usr/bin/env bash
# make bench, part 2: `discport scan --json` over a generated disc, side by
# side with GDCM's gdcmscanner, DCMTK's dcmdump and pydicom's FileSet, in one
# run on the same tree; peak memory at 2,000 and 20,000 files (issue #3).
#
#   bash Benchmarks/scan.sh [.build/release/discport]
#
# Trees (cached in .build/bench-data/scan-N; BENCH_DATA overrides): N files of
# 64×64 16-bit CT (~9 KB each), 10 patients × 2 studies × 5 series, as
# DICOM/Pxxxx/Sxxxx/SExxx/Ixxxxx, plus a DICOMDIR listing every file. Written
# by pydicom (one file per series, the rest byte copies with the UIDs
# replaced) and a small DICOMDIR writer below (dcmmkdir takes ~2 min on 20k).
# Measured warm (every file read once first), best of BENCH_RUNS (default 3),
# wall clock of one process each; peak RSS from /usr/bin/time -f %M:
#   discport     discport scan TREE --json > /dev/null
#   floor        open + pread of the first 4 KB of every file (discport-bench
#                measure, BENCH_WIDTH tasks; skipped when discport-bench is missing)
#   gdcmscanner  gdcmscanner -d TREE -r -t <the 10 tags a scan reports>
#   dcmdump      dcmdump -q +sd +r +sb 7fe0,0010 TREE > /dev/null
#                (+sb: stop before Pixel Data, DCMTK's stop_before_pixels)
#   pydicom      FileSet(dcmread(DICOMDIR)), then dcmread(path,
#                stop_before_pixels=True) for every instance of the FileSet
# Targets: discport faster than each peer; discport <= 1.5x the floor at 20k;
# discport peak RSS at 20k < 100 MB and flat-ish (<= 2x the 2k figure).
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
BENCH="$(dirname "$DISCPORT")/discport-bench"
RUNS=${BENCH_RUNS:-3}
WIDTH=${BENCH_WIDTH:-4}
DATA=${BENCH_DATA:-.build/bench-data}
SIZES="2000 20000"
TIME=/usr/bin/time
# The tags gdcmscanner is asked for: what a scan groups and reports by.
GDCM_TAGS="-t 0008,0016 -t 0008,0018 -t 0008,0020 -t 0008,0060 -t 0010,0010 \
-t 0010,0020 -t 0020,000d -t 0020,000e -t 0020,0011 -t 0020,0013"

if [ ! -x "$DISCPORT" ]; then
    echo "scan bench: $DISCPORT is missing (make release)" >&2
    exit 1
fi
if [ ! -x "$TIME" ]; then
    echo "scan bench: $TIME is missing (make deps installs the 'time' package)" >&2
    exit 1
fi

generate() { # generate TREE COUNT
    python3 - "$1" "$2" <<'PY'
import io, os, struct, sys
from multiprocessing import Pool
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, CTImageStorage, PYDICOM_IMPLEMENTATION_UID

root, count = sys.argv[1], int(sys.argv[2])
PATIENTS, STUDIES, SERIES = 10, 2, 5
per_series = count // (PATIENTS * STUDIES * SERIES)
assert per_series * PATIENTS * STUDIES * SERIES == count, "count must be a multiple of 100"
BASE = "1.2.826.0.1.3680043.9.7433.2"

def names(p, s, r):
    study_uid = f"{BASE}.{count}.{p}.{s}"
    return study_uid, f"{study_uid}.{r}", ["DICOM", f"P{p:04d}", f"S{s:04d}", f"SE{r:03d}"]

def write_series(key):
    p, s, r = key
    study_uid, series_uid, parts = names(p, s, r)
    folder = os.path.join(root, *parts)
    os.makedirs(folder, exist_ok=True)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = f"2024{1 + s:02d}15"; ds.StudyTime = "093000"
    ds.AccessionNumber = f"ACC{p}{s}"; ds.Modality = "CT"
    ds.ReferringPhysicianName = "Referring^Doctor"
    ds.StudyDescription = "CT CHEST"; ds.SeriesDescription = f"AXIAL {r}"
    ds.PatientName = f"Patient{p:02d}^Test"; ds.PatientID = f"PAT{p:04d}"
    ds.PatientBirthDate = "19600101"; ds.PatientSex = "F" if p % 2 else "M"
    ds.StudyInstanceUID = study_uid; ds.SeriesInstanceUID = series_uid
    ds.StudyID = str(s + 1); ds.SeriesNumber = r + 1
    ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 64; ds.Columns = 64
    ds.BitsAllocated = 16; ds.BitsStored = 12; ds.HighBit = 11; ds.PixelRepresentation = 0
    ds.PixelData = bytes((i * 7 + p + r) & 0xFF for i in range(64 * 64 * 2))
    # One file written by pydicom; the others are byte copies with the
    # fixed-width SOP Instance UID and Instance Number replaced.
    placeholder = f"{series_uid}.999999"
    ds.SOPInstanceUID = placeholder; ds.InstanceNumber = "999999"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = placeholder
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    template = buffer.getvalue()
    number = b"\x20\x00\x13\x00IS\x06\x00999999"
    assert template.count(number) == 1 and template.count(placeholder.encode()) == 2
    for i in range(per_series):
        data = template.replace(number, number[:-6] + b"%06d" % (i + 1))
        data = data.replace(placeholder.encode(), f"{series_uid}.{100001 + i}".encode())
        with open(os.path.join(folder, f"I{i + 1:05d}"), "wb") as f:
            f.write(data)
    return per_series

# DICOMDIR: explicit VR little endian, explicit-length items, depth-first
# records; offsets from the first byte of the preamble.
def element(group, elem, vr, value):
    if isinstance(value, int):
        raw = struct.pack("<I" if vr == "UL" else "<H", value)
    else:
        raw = value.encode("ascii")
        if len(raw) % 2:
            raw += b"\0" if vr == "UI" else b" "
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(raw)) + raw

def record(kind, keys):
    body = (element(0x0004, 0x1400, "UL", 0) + element(0x0004, 0x1410, "US", 0xFFFF)
            + element(0x0004, 0x1420, "UL", 0) + element(0x0004, 0x1430, "CS", kind)
            + b"".join(element(*k) for k in sorted(keys)))
    return bytearray(struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body)

NEXT_AT, LOWER_AT = 8 + 8, 8 + 12 + 10 + 8   # value positions inside a record item

def write_dicomdir(path):
    meta = (struct.pack("<HH2sHI", 2, 1, b"OB", 0, 2) + b"\0\1"
            + element(2, 2, "UI", "1.2.840.10008.1.3.10")
            + element(2, 3, "UI", f"{BASE}.{count}.0")
            + element(2, 0x10, "UI", "1.2.840.10008.1.2.1")
            + element(2, 0x12, "UI", "1.2.826.0.1.3680043.9.7433.3"))
    head = bytearray(b"\0" * 128 + b"DICM" + element(2, 0, "UL", len(meta)) + meta)
    head += element(0x0004, 0x1130, "CS", "BENCH")
    first_at = len(head) + 8
    head += element(0x0004, 0x1200, "UL", 0) + element(0x0004, 0x1202, "UL", 0)
    head += element(0x0004, 0x1212, "US", 0)
    head += struct.pack("<HH2sHI", 0x0004, 0x1220, b"SQ", 0, 0xFFFFFFFF)
    records = []   # [bytes, parent index, offset]
    def add(kind, keys, parent):
        records.append([record(kind, keys), parent, 0])
        return len(records) - 1
    for p in range(PATIENTS):
        pr = add("PATIENT", [(0x0010, 0x0010, "PN", f"Patient{p:02d}^Test"), (0x0010, 0x0020, "LO", f"PAT{p:04d}")], None)
        for s in range(STUDIES):
            study_uid, _, _ = names(p, s, 0)
            sr = add("STUDY", [(0x0008, 0x0020, "DA", f"2024{1 + s:02d}15"), (0x0008, 0x0030, "TM", "093000"),
                               (0x0008, 0x0050, "SH", f"ACC{p}{s}"), (0x0008, 0x1030, "LO", "CT CHEST"),
                               (0x0020, 0x000D, "UI", study_uid), (0x0020, 0x0010, "SH", str(s + 1))], pr)
            for r in range(SERIES):
                _, series_uid, parts = names(p, s, r)
                rr = add("SERIES", [(0x0008, 0x0060, "CS", "CT"), (0x0020, 0x000E, "UI", series_uid),
                                    (0x0020, 0x0011, "IS", str(r + 1))], sr)
                for i in range(per_series):
                    add("IMAGE", [(0x0004, 0x1500, "CS", "\\".join(parts + [f"I{i + 1:05d}"])),
                                  (0x0004, 0x1510, "UI", CTImageStorage),
                                  (0x0004, 0x1511, "UI", f"{series_uid}.{100001 + i}"),
                                  (0x0004, 0x1512, "UI", ExplicitVRLittleEndian),
                                  (0x0020, 0x0013, "IS", str(i + 1))], rr)
    offset = len(head)
    for rec in records:
        rec[2] = offset
        offset += len(rec[0])
    last = {}      # parent index (None: root) -> its last child so far
    for i, (_, parent, at) in enumerate(records):
        if parent in last:
            struct.pack_into("<I", records[last[parent]][0], NEXT_AT, at)
        elif parent is not None:
            struct.pack_into("<I", records[parent][0], LOWER_AT, at)
        last[parent] = i
    roots = [rec[2] for rec in records if rec[1] is None]
    struct.pack_into("<I", head, first_at, roots[0])
    struct.pack_into("<I", head, first_at + 12, roots[-1])
    with open(path, "wb") as f:
        f.write(head)
        for rec in records:
            f.write(rec[0])
        f.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))

keys = [(p, s, r) for p in range(PATIENTS) for s in range(STUDIES) for r in range(SERIES)]
with Pool(os.cpu_count()) as pool:
    written = sum(pool.map(write_series, keys))
assert written == count
write_dicomdir(os.path.join(root, "DICOMDIR"))
PY
}

now() { date +%s.%N; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The pydicom side: FileSet load, then every instance's header.
cat > "$TMP/pydicom_fileset.py" <<'PY'
import os, sys
from pydicom import dcmread
from pydicom.fileset import FileSet
fs = FileSet(dcmread(os.path.join(sys.argv[1], "DICOMDIR")))
read = 0
for instance in fs:
    dcmread(instance.path, stop_before_pixels=True)
    read += 1
print(read)
PY

# measure NAME COMMAND...: best wall-clock seconds and largest peak RSS (KB)
# of RUNS runs; stdout of the last run in $TMP/NAME.out.
measure() {
    local name=$1 best="" rss=0 start end kb
    shift
    for _ in $(seq "$RUNS"); do
        start=$(now)
        "$TIME" -f %M -o "$TMP/rss" "$@" > "$TMP/$name.out" 2> "$TMP/$name.err" || true
        end=$(now)
        best=$(awk -v s="$start" -v e="$end" -v b="$best" 'BEGIN { t = e - s; if (b == "" || t < b) print t; else print b }')
        kb=$(tail -n 1 "$TMP/rss")
        [ "$kb" -gt "$rss" ] && rss=$kb
    done
    SECONDS_OF[$name]=$best
    RSS_OF[$name]=$rss
}

declare -A SECONDS_OF RSS_OF
declare -A DISCPORT_RSS DISCPORT_SECONDS FLOOR_SECONDS
TABLES=""
for count in $SIZES; do
    tree="$DATA/scan-$count"
    mark="$DATA/scan-$count.complete-v1"     # outside the tree: not a file on the disc
    if [ ! -f "$mark" ]; then
        echo "scan bench: generating $count files and a DICOMDIR in $tree (once; cached)"
        rm -rf "$tree"
        mkdir -p "$tree"
        generate "$tree" "$count"
        touch "$mark"
    fi
    find "$tree" -type f -print0 | xargs -0 cat > /dev/null

    # Once, untimed: the scan must see the whole disc, and nothing wrong with it
    # but the (intended) several patients.
    "$DISCPORT" scan "$tree" --json > "$TMP/report.json" || true
    python3 - "$TMP/report.json" "$count" <<'PY' || { echo "scan bench: discport scan of $count files is wrong" >&2; exit 1; }
import json, sys
report, count = json.load(open(sys.argv[1])), int(sys.argv[2])
totals, dicomdir = report["totals"], report["dicomdir"] or {}
codes = sorted({p["code"] for p in report["problems"]})
ok = (totals["instances"] == count and totals["files"] == count + 1 and dicomdir.get("referenced_files") == count
      and dicomdir.get("tree_source") == "offsets" and codes == ["multi-patient"] and report["complete"])
if not ok:
    print(totals, dicomdir, codes, file=sys.stderr)
sys.exit(0 if ok else 1)
PY

    echo "scan bench: $count files (warm cache, best of $RUNS)"
    SECONDS_OF=(); RSS_OF=()
    measure discport "$DISCPORT" scan "$tree" --json
    if [ -x "$BENCH" ]; then
        "$BENCH" measure "$tree" --width "$WIDTH" --runs "$RUNS" > "$TMP/floor.out"
        FLOOR_SECONDS[$count]=$(awk '$1 == "floor_seconds" {print $2}' "$TMP/floor.out")
    fi
    if command -v gdcmscanner > /dev/null; then
        # shellcheck disable=SC2086
        measure gdcmscanner gdcmscanner -d "$tree" -r $GDCM_TAGS
    fi
    if command -v dcmdump > /dev/null; then
        measure dcmdump dcmdump -q +sd +r +sb 7fe0,0010 "$tree"
        if [ "$(grep -c '^# Dicom-File-Format' "$TMP/dcmdump.out")" -ne $((count + 1)) ]; then
            echo "scan bench: dcmdump did not read all $((count + 1)) files" >&2; exit 1
        fi
    fi
    if python3 -c "import pydicom.fileset" 2> /dev/null; then
        measure pydicom python3 "$TMP/pydicom_fileset.py" "$tree"
        if [ "$(cat "$TMP/pydicom.out")" != "$count" ]; then
            echo "scan bench: pydicom read $(cat "$TMP/pydicom.out") instances, not $count" >&2; exit 1
        fi
    fi
    DISCPORT_RSS[$count]=${RSS_OF[discport]}
    DISCPORT_SECONDS[$count]=${SECONDS_OF[discport]}

    table=$(printf "\n== scan of %s files (%s DICOMDIR records), warm cache, best of %s ==\n" "$count" "$((count + count / 100 + 30))" "$RUNS"
        printf "%-12s %9s %10s %11s\n" tool seconds "x discport" "peak RSS"
        d=${SECONDS_OF[discport]}
        for tool in discport gdcmscanner dcmdump pydicom; do
            [ -n "${SECONDS_OF[$tool]:-}" ] || continue
            awk -v t="$tool" -v s="${SECONDS_OF[$tool]}" -v d="$d" -v m="${RSS_OF[$tool]}" \
                'BEGIN { printf "%-12s %9.3f %9.2fx %8.1f MB%s\n", t, s, s / d, m / 1024,
                         (t == "discport" ? "" : (s > d ? "   discport faster: met" : "   discport faster: MISSED")) }'
        done
        if [ -n "${FLOOR_SECONDS[$count]:-}" ]; then
            awk -v f="${FLOOR_SECONDS[$count]}" -v d="$d" \
                'BEGIN { printf "%-12s %9.3f %9.2fx %11s   (first 4 KB of every file, in-process)\n", "4 KB floor", f, f / d, "-" }'
        fi)
    echo "$table"
    TABLES+="$table"$'\n'
done

echo
echo "== discport scan: targets =="
awk -v s2="${DISCPORT_SECONDS[2000]}" -v s20="${DISCPORT_SECONDS[20000]}" -v f20="${FLOOR_SECONDS[20000]:-}" \
    -v m2="${DISCPORT_RSS[2000]}" -v m20="${DISCPORT_RSS[20000]}" 'BEGIN {
    printf "time 2k / 20k files      %8.3f s / %.3f s  (%.1f µs/file at 20k)\n", s2, s20, s20 / 20000 * 1e6
    if (f20 != "") { r = s20 / f20; printf "discport / floor at 20k  %8.2f x  (target <= 1.5)   %s\n", r, (r <= 1.5 ? "met" : "MISSED") }
    printf "peak RSS 2k / 20k files  %8.1f MB / %.1f MB\n", m2 / 1024, m20 / 1024
    printf "peak RSS at 20k          %8.1f MB  (target < 100 MB) %s\n", m20 / 1024, (m20 < 100 * 1024 ? "met" : "MISSED")
    r = m20 / m2; printf "peak RSS 20k / 2k        %8.2f x  (flat-ish: <= 2) %s\n", r, (r <= 2 ? "met" : "MISSED")
}'
