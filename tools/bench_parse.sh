#!/usr/bin/env bash
# Parse throughput on a ~50 MB dataset: dicomtap (release build) beside pydicom 3.0.2 and
# DCMTK's dcmdump on the same file. Usage: tools/bench_parse.sh [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-50}
file=bench-data/bench-${mb}mb.dcm
mkdir -p bench-data
[[ -f $file ]] || python3 tools/make_bench_dataset.py "$file" --mb "$mb"
swift build -c release --product dicomtap-bench >/dev/null
size=$(stat -c %s "$file")
echo "file: $file ($size bytes)"
.build/release/dicomtap-bench "$file" 5

python3 - "$file" <<'PY'
import sys, time, pydicom
path = sys.argv[1]
size = len(open(path, 'rb').read()) / 1e6
def full_parse(ds):
    n = 0
    for elem in ds.iterall():   # forces every raw element to be converted
        n += 1
    return n
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    ds = pydicom.dcmread(path)
    n = full_parse(ds)
    best = min(best, time.perf_counter() - t)
print(f"pydicom {pydicom.__version__} dcmread + iterall: {size:.1f} MB in {best:.3f} s = {size/best:.0f} MB/s ({n} elements, best of 3)")
PY

if [[ -x /usr/bin/dcmdump ]]; then
  python3 - "$file" <<'PY'
import os, subprocess, sys, time
path = sys.argv[1]
size = os.path.getsize(path) / 1e6
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    subprocess.run(["/usr/bin/dcmdump", "-q", path], stdout=subprocess.DEVNULL, check=True)
    best = min(best, time.perf_counter() - t)
print(f"DCMTK dcmdump (parse + text dump to /dev/null): {size:.1f} MB in {best:.3f} s = {size/best:.0f} MB/s (best of 3)")
PY
fi
