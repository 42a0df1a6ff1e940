#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser (libFuzzer + AddressSanitizer), issue 20.
#   tools/fuzz.sh --list                   the harnesses and what each checks
#   tools/fuzz.sh SECONDS [HARNESS...]     build, then fuzz each harness (default: all) for SECONDS
#   tools/fuzz.sh --replay [HARNESS...]    build, then run each harness once over its seeds and the
#                                          committed regressions (deterministic: no new inputs; for CI)
# Exits non-zero on any crash, leak, timeout, out-of-memory or oracle failure, printing the
# reproducer's path; replay one with
#   DICOMTAP_FUZZ_HARNESS=NAME .build-fuzz/debug/dicomtap-fuzz PATH
# Built in .build-fuzz with DICOMTAP_FUZZ=1 (Package.swift declares the fuzz target only then).
# Corpora grow in .build-fuzz/fuzz/HARNESS/corpus (kept between runs); seeds are made afresh from
# captures/, the test fixtures and tools/rewrite-annex-e.yaml; Fuzz/Regressions/HARNESS holds the
# inputs of fixed findings.
set -euo pipefail
cd "$(dirname "$0")/.."

harnesses=(dataset stream capture rewrite rules statemachine)
# Longest input per harness (a harness's cost grows with its input; the rules seed is a 94 KB profile).
declare -A max_len=([dataset]=16384 [stream]=65536 [capture]=65536 [rewrite]=16384 [rules]=131072 [statemachine]=4096)
declare -A summary=(
  [dataset]="data set decoder (implicit LE, explicit LE, explicit BE, deflated): decoded => re-encodes byte-exact (inflated bytes for deflated); pieces decode the same"
  [stream]="PDU framing + association observer, two directions in chunks: PDUs re-encode to equal PDUs; findings/open requests within their limits"
  [capture]="pcap/pcapng reader, link layers, IP, TCP reassembly, observer: no crash, limits kept, nothing left open"
  [rewrite]="rewriter with the Basic Profile: every de-identified value marked; no marker in the output (inflated)"
  [rules]="rewrite-rules YAML loader, profile options, rewriter set-up: no crash"
  [statemachine]="UL state machine, random events: transitions and actions as PS3.8 Tables 9-6 to 9-10; ARTIM in Sta2/Sta13 only"
)

if [[ "${1:-}" == "--list" ]]; then
  for h in "${harnesses[@]}"; do printf '%-13s %s\n' "$h" "${summary[$h]}"; done
  exit 0
fi
if [[ $# -lt 1 ]]; then
  echo "usage: tools/fuzz.sh --list | SECONDS [HARNESS...] | --replay [HARNESS...]" >&2
  exit 2
fi
mode=$1
shift
if [[ "$mode" != "--replay" && ! "$mode" =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: SECONDS must be a whole number, or --list / --replay" >&2
  exit 2
fi
selected=("$@")
((${#selected[@]})) || selected=("${harnesses[@]}")
for h in "${selected[@]}"; do
  [[ -n "${summary[$h]:-}" ]] || { echo "fuzz.sh: no harness '$h' (tools/fuzz.sh --list)" >&2; exit 2; }
done

start=$(date +%s)
echo "fuzz.sh: building the harnesses in .build-fuzz"
set +e
DICOMTAP_FUZZ=1 swift build --scratch-path .build-fuzz -c debug --product dicomtap-fuzz 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]'
build_status=${PIPESTATUS[0]}
set -e
# A failed build must not leave an older harness to run (a harness that no longer compiles would pass unseen).
((build_status == 0)) || { echo "fuzz.sh: the build failed (exit $build_status)" >&2; exit 1; }
bin="$(DICOMTAP_FUZZ=1 swift build --scratch-path .build-fuzz -c debug --show-bin-path)/dicomtap-fuzz"
[[ -x "$bin" ]] || { echo "fuzz.sh: the build failed" >&2; exit 1; }
echo "fuzz.sh: built in $(( $(date +%s) - start )) s"

tmp=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && tmp=/dev/shm
export TMPDIR=$tmp
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
failed=0
for h in "${selected[@]}"; do
  dir=.build-fuzz/fuzz/$h
  rm -rf "$dir/seeds"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  DICOMTAP_FUZZ_HARNESS=$h DICOMTAP_FUZZ_SEEDS="$dir/seeds" "$bin" >/dev/null
  inputs=("$dir/seeds")
  [[ -d Fuzz/Regressions/$h ]] && inputs+=("Fuzz/Regressions/$h")
  log=$dir/log
  if [[ "$mode" == "--replay" ]]; then
    args=(-runs=0 -print_final_stats=1)
    corpora=("${inputs[@]}")
  else
    args=(-max_total_time="$mode" -print_final_stats=1)
    corpora=("$dir/corpus" "${inputs[@]}")
  fi
  before=$(ls "$dir/artifacts" | wc -l)
  set +e
  DICOMTAP_FUZZ_HARNESS=$h "$bin" "${args[@]}" -timeout=20 -rss_limit_mb=2048 -max_len="${max_len[$h]}" \
    -artifact_prefix="$dir/artifacts/" "${corpora[@]}" >"$log" 2>&1
  status=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+.*(cov|ft):' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  corpus=$(ls "$dir/corpus" | wc -l)
  if ((status == 0)); then
    if [[ "$mode" == "--replay" ]]; then
      printf 'fuzz.sh: %-13s ok     %s inputs replayed, cov %s, ft %s\n' "$h" "${execs:-?}" "${cov:-?}" "${ft:-?}"
    else
      printf 'fuzz.sh: %-13s ok     %s runs, %s exec/s, cov %s, ft %s, corpus %s\n' "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus"
    fi
  else
    failed=1
    printf 'fuzz.sh: %-13s FAILED (exit %s), log %s\n' "$h" "$status" "$log"
    grep -E 'ORACLE FAILURE|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|Fatal error|SUMMARY' "$log" | head -5 | sed 's/^/    /'
    if (( $(ls "$dir/artifacts" | wc -l) > before )); then
      for f in $(ls -t "$dir/artifacts" | head -$(( $(ls "$dir/artifacts" | wc -l) - before ))); do
        echo "    reproducer: $dir/artifacts/$f   (DICOMTAP_FUZZ_HARNESS=$h $bin $dir/artifacts/$f)"
      done
    else
      grep -E 'Test unit written to|Running: ' "$log" | tail -2 | sed 's/^/    /'
    fi
  fi
done
echo "fuzz.sh: done in $(( $(date +%s) - start )) s"
exit $failed
