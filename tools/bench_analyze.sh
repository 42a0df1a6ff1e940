#!/usr/bin/env bash
# Throughput and peak memory of `dicomtap analyze` on a large capture (default 500 MB, many
# associations, C-FIND and C-STORE mixed; made by tools/make_big_capture.py from real
# pynetdicom/DCMTK streams), beside tshark's DICOM dissector and a bare libpcap read of the
# same file. Usage: tools/bench_analyze.sh [MB]   (SKIP_TSHARK=1 leaves tshark out; TSHARK_DETAIL=1 adds
# tshark -V and -T json, the detail our text and JSON carry)
# Output goes to /dev/null for every tool; "cpu" is user + system time over all threads.
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-500}
file=bench-data/big-${mb}mb.pcap
mkdir -p bench-data
[[ -f $file ]] || tools/python tools/make_big_capture.py "$file" --mb "$mb"
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

size=$(stat -c %s "$file")
echo "file: $file ($size bytes)"
run() {
  local label=$1; shift
  local out
  /usr/bin/time -o bench-data/time.txt -f "%e %U %S %M" "$@" >/dev/null 2>&1 || true
  out=$(tail -1 bench-data/time.txt)
  read -r secs user sys rss <<<"$out"
  # Wall time, and CPU time (user + system): on a shared machine the CPU time is the steadier figure.
  tools/python -c "s=float('$secs'); c=float('$user')+float('$sys'); print(f'%-44s %7.2f s  %6.0f MB/s  cpu %7.2f s  peak RSS %7.1f MB' % ('$label', s, $size/1e6/max(s,1e-3), c, $rss/1024))"
}
run "bare libpcap read (pcap_next_ex loop, C)" bench-data/pcapread "$file"
cpus=$(nproc)
# Default: one observing thread per CPU beside the reading thread; --threads 1: everything on one thread.
run "dicomtap analyze --summary --threads 1" .build/release/dicomtap analyze --summary --threads 1 "$file"
run "dicomtap analyze --summary ($cpus threads)" .build/release/dicomtap analyze --summary "$file"
run "dicomtap analyze (text) --threads 1" .build/release/dicomtap analyze --threads 1 "$file"
run "dicomtap analyze (text, $cpus threads)" .build/release/dicomtap analyze "$file"
run "dicomtap analyze --format json --threads 1" .build/release/dicomtap analyze --format json --threads 1 "$file"
run "dicomtap analyze --format json ($cpus threads)" .build/release/dicomtap analyze --format json "$file"
if [[ ${SKIP_TSHARK:-0} != 1 ]]; then
  run "tshark -r FILE -d tcp.port==11112,dicom -Y dicom" tshark -r "$file" -d tcp.port==11112,dicom -Y dicom
  # The same dissection with as much detail as our text and JSON (slow: minutes on 500 MB).
  if [[ ${TSHARK_DETAIL:-0} == 1 ]]; then
    run "tshark ... -Y dicom -V (every field, as text)" tshark -r "$file" -d tcp.port==11112,dicom -Y dicom -V
    run "tshark ... -Y dicom -T json" tshark -r "$file" -d tcp.port==11112,dicom -Y dicom -T json
  fi
fi
