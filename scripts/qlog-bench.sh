#!/usr/bin/env bash
# What --qlog costs: bulk echo throughput on loopback with qlog traces on both ends against
# without, alternating run by run, with the medians, the size of the traces and the time the
# ping summary takes. Release build. Not part of `cargo test`.
#
#   scripts/qlog-bench.sh [RUNS] [SIZE]      (default 3 runs of 1GiB)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
size=${2:-1GiB}
cargo build --release --quiet
qecho=target/release/qecho
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
rate() { python3 -c "import json,sys; print(round(json.loads(sys.stdin.read().splitlines()[-1])['echo_gbit_per_s'], 3))"; }

start serve
plain=$listening
start serve --qlog "$work/server-traces"
traced=$listening
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$runs"); do
    "$qecho" send "$plain" -k -q --json --bytes "$size" 2>/dev/null | rate >>"$work/off"
    rm -rf "$work/client-traces" "$work/server-traces"/*
    "$qecho" send "$traced" -k -q --json --bytes "$size" --qlog "$work/client-traces" 2>/dev/null | rate >>"$work/on"
    sleep 0.5 # the server's trace is flushed when its connection closes
    bytes=$(du -cb "$work/client-traces" "$work/server-traces" | tail -1 | cut -f1)
    echo "$bytes" >>"$work/bytes"
    echo "run $run: without qlog $(tail -1 "$work/off") Gbit/s, with qlog on both ends $(tail -1 "$work/on") Gbit/s, traces $((bytes / 1048576)) MiB"
done
echo "median: without qlog $(median <"$work/off") Gbit/s, with $(median <"$work/on") Gbit/s, traces $(($(median <"$work/bytes" | cut -d. -f1) / 1048576)) MiB for $size each way"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
