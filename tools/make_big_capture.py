#!/usr/bin/env python3
"""Writes a large synthetic-but-real capture for benchmarking `dicomtap analyze`.

The DICOM bytes are the exact streams pynetdicom 3.0.4 and DCMTK 3.6.7 exchanged
(Tests/DICOMULTests/Fixtures/peers, recorded by tools/capture_peer_fixtures.py): each
association is replayed into Ethernet/IPv4/TCP packets with correct sequence numbers,
SYN/FIN handshakes and ACKs, many associations interleaved on distinct client ports, a
mix of C-FIND (Relevant Patient Information and Patient Root) and C-STORE scenarios.

With --study N it writes one association instead: DCMTK storescu's A-ASSOCIATE-RQ/AC (the
recorded ones) and N C-STOREs of an --image-mb CT-like image each (command sets and data sets
encoded here, fragmented to the 16384-byte maximum the peers negotiated), answered Success:
a whole study on one association, for measuring memory on long associations.

usage: tools/make_big_capture.py OUT.pcap [--mb 500] [--concurrent 16] [--queries-only]
       tools/make_big_capture.py OUT.pcap --study 125 [--image-mb 8]
       tools/make_big_capture.py OUT.pcap --find-matches 1000000   (one C-FIND, a million pending responses)
"""
import argparse
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "Tests", "DICOMULTests", "Fixtures", "peers")
SCENARIOS = ["pynetdicom_rpi_find", "pynetdicom_rpi_find_multiple", "dcmtk_find_patient_root",
             "pynetdicom_store_fragmented", "dcmtk_store_fragmented_user_identity", "dcmtk_store",
             "pynetdicom_store", "pynetdicom_echo", "dcmtk_find_deflated"]
MSS = 1460
SERVER_IP = bytes([10, 0, 0, 1])
SERVER_PORT = 11112


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


