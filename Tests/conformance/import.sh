#!/usr/bin/env bash
# Acceptance of `discport import` (issue 4), judged by tools discport did not write:
#   1. kill -9 the import at random moments, again and again; a final run
#      finishes the job: `store check` finds nothing wrong, the instance count
#      is exact, no conflict was invented;
#   2. every stored file passes dcmdump; its pixel data element is
#      byte-identical to the source's (pydicom); the coerced identity and
#      Original Attributes Sequence are there; dciodvfy finds no error in a
#      stored file that it does not find in the source;
#   3. a re-import skips everything.
#
# usage: bash Tests/conformance/import.sh path/to/discport
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(cd "$(dirname "${1:?usage: import.sh path/to/discport}")" && pwd)/$(basename "$1")"
files=${IMPORT_TEST_FILES:-1500}
kills=${IMPORT_TEST_KILLS:-8}

missing=""
command -v dcmdump > /dev/null || missing="$missing dcmdump(dcmtk)"
command -v dciodvfy > /dev/null || missing="$missing dciodvfy(dicom3tools)"
python3 -c 'import pydicom' 2> /dev/null || missing="$missing pydicom"
if [ -n "$missing" ]; then
    if [ "${CI:-}" = "true" ]; then echo "import: FAILED: missing$missing (make deps installs them)" >&2; exit 1; fi
    echo "import: skipped: missing$missing (make deps installs them)"; exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
disc="$work/disc"
home="$work/home"
python3 "$here/make_import_tree.py" "$disc" "$files" --patients 1
chmod -R a-w "$disc"     # source media are read-only

fail() { echo "import: FAILED: $*" >&2; exit 1; }

# 1. kill -9 at random points: once a run has reported a random number of
# instances (the first run at once, while it scans), not after a random
# time, which a fast machine outruns (the whole import done before the kill).
RANDOM=42
points=""
for i in $(seq "$kills"); do
    target=$(( i == 1 ? 0 : RANDOM % files ))
    : > "$work/run-$i.jsonl"    # there before the loop below reads it
    "$bin" import "$disc" --patient-id LOCAL-1 --issuer CLINIC --yes --json --home "$home" >> "$work/run-$i.jsonl" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2> /dev/null; do
        [ "$(grep -c '"event":"instance"' "$work/run-$i.jsonl" || true)" -ge "$target" ] && break
        sleep 0.005
    done
    kill -9 "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    points="$points $(grep -c '"event":"instance"' "$work/run-$i.jsonl" || true)"
done
echo "import: killed $kills runs after these numbers of instance events:$points"
"$bin" import "$disc" --patient-id LOCAL-1 --issuer CLINIC --yes --json --home "$home" > "$work/final.jsonl" \
    || fail "the final import exited $? ($(tail -c 600 "$work/final.jsonl"))"
"$bin" store check --home "$home" > "$work/check.txt" || fail "store check: $(cat "$work/check.txt")"

python3 - "$work/final.jsonl" "$files" <<'EOF' || fail "final run"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
finish = [e for e in events if e["event"] == "finish"][-1]
c = finish["counts"]
expected = int(sys.argv[2])
handled = c["stored"] + c["adopted"] + c["duplicates"]
assert handled == expected, f"final run handled {handled} of {expected}: {c}"
assert c["conflicts"] == 0 and c["failed"] == 0, f"conflicts or failures after kills: {c}"
print(f"import: after the kills, the final run stored {c['stored']}, adopted {c['adopted']}, found {c['duplicates']} already stored")
EOF

"$bin" ls instances --json --home "$home" > "$work/instances.json"
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/instances.json")
[ "$count" = "$files" ] || fail "the store holds $count instances, expected $files"

# 2. the judges.
bad=0
while IFS= read -r path; do
    dcmdump -q "$path" > /dev/null 2> "$work/dcmdump.err" || { echo "dcmdump rejects $path: $(head -3 "$work/dcmdump.err")" >&2; bad=$((bad + 1)); }
    [ -s "$work/dcmdump.err" ] && { echo "dcmdump warns on $path: $(head -3 "$work/dcmdump.err")" >&2; bad=$((bad + 1)); }
done < <(python3 -c 'import json,sys; [print(r["path"]) for r in json.load(open(sys.argv[1]))]' "$work/instances.json")
[ "$bad" = 0 ] || fail "$bad stored file(s) rejected by dcmdump"

python3 - "$work/instances.json" "$disc" <<'EOF' || fail "pixel data or identity"
import json, os, sys
import pydicom
rows = json.load(open(sys.argv[1]))
disc = sys.argv[2]
for row in rows:
    stored = pydicom.dcmread(row["path"])
    source = pydicom.dcmread(os.path.join(disc, row["original_path"]), force=True)
    assert stored["PixelData"].value == source["PixelData"].value, f"pixel data differs: {row['path']}"
    assert stored.PatientID == "LOCAL-1" and stored.IssuerOfPatientID == "CLINIC", row["path"]
    original = stored.OriginalAttributesSequence[-1]
    assert original.ReasonForTheAttributeModification == "COERCE"
    assert original.ModifiedAttributesSequence[0].PatientID == source.PatientID
    assert any(item.PatientID == source.PatientID for item in stored.OtherPatientIDsSequence)
    for element in source:
        if element.tag in (0x00100020, 0x00100021) or element.tag.group == 0x0002:
            continue
        assert stored[element.tag].value == element.value, f"{element.tag} changed in {row['path']}"
