#!/usr/bin/env bash
# Acceptance of the DICOM network (issue 9) against real peers on loopback,
# started here from Debian packages:
#   - DCMTK storescp receives `discport send`: every data set arrives byte for
#     byte (pydicom compares the bytes after the file meta information and the
#     parsed data sets), in the file's own transfer syntax;
#   - DCMTK echoscu/storescu against `discport listen`: echo, store into the
#     catalog (data sets byte-identical), rejection of an unknown called AE,
#     an unsupported abstract syntax (findscu), an A-ABORT in the middle of a
#     message (the listener goes on serving);
#   - Orthanc (temporary config, free ports): echo; rejection; every fixture
#     stored, each instance fetched back through the REST API
#     (/instances/{id}/file) with a byte-identical data set; C-FIND at patient,
#     study and series level with Japanese names in ISO 2022 IR 87 and
#     ISO_IR 192; Orthanc killed in the middle of a `send --parallel 2`: the
#     retry queue resumes on the next `send`, nothing lost, nothing sent twice
#     that had been acknowledged; C-GET and C-MOVE of a study back (C-GET
#     negotiating the study's classes found by C-FIND, a class left out
#     reported); Modality
#     Worklist (DCMTK wlmscpfs); reconciliation candidates by C-FIND and MWL;
#     DICOMweb STOW-RS / QIDO-RS / WADO-RS against Orthanc's plugin;
#     `import --send --no-store` (Orthanc has every coerced instance, the
#     store none, a re-run sends nothing);
#   - DCMTK storescp accepting only uncompressed syntaxes: RLE, JPEG-LS,
#     JPEG 2000 and JPEG lossless fixtures decompressed by discport to the
#     sources' exact pixels, each conversion reported.
#
# Everything runs in a private network namespace (only loopback) when
# `unshare -n` works, so peers that bind every address stay unreachable from
# outside; otherwise on the host's 127.0.0.1.
#
# usage: bash Tests/conformance/network.sh path/to/discport
set -euo pipefail

bin="$(cd "$(dirname "${1:?usage: network.sh path/to/discport}")" && pwd)/$(basename "$1")"
here="$(cd "$(dirname "$0")" && pwd)"

if [ -z "${DISCPORT_NETNS:-}" ] && command -v unshare > /dev/null && unshare -n true 2> /dev/null; then
    exec env DISCPORT_NETNS=1 unshare -n bash -c 'ip link set lo up 2>/dev/null || true; exec bash "$0" "$@"' "$0" "$@"
fi

missing=""
for tool in storescp storescu echoscu findscu wlmscpfs; do command -v $tool > /dev/null || missing="$missing $tool(dcmtk)"; done
command -v Orthanc > /dev/null || missing="$missing Orthanc(orthanc)"
command -v curl > /dev/null || missing="$missing curl"
python3 -c 'import pydicom' 2> /dev/null || missing="$missing pydicom"
if [ -n "$missing" ]; then
    if [ "${CI:-}" = "true" ]; then echo "network: FAILED: missing$missing (make deps installs them)" >&2; exit 1; fi
    echo "network: skipped: missing$missing"; exit 0
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    [ -n "${NETWORK_KEEP:-}" ] && echo "network: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "network: FAILED: $*" >&2; exit 1; }
ok() { echo "network: ok: $*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 200); do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" 2> /dev/null && return 0
        sleep 0.1
    done
    return 1
}
export DISCPORT_HOME="$work/home"
dp() { "$bin" "$@"; }

python3 "$here/make_network_fixtures.py" "$work/fixtures"
python3 - "$work/fixtures" > "$work/dicom-files.txt" <<'EOF'
import os, sys, pydicom
for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        try:
            pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True, force=True).SOPInstanceUID
            print(os.path.join(root, f))
        except Exception:
            pass
EOF
fixture_count=$(wc -l < "$work/dicom-files.txt")

# Compares received files with the fixtures: the data set bytes (after any
# file meta information) must be identical, and pydicom must read equal data
# sets. Arguments: FIXTURES RECEIVED-FILE...; reads received files from stdin
# when none are given. Prints the number compared.
cat > "$work/compare.py" <<'EOF'
import os, struct, sys, pydicom
def dataset_bytes(path):
    data = open(path, "rb").read()
    if data[128:132] == b"DICM":
        assert data[132:136] == b"\x02\x00\x00\x00", path
        length = struct.unpack("<I", data[140:144])[0]
        return data[144 + length:]
    return data
originals = {}
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        try:
            originals[str(pydicom.dcmread(p, stop_before_pixels=True, force=True).SOPInstanceUID)] = p
        except Exception:
            pass
received = sys.argv[2:] or [line.strip() for line in sys.stdin if line.strip()]
seen = set()
for p in received:
    ds = pydicom.dcmread(p, force=True)
    uid = str(ds.SOPInstanceUID)
    original = originals.get(uid)
    if original is None:
        sys.exit(f"{p}: SOP Instance {uid} is not a fixture")
    ref = pydicom.dcmread(original, force=True)
    def syntax(d):
        meta = getattr(d, "file_meta", None)
        return str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta else "1.2.840.10008.1.2"
    # Byte for byte when the syntax is the fixture's (discport never
    # converts what the peer accepts; a sender like storescu may).
    if syntax(ds) == syntax(ref) and dataset_bytes(p) != dataset_bytes(original):
        sys.exit(f"{p}: data set differs from {original}")
    if syntax(ds) != syntax(ref) and os.environ.get("EXACT_SYNTAX"):
        sys.exit(f"{p}: transfer syntax {syntax(ds)}, the fixture has {syntax(ref)}")
    for elem in ref:
        if elem.tag.group == 0x0002:
            continue
        if elem.tag not in ds or ds[elem.tag].value != elem.value:
            sys.exit(f"{p}: {elem.tag} differs from {original}")
    seen.add(uid)
