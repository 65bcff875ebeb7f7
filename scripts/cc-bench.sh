#!/usr/bin/env bash
# CUBIC against BBR (`--cc` on both ends): bulk echo throughput over loopback, and through
# `qecho relay --delay 20ms --loss 1%` (a 40 ms round trip losing 1% each way), alternating the
# two controllers run by run, with the medians. Loopback only; release build. Not part of
# `cargo test`. The TCP+TLS baseline cannot take this path: the relay carries UDP.
#
#   scripts/cc-bench.sh [RUNS]        (default 3: 1 GiB on loopback, 10 s through the relay)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
cargo build --release --quiet
qecho=target/release/qecho
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
rate() { python3 -c "import json,sys; print(round(json.loads(sys.stdin.read().splitlines()[-1])['echo_gbit_per_s'] * $1, 3))"; }

declare -A server relay
for cc in cubic bbr; do
    start serve --cc "$cc"
    server[$cc]=$listening
    start relay --to "${server[$cc]}" --delay 20ms --loss 1%
    relay[$cc]=$listening
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$runs"); do
    for cc in cubic bbr; do
        "$qecho" send "${server[$cc]}" -k -q --json --cc "$cc" --bytes 1GiB 2>/dev/null | rate 1 >>"$work/loopback-$cc"
        "$qecho" send "${relay[$cc]}" -k -q --json --cc "$cc" --duration 10s 2>/dev/null | rate 1000 >>"$work/path-$cc"
        echo "run $run $cc: loopback $(tail -1 "$work/loopback-$cc") Gbit/s, 20 ms + 1% loss each way $(tail -1 "$work/path-$cc") Mbit/s"
    done
done
for cc in cubic bbr; do
    echo "$cc: median loopback $(median <"$work/loopback-$cc") Gbit/s, through 20 ms + 1% loss each way $(median <"$work/path-$cc") Mbit/s"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