print(f"import: {len(rows)} stored files: pixel data byte-identical, identity coerced, originals kept (pydicom)")
EOF

# dciodvfy: coercion must not add errors (the generated sources have their own).
added=0
for row in $(python3 -c 'import json,sys; [print(r["path"] + "|" + r["original_path"]) for r in json.load(open(sys.argv[1]))[:12]]' "$work/instances.json"); do
    stored=${row%%|*}; original="$disc/${row#*|}"
    dciodvfy "$original" 2>&1 | grep '^Error' | sort -u > "$work/src.err" || true
    dciodvfy "$stored" 2>&1 | grep '^Error' | sort -u > "$work/dst.err" || true
    new=$(comm -13 "$work/src.err" "$work/dst.err")
    if [ -n "$new" ]; then echo "dciodvfy: new errors in $stored: $new" >&2; added=$((added + 1)); fi
done
[ "$added" = 0 ] || fail "coercion added dciodvfy errors"
echo "import: dciodvfy finds no error the coercion added (12 files)"

# 3. again: nothing to do.
"$bin" import "$disc" --patient-id LOCAL-1 --issuer CLINIC --yes --json --home "$home" > "$work/again.jsonl" || fail "re-import exited $?"
python3 - "$work/again.jsonl" "$files" <<'EOF' || fail "re-import"
import json, sys
finish = [json.loads(l) for l in open(sys.argv[1]) if '"finish"' in l][-1]
c = finish["counts"]
assert c["duplicates"] == int(sys.argv[2]) and c["stored"] == 0 and c["adopted"] == 0, c
print("import: re-import skipped all", c["duplicates"])
EOF
chmod -R u+w "$disc"

# 4. A disc of documents only (a referral letter, a photo): nothing imported
# without --convert (exit 1, saying how); an unknown local patient refused
# (exit 2); for a known one, DICOM objects of a new study that dciodvfy
# finds no error in.
docs="$work/docs"
mkdir -p "$docs/photos"
printf '%%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%%%EOF\n' > "$docs/LETTER.PDF"
python3 -c "from PIL import Image; Image.new('RGB', (32, 24), (200, 40, 40)).save('$docs/photos/IMG_0001.JPG', quality=90)"
set +e
"$bin" import "$docs" --yes --json --home "$home" > "$work/docs1.jsonl"; status=$?
set -e
[ "$status" = 1 ] || fail "a documents-only disc without --convert exited $status, not 1"
grep -q -- "--convert --patient-id LOCAL" "$work/docs1.jsonl" || fail "no hint to --convert --patient-id"
set +e
"$bin" import "$docs" --convert --patient-id NOBODY-9 --yes --json --home "$home" > /dev/null 2> "$work/docs2.err"; status=$?
set -e
[ "$status" = 2 ] && grep -q "NOBODY-9" "$work/docs2.err" || fail "an unknown local patient for documents: exit $status"
"$bin" import "$docs" --convert --patient-id LOCAL-1 --yes --json --home "$home" > "$work/docs3.jsonl" || fail "documents import exited $?"
python3 - "$work/docs3.jsonl" <<'EOF' > "$work/docs.paths" || fail "documents import"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
finish = [e for e in events if e["event"] == "finish"][-1]
assert finish["converted"] == 2 and finish["counts"]["stored"] == 2, finish
assert [p["patient_id"] for p in finish["patients"]] == ["LOCAL-1"], finish["patients"]
for e in events:
    if e["event"] == "instance": print(e["stored_path"])
EOF
while read -r f; do
    dcmdump -q "$f" | grep "LOCAL-1" > /dev/null || fail "$f is not filed under LOCAL-1"
    if dciodvfy "$f" 2>&1 | grep '^Error' > /dev/null; then dciodvfy "$f" 2>&1 | grep '^Error' >&2; fail "dciodvfy errors in $f"; fi
done < "$work/docs.paths"
echo "import: a documents-only disc: refused without --convert, converted for a known patient (2 objects, dciodvfy clean)"
# Standard output that cannot be written (a full disk): said, exit 2, never a crash.
for args in "ls patients" "ls instances --json" "show LOCAL-1"; do
    set +e
    # shellcheck disable=SC2086
    "$bin" $args --home "$home" > /dev/full 2> "$work/full.err"; status=$?
    set -e
    [ "$status" = 2 ] && grep -q "cannot write to standard output" "$work/full.err" || { cat "$work/full.err" >&2; fail "$args > /dev/full: exit $status"; }
done
set +e
"$bin" dump "$(head -1 "$work/docs.paths")" > /dev/full 2> "$work/full.err"; status=$?
set -e
[ "$status" = 2 ] && grep -q "cannot write to standard output" "$work/full.err" || fail "dump > /dev/full: exit $status"
echo "import: standard output on a full disk: ls, show, dump say so and exit 2"
echo "import: passed"
