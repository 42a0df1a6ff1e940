#!/usr/bin/env python3
"""Capture the exact bytes real DICOM peers exchange, as annotated fixtures for
the DICOMUL (upper layer) and DIMSE decoders.

Run from the repository root (deletes and rewrites the output folder):

    python3 tools/capture_peer_fixtures.py [--only NAME ...] [--keep-logs DIR]

Every scenario runs a real requestor (pynetdicom 3.0.4 in this process, or a
DCMTK 3.6.7 command line tool) against a real acceptor (a pynetdicom 3.0.4 AE
in this process, or DCMTK ``storescp`` in ``--inetd`` mode on a socket this
script accepted on 127.0.0.1) through a small thread-based recording TCP
relay (``RecordingRelay``): it accepts one connection on 127.0.0.1:0,
connects to the acceptor, forwards every chunk unchanged in both directions
and records each chunk with its direction, a global sequence number and a
monotonic timestamp *before* forwarding it.

Output, in Tests/DICOMULTests/Fixtures/peers/:

  NAME.rq.bin    every byte the requestor (association initiator) sent
  NAME.ac.bin    every byte the acceptor sent
  NAME.txt       annotated listing, one block per PDU in time order
  manifest.json  [{"name", "requestor", "acceptor", "description",
                   "pdus": [{"index", "direction", "offset", "type", "name",
                             "length", "summary", ["pdvs"]}],
                   "features": [...], "observations": [...],
                   "chunks": {"rq": [[offset, length], ...], "ac": [...]}}]

Manifest conventions:
  * "direction" is "rq" for bytes sent by the requestor and "ac" for bytes
    sent by the acceptor; "offset" is the offset of the PDU's first byte in
    that direction's .bin file.
  * "length" is the PDU-length field (bytes after the 6-byte PDU header);
    the PDU occupies offset ..< offset + 6 + length.
  * "pdus" are in the order the relay saw their first byte.
  * "pdvs" (P-DATA-TF only): one entry per PDV item with the item's offset
    (of its 4-byte item-length field), "itemLength" (the field value, which
    counts the context ID, the message control header and the fragment),
    "contextID", "control" (the message control header byte) and, for the
    last fragment of a command set, "command" (e.g. "C-FIND-RSP").
  * "features": hand-written feature tags first, then tags derived from the
    annotation ("pdu:", "item:", "pc-result:", "dimse:", "status:", ...).
  * "chunks": how the relay received the bytes from TCP (offset, length), so
    a test can replay a stream with its real segmentation.

The annotator (``Annotator``) is an independent PDU parser written from
PS3.8 section 9.3 (PDU structure) and Annex D (user information sub-items);
it does not use pynetdicom.  Command sets are decoded with pydicom (Implicit
VR Little Endian, PS3.7 section 6.3.1); data sets with the transfer syntax
the acceptor accepted for the PDV's presentation context.

Timing, UIDs chosen by the tools (implementation UIDs are fixed, but e.g.
DCMTK's generated values) and TCP segmentation vary between runs; every
value this script chooses is fixed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zlib
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.tag import Tag
from pydicom.uid import UID_dictionary

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "Tests" / "DICOMULTests" / "Fixtures" / "peers"
LOCAL = "127.0.0.1"

PYNETDICOM = "pynetdicom 3.0.4"
DCMTK = "DCMTK 3.6.7"

# DCMTK tools by full path: pynetdicom installs Python scripts with the same names.
ECHOSCU = "/usr/bin/echoscu"
FINDSCU = "/usr/bin/findscu"
STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"
GETSCU = "/usr/bin/getscu"

# =============================================================================
# Part 1. Reference annotator: PDU parser written from PS3.8 section 9.3
# =============================================================================

PDU_NAMES = {
    0x01: "A-ASSOCIATE-RQ",
    0x02: "A-ASSOCIATE-AC",
    0x03: "A-ASSOCIATE-RJ",
    0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ",
    0x06: "A-RELEASE-RP",
    0x07: "A-ABORT",
}

ITEM_NAMES = {
    0x10: "Application Context",
    0x20: "Presentation Context (RQ)",
    0x21: "Presentation Context (AC)",
    0x30: "Abstract Syntax",
    0x40: "Transfer Syntax",
    0x50: "User Information",
    0x51: "Maximum Length",
    0x52: "Implementation Class UID",
    0x53: "Asynchronous Operations Window",
    0x54: "SCP/SCU Role Selection",
    0x55: "Implementation Version Name",
    0x56: "SOP Class Extended Negotiation",
    0x57: "SOP Class Common Extended Negotiation",
    0x58: "User Identity (RQ)",
    0x59: "User Identity (AC)",
}

ITEM_TAGS = {  # short names for feature tags
    0x51: "max-length",
    0x52: "implementation-class-uid",
    0x53: "async-ops-window",
    0x54: "role-selection",
    0x55: "implementation-version-name",
    0x56: "sop-class-extended",
    0x57: "sop-class-common-extended",
    0x58: "user-identity-rq",
    0x59: "user-identity-ac",
}

# PS3.8 Table 9-18, Result/Reason of a Presentation Context (AC) item
PC_RESULTS = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}

# PS3.8 Table 9-21, A-ASSOCIATE-RJ
RJ_RESULTS = {1: "rejected-permanent", 2: "rejected-transient"}
RJ_SOURCES = {
    1: "DICOM UL service-user",
    2: "DICOM UL service-provider (ACSE related function)",
    3: "DICOM UL service-provider (Presentation related function)",
}
RJ_REASONS = {
    1: {1: "no-reason-given", 2: "application-context-name-not-supported",
        3: "calling-AE-title-not-recognized", 7: "called-AE-title-not-recognized"},
    2: {1: "no-reason-given", 2: "protocol-version-not-supported"},
    3: {0: "reserved", 1: "temporary-congestion", 2: "local-limit-exceeded"},
}

# PS3.8 Table 9-26, A-ABORT
ABORT_SOURCES = {0: "DICOM UL service-user (initiated abort)", 1: "reserved",
                 2: "DICOM UL service-provider (initiated abort)"}
ABORT_REASONS = {0: "reason-not-specified", 1: "unrecognized-PDU", 2: "unexpected-PDU",
                 3: "reserved", 4: "unrecognized-PDU parameter",
                 5: "unexpected-PDU parameter", 6: "invalid-PDU-parameter value"}

# PS3.7 Table D.3-14, User-Identity-Type
USER_IDENTITY_TYPES = {1: "Username", 2: "Username and Passcode", 3: "Kerberos Service ticket",
                       4: "SAML Assertion", 5: "JSON Web Token (JWT)"}

# PS3.7 section E.1 / Annex E, Command Field values
COMMAND_NAMES = {
    0x0001: "C-STORE-RQ", 0x8001: "C-STORE-RSP",
    0x0010: "C-GET-RQ", 0x8010: "C-GET-RSP",
    0x0020: "C-FIND-RQ", 0x8020: "C-FIND-RSP",
    0x0021: "C-MOVE-RQ", 0x8021: "C-MOVE-RSP",
    0x0030: "C-ECHO-RQ", 0x8030: "C-ECHO-RSP",
    0x0100: "N-EVENT-REPORT-RQ", 0x8100: "N-EVENT-REPORT-RSP",
    0x0110: "N-GET-RQ", 0x8110: "N-GET-RSP",
    0x0120: "N-SET-RQ", 0x8120: "N-SET-RSP",
    0x0130: "N-ACTION-RQ", 0x8130: "N-ACTION-RSP",
    0x0140: "N-CREATE-RQ", 0x8140: "N-CREATE-RSP",
    0x0150: "N-DELETE-RQ", 0x8150: "N-DELETE-RSP",
    0x0FFF: "C-CANCEL-RQ",
}

STATUS_NAMES = {
    0x0000: "Success",
    0xFF00: "Pending",
    0xFF01: "Pending (optional keys not supported)",
    0xFE00: "Cancel",
    0xA700: "Failure: out of resources",
    0xA900: "Failure: identifier does not match SOP class",
    0xC000: "Failure: unable to process",
    0xC100: "Failure: more than one match found (Annex Q)",
    0xC200: "Failure: unable to support requested template (Annex Q)",
    0xB000: "Warning: sub-operations complete, one or more failures",
    0x0122: "Failure: SOP class not supported",
}

PRIORITIES = {0: "MEDIUM", 1: "HIGH", 2: "LOW"}

TS_IMPLICIT_LE = "1.2.840.10008.1.2"
TS_EXPLICIT_LE = "1.2.840.10008.1.2.1"
TS_DEFLATED = "1.2.840.10008.1.2.1.99"
TS_EXPLICIT_BE = "1.2.840.10008.1.2.2"
TS_ENCODINGS = {  # uid: (implicit VR, little endian, deflated)
    TS_IMPLICIT_LE: (True, True, False),
    TS_EXPLICIT_LE: (False, True, False),
    TS_DEFLATED: (False, True, True),
    TS_EXPLICIT_BE: (False, False, False),
}


class ParseError(Exception):
    pass


@dataclass
class RawPDU:
    direction: str  # "rq" | "ac"
    offset: int  # of the PDU header in the direction's stream
    type: int
    reserved: int
    length: int  # PDU-length field
    data: bytes  # the whole PDU including its 6-byte header
    seq: int = 0  # global sequence number of the chunk holding the first byte
    t_ns: int = 0


def split_pdus(stream: bytes, direction: str = "") -> list[RawPDU]:
    """Split a byte stream into whole PDUs (PS3.8 9.3.1: type, reserved,
    4-byte big endian PDU-length).  Raises ParseError on an unknown PDU type,
    a truncated PDU or bytes left over."""
    pdus = []
    off = 0
    n = len(stream)
    while off < n:
        if n - off < 6:
            raise ParseError(f"{direction}: {n - off} byte(s) left over at offset {off}, "
                             "less than a PDU header")
        ptype = stream[off]
        length = struct.unpack_from(">I", stream, off + 2)[0]
        if ptype not in PDU_NAMES:
            raise ParseError(f"{direction}: unknown PDU type 0x{ptype:02X} at offset {off}")
        end = off + 6 + length
        if end > n:
            raise ParseError(f"{direction}: PDU type 0x{ptype:02X} at offset {off} has PDU-length "
                             f"{length} but only {n - off - 6} bytes follow")
        pdus.append(RawPDU(direction, off, ptype, stream[off + 1], length, stream[off:end]))
        off = end
    return pdus


def u16(b: bytes, o: int) -> int:
    return struct.unpack_from(">H", b, o)[0]


def u32(b: bytes, o: int) -> int:
    return struct.unpack_from(">I", b, o)[0]


def text_repr(raw: bytes) -> str:
    """Python-style quoted repr of raw bytes, ASCII shown as is."""
    return repr(raw)[1:] if raw.isascii() else repr(raw)


def uid_text(raw: bytes, in_command: bool = False) -> tuple[str, list[str]]:
    """Annotate a UID.  In a PDU item (PS3.8 Annex F) a UID is not padded; in a
    command set (a UI element, PS3.5) it is padded with one NUL to even length.
    Returns (text, notes)."""
    notes = []
    stripped = raw
    if raw.endswith(b"\x00"):
        notes.append("NUL padding to even length" if in_command else "trailing NUL padding")
        stripped = raw.rstrip(b"\x00")
    elif raw.endswith(b" "):
        notes.append("trailing space padding")
        stripped = raw.rstrip(b" ")
    value = stripped.decode("ascii", "backslashreplace")
    name = UID_dictionary[value][0] if value in UID_dictionary else None
    s = value + (f" ({name})" if name else "")
    if notes:
        s += f"  [raw {text_repr(raw)}: {', '.join(notes)}]"
    return s, notes


def ae_title_text(raw: bytes) -> tuple[str, list[str]]:
    notes = []
    value = raw.decode("ascii", "backslashreplace")
    if b"\x00" in raw:
        notes.append("contains NUL bytes")
    if raw.startswith(b" "):
        notes.append("leading spaces")
    return f"{text_repr(raw)} -> \"{value.strip(' ').rstrip(chr(0))}\"" + (
        f"  [{', '.join(notes)}]" if notes else ""), notes


def hexdump(data: bytes, base: int, limit: int | None = None, indent: str = "    ") -> list[str]:
    lines = []
    shown = data if limit is None or len(data) <= limit else data[:limit]
    for i in range(0, len(shown), 16):
        row = shown[i:i + 16]
        hx = " ".join(f"{b:02x}" for b in row[:8])
        if len(row) > 8:
            hx += "  " + " ".join(f"{b:02x}" for b in row[8:])
        asc = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{indent}{base + i:06x}  {hx:<49}  |{asc}|")
    if len(shown) < len(data):
        lines.append(f"{indent}... {len(data) - len(shown)} more byte(s), offsets "
                     f"{base + len(shown)}..<{base + len(data)} (see the .bin file)")
    return lines


def tag_str(tag) -> str:
    return f"({tag.group:04X},{tag.element:04X})"


def decode_dataset_bytes(data: bytes, ts: str) -> Dataset:
    implicit, little, deflated = TS_ENCODINGS[ts]
    if deflated:
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        data = d.decompress(data) + d.flush()
    return read_dataset(BytesIO(data), implicit, little)


def format_value(elem) -> str:
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.tag == 0x7FE00010:
        v = elem.value
        n = len(v) if v is not None else 0
        return f"<{n} bytes>"
    v = elem.value
    s = repr(list(v)) if isinstance(v, pydicom.multival.MultiValue) else repr(v)
    if isinstance(v, (str, pydicom.valuerep.PersonName)):
        s = repr(str(v))
    if len(s) > 90:
        s = s[:87] + "..."
    return s


def format_dataset(ds: Dataset, indent: str) -> list[str]:
    lines = []
    for elem in ds:
        kw = elem.keyword or "?"
        if elem.VR == "SQ":
            lines.append(f"{indent}{tag_str(elem.tag)} SQ {kw}: {len(elem.value)} item(s)")
            for i, item in enumerate(elem.value, 1):
                lines.append(f"{indent}  item {i}:")
                lines.extend(format_dataset(item, indent + "    "))
        else:
            lines.append(f"{indent}{tag_str(elem.tag)} {elem.VR} {kw} = {format_value(elem)}")
    return lines


@dataclass
class Annotated:
    pdu: RawPDU
    lines: list[str]
    summary: str
    pdvs: list[dict] = field(default_factory=list)


class Annotator:
    """Annotates the PDUs of one association in time order.  Keeps the
    negotiated presentation contexts and maximum lengths to decode P-DATA-TF
    data sets and to check PDU sizes, and reassembles fragmented command and
    data sets per (direction, presentation context)."""

    def __init__(self) -> None:
        self.proposed: dict[int, tuple[str, list[str]]] = {}
        self.accepted: dict[int, tuple[int, str]] = {}
        self.max_received = {"rq": None, "ac": None}  # what each side can receive
        self.fragments: dict[tuple[str, int, bool], bytearray] = {}
        self.pending_dataset_for: dict[tuple[str, int], str] = {}  # last command per context
        self.features: set[str] = set()
        self.observations: list[str] = []
        self.dimse_log: list[str] = []
        self.pdv_counts: dict[str, list[tuple[int, tuple]]] = {}

    def pdv_observations(self) -> list[str]:
        out = []
        for d, counts in self.pdv_counts.items():
            n = len(counts)
            multi = sum(1 for c, _ in counts if c > 1)
            mixed = sum(1 for _, k in counts if len(k) > 1)
            out.append(f"{d}: {n} P-DATA-TF PDU(s): " + (
                "each carries exactly one PDV" if multi == 0 else f"{multi} carry more than one PDV")
                + ("" if mixed == 0 else f"; {mixed} mix command and data set PDVs")
                + ("; command and data set always in separate PDUs" if mixed == 0 and
                   any(k == (False,) for _, k in counts) else ""))
        return out

    def observe(self, text: str) -> None:
        if text not in self.observations:
            self.observations.append(text)

    # -- entry point -----------------------------------------------------------
    def annotate(self, pdu: RawPDU) -> Annotated:
        self.features.add("pdu:" + PDU_NAMES[pdu.type])
        lines: list[str] = []
        if pdu.reserved != 0:
            lines.append(f"  WARNING: reserved byte 2 of the PDU header is 0x{pdu.reserved:02X}, not 0")
            self.observe(f"{pdu.direction}: PDU header reserved byte non-zero")
        handler = {
            0x01: self._associate, 0x02: self._associate, 0x03: self._reject,
            0x04: self._pdata, 0x05: self._release, 0x06: self._release, 0x07: self._abort,
        }[pdu.type]
        summary, pdvs = handler(pdu, lines)
        return Annotated(pdu, lines, summary, pdvs)

    # -- A-ASSOCIATE-RQ / -AC: PS3.8 9.3.2 (Table 9-11) and 9.3.3 (Table 9-17) --
    def _associate(self, pdu: RawPDU, lines: list[str]):
        b, base = pdu.data, pdu.offset
        is_rq = pdu.type == 0x01
        if pdu.length < 68:
            raise ParseError(f"{PDU_NAMES[pdu.type]} at {base}: PDU-length {pdu.length} < 68")
        version = u16(b, 6)
        lines.append(f"  @{base + 6} protocol-version: 0x{version:04X}"
                     + ("" if version & 1 else "  WARNING: bit 0 (version 1) not set"))
        r = u16(b, 8)
        lines.append(f"  @{base + 8} reserved: 0x{r:04X}")
        called, n1 = ae_title_text(b[10:26])
        calling, n2 = ae_title_text(b[26:42])
        suffix = "" if is_rq else " (reserved in the AC; sent with the RQ value)"
        lines.append(f"  @{base + 10} called-AE-title{suffix}: {called}")
        lines.append(f"  @{base + 26} calling-AE-title{suffix}: {calling}")
        for n in n1 + n2:
            self.observe(f"{pdu.direction}: AE title field {n}")
        res = b[42:74]
        lines.append(f"  @{base + 42} reserved (32 bytes): "
                     + ("all zero" if res == bytes(32) else f"NOT all zero: {res.hex()}"))
        if res != bytes(32):
            self.observe(f"{pdu.direction}: {PDU_NAMES[pdu.type]} reserved bytes 43-74 not zero")
        ae_names = (b[10:26].decode("ascii", "replace").strip(), b[26:42].decode("ascii", "replace").strip())
        if is_rq:
            self.rq_ae_fields = b[10:42]
        elif getattr(self, "rq_ae_fields", None) is not None and b[10:42] != self.rq_ae_fields:
            lines.append("  NOTE: the AC's AE title fields differ from the RQ's")
            self.observe("ac: A-ASSOCIATE-AC AE title fields differ from the A-ASSOCIATE-RQ")

        n_app = n_pc = n_ui = 0
        pcs_summary = []
        ui_summary = []
        off = 74
        end = 6 + pdu.length
        while off < end:
            if end - off < 4:
                raise ParseError(f"{base + off}: {end - off} bytes left, not an item header")
            itype, ires, ilen = b[off], b[off + 1], u16(b, off + 2)
            vs, ve = off + 4, off + 4 + ilen
            if ve > end:
                raise ParseError(f"{base + off}: item 0x{itype:02X} length {ilen} runs past the PDU")
            name = ITEM_NAMES.get(itype, "UNKNOWN")
            head = f"  @{base + off} item 0x{itype:02X} {name}, item-length {ilen}"
            if ires:
                head += f"  WARNING: reserved byte 0x{ires:02X}"
            val = b[vs:ve]
            if itype == 0x10:
                n_app += 1
                s, notes = uid_text(val)
                lines.append(f"{head}: {s}")
                for n in notes:
                    self.observe(f"{pdu.direction}: application context name has {n}")
            elif itype == 0x20 and is_rq:
                n_pc += 1
                lines.append(head)
                pcs_summary.append(self._pc_rq(b, base, vs, ve, lines))
            elif itype == 0x21 and not is_rq:
                n_pc += 1
                lines.append(head)
                pcs_summary.append(self._pc_ac(b, base, vs, ve, lines))
            elif itype == 0x50:
                n_ui += 1
                lines.append(head)
                ui_summary = self._user_info(b, base, vs, ve, lines, pdu.direction, is_rq)
            else:
                lines.append(f"{head}: UNEXPECTED in {PDU_NAMES[pdu.type]}, value {val.hex()}")
                self.observe(f"{pdu.direction}: unexpected item 0x{itype:02X} in {PDU_NAMES[pdu.type]}")
            off = ve
        if not is_rq:
            ids = [int(x.split()[1]) for x in pcs_summary]
            rq_ids = list(self.proposed)
            if ids != rq_ids:
                lines.append(f"  NOTE: presentation context (AC) items in the order {ids}, "
                             f"proposed in the order {rq_ids}")
                acc = [i for i in ids if self.accepted[i][0] == 0]
                rej = [i for i in ids if self.accepted[i][0] != 0]
                how = " (accepted contexts first, then the rejected ones)" if ids == acc + rej else ""
                self.observe(f"ac: presentation context (AC) items not in the proposed order{how}")
        if n_app != 1 or n_pc < 1 or n_ui != 1:
            lines.append(f"  WARNING: {n_app} application context item(s), {n_pc} presentation "
                         f"context item(s), {n_ui} user information item(s)")
        shown = pcs_summary if len(pcs_summary) <= 8 else pcs_summary[:8] + [f"... {len(pcs_summary) - 8} more"]
        if is_rq:
            summary = (f"A-ASSOCIATE-RQ {ae_names[1]} -> {ae_names[0]}, {n_pc} presentation "
                       f"context(s); " + "; ".join(shown + ui_summary))
        else:
            summary = f"A-ASSOCIATE-AC {n_pc} presentation context(s); " + "; ".join(shown + ui_summary)
        return summary, []

    def _sub_items(self, b, base, start, end):
        off = start
        while off < end:
            if end - off < 4:
                raise ParseError(f"{base + off}: {end - off} bytes left, not a sub-item header")
            stype, sres, slen = b[off], b[off + 1], u16(b, off + 2)
            vs, ve = off + 4, off + 4 + slen
            if ve > end:
                raise ParseError(f"{base + off}: sub-item 0x{stype:02X} length {slen} runs past its item")
            yield off, stype, sres, slen, b[vs:ve], vs
            off = ve

    def _pc_rq(self, b, base, vs, ve, lines):
        # PS3.8 Table 9-13: ID, reserved, reserved, reserved, then sub-items
        if ve - vs < 4:
            raise ParseError(f"{base + vs}: presentation context item too short")
        pcid = b[vs]
        lines.append(f"      @{base + vs} presentation-context-ID: {pcid}"
                     + ("" if pcid % 2 == 1 else "  WARNING: even ID"))
        if b[vs + 1:vs + 4] != b"\0\0\0":
            lines.append(f"      WARNING: reserved bytes 6-8 of the item are {b[vs + 1:vs + 4].hex(' ')} "
                         "(PS3.8 Table 9-13: 00H, not tested)")
            self.observe(f"rq: presentation context (RQ) item reserved bytes 6-8 = {b[vs + 1:vs + 4].hex(' ')}")
        abstract = None
        tss = []
        for off, st, sres, slen, val, _ in self._sub_items(b, base, vs + 4, ve):
            s, notes = uid_text(val)
            lines.append(f"      @{base + off} sub-item 0x{st:02X} {ITEM_NAMES.get(st, 'UNKNOWN')}, "
                         f"item-length {slen}: {s}")
            for n in notes:
                self.observe(f"rq: UID in sub-item 0x{st:02X} has {n}")
            u = val.rstrip(b"\0 ").decode("ascii", "replace")
            if st == 0x30:
                if abstract is not None:
                    lines.append("      WARNING: more than one abstract syntax sub-item")
                abstract = u
            elif st == 0x40:
                tss.append(u)
                self.features.add("ts-proposed:" + u)
            else:
                lines.append(f"      WARNING: unexpected sub-item 0x{st:02X}")
        if abstract is None or not tss:
            lines.append("      WARNING: missing abstract syntax or transfer syntax sub-item")
        self.proposed[pcid] = (abstract or "", tss)
        if len(tss) > 1:
            self.features.add("multiple-ts-per-context")
        return f"PC {pcid} {uid_short(abstract)} [{', '.join(uid_short(t) for t in tss)}]"

    def _pc_ac(self, b, base, vs, ve, lines):
        # PS3.8 Table 9-18: ID, reserved, result/reason, reserved, one TS sub-item
        if ve - vs < 4:
            raise ParseError(f"{base + vs}: presentation context item too short")
        pcid, result = b[vs], b[vs + 2]
        lines.append(f"      @{base + vs} presentation-context-ID: {pcid}")
        lines.append(f"      @{base + vs + 2} result/reason: {result} ({PC_RESULTS.get(result, 'UNKNOWN')})")
        if b[vs + 1] or b[vs + 3]:
            lines.append(f"      WARNING: reserved bytes {b[vs + 1]:02x} {b[vs + 3]:02x}")
        self.features.add(f"pc-result:{result}")
        ts = None
        count = 0
        for off, st, sres, slen, val, _ in self._sub_items(b, base, vs + 4, ve):
            s, notes = uid_text(val)
            tail = "" if result == 0 else "  (not significant: context not accepted)"
            lines.append(f"      @{base + off} sub-item 0x{st:02X} {ITEM_NAMES.get(st, 'UNKNOWN')}, "
                         f"item-length {slen}: {s if slen else '(empty)'}{tail}")
            for n in notes:
                self.observe(f"ac: UID in sub-item 0x{st:02X} has {n}")
            if st == 0x40:
                count += 1
                ts = val.rstrip(b"\0 ").decode("ascii", "replace")
            else:
                lines.append(f"      WARNING: unexpected sub-item 0x{st:02X}")
        if count != 1:
            lines.append(f"      WARNING: {count} transfer syntax sub-items (expected exactly 1)")
        abstract = self.proposed.get(pcid, ("?", []))[0]
        lines.append(f"      (proposed abstract syntax: {uid_text(abstract.encode())[0] if abstract != '?' else 'unknown'})")
        self.accepted[pcid] = (result, ts or "")
        if result == 0:
            self.features.add("ts-accepted:" + (ts or ""))
            return f"PC {pcid} accepted {uid_short(ts)}"
        return f"PC {pcid} result {result} ({PC_RESULTS.get(result, '?').split(' (')[0]})"

    def _user_info(self, b, base, vs, ve, lines, direction, is_rq):
        summary = []
        seen = []
        for off, st, sres, slen, val, v0 in self._sub_items(b, base, vs, ve):
            name = ITEM_NAMES.get(st, "UNKNOWN")
            head = f"      @{base + off} sub-item 0x{st:02X} {name}, item-length {slen}"
            self.features.add(f"item:0x{st:02X} {ITEM_TAGS.get(st, 'unknown')}")
            seen.append(st)
            if st == 0x51:  # D.1: Maximum Length Received
                if slen != 4:
                    raise ParseError(f"{base + off}: maximum length sub-item length {slen} != 4")
                m = u32(val, 0)
                lines.append(f"{head}: maximum-length-received {m}" + (" (no limit)" if m == 0 else ""))
                self.max_received[direction] = m
                summary.append(f"max PDU {m}")
            elif st == 0x52:  # D.3.3.2
                s, notes = uid_text(val)
                lines.append(f"{head}: {s}")
                for n in notes:
                    self.observe(f"{direction}: implementation class UID has {n}")
                summary.append(f"impl {val.rstrip(bytes(1)).decode('ascii', 'replace')}")
            elif st == 0x55:  # D.3.3.2
                lines.append(f"{head}: {text_repr(val)}")
                summary.append(f"version {val.decode('ascii', 'replace').strip()!r}")
            elif st == 0x53:  # D.3.3.3
                if slen != 4:
                    raise ParseError(f"{base + off}: async ops sub-item length {slen} != 4")
                inv, perf = u16(val, 0), u16(val, 2)
                lines.append(f"{head}: maximum-number-operations-invoked {inv}, "
                             f"maximum-number-operations-performed {perf}")
                summary.append(f"async ops {inv}/{perf}")
            elif st == 0x54:  # D.3.3.4
                ul = u16(val, 0)
                uid = val[2:2 + ul]
                scu, scp = val[2 + ul], val[3 + ul]
                s, _ = uid_text(uid)
                lines.append(f"{head}: UID-length {ul}, SOP-class-uid {s}, SCU-role {scu}, SCP-role {scp}")
                if 4 + ul != slen:
                    lines.append(f"        WARNING: {slen - 4 - ul} unexpected trailing byte(s)")
                summary.append(f"role {uid_short(uid.decode('ascii', 'replace'))} scu={scu} scp={scp}")
            elif st == 0x56:  # D.3.3.5
                ul = u16(val, 0)
                uid = val[2:2 + ul]
                info = val[2 + ul:]
                s, _ = uid_text(uid)
                lines.append(f"{head}: SOP-class-uid-length {ul}, SOP-class-uid {s}, "
                             f"service-class-application-information ({len(info)} bytes) {info.hex(' ')}")
                summary.append(f"ext neg {uid_short(uid.decode('ascii', 'replace'))} {info.hex()}")
            elif st == 0x57:  # D.3.3.6 (byte 2 is sub-item-version, not reserved)
                head = (f"      @{base + off} sub-item 0x{st:02X} {name}, sub-item-version {sres}, "
                        f"item-length {slen}")
                o = 0
                ul = u16(val, o); sop = val[o + 2:o + 2 + ul]; o += 2 + ul
                sl = u16(val, o); svc = val[o + 2:o + 2 + sl]; o += 2 + sl
                rl = u16(val, o); o += 2
                rel_end = o + rl
                related = []
                while o < rel_end:
                    l1 = u16(val, o)
                    related.append(val[o + 2:o + 2 + l1])
                    o += 2 + l1
                lines.append(head)
                lines.append(f"        SOP-class-uid ({ul}): {uid_text(sop)[0]}")
                lines.append(f"        service-class-uid ({sl}): {uid_text(svc)[0]}")
                lines.append(f"        related-general-sop-class-identification-length {rl}")
                for r in related:
                    lines.append(f"          related-general-sop-class-uid ({len(r)}): {uid_text(r)[0]}")
                if o != len(val):
                    lines.append(f"        reserved trailing bytes: {val[o:].hex()}")
                summary.append(f"common ext {uid_short(sop.decode('ascii', 'replace'))}")
                continue
            elif st == 0x58:  # D.3.3.7.1
                utype, posrsp = val[0], val[1]
                pl = u16(val, 2)
                primary = val[4:4 + pl]
                sl = u16(val, 4 + pl)
                secondary = val[6 + pl:6 + pl + sl]
                lines.append(f"{head}: user-identity-type {utype} ({USER_IDENTITY_TYPES.get(utype, '?')}), "
                             f"positive-response-requested {posrsp}")
                lines.append(f"        primary-field-length {pl}, primary-field {text_repr(primary)}")
                lines.append(f"        secondary-field-length {sl}, secondary-field {text_repr(secondary)}")
                if 6 + pl + sl != slen:
                    lines.append(f"        WARNING: {slen - 6 - pl - sl} unexpected trailing byte(s)")
                self.features.add(f"user-identity-type:{utype}")
                summary.append(f"user identity type {utype}")
            elif st == 0x59:  # D.3.3.7.2
                rl = u16(val, 0)
                rsp = val[2:2 + rl]
                lines.append(f"{head}: server-response-length {rl}, server-response {text_repr(rsp)}")
                summary.append("user identity response")
            else:
                lines.append(f"{head}: unknown sub-item, value {val.hex(' ')}")
                self.observe(f"{direction}: unknown user information sub-item 0x{st:02X}")
                continue
            if sres:
                lines.append(f"        WARNING: reserved byte 0x{sres:02X}")
        if seen and seen[0] != 0x51:
            self.observe(f"{direction}: user information does not start with the maximum length sub-item")
        order = "".join(f"{s:02X} " for s in seen).strip()
        if seen != sorted(seen):
            self.observe(f"{direction}: user information sub-items not in ascending type order: {order}"
                         if len(seen) <= 12 else
                         f"{direction}: user information sub-items not in ascending type order "
                         f"({len(seen)} sub-items, types in first-seen order: "
                         f"{' '.join(f'{t:02X}' for t in dict.fromkeys(seen))})")
        lines.append(f"      (user information sub-item order: {order})")
        if 0x52 not in seen:
            lines.append("      WARNING: no implementation class UID sub-item (mandatory, PS3.7 D.3.3.2)")
        return summary

    # -- A-ASSOCIATE-RJ: PS3.8 9.3.4, Table 9-21 ---------------------------------
    def _reject(self, pdu, lines):
        b, base = pdu.data, pdu.offset
        if pdu.length != 4:
            raise ParseError(f"A-ASSOCIATE-RJ at {base}: PDU-length {pdu.length} != 4")
        res, src, reason = b[7], b[8], b[9]
        lines.append(f"  @{base + 6} reserved: 0x{b[6]:02X}")
        lines.append(f"  @{base + 7} result: {res} ({RJ_RESULTS.get(res, 'UNKNOWN')})")
        lines.append(f"  @{base + 8} source: {src} ({RJ_SOURCES.get(src, 'UNKNOWN')})")
        rname = RJ_REASONS.get(src, {}).get(reason, "reserved/unknown")
        lines.append(f"  @{base + 9} reason/diag.: {reason} ({rname})")
        self.features.add(f"rj:{res}/{src}/{reason}")
        return f"A-ASSOCIATE-RJ result {res} ({RJ_RESULTS.get(res, '?')}), source {src}, reason {reason} ({rname})", []

    # -- A-RELEASE-RQ / -RP: PS3.8 9.3.6 / 9.3.7 ---------------------------------
    def _release(self, pdu, lines):
        b, base = pdu.data, pdu.offset
        if pdu.length != 4:
            raise ParseError(f"{PDU_NAMES[pdu.type]} at {base}: PDU-length {pdu.length} != 4")
        lines.append(f"  @{base + 6} reserved (4 bytes): {b[6:10].hex()}")
        return PDU_NAMES[pdu.type], []

    # -- A-ABORT: PS3.8 9.3.8, Table 9-26 ---------------------------------------
    def _abort(self, pdu, lines):
        b, base = pdu.data, pdu.offset
        if pdu.length != 4:
            raise ParseError(f"A-ABORT at {base}: PDU-length {pdu.length} != 4")
        src, reason = b[8], b[9]
        lines.append(f"  @{base + 6} reserved: 0x{b[6]:02X}, @{base + 7} reserved: 0x{b[7]:02X}")
        lines.append(f"  @{base + 8} source: {src} ({ABORT_SOURCES.get(src, 'UNKNOWN')})")
        rtext = ABORT_REASONS.get(reason, "UNKNOWN") if src == 2 else "not significant (service-user source)"
        lines.append(f"  @{base + 9} reason/diag.: {reason} ({rtext})")
        self.features.add(f"abort:{src}/{reason}")
        return f"A-ABORT source {src} ({ABORT_SOURCES.get(src, '?').split(' (')[0]}), reason {reason}", []

    # -- P-DATA-TF: PS3.8 9.3.5 (Table 9-22, 9-23) and Annex E -------------------
    def _pdata(self, pdu, lines):
        b, base, d = pdu.data, pdu.offset, pdu.direction
        peer = "ac" if d == "rq" else "rq"
        limit = self.max_received.get(peer)
        if limit:
            if pdu.length > limit:
                lines.append(f"  WARNING: PDU-length {pdu.length} exceeds the receiver's maximum length {limit}")
                self.observe(f"{d}: P-DATA-TF of PDU-length {pdu.length} exceeds the peer's maximum length {limit}")
        off = 6
        end = 6 + pdu.length
        summaries = []
        pdvs = []
        kinds = set()
        while off < end:
            if end - off < 4:
                raise ParseError(f"{base + off}: {end - off} bytes left in P-DATA-TF, not a PDV item")
            ilen = u32(b, off)
            if ilen < 2:
                raise ParseError(f"{base + off}: PDV item-length {ilen} < 2")
            if off + 4 + ilen > end:
                raise ParseError(f"{base + off}: PDV item-length {ilen} runs past the PDU")
            pcid, mch = b[off + 4], b[off + 5]
            frag = b[off + 6:off + 4 + ilen]
            is_cmd, is_last = bool(mch & 1), bool(mch & 2)
            kinds.add(is_cmd)
            mch_text = ("command" if is_cmd else "dataset") + (", last" if is_last else ", more")
            lines.append(f"  @{base + off} PDV item-length {ilen}: presentation-context-ID {pcid}, "
                         f"message control header 0x{mch:02X} ({mch_text}), fragment {len(frag)} bytes")
            if mch & 0xFC:
                lines.append(f"      WARNING: reserved bits of the message control header set: 0x{mch:02X}")
                self.observe(f"{d}: message control header with reserved bits set")
            ctx = self.accepted.get(pcid)
            if ctx is None or ctx[0] != 0:
                lines.append(f"      WARNING: presentation context {pcid} was not accepted")
                self.observe(f"{d}: PDV on presentation context {pcid} that was not accepted")
            key = (d, pcid, is_cmd)
            buf = self.fragments.setdefault(key, bytearray())
            buf += frag
            pdv_entry = {"offset": base + off, "itemLength": ilen, "contextID": pcid, "control": mch}
            text = f"PDV ctx {pcid} {mch_text} {len(frag)} B"
            if is_last:
                whole = bytes(buf)
                del self.fragments[key]
                nfrag_note = "" if len(whole) == len(frag) else f" (reassembled {len(whole)} bytes)"
                if is_cmd:
                    name, cmd_summary = self._command(whole, d, pcid, lines, nfrag_note)
                    pdv_entry["command"] = name
                    text += f" {cmd_summary}"
                else:
                    self._dataset(whole, d, pcid, lines, nfrag_note)
                    if nfrag_note:
                        text += nfrag_note
            else:
                if is_cmd:
                    self.features.add("fragmented-command")
                else:
                    self.features.add("fragmented-dataset")
            pdvs.append(pdv_entry)
            summaries.append(text)
            off += 4 + ilen
        self.pdv_counts.setdefault(d, []).append((len(pdvs), tuple(sorted(kinds))))
        if limit and any(not (p["control"] & 2) for p in pdvs):
            self.observe(f"{d}: P-DATA-TF holding a non-last fragment has PDU-length {pdu.length} "
                         f"({pdu.length + 6} bytes with the header); the receiver's maximum length is {limit}")
        if len(pdvs) > 1:
            self.features.add("multiple-pdvs-per-pdu")
            self.observe(f"{d}: a P-DATA-TF carries {len(pdvs)} PDVs")
        if len(kinds) > 1:
            self.features.add("command-and-dataset-in-one-pdu")
        return "P-DATA-TF " + "; ".join(summaries), pdvs

    def _command(self, data, d, pcid, lines, note):
        try:
            ds = read_dataset(BytesIO(data), True, True)
        except Exception as exc:  # pragma: no cover - reported, not fatal
            lines.append(f"      command set{note}: could not decode with pydicom: {exc}")
            return None, "undecodable command"
        # the undecoded RawDataElements (value bytes as sent), taken before any access
        # converts them
        raws = {tag: ds.get_item(tag) for tag in sorted(ds.keys())}
        cmd = ds.get("CommandField")
        name = COMMAND_NAMES.get(cmd, f"0x{cmd:04X}" if cmd is not None else "?")
        lines.append(f"      command set {name}{note}, {len(data)} bytes (Implicit VR Little Endian):")
        total = 0
        group_length = None
        for tag, raw in raws.items():
            elem = ds[tag]
            vr = dictionary_VR(tag) if tag in pydicom.datadict.DicomDictionary else elem.VR
            kw = keyword_for_tag(tag) or "?"
            rawv = raw.value if hasattr(raw, "value") else b""
            rawlen = raw.length if hasattr(raw, "length") else len(rawv or b"")
            total += 8 + rawlen
            v = elem.value
            extra = ""
            if tag == 0x00000000:
                group_length = v
            if kw == "CommandField":
                extra = f" ({name})"
                v = f"0x{v:04X}"
            elif kw == "Status":
                extra = f" ({STATUS_NAMES.get(v, 'see PS3.4/PS3.7')})"
                v = f"0x{v:04X}"
                self.features.add(f"status:{v}")
            elif kw == "CommandDataSetType":
                extra = " (no data set)" if v == 0x0101 else " (data set present)"
                v = f"0x{v:04X}"
            elif kw == "Priority":
                extra = f" ({PRIORITIES.get(v, '?')})"
            if vr == "UI":
                s, notes = uid_text(rawv or b"", in_command=True)
                valtext = s
            elif vr in ("AE", "SH", "LO", "CS", "ST", "LT", "UT", "PN"):
                valtext = text_repr(rawv or b"")
            else:
                valtext = str(v)
            lines.append(f"        {tag_str(Tag(tag))} {vr} {kw} [{rawlen}] = {valtext}{extra}")
        if group_length is not None and group_length != total - 12:
            lines.append(f"        WARNING: CommandGroupLength {group_length} but the elements after it "
                         f"take {total - 12} bytes")
            self.observe(f"{d}: CommandGroupLength mismatch")
        self.features.add("dimse:" + name)
        status = ds.get("Status")
        dstype = ds.get("CommandDataSetType")
        has_ds = dstype is not None and dstype != 0x0101
        parts = [name]
        if "MessageID" in ds:
            parts.append(f"msg {ds.MessageID}")
        if "MessageIDBeingRespondedTo" in ds:
            parts.append(f"rsp-to {ds.MessageIDBeingRespondedTo}")
        if status is not None:
            parts.append(f"status 0x{status:04X}")
        if has_ds:
            parts.append("+dataset")
        if name == "C-FIND-RSP" and status == 0x0000 and has_ds:
            lines.append("      NOTE: final C-FIND-RSP with status Success announces a data set "
                         "(PS3.7 9.1.2: a C-FIND response carries an Identifier only with a Pending status)")
            self.features.add("quirk:final-find-success-with-dataset")
            self.observe(f"{d}: final C-FIND-RSP (Success) carries a data set")
        if has_ds:
            self.pending_dataset_for[(d, pcid)] = name
        self.dimse_log.append(f"{d} " + " ".join(parts))
        return name, "(" + ", ".join(parts) + ")"

    def _dataset(self, data, d, pcid, lines, note):
        ctx = self.accepted.get(pcid)
        ts = ctx[1] if ctx else None
        cmd = self.pending_dataset_for.pop((d, pcid), None)
        if cmd is None:
            lines.append("      WARNING: data set without a preceding command announcing one")
            self.observe(f"{d}: data set PDV without a command announcing it")
        head = f"      data set{(' of ' + cmd) if cmd else ''}{note}, {len(data)} bytes"
        if ts not in TS_ENCODINGS:
            lines.append(f"{head} (transfer syntax {ts}: not decoded)")
            return
        if TS_ENCODINGS[ts][2]:
            self.features.add("deflated-dataset")
        try:
            ds = decode_dataset_bytes(data, ts)
            body = format_dataset(ds, "        ")
        except Exception as exc:  # pragma: no cover - reported, not fatal
            lines.append(f"{head}: could not decode as {uid_short(ts)}: {exc}")
            return
        lines.append(f"{head} ({uid_short(ts)}):")
        lines.extend(body)


def uid_short(uid: str | None) -> str:
    if not uid:
        return "?"
    short = {
        TS_IMPLICIT_LE: "Implicit VR LE",
        TS_EXPLICIT_LE: "Explicit VR LE",
        TS_DEFLATED: "Deflated Explicit VR LE",
        TS_EXPLICIT_BE: "Explicit VR BE",
    }
    if uid in short:
        return short[uid]
    if uid in UID_dictionary:
        return UID_dictionary[uid][0]
    return uid


def annotate_streams(rq: bytes, ac: bytes, chunks: list[tuple[int, int, str, bytes]] | None,
                     order: list[tuple[str, int]] | None = None):
    """Split both streams, order the PDUs by the relay sequence number of the
    chunk holding their first byte (or by `order`, a list of (direction,
    offset) such as the manifest's), and annotate them."""
    pdus = split_pdus(rq, "rq") + split_pdus(ac, "ac")
    if order is not None:
        rank = {key: i for i, key in enumerate(order)}
        missing = [(p.direction, p.offset) for p in pdus if (p.direction, p.offset) not in rank]
        if missing or len(rank) != len(pdus):
            raise ParseError(f"PDU order does not match the streams (unlisted: {missing})")
        pdus.sort(key=lambda p: rank[(p.direction, p.offset)])
        ann = Annotator()
        return [ann.annotate(p) for p in pdus], ann
    if chunks:
        spans = {"rq": [], "ac": []}
        pos = {"rq": 0, "ac": 0}
        for seq, t_ns, d, data in chunks:
            if data:
                spans[d].append((pos[d], pos[d] + len(data), seq, t_ns))
                pos[d] += len(data)
        for p in pdus:
            for s, e, seq, t_ns in spans[p.direction]:
                if s <= p.offset < e:
                    p.seq, p.t_ns = seq, t_ns
                    break
    pdus.sort(key=lambda p: (p.seq, 0 if p.direction == "rq" else 1, p.offset) if chunks
              else (0, p.offset))
    ann = Annotator()
    return [ann.annotate(p) for p in pdus], ann


# =============================================================================
# Part 2. Recording relay and process helpers
# =============================================================================

class RecordingRelay:
    """Accept one connection on 127.0.0.1:0, connect to the acceptor, forward
    bytes unchanged both ways; record (seq, monotonic ns, direction, data).
    A chunk with empty data records the end of a direction (EOF or reset)."""

    def __init__(self, target_port: int, accept_timeout: float = 30.0) -> None:
        self.target = (LOCAL, target_port)
        self.listener = socket.create_server((LOCAL, 0))
        self.port = self.listener.getsockname()[1]
        self.chunks: list[tuple[int, int, str, bytes]] = []
        self.events: list[str] = []
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._accept_timeout = accept_timeout
        self._pumps: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, name="relay", daemon=True)
        self._thread.start()

    def _record(self, direction: str, data: bytes, note: str | None = None) -> None:
        with self._lock:
            self.chunks.append((len(self.chunks), time.monotonic_ns(), direction, data))
            if note:
                self.events.append(note)

    def _serve(self) -> None:
        self.listener.settimeout(self._accept_timeout)
        try:
            client, _ = self.listener.accept()
        except OSError as exc:
            self.events.append(f"no connection: {exc}")
            return
        finally:
            self.listener.close()
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError as exc:
            self.events.append(f"cannot connect to acceptor: {exc}")
            client.close()
            return
        for s in (client, server):
            s.settimeout(None)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socks = [client, server]
        self._pumps = [
            threading.Thread(target=self._pump, args=(client, server, "rq"), daemon=True),
            threading.Thread(target=self._pump, args=(server, client, "ac"), daemon=True),
        ]
        for t in self._pumps:
            t.start()
        for t in self._pumps:
            t.join()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        who = "requestor" if direction == "rq" else "acceptor"
        while True:
            try:
                data = src.recv(65536)
            except OSError as exc:
                self._record(direction, b"", f"{who} connection reset ({exc.__class__.__name__})")
                break
            if not data:
                self._record(direction, b"", f"{who} closed its side (EOF)")
                break
            self._record(direction, data)
            try:
                dst.sendall(data)
            except OSError as exc:
                self.events.append(f"forwarding {direction} failed: {exc}")
                break
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def finish(self, timeout: float = 20.0) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.events.append("relay forced to close")
            for s in self._socks:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self.listener.close()
            self._thread.join(5)

    def stream(self, direction: str) -> bytes:
        return b"".join(c[3] for c in self.chunks if c[2] == direction)


