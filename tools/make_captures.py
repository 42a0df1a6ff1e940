#!/usr/bin/env python3
"""Record sample packet captures of real DICOM peers for `dicomtap analyze`.

Run from the repository root (rewrites every capture and the manifest):

    python3 tools/make_captures.py [--only NAME ...] [--keep-work DIR] [--no-netns]

Output, in captures/:

  *.pcapng / *.pcap   one capture per scenario (names in SCENARIOS and DERIVED below)
  manifest.json       per capture: what it contains, the peers and their versions, the
                      DICOM port(s), the link type, the packet count, the facts a test can
                      assert (associations, exchanges, findings) and tshark's view

How a capture is recorded
-------------------------
The script first re-executes itself in a private network namespace (`unshare -n`, loopback
brought up with `ip link set lo up`): nothing else on the machine can appear in a capture or
take a port, the fixed ports (11112, 4242) are always free, and the DCMTK acceptors, which
cannot bind to one address, listen on that namespace's loopback only. `--no-netns` (or an
`unshare` that fails) records on the host's loopback instead; ports are then checked first.

Each scenario then runs

    dumpcap -i lo -w FILE -f "tcp port P" -q

(started under `timeout`, polled until the file has its section header and interface
description, plus 0.5 s), runs the peers (pynetdicom 3.0.4 AEs in this process, DCMTK 3.6.7
tools by full path as subprocesses under `timeout`), waits 0.5 s and stops dumpcap with SIGINT
by PID. Every process started here is stopped by PID in a `finally`.

Verification
------------
Every capture is read back twice: by `tshark` (PDU types and DIMSE commands it decodes, stored
in the manifest as tshark's view) and by the reference reader in this file, which is
independent of pynetdicom: a pcap/pcapng reader, Ethernet/802.1Q/SLL/BSD-null, IPv4/IPv6 and
TCP decoding, per-direction reassembly by sequence number (retransmissions and reordering
tolerated, gaps reported), PDU framing from PS3.8 9.3 and DIMSE command sets decoded with
pydicom. Its facts must equal what each scenario declares, or the scenario is recorded again
(up to three attempts) and the script fails.

Derived captures are written by this file's own pcap/pcapng writer from the packets of a
recorded capture (see DERIVED): reordered, lost_segment, truncated, snaplen, vlan, sll, null,
mid_stream. no_dicom is recorded (python http.server and urllib on loopback).

Timing, ephemeral client ports, TCP segmentation and implementation UIDs vary between runs;
every value this script chooses (AE titles, identifiers, UIDs of the stored datasets) is fixed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import re
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "captures"
NETNS_ENV = "DICOMTAP_CAPTURE_NETNS"

LOCAL = "127.0.0.1"
LOCAL6 = "::1"

ECHOSCU = "/usr/bin/echoscu"
FINDSCU = "/usr/bin/findscu"
STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"
MOVESCU = "/usr/bin/movescu"
DCMQRSCP = "/usr/bin/dcmqrscp"
DUMPCAP = "dumpcap"
TSHARK = "tshark"

PDU_NAMES = {1: "A-ASSOCIATE-RQ", 2: "A-ASSOCIATE-AC", 3: "A-ASSOCIATE-RJ", 4: "P-DATA-TF",
             5: "A-RELEASE-RQ", 6: "A-RELEASE-RP", 7: "A-ABORT"}

COMMANDS = {0x0001: ("C-STORE", "RQ"), 0x8001: ("C-STORE", "RSP"),
            0x0010: ("C-GET", "RQ"), 0x8010: ("C-GET", "RSP"),
            0x0020: ("C-FIND", "RQ"), 0x8020: ("C-FIND", "RSP"),
            0x0021: ("C-MOVE", "RQ"), 0x8021: ("C-MOVE", "RSP"),
            0x0030: ("C-ECHO", "RQ"), 0x8030: ("C-ECHO", "RSP"),
            0x0FFF: ("C-CANCEL", "RQ")}

TS_NAMES = {"1.2.840.10008.1.2": "Implicit VR Little Endian",
            "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
            "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
            "1.2.840.10008.1.2.2": "Explicit VR Big Endian"}

LINKTYPES = {0: "NULL", 1: "EN10MB", 113: "LINUX_SLL"}


def log(msg: str) -> None:
    print(msg, flush=True)


# =============================================================================
# Part 1. Processes: dumpcap, DCMTK tools
# =============================================================================

def tool_version(args: list[str]) -> str:
    try:
        p = subprocess.run(["timeout", "10", *args], capture_output=True, timeout=20)
        return (p.stdout + p.stderr).decode("utf-8", "replace").strip().splitlines()[0]
    except Exception as e:  # pragma: no cover - informational only
        return f"unknown ({e})"


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 10.0) -> None:
    """Stop one process we started, by its PID: `sig`, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def dumpcap(path: Path, capture_filter: str, work: Path):
    """dumpcap on lo, ready when the file holds its SHB and IDB; stopped with SIGINT."""
    if path.exists():
        path.unlink()
    logf = open(work / f"dumpcap-{path.stem}.log", "wb")
    # `timeout` forwards SIGINT/SIGTERM to dumpcap.
    proc = subprocess.Popen(["timeout", "-k", "5", "300", DUMPCAP, "-i", "lo", "-w", str(path),
                             "-f", capture_filter, "-q"], stdout=logf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dumpcap exited early (rc {proc.returncode}), see {logf.name}")
            if path.exists() and path.stat().st_size >= 64 and pcapng_has_idb(path):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("dumpcap did not start capturing within 20 s")
        time.sleep(0.5)
        yield proc
        time.sleep(0.5)
    finally:
        stop_process(proc, signal.SIGINT, wait=15)
        logf.close()
        if path.exists():
            path.chmod(0o644)  # dumpcap creates 0600


def pcapng_has_idb(path: Path) -> bool:
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"\x0a\x0d\x0d\x0a":
        return False
    shb_len = struct.unpack_from("<I", data, 4)[0]
    return len(data) >= shb_len + 8 and struct.unpack_from("<I", data, shb_len)[0] == 1


def listening(port: int) -> bool:
    """True when some socket listens on `port` (read from /proc, sends no packet)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_listening(port: int, proc: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"acceptor exited early with {proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def background(args: list[str], work: Path, log_name: str, timeout: int = 300):
    logf = open(work / log_name, "wb")
    proc = subprocess.Popen(["timeout", "-k", "5", str(timeout), *args], stdout=logf,
                            stderr=subprocess.STDOUT, cwd=work)
    try:
        yield proc
    finally:
        stop_process(proc, signal.SIGTERM)
        logf.close()


def run_tool(args: list[str], work: Path, log_name: str, timeout: int = 60,
             expect_rc: int | None = 0) -> subprocess.CompletedProcess:
    p = subprocess.run(["timeout", "-k", "5", str(timeout), *args], capture_output=True,
                       timeout=timeout + 15, cwd=work)
    with open(work / log_name, "ab") as f:
        f.write(b"$ " + " ".join(args).encode() + b"\n" + p.stdout + p.stderr)
    if expect_rc is not None and p.returncode != expect_rc:
        raise RuntimeError(f"{args[0]} exited with {p.returncode}:\n"
                           + (p.stdout + p.stderr).decode("utf-8", "replace")[-2000:])
    return p


def free_port(preferred: int) -> int:
    """`preferred` when nothing listens there (always so in the private namespace)."""
    if not listening(preferred):
        return preferred
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


# =============================================================================
# Part 2. pcap / pcapng reading and writing
# =============================================================================

@dataclass
class Record:
    ts_ns: int
    data: bytes
    orig_len: int
    linktype: int


@dataclass
class CaptureFile:
    fmt: str                  # "pcapng" or "pcap"
    records: list[Record]
    linktype: int
    snaplen: int
    truncated: str | None = None   # why reading stopped early, if it did
    raw_blocks: list[tuple[int, bytes]] = field(default_factory=list)  # pcapng: (type, block)


def read_capture(path: Path) -> CaptureFile:
    data = path.read_bytes()
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(data)
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        return _read_pcap(data)
    raise ValueError(f"{path}: not a pcap or pcapng file")


def _read_pcap(data: bytes) -> CaptureFile:
    magic = struct.unpack_from("<I", data, 0)[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = struct.unpack_from(e + "I", data, 0)[0] == 0xA1B23C4D
    _, _, _, _, _, snaplen, linktype = struct.unpack_from(e + "IHHiIII", data, 0)
    records, off, trunc = [], 24, None
    while off < len(data):
        if off + 16 > len(data):
            trunc = f"record header cut at byte {off}"
            break
        sec, frac, incl, orig = struct.unpack_from(e + "IIII", data, off)
        if off + 16 + incl > len(data):
            trunc = f"record data cut at byte {off}"
            break
        ts = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        records.append(Record(ts, data[off + 16: off + 16 + incl], orig, linktype & 0xFFFF))
        off += 16 + incl
    return CaptureFile("pcap", records, linktype & 0xFFFF, snaplen, trunc)


def _read_pcapng(data: bytes) -> CaptureFile:
    records: list[Record] = []
    blocks: list[tuple[int, bytes]] = []
    interfaces: list[tuple[int, int, int]] = []  # (linktype, snaplen, ts units per second)
    e = "<"
    off, trunc = 0, None
    while off < len(data):
        if off + 12 > len(data):
            trunc = f"block header cut at byte {off}"
            break
        btype = struct.unpack_from("<I", data, off)[0]
        if btype == 0x0A0D0D0A:
            e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        blen = struct.unpack_from(e + "I", data, off + 4)[0]
        if blen < 12 or off + blen > len(data):
            trunc = f"block of type {btype:#x} at byte {off} needs {blen} bytes, {len(data) - off} left"
            break
        body = data[off + 8: off + blen - 4]
        blocks.append((btype, data[off:off + blen]))
        if btype == 1:  # IDB
            linktype, _, snaplen = struct.unpack_from(e + "HHI", body, 0)
            units = 1_000_000
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack_from(e + "HH", body, o)
                if code == 0:
                    break
                if code == 9 and olen >= 1:  # if_tsresol
                    r = body[o + 4]
                    units = 2 ** (r & 0x7F) if r & 0x80 else 10 ** r
                o += 4 + ((olen + 3) & ~3)
            interfaces.append((linktype, snaplen, units))
        elif btype == 6:  # EPB
            iface, hi, lo, caplen, origlen = struct.unpack_from(e + "IIIII", body, 0)
            linktype, _, units = interfaces[iface]
            ticks = (hi << 32) | lo
            records.append(Record(ticks * 1_000_000_000 // units, body[20:20 + caplen], origlen, linktype))
        elif btype == 3:  # SPB
            origlen = struct.unpack_from(e + "I", body, 0)[0]
            linktype, snaplen, _ = interfaces[0]
            records.append(Record(0, body[4:4 + min(origlen, snaplen or origlen)], origlen, linktype))
        off += blen
    lt = interfaces[0][0] if interfaces else -1
    sl = interfaces[0][1] if interfaces else 0
    return CaptureFile("pcapng", records, lt, sl, trunc, blocks)


def write_pcap(path: Path, records: list[Record], linktype: int, snaplen: int = 262144) -> None:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, snaplen, linktype))  # ns
    for r in records:
        sec, ns = divmod(r.ts_ns, 1_000_000_000)
        out += struct.pack("<IIII", sec, ns, len(r.data), r.orig_len) + r.data
    path.write_bytes(bytes(out))


def epb(ts_ns: int, data: bytes, orig_len: int, iface: int = 0) -> bytes:
    """Enhanced Packet Block, little endian, nanosecond timestamps (if_tsresol 9)."""
    pad = (-len(data)) % 4
    blen = 32 + len(data) + pad
    return (struct.pack("<IIIIIII", 6, blen, iface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), orig_len)
            + data + b"\0" * pad + struct.pack("<I", blen))


def write_pcapng_like(path: Path, source: CaptureFile, records: list[Record], comment: str) -> None:
    """A pcapng with the source's SHB and IDB (dumpcap's: little endian, ns timestamps),
    an SHB comment saying how it was derived, and new EPBs (the source's statistics block
    is left out, its counts would no longer hold)."""
    shb = next(b for t, b in source.raw_blocks if t == 0x0A0D0D0A)
    idb = next(b for t, b in source.raw_blocks if t == 1)
    shb = add_shb_comment(shb, comment)
    body = b"".join(epb(r.ts_ns, r.data, r.orig_len) for r in records)
    path.write_bytes(shb + idb + body)


def add_shb_comment(shb: bytes, comment: str) -> bytes:
    """Insert an opt_comment as the SHB's first option (little-endian SHB)."""
    assert shb[8:12] == b"\x4d\x3c\x2b\x1a"
    text = comment.encode()
    opt = struct.pack("<HH", 1, len(text)) + text + b"\0" * ((-len(text)) % 4)
    body = shb[8:-4]
    fixed, options = body[:16], body[16:]
    if not options:
        options = struct.pack("<HH", 0, 0)
    new_body = fixed + opt + options
    blen = len(new_body) + 12
    return struct.pack("<II", 0x0A0D0D0A, blen) + new_body + struct.pack("<I", blen)


