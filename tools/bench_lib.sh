# Shared by tools/bench_*.sh (sourced): a work directory removed at exit, background processes stopped by PID,
# and waiting helpers. Needs PY (a python3) and BENCH (the script's name, for messages) set before sourcing.
work=$(mktemp -d "/tmp/$BENCH.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_line() {  # the first line of file $1 matching $2, 20 s at most
  for _ in $(seq 200); do
    grep -m1 "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$BENCH: nothing matching '$2' in $1" >&2; cat "$1" >&2; exit 1
}