@contextlib.contextmanager
def relay_to(port: int):
    relay = RecordingRelay(port)
    try:
        yield relay
    finally:
        relay.finish()


@contextlib.contextmanager
def pynetdicom_scp(ae, handlers=()):
    """Run a pynetdicom AE as acceptor on 127.0.0.1:<OS-chosen port>."""
    server = ae.start_server((LOCAL, 0), block=False, evt_handlers=list(handlers))
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


@contextlib.contextmanager
def dcmtk_inetd_scp(args: list[str], workdir: Path, log_name: str):
    """Run a DCMTK acceptor in --inetd mode on a connection accepted here on
    127.0.0.1 (DCMTK 3.6.7 acceptors cannot bind to a given address, so this
    keeps them off every other interface).  The tool handles one association
    and exits; it is stopped by PID if it is still running at the end."""
    listener = socket.create_server((LOCAL, 0))
    port = listener.getsockname()[1]
    listener.settimeout(0.2)
    state: dict = {}
    stop = threading.Event()

    def accept_one() -> None:
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                log = open(workdir / log_name, "wb")
                state["log"] = log
                state["proc"] = subprocess.Popen(
                    ["timeout", "-k", "5", "60", *args, "--inetd"],
                    stdin=conn.fileno(), stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
            return

    t = threading.Thread(target=accept_one, daemon=True)
    t.start()
    try:
        yield port
    finally:
        stop.set()
        t.join(5)
        listener.close()
        proc = state.get("proc")
        if proc is not None:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if "log" in state:
            state["log"].close()


def run_tool(args: list[str], workdir: Path, log_name: str, timeout: int = 60,
             expect_rc: int | None = 0) -> subprocess.CompletedProcess:
    cmd = ["timeout", "-k", "5", str(timeout), *args]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout + 15, cwd=workdir)
    (workdir / log_name).write_bytes(b"$ " + " ".join(args).encode() + b"\n" + p.stdout + p.stderr)
    if expect_rc is not None and p.returncode != expect_rc:
        raise RuntimeError(f"{args[0]} exited with {p.returncode} (expected {expect_rc}):\n"
                           + (p.stdout + p.stderr).decode("utf-8", "replace")[-3000:])
    return p