# =============================================================================
# Part 3. Packet decoding: link layer, IP, TCP
# =============================================================================

@dataclass
class Segment:
    frame: int          # 1-based, as Wireshark counts
    ts_ns: int
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    flags: int
    payload: bytes
    missing: int        # payload bytes cut by the snaplen


def decode_packet(rec: Record, frame: int) -> Segment | None:
    d = rec.data
    cut = rec.orig_len - len(d)
    if rec.linktype == 1:
        off, ethertype = 12, None
        if len(d) < 14:
            return None
        ethertype = struct.unpack_from(">H", d, 12)[0]
        off = 14
        while ethertype in (0x8100, 0x88A8) and len(d) >= off + 4:
            ethertype = struct.unpack_from(">H", d, off + 2)[0]
            off += 4
    elif rec.linktype == 113:
        if len(d) < 16:
            return None
        ethertype, off = struct.unpack_from(">H", d, 14)[0], 16
    elif rec.linktype == 0:
        if len(d) < 4:
            return None
        fam = struct.unpack_from("<I", d, 0)[0]
        if fam > 0xFFFF:
            fam = struct.unpack_from(">I", d, 0)[0]
        ethertype = 0x0800 if fam == 2 else 0x86DD if fam in (10, 24, 28, 30) else None
        off = 4
    else:
        return None
    if ethertype == 0x0800:
        if len(d) < off + 20:
            return None
        ihl = (d[off] & 0x0F) * 4
        total = struct.unpack_from(">H", d, off + 2)[0]
        if d[off + 9] != 6:
            return None
        src, dst = socket.inet_ntop(socket.AF_INET, d[off + 12:off + 16]), socket.inet_ntop(socket.AF_INET, d[off + 16:off + 20])
        ip_end = off + total
        t = off + ihl
    elif ethertype == 0x86DD:
        if len(d) < off + 40 or d[off + 6] != 6:
            return None
        plen = struct.unpack_from(">H", d, off + 4)[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, d[off + 8:off + 24]), socket.inet_ntop(socket.AF_INET6, d[off + 24:off + 40])
        ip_end = off + 40 + plen
        t = off + 40
    else:
        return None
    if len(d) < t + 20:
        return None
    sport, dport, seq, _ack, offflags = struct.unpack_from(">HHIIH", d, t)
    thl = (offflags >> 12) * 4
    flags = offflags & 0x1FF
    payload = d[t + thl: ip_end]
    full_len = ip_end - (t + thl)
    missing = max(0, full_len - len(payload))
    return Segment(frame, rec.ts_ns, (src, sport), (dst, dport), seq, flags, payload, missing if cut else 0)


SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


# =============================================================================
# Part 4. Reference reader: TCP reassembly, PDUs, DIMSE (independent of pynetdicom)
# =============================================================================

@dataclass
class StreamPiece:
    offset: int
    data: bytes
    frame: int
    ts_ns: int


@dataclass
class Direction:
    isn: int | None = None
    segments: list[Segment] = field(default_factory=list)

    def reassemble(self) -> tuple[list[StreamPiece], list[dict], int]:
        """Pieces in stream order (duplicates removed), gaps, retransmitted segment count."""
        data_segs = [s for s in self.segments if s.payload or s.missing]
        if self.isn is not None:
            base = (self.isn + 1) & 0xFFFFFFFF
        elif data_segs:
            base = data_segs[0].seq  # mid-stream: first seen segment (in capture order)
        else:
            return [], [], 0
        pieces, gaps, dup = [], [], 0
        rel = sorted((((s.seq - base) & 0xFFFFFFFF, s) for s in data_segs), key=lambda t: (t[0], t[1].frame))
        pos = 0
        for off, s in rel:
            end = off + len(s.payload)
            if end <= pos:
                dup += 1
                continue
            if off > pos:
                gaps.append({"offset": pos, "length": off - pos, "before_frame": s.frame})
                pos = off
            start = pos - off
            pieces.append(StreamPiece(pos, s.payload[start:], s.frame, s.ts_ns))
            pos = end
            if s.missing:
                gaps.append({"offset": pos, "length": s.missing, "before_frame": s.frame,
                             "reason": "snaplen"})
                pos += s.missing
        return pieces, gaps, dup


@dataclass
class PDU:
    sender: str           # "requestor" / "acceptor"
    type: int             # 1-7; 0 = bytes missing here (a gap in the sender's stream)
    body: bytes
    offset: int
    frame: int            # frame in which its last byte arrived
    ts_ns: int
    partial: bool = False  # the PDU's end is missing (a gap follows)
    order: float = 0.0     # sort key: frame, gaps just before (lost) or after (snaplen) their frame


def frame_pdus(pieces: list[StreamPiece], gaps: list[dict], sender: str) -> tuple[list[PDU], list[str]]:
    """Frame PDUs (PS3.8 9.3: type, reserved, 4-byte length). A PDU whose end falls into a
    gap is kept as partial; after a gap, framing resumes at the first plausible PDU header."""
    notes: list[str] = []
    runs: list[list[StreamPiece]] = []
    cur: list[StreamPiece] = []
    expected = None
    for p in pieces:
        if expected is not None and p.offset != expected:
            runs.append(cur)
            cur = []
        cur.append(p)
        expected = p.offset + len(p.data)
    if cur:
        runs.append(cur)
    pdus: list[PDU] = []
    for g in gaps:
        snap = g.get("reason") == "snaplen"
        pdus.append(PDU(sender, 0, b"", g["offset"], g["before_frame"], 0,
                        order=g["before_frame"] + (0.5 if snap else -0.5)))
    for ri, run in enumerate(runs):
        buf = b"".join(p.data for p in run)
        base = run[0].offset
        run_end = base + len(buf)
        gap_follows = any(g["offset"] == run_end for g in gaps)
        # A byte is delivered when every byte before it has arrived: running maximum of frames.
        bounds, latest = [], (0, 0)
        for p in run:
            latest = max(latest, (p.frame, p.ts_ns))
            bounds.append((p.offset + len(p.data), latest[0], latest[1]))
        pos = 0
        if ri > 0:
            while pos + 6 <= len(buf) and not plausible_header(buf, pos):
                pos += 1
            if pos:
                notes.append(f"{sender}: skipped {pos} bytes at stream offset {base} to the next PDU header")
        while pos + 6 <= len(buf):
            t, length = buf[pos], struct.unpack_from(">I", buf, pos + 2)[0]
            if t not in PDU_NAMES or buf[pos + 1] != 0:
                notes.append(f"{sender}: no PDU header at stream offset {base + pos}")
                break
            end = pos + 6 + length
            if end > len(buf):
                if gap_follows:
                    last_frame, last_ts = bounds[-1][1], bounds[-1][2]
                    pdus.append(PDU(sender, t, buf[pos + 6:], base + pos, last_frame, last_ts, True,
                                    float(last_frame)))
                    notes.append(f"{sender}: {PDU_NAMES[t]} at stream offset {base + pos} partial "
                                 f"({len(buf) - pos} of {6 + length} bytes, the rest is missing)")
                else:
                    notes.append(f"{sender}: {PDU_NAMES[t]} at stream offset {base + pos} incomplete at the "
                                 f"end of the capture ({len(buf) - pos} of {6 + length} bytes)")
                break
            abs_end = base + end
            frame, ts = next((f, t_) for e_, f, t_ in bounds if e_ >= abs_end)
            pdus.append(PDU(sender, t, buf[pos + 6:end], base + pos, frame, ts, False, float(frame)))
            pos = end
    return pdus, notes


def plausible_header(buf: bytes, pos: int) -> bool:
    t = buf[pos]
    if t not in PDU_NAMES or buf[pos + 1] != 0:
        return False
    length = struct.unpack_from(">I", buf, pos + 2)[0]
    if t in (5, 6, 7):
        return length == 4
    if t == 4:
        if pos + 12 > len(buf):
            return False
        pdv = struct.unpack_from(">I", buf, pos + 6)[0]
        return 2 <= pdv and pdv + 4 <= length and buf[pos + 10] & 1 == 1 and length < 1 << 24
    return 68 <= length < 1 << 16


def ae_title(b: bytes) -> str:
    return b.decode("ascii", "replace").strip()


def parse_associate(body: bytes, is_rq: bool) -> dict:
    """A-ASSOCIATE-RQ/AC variable items; a partial body is parsed as far as it goes."""
    info = {"called_ae": ae_title(body[4:20]), "calling_ae": ae_title(body[20:36]), "contexts": {},
            "max_pdu": None, "implementation_class_uid": None, "implementation_version": None}
    off = 68
    while off + 4 <= len(body):
        itype, ilen = body[off], struct.unpack_from(">H", body, off + 2)[0]
        val = body[off + 4: off + 4 + ilen]
        if len(val) < ilen:
            info["partial_item"] = f"item {itype:#04x} at body offset {off}: {len(val)} of {ilen} bytes"
        if len(val) < 4 and itype in (0x20, 0x21):
            break
        if itype in (0x20, 0x21):
            cid, result = val[0], val[2]
            subs, o = [], 4
            while o + 4 <= len(val):
                st, sl = val[o], struct.unpack_from(">H", val, o + 2)[0]
                if o + 4 + sl > len(val):
                    break
                subs.append((st, val[o + 4:o + 4 + sl].decode("ascii").rstrip("\0 ")))
                o += 4 + sl
            cx = {"id": cid}
            if is_rq:
                cx["abstract_syntax"] = next((v for t, v in subs if t == 0x30), None)
                cx["proposed_transfer_syntaxes"] = [v for t, v in subs if t == 0x40]
            else:
                cx["result"] = result
                cx["transfer_syntax"] = next((v for t, v in subs if t == 0x40), None)
            info["contexts"][cid] = cx
        elif itype == 0x50:
            o = 0
            while o + 4 <= len(val):
                st, sl = val[o], struct.unpack_from(">H", val, o + 2)[0]
                sv = val[o + 4:o + 4 + sl]
                if len(sv) < sl:
                    break
                if st == 0x51:
                    info["max_pdu"] = struct.unpack(">I", sv)[0]
                elif st == 0x52:
                    info["implementation_class_uid"] = sv.decode("ascii").rstrip("\0 ")
                elif st == 0x55:
                    info["implementation_version"] = sv.decode("ascii").rstrip("\0 ")
                o += 4 + sl
        off += 4 + ilen
    return info


def decode_command(data: bytes) -> Dataset:
    return read_dataset(BytesIO(data), is_implicit_VR=True, is_little_endian=True)


def decode_identifier(data: bytes, ts: str | None) -> Dataset | None:
    if ts is None:  # mid-stream: infer explicit vs implicit VR from the first element
        ts = "1.2.840.10008.1.2.1" if len(data) > 6 and data[4:6].isalpha() and data[4:6].isupper() \
            else "1.2.840.10008.1.2"
    try:
        if ts == "1.2.840.10008.1.2.1.99":
            data = zlib.decompressobj(-15).decompress(data)
            ts = "1.2.840.10008.1.2.1"
        implicit = ts == "1.2.840.10008.1.2"
        little = ts != "1.2.840.10008.1.2.2"
        ds = read_dataset(BytesIO(data), is_implicit_VR=implicit, is_little_endian=little)
        ds.decode()  # Specific Character Set
        return ds
    except Exception:
        return None


def identifier_summary(ds: Dataset | None) -> dict | None:
    if ds is None:
        return None
    s = {}
    for kw in ("SpecificCharacterSet", "QueryRetrieveLevel", "PatientName", "PatientID", "SOPInstanceUID"):
        if kw in ds:
            v = ds[kw].value
            s[kw] = str(v) if not isinstance(v, (list, pydicom.multival.MultiValue)) else "\\".join(map(str, v))
    if "ContentTemplateSequence" in ds and len(ds.ContentTemplateSequence):
        s["TemplateIdentifier"] = str(ds.ContentTemplateSequence[0].get("TemplateIdentifier", ""))
    if "ContentSequence" in ds:
        s["ContentSequenceItems"] = len(ds.ContentSequence)
    return s


def status_hex(v: int | None) -> str | None:
    return None if v is None else f"0x{v:04X}"