print(len(seen))
EOF

# ---------------------------------------------------------------- storescp
scp_port=$(free_port)
mkdir -p "$work/storescp"
storescp -aet STORESCP +xa -od "$work/storescp" "$scp_port" > "$work/storescp.log" 2>&1 &
pids+=($!)
wait_port "$scp_port" || fail "storescp did not start"
dp nodes add dcmtk --ae STORESCP --host 127.0.0.1 --port "$scp_port" > /dev/null
dp echo dcmtk > /dev/null || fail "echo to storescp"
dp send "$work/fixtures" --to dcmtk > "$work/send-dcmtk.txt" || { cat "$work/send-dcmtk.txt"; fail "send to storescp"; }
compared=$(find "$work/storescp" -type f | EXACT_SYNTAX=1 python3 "$work/compare.py" "$work/fixtures")
[ "$compared" = "$fixture_count" ] || fail "storescp received $compared of $fixture_count fixture instances"
ok "storescp: echo; $compared instances sent, data sets byte-identical (pydicom)"

# A JPEG file whose data set a writer put in implicit VR (pydicom's
# SC_rgb_jpeg.dcm: meta JPEG Baseline, content implicit VR): sent as JPEG
# Baseline, the data set re-encoded explicit VR, the fragments unchanged;
# never labelled implicit VR with compressed pixel data.
broken=$(python3 -c 'from pydicom.data import get_testdata_file; print(get_testdata_file("SC_rgb_jpeg.dcm", download=False) or "")' 2> /dev/null || true)
if [ -n "$broken" ]; then
    dp send "$broken" --to dcmtk --json > "$work/send-broken.json" || { cat "$work/send-broken.json"; fail "send of an implicit VR JPEG file"; }
    python3 - "$broken" "$work/storescp" <<'EOF2' || fail "implicit VR JPEG file: not received as JPEG Baseline with its fragments"
