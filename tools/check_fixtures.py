#!/usr/bin/env python3
"""Sanity check for Tests/DICOMCoreTests/Fixtures/datasets (see make_fixtures.py).

Re-reads every fixture listed in manifest.json with pydicom and asserts that
  * the file is Part 10 (128-byte preamble + b"DICM") and its TransferSyntaxUID
    matches the manifest,
  * pydicom's to_json_dict of the body / file meta equals NAME.json /
    NAME.meta.json,
  * every file in the directory belongs to a manifest entry,
  * deflated fixtures really are raw-deflated after the file meta.
With --dcmdump, also runs `dcmdump +E` (DCMTK) on each file if it is installed
and reports any error output.

    python3 tools/check_fixtures.py [--dcmdump]
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pydicom

REPO = Path(__file__).resolve().parent.parent
DIR = REPO / "Tests" / "DICOMCoreTests" / "Fixtures" / "datasets"
THRESHOLD = 1 << 30
DEFLATED = "1.2.840.10008.1.2.1.99"


def main() -> int:
    use_dcmdump = "--dcmdump" in sys.argv[1:]
    dcmdump = shutil.which("dcmdump") if use_dcmdump else None
    manifest = json.loads((DIR / "manifest.json").read_text())
    failures: list[str] = []
    expected_files = {"manifest.json"}
    for entry in manifest:
        name, ts = entry["name"], entry["transferSyntax"]
        for suffix in (".dcm", ".json", ".meta.json"):
            expected_files.add(name + suffix)
        path = DIR / f"{name}.dcm"
        raw = path.read_bytes()
        if raw[128:132] != b"DICM" or raw[:128] != b"\x00" * 128:
            failures.append(f"{name}: not a Part 10 file")
        ds = pydicom.dcmread(path)
        if ds.file_meta.TransferSyntaxUID != ts:
            failures.append(f"{name}: TS {ds.file_meta.TransferSyntaxUID} != manifest {ts}")
        body = ds.to_json_dict(bulk_data_threshold=THRESHOLD)
        meta = ds.file_meta.to_json_dict(bulk_data_threshold=THRESHOLD)
        # compare through a JSON round trip (same types as the stored files)
        if json.loads(json.dumps(body)) != json.loads((DIR / f"{name}.json").read_text()):
            failures.append(f"{name}: body JSON differs")
        if json.loads(json.dumps(meta)) != json.loads((DIR / f"{name}.meta.json").read_text()):
            failures.append(f"{name}: meta JSON differs")
        if ts == DEFLATED:
            (glen,) = struct.unpack("<L", raw[140:144])
            stored = raw[144 + glen:]
            dobj = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                inflated = dobj.decompress(stored)
            except zlib.error as exc:
                failures.append(f"{name}: body is not raw deflate: {exc}")
            else:
                # complete deflate stream, followed by at most one pad byte
                if not dobj.eof or len(dobj.unused_data) > 1 or not inflated:
                    failures.append(f"{name}: suspicious deflated body")
        if len(raw) > 20_000:
            failures.append(f"{name}: {len(raw)} bytes (> 20 KB)")
        if dcmdump:
            proc = subprocess.run([dcmdump, "+E", str(path)], capture_output=True, text=True,
                                  errors="replace")
            errs = [l for l in proc.stderr.splitlines() if not l.startswith("W: ")]
            if proc.returncode != 0 or errs:
                failures.append(f"{name}: dcmdump rc={proc.returncode}: {' | '.join(errs[:3])}")
    extra = sorted(p.name for p in DIR.iterdir())
    extra = [n for n in extra if n not in expected_files]
    if extra:
        failures.append(f"files not in manifest: {extra}")
    for f in failures:
        print("FAIL", f)
    print(f"checked {len(manifest)} fixtures"
          + (" (+ dcmdump)" if dcmdump else (" (dcmdump not found)" if use_dcmdump else ""))
          + f": {'OK' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