# =============================================================================
# Part 3. Scenarios
# =============================================================================

from pynetdicom import AE, build_role, debug_logger, evt  # noqa: E402
from pynetdicom.dimse_primitives import C_FIND  # noqa: E402
from pynetdicom.dsutils import encode  # noqa: E402
from pynetdicom.pdu_primitives import (  # noqa: E402
    AsynchronousOperationsWindowNegotiation,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityNegotiation,
)
from pynetdicom.sop_class import (  # noqa: E402
    CTImageStorage,
    EnhancedCTImageStorage,
    GeneralRelevantPatientInformationQuery,
    HangingProtocolStorage,
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    SecondaryCaptureImageStorage,
    Verification,
)
from pydicom.uid import (  # noqa: E402
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

STORAGE_SERVICE_CLASS = "1.2.840.10008.4.2"


def fixed_uid(label: str) -> str:
    return "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL, "https://dicomtap.invalid/" + label).int)


def make_ae(title: str = "PYNETDICOM", max_pdu: int | None = None) -> AE:
    ae = AE(ae_title=title)
    ae.acse_timeout = 15
    ae.dimse_timeout = 15
    ae.network_timeout = 15
    if max_pdu is not None:
        ae.maximum_pdu_size = max_pdu
    return ae


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def template_item() -> Dataset:
    item = Dataset()
    item.MappingResource = "DCMR"
    item.TemplateIdentifier = "9007"
    return item


def rpi_query() -> Dataset:
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = "1234567"
    ds.ContentTemplateSequence = [template_item()]
    return ds


def rpi_response(name: str = "Doe^John") -> Dataset:
    ds = Dataset()
    ds.PatientName = name
    ds.PatientID = "1234567"
    ds.ContentTemplateSequence = [template_item()]
    ds.ObservationDateTime = "20240315093000"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code_item("11329-0", "LN", "History")]
    ds.ContinuityOfContent = "SEPARATE"
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = [code_item("10164-2", "LN", "History of present illness")]
    text.TextValue = "Patient reports intermittent chest pain for two weeks."
    ds.ContentSequence = [text]
    return ds


