#!/usr/bin/env bash
# Where a ping's round trip goes (issue 18): the system calls per echo on each end of a back-to-back
# ping (strace -c -f, which slows them but counts every call), and where each end's CPU goes
# (perf record, undisturbed), for `qecho serve` and `qecho send --interval 0s`. Release build,
# loopback; not part of `cargo test`. Needs strace and perf (Debian: strace, linux-perf).
#
#   scripts/ping-profile.sh [PINGS]     (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."

pings=${1:-5000}
[ -n "${QECHO_NO_BUILD:-}" ] || cargo build --release --quiet
qecho=$PWD/target/release/qecho
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# The calls per echo of one end, from an strace -c summary: the busiest first, up to 8.
per_echo() {
    awk -v n="$pings" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
        name = $NF; calls = $4; if (calls ~ /^[0-9]+$/) { total += calls; c[name] = calls } }
        END { printf "%.2f calls per echo:", total / n
              for (k in c) if (c[k] / n >= 0.05) printf " %s %.2f", k, c[k] / n; print "" }' "$1"
}

echo "== system calls, $pings pings back to back (strace -f -c) =="
log=$work/serve.log
strace -f -c -o "$work/serve.strace" "$qecho" serve --listen 127.0.0.1:0 2>"$log" &
tracer=$!
for _ in $(seq 100); do grep -q "listening on" "$log" 2>/dev/null && break; sleep 0.1; done
server=$(grep -o 'listening on [0-9.:]*' "$log" | head -1 | awk '{print $3}')
strace -f -c -o "$work/send.strace" "$qecho" send "$server" -k -q --size 64 --count "$pings" --interval 0s >/dev/null
# The server, not strace: a background job ignores SIGINT, and strace keeps it so.
kill -TERM "$(pgrep -P "$tracer")"; wait "$tracer" 2>/dev/null || true
echo "serve: $(per_echo "$work/serve.strace")"
echo "send:  $(per_echo "$work/send.strace")"

echo
echo "== CPU, $pings pings back to back (perf record; self time, top symbols) =="
start serve
perf record -q -F 4999 -g -o "$work/serve.perf" -p "$(pgrep -n -f "$qecho serve")" >/dev/null 2>&1 &
recorder=$!
sleep 0.3
perf record -q -F 4999 -g -o "$work/send.perf" "$qecho" send "$listening" -k -q --size 64 --count "$pings" --interval 0s >/dev/null 2>&1
kill -TERM "$recorder"; wait "$recorder" 2>/dev/null || true
for end in serve send; do
    echo "-- $end"
    perf report -q -i "$work/$end.perf" --no-children --sort dso,sym -g none 2>/dev/null \
        | grep -v '^$' | head -14 | cut -c1-150
done
