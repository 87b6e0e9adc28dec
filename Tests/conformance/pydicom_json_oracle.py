#!/usr/bin/env python3
"""Acceptance oracle for `discport dump --json`: pydicom's DICOM JSON model.

For every regular file of pydicom's bundled test data
(`pydicom.data.get_testdata_files()` and `get_charset_files()`):

* pydicom reads it (`dcmread`, not forced) and `to_json_dict()` works:
  discport's JSON must equal pydicom's after the normalisation below.
* pydicom reads it but cannot make JSON of it (an invalid IS, say): discport
  must not crash; whatever it prints must be valid JSON.
* pydicom rejects it: discport must not crash. Either it rejects the file
  too (non-zero exit, an error naming the file), or - discport reads data
  sets without a Part 10 header on purpose (old media have them) - its JSON
  must equal what `dcmread(force=True)` makes of the file.

All files go through one `discport dump --json FILE...` (the batch form); if
that process dies on a signal, each file is run alone to find the culprit.

Normalisation. pydicom is the judge, but where it departs from PS3.18 or
PS3.5 both sides are brought to the standard's form first. Each rule is
here because files of the corpus need it (the oracle fails without it):

 N1 FL values compare as binary32. pydicom widens an FL to a double and
    writes 3.0999999046325684 for the stored 3.1f; discport writes the
    shortest text of the float itself. (All numbers compare as JSON numbers,
    so discport's DS "0.30", the data set's digits, equals pydicom's 0.3.)
 N2 Empty values. pydicom writes "" for an empty value inside a
    multi-valued attribute (`\ISO 2022 IR 87`) where PS3.18 F.2.5 asks for
    null, and "Value": [] for an empty sequence where F.2.5 asks for no
    Value at all. Both become the standard's form.
 N3 Trailing spaces. pydicom strips trailing spaces from a multi-valued
    string as a whole, so values before the last keep theirs
    ("DERIVED \PRIMARY" gives "DERIVED "); PS3.5 6.2 makes them padding.
    Each string value is compared without trailing spaces.
 N4 Byte order of InlineBinary. For a big-endian file pydicom base64-encodes
    OW/OF/OD/OL/OV values in the file's byte order; a JSON object has no
    transfer syntax of its own and PS3.18 F.2.7 applies PS3.5's byte-order
    rules, so discport writes them little endian. pydicom's bytes are
    swapped back before comparing.
 N5 No vendor dictionaries. pydicom gives some private elements a VR from
    its vendor dictionary (implicit VR files, explicit UN). discport keeps
    them UN, as PS3.5 6.2.2 says for private data it does not know; the
    oracle runs pydicom with its private dictionary emptied.
 N6 Truncated files. pydicom reads a value that runs past the end of the
    file (or of its sequence) as far as the bytes go, without a word.
    discport refuses such a file (exit 1, an error naming it: a damaged copy
    must not pass as a good one); with --lenient it keeps what precedes the
    faulty element. That output must equal pydicom's minus its last
    top-level element, the one the file ends in.

Prints one line per failing file with the first differing key, then
`pydicom-json: N passed, M failed`. Exit 1 when M > 0.
"""

import base64
import json
import logging
import math
import os
import struct
import subprocess
import sys
import warnings


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: pydicom_json_oracle.py path/to/discport", file=sys.stderr)
        return 2
    binary = sys.argv[1]

    import pydicom
    import pydicom.datadict
    from pydicom.data import get_testdata_files, get_charset_files

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    pydicom.datadict.private_dictionaries.clear()   # N5

    files = sorted(p for p in set(get_testdata_files()) | set(get_charset_files()) if os.path.isfile(p))

    expected = {}      # path -> (json dict, big endian?)
    no_json = set()    # pydicom reads, but cannot make JSON
    rejected = {}      # path -> forced json dict or None
    for path in files:
        try:
            ds = pydicom.dcmread(path)
        except Exception:
            rejected[path] = forced_json(pydicom, path)
            continue
        try:
            expected[path] = (ds.to_json_dict(), is_big_endian(ds))
        except Exception:
            no_json.add(path)

    results = run_discport(binary, files)

    passed, failed = 0, 0
    kinds = {}
    for path in files:
        name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
        kind, problem = judge(binary, path, results[path], expected, no_json, rejected)
        kinds[kind] = kinds.get(kind, 0) + 1
        if problem is None:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name}: {problem}")
    print("pydicom-json: " + ", ".join(f"{kind}: {count}" for kind, count in sorted(kinds.items())))
    print(f"pydicom-json: {passed} passed, {failed} failed")
    return 1 if failed else 0


