#!/usr/bin/env bash
# Throughput and peak memory of `dicomtap analyze`, beside tshark's DICOM dissector and a bare libpcap read of
# the same files, on three captures made by tools/make_big_capture.py from real pynetdicom/DCMTK streams:
#   mixed  MB megabytes, many associations, C-FIND and C-STORE mixed;
#   query  MB megabytes of C-FIND associations only;
#   study  one association carrying STUDY C-STOREs of an 8 MB image (a whole study: memory must not grow with it);
#   matches  one C-FIND answered by MATCHES pending responses (default 1000000: an exchange keeps at most
#            --max-kept-responses of them, so memory must not grow with them either).
# Usage: tools/bench_analyze.sh [MB [STUDY]]   (defaults 500, 125; SKIP_TSHARK=1 leaves tshark out; TSHARK_DETAIL=1
# adds tshark -V and -T json, the detail our text and JSON carry; ONLY=mixed|query|study|matches runs one capture)
# Output goes to /dev/null for every tool; "cpu" is user + system time over all threads.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-500}
study=${2:-125}
mkdir -p bench-data
swift build -c release --product dicomtap >/dev/null

# A bare libpcap read: pcap_next_ex over every packet, nothing else.
cat > bench-data/pcapread.c <<'C'
#include <pcap/pcap.h>
#include <stdio.h>
int main(int argc, char **argv) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) { fprintf(stderr, "%s\n", err); return 1; }
    struct pcap_pkthdr *h; const u_char *d; long n = 0, bytes = 0; int r;
    while ((r = pcap_next_ex(p, &h, &d)) == 1) { n++; bytes += h->caplen; }
    printf("%ld packets, %ld bytes\n", n, bytes);
    pcap_close(p);
    return 0;
}
C
gcc -O2 -o bench-data/pcapread bench-data/pcapread.c -lpcap

secs_of=()
run() {  # $1 = label, then the command; prints a line and remembers the wall time in $last_secs
  local label=$1; shift
  local out
  /usr/bin/time -o bench-data/time.txt -f "%e %U %S %M" "$@" >/dev/null 2>&1 || true
  out=$(tail -1 bench-data/time.txt)
  read -r secs user sys rss <<<"$out"
  last_secs=$secs
  # Wall time, and CPU time (user + system): on a shared machine the CPU time is the steadier figure.
  tools/python -c "s=float('$secs'); c=float('$user')+float('$sys'); print(f'%-48s %7.2f s  %6.0f MB/s  cpu %7.2f s  peak RSS %7.1f MB' % ('$label', s, $size/1e6/max(s,1e-3), c, $rss/1024))"
}
ratio() { tools/python -c "print(f'{float(\"$1\") / max(float(\"$2\"), 1e-3):.1f}x')"; }

bench() {  # $1 = name, $2 = file
  local name=$1 file=$2 cpus summary json tshark_secs
  size=$(stat -c %s "$file")
  cpus=$(nproc)
  echo
  echo "== $name: $file ($(( size / 1000000 )) MB)"
  run "bare libpcap read (pcap_next_ex loop, C)" bench-data/pcapread "$file"
  # Default: one observing thread per CPU beside the reading thread; --threads 1: everything on one thread.
  run "dicomtap analyze --summary --threads 1" .build/release/dicomtap analyze --summary --threads 1 "$file"
  run "dicomtap analyze --summary ($cpus threads)" .build/release/dicomtap analyze --summary "$file"
  summary=$last_secs
  run "dicomtap analyze (text) --threads 1" .build/release/dicomtap analyze --threads 1 "$file"
  run "dicomtap analyze (text, $cpus threads)" .build/release/dicomtap analyze "$file"
  run "dicomtap analyze --format json --threads 1" .build/release/dicomtap analyze --format json --threads 1 "$file"
  run "dicomtap analyze --format json ($cpus threads)" .build/release/dicomtap analyze --format json "$file"
  json=$last_secs
  if [[ ${SKIP_TSHARK:-0} != 1 ]]; then
    run "tshark -r FILE -d tcp.port==11112,dicom -Y dicom" tshark -r "$file" -d tcp.port==11112,dicom -Y dicom
    tshark_secs=$last_secs
    echo "  against tshark -Y dicom: --summary $(ratio "$tshark_secs" "$summary") faster, --format json $(ratio "$tshark_secs" "$json") faster"
    # The same dissection with as much detail as our text and JSON (slow: minutes on 500 MB).
    if [[ ${TSHARK_DETAIL:-0} == 1 ]]; then
      run "tshark ... -Y dicom -V (every field, as text)" tshark -r "$file" -d tcp.port==11112,dicom -Y dicom -V
      run "tshark ... -Y dicom -T json" tshark -r "$file" -d tcp.port==11112,dicom -Y dicom -T json
    fi
  fi
}

mixed=bench-data/big-${mb}mb.pcap
query=bench-data/query-${mb}mb.pcap
studyfile=bench-data/study-${study}x8mb.pcap
matches=${MATCHES:-1000000}
matchesfile=bench-data/find-${matches}-matches.pcap
if [[ -z ${ONLY:-} || ${ONLY:-} == mixed ]]; then
  [[ -f $mixed ]] || tools/python tools/make_big_capture.py "$mixed" --mb "$mb"
  bench mixed "$mixed"
fi
if [[ -z ${ONLY:-} || ${ONLY:-} == query ]]; then
  [[ -f $query ]] || tools/python tools/make_big_capture.py "$query" --mb "$mb" --queries-only
  bench query "$query"
fi
if [[ -z ${ONLY:-} || ${ONLY:-} == study ]]; then
  [[ -f $studyfile ]] || tools/python tools/make_big_capture.py "$studyfile" --study "$study" --image-mb 8
  bench study "$studyfile"
fi
if [[ -z ${ONLY:-} || ${ONLY:-} == matches ]]; then
  [[ -f $matchesfile ]] || tools/python tools/make_big_capture.py "$matchesfile" --find-matches "$matches"
  bench matches "$matchesfile"
fi
