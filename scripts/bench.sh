#!/usr/bin/env bash
# qecho vs a TCP+TLS (tokio-rustls) echo baseline on loopback: builds with the bench profile
# (= release) and runs benches/echo.rs, which prints a table of medians and qecho/baseline ratios
# and writes them to target/bench-results.json. Arguments go to the harness, e.g.
#   scripts/bench.sh --runs 7 --only bulk,ping --pin 0,1
# (`scripts/bench.sh --help` lists them). The default run takes about 1-2 minutes after the build
# on 2 cores; results on a shared machine are only as quiet as the machine: the load average is
# printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exec cargo bench --bench echo -- "$@"