import os, sys, warnings, pydicom
warnings.simplefilter("ignore")   # pydicom notes the source's implicit VR data set
source = pydicom.dcmread(sys.argv[1])
names = [f for f in os.listdir(sys.argv[2]) if f.endswith(str(source.SOPInstanceUID))]
assert len(names) == 1, names
got = pydicom.dcmread(os.path.join(sys.argv[2], names[0]))
assert str(got.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.50", got.file_meta.TransferSyntaxUID
assert got.PixelData == source.PixelData
assert (got.pixel_array == source.pixel_array).all()
EOF2
    grep -q '"converted_from":"1.2.840.10008.1.2"' "$work/send-broken.json" || fail "the re-encoding of the implicit VR JPEG file is not reported"
    ok "storescp: a JPEG file with an implicit VR data set sent as JPEG Baseline (data set re-encoded, fragments and pixels identical), reported"
fi

# A reader that stops early (`| head -1`) is no crash: the next write fails
# with EPIPE (swift-nio ignores SIGPIPE) and the command says so and stops
# with exit 2 (or SIGPIPE ends it), never a trap.
first_file=$(head -1 "$work/dicom-files.txt")
set +o pipefail
dp send "$first_file" --to dcmtk --json 2> "$work/send-pipe.err" | head -1 > /dev/null
status=${PIPESTATUS[0]}
set -o pipefail
{ [ "$status" = 0 ] || [ "$status" = 141 ] || { [ "$status" = 2 ] && grep -q "cannot write to standard output" "$work/send-pipe.err"; }; } \
    && ! grep -q "crashed" "$work/send-pipe.err" \
    || { cat "$work/send-pipe.err"; fail "send --json | head -1: exit $status"; }
ok "storescp: send --json into a reader that stops early ends cleanly (exit $status)"

# ---------------------------------------------------------------- lossless fallback (storescp: uncompressed only)
# storescp without +xa accepts only uncompressed syntaxes. RLE, JPEG-LS,
# JPEG 2000 and JPEG lossless (SV1) fixtures, each from its own uncompressed
# source, are decompressed by discport for it; the received pixels must be
# the sources' exactly, and the report must name each conversion. A lossy
# JPEG baseline image is decompressed too (the peer takes nothing else) and
# must stay marked Lossy Image Compression 01.
if command -v dcmcrle > /dev/null && command -v dcmcjpls > /dev/null && command -v dcmcjpeg > /dev/null \
    && command -v gdcmconv > /dev/null; then
    python3 "$here/make_codec_sources.py" "$work/codec-src" > /dev/null
    mkdir -p "$work/fallback" "$work/fallback-src" "$work/storescp-plain"
    python3 - "$work/codec-src" "$work/fallback-src" <<'EOF'
import sys, pydicom
from pydicom.uid import generate_uid
src, out = sys.argv[1:]
for kind, base in [("rle", "ct16s"), ("jls", "ct16s"), ("j2k", "ct16s"), ("sv1", "ct16s"), ("jpeg8", "grey8")]:
    ds = pydicom.dcmread(f"{src}/{base}.dcm")
    ds.SOPInstanceUID = generate_uid(prefix="2.25.")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(f"{out}/{kind}.dcm", enforce_file_format=True)
EOF
    dcmcrle "$work/fallback-src/rle.dcm" "$work/fallback/rle.dcm"
    dcmcjpls +el "$work/fallback-src/jls.dcm" "$work/fallback/jls.dcm"
    gdcmconv --j2k "$work/fallback-src/j2k.dcm" "$work/fallback/j2k.dcm"
    dcmcjpeg +e1 "$work/fallback-src/sv1.dcm" "$work/fallback/sv1.dcm"
    dcmcjpeg +eb +ud "$work/fallback-src/jpeg8.dcm" "$work/fallback/jpeg8.dcm"
    plain_port=$(free_port)
    storescp -aet PLAIN -od "$work/storescp-plain" "$plain_port" > "$work/storescp-plain.log" 2>&1 &
    pids+=($!)
    wait_port "$plain_port" || fail "storescp (uncompressed only) did not start"
    dp nodes add plain --ae PLAIN --host 127.0.0.1 --port "$plain_port" > /dev/null
    dp send "$work/fallback" --to plain --json > "$work/send-plain.jsonl" || { cat "$work/send-plain.jsonl"; fail "send to storescp (uncompressed only)"; }
    python3 - "$work/fallback" "$work/fallback-src" "$work/storescp-plain" "$work/send-plain.jsonl" <<'EOF' || fail "lossless fallback: $(cat "$work/send-plain.jsonl")"
import json, os, sys, numpy, pydicom
compressed, sources, received, report = sys.argv[1:]
events = {e["sop_instance_uid"]: e for e in map(json.loads, open(report)) if e.get("event") == "instance"}
by_uid = {}
for f in os.listdir(received):
    ds = pydicom.dcmread(os.path.join(received, f))
    by_uid[str(ds.SOPInstanceUID)] = ds
native = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
for kind in ["rle", "jls", "j2k", "sv1", "jpeg8"]:
    original = pydicom.dcmread(f"{compressed}/{kind}.dcm", stop_before_pixels=True)
    uid = str(original.SOPInstanceUID)
    got = by_uid.get(uid)
    assert got is not None, f"{kind}: not received"
    assert str(got.file_meta.TransferSyntaxUID) in native, f"{kind}: received as {got.file_meta.TransferSyntaxUID}"
    e = events[uid]
    assert e["outcome"] == "sent", e
    assert e["converted_from"] == str(original.file_meta.TransferSyntaxUID), e
    assert e["transfer_syntax_uid"] in native, e
    source = pydicom.dcmread(f"{sources}/{kind}.dcm")
    if kind == "jpeg8":
        assert got.LossyImageCompression == "01", f"jpeg8: Lossy Image Compression {got.get('LossyImageCompression')}"
        assert "lossy" in e.get("message", ""), e
        assert got.pixel_array.shape == source.pixel_array.shape
    else:
        assert numpy.array_equal(got.pixel_array, source.pixel_array), f"{kind}: pixels differ from the uncompressed source"
        assert got.get("LossyImageCompression", "00") != "01", f"{kind}: marked lossy"
EOF
    ok "lossless fallback: storescp accepting only uncompressed data received RLE, JPEG-LS, JPEG 2000 and JPEG lossless fixtures decompressed to the sources' exact pixels (pydicom), a lossy JPEG decompressed and still marked 01; each conversion reported"
elif [ "${CI:-}" = "true" ]; then
    fail "dcmcrle, dcmcjpls, dcmcjpeg or gdcmconv missing for the fallback case (make deps installs them)"
fi

# ---------------------------------------------------------------- wlmscpfs (Modality Worklist)
today=$(date +%Y%m%d)
python3 "$here/make_network_fixtures.py" "$work/worklist" --worklist "$today"
wl_port=$(free_port)
wlmscpfs -dfp "$work/worklist" "$wl_port" > "$work/wlmscpfs.log" 2>&1 &
pids+=($!)
wait_port "$wl_port" || fail "wlmscpfs did not start"
dp nodes add wlm --ae WLM --host 127.0.0.1 --port "$wl_port" > /dev/null
dp find wlm --level worklist --date "$today" --modality OT --json > "$work/wl.json" || fail "worklist query"
python3 - "$work/wl.json" <<'EOF' || fail "worklist answers: $(cat "$work/wl.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert sorted(r["00100020"]["Value"][0] for r in rows) == ["JP-0001", "JP-0003"], rows
EOF
dp find wlm --level worklist --name '*山田*' --json > "$work/wl.json" || fail "worklist query by Japanese name"
python3 - "$work/wl.json" <<'EOF' || fail "worklist answer by name: $(cat "$work/wl.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 1 and rows[0]["00100010"]["Value"][0]["Ideographic"] == "山田^太郎", rows
assert rows[0]["00401001"]["Value"][0] == "RP1", rows
EOF
python3 "$here/make_network_fixtures.py" "$work/disc" --disc
DISCPORT_HOME="$work/home-wl" "$bin" nodes add wlm --ae WLM --host 127.0.0.1 --port "$wl_port" > /dev/null
DISCPORT_HOME="$work/home-wl" "$bin" import "$work/disc" --auto --candidates-from wlm --from-worklist --yes --json > "$work/import-wl.jsonl" \
    || { tail -3 "$work/import-wl.jsonl"; fail "import --candidates-from wlm --from-worklist"; }
grep -q '"patient_id":"JP-0001"' "$work/import-wl.jsonl" || { tail -3 "$work/import-wl.jsonl"; fail "the disc was not reconciled to the scheduled patient"; }
ok "wlmscpfs: Modality Worklist C-FIND by date/modality and Japanese name; import reconciled to today's scheduled patient"

# ---------------------------------------------------------------- discport listen
listen_port=$(free_port)
"$bin" listen --ae DISCPORT --port "$listen_port" --bind 127.0.0.1 --json > "$work/listen.jsonl" 2> "$work/listen.err" &
listen_pid=$!
pids+=($listen_pid)
wait_port "$listen_port" || fail "discport listen did not start"
echoscu -aec DISCPORT 127.0.0.1 "$listen_port" || fail "echoscu against discport listen"
if echoscu -aec NOTME 127.0.0.1 "$listen_port" 2> /dev/null; then fail "an unknown called AE was accepted"; fi
grep -q '"event":"rejected"' "$work/listen.jsonl" || fail "no rejection logged"
if findscu -aec DISCPORT -P -k 0008,0052=PATIENT 127.0.0.1 "$listen_port" > /dev/null 2>&1; then
    fail "C-FIND accepted by a storage-only SCP"
fi
xargs storescu -aec DISCPORT -R -xy 127.0.0.1 "$listen_port" < "$work/dicom-files.txt" > "$work/storescu.log" 2>&1 \
    || { cat "$work/storescu.log"; fail "storescu against discport listen"; }
# A-ABORT in the middle of a command: the listener drops it and serves on.
python3 - "$listen_port" <<'EOF'
import socket, struct, sys
def item(t, data): return bytes([t, 0]) + struct.pack(">H", len(data)) + data
ae = lambda s: s.encode().ljust(16)
pc = item(0x20, bytes([1, 0, 0, 0]) + item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2"))
ui = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4"))
body = struct.pack(">HH", 1, 0) + ae("DISCPORT") + ae("RAWTEST") + bytes(32) + item(0x10, b"1.2.840.10008.3.1.1.1") + pc + ui
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(bytes([1, 0]) + struct.pack(">I", len(body)) + body)
header = s.recv(6)
assert header[0] == 2, header
pdv = struct.pack(">I", 6) + bytes([1, 0x01]) + b"\x00\x00\x00\x00"
s.sendall(bytes([4, 0]) + struct.pack(">I", len(pdv)) + pdv)
s.sendall(bytes([7, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
s.close()
EOF
sleep 0.5
grep -q '"calling_ae":"RAWTEST","event":"aborted"' "$work/listen.jsonl" || grep -q '"event":"aborted".*RAWTEST' "$work/listen.jsonl" \
    || { cat "$work/listen.jsonl"; fail "the abort was not noticed"; }
echoscu -aec DISCPORT 127.0.0.1 "$listen_port" || fail "discport listen stopped serving after an abort"
kill -TERM "$listen_pid"
wait "$listen_pid" || fail "discport listen did not stop cleanly on SIGTERM"
stored=$(dp ls instances --json | python3 -c 'import json, os, sys; [print(os.path.join(os.environ["DISCPORT_HOME"], r["stored_path"])) for r in json.load(sys.stdin)]' \
    | python3 "$work/compare.py" "$work/fixtures")
[ "$stored" = "$fixture_count" ] || fail "discport listen stored $stored of $fixture_count instances"
ok "discport listen: echoscu; storescu of $stored instances into the store, data sets byte-identical; unknown AE rejected; C-FIND refused; abort survived"

# ---------------------------------------------------------------- Orthanc
dicom_port=$(free_port)
http_port=$(free_port)
move_port=$(free_port)
mkdir -p "$work/orthanc"
plugins="[]"
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] && plugins='["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"]'
cat > "$work/orthanc.json" <<EOF
{
  "Name": "discport-network-test",
  "StorageDirectory": "$work/orthanc",
  "IndexDirectory": "$work/orthanc",
  "DicomAet": "ORTHANC",
  "DicomPort": $dicom_port,
  "HttpPort": $http_port,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomCheckCalledAet": true,
  "DicomAlwaysAllowEcho": true,
  "DicomAlwaysAllowStore": true,
  "DicomAlwaysAllowFind": true,
  "DefaultEncoding": "Utf8",
  "DicomModalities": { "discport": [ "DISCPORT", "127.0.0.1", $move_port ] },
  "StorageCompression": false,
  "Plugins": $plugins
}
EOF
orthanc_pid=""
start_orthanc() {
    Orthanc "$work/orthanc.json" > "$work/orthanc.log" 2>&1 &
    orthanc_pid=$!
    pids+=($orthanc_pid)
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$http_port/system" > /dev/null 2>&1 && wait_port "$dicom_port" && return 0
        sleep 0.1
    done
    tail -20 "$work/orthanc.log" >&2
    fail "Orthanc did not start"
}
rest() { curl -sf "http://127.0.0.1:$http_port$1"; }
# Every fixture back from Orthanc through its REST API, by SOP Instance UID,
# into $work/from-orthanc (emptied first); fails unless Orthanc has exactly one.
fetch_fixtures() {
    rm -rf "$work/from-orthanc"; mkdir -p "$work/from-orthanc"
    python3 - "$http_port" "$work/fixtures" "$work/from-orthanc" <<'EOF'
import json, os, sys, urllib.request, pydicom
port, fixtures, out = sys.argv[1:]
for root, _, files in os.walk(fixtures):
    for f in files:
        try:
            uid = str(pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True, force=True).SOPInstanceUID)
        except Exception:
            continue
        found = json.load(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/tools/lookup", data=uid.encode(), method="POST")))
        ids = [x["ID"] for x in found if x["Type"] == "Instance"]
        if len(ids) != 1:
            sys.exit(f"Orthanc has {len(ids)} instances for {uid}")
        data = urllib.request.urlopen(f"http://127.0.0.1:{port}/instances/{ids[0]}/file").read()
        open(os.path.join(out, uid), "wb").write(data)
EOF
}
start_orthanc
dp nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
dp nodes add wrong-ae --ae NOT-ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
dp echo orthanc > /dev/null || fail "echo to Orthanc"
if dp echo wrong-ae 2> "$work/rejected.txt"; then fail "Orthanc accepted an unknown called AE"; fi
grep -q "called AE title not recognized" "$work/rejected.txt" || fail "rejection not reported: $(cat "$work/rejected.txt")"
dp send "$work/fixtures" --to orthanc > "$work/send-orthanc.txt" || { cat "$work/send-orthanc.txt"; fail "send to Orthanc"; }
# Every fixture back through the REST API.
fetch_fixtures || fail "fetching the fixtures back from Orthanc"
compared=$(find "$work/from-orthanc" -type f | EXACT_SYNTAX=1 python3 "$work/compare.py" "$work/fixtures")
[ "$compared" = "$fixture_count" ] || fail "Orthanc returned $compared of $fixture_count instances"
ok "Orthanc: echo; unknown called AE rejected; $compared instances stored, each fetched by REST with a byte-identical data set"

# C-FIND, patient / study / series level, Japanese keys in both character sets.
find_json() { dp find orthanc "$@" --json; }
check_find() {   # EXPECTED-COUNT PYTHON-CONDITION ARGS...
    local expected=$1 condition=$2; shift 2
    find_json "$@" > "$work/find.json" || fail "find $*"
    python3 - "$work/find.json" "$expected" "$condition" <<'EOF' || fail "find $*: $(cat "$work/find.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
def value(row, tag):
    v = row.get(tag, {}).get("Value", [None])[0]
    return v
assert len(rows) == int(sys.argv[2]), f"{len(rows)} rows"
for row in rows:
    assert eval(sys.argv[3]), row
EOF
}
check_find 1 'value(row, "00100020") == "JP-0001" and value(row, "00100010")["Ideographic"] == "山田^太郎"' \
    --level patient --name '*山田*' --charset 'ISO 2022 IR 87'
check_find 1 'value(row, "00100020") == "JP-0002" and value(row, "00100010")["Phonetic"] == "さとう^はなこ"' \
    --level patient --name '*佐藤*'
check_find 1 'value(row, "0020000D") == "2.25.99887766554433.1.11" and value(row, "00081030") == "胸部"' \
    --level study --name '*やまだ*' --charset 'ISO 2022 IR 87'
check_find 2 'value(row, "0008103E").startswith("シリーズ")' --level series --study 2.25.99887766554433.1.11
check_find 1 'value(row, "00100020") == "JP-0002" and value(row, "00100010")["Alphabetic"] == "Sato^Hanako"' \
    --level study --name '*はなこ*' --model study-root
ok "Orthanc C-FIND: patient, study and series level; names in ISO 2022 IR 87 and ISO_IR 192"

# Retrieve a study back: C-GET on the same association, and C-MOVE to
# discport's own SCP; each into an empty store, compared with the fixtures.
for how in get move; do
    home="$work/home-$how"
    DISCPORT_HOME="$home" "$bin" nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
    extra=()
    [ "$how" = move ] && extra=(--move --ae DISCPORT --port "$move_port" --bind 127.0.0.1)
    DISCPORT_HOME="$home" "$bin" get orthanc --study 2.25.99887766554433.1.21 "${extra[@]}" > "$work/get.txt" 2>&1 \
        || { cat "$work/get.txt"; fail "get --study ($how)"; }
    retrieved=$(DISCPORT_HOME="$home" "$bin" ls instances --json | HOME_DIR="$home" python3 -c \
        'import json, os, sys; [print(os.path.join(os.environ["HOME_DIR"], r["stored_path"])) for r in json.load(sys.stdin)]' \
        | python3 "$work/compare.py" "$work/fixtures")
    [ "$retrieved" = 9 ] || fail "$how retrieved $retrieved of the 9 instances of the study"
done
ok "Orthanc C-GET and C-MOVE (to discport's SCP) of a study: 9 instances each, data sets equal to the fixtures"

# C-GET negotiates the storage classes the study holds (C-FIND at IMAGE
# level: Secondary Capture and CT here), and an instance of a class left out
# (--sop-class names only Secondary Capture) is reported, not lost silently.
home="$work/home-getclasses"
DISCPORT_HOME="$home" "$bin" nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
DISCPORT_HOME="$home" "$bin" get orthanc --study 2.25.99887766554433.1.21 --json > "$work/get-classes.json" \
    || { cat "$work/get-classes.json"; fail "get with the classes of the study"; }
python3 - "$work/get-classes.json" <<'PY' || fail "C-GET did not propose the study's own classes: $(cat "$work/get-classes.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["storage_classes"] == 2 and r["completed"] == 9 and r["failed"] == 0, r
PY
home="$work/home-getmissing"
DISCPORT_HOME="$home" "$bin" nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
if DISCPORT_HOME="$home" "$bin" get orthanc --study 2.25.99887766554433.1.21 --sop-class 1.2.840.10008.5.1.4.1.1.7 --json > "$work/get-missing.json"; then
    fail "a C-GET missing a class of the study reported success"
fi
python3 - "$work/get-missing.json" <<'PY' || fail "the class not negotiated was not reported: $(cat "$work/get-missing.json")"
import json, sys
r = json.load(open(sys.argv[1]))
# Orthanc gives up the C-GET at the instance it cannot send (0xC000), so
# some Secondary Capture instances may remain unsent too.
assert r["storage_classes"] == 1 and r["completed"] < 9 and r["failed"] >= 1, r
assert any("CT Image Storage" in e and "not negotiated" in e for e in r["errors"]), r["errors"]
PY
ok "C-GET: the study's 2 storage classes negotiated from a C-FIND at IMAGE level; with --sop-class leaving CT out, its instance reported as not received, the class named"

# Referral media straight from the PACS: export --from retrieves, then writes and verifies.
home="$work/home-export"
DISCPORT_HOME="$home" "$bin" nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
DISCPORT_HOME="$home" "$bin" export --from orthanc --study 2.25.99887766554433.1.21 --format zip --media usb \
    --out "$work/from-pacs.zip" --allow-multi-patient > "$work/export.txt" 2>&1 || { cat "$work/export.txt"; fail "export --from orthanc"; }
"$bin" verify "$work/from-pacs.zip" > /dev/null || fail "verify rejects the media exported from the PACS"
count=$(python3 -c 'import sys, zipfile; print(sum(1 for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith("DICOM/") and not n.endswith("/")))' "$work/from-pacs.zip")
[ "$count" = 9 ] || fail "export --from orthanc wrote $count of the 9 instances of the study"
ok "export --from orthanc: the study retrieved by C-GET and written as verified referral media"

# Reconciliation with candidates from the PACS: C-FIND (patient root) finds
# JP-0001 for a disc of the same person under another hospital's ID.
dp import "$work/disc" --auto --candidates-from orthanc --send orthanc --yes --json > "$work/import.jsonl" \
    || { tail -3 "$work/import.jsonl"; fail "import --auto --candidates-from orthanc --send orthanc"; }
# --send: the reconciled instance is in the PACS under the local ID.
python3 - "$http_port" <<'EOF' || fail "import --send did not store the reconciled instance in Orthanc"
import json, sys, urllib.request
port = sys.argv[1]
found = json.load(urllib.request.urlopen(urllib.request.Request(
    f"http://127.0.0.1:{port}/tools/lookup", data=b"2.25.99887766554433.3.9111", method="POST")))
ids = [x["ID"] for x in found if x["Type"] == "Instance"]
tags = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/instances/{ids[0]}/simplified-tags"))
assert tags["PatientID"] == "JP-0001", tags["PatientID"]
EOF
dp ls instances --json | python3 -c '
import json, os, sys, pydicom
rows = [r for r in json.load(sys.stdin) if r["sop_instance_uid"] == "2.25.99887766554433.3.9111"]
assert len(rows) == 1, rows
ds = pydicom.dcmread(os.path.join(os.environ["DISCPORT_HOME"], rows[0]["stored_path"]))
assert ds.PatientID == "JP-0001", ds.PatientID
assert ds.OtherPatientIDsSequence[0].PatientID == "X-998877"
' || fail "the disc was not reconciled to the PACS patient JP-0001"
ok "import --auto --candidates-from orthanc --send orthanc: reconciled to JP-0001 by C-FIND, then stored in the PACS"

# import --send --no-store: the coerced instances go to Orthanc only; the
# local store gets no instance file, the outbox is emptied, and a re-run of
# the same disc sends nothing new.
python3 "$here/make_import_tree.py" "$work/nostore-disc" 30 --patients 1 > /dev/null
python3 - "$work/nostore-disc" > "$work/nostore-uids.txt" <<'EOF'
import os, sys, pydicom
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        try:
            print(pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True, force=True).SOPInstanceUID)
        except Exception:
            pass
EOF
nostore_count=$(sort -u "$work/nostore-uids.txt" | wc -l)
home="$work/home-nostore"
DISCPORT_HOME="$home" "$bin" nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
count_instances() { rest /statistics | python3 -c 'import json, sys; print(json.load(sys.stdin)["CountInstances"])'; }
before=$(count_instances)
DISCPORT_HOME="$home" "$bin" import "$work/nostore-disc" --patient-id NOSTORE-1 --send orthanc --no-store --yes --json > "$work/nostore1.jsonl" \
    || { tail -3 "$work/nostore1.jsonl"; fail "import --send orthanc --no-store"; }
after=$(count_instances)
[ "$after" = $((before + nostore_count)) ] || fail "import --no-store: Orthanc has $((after - before)) new of $nostore_count instances"
python3 - "$http_port" "$work/nostore-uids.txt" "$work/nostore1.jsonl" <<'EOF' || fail "import --no-store: Orthanc's instances or the report"
import json, sys, urllib.request
port, uids, report = sys.argv[1:]
uids = set(open(uids).read().split())
for uid in uids:
    found = json.load(urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{port}/tools/lookup", data=uid.encode(), method="POST")))
    ids = [x["ID"] for x in found if x["Type"] == "Instance"]
    assert len(ids) == 1, (uid, ids)
    tags = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/instances/{ids[0]}/simplified-tags"))
    assert tags["PatientID"] == "NOSTORE-1", (uid, tags["PatientID"])
events = [json.loads(l) for l in open(report)]
sent = [e for e in events if e.get("event") == "send"]
assert len(sent) == len(uids) and all(e["outcome"] == "sent" for e in sent), sent[:3]
instances = [e for e in events if e.get("event") == "instance"]
assert len(instances) == len(uids) and all(e["outcome"] == "outgoing" for e in instances), instances[:3]
EOF
[ "$(DISCPORT_HOME="$home" "$bin" ls instances --json | tr -d '[:space:]')" = "[]" ] || fail "import --no-store filed instances in the local store"
[ -z "$(find "$home/instances" "$home/outbox" -type f 2> /dev/null)" ] || fail "import --no-store left files: $(find "$home/instances" "$home/outbox" -type f | head -3)"
DISCPORT_HOME="$home" "$bin" import "$work/nostore-disc" --patient-id NOSTORE-1 --send orthanc --no-store --yes --json > "$work/nostore2.jsonl" \
    || { tail -3 "$work/nostore2.jsonl"; fail "import --no-store again"; }
python3 - "$work/nostore2.jsonl" "$nostore_count" <<'EOF' || fail "the re-run of import --no-store sent something again"
import json, sys
finish = [json.loads(l) for l in open(sys.argv[1]) if '"event":"finish"' in l][-1]
assert finish["send"]["sent"] == 0 and finish["send"]["already_sent"] == int(sys.argv[2]), finish["send"]
EOF
[ "$(count_instances)" = "$after" ] || fail "the re-run changed Orthanc's count"
[ -z "$(find "$home/instances" "$home/outbox" -type f 2> /dev/null)" ] || fail "the re-run left files in the store or the outbox"
ok "import --send orthanc --no-store: $nostore_count coerced instances (Patient ID NOSTORE-1 via REST) in Orthanc only, no instance file kept locally; a re-run sends nothing"

# kill -9 in the middle of `import --send --no-store`, then the same command
# again: Orthanc ends with every instance exactly once (no copy lost, none
# duplicated), the store and the outbox end empty.
python3 "$here/make_import_tree.py" "$work/nostore-big" 400 --pixels 65536 > /dev/null
kill_count=$(python3 -c 'import os, sys, pydicom
n = set()
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        try: n.add(str(pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True, force=True).SOPInstanceUID))
        except Exception: pass
print(len(n))' "$work/nostore-big")
home="$work/home-nostore-kill"
DISCPORT_HOME="$home" "$bin" nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
before=$(count_instances)
DISCPORT_HOME="$home" "$bin" import "$work/nostore-big" --patient-id NOSTORE-2 --send orthanc --no-store --yes --json > "$work/nostore-kill1.jsonl" 2>&1 &
import_pid=$!
for _ in $(seq 1200); do
    [ "$(count_instances)" -ge $((before + 40)) ] && break
    sleep 0.05
done
kill -9 "$import_pid" 2> /dev/null || true
wait "$import_pid" 2> /dev/null || true
killed_at=$(( $(count_instances) - before ))
[ "$killed_at" -lt "$kill_count" ] || echo "network: note: the import had sent everything before the kill"
DISCPORT_HOME="$home" "$bin" import "$work/nostore-big" --patient-id NOSTORE-2 --send orthanc --no-store --yes --json > "$work/nostore-kill2.jsonl" \
    || { tail -3 "$work/nostore-kill2.jsonl"; fail "import --no-store after kill -9"; }
[ "$(count_instances)" = $((before + kill_count)) ] || fail "after kill -9 and a re-run Orthanc has $(( $(count_instances) - before )) of $kill_count instances"
python3 - "$work/nostore-kill2.jsonl" "$kill_count" <<'PY' || fail "the re-run after kill -9 did not account for every instance"
import json, sys
finish = [json.loads(l) for l in open(sys.argv[1]) if '"event":"finish"' in l][-1]
send = finish["send"]
assert send["sent"] + send["already_sent"] == int(sys.argv[2]) and send["failed"] == 0 and send["pending"] == 0, send
PY
[ "$(DISCPORT_HOME="$home" "$bin" ls instances --json | tr -d '[:space:]')" = "[]" ] || fail "import --no-store after kill -9 filed instances locally"
[ -z "$(find "$home/instances" "$home/outbox" -type f 2> /dev/null)" ] || fail "files left after the re-run: $(find "$home/instances" "$home/outbox" -type f | head -3)"
ok "import --send --no-store killed (-9) with $killed_at of $kill_count instances in Orthanc: the re-run sent the rest, Orthanc has each once, store and outbox empty"

# The peer dies in the middle of a send; the retry queue finishes the job.
python3 "$here/make_import_tree.py" "$work/big" 400 --patients 4 > /dev/null
big_count=$(find "$work/big" -type f -not -name README.TXT -not -name AUTORUN.INF | wc -l)
before=$(rest /statistics | python3 -c 'import json, sys; print(json.load(sys.stdin)["CountInstances"])')
"$bin" send "$work/big" --to orthanc --parallel 2 --json > "$work/send1.jsonl" 2> /dev/null &
send_pid=$!
for _ in $(seq 600); do
    now=$(rest /statistics | python3 -c 'import json, sys; print(json.load(sys.stdin)["CountInstances"])' 2> /dev/null || echo 0)
    [ "$now" -ge $((before + 40)) ] && break
    sleep 0.05
done
kill -9 "$orthanc_pid"
if wait "$send_pid"; then fail "send reported success although Orthanc died"; fi
python3 - "$work/send1.jsonl" <<'EOF' || fail "the interrupted send did not leave instances pending"
import json, sys
finish = [json.loads(l) for l in open(sys.argv[1]) if '"finish"' in l][-1]
assert finish["sent"] > 0 and finish["failed"] > 0 and finish["pending"] == finish["failed"], finish
EOF
start_orthanc
dp send --to orthanc --json > "$work/send2.jsonl" || { tail -3 "$work/send2.jsonl"; fail "the resumed send failed"; }
after=$(rest /statistics | python3 -c 'import json, sys; print(json.load(sys.stdin)["CountInstances"])')
[ "$after" = $((before + big_count)) ] || fail "Orthanc has $((after - before)) of $big_count instances after the resumed send"
python3 - "$work/send1.jsonl" "$work/send2.jsonl" "$big_count" <<'EOF' || fail "an acknowledged instance was sent again, or one was lost"
import json, sys
def sent(path):
    return {e["sop_instance_uid"] for e in map(json.loads, open(path)) if e.get("event") == "instance" and e.get("outcome") == "sent"}
first, second = sent(sys.argv[1]), sent(sys.argv[2])
assert not (first & second), first & second
assert len(first | second) == int(sys.argv[3]), (len(first), len(second))
EOF
dp send "$work/big" --to orthanc --json > "$work/send3.jsonl" || fail "a third send failed"
python3 - "$work/send3.jsonl" "$big_count" <<'EOF' || fail "a complete send was repeated"
import json, sys
finish = [json.loads(l) for l in open(sys.argv[1]) if '"finish"' in l][-1]
assert finish["sent"] == 0 and finish["already_sent"] == int(sys.argv[2]), finish
EOF
ok "Orthanc killed during send --parallel 2: resumed by the next send, $big_count instances, none lost or re-sent"

# DICOMweb against the same Orthanc's plugin: the fixture patients are
# deleted, stored again with STOW-RS (byte-identical through the REST API),
# searched with QIDO-RS and read back into an empty store with WADO-RS.
if [ "$plugins" != "[]" ]; then
    python3 - "$http_port" <<'EOF'
import json, sys, urllib.request
port = sys.argv[1]
for pid in ("JP-0001", "JP-0002"):
    found = json.load(urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/tools/find",
        data=json.dumps({"Level": "Patient", "Query": {"PatientID": pid}}).encode(), method="POST")))
    for orthanc_id in found:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/patients/{orthanc_id}", method="DELETE"))
EOF
    dp nodes add web --url "http://127.0.0.1:$http_port/dicom-web" > /dev/null
    dp echo web > /dev/null || fail "DICOMweb echo (QIDO-RS)"
    # From the store this time, by Patient ID: the 15 fixtures received by
    # `listen` and the reconciled disc instance.
    dp send JP-0001 JP-0002 --to web > "$work/stow.txt" || { cat "$work/stow.txt"; fail "send by STOW-RS"; }
    grep -q "^web: $((fixture_count + 1)) sent" "$work/stow.txt" || fail "STOW-RS: $(cat "$work/stow.txt")"
    fetch_fixtures || fail "fetching the STOW-RS instances back from Orthanc"
    compared=$(find "$work/from-orthanc" -type f | python3 "$work/compare.py" "$work/fixtures")
    [ "$compared" = "$fixture_count" ] || fail "STOW-RS stored $compared of $fixture_count"
    check_web() {   # EXPECTED-COUNT CONDITION ARGS...
        local expected=$1 condition=$2; shift 2
        dp find web "$@" --json > "$work/qido.json" || fail "QIDO-RS find $*"
        python3 - "$work/qido.json" "$expected" "$condition" <<'EOF' || fail "QIDO-RS $*: $(head -c 400 "$work/qido.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
value = lambda row, tag: row.get(tag, {}).get("Value", [None])[0]
assert len(rows) == int(sys.argv[2]), len(rows)
for row in rows:
    assert eval(sys.argv[3]), row
EOF
    }
    check_web 2 'value(row, "00100010")["Ideographic"] == "山田^太郎" and value(row, "00100020") == "JP-0001"' --level study --name '*TAROU*'
    check_web 4 'value(row, "0008103E").startswith("シリーズ")' --level series --study 2.25.99887766554433.1.21
    DISCPORT_HOME="$work/home-wado" "$bin" nodes add web --url "http://127.0.0.1:$http_port/dicom-web" > /dev/null
    DISCPORT_HOME="$work/home-wado" "$bin" get web --patient-id JP-0002 > "$work/wado.txt" || { cat "$work/wado.txt"; fail "WADO-RS"; }
    retrieved=$(DISCPORT_HOME="$work/home-wado" "$bin" ls instances --json | HOME_DIR="$work/home-wado" python3 -c \
        'import json, os, sys; [print(os.path.join(os.environ["HOME_DIR"], r["stored_path"])) for r in json.load(sys.stdin)]' \
        | python3 "$work/compare.py" "$work/fixtures")
    [ "$retrieved" = 9 ] || fail "WADO-RS retrieved $retrieved of the 9 instances of JP-0002"
    ok "DICOMweb: STOW-RS of two patients from the store, $fixture_count fixtures byte-identical via REST, QIDO-RS at study and series level with Japanese names, WADO-RS of a patient's study into the store"
elif [ "${CI:-}" = "true" ]; then
    fail "the Orthanc DICOMweb plugin is missing (make deps installs orthanc-dicomweb)"
fi

echo "network: all checks passed"
