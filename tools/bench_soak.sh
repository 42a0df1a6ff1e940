#!/usr/bin/env bash
# Soak (issue 19): EXCHANGES C-FINDs through `dicomtap proxy --log-dir DIR --pseudonymize PatientID` to
# `dicomtap serve`, in ROUNDS rounds, each on ASSOCIATIONS concurrent associations of our SCU (dicomtap-bench
# rpi-load; new associations every round). After each round: the proxy's RSS, peak RSS, open file descriptors,
# the size of the log folder, and any error it printed. Memory and descriptors must stay flat.
# Usage: tools/bench_soak.sh [EXCHANGES [ROUNDS [ASSOCIATIONS]]]   (defaults 1000000, 20, 10)
# Env: SCRATCH (swift build scratch path, default .build); KEEP_WORK=1 keeps the logs. The log folder is rotated
# after each round (a site rotates it; the soak measures the proxy, not the disk).
set -euo pipefail
cd "$(dirname "$0")/.."
exchanges=${1:-1000000}
rounds=${2:-20}
associations=${3:-10}
per_round=$(( exchanges / rounds ))
PY=tools/python
scratch=${SCRATCH:-.build}
swift build -c release --scratch-path "$scratch" --product dicomtap >/dev/null
swift build -c release --scratch-path "$scratch" --product dicomtap-bench >/dev/null
bin=$scratch/release

BENCH=bench_soak
source tools/bench_lib.sh

head -c 32 /dev/urandom >"$work/key"
chmod 600 "$work/key"
# The archive holds the patient under the pseudonym the proxy sends for PAT-0001 (as a site prepares its data
# with `dicomtap pseudonym`), so that every query has its one match, mapped back by the proxy.
pseudonym=$("$bin/dicomtap" pseudonym --key-file "$work/key" PAT-0001)
sed "s/\"PAT-0001\"/\"$pseudonym\"/" demo/patients.json >"$work/patients.json"
"$bin/dicomtap" serve --port 0 --host 127.0.0.1 --db "$work/rpi.sqlite" --import "$work/patients.json" >"$work/serve.out" 2>&1 &
pids+=($!); disown $!
serve_port=$(wait_line "$work/serve.out" '^listening on' | sed -E 's/^listening on [^:]+:([0-9]+).*/\1/')
proxy_port=$(free_port)
"$bin/dicomtap" proxy --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$serve_port" --log-dir "$work/logs" \
  --pseudonymize PatientID --key-file "$work/key" --mapping-store "$work/map.sqlite" --allow BENCH@127.0.0.1 \
  >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
pids+=($proxy_pid); disown $proxy_pid
wait_line "$work/proxy.out" 'listening on' >/dev/null

kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$proxy_pid/status"; }
report() {
  printf '%-12s %9s exchanges  RSS %6.1f MB  peak %6.1f MB  fds %4d  logs %6s  errors %d\n' "$1" "$2" \
    "$(echo "$(kb VmRSS) / 1024" | bc -l)" "$(echo "$(kb VmHWM) / 1024" | bc -l)" "$(ls "/proc/$proxy_pid/fd" | wc -l)" \
    "$(du -sh "$work/logs" 2>/dev/null | cut -f1)" "$(grep -c -i -E 'error|fail' "$work/proxy.err" || true)"
}
report start 0
done_count=0
for round in $(seq "$rounds"); do
  out=$("$bin/dicomtap-bench" rpi-load 127.0.0.1 "$proxy_port" "$per_round" one PAT-0001 "$associations")
  [[ $out == *" 0 associations failed"* ]] || { echo "round $round: $out"; exit 1; }
  done_count=$(( done_count + per_round ))
  report "round $round" "$done_count"
  # Rotated as examples/dicomtap-proxy.logrotate does: events.jsonl truncated in place (copytruncate: the proxy
  # keeps it open), the per-association logs and pages removed.
  if [[ -z ${KEEP_WORK:-} ]]; then
    find "$work/logs" -type f ! -name events.jsonl -delete
    : >"$work/logs/events.jsonl"
  fi
done
echo "last round: $out"