def patient_match(i: int) -> Dataset:
    names = ["Doe^John", "Doe^Jane", "Roe^Richard"]
    ids = ["1234567", "2345678", "3456789"]
    dobs = ["19700101", "19800202", "19900303"]
    ds = Dataset()
    ds.QueryRetrieveLevel = "PATIENT"
    ds.PatientName = names[i % 3]
    ds.PatientID = ids[i % 3]
    ds.PatientBirthDate = dobs[i % 3]
    return ds


def patient_root_query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "PATIENT"
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    return ds


def make_ct(size: int, label: str) -> Dataset:
    """A small synthetic CT image (Explicit VR LE), fixed UIDs and pixels."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = fixed_uid(f"ct/{label}/instance")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyDate = "20240315"
    ds.Modality = "CT"
    ds.PatientName = "Doe^John"
    ds.PatientID = "1234567"
    ds.StudyInstanceUID = fixed_uid(f"ct/{label}/study")
    ds.SeriesInstanceUID = fixed_uid(f"ct/{label}/series")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = b"".join(struct.pack("<H", (x * 37 + y * 11) % 4096)
                            for y in range(size) for x in range(size))
    return ds


def save_part10(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def context_id(assoc, abstract: str) -> int:
    for cx in assoc.accepted_contexts:
        if cx.abstract_syntax == abstract:
            return cx.context_id
    raise RuntimeError(f"no accepted context for {abstract}")


@contextlib.contextmanager
def associated(ae: AE, port: int, **kwargs):
    assoc = ae.associate(LOCAL, port, **kwargs)
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


# ---- scenario implementations: each returns the relay ----------------------

def sc_pynetdicom_echo(work: Path):
    scp = make_ae()
    scp.add_supported_context(Verification)
    scu = make_ae()
    scu.add_requested_context(Verification)
    with pynetdicom_scp(scp) as port, relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            st = assoc.send_c_echo()
            require(st.Status == 0, "C-ECHO failed")
            assoc.release()
    return relay


def sc_dcmtk_echo(work: Path):
    with dcmtk_inetd_scp([STORESCP, "-od", str(work)], work, "storescp.log") as port, \
            relay_to(port) as relay:
        run_tool([ECHOSCU, LOCAL, str(relay.port)], work, "echoscu.log")
    return relay


def sc_dcmtk_echo_abort(work: Path):
    with dcmtk_inetd_scp([STORESCP, "-od", str(work)], work, "storescp.log") as port, \
            relay_to(port) as relay:
        run_tool([ECHOSCU, "--abort", LOCAL, str(relay.port)], work, "echoscu.log")
    return relay


def sc_pynetdicom_abort(work: Path):
    scp = make_ae()
    scp.add_supported_context(Verification)
    scu = make_ae()
    scu.add_requested_context(Verification)
    with pynetdicom_scp(scp) as port, relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            assoc.send_c_echo()
            assoc.abort()
    return relay


def rpi_scp() -> AE:
    scp = make_ae()
    scp.add_supported_context(GeneralRelevantPatientInformationQuery)
    return scp


def rpi_scu() -> AE:
    scu = make_ae()
    scu.add_requested_context(GeneralRelevantPatientInformationQuery)
    return scu


def sc_pynetdicom_rpi_find(work: Path):
    def on_find(event):
        yield 0xFF00, rpi_response()

    scp, scu = rpi_scp(), rpi_scu()
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, on_find)]) as port, relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            rsp = list(assoc.send_c_find(rpi_query(), GeneralRelevantPatientInformationQuery))
            require(statuses(rsp) == [0xFF00, 0x0000], f"unexpected statuses {statuses(rsp)}")
            assoc.release()
    return relay


def sc_pynetdicom_rpi_find_multiple(work: Path):
    """One association, four C-FINDs; the handler picks its behaviour by the
    request's Message ID."""
    def on_find(event):
        mid = event.request.MessageID
        if mid == 1:
            yield 0xC100, None
        elif mid == 2:
            yield 0xC200, None
        elif mid == 3:
            # pynetdicom's RPI SCP only consumes the first yield: the second
            # pending identifier is silently dropped.
            yield 0xFF00, rpi_response("Doe^John")
            yield 0xFF00, rpi_response("Doe^Johnny")
        else:
            # Send a real second Pending response through pynetdicom's own DIMSE
            # encoder before the normal yield: Pending, Pending, Success.
            req = event.request
            cx = event.context
            implicit = cx.transfer_syntax == ImplicitVRLittleEndian
            rsp = C_FIND()
            rsp.MessageIDBeingRespondedTo = req.MessageID
            rsp.AffectedSOPClassUID = req.AffectedSOPClassUID
            rsp.Status = 0xFF00
            rsp.Identifier = BytesIO(encode(rpi_response("Doe^John"), implicit, True,
                                            cx.transfer_syntax == DeflatedExplicitVRLittleEndian))
            event.assoc.dimse.send_msg(rsp, cx.context_id)
            yield 0xFF00, rpi_response("Doe^Johnny")

    scp, scu = rpi_scp(), rpi_scu()
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, on_find)]) as port, relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            got = []
            for mid in (1, 2, 3, 4):
                rsp = list(assoc.send_c_find(rpi_query(), GeneralRelevantPatientInformationQuery,
                                             msg_id=mid))
                got.append(statuses(rsp))
            require(got == [[0xC100], [0xC200], [0xFF00, 0], [0xFF00, 0xFF00, 0]],
                    f"unexpected statuses {got}")
            assoc.release()
    return relay


