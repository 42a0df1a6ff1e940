#!/usr/bin/env bash
# Parse throughput on a ~50 MB dataset: dicomtap (release build) beside pydicom 3.0.2 and
# DCMTK's dcmdump on the same file. Usage: tools/bench_parse.sh [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-50}
file=bench-data/bench-${mb}mb.dcm
mkdir -p bench-data
[[ -f $file ]] || tools/python tools/make_bench_dataset.py "$file" --mb "$mb"
swift build -c release --product dicomtap-bench >/dev/null
swift build -c release --product dicomtap >/dev/null
size=$(stat -c %s "$file")
echo "file: $file ($size bytes)"
.build/release/dicomtap-bench "$file" 5

tools/python - "$file" <<'PY'
import os, subprocess, sys, time
import pydicom
path = sys.argv[1]
size = os.path.getsize(path) / 1e6

def best_of(n, fn):
    best = 1e9
    for _ in range(n):
        t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
    return best

def line(who, secs, extra=""):
    print(f"{who}: {size:.1f} MB in {secs:.3f} s = {size/secs:.0f} MB/s{extra}")

# pydicom defers value conversion: dcmread alone reads the headers; iterall converts every element.
line(f"pydicom {pydicom.__version__} dcmread (values deferred)", best_of(3, lambda: pydicom.dcmread(path)), " (best of 3)")
line(f"pydicom {pydicom.__version__} dcmread + iterall (every element)",
     best_of(1, lambda: sum(1 for _ in pydicom.dcmread(path).iterall())), " (1 run)")
if os.path.exists("/usr/bin/dcmconv"):
    out = path + ".dcmconv.dcm"
    line("DCMTK dcmconv (decode + encode, like our decode + encode)",
         best_of(3, lambda: subprocess.run(["/usr/bin/dcmconv", path, out], check=True)), " (best of 3)")
    os.remove(out)
if os.path.exists("/usr/bin/dcmdump"):
    line("DCMTK dcmdump > /dev/null",
         best_of(3, lambda: subprocess.run(["/usr/bin/dcmdump", "-q", path], stdout=subprocess.DEVNULL, check=True)),
         " (best of 3)")
line("dicomtap dump > /dev/null",
     best_of(3, lambda: subprocess.run([".build/release/dicomtap", "dump", path], stdout=subprocess.DEVNULL, check=True)),
     " (best of 3)")
PY
