#!/usr/bin/env python3
"""One-off extraction of the PS3.6 data dictionary and UID registry from pydicom.

Reads pydicom 3.x's generated tables (`pydicom/_dicom_dict.py`: DicomDictionary
and RepeatersDictionary; `pydicom/_uid_dict.py`: UID_dictionary) and writes
the two TSV files that are kept in this repository:

    tools/dictionary/dictionary.tsv   tag  vr  vm  keyword  name  retired
    tools/dictionary/uids.tsv         uid  name  type  keyword  retired

pydicom is distributed under the MIT License (Copyright (c) 2008-2020
Darcy Mason and pydicom contributors); the tables it ships are themselves
derived from DICOM PS3.6. The TSVs are the source of truth from then on:
run this again only to pick up a newer edition of the standard
(`pip install 'pydicom>=3'`), then run generate.py.

Usage: python3 tools/dictionary/extract-from-pydicom.py
"""

import os
import sys

try:
    import pydicom
    from pydicom._dicom_dict import DicomDictionary, RepeatersDictionary
    from pydicom._uid_dict import UID_dictionary
except ImportError as error:  # pragma: no cover
    sys.exit(f"needs pydicom >= 3 (pip install 'pydicom>=3'): {error}")

HERE = os.path.dirname(os.path.abspath(__file__))


def clean(field):
    """Fields go into TSV and into a Swift raw string: no tabs or newlines."""
    text = str(field).strip()
    if any(c in text for c in "\t\r\n"):
        raise ValueError(f"field with tab/newline: {text!r}")
    return text


def vr_text(vr):
    # pydicom writes "NONE" for items and delimiters; PS3.6 leaves VR blank.
    return "" if vr == "NONE" else clean(vr)


def dictionary_rows():
    rows = []
    for tag, (vr, vm, name, retired, keyword) in DicomDictionary.items():
        rows.append((f"{tag:08X}", vr_text(vr), clean(vm), clean(keyword), clean(name),
                     "1" if retired == "Retired" else "0"))
    for mask, (vr, vm, name, retired, keyword) in RepeatersDictionary.items():
        # Masks look like "60xx3000": upper-case hex digits, lower-case x.
        pattern = mask.upper().replace("X", "x")
        assert len(pattern) == 8 and all(c in "0123456789ABCDEFx" for c in pattern), mask
        rows.append((pattern, vr_text(vr), clean(vm), clean(keyword), clean(name),
                     "1" if retired == "Retired" else "0"))
    rows.sort(key=lambda r: r[0].replace("x", "0"))
    return rows


def uid_rows():
    rows = []
    for uid, (name, uid_type, _info, retired, keyword) in UID_dictionary.items():
        rows.append((clean(uid), clean(name), clean(uid_type), clean(keyword),
                     "1" if retired == "Retired" else "0"))

    def key(row):
        return [int(part) for part in row[0].split(".")]

    rows.sort(key=key)
    return rows


def write(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(header) + "\n")
        for row in rows:
            out.write("\t".join(row) + "\n")


def main():
    dictionary = dictionary_rows()
    uids = uid_rows()
    write(os.path.join(HERE, "dictionary.tsv"),
          ["tag", "vr", "vm", "keyword", "name", "retired"], dictionary)
    write(os.path.join(HERE, "uids.tsv"),
          ["uid", "name", "type", "keyword", "retired"], uids)
    print(f"pydicom {pydicom.__version__}: {len(dictionary)} dictionary entries "
          f"({len(RepeatersDictionary)} repeating-group masks), {len(uids)} UIDs")


if __name__ == "__main__":
    main()
