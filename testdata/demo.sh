#!/usr/bin/env bash
# The demo: what reception sees when a patient brings testdata/sample-disc.
set -euo pipefail
bin=${1:-.build/debug/discport}
here=$(cd "$(dirname "$0")" && pwd)
disc="$here/sample-disc"

echo "== discport scan $disc"
"$bin" scan "$disc" || true   # exit 1 = problems found (the disc has autorun junk)
echo
echo "== discport dump (one image, header only)"
"$bin" dump --header-only "$disc/DICOM/PAT00001/STU00001/SER00002/IMG00001"