class AssociationReader:
    """Follows one TCP connection: PDUs of both sides in arrival order -> facts."""

    def __init__(self, conn: dict):
        self.conn = conn
        self.rq: dict | None = None
        self.ac: dict | None = None
        self.outcome = "incomplete"
        self.detail: dict = {}
        self.exchanges: list[dict] = []
        self.by_id: dict[int, dict] = {}
        self.pdu_counts = {"requestor": Counter(), "acceptor": Counter()}
        self.fragments: dict[tuple[str, int, int], bytearray] = {}
        self.pending_cmd: dict[tuple[str, int], Dataset] = {}
        self.started_mid = False
        self.findings: list[str] = []
        self.release_rq = None
        self.partial_pdus: list[dict] = []
        self.notes: list[str] = []

    def contexts(self) -> dict[int, dict]:
        out = {}
        if self.rq:
            for cid, cx in self.rq["contexts"].items():
                out[cid] = dict(cx)
        if self.ac:
            for cid, cx in self.ac["contexts"].items():
                out.setdefault(cid, {"id": cid}).update(cx)
        return out

    def ts_for(self, cid: int) -> str | None:
        cx = self.contexts().get(cid)
        return cx.get("transfer_syntax") if cx else None

    def lose_progress(self, sender: str) -> None:
        """Bytes of `sender` are missing: fragments and awaited data sets are dropped."""
        for key in [k for k in self.fragments if k[0] == sender]:
            del self.fragments[key]
        for key in [k for k in self.pending_cmd if k[0] == sender]:
            del self.pending_cmd[key]

    def feed(self, pdu: PDU) -> None:
        if pdu.type == 0:
            self.lose_progress(pdu.sender)
            return
        name = PDU_NAMES[pdu.type]
        self.pdu_counts[pdu.sender][name] += 1
        if pdu.partial:
            self.partial_pdus.append({"sender": pdu.sender, "type": name, "stream_offset": pdu.offset,
                                      "bytes_present": 6 + len(pdu.body)})
        if pdu.type == 1:
            self.rq = parse_associate(pdu.body, True)
        elif pdu.type == 2:
            self.ac = parse_associate(pdu.body, False)
        elif pdu.partial and pdu.type != 4:
            return
        elif pdu.type == 3:
            self.outcome = "rejected"
            self.detail["reject"] = {"result": pdu.body[1], "source": pdu.body[2], "reason": pdu.body[3]}
        elif pdu.type == 5:
            self.release_rq = pdu.sender
        elif pdu.type == 6:
            self.outcome = "released"
        elif pdu.type == 7:
            self.outcome = "aborted"
            self.detail["abort"] = {"by": pdu.sender, "source": pdu.body[2], "reason": pdu.body[3]}
        elif pdu.type == 4:
            if self.rq is None and self.ac is None:
                self.started_mid = True
            off = 0
            while off + 6 <= len(pdu.body):
                plen = struct.unpack_from(">I", pdu.body, off)[0]
                cid, ctl = pdu.body[off + 4], pdu.body[off + 5]
                if off + 4 + plen > len(pdu.body):  # PDV cut (partial PDU)
                    self.lose_progress(pdu.sender)
                    break
                frag = pdu.body[off + 6: off + 4 + plen]
                key = (pdu.sender, cid, ctl & 1)
                self.fragments.setdefault(key, bytearray()).extend(frag)
                if ctl & 2:
                    whole = bytes(self.fragments.pop(key))
                    if ctl & 1:
                        self.on_command(pdu.sender, cid, decode_command(whole))
                    else:
                        self.on_dataset(pdu.sender, cid, whole)
                off += 4 + plen

    def on_command(self, sender: str, cid: int, cmd: Dataset) -> None:
        field_ = int(cmd.CommandField)
        service, kind = COMMANDS.get(field_, (f"0x{field_:04X}", "?"))
        has_ds = int(cmd.get("CommandDataSetType", 0x0101)) != 0x0101
        if kind == "RQ" and service == "C-CANCEL":
            ex = self.by_id.get(int(cmd.MessageIDBeingRespondedTo))
            if ex is not None:
                ex["cancel_requested"] = True
            return
        if kind == "RQ":
            ex = {"service": service, "message_id": int(cmd.MessageID),
                  "sop_class": str(cmd.get("AffectedSOPClassUID", "")), "context_id": cid,
                  "transfer_syntax": self.ts_for(cid), "request_has_dataset": has_ds,
                  "pending": 0, "final_status": None, "final_has_dataset": None,
                  "cancel_requested": False, "request_identifier": None, "matches": []}
            self.exchanges.append(ex)
            self.by_id[ex["message_id"]] = ex
            if has_ds:
                self.pending_cmd[(sender, cid)] = ("rq", ex)
            return
        ex = self.by_id.get(int(cmd.MessageIDBeingRespondedTo))
        if ex is None:
            self.findings.append("response-to-unknown-message")
            return
        st = int(cmd.Status)
        if st in (0xFF00, 0xFF01):
            ex["pending"] += 1
            if has_ds:
                self.pending_cmd[(sender, cid)] = ("match", ex)
            else:
                ex["matches"].append(None)
        else:
            ex["final_status"] = status_hex(st)
            ex["final_has_dataset"] = has_ds
            if has_ds:
                self.pending_cmd[(sender, cid)] = ("final", ex)

    def on_dataset(self, sender: str, cid: int, data: bytes) -> None:
        what, ex = self.pending_cmd.pop((sender, cid), (None, None))
        if ex is None:
            self.notes.append(f"{sender}: data set on context {cid} without a command set announcing it")
            return
        ds = decode_identifier(data, self.ts_for(cid))
        summary = identifier_summary(ds)
        if what == "rq":
            if ex["service"] == "C-FIND":
                ex["request_identifier"] = summary
        elif what == "match":
            ex["matches"].append(summary)

    def facts(self) -> dict:
        c = self.conn
        rq, ac = self.rq or {}, self.ac or {}
        contexts = []
        for cid, cx in sorted(self.contexts().items()):
            contexts.append({"id": cid, "abstract_syntax": cx.get("abstract_syntax"),
                             "proposed_transfer_syntaxes": cx.get("proposed_transfer_syntaxes"),
                             "result": cx.get("result"), "transfer_syntax": cx.get("transfer_syntax")})
        findings = list(self.findings)
        rpi = {"1.2.840.10008.5.1.4.37.1", "1.2.840.10008.5.1.4.37.2", "1.2.840.10008.5.1.4.37.3"}
        for ex in self.exchanges:
            if ex["service"] == "C-FIND":
                if ex["final_has_dataset"]:
                    findings.append("final-response-with-dataset")
                if ex["sop_class"] in rpi and ex["pending"] > 1:
                    findings.append("multiple-pending-responses")
                if ex["sop_class"] in rpi and ex["request_identifier"] is not None \
                        and "TemplateIdentifier" not in ex["request_identifier"]:
                    findings.append("missing-content-template-sequence")
            if ex["final_status"] is None:
                findings.append("unanswered-request")
            if ex["service"] != "C-FIND":
                ex.pop("matches")
                ex.pop("request_identifier")
        if self.started_mid:
            findings.insert(0, "started-mid-association")
        out = {
            "client": c["client"], "server": c["server"],
            "first_frame": c["first_frame"], "last_frame": c["last_frame"],
            "calling_ae": rq.get("calling_ae"), "called_ae": rq.get("called_ae"),
            "outcome": self.outcome,
            "started_mid_stream": self.started_mid,
            "max_pdu": {"requestor": rq.get("max_pdu"), "acceptor": ac.get("max_pdu")},
            "implementation": {"requestor": [rq.get("implementation_class_uid"), rq.get("implementation_version")],
                               "acceptor": [ac.get("implementation_class_uid"), ac.get("implementation_version")]},
            "contexts": contexts,
            "pdus": {k: dict(sorted(v.items())) for k, v in self.pdu_counts.items()},
            "exchanges": self.exchanges,
            "findings": findings,
        }
        if self.partial_pdus:
            out["partial_pdus"] = self.partial_pdus
        if self.notes:
            out["notes"] = self.notes
        if (rq.get("partial_item") or ac.get("partial_item")):
            out["partial_items"] = [x for x in (rq.get("partial_item"), ac.get("partial_item")) if x]
        out.update(self.detail)
        return out


def analyze(path: Path, dicom_ports: list[int]) -> dict:
    """Facts of a capture from the reference reader."""
    cap = read_capture(path)
    conns: dict[tuple, dict] = {}
    order: list[tuple] = []
    for i, rec in enumerate(cap.records, 1):
        seg = decode_packet(rec, i)
        if seg is None:
            continue
        key = tuple(sorted([seg.src, seg.dst]))
        c = conns.get(key)
        if c is None or (seg.flags & SYN and not seg.flags & ACK and c.get("closed")):
            c = {"dirs": {}, "client": None, "first_frame": i, "last_frame": i}
            conns[key] = c
            order.append(key)
        c["last_frame"] = i
        if seg.flags & SYN and not seg.flags & ACK:
            c["client"] = seg.src
        c["dirs"].setdefault(seg.src, Direction()).segments.append(seg)
        if seg.flags & SYN:
            c["dirs"][seg.src].isn = seg.seq
        if seg.flags & (FIN | RST):
            c["closed"] = True
    associations, notes, gaps_all, retrans = [], [], [], 0
    total = Counter()
    for key in order:
        c = conns[key]
        ends = list(key)
        framed = {}
        for ep in ends:
            d = c["dirs"].get(ep, Direction())
            pieces, gaps, dup = d.reassemble()
            retrans += dup
            framed[ep] = (pieces, gaps)
        # Who is the requestor: SYN sender, else the sender of A-ASSOCIATE-RQ, else not the DICOM port.
        client = c["client"]
        if client is None:
            for ep in ends:
                p = framed[ep][0]
                if p and p[0].offset == 0 and p[0].data[:1] == b"\x01":
                    client = ep
            if client is None:
                client = next((ep for ep in ends if ep[1] not in dicom_ports), ends[0])
        server = ends[1] if client == ends[0] else ends[0]
        pdus = []
        for ep, role in ((client, "requestor"), (server, "acceptor")):
            pieces, gaps = framed[ep]
            for g in gaps:
                gaps_all.append({"sender": role, **g})
            p, n = frame_pdus(pieces, gaps, role)
            pdus += p
            notes += n
        if not any(p.type for p in pdus):
            continue
        pdus.sort(key=lambda p: (p.order, p.offset))
        conn = {"client": fmt_ep(client), "server": fmt_ep(server), "first_frame": c["first_frame"],
                "last_frame": c["last_frame"]}
        reader = AssociationReader(conn)
        for p in pdus:
            reader.feed(p)
            if p.type:
                total[PDU_NAMES[p.type]] += 1
        associations.append(reader.facts())
    return {"format": cap.fmt, "link_type": cap.linktype, "snaplen": cap.snaplen,
            "packets": len(cap.records), "read_error": cap.truncated,
            "associations": associations, "pdu_counts": dict(sorted(total.items())),
            "dimse_commands": sum(sum(1 for _ in a["exchanges"]) for a in associations),
            "gaps": gaps_all, "retransmitted_segments": retrans, "notes": notes}


def fmt_ep(ep: tuple[str, int]) -> str:
    return f"[{ep[0]}]:{ep[1]}" if ":" in ep[0] else f"{ep[0]}:{ep[1]}"


# =============================================================================
# Part 5. tshark's view
# =============================================================================

TSHARK_FIELDS = ["frame.number", "dicom.pdu.type", "dicom.pdv.flags"]


def tshark_view(path: Path, ports: list[int], out_of_order: bool = True) -> dict:
    args = [TSHARK, "-n", "-r", path.name]
    if out_of_order:
        args += ["-o", "tcp.reassemble_out_of_order:TRUE"]
    for p in ports:
        args += ["-d", f"tcp.port=={p},dicom"]
    args += ["-Y", "dicom", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
             "-E", "aggregator=,"]
    for f in TSHARK_FIELDS:
        args += ["-e", f]
    p = subprocess.run(["timeout", "60", *args], capture_output=True, timeout=90, cwd=path.parent)
    pdus, frames = Counter(), 0
    last_flags = 0
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        cols = line.split("\t")
        cols += [""] * (3 - len(cols))
        frames += 1
        for t in filter(None, cols[1].split(",")):
            pdus[PDU_NAMES.get(int(t, 0), t)] += 1
        for fl in filter(None, cols[2].split(",")):
            if int(fl, 0) & 3 == 3:
                last_flags += 1
    stderr = p.stderr.decode("utf-8", "replace")
    errs = [l for l in stderr.splitlines() if "Running as user" not in l and l.strip()]
    return {"command": "tshark " + " ".join(args[1:]), "exit_status": p.returncode,
            "frames_with_dicom": frames, "pdu_types": dict(sorted(pdus.items())),
            "pdus_total": sum(pdus.values()),
            "dimse_commands": last_flags, **tshark_commands(path, args),
            "stderr": errs[:3]}