def sc_pynetdicom_rpi_find_cancel(work: Path):
    """RPI C-FIND cancelled before the SCP answers: a timer thread sends
    C-CANCEL 0.5 s after the request while the handler polls is_cancelled."""
    def on_find(event):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            time.sleep(0.05)
        yield 0xFF00, rpi_response()

    scp, scu = rpi_scp(), rpi_scu()
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, on_find)]) as port, relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            cx = context_id(assoc, GeneralRelevantPatientInformationQuery)
            timer = threading.Timer(0.5, assoc.send_c_cancel, args=(7, cx))
            timer.start()
            try:
                rsp = list(assoc.send_c_find(rpi_query(), GeneralRelevantPatientInformationQuery,
                                             msg_id=7))
            finally:
                timer.cancel()
            require(statuses(rsp) == [0xFE00], f"unexpected statuses {statuses(rsp)}")
            assoc.release()
    return relay


def slow_patient_find(event):
    for i in range(6):
        if event.is_cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, patient_match(i)
        time.sleep(0.4)


def sc_pynetdicom_find_cancel(work: Path):
    scp = make_ae()
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    scu = make_ae()
    scu.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, slow_patient_find)]) as port, \
            relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            cx = context_id(assoc, PatientRootQueryRetrieveInformationModelFind)
            got = []
            for status, _ in assoc.send_c_find(patient_root_query(),
                                               PatientRootQueryRetrieveInformationModelFind,
                                               msg_id=1):
                got.append(int(status.Status))
                if len(got) == 1:
                    assoc.send_c_cancel(1, cx)
            require(got[0] == 0xFF00 and got[-1] == 0xFE00, f"unexpected statuses {got}")
            assoc.release()
    return relay