def forced_json(pydicom, path):
    try:
        ds = pydicom.dcmread(path, force=True)
        return (ds.to_json_dict(), is_big_endian(ds))
    except Exception:
        return None


def is_big_endian(ds) -> bool:
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if uid:
        return uid == "1.2.840.10008.1.2.2"
    return not getattr(ds, "is_little_endian", True)


# MARK: running discport

class Result:
    def __init__(self, dataset=None, stderr="", returncode=0, crashed=False, invalid_json=False):
        self.dataset = dataset
        self.stderr = stderr
        self.returncode = returncode
        self.crashed = crashed
        self.invalid_json = invalid_json


def run_discport(binary, files):
    """One batch run; per-file runs only when the batch crashed."""
    proc = subprocess.run([binary, "dump", "--json", *files], capture_output=True)
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode >= 0:
        try:
            entries = json.loads(proc.stdout.decode("utf-8"))
        except ValueError:
            entries = None
        if isinstance(entries, list):
            by_path = {e["path"]: e["dataset"] for e in entries}
            results = {}
            for path in files:
                lines = "\n".join(l for l in stderr.splitlines() if l.startswith(f"discport: {path}:"))
                failed_here = any(not l.startswith("discport: warning:") for l in lines.splitlines())
                results[path] = Result(by_path.get(path), lines, 1 if failed_here else 0)
            return results
    results = {}
    for path in files:
        one = subprocess.run([binary, "dump", "--json", path], capture_output=True)
        result = Result(stderr=one.stderr.decode("utf-8", "replace"), returncode=one.returncode,
                        crashed=one.returncode < 0)
        if one.returncode >= 0 and one.stdout.strip():
            try:
                result.dataset = json.loads(one.stdout.decode("utf-8"))
            except ValueError:
                result.invalid_json = True
        results[path] = result
    return results


def judge(binary, path, result, expected, no_json, rejected):
    """(what was compared, the problem or None)."""
    if result.crashed:
        return "crashed", f"discport crashed (signal {-result.returncode})"
    if result.invalid_json:
        return "invalid JSON", "discport printed invalid JSON"
    if path in expected:
        want, big_endian = expected[path]
        if result.dataset is None:
            first = result.stderr.splitlines()[0] if result.stderr else "no output"
            if any(t in first for t in TRUNCATION):
                return "truncated, compared --lenient", judge_truncated(binary, path, want, big_endian)
            return "compared", f"pydicom reads it, discport failed: {first}"
        return "compared", compare(result.dataset, want, big_endian)
    if path in no_json:
        # No judgement on the content: it did not crash, and printed valid JSON.
        return "pydicom makes no JSON", None
    # pydicom rejects the file.
    if result.dataset is None:
        if result.returncode == 0:
            return "rejected by both", "pydicom rejects it, discport printed nothing but exited 0"
        if path not in result.stderr:
            return "rejected by both", f"error does not name the file: {result.stderr.strip()[:120]}"
        return "rejected by both", None
    forced = rejected.get(path)
    if forced is None:
        return "raw data set, compared force=True", "pydicom rejects it (even forced), discport read it"
    want, big_endian = forced
    problem = compare(result.dataset, want, big_endian)
    return "raw data set, compared force=True", None if problem is None else f"(pydicom force=True) {problem}"


