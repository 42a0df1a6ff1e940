#!/usr/bin/env bash
# Load through the proxy (issue 19): CONCURRENT associations at once through `dicomtap proxy` to `dicomtap serve`,
# ECHOSCU of them DCMTK echoscu processes (a foreign peer, each holding its association with repeated C-ECHOs) and
# the rest from our SCU (dicomtap-bench rpi-load, QUERIES C-FINDs spread over its associations). Prints the C-FIND
# latency (median, p99) on one association alone through the proxy beside the same under load, whether every
# association was served, and the proxy's peak RSS (VmHWM) and open file descriptors.
# Usage: tools/bench_load.sh [CONCURRENT [ECHOSCU [QUERIES]]]   (defaults 500, 400, 5000)
# Env: SCRATCH (swift build scratch path, default .build), PROXY_ARGS (extra proxy options, e.g. "--log-dir DIR").
set -euo pipefail
cd "$(dirname "$0")/.."
concurrent=${1:-500}
echoes=${2:-400}
queries=${3:-5000}
ours=$(( concurrent - echoes ))
PY=tools/python
scratch=${SCRATCH:-.build}
swift build -c release --scratch-path "$scratch" --product dicomtap >/dev/null
swift build -c release --scratch-path "$scratch" --product dicomtap-bench >/dev/null
bin=$scratch/release

BENCH=bench_load
source tools/bench_lib.sh

"$bin/dicomtap" serve --port 0 --host 127.0.0.1 --db "$work/rpi.sqlite" --import demo >"$work/serve.out" 2>&1 &
pids+=($!); disown $!
serve_port=$(wait_line "$work/serve.out" '^listening on' | sed -E 's/^listening on [^:]+:([0-9]+).*/\1/')
proxy_port=$(free_port)
# shellcheck disable=SC2086
"$bin/dicomtap" proxy --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$serve_port" ${PROXY_ARGS:-} \
  >"$work/proxy.out" 2>&1 &
proxy_pid=$!
pids+=($proxy_pid); disown $proxy_pid
wait_line "$work/proxy.out" 'listening on' >/dev/null

established() { ss -Htn state established "( dport = :$proxy_port )" | wc -l; }
status_of() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$proxy_pid/status"; }

echo "== one association alone through the proxy: $queries C-FINDs"
"$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" 50 one PAT-0001 >/dev/null   # warm-up
echo "alone:      $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" "$queries" one PAT-0001)"

echo "== $concurrent concurrent associations: $echoes DCMTK echoscu (each repeating C-ECHO) + $ours of ours ($queries C-FINDs)"
echo_pids=()
for i in $(seq "$echoes"); do
  /usr/bin/echoscu --repeat 100000 -aec ANY-SCP 127.0.0.1 "$proxy_port" >"$work/echo.$i.out" 2>&1 &
  echo_pids+=($!); pids+=($!)
done
for _ in $(seq 600); do (( $(established) >= echoes )) && break; sleep 0.1; done
echo "echoscu associations established through the proxy: $(established) of $echoes"
echo "under load: $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" "$queries" one PAT-0001 "$ours")"
echo "connections to the proxy at the end of the load: $(established) (echoscu still running: $(for p in "${echo_pids[@]}"; do kill -0 "$p" 2>/dev/null && echo; done | wc -l))"
echo "proxy: peak RSS $(( $(status_of VmHWM | tr -d ' kB') / 1024 )) MB, open file descriptors $(ls "/proc/$proxy_pid/fd" | wc -l)"
# echoscu killed by us, not failed: whatever it printed beside its C-ECHOs is a failure to look at.
for p in "${echo_pids[@]}"; do kill "$p" 2>/dev/null || true; done
sleep 1
failed=$(grep -l -i -E "error|fail|reject|abort" "$work"/echo.*.out 2>/dev/null | wc -l || true)
echo "echoscu processes that reported an error before being stopped: $failed of $echoes"