def find_scp_3_matches(event):
    for i in range(3):
        yield 0xFF00, patient_match(i)


def sc_dcmtk_find_patient_root(work: Path):
    scp = make_ae()
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, find_scp_3_matches)]) as port, \
            relay_to(port) as relay:
        run_tool([FINDSCU, "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName=",
                  "-k", "PatientID=", "-k", "PatientBirthDate=", LOCAL, str(relay.port)],
                 work, "findscu.log")
    return relay


def sc_dcmtk_find_cancel(work: Path):
    scp = make_ae()
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, slow_patient_find)]) as port, \
            relay_to(port) as relay:
        run_tool([FINDSCU, "-P", "--cancel", "1", "-k", "QueryRetrieveLevel=PATIENT",
                  "-k", "PatientName=", "-k", "PatientID=", LOCAL, str(relay.port)],
                 work, "findscu.log")
    return relay


def sc_dcmtk_find_deflated(work: Path):
    scp = make_ae()
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind,
                              [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                               ImplicitVRLittleEndian])
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, find_scp_3_matches)]) as port, \
            relay_to(port) as relay:
        run_tool([FINDSCU, "-P", "-xd", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName=",
                  "-k", "PatientID=", LOCAL, str(relay.port)], work, "findscu.log")
    return relay


def sc_pynetdicom_deflated_find(work: Path):
    scp = make_ae()
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind,
                              [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                               ImplicitVRLittleEndian])
    scu = make_ae()
    scu.add_requested_context(PatientRootQueryRetrieveInformationModelFind,
                              [DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                               ImplicitVRLittleEndian])
    with pynetdicom_scp(scp, [(evt.EVT_C_FIND, find_scp_3_matches)]) as port, \
            relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            cx = [c for c in assoc.accepted_contexts][0]
            require(cx.transfer_syntax[0] == DeflatedExplicitVRLittleEndian,
                    f"accepted {cx.transfer_syntax}")
            rsp = list(assoc.send_c_find(patient_root_query(),
                                         PatientRootQueryRetrieveInformationModelFind))
            require(statuses(rsp) == [0xFF00] * 3 + [0], f"unexpected statuses {statuses(rsp)}")
            assoc.release()
    return relay


def sc_dcmtk_store(work: Path):
    path = save_part10(make_ct(8, "dcmtk-store"), work / "ct8.dcm")
    with dcmtk_inetd_scp([STORESCP, "-od", str(work / "in")], work, "storescp.log") as port, \
            relay_to(port) as relay:
        (work / "in").mkdir(exist_ok=True)
        run_tool([STORESCU, "-R", LOCAL, str(relay.port), str(path)], work, "storescu.log")
    return relay


def sc_dcmtk_store_fragmented_user_identity(work: Path):
    path = save_part10(make_ct(64, "dcmtk-store-fragmented"), work / "ct64.dcm")
    (work / "in").mkdir(exist_ok=True)
    with dcmtk_inetd_scp([STORESCP, "--max-pdu", "4096", "-od", str(work / "in")], work,
                         "storescp.log") as port, relay_to(port) as relay:
        run_tool([STORESCU, "-R", "--user", "dicomtap", "--password", "secret", LOCAL,
                  str(relay.port), str(path)], work, "storescu.log")
    return relay


def store_scp(max_pdu: int | None = None) -> AE:
    scp = make_ae(max_pdu=max_pdu)
    scp.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    return scp


def on_store(event):
    _ = event.dataset
    return 0x0000


def sc_pynetdicom_store(work: Path):
    scu = make_ae()
    scu.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    with pynetdicom_scp(store_scp(), [(evt.EVT_C_STORE, on_store)]) as port, \
            relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            st = assoc.send_c_store(make_ct(8, "pynetdicom-store"))
            require(st.Status == 0, "C-STORE failed")
            assoc.release()
    return relay


def sc_pynetdicom_store_fragmented(work: Path):
    scu = make_ae()
    scu.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    with pynetdicom_scp(store_scp(max_pdu=1024), [(evt.EVT_C_STORE, on_store)]) as port, \
            relay_to(port) as relay:
        with associated(scu, relay.port) as assoc:
            require(assoc.is_established, "association not established")
            st = assoc.send_c_store(make_ct(32, "pynetdicom-store-fragmented"))
            require(st.Status == 0, "C-STORE failed")
            assoc.release()
    return relay


def sc_pynetdicom_negotiation(work: Path):
    scp = make_ae()
    scp.add_supported_context(Verification, [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    scp.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian], scu_role=True, scp_role=True)
    scp.add_supported_context(MRImageStorage, [ExplicitVRLittleEndian], scu_role=True, scp_role=False)
    scp.add_supported_context(EnhancedCTImageStorage, [ExplicitVRLittleEndian])
    scp.add_supported_context(SecondaryCaptureImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])

    def on_user_id(event):
        return True, None  # accepted; pynetdicom sends no 0x59 for types 1 and 2

    def on_ext(event):
        return {PatientRootQueryRetrieveInformationModelFind: b"\x01\x00\x00"}

    def on_async(event):
        return 1, 1

    def on_common(event):
        return event.items

    handlers = [(evt.EVT_USER_ID, on_user_id), (evt.EVT_SOP_EXTENDED, on_ext),
                (evt.EVT_ASYNC_OPS, on_async), (evt.EVT_SOP_COMMON, on_common)]

    scu = make_ae()
    scu.add_requested_context(Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                                             DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian])
    scu.add_requested_context(PatientRootQueryRetrieveInformationModelFind, [ImplicitVRLittleEndian])
    scu.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    scu.add_requested_context(MRImageStorage, [ExplicitVRLittleEndian])
    scu.add_requested_context(EnhancedCTImageStorage, [ExplicitVRLittleEndian])
    scu.add_requested_context(HangingProtocolStorage, [ImplicitVRLittleEndian])
    scu.add_requested_context(SecondaryCaptureImageStorage, [JPEGBaseline8Bit])

    ui = UserIdentityNegotiation()
    ui.user_identity_type = 2
    ui.positive_response_requested = True
    ui.primary_field = b"dicomtap"
    ui.secondary_field = b"secret"
    ext = SOPClassExtendedNegotiation()
    ext.sop_class_uid = PatientRootQueryRetrieveInformationModelFind
    ext.service_class_application_information = b"\x01\x01\x01"
    common = SOPClassCommonExtendedNegotiation()
    common.sop_class_uid = EnhancedCTImageStorage
    common.service_class_uid = STORAGE_SERVICE_CLASS
    common.related_general_sop_class_identification = [CTImageStorage]
    async_ops = AsynchronousOperationsWindowNegotiation()
    async_ops.maximum_number_operations_invoked = 5
    async_ops.maximum_number_operations_performed = 3
    ext_neg = [build_role(CTImageStorage, scp_role=True), build_role(MRImageStorage, scp_role=True),
               ui, ext, common, async_ops]

    with pynetdicom_scp(scp, handlers) as port, relay_to(port) as relay:
        with associated(scu, relay.port, ext_neg=ext_neg) as assoc:
            require(assoc.is_established, "association not established")
            st = assoc.send_c_echo()
            require(st.Status == 0, "C-ECHO failed")
            assoc.release()
    return relay


def sc_pynetdicom_user_identity_jwt(work: Path):
    scp = make_ae()
    scp.add_supported_context(Verification)

    def on_user_id(event):
        return True, b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJkaWNvbXRhcC1zY3AifQ."

    scu = make_ae()
    scu.add_requested_context(Verification)
    ui = UserIdentityNegotiation()
    ui.user_identity_type = 5
    ui.positive_response_requested = True
    ui.primary_field = b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJkaWNvbXRhcCJ9."
    with pynetdicom_scp(scp, [(evt.EVT_USER_ID, on_user_id)]) as port, relay_to(port) as relay:
        with associated(scu, relay.port, ext_neg=[ui]) as assoc:
            require(assoc.is_established, "association not established")
            assoc.send_c_echo()
            assoc.release()
    return relay


def sc_pynetdicom_reject_called_aet(work: Path):
    scp = make_ae("TAP-SCP")
    scp.require_called_aet = True
    scp.add_supported_context(Verification)
    scu = make_ae()
    scu.add_requested_context(Verification)
    with pynetdicom_scp(scp) as port, relay_to(port) as relay:
        with associated(scu, relay.port, ae_title="WRONG-AE") as assoc:
            require(assoc.is_rejected, "association not rejected")
    return relay


