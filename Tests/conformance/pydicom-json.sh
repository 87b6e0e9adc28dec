#!/usr/bin/env bash
# Acceptance oracle for `discport dump --json`: every file of pydicom's test
# data must give the JSON pydicom gives (Dataset.to_json_dict()), after the
# normalisation documented in pydicom_json_oracle.py; files pydicom rejects
# must give a clear discport error, never a crash.
#
# usage: bash Tests/conformance/pydicom-json.sh path/to/discport
# Without pydicom 3: skipped, or a failure when CI=true.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${1:?usage: pydicom-json.sh path/to/discport}"

if [ ! -x "$binary" ]; then
    echo "pydicom-json: $binary is not an executable (build first)" >&2
    exit 1
fi

if ! python3 -c 'import pydicom, sys; sys.exit(0 if int(pydicom.__version__.split(".")[0]) >= 3 else 1)' 2>/dev/null; then
    if [ "${CI:-}" = "true" ]; then
        echo "pydicom-json: FAILED: pydicom >= 3 is not installed (make deps installs it)" >&2
        exit 1
    fi
    echo "pydicom-json: skipped: pydicom >= 3 is not installed (make deps installs it)"
    exit 0
fi

exec python3 "$here/pydicom_json_oracle.py" "$binary"
