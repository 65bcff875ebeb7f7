#!/usr/bin/env bash
# Soaks `qecho serve` with a mix of clients and hostile traffic, then reports what was done and
# whether the server's memory grew. Loopback only. Not part of `cargo test`.
#
#   scripts/soak.sh [DURATION_SECONDS]      (default 60)
#
# Prints: echoes done, bytes verified, errors, server RSS at the start (after a warm-up of the same
# mix) and at the end (after idle timeouts have reaped killed clients).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-60}
cargo build --release --quiet
qecho=target/release/qecho
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

"$qecho" serve --listen 127.0.0.1:0 --idle-timeout 5s 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/serve.log" 2>/dev/null && break
    sleep 0.1
done
port=$(grep -o 'listening on [0-9.:]*' "$work/serve.log" | head -1 | awk -F: '{print $NF}')
[ -n "$port" ] || { echo "the server did not start:"; cat "$work/serve.log"; exit 1; }
target=127.0.0.1:$port
rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }

# Each client kind loops until $end, appending one JSON summary per run to $work/$phase-NAME.json.
client() {
    local name=$1; shift
    while ((SECONDS < end)); do
        "$qecho" send "$target" -k -q --json "$@" 2>>"$work/$phase-$name.err" | tail -1 >>"$work/$phase-$name.json" || true
    done
}
# The whole mix, for $1 seconds.
mix() {
    end=$((SECONDS + $1))
    client ping --count 50 --interval 5ms --streams 4 &
    client bulk --bytes 64MiB --streams 2 &
    client conns --connections 200 --parallel 32 &
    client dgram --datagram --count 100 --interval 2ms --timeout 1s &
    # Hostile: random datagrams through bash's /dev/udp.
    (
        while ((SECONDS < end)); do
            for _ in $(seq 200); do
                head -c $((RANDOM % 1400 + 1)) /dev/urandom >"/dev/udp/127.0.0.1/$port" 2>/dev/null || true
            done
        done
    ) &
    # Clients killed mid-stream.
    (
        while ((SECONDS < end)); do
            "$qecho" send "$target" -k -q --bytes 1GiB >/dev/null 2>&1 &
            victim=$!
            sleep 0.5
            { kill -9 "$victim" && wait "$victim"; } 2>/dev/null || true
            sleep 0.5
        done
    ) &
    wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
}

# The first minutes of load grow the heap to its working size; growth after that is what counts.
phase=warmup
mix 10
sleep 6
rss_start=$(rss)
phase=soak
mix "$duration"

# Let idle timeouts reap what the killed clients left, then measure.
sleep 6
rss_end=$(rss)
python3 - "$work" "$rss_start" "$rss_end" <<'PY'
import json, pathlib, sys
work, rss_start, rss_end = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def runs(name):
    path = work / f"soak-{name}.json"
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip().startswith("{")] if path.exists() else []
ping, bulk, conns, dgram = runs("ping"), runs("bulk"), runs("conns"), runs("dgram")
echoes = sum(r.get("received", 0) for r in ping) + sum(r.get("ok", 0) for r in conns) + sum(r.get("received", 0) for r in dgram)
verified = sum(r.get("echoed_bytes", 0) for r in bulk)
errors = sum(1 for r in ping if r.get("received") != r.get("sent")) + sum(1 for r in bulk if not r.get("ok")) \
       + sum(r.get("failed", 0) for r in conns)
dgram_lost = sum(r.get("lost", 0) for r in dgram)
print(f"echoes done:      {echoes} (ping {len(ping)} runs, connections {len(conns)} runs, datagram {len(dgram)} runs)")
print(f"bytes verified:   {verified} in {len(bulk)} bulk runs")
print(f"errors:           {errors} (stream echoes lost or corrupted, failed connections)")
print(f"datagrams lost:   {dgram_lost} (unreliable by design; loss under load is expected)")
print(f"server RSS:       start {rss_start} KiB (after a 10 s warm-up of the same mix), end {rss_end} KiB ({rss_end - rss_start:+d} KiB)")
PY
grep -c "ERROR" "$work/serve.log" | sed 's/^/server ERROR lines: /' || true
kill -TERM "$server"; wait "$server" && echo "server exited 0 on SIGTERM"