def sc_pynetdicom_reject_user_identity(work: Path):
    scp = make_ae()
    scp.add_supported_context(Verification)

    def on_user_id(event):
        return False, None

    scu = make_ae()
    scu.add_requested_context(Verification)
    ui = UserIdentityNegotiation()
    ui.user_identity_type = 1
    ui.positive_response_requested = False
    ui.primary_field = b"intruder"
    with pynetdicom_scp(scp, [(evt.EVT_USER_ID, on_user_id)]) as port, relay_to(port) as relay:
        with associated(scu, relay.port, ext_neg=[ui]) as assoc:
            require(assoc.is_rejected, "association not rejected")
    return relay


def sc_dcmtk_reject(work: Path):
    with dcmtk_inetd_scp([STORESCP, "--refuse", "-od", str(work)], work, "storescp.log") as port, \
            relay_to(port) as relay:
        run_tool([ECHOSCU, LOCAL, str(relay.port)], work, "echoscu.log", expect_rc=None)
    return relay


def sc_dcmtk_get(work: Path):
    ct = make_ct(8, "dcmtk-get")

    def on_get(event):
        yield 1
        yield 0xFF00, ct

    scp = make_ae()
    scp.add_supported_context(PatientRootQueryRetrieveInformationModelGet)
    scp.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian], scu_role=False, scp_role=True)
    (work / "in").mkdir(exist_ok=True)
    with pynetdicom_scp(scp, [(evt.EVT_C_GET, on_get)]) as port, relay_to(port) as relay:
        run_tool([GETSCU, "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=1234567",
                  "-od", str(work / "in"), LOCAL, str(relay.port)], work, "getscu.log")
    return relay


def raw_requestor(port: int, payload: bytes, wait: float = 3.0) -> None:
    with socket.create_connection((LOCAL, port), timeout=10) as s:
        s.sendall(payload)
        s.settimeout(wait)
        with contextlib.suppress(OSError):
            while s.recv(65536):
                pass


# An A-RELEASE-RQ PDU (PS3.8 Table 9-24) sent as the first PDU of a connection.
RELEASE_RQ = bytes([0x05, 0x00, 0, 0, 0, 4, 0, 0, 0, 0])


def sc_scripted_unexpected_pdu_pynetdicom(work: Path):
    scp = make_ae()
    scp.add_supported_context(Verification)
    with pynetdicom_scp(scp) as port, relay_to(port) as relay:
        raw_requestor(relay.port, RELEASE_RQ)
    return relay


def sc_scripted_unexpected_pdu_dcmtk(work: Path):
    with dcmtk_inetd_scp([STORESCP, "-od", str(work)], work, "storescp.log") as port, \
            relay_to(port) as relay:
        raw_requestor(relay.port, RELEASE_RQ)
    return relay


@dataclass
class Scenario:
    name: str
    requestor: str
    acceptor: str
    description: str
    features: list[str]
    run: object


SCENARIOS = [
    Scenario("pynetdicom_echo", PYNETDICOM, PYNETDICOM,
             "C-ECHO on a Verification context (default 4 transfer syntaxes), then release.",
             ["c-echo", "release"], sc_pynetdicom_echo),
    Scenario("dcmtk_echo", f"{DCMTK} echoscu", f"{DCMTK} storescp (--inetd)",
             "echoscu C-ECHO to storescp, then release.", ["c-echo", "release"], sc_dcmtk_echo),
    Scenario("dcmtk_echo_abort", f"{DCMTK} echoscu --abort", f"{DCMTK} storescp (--inetd)",
             "echoscu C-ECHO, then the SCU aborts (A-ABORT, service-user source) instead of releasing.",
             ["c-echo", "a-abort-by-requestor"], sc_dcmtk_echo_abort),
    Scenario("pynetdicom_abort", PYNETDICOM, PYNETDICOM,
             "C-ECHO, then Association.abort(): A-ABORT from the requestor.",
             ["c-echo", "a-abort-by-requestor"], sc_pynetdicom_abort),
    Scenario("pynetdicom_rpi_find", PYNETDICOM, PYNETDICOM,
             "Relevant Patient Information Query (General, PS3.4 Annex Q, TID 9007): one C-FIND, "
             "one Pending response with the identifier, then pynetdicom's final Success response, "
             "which carries the pending identifier AGAIN (CommandDataSetType != 0x0101 plus a data set): "
             "pynetdicom 3.0.4 RelevantPatientInformationQueryServiceClass reuses the response "
             "primitive without clearing its Identifier.",
             ["c-find", "relevant-patient-information-query", "annex-q",
              "quirk:final-find-success-with-dataset"], sc_pynetdicom_rpi_find),
    Scenario("pynetdicom_rpi_find_multiple", PYNETDICOM, PYNETDICOM,
             "One association, four RPI C-FINDs (Message IDs 1-4) with the same query: "
             "msg 1 -> single response 0xC100 (more than one match, no data set); "
             "msg 2 -> single response 0xC200 (unable to support requested template); "
             "msg 3 -> the handler yields TWO pendings but pynetdicom's RPI SCP only consumes the first: "
             "wire shows Pending + Success-with-dataset (the second match is silently dropped); "
             "msg 4 -> a second Pending is pushed through pynetdicom's DIMSE encoder "
             "(assoc.dimse.send_msg) before the normal yield: Pending, Pending, Success-with-dataset "
             "(two pendings: a protocol violation for Annex Q, which allows at most one match).",
             ["c-find", "relevant-patient-information-query", "annex-q", "status:0xC100", "status:0xC200",
              "annex-q-violation:two-pending-responses", "quirk:final-find-success-with-dataset",
              "quirk:pynetdicom-rpi-scp-drops-second-yield"], sc_pynetdicom_rpi_find_multiple),
    Scenario("pynetdicom_rpi_find_cancel", PYNETDICOM, PYNETDICOM,
             "RPI C-FIND (Message ID 7); 0.5 s later, before any response, the SCU sends C-CANCEL-RQ "
             "(from a timer thread); the SCP handler sees is_cancelled and answers 0xFE00 (Cancel).",
             ["c-find", "c-cancel", "relevant-patient-information-query", "status:0xFE00"],
             sc_pynetdicom_rpi_find_cancel),
    Scenario("pynetdicom_find_cancel", PYNETDICOM, PYNETDICOM,
             "Patient Root C-FIND; the SCP yields a pending match every 0.4 s; after the first pending "
             "the SCU sends C-CANCEL-RQ; the SCP answers 0xFE00 (Cancel) at its next check; release.",
             ["c-find", "c-cancel", "patient-root", "status:0xFE00"], sc_pynetdicom_find_cancel),
    Scenario("dcmtk_find_patient_root", f"{DCMTK} findscu -P", PYNETDICOM,
             "findscu Patient Root C-FIND (QueryRetrieveLevel=PATIENT, PatientName, PatientID, "
             "PatientBirthDate universal), 3 Pending matches, then Success (no data set), release.",
             ["c-find", "patient-root"], sc_dcmtk_find_patient_root),
    Scenario("dcmtk_find_cancel", f"{DCMTK} findscu -P --cancel 1", PYNETDICOM,
             "findscu cancels after the first response: C-CANCEL-RQ from DCMTK while the SCP yields "
             "slowly (every 0.4 s); Cancel status 0xFE00, release.",
             ["c-find", "c-cancel", "patient-root", "status:0xFE00"], sc_dcmtk_find_cancel),
    Scenario("dcmtk_find_deflated", f"{DCMTK} findscu -P -xd", PYNETDICOM,
             "findscu proposes Deflated Explicit VR LE first; the pynetdicom SCP prefers deflated, so the "
             "query and the 3 matches travel as raw-deflate data sets.",
             ["c-find", "patient-root", "deflated"], sc_dcmtk_find_deflated),
    Scenario("pynetdicom_deflated_find", PYNETDICOM, PYNETDICOM,
             "Patient Root C-FIND on a context proposed with [Deflated Explicit VR LE, Explicit VR LE, "
             "Implicit VR LE] and accepted as deflated: query and 3 matches are deflated.",
             ["c-find", "patient-root", "deflated", "multiple-ts-per-context"], sc_pynetdicom_deflated_find),
    Scenario("dcmtk_store", f"{DCMTK} storescu -R", f"{DCMTK} storescp (--inetd)",
             "storescu C-STORE of an 8x8 16-bit CT image (Explicit VR LE Part 10 file), release.",
             ["c-store", "release"], sc_dcmtk_store),
    Scenario("dcmtk_store_fragmented_user_identity",
             f"{DCMTK} storescu -R --user dicomtap --password secret",
             f"{DCMTK} storescp --max-pdu 4096 (--inetd)",
             "storescu with user identity (type 2, username+passcode, positive response requested) "
             "to storescp with a 4096-byte maximum PDU: the 64x64 CT data set is fragmented over "
             "several P-DATA-TF PDUs; storescp ignores the identity (no 0x59 sub-item).",
             ["c-store", "fragmented-dataset", "user-identity", "small-max-pdu"],
             sc_dcmtk_store_fragmented_user_identity),
    Scenario("pynetdicom_store", PYNETDICOM, PYNETDICOM,
             "C-STORE of an 8x8 16-bit CT image (Explicit VR LE), release.", ["c-store", "release"],
             sc_pynetdicom_store),
    Scenario("pynetdicom_store_fragmented", PYNETDICOM, f"{PYNETDICOM} (maximum_pdu_size = 1024)",
             "C-STORE of a 32x32 CT image to an SCP that receives at most 1024-byte PDUs: the data "
             "set is fragmented over several P-DATA-TF PDUs.",
             ["c-store", "fragmented-dataset", "small-max-pdu"], sc_pynetdicom_store_fragmented),
    Scenario("pynetdicom_negotiation", PYNETDICOM, PYNETDICOM,
             "Association negotiation features, then one C-ECHO and release. Contexts: "
             "1 Verification [Explicit LE, Implicit LE, Deflated, Explicit BE] -> Implicit LE (acceptor's "
             "order wins); 3 Patient Root Find + SOP class extended negotiation (0x56, answered); "
             "5 CT Image Storage + role selection SCU=0/SCP=1 (accepted, 0x54 answered); "
             "7 MR Image Storage + role selection SCU=0/SCP=1 vs acceptor allowing SCU only -> result 1 "
             "(user rejection); 9 Enhanced CT + SOP class common extended negotiation (0x57, no answer "
             "sub-item exists); 11 Hanging Protocol Storage -> result 3; 13 Secondary Capture proposed with "
             "JPEG Baseline only -> result 4. User identity type 2 with positive response requested: "
             "pynetdicom accepts but sends no 0x59 for types 1/2. Asynchronous operations window 5/3 "
             "answered 1/1.",
             ["role-selection", "user-identity", "sop-class-extended", "sop-class-common-extended",
              "async-ops-window", "multiple-ts-per-context", "rejected-context:1", "rejected-context:3",
              "rejected-context:4"], sc_pynetdicom_negotiation),
    Scenario("pynetdicom_user_identity_jwt", PYNETDICOM, PYNETDICOM,
             "User identity type 5 (JWT, fixed unsigned token) with positive response requested; the "
             "SCP answers with a User Identity (AC) sub-item 0x59 carrying a server response; C-ECHO, release.",
             ["user-identity", "user-identity-response"], sc_pynetdicom_user_identity_jwt),
    Scenario("pynetdicom_reject_called_aet", PYNETDICOM, f"{PYNETDICOM} (ae_title TAP-SCP, require_called_aet)",
             "The SCU calls 'WRONG-AE'; the SCP rejects: A-ASSOCIATE-RJ permanent, service-user, "
             "called-AE-title-not-recognized.", ["a-associate-rj"], sc_pynetdicom_reject_called_aet),
    Scenario("pynetdicom_reject_user_identity", PYNETDICOM, PYNETDICOM,
             "User identity type 1 (username only, no positive response requested); the EVT_USER_ID "
             "handler refuses it; A-ASSOCIATE-RJ.", ["a-associate-rj", "user-identity"],
             sc_pynetdicom_reject_user_identity),
    Scenario("dcmtk_reject", f"{DCMTK} echoscu", f"{DCMTK} storescp --refuse (--inetd)",
             "storescp --refuse rejects every association: A-ASSOCIATE-RJ from DCMTK.",
             ["a-associate-rj"], sc_dcmtk_reject),
    Scenario("dcmtk_get", f"{DCMTK} getscu -P", PYNETDICOM,
             "getscu Patient Root C-GET; getscu proposes many storage contexts with SCP/SCU role "
             "selection (SCP role); the pynetdicom SCP accepts CT Image Storage with the SCP role and "
             "sends one C-STORE-RQ (8x8 CT) to the requestor on the same association (C-STORE-RQ from "
             "the acceptor, C-STORE-RSP from the requestor), then the C-GET-RSPs.",
             ["c-get", "c-store-sub-operation", "role-selection"], sc_dcmtk_get),
    Scenario("scripted_unexpected_pdu_pynetdicom", "scripted (tools/capture_peer_fixtures.py raw socket)",
             PYNETDICOM,
             "A raw A-RELEASE-RQ as the first PDU of a connection (no association): how the acceptor's "
             "state machine answers an unexpected PDU in Sta2.", ["unexpected-pdu", "provider-abort"],
             sc_scripted_unexpected_pdu_pynetdicom),
    Scenario("scripted_unexpected_pdu_dcmtk", "scripted (tools/capture_peer_fixtures.py raw socket)",
             f"{DCMTK} storescp (--inetd)",
             "The same raw A-RELEASE-RQ sent to DCMTK storescp.", ["unexpected-pdu"],
             sc_scripted_unexpected_pdu_dcmtk),
]