def tshark_commands(path: Path, field_args: list[str]) -> dict:
    """Command sets tshark decoded, from its PDML: the dicom tree's (0000,0100) Command Field and
    (0000,0900) Status lines (tshark 4.0 shows tags as unnamed fields, dicom.tag_tree is off)."""
    args = field_args[:field_args.index("-T")] + ["-T", "pdml"]
    p = subprocess.run(["timeout", "60", *args], capture_output=True, timeout=90, cwd=path.parent)
    commands, statuses_ = Counter(), Counter()
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(p.stdout)
    except ET.ParseError:
        return {"dimse_commands_decoded": {}, "statuses_decoded": {}}
    for f in root.iter("field"):
        show = f.get("show") or ""
        if show.startswith("(0000,0100)"):
            commands[show.split()[-1]] += 1
        elif show.startswith("(0000,0900)"):
            m = re.search(r"\((0x[0-9a-fA-F]{1,4})\)\s*$", show)
            statuses_[f"0x{int(m.group(1), 16):04X}" if m else show.split(None, 3)[-1]] += 1
    return {"dimse_commands_decoded": dict(sorted(commands.items())),
            "statuses_decoded": dict(sorted(statuses_.items()))}


def tshark_without_decode_as(path: Path) -> dict:
    """tshark's own guess: DICOM is registered on port 104 only, and its TCP heuristic (on by
    default in 4.0) recognises a connection by its A-ASSOCIATE-RQ."""
    p = subprocess.run(["timeout", "60", TSHARK, "-n", "-r", path.name, "-o", "tcp.reassemble_out_of_order:TRUE",
                        "-Y", "dicom", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
                        "-e", "frame.number", "-e", "dicom.pdu.type"],
                       capture_output=True, timeout=90, cwd=path.parent)
    lines = p.stdout.decode().split("\n")
    pdus = sum(len(l.split("\t")[1].split(",")) for l in lines if "\t" in l and l.split("\t")[1])
    return {"frames_with_dicom": sum(1 for l in lines if l.strip()), "pdus_total": pdus}


# =============================================================================
# Part 6. Scenarios
# =============================================================================

