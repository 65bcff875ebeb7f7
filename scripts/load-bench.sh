#!/usr/bin/env bash
# Latency under load (issue 18): ping RTT p50/p99 on one connection to `qecho serve`, alone and
# while the same server takes a storm of handshakes (`send --connections`, 64 in flight), run
# alternately, with the medians. What an echo server's existing users feel when others connect:
# qecho's server runs one thread, so each handshake's TLS work stalls the echoes behind it.
# Release build; loopback; not part of `cargo test`.
#
#   scripts/load-bench.sh [RUNS] [PINGS]     (default 3 runs of 2000 pings 1 ms apart)
#
# To compare builds or settings: QECHO=path/to/qecho (and QECHO_NO_BUILD=1) runs another binary,
# SERVE_ARGS="--tls-thread" passes flags to the server, STORM_PREFIX="nice -n 19" runs the storm's
# client under a command (to tell the server's share of the tail from the client host's).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
pings=${2:-2000}
[ -n "${QECHO_NO_BUILD:-}" ] || cargo build --release --quiet
qecho=${QECHO:-target/release/qecho}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
field() { python3 -c "import json,sys; print(round(json.loads(sys.stdin.read().splitlines()[-1])$1, 3))"; }

start serve --max-connections 100000 ${SERVE_ARGS:-}
server=$listening
ping() { "$qecho" send "$server" -k -q --json --count "$pings" --interval 1ms 2>/dev/null; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$runs"); do
    ping >"$work/alone.json"
    ${STORM_PREFIX:-} "$qecho" send "$server" -k -q --connections 100000 --parallel 64 --deadline 60s >/dev/null 2>&1 &
    storm=$!
    sleep 0.5
    ping >"$work/loaded.json"
    kill -INT "$storm" 2>/dev/null || true
    wait "$storm" 2>/dev/null || true
    for kind in alone loaded; do
        field "['rtt_ms']['p50']" <"$work/$kind.json" >>"$work/$kind-p50"
        field "['rtt_ms']['p99']" <"$work/$kind.json" >>"$work/$kind-p99"
    done
    echo "run $run: alone p50 $(tail -1 "$work/alone-p50") p99 $(tail -1 "$work/alone-p99") ms; during the storm p50 $(tail -1 "$work/loaded-p50") p99 $(tail -1 "$work/loaded-p99") ms"
done
echo "median: alone p50 $(median <"$work/alone-p50") p99 $(median <"$work/alone-p99") ms; during a 64-in-flight handshake storm p50 $(median <"$work/loaded-p50") p99 $(median <"$work/loaded-p99") ms"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
