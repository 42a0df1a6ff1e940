#!/usr/bin/env bash
# Load through the proxy (issue 19): CONCURRENT associations at once through `dicomtap proxy` to `dicomtap serve`,
# ECHOSCU of them DCMTK echoscu processes (a foreign peer, each holding its association with repeated C-ECHOs) and
# the rest from our SCU (dicomtap-bench rpi-load, QUERIES C-FINDs spread over its associations). Prints the C-FIND
# latency (median, p99) on one association alone through the proxy beside the same under load, whether every
# association was served, and the proxy's peak RSS (VmHWM) and open file descriptors. Alone, the association sends
# back to back (closed) and then at RATE queries per second (open: queries apart from one another cost more than
# queries back to back, whose threads and caches stay warm), the figure to hold the open load's beside.
# Under load, our associations first send at RATE queries per second in all (an open load, below the machine's
# capacity: each query leaves at its scheduled time, and its latency counts from then, so a stall is not hidden)
# while the echoscu processes take turns (every 5 ms the next one runs for 1 ms, a few C-ECHOs, the others are
# stopped with their associations held, so each gets a turn about every 2 s): echoscu through the proxy echoes back to back at about 1,000
# C-ECHOs a second, so even a few left running would keep the two cores busy by themselves;
# then all echoscu run free and our associations send as fast as they can (a closed load: that figure is the
# capacity, and its latency the length of the queue). The C-ECHOs per second of each phase come from the proxy's
# metrics.
# Usage: tools/bench_load.sh [CONCURRENT [ECHOSCU [QUERIES [RATE]]]]   (defaults 500, 400, 5000, 200)
# Env: SCRATCH (swift build scratch path, default .build), PROXY_ARGS (extra proxy options, e.g. "--log-dir DIR").
set -euo pipefail
cd "$(dirname "$0")/.."
concurrent=${1:-500}
echoes=${2:-400}
queries=${3:-5000}
rate=${4:-200}
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
metrics_port=$(free_port)
# shellcheck disable=SC2086
"$bin/dicomtap" proxy --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$serve_port" ${PROXY_ARGS:-} \
  --metrics-listen "127.0.0.1:$metrics_port" \
  >"$work/proxy.out" 2>&1 &
proxy_pid=$!
pids+=($proxy_pid); disown $proxy_pid
wait_line "$work/proxy.out" 'listening on' >/dev/null

established() { ss -Htn state established "( dport = :$proxy_port )" | wc -l; }
echoes_done() {  # C-ECHO exchanges the proxy has seen end
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
    | awk '/^dicomtap_dimse_exchanges_total\{/ && /service="C-ECHO"/ { n += $NF } END { printf "%d", n }'
}
echo_rate() {  # $1 $2 = C-ECHOs done at the start and the end, $3 $4 = the times: prints the count and rate
  awk -v n=$(($2 - $1)) -v a="$3" -v b="$4" 'BEGIN { printf "  C-ECHOs meanwhile: %d (%.0f per s)\n", n, n / (b - a) }'
}
status_of() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$proxy_pid/status"; }

echo "== one association alone through the proxy: $queries C-FINDs"
"$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" 50 one PAT-0001 >/dev/null   # warm-up
echo "alone, closed: $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" "$queries" one PAT-0001)"
echo "alone, open ($rate queries/s offered): $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" "$queries" one PAT-0001 1 "$rate")"

echo "== $concurrent concurrent associations: $echoes DCMTK echoscu (each repeating C-ECHO) + $ours of ours ($queries C-FINDs)"
echo_pids=()
for i in $(seq "$echoes"); do
  /usr/bin/echoscu --repeat 100000 -aec ANY-SCP 127.0.0.1 "$proxy_port" >"$work/echo.$i.out" 2>&1 &
  echo_pids+=($!); pids+=($!)
done
for _ in $(seq 600); do (( $(established) >= echoes )) && break; sleep 0.1; done
echo "echoscu associations established through the proxy: $(established) of $echoes"
# Open load, echoscu taking turns.
for p in "${echo_pids[@]}"; do kill -STOP "$p" 2>/dev/null || true; done
$PY - "${echo_pids[@]}" <<'TURNS' &
import os, signal, sys, time
pids = [int(p) for p in sys.argv[1:]]
turn = 0
while pids:
    pid = pids[turn % len(pids)]
    turn += 1
    try:
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.001)
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    time.sleep(0.004)
TURNS
turns=$!
pids+=($turns)
e0=$(echoes_done); t0=$(date +%s.%N)
echo "under load, open ($rate queries/s offered): $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" "$queries" one PAT-0001 "$ours" "$rate")"
e1=$(echoes_done); t1=$(date +%s.%N)
kill "$turns" 2>/dev/null || true; wait "$turns" 2>/dev/null || true
for p in "${echo_pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
echo_rate "$e0" "$e1" "$t0" "$t1"
echo "echoscu associations still established: $(established) of $echoes"
# Closed load, every echoscu running free.
e0=$(echoes_done); t0=$(date +%s.%N)
echo "under load, closed (capacity): $("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" "$queries" one PAT-0001 "$ours")"
e1=$(echoes_done); t1=$(date +%s.%N)
echo_rate "$e0" "$e1" "$t0" "$t1"
echo "connections to the proxy at the end of the load: $(established) (echoscu still running: $(for p in "${echo_pids[@]}"; do kill -0 "$p" 2>/dev/null && echo; done | wc -l))"
echo "proxy: peak RSS $(( $(status_of VmHWM | tr -d ' kB') / 1024 )) MB, open file descriptors $(ls "/proc/$proxy_pid/fd" | wc -l)"
# echoscu killed by us, not failed: whatever it printed beside its C-ECHOs is a failure to look at.
for p in "${echo_pids[@]}"; do kill "$p" 2>/dev/null || true; done
sleep 1
failed=$(grep -l -i -E "error|fail|reject|abort" "$work"/echo.*.out 2>/dev/null | wc -l || true)
echo "echoscu processes that reported an error before being stopped: $failed of $echoes"