# =============================================================================
# Part 4. Writing and verifying the fixtures
# =============================================================================

def write_scenario(sc: Scenario, relay: RecordingRelay) -> dict:
    rq, ac = relay.stream("rq"), relay.stream("ac")
    (OUT / f"{sc.name}.rq.bin").write_bytes(rq)
    (OUT / f"{sc.name}.ac.bin").write_bytes(ac)
    annotated, ann = annotate_streams(rq, ac, relay.chunks)
    t0 = relay.chunks[0][1] if relay.chunks else 0

    chunk_list = {"rq": [], "ac": []}
    pos = {"rq": 0, "ac": 0}
    for _, _, d, data in relay.chunks:
        if data:
            chunk_list[d].append([pos[d], len(data)])
            pos[d] += len(data)

    n = {"rq": 0, "ac": 0}
    reads = {}
    for a in annotated:
        p = a.pdu
        n[p.direction] += 1
        reads[(p.direction, p.offset)] = sum(1 for s, l in chunk_list[p.direction]
                                             if s < p.offset + len(p.data) and p.offset < s + l)
    for d in ("rq", "ac"):
        split = [a.pdu for a in annotated if a.pdu.direction == d and reads[(d, a.pdu.offset)] > 1]
        if split:
            ann.observe(f"{d}: {len(split)} PDU(s) arrived at the relay in more than one TCP read "
                        f"(first at offset {split[0].offset}: {reads[(d, split[0].offset)]} reads)")
    out = [
        f"# scenario:  {sc.name}",
        f"# requestor: {sc.requestor}",
        f"# acceptor:  {sc.acceptor}",
        "# " + sc.description,
        f"# {sc.name}.rq.bin: {len(rq)} bytes, {n['rq']} PDU(s), {len(chunk_list['rq'])} TCP read(s) at the relay",
        f"# {sc.name}.ac.bin: {len(ac)} bytes, {n['ac']} PDU(s), {len(chunk_list['ac'])} TCP read(s) at the relay",
        "# @N and 'offset N' are decimal byte offsets in that direction's .bin file; the",
        "# hexdump's first column is the same offset in hexadecimal;",
        "# t is the relay's monotonic time of the TCP read holding the PDU's first byte.",
    ]
    for e in relay.events:
        out.append(f"# relay: {e}")
    if ann.dimse_log:
        out.append("# DIMSE messages:")
        out.extend(f"#   {m}" for m in ann.dimse_log)
    for o in ann.pdv_observations():
        ann.observe(o)
    if ann.observations:
        out.append("# observations:")
        out.extend(f"#   - {o}" for o in ann.observations)
    out.append("")
    pdus_json = []
    for i, a in enumerate(annotated, 1):
        p = a.pdu
        arrow = "requestor -> acceptor" if p.direction == "rq" else "acceptor -> requestor"
        t = (p.t_ns - t0) / 1e9 if p.t_ns else 0.0
        out.append(f"=== #{i} {p.direction} ({arrow}) t=+{t:.6f}s  {PDU_NAMES[p.type]} (type 0x{p.type:02X})  "
                   f"offset {p.offset}  PDU-length {p.length} ({p.length + 6} bytes)"
                   + (f"  [{reads[(p.direction, p.offset)]} TCP reads]" if reads[(p.direction, p.offset)] > 1 else "")
                   + " ===")
        out.append(f"  summary: {a.summary}")
        out.extend(a.lines)
        out.append("  hexdump:")
        out.extend(hexdump(p.data, p.offset, limit=1024))
        out.append("")
        entry = {"index": i, "direction": p.direction, "offset": p.offset, "type": p.type,
                 "name": PDU_NAMES[p.type], "length": p.length, "summary": a.summary}
        if a.pdvs:
            entry["pdvs"] = a.pdvs
        pdus_json.append(entry)
    (OUT / f"{sc.name}.txt").write_text("\n".join(out) + "\n")
    derived = sorted(f for f in ann.features if f not in sc.features)
    return {
        "name": sc.name,
        "requestor": sc.requestor,
        "acceptor": sc.acceptor,
        "description": sc.description,
        "files": {"rq": f"{sc.name}.rq.bin", "ac": f"{sc.name}.ac.bin", "annotation": f"{sc.name}.txt"},
        "pdus": pdus_json,
        "features": list(sc.features) + derived,
        "observations": ann.observations,
        "chunks": chunk_list,
    }


def manifest_json(manifest: list[dict]) -> str:
    """Indented JSON with one line per PDU and per chunk list (keeps the file
    readable and diffable)."""
    c = lambda v: json.dumps(v, separators=(", ", ": "))  # noqa: E731
    parts = []
    for e in manifest:
        lines = ["  {"]
        for k, v in e.items():
            if k == "pdus":
                lines.append('    "pdus": [')
                lines.append(",\n".join("      " + c(p) for p in v))
                lines.append("    ],")
            elif k == "chunks":
                lines.append('    "chunks": {' + ", ".join(f'"{d}": {c(x)}' for d, x in v.items()) + "},")
            else:
                lines.append(f"    {c(k)}: {c(v)},")
        lines[-1] = lines[-1].rstrip(",")
        lines.append("  }")
        parts.append("\n".join(lines))
    return "[\n" + ",\n".join(parts) + "\n]\n"


def verify(manifest: list[dict]) -> bool:
    ok = True
    print("\nverification (re-reading the files):")
    for entry in manifest:
        name = entry["name"]
        try:
            rq = (OUT / entry["files"]["rq"]).read_bytes()
            ac = (OUT / entry["files"]["ac"]).read_bytes()
            rq_pdus, ac_pdus = split_pdus(rq, "rq"), split_pdus(ac, "ac")
            assert sum(len(p.data) for p in rq_pdus) == len(rq)
            assert sum(len(p.data) for p in ac_pdus) == len(ac)
            order = [(p["direction"], p["offset"]) for p in entry["pdus"]]
            annotated, _ = annotate_streams(rq, ac, None, order)  # strict parse of every item
            by_dir = {(p.direction, p.offset, p.type, p.length) for p in rq_pdus + ac_pdus}
            listed = {(p["direction"], p["offset"], p["type"], p["length"]) for p in entry["pdus"]}
            assert by_dir == listed, "manifest PDU list differs from the re-parsed files"
            for p in entry["pdus"]:
                src = rq if p["direction"] == "rq" else ac
                assert src[p["offset"]] == p["type"]
                assert u32(src, p["offset"] + 2) == p["length"]
            warn = sum(1 for a in annotated for l in a.lines if "WARNING" in l)
            seq = " ".join(f"{p['direction']}:{PDU_NAMES[p['type']].replace('A-ASSOCIATE-', 'A-')}"
                           for p in entry["pdus"])
            print(f"  OK  {name:40s} rq {len(rq):6d} B / {len(rq_pdus):2d} PDUs, "
                  f"ac {len(ac):6d} B / {len(ac_pdus):2d} PDUs{', ' + str(warn) + ' warning line(s)' if warn else ''}")
            print(f"        {seq}")
        except Exception as exc:
            ok = False
            print(f"  FAIL {name}: {exc}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="run only these scenarios (the folder is still rewritten)")
    ap.add_argument("--keep-logs", type=Path, help="copy the tools' logs into this folder")
    ap.add_argument("--debug", action="store_true", help="pynetdicom debug logging")
    args = ap.parse_args()
    if args.debug:
        debug_logger()
    else:
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)

    for tool in (ECHOSCU, FINDSCU, STORESCU, STORESCP, GETSCU):
        if not os.access(tool, os.X_OK):
            print(f"missing {tool} (apt-get install dcmtk)", file=sys.stderr)
            return 2

    selected = [s for s in SCENARIOS if not args.only or s.name in args.only]
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    manifest = []
    failures = []
    for sc in selected:
        work = Path(tempfile.mkdtemp(prefix=f"capture-{sc.name}-"))
        try:
            relay = sc.run(work)
            entry = write_scenario(sc, relay)
            manifest.append(entry)
            kinds = sorted({p["name"] for p in entry["pdus"]})
            print(f"captured {sc.name}: {len(entry['pdus'])} PDUs ({', '.join(kinds)})")
        except Exception:
            failures.append(sc.name)
            print(f"FAILED {sc.name}:\n{traceback.format_exc()}", file=sys.stderr)
            for f in (OUT / f"{sc.name}.rq.bin", OUT / f"{sc.name}.ac.bin", OUT / f"{sc.name}.txt"):
                f.unlink(missing_ok=True)
        finally:
            if args.keep_logs:
                dst = args.keep_logs / sc.name
                dst.mkdir(parents=True, exist_ok=True)
                for log in work.glob("*.log"):
                    shutil.copy(log, dst / log.name)
            shutil.rmtree(work, ignore_errors=True)
    (OUT / "manifest.json").write_text(manifest_json(manifest))
    ok = verify(manifest)
    if failures:
        print(f"\nfailed scenarios: {', '.join(failures)}", file=sys.stderr)
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
