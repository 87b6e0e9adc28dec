#!/usr/bin/env bash
# Acceptance of `discport migrate` (issue 10):
#   - a generated legacy tree of DICOM, JPEG, PNG and PDF files with a
#     manifest holding bad rows: the pre-flight catches every bad row;
#   - the run imports exactly the good ones;
#   - kill -9 at random moments and resume: the same end state as an
#     uninterrupted run (same SOP Instance UIDs, same counts);
#   - outputs pass dciodvfy (converted objects: zero errors).
#
# usage: bash Tests/conformance/migrate.sh path/to/discport
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(cd "$(dirname "${1:?usage: migrate.sh path/to/discport}")" && pwd)/$(basename "$1")"
missing=""
command -v dciodvfy > /dev/null || missing="$missing dciodvfy(dicom3tools)"
python3 -c 'import pydicom, PIL' 2> /dev/null || missing="$missing pydicom/Pillow"
if [ -n "$missing" ]; then
    if [ "${CI:-}" = "true" ]; then echo "migrate: FAILED: missing$missing (make deps installs them)" >&2; exit 1; fi
    echo "migrate: skipped: missing$missing"; exit 0
fi
work=${MIGRATE_TEST_DIR:-$(mktemp -d)}
[ -n "${MIGRATE_TEST_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
fail() { echo "migrate: FAILED: $*" >&2; exit 1; }
rows=${MIGRATE_TEST_ROWS:-400}

# The legacy tree and its manifest: good rows of 4 kinds over 20 patients, then bad rows.
python3 "$here/make_legacy_tree.py" "$work" "$rows"
read -r good bad < "$work/expected"

# Pre-flight: every bad row found, nothing written.
set +e
"$bin" migrate --manifest "$work/manifest.csv" --root "$work/legacy" --home "$work/dry" --dry-run --json > "$work/dry.jsonl"
status=$?
set -e
[ "$status" = 1 ] || fail "a dry run with bad rows must exit 1, got $status"
python3 - "$work/dry.jsonl" "$good" "$bad" <<'EOF' || fail "pre-flight"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
pre = [e for e in events if e["event"] == "preflight"][0]
assert pre["good"] == int(sys.argv[2]) and pre["invalid"] == int(sys.argv[3]), pre
fin = [e for e in events if e["event"] == "finish"][0]
assert fin["planned"] == int(sys.argv[2]) and fin["stored"] == 0, fin
# Every refused row is an event with its reason: a script learns which rows and why.
invalid = [e for e in events if e["event"] == "row" and e["status"] == "invalid"]
assert len(invalid) == pre["invalid"] and all(e.get("message") for e in invalid), invalid[:3]
print(f"migrate: pre-flight found all {pre['invalid']} bad rows; {pre['good']} good")
EOF

# An uninterrupted run, for reference.
set +e
"$bin" migrate --manifest "$work/manifest.csv" --root "$work/legacy" --home "$work/ref" --job J --report "$work/ref.csv" --json > /dev/null
set -e
"$bin" ls instances --json --home "$work/ref" > "$work/ref.json"

# kill -9 in the middle of runs, then finish. A run is killed once it has
# reported a random number of stored rows (the first one at once, in its
# pre-flight), not after a random time: a fast machine would finish the
# whole job before the first kill and no run would be interrupted at all.
RANDOM=11
points=""
for i in $(seq 6); do
    target=$(( i == 1 ? 0 : RANDOM % (good / 8 + 1) + 1 ))
    "$bin" migrate --manifest "$work/manifest.csv" --root "$work/legacy" --home "$work/killed" --job J --json > "$work/k$i.jsonl" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2> /dev/null; do
        [ "$(grep -c '"status":"stored"' "$work/k$i.jsonl" || true)" -ge "$target" ] && break
        sleep 0.005
    done
    kill -9 "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    points="$points $(grep -c '"status":"stored"' "$work/k$i.jsonl" || true)"
    grep -q '"event":"finish"' "$work/k$i.jsonl" && fail "run $i finished before it was killed (after$points stored rows)"
done
echo "migrate: killed 6 runs after these numbers of stored rows:$points (of $good)"
set +e
"$bin" migrate --manifest "$work/manifest.csv" --root "$work/legacy" --home "$work/killed" --job J --report "$work/killed.csv" --json > "$work/final.jsonl"
set -e
"$bin" store check --home "$work/killed" > /dev/null || fail "store check after the kills"
"$bin" ls instances --json --home "$work/killed" > "$work/killed.json"
python3 - "$work/ref.json" "$work/killed.json" "$work/ref.csv" "$work/killed.csv" "$good" <<'EOF' || fail "resume"
import csv, json, sys
ref = {r["sop_instance_uid"]: r for r in json.load(open(sys.argv[1]))}
killed = {r["sop_instance_uid"]: r for r in json.load(open(sys.argv[2]))}
assert set(ref) == set(killed), f"different instances: {len(set(ref) ^ set(killed))} differ"
for uid, r in ref.items():
    k = killed[uid]
    assert (r["study_instance_uid"], r["series_instance_uid"], r["patient_id"]) == (k["study_instance_uid"], k["series_instance_uid"], k["patient_id"]), uid
def outcome(path):
    return {row["line"]: (row["status"], row["sop_instance_uids"]) for row in csv.DictReader(open(path))}
a, b = outcome(sys.argv[3]), outcome(sys.argv[4])
good = int(sys.argv[5])
assert sum(1 for s, _ in a.values() if s == "stored") == good, "the reference run did not store every good row"
assert all(b[p][0] in ("stored", "done", "already-stored") for p in a if a[p][0] == "stored"), "a good row is not done after resuming"
assert all(b[p][0] == "invalid" for p in a if a[p][0] == "invalid"), "a bad row was migrated"
assert all(a[p][1] == b[p][1] for p in a), "resumed rows have other UIDs"
print(f"migrate: resumed run = uninterrupted run: {len(ref)} instances, same UIDs, every good row done")
EOF

# dciodvfy: converted objects clean.
count=0
for path in $(python3 -c 'import json,sys; [print(r["path"]) for r in json.load(open(sys.argv[1])) if not r["original_path"].endswith(".dcm")][:24]' "$work/ref.json"); do
    errors=$(dciodvfy "$path" 2>&1 | grep '^Error' || true)
    [ -z "$errors" ] || fail "dciodvfy errors in $path: $errors"
    count=$((count + 1))
done
echo "migrate: dciodvfy: zero errors in $count converted objects"
echo "migrate: passed"
