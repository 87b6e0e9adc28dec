#!/usr/bin/env bash
# The demo: what reception sees when a patient brings testdata/sample-disc,
# reconciled against a sample registry, imported into a temporary store (never
# your real one), listed, exported as a referral ISO and verified.
set -euo pipefail
bin=${1:-.build/debug/discport}
here=$(cd "$(dirname "$0")" && pwd)
disc="$here/sample-disc"
home=$(mktemp -d "${TMPDIR:-/tmp}/discport-demo.XXXXXX")
trap 'rm -rf "$home"' EXIT

echo "== discport scan $disc"
"$bin" scan "$disc" || true   # exit 1 = problems found (the disc has autorun junk)
echo
echo "== discport patients import testdata/registry.csv (the clinic's patient list, Shift_JIS)"
"$bin" patients import "$here/registry.csv" --home "$home"
echo
echo "== discport import $disc --auto --yes (matched to the registry: romaji long vowel, hiragana vs katakana)"
"$bin" import "$disc" --auto --yes --home "$home" --json > "$home/import.jsonl"
python3 - "$home/import.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    if event["event"] == "message":
        print("  " + event["message"])
    if event["event"] == "decision":
        print(f"  patient {event['source']} -> local {event.get('patient_id', '(skipped)')} ({event['decision']})")
    if event["event"] == "finish":
        c = event["counts"]
        print(f"  imported {c['stored'] + c['adopted']}, already stored {c['duplicates']}, conflicts {c['conflicts']}, failed {c['failed']}")
PY
echo
echo "== discport ls patients / studies / series"
"$bin" ls patients --home "$home"
echo
"$bin" ls studies --home "$home"
echo
"$bin" ls series --home "$home"
echo
echo "== discport import again: the decision is remembered, everything is already stored"
"$bin" import "$disc" --yes --home "$home" --json | tail -1 \
    | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print("  stored %d, skipped as already stored %d" % (c["stored"], c["duplicates"]))'
echo
echo "== discport store check"
"$bin" store check --home "$home"
echo
echo "== discport dump (the first stored image, header only: Patient ID coerced, original kept)"
first=$("$bin" ls instances --home "$home" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["path"])')
"$bin" dump --header-only "$first" | grep -E "\(0010,|\(0400,|PatientID|OriginalAttributes" | head -20
echo
echo "== discport export: the imported patient as a referral ISO (STD-GEN-CD, verified before it is named)"
outdir=$(mktemp -d "${TMPDIR:-/tmp}/discport-referral.XXXXXX")
"$bin" export --patient 12345 --format iso --out "$outdir/referral.iso" --institution "Demo Clinic" --contact "03-0000-0000" --home "$home"
echo
echo "== discport verify $outdir/referral.iso"
"$bin" verify "$outdir/referral.iso"
echo
echo "ISO:   $outdir/referral.iso"
echo "Label: $outdir/referral.label.svg"