class Writer:
    def __init__(self, f):
        self.f = f
        self.packets = 0
        # pcap, nanosecond timestamps, Ethernet
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))

    def packet(self, t_ns, src_ip, dst_ip, sport, dport, seq, ack, flags, payload=b""):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, self.packets & 0xFFFF, 0x4000, 64, 6, 0, src_ip, dst_ip)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
        frame = eth + ip + tcp + payload
        self.f.write(struct.pack("<IIII", t_ns // 1_000_000_000, t_ns % 1_000_000_000, len(frame), len(frame)))
        self.f.write(frame)
        self.packets += 1
        return len(frame) + 16


def load():
    manifest = {m["name"]: m for m in json.load(open(os.path.join(PEERS, "manifest.json")))}
    out = []
    for name in SCENARIOS:
        m = manifest[name]
        streams = {d: open(os.path.join(PEERS, f"{name}.{d}.bin"), "rb").read() for d in ("rq", "ac")}
        pdus = [(p["direction"], streams[p["direction"]][p["offset"]:p["offset"] + p["length"] + 6])
                for p in sorted(m["pdus"], key=lambda p: p["index"])]
        out.append((name, pdus))
    return out


def association(client_no):
    """Per-association state: yields packets lazily, one step at a time."""
    return {"client_ip": bytes([10, 1, (client_no >> 8) & 0xFF, client_no & 0xFF]),
            "port": 20000 + client_no % 40000}


def element(group, elem, vr, value, explicit=True):
    """One data element in little endian (explicit or implicit VR)."""
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    if not explicit:
        return struct.pack("<HHI", group, elem, len(value)) + value
    if vr in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def command_set(fields):
    """An Implicit VR LE command set with its group length first."""
    body = b"".join(element(0x0000, e, "", v, explicit=False) for e, v in fields)
    return element(0x0000, 0x0000, "", struct.pack("<I", len(body)), explicit=False) + body


def pdata(context, control, fragment):
    pdv = struct.pack("!IBB", len(fragment) + 2, context, control) + fragment
    return struct.pack("!BBI", 0x04, 0, len(pdv)) + pdv


def fragments(stream, context, is_command, maximum=16384):
    room = maximum - 6
    out = []
    for i in range(0, max(len(stream), 1), room):
        last = i + room >= len(stream)
        control = (0x01 if is_command else 0x00) | (0x02 if last else 0x00)
        out.append(pdata(context, control, stream[i:i + room]))
    return out


def study_pdus(count, image_mb):
    """The PDUs of one association: recorded negotiation, `count` C-STOREs of an image, release."""
    manifest = {m["name"]: m for m in json.load(open(os.path.join(PEERS, "manifest.json")))}
    m = manifest["dcmtk_store"]
    streams = {d: open(os.path.join(PEERS, f"dcmtk_store.{d}.bin"), "rb").read() for d in ("rq", "ac")}
    recorded = [(p["direction"], streams[p["direction"]][p["offset"]:p["offset"] + p["length"] + 6])
                for p in sorted(m["pdus"], key=lambda p: p["index"])]
    sop_class = b"1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage, presentation context 1 (Explicit VR LE)
    columns = 2048
    rows = max(1, image_mb * 1024 * 1024 // (columns * 2))
    pixels = bytes(range(256)) * (rows * columns * 2 // 256)
    pdus = [p for p in recorded if p[1][0] in (0x01, 0x02)]
    for n in range(1, count + 1):
        uid = b"1.2.826.0.1.3680043.10.543.%d" % n
        ds = b"".join([element(0x0008, 0x0016, "UI", sop_class), element(0x0008, 0x0018, "UI", uid),
                       element(0x0008, 0x0060, "CS", b"CT"), element(0x0010, 0x0010, "PN", b"Doe^Study"),
                       element(0x0010, 0x0020, "LO", b"STUDY-0001"), element(0x0028, 0x0002, "US", struct.pack("<H", 1)),
                       element(0x0028, 0x0004, "CS", b"MONOCHROME2"), element(0x0028, 0x0010, "US", struct.pack("<H", rows)),
                       element(0x0028, 0x0011, "US", struct.pack("<H", columns)),
                       element(0x0028, 0x0100, "US", struct.pack("<H", 16)), element(0x0028, 0x0101, "US", struct.pack("<H", 16)),
                       element(0x0028, 0x0102, "US", struct.pack("<H", 15)), element(0x0028, 0x0103, "US", struct.pack("<H", 0)),
                       element(0x7FE0, 0x0010, "OW", pixels)])
        rq = command_set([(0x0002, sop_class + b"\0"), (0x0100, struct.pack("<H", 0x0001)), (0x0110, struct.pack("<H", n)),
                          (0x0700, struct.pack("<H", 0)), (0x0800, struct.pack("<H", 0x0000)), (0x1000, uid)])
        rsp = command_set([(0x0002, sop_class + b"\0"), (0x0100, struct.pack("<H", 0x8001)), (0x0120, struct.pack("<H", n)),
                           (0x0800, struct.pack("<H", 0x0101)), (0x0900, struct.pack("<H", 0)), (0x1000, uid)])
        pdus += [("rq", p) for p in fragments(rq, 1, True) + fragments(ds, 1, False)]
        pdus += [("ac", p) for p in fragments(rsp, 1, True)]
    pdus += [("rq", bytes([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0])), ("ac", bytes([0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0]))]
    return pdus


def find_pdus(matches):
    """The PDUs of one association: DCMTK findscu's recorded Patient Root C-FIND (negotiation, request), its
    first pending response repeated `matches` times, its final response, release. A generator: a million
    responses are written without being held."""
    manifest = {m["name"]: m for m in json.load(open(os.path.join(PEERS, "manifest.json")))}
    m = manifest["dcmtk_find_patient_root"]
    streams = {d: open(os.path.join(PEERS, f"dcmtk_find_patient_root.{d}.bin"), "rb").read() for d in ("rq", "ac")}
    recorded = [(p["direction"], streams[p["direction"]][p["offset"]:p["offset"] + p["length"] + 6])
                for p in sorted(m["pdus"], key=lambda p: p["index"])]
    data = [p for p in recorded if p[1][0] == 0x04]
    request = [p for p in data if p[0] == "rq"]
    answers = [p for p in data if p[0] == "ac"]
    pending, final = answers[0:2], answers[-1]
    yield from [p for p in recorded if p[1][0] in (0x01, 0x02)]
    yield from request
    for _ in range(matches):
        yield from pending
    yield final
    yield from [p for p in recorded if p[1][0] in (0x05, 0x06)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=500)
    ap.add_argument("--concurrent", type=int, default=16)
    ap.add_argument("--study", type=int, default=0, help="one association with this many C-STOREs")
    ap.add_argument("--queries-only", action="store_true", help="only the C-FIND scenarios")
    ap.add_argument("--image-mb", type=int, default=8)
    ap.add_argument("--find-matches", type=int, default=0,
                    help="one association with one C-FIND answered by this many pending responses")
    args = ap.parse_args()
    if args.find_matches:
        args.study = 1
        args.concurrent = 1
    scenarios = ([("find", find_pdus(args.find_matches))] if args.find_matches
                 else [("study", study_pdus(args.study, args.image_mb))] if args.study else load())
    if args.queries_only:
        scenarios = [sc for sc in scenarios if "find" in sc[0]]
    target = int(args.mb * 1_000_000) if not args.study else 1 << 62
    t = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
    written = 24
    counts = {}
    with open(args.out, "wb") as f:
        w = Writer(f)
        # Each active association is a generator of (packet-writing) steps; round-robin them.
        def run(no, name, pdus):
            c = association(no)
            cip, cport = c["client_ip"], c["port"]
            cseq, sseq = 1000 + no * 7919, 5000 + no * 104729
            yield ("pkt", cip, SERVER_IP, cport, SERVER_PORT, cseq, 0, 0x02, b"")
            yield ("pkt", SERVER_IP, cip, SERVER_PORT, cport, sseq, cseq + 1, 0x12, b"")
            cseq += 1
            sseq += 1
            yield ("pkt", cip, SERVER_IP, cport, SERVER_PORT, cseq, sseq, 0x10, b"")
            for direction, pdu in pdus:
                for i in range(0, len(pdu), MSS):
                    seg = pdu[i:i + MSS]
                    if direction == "rq":
                        yield ("pkt", cip, SERVER_IP, cport, SERVER_PORT, cseq, sseq, 0x18, seg)
                        cseq += len(seg)
                    else:
                        yield ("pkt", SERVER_IP, cip, SERVER_PORT, cport, sseq, cseq, 0x18, seg)
                        sseq += len(seg)
            yield ("pkt", cip, SERVER_IP, cport, SERVER_PORT, cseq, sseq, 0x11, b"")
            yield ("pkt", SERVER_IP, cip, SERVER_PORT, cport, sseq, cseq + 1, 0x11, b"")
            yield ("pkt", cip, SERVER_IP, cport, SERVER_PORT, cseq + 1, sseq + 1, 0x10, b"")

        active = []
        no = 0
        while (written < target and not (args.study and no > 0)) or active:
            while len(active) < args.concurrent and written < target and not (args.study and no > 0):
                name, pdus = scenarios[no % len(scenarios)]
                counts[name] = counts.get(name, 0) + 1
                active.append(run(no, name, pdus))
                no += 1
            for gen in list(active):
                step = next(gen, None)
                if step is None:
                    active.remove(gen)
                    continue
                t += 20_000  # 20 µs between packets
                written += w.packet(t, *step[1:])
    print(f"wrote {args.out}: {written / 1e6:.1f} MB, {w.packets} packets, {no} associations "
          f"({', '.join(f'{k} x{v}' for k, v in sorted(counts.items()))})")


if __name__ == "__main__":
    main()
