#!/usr/bin/env bash
# What `qecho relay` costs a connection when it impairs nothing: bulk echo throughput and ping RTT
# straight to `qecho serve` and through a relay in front of it, alternating run by run, with the
# medians. Loopback only; release build. Not part of `cargo test`.
#
#   scripts/relay-bench.sh [RUNS] [BYTES]       (default 5 runs of 1GiB)
#
# The relay is given no CPU of its own: on 2 cores, client, server and relay share them, as they
# would on one test machine. The load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
bytes=${2:-1GiB}
cargo build --release --quiet
qecho=target/release/qecho
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
start serve
server=$listening
start relay --to "$server"
relay=$listening

field() { python3 -c "import json,sys; s=json.loads(sys.stdin.read().splitlines()[-1]); print(round(eval('s' + sys.argv[1]), 3))" "$1"; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$runs"); do
    for path in direct relay; do
        target=$server
        [ "$path" = relay ] && target=$relay
        "$qecho" send "$target" -k -q --json --bytes "$bytes" 2>/dev/null | field '["echo_gbit_per_s"]' >>"$work/bulk-$path"
        "$qecho" send "$target" -k -q --json --count 2000 --interval 0s >"$work/ping.json" 2>/dev/null
        field '["rtt_ms"]["avg"]' <"$work/ping.json" >>"$work/ping-$path"
    done
    echo "run $run: bulk direct $(tail -1 "$work/bulk-direct") / relay $(tail -1 "$work/bulk-relay") Gbit/s, ping avg direct $(tail -1 "$work/ping-direct") / relay $(tail -1 "$work/ping-relay") ms"
done
for path in direct relay; do
    printf '%-6s bulk %s: median %s Gbit/s; ping 2000 x back to back: median of avg RTT %s ms\n' \
        "$path" "$bytes" "$(median <"$work/bulk-$path")" "$(median <"$work/ping-$path")"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
