#!/usr/bin/env bash
# make bench, part 4: `discport send` of a generated tree to Orthanc against
# DCMTK storescu (one association) to the same Orthanc, in one run (issue #9).
#
#   bash Benchmarks/network.sh [.build/release/discport]
#
# Tree: NETWORK_BENCH_FILES (default 2000) files written by pydicom with
# Tests/conformance/make_import_tree.py (explicit and implicit VR, raw data
# sets, encapsulated JPEG; ~8 KB each plus --pixels), cached in
# .build/bench-data/network-N. Orthanc (Debian package) starts afresh with an
# empty temporary storage for every run, DICOM and HTTP on free loopback ports.
# Best of BENCH_RUNS (default 3) wall-clock seconds, until the sender exits:
#   storescu    storescu -aec ORTHANC -R -xy HOST PORT FILE… (one association,
#               the files' own transfer syntaxes proposed, as discport does)
#   discport    discport send TREE --to orthanc            (one association)
#   discport-2  discport send TREE --to orthanc --parallel 2
# Every run must leave all instances in Orthanc (checked by REST).
# Targets: discport >= 1.0x storescu's throughput; --parallel 2 faster still.
set -euo pipefail

DISCPORT=${1:-.build/release/discport}
RUNS=${BENCH_RUNS:-3}
FILES=${NETWORK_BENCH_FILES:-2000}
PIXELS=${NETWORK_BENCH_PIXELS:-65536}
DATA=${BENCH_DATA:-.build/bench-data}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DISCPORT="$(cd "$(dirname "$DISCPORT")" && pwd)/$(basename "$DISCPORT")"

[ -x "$DISCPORT" ] || { echo "network bench: $DISCPORT is missing (make release)" >&2; exit 1; }
for tool in Orthanc storescu curl; do
    command -v $tool > /dev/null || { echo "network bench: $tool is missing (make deps)" >&2; exit 1; }
done

tree="$DATA/network-$FILES-$PIXELS"
if [ ! -f "$tree/.complete" ]; then
    echo "network bench: generating $FILES files in $tree (once; cached)"
    rm -rf "$tree"
    mkdir -p "$tree"
    python3 "$here/../Tests/conformance/make_import_tree.py" "$tree" "$FILES" --pixels "$PIXELS" > /dev/null
    touch "$tree/.complete"
fi
find "$tree/dicom" -type f | sort > "$tree.files"
count=$(wc -l < "$tree.files")
bytes=$(du -sb "$tree/dicom" | cut -f1)
cat "$tree.files" | xargs cat > /dev/null   # warm cache

scratch=$(mktemp -d)
orthanc_pid=""
stop_orthanc() {
    if [ -n "$orthanc_pid" ]; then kill "$orthanc_pid" 2> /dev/null || true; wait "$orthanc_pid" 2> /dev/null || true; fi
    orthanc_pid=""
}
trap 'stop_orthanc; rm -rf "$scratch"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
dicom_port=$(free_port)
http_port=$(free_port)

start_orthanc() {
    rm -rf "$scratch/orthanc"; mkdir -p "$scratch/orthanc"
    cat > "$scratch/orthanc.json" <<EOF
{ "Name": "discport-bench", "StorageDirectory": "$scratch/orthanc", "IndexDirectory": "$scratch/orthanc",
  "DicomAet": "ORTHANC", "DicomPort": $dicom_port, "HttpPort": $http_port, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "DicomAlwaysAllowStore": true, "DicomAlwaysAllowEcho": true,
  "StorageCompression": false, "SaveJobs": false }
EOF
    Orthanc "$scratch/orthanc.json" > "$scratch/orthanc.log" 2>&1 &
    orthanc_pid=$!
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$http_port/system" > /dev/null 2>&1 \
            && python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$dicom_port" 2> /dev/null \
            && return 0
        sleep 0.1
    done
    echo "network bench: Orthanc did not start" >&2; exit 1
}
instances() { curl -sf "http://127.0.0.1:$http_port/statistics" | python3 -c 'import json, sys; print(json.load(sys.stdin)["CountInstances"])'; }
now() { date +%s.%N; }

run_once() {   # KIND -> seconds
    local kind=$1 start end
    start_orthanc
    rm -rf "$scratch/home"
    export DISCPORT_HOME="$scratch/home"
    "$DISCPORT" nodes add orthanc --ae ORTHANC --host 127.0.0.1 --port "$dicom_port" > /dev/null
    start=$(now)
    case $kind in
        storescu)   xargs storescu -aec ORTHANC -R -xy 127.0.0.1 "$dicom_port" < "$tree.files" > "$scratch/out" 2>&1 ;;
        discport)   "$DISCPORT" send "$tree" --to orthanc > "$scratch/out" 2>&1 ;;
        discport-2) "$DISCPORT" send "$tree" --to orthanc --parallel 2 > "$scratch/out" 2>&1 ;;
    esac
    end=$(now)
    local stored
    stored=$(instances)
    stop_orthanc
    if [ "$stored" != "$count" ]; then
        echo "network bench: $kind left $stored of $count instances in Orthanc" >&2; tail -5 "$scratch/out" >&2; exit 1
    fi
    awk -v s="$start" -v e="$end" 'BEGIN { print e - s }'
}

declare -A best
for kind in storescu discport discport-2; do
    for _ in $(seq "$RUNS"); do
        t=$(run_once "$kind")
        best[$kind]=$(awk -v t="$t" -v b="${best[$kind]:-}" 'BEGIN { if (b == "" || t < b) print t; else print b }')
    done
done

echo
echo "== network: $count instances ($(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }')) to Orthanc on loopback, best of $RUNS =="
for kind in storescu discport discport-2; do
    awk -v k="$kind" -v t="${best[$kind]}" -v n="$count" -v b="$bytes" \
        'BEGIN { printf "%-12s %8.2f s  %8.1f instances/s  %7.1f MB/s\n", k, t, n / t, b / t / 1e6 }'
done
awk -v s="${best[storescu]}" -v d="${best[discport]}" -v p="${best[discport-2]}" 'BEGIN {
    r1 = s / d; r2 = s / p
    printf "discport / storescu throughput      %5.2f x  (target >= 1.0) %s\n", r1, (r1 >= 1.0 ? "met" : "MISSED")
    printf "--parallel 2 / storescu throughput  %5.2f x  (target > discport) %s\n", r2, (p < d ? "met" : "MISSED")
}'