# discport's messages for a file that ends inside a value or an element, or
# whose lengths run past the end of the file or of their sequence.
TRUNCATION = ("past the end", "ends inside")


def judge_truncated(binary, path, want, big_endian):
    """N6: a value runs past the end of the file (or of its sequence).
    pydicom keeps the short value without a word; discport refuses the file
    (exit 1, an error naming it) and with --lenient keeps everything before
    the faulty element. That must equal pydicom's data without its last
    top-level element, the one the file ends in."""
    one = subprocess.run([binary, "dump", "--json", "--lenient", path], capture_output=True)
    if one.returncode != 1:
        return f"--lenient on a truncated file: exit {one.returncode}, expected 1"
    try:
        ours = json.loads(one.stdout.decode("utf-8"))
    except ValueError:
        return "--lenient on a truncated file: invalid JSON"
    missing = set(want) - set(ours)
    last = max(want) if want else None
    if missing != {last}:
        return f"--lenient drops {sorted(missing)}, pydicom's last element is {last}"
    problem = compare(ours, {k: v for k, v in want.items() if k != last}, big_endian)
    return None if problem is None else f"(--lenient, truncated) {problem}"


# MARK: normalisation and comparison

SWAPPED_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def normalise_dataset(ds, big_endian, from_pydicom):
    return {tag: normalise_attribute(attr, big_endian, from_pydicom) for tag, attr in ds.items()}


def normalise_attribute(attr, big_endian, from_pydicom):
    vr = attr.get("vr")
    out = {"vr": vr}
    if "InlineBinary" in attr:
        data = attr["InlineBinary"]
        if from_pydicom and big_endian and vr in SWAPPED_SIZES:   # N4
            raw = base64.b64decode(data)
            size = SWAPPED_SIZES[vr]
            raw = b"".join(raw[i:i + size][::-1] for i in range(0, len(raw) - len(raw) % size, size)) + raw[len(raw) - len(raw) % size:]
            data = base64.b64encode(raw).decode()
        out["InlineBinary"] = data
    if "BulkDataURI" in attr:
        out["BulkDataURI"] = attr["BulkDataURI"]
    values = attr.get("Value")
    if values is not None:
        if vr == "SQ":
            values = [normalise_dataset(item, big_endian, from_pydicom) for item in values]
        else:
            values = [normalise_value(v, vr) for v in values]
        if values and not all(v is None for v in values) or len(values) > 1:   # N2
            out["Value"] = values
    return out


def normalise_value(value, vr):
    if isinstance(value, str):    # N3, N2
        value = value.rstrip(" ")
        return None if value == "" else value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and vr == "FL":   # N1
        try:
            return struct.unpack("<f", struct.pack("<f", value))[0]
        except OverflowError:
            return float(value)
    return value


def same_number(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    return False


def first_difference(ours, theirs, where):
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours:
                return f"{where}{key}: missing in discport (pydicom: {short(theirs[key])})"
            if key not in theirs:
                return f"{where}{key}: only in discport ({short(ours[key])})"
            d = first_difference(ours[key], theirs[key], f"{where}{key}.")
            if d:
                return d
        return None
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return f"{where.rstrip('.')}: {len(ours)} values in discport, {len(theirs)} in pydicom ({short(ours)} vs {short(theirs)})"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            d = first_difference(a, b, f"{where.rstrip('.')}[{i}].")
            if d:
                return d
        return None
    if ours == theirs or same_number(ours, theirs):
        return None
    return f"{where.rstrip('.')}: discport {short(ours)} != pydicom {short(theirs)}"


def short(value):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(ours, theirs, big_endian):
    a = normalise_dataset(ours, big_endian, from_pydicom=False)
    b = normalise_dataset(theirs, big_endian, from_pydicom=True)
    return first_difference(a, b, "")


if __name__ == "__main__":
    sys.exit(main())