from pynetdicom import AE, evt  # noqa: E402
from pynetdicom.sop_class import (  # noqa: E402
    BreastImagingRelevantPatientInformationQuery,
    CardiacRelevantPatientInformationQuery,
    GeneralRelevantPatientInformationQuery,
    PatientRootQueryRetrieveInformationModelFind,
    SecondaryCaptureImageStorage,
    Verification,
)
from pydicom.uid import (  # noqa: E402
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

PYNETDICOM = f"pynetdicom {__import__('pynetdicom').__version__}"
PYDICOM = f"pydicom {pydicom.__version__}"

RPI_GENERAL = "1.2.840.10008.5.1.4.37.1"
RPI_BREAST = "1.2.840.10008.5.1.4.37.2"
RPI_CARDIAC = "1.2.840.10008.5.1.4.37.3"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
VERIFICATION = "1.2.840.10008.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def fixed_uid(label: str) -> str:
    return "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL, "https://dicomtap.invalid/captures/" + label).int)


def make_ae(title: str = "PYNETDICOM", max_pdu: int | None = None) -> AE:
    ae = AE(ae_title=title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 15
    if max_pdu is not None:
        ae.maximum_pdu_size = max_pdu
    return ae


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def template(tid: str) -> Dataset:
    item = Dataset()
    item.MappingResource = "DCMR"
    item.TemplateIdentifier = tid
    return item


def rpi_query(tid: str = "9007", patient_id: str = "1234567") -> Dataset:
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = patient_id
    ds.ContentTemplateSequence = [template(tid)]
    return ds


def content_item(rel: str, vt: str, concept: Dataset, **values) -> Dataset:
    item = Dataset()
    item.RelationshipType = rel
    item.ValueType = vt
    item.ConceptNameCodeSequence = [concept]
    for k, v in values.items():
        setattr(item, k, v)
    return item


def rpi_response(tid: str = "9007", name: str = "Doe^John", extra_text_items: int = 0) -> Dataset:
    """A TID 9007/9000/3802-shaped response: container with a TEXT and a CODE item."""
    titles = {"9007": code("11329-0", "LN", "History"),
              "9000": code("111401", "DCM", "Relevant Breast Imaging Patient Information"),
              "3802": code("121064", "DCM", "Cardiovascular Patient History")}
    ds = Dataset()
    ds.PatientName = name
    ds.PatientID = "1234567"
    ds.ContentTemplateSequence = [template(tid)]
    ds.ObservationDateTime = "20240315093000"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [titles.get(tid, titles["9007"])]
    ds.ContinuityOfContent = "SEPARATE"
    items = [
        content_item("CONTAINS", "TEXT", code("10164-2", "LN", "History of present illness"),
                     TextValue="Patient reports intermittent chest pain for two weeks."),
        content_item("CONTAINS", "CODE", code("11450-4", "LN", "Problem list"),
                     ConceptCodeSequence=[code("38341003", "SCT", "Hypertension")]),
    ]
    for i in range(extra_text_items):
        items.append(content_item("CONTAINS", "TEXT", code("10164-2", "LN", "History of present illness"),
                                  TextValue=f"Entry {i + 1:03d}: follow-up visit, no change in medication; "
                                            "blood pressure controlled, patient asymptomatic."))
    ds.ContentSequence = items
    return ds


@contextlib.contextmanager
def pynetdicom_scp(ae: AE, port: int, handlers=(), host: str = LOCAL):
    server = ae.start_server((host, port), block=False, evt_handlers=list(handlers))
    try:
        yield server
    finally:
        server.shutdown()


@contextlib.contextmanager
def associated(ae: AE, port: int, host: str = LOCAL, **kwargs):
    assoc = ae.associate(host, port, **kwargs)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.abort()


def require(cond: bool, what: str) -> None:
    if not cond:
        raise RuntimeError(what)


def statuses(responses) -> list[int]:
    return [int(st.Status) if st is not None and "Status" in st else -1 for st, _ in responses]


def ex(service: str, mid: int, sop: str, pending: int, final: str | None, **more) -> dict:
    return {"service": service, "message_id": mid, "sop_class": sop, "pending": pending,
            "final_status": final, **more}


def assoc_spec(calling: str, called: str, outcome: str, exchanges: list[dict], findings=(), **more) -> dict:
    return {"calling_ae": calling, "called_ae": called, "outcome": outcome, "exchanges": exchanges,
            "findings": list(findings), **more}


@dataclass
class Ctx:
    port: int
    work: Path
    out: Path
    # A second port for scenarios with two acceptors (dcmtk_move: the Move Destination), else 0.
    port2: int = 0


# ---- the RPI family ---------------------------------------------------------

def run_rpi(ctx: Ctx, sop: str, query: Dataset, handler, expect_statuses: list[int],
            scu_max_pdu: int | None = None, scp_max_pdu: int | None = None,
            host: str = LOCAL) -> None:
    scp = make_ae(max_pdu=scp_max_pdu)
    scp.add_supported_context(sop)
    scu = make_ae(max_pdu=scu_max_pdu)
    scu.add_requested_context(sop)
    with pynetdicom_scp(scp, ctx.port, [(evt.EVT_C_FIND, handler)], host=host):
        # pynetdicom 3.0.4: AE.associate() announces its own max_pdu argument (default 16382), not
        # ae.maximum_pdu_size, which only applies to associations the AE accepts.
        with associated(scu, ctx.port, host=host, max_pdu=scu.maximum_pdu_size) as assoc:
            require(assoc.is_established, "association not established")
            got = statuses(assoc.send_c_find(query, sop))
            require(got == expect_statuses, f"statuses {got}, expected {expect_statuses}")
            assoc.release()


def one_match(tid: str, **kw):
    def on_find(event):
        yield 0xFF00, rpi_response(tid, **kw)
    return on_find


def sc_rpi_general_one_match(ctx: Ctx) -> dict:
    run_rpi(ctx, GeneralRelevantPatientInformationQuery, rpi_query("9007"), one_match("9007"), [0xFF00, 0])
    return {"associations": [assoc_spec("PYNETDICOM", "ANY-SCP", "released",
                                        [ex("C-FIND", 1, RPI_GENERAL, 1, "0x0000", final_has_dataset=True)],
                                        ["final-response-with-dataset"])]}


def sc_rpi_no_match(ctx: Ctx) -> dict:
    def on_find(event):
        return
        yield  # noqa: unreachable - a generator that yields nothing: no match
    run_rpi(ctx, GeneralRelevantPatientInformationQuery, rpi_query("9007", "7654321"), on_find, [0])
    return {"associations": [assoc_spec("PYNETDICOM", "ANY-SCP", "released",
                                        [ex("C-FIND", 1, RPI_GENERAL, 0, "0x0000", final_has_dataset=False)])]}


def sc_rpi_multiple_matches(ctx: Ctx) -> dict:
    def on_find(event):
        yield 0xC100, None
    run_rpi(ctx, GeneralRelevantPatientInformationQuery, rpi_query("9007"), on_find, [0xC100])
    return {"associations": [assoc_spec("PYNETDICOM", "ANY-SCP", "released",
                                        [ex("C-FIND", 1, RPI_GENERAL, 0, "0xC100", final_has_dataset=False)])]}


def sc_rpi_breast(ctx: Ctx) -> dict:
    run_rpi(ctx, BreastImagingRelevantPatientInformationQuery, rpi_query("9000"), one_match("9000"), [0xFF00, 0])
    return {"associations": [assoc_spec("PYNETDICOM", "ANY-SCP", "released",
                                        [ex("C-FIND", 1, RPI_BREAST, 1, "0x0000", final_has_dataset=True)],
                                        ["final-response-with-dataset"])]}


def sc_rpi_cardiac(ctx: Ctx) -> dict:
    run_rpi(ctx, CardiacRelevantPatientInformationQuery, rpi_query("3802"), one_match("3802"), [0xFF00, 0])
    return {"associations": [assoc_spec("PYNETDICOM", "ANY-SCP", "released",
                                        [ex("C-FIND", 1, RPI_CARDIAC, 1, "0x0000", final_has_dataset=True)],
                                        ["final-response-with-dataset"])]}


def sc_rpi_unsupported_template(ctx: Ctx) -> dict:
    def on_find(event):
        tid = event.identifier.ContentTemplateSequence[0].TemplateIdentifier
        if tid not in ("9007",):
            yield 0xC200, None
        else:
            yield 0xFF00, rpi_response(tid)
    run_rpi(ctx, GeneralRelevantPatientInformationQuery, rpi_query("2000"), on_find, [0xC200])
    return {"associations": [assoc_spec("PYNETDICOM", "ANY-SCP", "released",
                                        [ex("C-FIND", 1, RPI_GENERAL, 0, "0xC200", final_has_dataset=False)])]}


SMALL_PDU = 256


def sc_rpi_small_pdu(ctx: Ctx) -> dict:
    run_rpi(ctx, GeneralRelevantPatientInformationQuery, rpi_query("9007"),
            one_match("9007", extra_text_items=40), [0xFF00, 0], scu_max_pdu=SMALL_PDU, scp_max_pdu=SMALL_PDU)
    return {"associations": [assoc_spec("PYNETDICOM", "ANY-SCP", "released",
                                        [ex("C-FIND", 1, RPI_GENERAL, 1, "0x0000", final_has_dataset=True)],
                                        ["final-response-with-dataset"],
                                        max_pdu={"requestor": SMALL_PDU, "acceptor": SMALL_PDU})]}


def sc_nonstandard_port(ctx: Ctx) -> dict:
    return sc_rpi_general_one_match(ctx)


# ---- association outcomes ---------------------------------------------------

def sc_rejected(ctx: Ctx) -> dict:
    scp = make_ae("ARCHIVE")
    scp.require_called_aet = True
    scp.add_supported_context(Verification)
    scu = make_ae("ECHO_SCU")
    scu.add_requested_context(Verification)
    with pynetdicom_scp(scp, ctx.port):
        assoc = scu.associate(LOCAL, ctx.port, ae_title="NOT_ARCHIVE")
        require(assoc.is_rejected, "association not rejected")
    return {"associations": [assoc_spec("ECHO_SCU", "NOT_ARCHIVE", "rejected", [],
                                        reject={"result": 1, "source": 1, "reason": 7})]}


def sc_aborted(ctx: Ctx) -> dict:
    scp = make_ae("ARCHIVE")
    scp.add_supported_context(Verification)
    scu = make_ae("ECHO_SCU")
    scu.add_requested_context(Verification)
    with pynetdicom_scp(scp, ctx.port):
        assoc = scu.associate(LOCAL, ctx.port, ae_title="ARCHIVE")
        require(assoc.is_established, "association not established")
        st = assoc.send_c_echo()
        require(st.Status == 0, "C-ECHO failed")
        assoc.abort()
    return {"associations": [assoc_spec("ECHO_SCU", "ARCHIVE", "aborted",
                                        [ex("C-ECHO", 1, VERIFICATION, 0, "0x0000", final_has_dataset=False)],
                                        abort={"by": "requestor", "source": 0, "reason": 0})]}


PATIENTS = [("Doe^John", "1234567", "19700101"), ("Doe^Jane", "2345678", "19800202"),
            ("Roe^Richard", "3456789", "19900303")]


def patient_match(i: int, charset: str | None = None, name: str | None = None,
                  pid: str | None = None) -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.QueryRetrieveLevel = "PATIENT"
    ds.PatientName = name or PATIENTS[i % 3][0]
    ds.PatientID = pid or PATIENTS[i % 3][1]
    ds.PatientBirthDate = PATIENTS[i % 3][2]
    return ds


def patient_query(charset: str | None = None, name: str = "") -> Dataset:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.QueryRetrieveLevel = "PATIENT"
    ds.PatientName = name
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    return ds


def sc_cancel(ctx: Ctx) -> dict:
    def slow_find(event):
        for i in range(6):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, patient_match(i)
            time.sleep(0.5)
    scp = make_ae("ARCHIVE")
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    scu = make_ae("FIND_SCU")
    scu.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    with pynetdicom_scp(scp, ctx.port, [(evt.EVT_C_FIND, slow_find)]):
        with associated(scu, ctx.port, ae_title="ARCHIVE") as assoc:
            require(assoc.is_established, "association not established")
            cid = assoc.accepted_contexts[0].context_id
            got = []
            for status, _ in assoc.send_c_find(patient_query(), PatientRootQueryRetrieveInformationModelFind,
                                               msg_id=1):
                got.append(int(status.Status))
                if len(got) == 1:
                    assoc.send_c_cancel(1, cid)
            require(got == [0xFF00, 0xFE00], f"statuses {got}")
            assoc.release()
    return {"associations": [assoc_spec("FIND_SCU", "ARCHIVE", "released",
                                        [ex("C-FIND", 1, PATIENT_ROOT_FIND, 1, "0xFE00",
                                            final_has_dataset=False, cancel_requested=True)])]}


def sc_concurrent(ctx: Ctx, n: int = 4) -> dict:
    def on_find(event):
        time.sleep(0.3)  # keep the associations overlapping
        yield 0xFF00, rpi_response("9007")
    scp = make_ae("ARCHIVE")
    scp.add_supported_context(GeneralRelevantPatientInformationQuery)
    scp.add_supported_context(Verification)
    scp.maximum_associations = n + 2
    barrier = threading.Barrier(n)
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        try:
            scu = make_ae(f"SCU_{i}")
            scu.add_requested_context(GeneralRelevantPatientInformationQuery)
            scu.add_requested_context(Verification)
            barrier.wait(timeout=20)
            with associated(scu, ctx.port, ae_title="ARCHIVE") as assoc:
                require(assoc.is_established, "association not established")
                got = statuses(assoc.send_c_find(rpi_query("9007"), GeneralRelevantPatientInformationQuery,
                                                 msg_id=1))
                st = assoc.send_c_echo(msg_id=2)
                results[i] = (got, int(st.Status))
                time.sleep(0.2)
                assoc.release()
        except Exception as e:  # reported below
            results[i] = e

    with pynetdicom_scp(scp, ctx.port, [(evt.EVT_C_FIND, on_find)]):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, n + 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    for i in range(1, n + 1):
        require(results.get(i) == ([0xFF00, 0], 0), f"association {i}: {results.get(i)}")
    return {"associations": [assoc_spec(f"SCU_{i}", "ARCHIVE", "released",
                                        [ex("C-FIND", 1, RPI_GENERAL, 1, "0x0000", final_has_dataset=True),
                                         ex("C-ECHO", 2, VERIFICATION, 0, "0x0000", final_has_dataset=False)],
                                        ["final-response-with-dataset"]) for i in range(1, n + 1)],
            "unordered": True, "overlapping": True}


# ---- transfer syntaxes, character sets, transports ---------------------------

def three_matches(charset: str | None = None, names: list[str] | None = None):
    def on_find(event):
        for i in range(3 if names is None else len(names)):
            yield 0xFF00, patient_match(i, charset, names[i] if names else None)
    return on_find


def run_patient_find(ctx: Ctx, scu_ts: list[str], scp_ts: list[str], handler, n: int,
                     query: Dataset | None = None, host: str = LOCAL, expect_ts: str | None = None) -> None:
    scp = make_ae("ARCHIVE")
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind, scp_ts)
    scu = make_ae("FIND_SCU")
    scu.add_requested_context(PatientRootQueryRetrieveInformationModelFind, scu_ts)
    with pynetdicom_scp(scp, ctx.port, [(evt.EVT_C_FIND, handler)], host=host):
        with associated(scu, ctx.port, host=host, ae_title="ARCHIVE") as assoc:
            require(assoc.is_established, "association not established")
            ts = assoc.accepted_contexts[0].transfer_syntax[0]
            require(expect_ts is None or ts == expect_ts, f"accepted {ts}")
            got = statuses(assoc.send_c_find(query or patient_query(), PatientRootQueryRetrieveInformationModelFind))
            require(got == [0xFF00] * n + [0], f"statuses {got}")
            assoc.release()


def patient_find_spec(n: int, ts: str, **more) -> dict:
    return {"associations": [assoc_spec("FIND_SCU", "ARCHIVE", "released",
                                        [ex("C-FIND", 1, PATIENT_ROOT_FIND, n, "0x0000", final_has_dataset=False,
                                            transfer_syntax=ts)], **more)]}


def sc_explicit_be(ctx: Ctx) -> dict:
    run_patient_find(ctx, [ExplicitVRBigEndian], [ExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian],
                     three_matches(), 3, expect_ts=ExplicitVRBigEndian)
    return patient_find_spec(3, ExplicitVRBigEndian)


def sc_explicit_le(ctx: Ctx) -> dict:
    run_patient_find(ctx, [ExplicitVRLittleEndian], [ExplicitVRLittleEndian, ImplicitVRLittleEndian],
                     three_matches(), 3, expect_ts=ExplicitVRLittleEndian)
    return patient_find_spec(3, ExplicitVRLittleEndian)


def sc_deflated(ctx: Ctx) -> dict:
    run_patient_find(ctx, [DeflatedExplicitVRLittleEndian],
                     [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian],
                     three_matches(), 3, expect_ts=DeflatedExplicitVRLittleEndian)
    return patient_find_spec(3, DeflatedExplicitVRLittleEndian)


UTF8_NAMES = ["Müller^Jürgen", "山田^太郎", "Ærøskøbing^Åse"]


def sc_utf8_names(ctx: Ctx) -> dict:
    run_patient_find(ctx, [ExplicitVRLittleEndian], [ExplicitVRLittleEndian, ImplicitVRLittleEndian],
                     three_matches("ISO_IR 192", UTF8_NAMES), 3,
                     query=patient_query("ISO_IR 192", "Müller*"), expect_ts=ExplicitVRLittleEndian)
    return patient_find_spec(3, ExplicitVRLittleEndian)


def sc_ipv6(ctx: Ctx) -> dict:
    run_patient_find(ctx, [ExplicitVRLittleEndian], [ExplicitVRLittleEndian, ImplicitVRLittleEndian],
                     three_matches(), 3, host=LOCAL6)
    return patient_find_spec(3, ExplicitVRLittleEndian)


# ---- DCMTK peers --------------------------------------------------------------

def make_sc(i: int, patient: int) -> Dataset:
    """A small Secondary Capture image (8x8, 8 bit) with fixed UIDs."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    ds.file_meta.MediaStorageSOPInstanceUID = fixed_uid(f"sc/{i}/instance")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyDate = "20240315"
    ds.StudyTime = "093000"
    ds.AccessionNumber = f"ACC{i:04d}"
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    name, pid, dob = PATIENTS[patient]
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = name, pid, dob, "O"
    ds.StudyInstanceUID = fixed_uid(f"sc/patient{patient}/study")
    ds.SeriesInstanceUID = fixed_uid(f"sc/patient{patient}/series")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = i + 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes((x * 16 + y * 3 + i * 40) % 256 for y in range(8) for x in range(8))
    return ds


DCMQRSCP_CFG = """\
# dcmqrscp configuration written by tools/make_captures.py
NetworkTCPPort  = {port}
MaxPDUSize      = 16384
MaxAssociations = 16

HostTable BEGIN
HostTable END

VendorTable BEGIN
VendorTable END

AETable BEGIN
DCMQRSCP   {storage}   RW   (10, 1024mb)   ANY
AETable END
"""


def sc_dcmtk_find_store(ctx: Ctx) -> dict:
    storage = ctx.work / "dcmqrscp-db"
    if storage.exists():
        shutil.rmtree(storage)
    storage.mkdir()
    cfg = ctx.work / "dcmqrscp.cfg"
    cfg.write_text(DCMQRSCP_CFG.format(port=ctx.port, storage=storage))
    files = []
    for i, patient in enumerate([0, 1, 0]):
        path = ctx.work / f"sc{i}.dcm"
        make_sc(i, patient).save_as(path, enforce_file_format=True)
        files.append(str(path))
    # --fork (the default): in single-process mode (-s) dcmqrscp 3.6.7 crashes (SIGSEGV) right after
    # the first association is released, so the second association would be refused.
    with background([DCMQRSCP, "-c", str(cfg), str(ctx.port)], ctx.work, "dcmqrscp.log") as proc:
        wait_listening(ctx.port, proc)
        run_tool([STORESCU, "-aet", "STORESCU", "-aec", "DCMQRSCP", LOCAL, str(ctx.port), *files],
                 ctx.work, "storescu.log")
        time.sleep(0.3)
        p = run_tool([FINDSCU, "-P", "-aet", "FINDSCU", "-aec", "DCMQRSCP", "-k", "QueryRetrieveLevel=PATIENT",
                      "-k", "PatientName=", "-k", "PatientID=", LOCAL, str(ctx.port)], ctx.work, "findscu.log")
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        require("Doe^John" in out and "Doe^Jane" in out, "findscu did not list both stored patients")
    return {"associations": [
        assoc_spec("STORESCU", "DCMQRSCP", "released",
                   [ex("C-STORE", i + 1, SECONDARY_CAPTURE, 0, "0x0000", final_has_dataset=False) for i in range(3)]),
        assoc_spec("FINDSCU", "DCMQRSCP", "released",
                   [ex("C-FIND", 1, PATIENT_ROOT_FIND, 2, "0x0000", final_has_dataset=False)]),
    ]}


def sc_dcmtk_move(ctx: Ctx) -> dict:
    storage = ctx.work / "dcmqrscp-db"
    if storage.exists():
        shutil.rmtree(storage)
    storage.mkdir()
    received = ctx.work / "storescp-in"
    if received.exists():
        shutil.rmtree(received)
    received.mkdir()
    cfg = ctx.work / "dcmqrscp.cfg"
    hosts = f"HostTable BEGIN\nstorescp = (STORESCP, {LOCAL}, {ctx.port2})\nHostTable END"
    cfg.write_text(DCMQRSCP_CFG.format(port=ctx.port, storage=storage)
                   .replace("HostTable BEGIN\nHostTable END", hosts))
    files = []
    for i in range(2):
        path = ctx.work / f"sc{i}.dcm"
        make_sc(i, 0).save_as(path, enforce_file_format=True)
        files.append(str(path))
    pid = PATIENTS[0][1]

    def move(destination: str, log_name: str) -> str:
        p = run_tool([MOVESCU, "-P", "-aet", "MOVESCU", "-aec", "DCMQRSCP", "-aem", destination,
                      "-k", "QueryRetrieveLevel=PATIENT", "-k", f"PatientID={pid}", LOCAL, str(ctx.port)],
                     ctx.work, log_name, expect_rc=None)
        return (p.stdout + p.stderr).decode("utf-8", "replace")

    with background([STORESCP, "-aet", "STORESCP", "-od", str(received), str(ctx.port2)],
                    ctx.work, "storescp.log") as scp, \
            background([DCMQRSCP, "-c", str(cfg), str(ctx.port)], ctx.work, "dcmqrscp.log") as qr:
        wait_listening(ctx.port2, scp)
        wait_listening(ctx.port, qr)
        run_tool([STORESCU, "-aet", "STORESCU", "-aec", "DCMQRSCP", LOCAL, str(ctx.port), *files],
                 ctx.work, "storescu.log")
        time.sleep(0.3)
        move("STORESCP", "movescu.log")
        deadline = time.monotonic() + 10
        while len(list(received.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        require(len(list(received.iterdir())) == 2, "storescp did not receive the two moved images")
        time.sleep(0.3)
        out = move("NOWHERE", "movescu-unknown.log")
        require("0xa801" in out.lower() or "a801" in out.lower() or "Refused" in out,
                f"the C-MOVE to NOWHERE was not refused with 0xA801: {out[-500:]}")
    return {"ports": [ctx.port, ctx.port2], "associations": [
        assoc_spec("STORESCU", "DCMQRSCP", "released",
                   [ex("C-STORE", i + 1, SECONDARY_CAPTURE, 0, "0x0000", final_has_dataset=False) for i in range(2)]),
        assoc_spec("MOVESCU", "DCMQRSCP", "released",
                   [ex("C-MOVE", 1, PATIENT_ROOT_MOVE, MOVE_PENDING, "0x0000")]),
        assoc_spec("DCMQRSCP", "STORESCP", "released",
                   [ex("C-STORE", i + 1, SECONDARY_CAPTURE, 0, "0x0000", final_has_dataset=False) for i in range(2)]),
        assoc_spec("MOVESCU", "DCMQRSCP", "released",
                   [ex("C-MOVE", 1, PATIENT_ROOT_MOVE, 0, "0xA801")]),
    ]}


# dcmqrscp 3.6.7 sends a Pending C-MOVE-RSP after each sub-operation, then the final one.
MOVE_PENDING = 2


def sc_dcmtk_echo(ctx: Ctx) -> dict:
    (ctx.work / "storescp-in").mkdir(exist_ok=True)
    with background([STORESCP, "-aet", "STORESCP", "-od", str(ctx.work / "storescp-in"), str(ctx.port)],
                    ctx.work, "storescp.log") as proc:
        wait_listening(ctx.port, proc)
        run_tool([ECHOSCU, "-aet", "ECHOSCU", "-aec", "STORESCP", LOCAL, str(ctx.port)], ctx.work, "echoscu.log")
    return {"associations": [assoc_spec("ECHOSCU", "STORESCP", "released",
                                        [ex("C-ECHO", 1, VERIFICATION, 0, "0x0000", final_has_dataset=False)])]}


# ---- no DICOM -------------------------------------------------------------------

def sc_no_dicom(ctx: Ctx) -> dict:
    root = ctx.work / "www"
    root.mkdir(exist_ok=True)
    (root / "index.html").write_text("<html><body>not DICOM</body></html>\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer((LOCAL, ctx.port), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        for path in ("/", "/index.html"):
            with urllib.request.urlopen(f"http://{LOCAL}:{ctx.port}{path}", timeout=10) as r:
                require(r.status == 200, f"HTTP {r.status}")
                r.read()
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(10)
    return {"associations": []}


# =============================================================================
# Part 7. Scenario table
# =============================================================================

@dataclass
class Scenario:
    name: str
    run: object
    port: int
    description: str
    peers: list[str]
    family: str = "ipv4"
    # Scenarios with two acceptors get a second port (Ctx.port2), the next free one after `port`.
    two_ports: bool = False


def pyn(role: str) -> str:
    return f"{role}: {PYNETDICOM} with {PYDICOM}"


SCENARIOS = [
    Scenario("rpi_general_one_match", sc_rpi_general_one_match, 11112,
             "Relevant Patient Information Query, General (TID 9007): one association, one C-FIND whose "
             "identifier has PatientName '' (universal match), PatientID 1234567 and ContentTemplateSequence "
             "DCMR/9007; the SCP answers one Pending identifier (Doe^John, CONTAINER with a TEXT and a CODE "
             "item) and then Success. pynetdicom 3.0.4's RPI SCP sends the final Success with the same "
             "identifier attached (PS3.4 C.4.1.1.4: only pending responses carry one).",
             [pyn("SCU"), pyn("SCP")]),
    Scenario("rpi_no_match", sc_rpi_no_match, 11112,
             "RPI General C-FIND for PatientID 7654321: no match, the SCP answers Success without pending "
             "responses and without a data set.", [pyn("SCU"), pyn("SCP")]),
    Scenario("rpi_multiple_matches", sc_rpi_multiple_matches, 11112,
             "RPI General C-FIND answered 0xC100 (Failed: more than one match found), no pending response.",
             [pyn("SCU"), pyn("SCP")]),
    Scenario("rpi_breast", sc_rpi_breast, 11112,
             "Breast Imaging Relevant Patient Information Query (1.2.840.10008.5.1.4.37.2), template 9000: one "
             "Pending match then Success with a data set (pynetdicom's RPI SCP).", [pyn("SCU"), pyn("SCP")]),
    Scenario("rpi_cardiac", sc_rpi_cardiac, 11112,
             "Cardiac Relevant Patient Information Query (1.2.840.10008.5.1.4.37.3), template 3802: one "
             "Pending match then Success with a data set (pynetdicom's RPI SCP).", [pyn("SCU"), pyn("SCP")]),
    Scenario("rpi_unsupported_template", sc_rpi_unsupported_template, 11112,
             "RPI General C-FIND asking for template 2000 (not an RPI template): the SCP answers 0xC200 "
             "(Failed: unable to support requested template).", [pyn("SCU"), pyn("SCP")]),
    Scenario("rpi_small_pdu", sc_rpi_small_pdu, 11112,
             f"RPI General C-FIND with both AEs announcing a maximum PDU length of {SMALL_PDU}: the response "
             "identifier (42 content items, ~6 KB) spans many P-DATA-TF PDUs, each with one PDV fragment of at "
             f"most {SMALL_PDU - 6} bytes; the final Success carries the identifier again.",
             [pyn("SCU"), pyn("SCP")]),
    Scenario("rejected", sc_rejected, 11112,
             "A-ASSOCIATE-RQ from ECHO_SCU to called AE NOT_ARCHIVE; the SCP (AE ARCHIVE, require_called_aet) "
             "answers A-ASSOCIATE-RJ rejected-permanent, source service-user, reason 7 (called AE title not "
             "recognized).", [pyn("SCU"), pyn("SCP")]),
    Scenario("aborted", sc_aborted, 11112,
             "C-ECHO, then the SCU sends A-ABORT (source 0, service user) instead of releasing.",
             [pyn("SCU"), pyn("SCP")]),
    Scenario("cancel", sc_cancel, 11112,
             "Patient Root C-FIND to a slow SCP (one match every 0.5 s): after the first Pending response the "
             "SCU sends C-CANCEL-RQ for message 1; the SCP answers 0xFE00 (Cancel) and the association is "
             "released.", [pyn("SCU"), pyn("SCP")]),
    Scenario("concurrent", sc_concurrent, 11112,
             "Four associations at the same time to one SCP (threads SCU_1..SCU_4, released after their "
             "work), each an RPI General C-FIND (message 1, one match, Success with data set) and a C-ECHO "
             "(message 2); their packets interleave.", [pyn("SCU x4"), pyn("SCP")]),
    Scenario("dcmtk_find_store", sc_dcmtk_find_store, 11112,
             "dcmqrscp (AE DCMQRSCP, forking) receives three Secondary Capture images of two patients "
             "from storescu in one association (three C-STOREs), then findscu -P queries Patient Root at "
             "PATIENT level (PatientName, PatientID universal) and gets the two stored patients.",
             ["SCU: DCMTK 3.6.7 storescu and findscu", "SCP: DCMTK 3.6.7 dcmqrscp"]),
    Scenario("dcmtk_move", sc_dcmtk_move, 11112,
             "dcmqrscp (AE DCMQRSCP, forking; HostTable: STORESCP at the second port) receives two Secondary "
             "Capture images of one patient from storescu, then movescu -P (AE MOVESCU) moves that patient to "
             "STORESCP: dcmqrscp opens a second association to storescp (AE STORESCP) and sends the two images "
             "as C-STORE sub-operations naming the C-MOVE (Move Originator AE Title MOVESCU, Message ID 1), "
             "then the final C-MOVE-RSP. A second movescu asks for the Move Destination NOWHERE, which "
             "dcmqrscp does not know: 0xA801 (Refused: move destination unknown), no sub-association.",
             ["SCU: DCMTK 3.6.7 storescu and movescu", "SCP: DCMTK 3.6.7 dcmqrscp",
              "Move Destination: DCMTK 3.6.7 storescp"], two_ports=True),
    Scenario("dcmtk_echo", sc_dcmtk_echo, 11112, "echoscu -> storescp: one C-ECHO, released.",
             ["SCU: DCMTK 3.6.7 echoscu", "SCP: DCMTK 3.6.7 storescp"]),
    Scenario("explicit_be", sc_explicit_be, 11112,
             "Patient Root C-FIND on a context proposed and accepted with Explicit VR Big Endian "
             "(1.2.840.10008.1.2.2) only: request and three Pending identifiers are big-endian data sets.",
             [pyn("SCU"), pyn("SCP")]),
    Scenario("explicit_le", sc_explicit_le, 11112,
             "Patient Root C-FIND on a context accepted with Explicit VR Little Endian; three matches.",
             [pyn("SCU"), pyn("SCP")]),
    Scenario("utf8_names", sc_utf8_names, 11112,
             "Patient Root C-FIND with SpecificCharacterSet ISO_IR 192 (UTF-8): query PatientName 'Müller*', "
             "three matches 'Müller^Jürgen', '山田^太郎', 'Ærøskøbing^Åse', each with ISO_IR 192.",
             [pyn("SCU"), pyn("SCP")]),
    Scenario("nonstandard_port", sc_nonstandard_port, 4242,
             "The rpi_general_one_match exchange on port 4242, which is not a DICOM port (104, 11112): "
             "the analyzer must recognise the association by its A-ASSOCIATE-RQ. (tshark 4.0 does too "
             "without -d: its dicom_tcp heuristic is enabled by default and checks the A-ASSOCIATE-RQ.)", [pyn("SCU"), pyn("SCP")]),
    Scenario("ipv6", sc_ipv6, 11112,
             "Patient Root C-FIND over IPv6 loopback [::1] (pynetdicom 3.0.4 AE.start_server(('::1', port)) "
             "and ae.associate('::1', port) work as documented); three matches.",
             [pyn("SCU"), pyn("SCP")], family="ipv6"),
    Scenario("deflated", sc_deflated, 11112,
             "Patient Root C-FIND on a context accepted as Deflated Explicit VR Little Endian "
             "(1.2.840.10008.1.2.1.99): the request identifier and the three Pending identifiers are raw "
             "deflate streams; commands stay Implicit VR LE.", [pyn("SCU"), pyn("SCP")]),
    Scenario("no_dicom", sc_no_dicom, 8080,
             "Two HTTP GETs (python http.server and urllib on loopback, HTTP/1.0 and 1.1 connections): plain "
             "TCP, no DICOM.", [f"client: Python {sys.version.split()[0]} urllib",
                                f"server: Python {sys.version.split()[0]} http.server"]),
]


def record_scenario(sc: Scenario, work: Path) -> tuple[Path, dict]:
    port = free_port(sc.port)
    path = OUT / f"{sc.name}.pcapng"
    sw = work / sc.name
    sw.mkdir(parents=True, exist_ok=True)
    port2 = 0
    if sc.two_ports:
        port2 = free_port(port + 1)
    ctx = Ctx(port, sw, path, port2)
    capture_filter = f"tcp port {port}" + (f" or tcp port {port2}" if port2 else "")
    with dumpcap(path, capture_filter, sw):
        expect = sc.run(ctx)
    expect["port"] = port
    expect["ports"] = [port] + ([port2] if port2 else [])
    expect["filter"] = capture_filter
    return path, expect


# =============================================================================
# Part 8. Comparing the reference reader's facts with the scenario
# =============================================================================

def check(facts: dict, expect: dict) -> list[str]:
    errs = []
    got = facts["associations"]
    want = expect["associations"]
    if len(got) != len(want):
        return [f"{len(got)} associations, expected {len(want)}"]
    pairs = list(zip(got, want))
    if expect.get("unordered"):
        pairs = list(zip(sorted(got, key=lambda a: a["calling_ae"] or ""),
                         sorted(want, key=lambda a: a["calling_ae"])))
    for i, (g, w) in enumerate(pairs):
        for k in ("calling_ae", "called_ae", "outcome", "reject", "abort", "max_pdu"):
            if k in w and g.get(k) != w[k]:
                errs.append(f"association {i}: {k} {g.get(k)!r}, expected {w[k]!r}")
        if len(g["exchanges"]) != len(w["exchanges"]):
            errs.append(f"association {i}: {len(g['exchanges'])} exchanges, expected {len(w['exchanges'])}")
            continue
        for ge, we in zip(g["exchanges"], w["exchanges"]):
            for k, v in we.items():
                if ge.get(k) != v:
                    errs.append(f"association {i} message {we['message_id']}: {k} {ge.get(k)!r}, expected {v!r}")
        if sorted(g["findings"]) != sorted(w["findings"]):
            errs.append(f"association {i}: findings {g['findings']}, expected {w['findings']}")
    if expect.get("overlapping") and len(got) > 1:
        spans = sorted((a["first_frame"], a["last_frame"]) for a in got)
        if not all(spans[j + 1][0] < spans[j][1] for j in range(len(spans) - 1)):
            errs.append(f"associations do not overlap in time: {spans}")
    if facts["gaps"]:
        errs.append(f"gaps in a recorded capture: {facts['gaps']}")
    return errs


# =============================================================================
# Part 9. Derived captures (written by this file's pcap/pcapng writer)
# =============================================================================

def data_segments(cap: CaptureFile) -> list[tuple[int, Segment]]:
    """(record index, segment) of every TCP segment with payload, in file order."""
    out = []
    for i, rec in enumerate(cap.records):
        seg = decode_packet(rec, i + 1)
        if seg is not None and seg.payload:
            out.append((i, seg))
    return out


def pdu_types_in(payload: bytes) -> list[str]:
    """PDU types of the PDUs starting in a segment that begins at a PDU boundary."""
    names, pos = [], 0
    while pos + 6 <= len(payload) and payload[pos] in PDU_NAMES:
        names.append(PDU_NAMES[payload[pos]])
        pos += 6 + struct.unpack_from(">I", payload, pos + 2)[0]
    return names


def derive_reordered(src: CaptureFile, server_port: int) -> tuple[list[Record], dict]:
    segs = data_segments(src)
    # Two consecutive data segments of one sender with no data from the other side between them.
    pair = None
    for (i, a), (j, b) in zip(segs, segs[1:]):
        if a.src == b.src:
            pair = (i, j, a, b)
            break
    require(pair is not None, "no two consecutive data segments from one sender")
    i, j, a, b = pair
    recs = [Record(r.ts_ns, r.data, r.orig_len, r.linktype) for r in src.records]
    # Swap the two packets but keep the timestamps in place (the file stays in time order).
    recs[i], recs[j] = (Record(src.records[i].ts_ns, src.records[j].data, src.records[j].orig_len, 1),
                        Record(src.records[j].ts_ns, src.records[i].data, src.records[i].orig_len, 1))
    # A retransmission: the acceptor's largest data segment sent again after its next data segment.
    acc = [(k, s) for k, s in segs if s.src[1] == server_port]
    big_k, big = max(acc, key=lambda t: len(t[1].payload))
    later = [k for k, s in acc if k > big_k]
    after = later[0] if later else big_k
    ts = (recs[after].ts_ns + recs[after + 1].ts_ns) // 2 if after + 1 < len(recs) else recs[after].ts_ns + 1000
    recs.insert(after + 1, Record(ts, src.records[big_k].data, src.records[big_k].orig_len, 1))
    damage = {"swapped_frames": [i + 1, j + 1],
              "swapped_pdus": [pdu_types_in(a.payload), pdu_types_in(b.payload)],
              "swapped_sender": "requestor" if a.src[1] != server_port else "acceptor",
              "duplicated_frame": big_k + 1, "duplicate_inserted_as_frame": after + 2 + (0 if after >= j else 0),
              "duplicate_pdus": pdu_types_in(big.payload), "duplicate_bytes": len(big.payload)}
    return recs, damage


def derive_lost_segment(src: CaptureFile, server_port: int) -> tuple[list[Record], dict]:
    segs = data_segments(src)
    acc = [(k, s) for k, s in segs if s.src[1] == server_port]
    # the acceptor's first P-DATA-TF segment: the C-FIND-RSP (Pending) command set
    k, s = next((k, s) for k, s in acc if s.payload[:1] == b"\x04")
    recs = [r for n, r in enumerate(src.records) if n != k]
    # stream offset of the removed bytes in the acceptor's stream
    syn = next(x for _, x in ((n, decode_packet(r, n + 1)) for n, r in enumerate(src.records))
               if x is not None and x.src[1] == server_port and x.flags & SYN)
    offset = (s.seq - syn.seq - 1) & 0xFFFFFFFF
    damage = {"removed_frame": k + 1, "sender": "acceptor", "stream_offset": offset, "length": len(s.payload),
              "removed_pdus": pdu_types_in(s.payload),
              "note": "the gap is PDU-aligned (loopback carries one or more whole PDUs per segment); the "
                      "acceptor's next segment starts with a PDU header"}
    return recs, damage


def derive_truncated(src_path: Path, src: CaptureFile, server_port: int) -> tuple[bytes, dict]:
    data = src_path.read_bytes()
    segs = data_segments(src)
    acc = [(k, s) for k, s in segs if s.src[1] == server_port]
    k, s = max(acc, key=lambda t: len(t[1].payload))
    # find the byte offset of the k-th EPB
    off, n = 0, -1
    while off < len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if btype == 6:
            n += 1
            if n == k:
                break
        off += blen
    blen = struct.unpack_from("<I", data, off + 4)[0]
    cut = off + 28 + 14 + 20 + 32 + len(s.payload) // 2  # EPB header, headers, half the payload
    cut = min(cut, off + blen - 8)
    damage = {"cut_at_byte": cut, "file_bytes_before": len(data), "cut_record": k + 1,
              "cut_record_starts_at": off, "cut_record_length": blen, "complete_records": k,
              "cut_record_pdus": pdu_types_in(s.payload)}
    return data[:cut], damage


SNAPLEN = 200


def derive_snaplen(src: CaptureFile) -> tuple[list[Record], dict]:
    recs, cut = [], []
    for n, r in enumerate(src.records):
        if len(r.data) > SNAPLEN:
            seg = decode_packet(r, n + 1)
            cut.append({"frame": n + 1, "orig_len": r.orig_len, "payload_bytes": len(seg.payload) if seg else None,
                        "payload_kept": max(0, len(seg.payload) - (len(r.data) - SNAPLEN)) if seg else None,
                        "pdus": pdu_types_in(seg.payload) if seg else []})
        recs.append(Record(r.ts_ns, r.data[:SNAPLEN], r.orig_len, r.linktype))
    return recs, {"snaplen": SNAPLEN, "cut_packets": cut,
                  "headers": "Ethernet 14 + IPv4 20 + TCP 32 (timestamps option) = 66 bytes, so at most "
                             f"{SNAPLEN - 66} payload bytes per packet are kept"}


def derive_link(src: CaptureFile, kind: str) -> tuple[list[Record], int]:
    out = []
    for r in src.records:
        eth, rest = r.data[:14], r.data[14:]
        ethertype = eth[12:14]
        if kind == "vlan":
            d = eth[:12] + b"\x81\x00" + struct.pack(">H", 100) + ethertype + rest  # PCP 0, VID 100
            out.append(Record(r.ts_ns, d, r.orig_len + 4, 1))
        elif kind == "sll":
            # Linux cooked v1: packet type 0 (to us; libpcap drops lo's outgoing copies),
            # ARPHRD_LOOPBACK 772, address length 6, zero address, then the EtherType.
            d = struct.pack(">HHH8s", 0, 772, 6, b"") + ethertype + rest
            out.append(Record(r.ts_ns, d, r.orig_len - 14 + 16, 113))
        elif kind == "null":
            fam = 2 if ethertype == b"\x08\x00" else 30
            d = struct.pack("<I", fam) + rest  # host byte order of the (little-endian) writer
            out.append(Record(r.ts_ns, d, r.orig_len - 14 + 4, 0))
    return out, {"vlan": 1, "sll": 113, "null": 0}[kind]


def derive_mid_stream(src: CaptureFile) -> tuple[list[Record], dict]:
    segs = data_segments(src)
    first_pdata = next(k for k, s in segs if s.payload[:1] == b"\x04")
    removed = [pdu for k, s in segs if k < first_pdata for pdu in pdu_types_in(s.payload)]
    return src.records[first_pdata:], {"removed_frames": f"1-{first_pdata}", "removed_pdus": removed,
                                       "first_kept_frame_in_source": first_pdata + 1}


# =============================================================================
# Part 10. Manifest
# =============================================================================

def tshark_notes(facts: dict, ts: dict, name: str) -> tuple[bool, list[str]]:
    notes = []
    ref_pdus = facts["pdu_counts"]
    ref_cmds = sum(sum(a.get("_commands", {}).values()) for a in facts["associations"])
    agree = ts["pdu_types"] == ref_pdus
    if not agree:
        notes.append(f"PDU counts differ: tshark {ts['pdu_types']}, reference reader {ref_pdus}")
    if ts["dimse_commands"] != ref_cmds:
        agree = False
        notes.append(f"DIMSE command sets: tshark shows {ts['dimse_commands']} complete ones "
                     f"(PDVs with flags 0x03), the reference reader {ref_cmds}")
    named = Counter()
    for a in facts["associations"]:
        named.update(a.get("_commands", {}))
    if ts["dimse_commands_decoded"] != dict(sorted(named.items())):
        agree = False
        notes.append(f"command sets tshark decoded (Command Field) {ts['dimse_commands_decoded']}, "
                     f"the reference reader {dict(sorted(named.items()))}")
    return agree, notes


# Why tshark 4.0.17 (Debian 12) differs from the capture, per capture (seen when writing this script).
TSHARK_BLIND_SPOTS: dict[str, list[str]] = {
    "deflated": [
        "tshark 4.0 decodes the command sets the acceptor sends on a Deflated Explicit VR LE context with that "
        "context's transfer syntax instead of Implicit VR LE (PS3.7 6.3.1): every C-FIND-RSP is shown as "
        "'Command' / 'Command-DATA' with a bogus private tag and expert info 'Early termination of tag. Data is "
        "missing', so tshark names no C-FIND response, no status and no match; the PDUs and PDV flags are "
        "still counted right",
    ],
    "reordered": [
        "with tcp.reassemble_out_of_order TRUE tshark 4.0 reassembles the swapped segments and counts every PDU "
        "and command set, but labels the late first segment '[TCP Spurious Retransmission]'; with its default "
        "(FALSE) it loses the requestor's C-FIND-RQ command set (the segment that arrived second is treated as "
        "already seen): 5 P-DATA-TF and no C-FIND-RQ (tshark_without_out_of_order_reassembly)",
    ],
    "lost_segment": [
        "with tcp.reassemble_out_of_order TRUE tshark 4.0 waits for the missing segment forever: nothing the "
        "acceptor sent after the gap is decoded (no C-FIND-RSP, no A-RELEASE-RP); with the default FALSE it "
        "resumes at the next segment, which starts with a PDU header, and shows the Success C-FIND-RSP",
    ],
    "snaplen": [
        "with tcp.reassemble_out_of_order TRUE tshark 4.0 shows only the cut packets (PDU type and length, "
        "'[Packet size limited during capture]', not even the AE titles of the cut A-ASSOCIATE-RQ) and none of "
        "the whole packets after the first cut: no C-FIND-RQ, no pending C-FIND-RSP, no A-RELEASE; with the "
        "default FALSE it decodes every PDU that starts in a whole packet",
    ],
    "truncated": [
        "tshark exits with status 2 ('appears to have been cut short in the middle of a packet') after decoding "
        "the complete records",
    ],
    "mid_stream": [
        "without -d tcp.port==PORT,dicom tshark finds no DICOM at all: its dicom_tcp heuristic only accepts a "
        "connection that starts with an A-ASSOCIATE-RQ (tshark_without_decode_as)",
    ],
    "nonstandard_port": [
        "tshark 4.0 needs no -d here: its dicom_tcp heuristic is enabled by default and recognises the "
        "A-ASSOCIATE-RQ on any port (tshark_without_decode_as)",
    ],
}


def finish_facts(facts: dict) -> dict:
    """Commands per association (for tshark's cross-check) and summary counts."""
    for a in facts["associations"]:
        cmds = Counter()
        for e in a["exchanges"]:
            cmds[f"{e['service']}-RQ"] += 1
            if e["cancel_requested"]:
                cmds["C-CANCEL-RQ"] += 1
            cmds[f"{e['service']}-RSP"] += e["pending"] + (1 if e["final_status"] else 0)
        a["_commands"] = dict(sorted(cmds.items()))
    return facts


def public_facts(facts: dict) -> dict:
    assocs = []
    for a in facts["associations"]:
        a = dict(a)
        a["dimse_commands"] = a.pop("_commands")
        assocs.append(a)
    cmd_total = Counter()
    for a in assocs:
        cmd_total.update(a["dimse_commands"])
    return {"associations": len(assocs),
            "outcomes": dict(sorted(Counter(a["outcome"] for a in assocs).items())),
            "pdu_counts": facts["pdu_counts"],
            "dimse_commands": dict(sorted(cmd_total.items())),
            "dimse_commands_total": sum(cmd_total.values()),
            "findings": sorted({f for a in assocs for f in a["findings"]}),
            "stream_gaps": facts["gaps"],
            "retransmitted_segments": facts["retransmitted_segments"],
            "reader_notes": facts["notes"],
            "read_error": facts["read_error"],
            "association_details": assocs}


def capture_entry(path: Path, description: str, peers: list[str], ports: list[int], family: str,
                  facts: dict, how: str, source: str | None = None, damage: dict | None = None,
                  blind_spots: dict[str, list[str]] | None = None) -> dict:
    blind_spots = blind_spots if blind_spots is not None else TSHARK_BLIND_SPOTS
    facts = finish_facts(facts)
    ts = tshark_view(path, ports)
    agree, notes = tshark_notes(facts, ts, path.name)
    ts_default = tshark_view(path, ports, out_of_order=False)
    entry = {
        "name": path.name,
        "description": description,
        "how": how,
        "peers": peers,
        "dicom_ports": ports,
        "ip_family": family,
        "format": facts["format"],
        "link_type": {"value": facts["link_type"], "name": LINKTYPES.get(facts["link_type"], "?")},
        "snaplen": facts["snaplen"],
        "packets": facts["packets"],
        "size_bytes": path.stat().st_size,
    }
    if source:
        entry["derived_from"] = source
    if damage:
        entry["damage"] = damage
    entry["expected"] = public_facts(facts)
    entry["tshark"] = ts
    entry["tshark_agrees"] = agree
    entry["tshark_notes"] = notes + blind_spots.get(path.stem, [])
    if (ts_default["pdu_types"], ts_default["dimse_commands"]) != (ts["pdu_types"], ts["dimse_commands"]):
        entry["tshark_without_out_of_order_reassembly"] = {
            k: ts_default[k] for k in ("pdu_types", "pdus_total", "dimse_commands", "dimse_commands_decoded",
                                       "statuses_decoded")}
    entry["tshark_without_decode_as"] = tshark_without_decode_as(path)
    return entry


# =============================================================================
# Part 11. Main
# =============================================================================

def reexec_in_netns(argv: list[str]) -> int | None:
    """Run this script again in a private network namespace; None when that is not possible."""
    if os.environ.get(NETNS_ENV) or shutil.which("unshare") is None:
        return None
    probe = subprocess.run(["timeout", "10", "unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        log("unshare -n is not permitted here: recording on the host's loopback")
        return None
    env = dict(os.environ, **{NETNS_ENV: "1"})
    cmd = ["timeout", "-k", "10", "1500", "unshare", "-n", "sh", "-c",
           'ip link set lo up && exec "$0" "$@"', sys.executable, str(Path(__file__).resolve()), *argv]
    return subprocess.run(cmd, env=env).returncode


def versions() -> dict:
    return {"pynetdicom": __import__("pynetdicom").__version__, "pydicom": pydicom.__version__,
            "python": sys.version.split()[0], "dcmtk": tool_version([ECHOSCU, "--version"]),
            "dumpcap": tool_version([DUMPCAP, "--version"]), "tshark": tool_version([TSHARK, "--version"]),
            "kernel": os.uname().release}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="scenario names, and/or 'derived' for the captures derived "
                    "from rpi_general_one_match.pcapng; the manifest keeps the other entries")
    ap.add_argument("--keep-work", type=Path, help="keep logs and temporary files in this folder")
    ap.add_argument("--no-netns", action="store_true", help="record on the host's loopback")
    args = ap.parse_args()
    if not args.no_netns:
        rc = reexec_in_netns(sys.argv[1:])
        if rc is not None:
            return rc
    netns = bool(os.environ.get(NETNS_ENV))
    OUT.mkdir(exist_ok=True)
    work = args.keep_work or Path(tempfile.mkdtemp(prefix="dicomtap-captures-"))
    work.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "manifest.json"
    old = {}
    if manifest_path.exists() and args.only:
        old = {c["name"]: c for c in json.loads(manifest_path.read_text()).get("captures", [])}
    entries: dict[str, dict] = {}
    failed: list[str] = []
    try:
        for sc in SCENARIOS:
            if args.only and sc.name not in args.only:
                continue
            for attempt in range(1, 4):
                try:
                    path, expect = record_scenario(sc, work)
                    facts = analyze(path, expect["ports"])
                    errs = check(facts, expect)
                    if errs:
                        raise RuntimeError("; ".join(errs))
                    entries[path.name] = capture_entry(
                        path, sc.description, sc.peers, expect["ports"], sc.family, facts,
                        f"recorded: dumpcap -i lo -w {path.name} -f \"{expect['filter']}\"")
                    log(f"ok   {path.name}: {facts['packets']} packets, {path.stat().st_size} bytes")
                    break
                except Exception as e:
                    log(f"FAIL {sc.name} (attempt {attempt}): {e}")
                    if attempt == 3:
                        traceback.print_exc()
                        failed.append(sc.name)
        src_path = OUT / "rpi_general_one_match.pcapng"
        if not args.only or "derived" in args.only:
            if src_path.exists():
                entries.update(make_derived(src_path, work))
            else:
                failed.append("derived captures (no rpi_general_one_match.pcapng)")
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    merged = dict(old)
    merged.update(entries)
    order = [f"{s.name}.pcapng" for s in SCENARIOS] + [f"{n}" for n in DERIVED_FILES]
    captures = [merged[n] for n in order if n in merged]
    manifest = {
        "generator": "tools/make_captures.py",
        "recorded_in": "a private network namespace (unshare -n), loopback only" if netns
        else "the host's loopback",
        "versions": versions(),
        "conventions": MANIFEST_CONVENTIONS,
        "tshark_field_names": TSHARK_FIELDS,
        "captures": captures,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir() if p.is_file())
    log(f"{len(captures)} captures in {OUT} ({total} bytes with the manifest)")
    if failed:
        log("failed: " + ", ".join(failed))
        return 1
    return 0


DERIVED_NAMES = ["reordered", "lost_segment", "truncated", "snaplen", "vlan", "sll", "null", "mid_stream"]
DERIVED_FILES = ["reordered.pcapng", "lost_segment.pcapng", "truncated.pcapng", "snaplen.pcap", "vlan.pcap",
                 "sll.pcap", "null.pcap", "mid_stream.pcapng"]


def capture_entry_facts(facts: dict) -> dict:
    return public_facts(finish_facts(json.loads(json.dumps(facts))))


def strip_frames(expected: dict) -> dict:
    """Facts without what a derivation may change: frame numbers, retransmissions, notes."""
    e = json.loads(json.dumps(expected))
    e.pop("retransmitted_segments", None)
    for a in e["association_details"]:
        a.pop("first_frame", None)
        a.pop("last_frame", None)
    return e


def make_derived(src_path: Path, work: Path) -> dict[str, dict]:
    src = read_capture(src_path)
    base = analyze(src_path, [11112])
    port = int(base["associations"][0]["server"].rsplit(":", 1)[1])
    peers = [pyn("SCU"), pyn("SCP")]
    out: dict[str, dict] = {}
    srcname = src_path.name

    def add(path: Path, desc: str, how: str, damage: dict | None) -> None:
        facts = analyze(path, [port])
        e = capture_entry(path, desc, peers, [port], "ipv4", facts, how, srcname, damage)
        if path.stem in ("vlan", "sll", "null", "reordered"):
            e["expected_is"] = "ground truth: the same streams as the source capture"
            require(strip_frames(e["expected"]) == strip_frames(capture_entry_facts(base)),
                    f"{path.name}: the reference reader's facts differ from the source's")
        else:
            e["expected_is"] = ("what the reference reader recovers from the damaged capture; the traffic that "
                                "really happened is the source capture's (see its entry)")
        out[path.name] = e
        log(f"ok   {path.name}: {facts['packets']} packets, {path.stat().st_size} bytes")

    recs, damage = derive_reordered(src, port)
    p = OUT / "reordered.pcapng"
    write_pcapng_like(p, src, recs, "derived by tools/make_captures.py from rpi_general_one_match.pcapng: "
                                    "two segments swapped, one retransmitted")
    add(p, "rpi_general_one_match with two consecutive data segments of one sender swapped (timestamps kept "
           "in file order, so the later bytes arrive first) and the acceptor's largest data segment sent a "
           "second time after its next segment (a full-overlap retransmission). Reassembly by sequence number "
           "gives back the source's streams exactly.",
        "derived: packets of rpi_general_one_match.pcapng rewritten into a new pcapng (source SHB + IDB, "
        "new EPBs)", damage)

    recs, damage = derive_lost_segment(src, port)
    p = OUT / "lost_segment.pcapng"
    write_pcapng_like(p, src, recs, "derived by tools/make_captures.py from rpi_general_one_match.pcapng: "
                                    "one data segment removed")
    add(p, "rpi_general_one_match with the acceptor's first P-DATA-TF segment (the Pending C-FIND-RSP command "
           "set) removed: a gap in the acceptor's stream. The analyzer must report the gap and go on; the data "
           "set that followed the lost command has no command any more.",
        "derived: packets of rpi_general_one_match.pcapng minus one, in a new pcapng", damage)

    data, damage = derive_truncated(src_path, src, port)
    p = OUT / "truncated.pcapng"
    p.write_bytes(data)
    add(p, "rpi_general_one_match.pcapng cut in the middle of the packet record that carries the acceptor's "
           "largest segment (the pending identifier): the records before it are whole, the file ends inside "
           "a record, and the exchange and the association are unfinished.",
        "derived: the first bytes of rpi_general_one_match.pcapng", damage)

    recs, damage = derive_snaplen(src)
    p = OUT / "snaplen.pcap"
    write_pcap(p, recs, 1, SNAPLEN)
    add(p, f"rpi_general_one_match as a classic pcap (nanosecond timestamps) with snaplen {SNAPLEN}: every "
           f"packet longer than {SNAPLEN} bytes is cut (captured length < original length), so the payload of "
           "the association PDUs and of the larger P-DATA-TF segments is partly missing.",
        "derived: classic pcap (magic a1b23c4d, ns) written from the packets of rpi_general_one_match.pcapng",
        damage)

    for kind, desc in (("vlan", "Ethernet frames with an 802.1Q tag (TPID 0x8100, PCP 0, VLAN 100) inserted "
                                "after the MAC addresses"),
                       ("sll", "Linux cooked capture v1 (LINKTYPE_LINUX_SLL 113): 16-byte header, packet type 0, "
                               "ARPHRD_LOOPBACK 772, protocol 0x0800, instead of Ethernet"),
                       ("null", "BSD loopback (LINKTYPE_NULL 0): 4-byte address family 2 (AF_INET) in the "
                                "writer's (little-endian) byte order instead of Ethernet")):
        recs, lt = derive_link(src, kind)
        p = OUT / f"{kind}.pcap"
        write_pcap(p, recs, lt)
        add(p, f"rpi_general_one_match as a classic pcap with {desc}; same streams and facts as the source.",
            f"derived: classic pcap (magic a1b23c4d, ns), link type {lt}, written from the packets of "
            "rpi_general_one_match.pcapng", {"link_layer": kind})

    recs, damage = derive_mid_stream(src)
    p = OUT / "mid_stream.pcapng"
    write_pcapng_like(p, src, recs, "derived by tools/make_captures.py from rpi_general_one_match.pcapng: "
                                    "first packets removed")
    add(p, "rpi_general_one_match without its first packets (handshake, A-ASSOCIATE-RQ and -AC): the capture "
           "starts with the C-FIND-RQ. The analyzer must infer the association (requestor = the side that "
           "sends requests / not on the DICOM port), take the transfer syntax from the data, and report that "
           "it started mid-association (no AE titles, no contexts).",
        "derived: packets of rpi_general_one_match.pcapng from the first P-DATA-TF on, in a new pcapng", damage)
    return out


MANIFEST_CONVENTIONS = {
    "expected": "facts of the capture as read by the reference reader in tools/make_captures.py (TCP reassembly "
                "by sequence number, PS3.8 PDU framing, pydicom for command sets and identifiers); for recorded "
                "captures they are also checked against what the scenario did (statuses seen by the SCU, AE "
                "titles, outcome), so they are ground truth",
    "outcome": "released (A-RELEASE-RQ and -RP), rejected (A-ASSOCIATE-RJ), aborted (A-ABORT; abort.by names "
               "the sender), incomplete (the capture ends or the connection closes without any of these)",
    "exchanges": "one per request (C-CANCEL-RQ is not an exchange: it sets cancel_requested on the exchange it "
                 "cancels); pending = number of Pending (0xFF00/0xFF01) responses; final_status = status of the "
                 "final response as 0x....; null when none was seen; final_has_dataset: the final response's "
                 "CommandDataSetType is not 0x0101; matches: summary of each pending identifier",
    "findings": "codes of Sources/DICOMInspect/Model.swift Finding.Code expected for the association: "
                "final-response-with-dataset, multiple-pending-responses, missing-content-template-sequence, "
                "unanswered-request, started-mid-association",
    "dimse_commands": "command sets (requests, responses, C-CANCEL-RQ) per name",
    "stream_gaps": "bytes missing from a direction's TCP stream: sender, stream offset, length, the frame "
                   "before which they are missing, reason snaplen when the packet was cut",
    "tshark": "tshark 4.0 with -o tcp.reassemble_out_of_order:TRUE -d tcp.port==PORT,dicom -Y dicom: frames "
              "with DICOM, PDU types decoded (dicom.pdu.type, every occurrence), dimse_commands = PDVs whose "
              "flags (dicom.pdv.flags) say last fragment of a command set (0x03); dimse_commands_decoded and "
              "statuses_decoded = the (0000,0100) Command Field and (0000,0900) Status lines of tshark's PDML "
              "(-T pdml; tshark 4.0 has no named field for them); tshark_without_out_of_order_reassembly: the "
              "same with tshark's default tcp.reassemble_out_of_order FALSE, when it differs; "
              "tshark_without_decode_as: tshark with no -d (DICOM is registered on port 104 only; the dicom_tcp "
              "heuristic, on by default, needs the A-ASSOCIATE-RQ)",
}


if __name__ == "__main__":
    sys.exit(main())
