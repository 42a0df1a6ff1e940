#!/usr/bin/env python3
"""Generate the DICOM data dictionary and UID registry tables for DICOMCore.

Usage (from anywhere; paths are resolved relative to the repository root):

    python3 tools/gen_dictionary.py            # (re)write the generated Swift sources
    python3 tools/gen_dictionary.py --check    # exit 1 if the committed sources are stale
    python3 tools/gen_dictionary.py --check-list /tmp/dict_check.tsv
                                               # also write a TSV of expected lookups
                                               # for an out-of-tree Swift verification program

Inputs (pydicom 3.x, tested with 3.0.2, whose tables follow DICOM 2024c):

* ``pydicom._dicom_dict.DicomDictionary``   PS3.6 Table 6-1 / PS3.7 Table E.1-1 (group 0000),
  ``{tag: (VR, VM, Name, Retired, Keyword)}``
* ``pydicom._dicom_dict.RepeatersDictionary``  the same for repeating groups / elements,
  ``{"60xx3000": (...)}``
* ``pydicom._uid_dict.UID_dictionary``       PS3.6 Annex A, ``{uid: (Name, Type, Info, Retired, Keyword)}``

Outputs (committed, DO NOT EDIT by hand):

* ``Sources/DICOMCore/Generated/DataDictionary+Generated.swift``
* ``Sources/DICOMCore/Generated/UIDRegistry+Generated.swift``

They plug into the hand-written ``Sources/DICOMCore/DataDictionary.swift``, which owns the
lookup code.  The generated files contain only literal data:

* parallel arrays of primitives (``[UInt32]`` tags, ``[UInt64]`` packed VRs + flags,
  ``[UInt8]`` VM index, ``[UInt32]`` string offsets);
* one ``StaticString`` literal per string column (keywords, names, UIDs, ...), one value
  per source line joined with ``\\`` line continuations, sliced by byte offset at lookup;
* open-addressing hash tables of ``Int16`` entry indices, ``-1`` = empty, power-of-two
  sized, built here, with triangular probing (slot, slot+1, slot+3, slot+6, ... mod size,
  which visits every slot of a power-of-two table).  The Swift side must reproduce these
  hashes exactly:

  - tags:     ``slot = UInt32(tag &* 0x9E3779B1) >> (32 - bits)``  (Fibonacci hashing)
  - repeating groups: same hash on ``tag & mask``, probed once per distinct mask
  - strings:  FNV-1a 32-bit over the UTF-8 bytes, ``slot = hash & (size - 1)``

VR mapping (PS3.5 Table 6.2-1, the codes known to ``Sources/DICOMCore/VR.swift``, which this
script parses so the two can never disagree):

* ``'NONE'`` (only the FFFE,E000 / E00D / E0DD item and delimiter entries) -> no VR (``[]``);
* ``'X or Y [or Z]'`` -> ``[X, Y, Z]`` in pydicom's order; pydicom 3.0.2 has ``'US or SS'``,
  ``'OB or OW'``, ``'US or SS or OW'`` (0028,1200 Gray Lookup Table Data, retired) and
  ``'US or OW'`` (0028,3006 LUT Data);
* any other string (for example the 'See Note' some dictionaries carry) is rejected with an
  error so that a new pydicom release cannot silently produce a wrong table; add a mapping
  to ``VR_STRING_OVERRIDES`` below if that ever happens.

Packed entry word (``[UInt64]``): bits 0-15 first VR raw value, 16-31 second, 32-47 third
(0 = none), 48-55 index into the VM strings, bit 63 retired.  String offsets of the keyword
and name columns share one ``[UInt64]`` (keyword offset in bits 0-31, name offset in 32-63).
These packings keep the number of array-literal elements low: the -O compile time of the
generated file is roughly proportional to it (about 0.15 ms per element).  The exact-tag
and repeating-group tables, probed by the implicit-VR hot path ``DataDictionary.vr(for:)``,
are kept at load factor <= 0.5; the keyword and UID tables at <= 0.75.

The output is deterministic: entries are sorted by tag (exact entries first, then
repeating-group entries sorted by canonical tag and mask); UIDs keep pydicom's order.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import pydicom
from pydicom._dicom_dict import DicomDictionary, RepeatersDictionary
from pydicom._uid_dict import UID_dictionary

try:
    from pydicom._version import __dicom_version__ as DICOM_EDITION
except ImportError:  # pragma: no cover - older pydicom
    DICOM_EDITION = None

SCRIPT = "tools/gen_dictionary.py"
ROOT = Path(__file__).resolve().parent.parent
VR_SWIFT = ROOT / "Sources/DICOMCore/VR.swift"
OUT_DIR = ROOT / "Sources/DICOMCore/Generated"
OUT_DICT = OUT_DIR / "DataDictionary+Generated.swift"
OUT_UID = OUT_DIR / "UIDRegistry+Generated.swift"

# Explicit mappings for VR strings that are not "XX" or "XX or YY ...". Empty list = no VR.
VR_STRING_OVERRIDES: dict[str, list[str]] = {
    "NONE": [],
}

TAG_HASH_MULTIPLIER = 0x9E3779B1
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
RETIRED_BIT = 63
VM_SHIFT = 48
HOT_MAX_LOAD = 0.5
MAX_LOAD = 0.75
MAX_VRS = 3

# Keyword / name of the synthesized (gggg,0000) entry (PS3.5 §7.2). Must match DataDictionary.swift.
GROUP_LENGTH_KEYWORD = "GroupLength"
GROUP_LENGTH_NAME = "Group Length"


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def pydicom_file(name: str) -> str:
    """``src/pydicom/_dicom_dict.py``: the path of a pydicom module as in pydicom's repository."""
    return f"src/pydicom/{name}"


def source_description(module_file: str) -> str:
    s = f"pydicom {pydicom.__version__} {pydicom_file(module_file)}"
    if DICOM_EDITION:
        s += f", DICOM {DICOM_EDITION}"
    return s


def known_vrs() -> dict[str, int]:
    """The VR codes of ``VR.swift`` (``case PN = 0x504E``) and their raw values."""
    text = VR_SWIFT.read_text(encoding="utf-8")
    found = dict((code, int(raw, 16)) for code, raw in re.findall(r"\b([A-Z]{2}) = 0x([0-9A-Fa-f]{4})\b", text))
    if len(found) < 30:
        sys.exit(f"error: could only parse {len(found)} VR cases from {VR_SWIFT}")
    for code, raw in found.items():
        if raw != (ord(code[0]) << 8 | ord(code[1])):
            sys.exit(f"error: VR.{code} raw value 0x{raw:04X} is not its two ASCII bytes")
    return found


def map_vr_string(s: str, vrs: dict[str, int], where: str) -> list[str]:
    if s in VR_STRING_OVERRIDES:
        parts = VR_STRING_OVERRIDES[s]
    else:
        parts = [p.strip() for p in s.split(" or ")]
    for p in parts:
        if p not in vrs:
            sys.exit(f"error: {where}: VR string {s!r} contains {p!r}, unknown to VR.swift; "
                     f"add a mapping to VR_STRING_OVERRIDES in {SCRIPT}")
    if len(parts) > MAX_VRS or len(set(parts)) != len(parts):
        sys.exit(f"error: {where}: cannot pack VR string {s!r}")
    return parts


def parse_mask(key: str) -> tuple[int, int]:
    """``'60xx3000'`` -> (canonical tag 0x60003000, mask 0xFF00FFFF), as pydicom's datadict does."""
    if not re.fullmatch(r"[0-9A-Fa-fx]{8}", key):
        sys.exit(f"error: bad repeater key {key!r}")
    value = int(key.replace("x", "0"), 16)
    mask = int("".join("0" if c == "x" else "F" for c in key), 16)
    return value, mask


def is_private_group(group: int) -> bool:
    """Mirrors ``Tag.isPrivate`` in Tag.swift."""
    return group & 1 == 1 and group > 0x0008 and group != 0xFFFF


class DictEntry:
    __slots__ = ("tag", "vrs", "vm", "name", "retired", "keyword", "mask", "vr_string")

    def __init__(self, tag, vrs, vm, name, retired, keyword, mask, vr_string):
        self.tag, self.vrs, self.vm, self.name = tag, vrs, vm, name
        self.retired, self.keyword, self.mask, self.vr_string = retired, keyword, mask, vr_string


def load_dictionary(vrs: dict[str, int]) -> tuple[list[DictEntry], list[DictEntry]]:
    exact = []
    for tag in sorted(DicomDictionary):
        vr, vm, name, retired, keyword = DicomDictionary[tag]
        if is_private_group(tag >> 16):
            # vr(for:) answers private tags without probing; that relies on this.
            sys.exit(f"error: DicomDictionary has an entry in a private group: {tag:08X}")
        exact.append(DictEntry(tag, map_vr_string(vr, vrs, f"{tag:08X}"), vm, name,
                               retired == "Retired", keyword, None, vr))
        if retired not in ("", "Retired"):
            sys.exit(f"error: {tag:08X}: unexpected retired flag {retired!r}")
    reps = []
    for key in RepeatersDictionary:
        vr, vm, name, retired, keyword = RepeatersDictionary[key]
        value, mask = parse_mask(key)
        if retired not in ("", "Retired"):
            sys.exit(f"error: {key}: unexpected retired flag {retired!r}")
        reps.append(DictEntry(value, map_vr_string(vr, vrs, key), vm, name,
                              retired == "Retired", keyword, mask, vr))
    reps.sort(key=lambda e: (e.tag, e.mask))
    # No tag may match two repeaters, otherwise the probe order would matter.
    for i, a in enumerate(reps):
        for b in reps[i + 1:]:
            if (a.tag ^ b.tag) & a.mask & b.mask == 0:
                sys.exit(f"error: repeaters {a.tag:08X}/{a.mask:08X} and {b.tag:08X}/{b.mask:08X} overlap")
    keywords = [e.keyword for e in exact + reps if e.keyword]
    if len(set(keywords)) != len(keywords):
        sys.exit("error: duplicate data dictionary keywords")
    return exact, reps


class UIDRow:
    __slots__ = ("uid", "name", "type", "keyword", "retired")

    def __init__(self, uid, name, type_, keyword, retired):
        self.uid, self.name, self.type, self.keyword, self.retired = uid, name, type_, keyword, retired


def load_uids() -> list[UIDRow]:
    rows = []
    for uid, (name, type_, _info, retired, keyword) in UID_dictionary.items():
        if retired not in ("", "Retired"):
            sys.exit(f"error: {uid}: unexpected retired flag {retired!r}")
        rows.append(UIDRow(uid, name, type_, keyword, retired == "Retired"))
    keywords = [r.keyword for r in rows if r.keyword]
    if len(set(keywords)) != len(keywords):
        sys.exit("error: duplicate UID keywords")
    return rows


# ---------------------------------------------------------------------------------------------
# Hashing (must match DataDictionary.swift)
# ---------------------------------------------------------------------------------------------

def tag_slot(tag: int, bits: int) -> int:
    return ((tag * TAG_HASH_MULTIPLIER) & 0xFFFFFFFF) >> (32 - bits)


def fnv1a(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def table_bits(n: int, max_load: float = MAX_LOAD) -> int:
    """Smallest power of two giving a load factor <= max_load."""
    bits = 4
    while (1 << bits) * max_load < n:
        bits += 1
    return bits


def build_table(keys: list[tuple[int, int]], bits: int) -> tuple[list[int], int]:
    """keys: (initial slot, entry index). Returns (slots, longest probe sequence)."""
    size = 1 << bits
    slots = [-1] * size
    longest = 0
    for start, index in keys:
        s, probes = start, 1
        while slots[s] != -1:
            s = (s + probes) & (size - 1)  # triangular probing
            probes += 1
        slots[s] = index
        longest = max(longest, probes)
    if max(keys, key=lambda k: k[1], default=(0, 0))[1] > 0x7FFF:
        sys.exit("error: too many entries for Int16 slots")
    return slots, longest


def probe(slots, start, matches) -> int | None:
    s, step = start, 0
    while True:
        i = slots[s]
        if i < 0:
            return None
        if matches(i):
            return i
        step += 1
        s = (s + step) & (len(slots) - 1)


def lookup_tag(slots, tags, bits, tag, accept) -> int | None:
    return probe(slots, tag_slot(tag, bits), lambda i: tags[i] == tag and accept(i))


def lookup_string(slots, strings, key) -> int | None:
    return probe(slots, fnv1a(key.encode()) & (len(slots) - 1), lambda i: strings[i] == key)


# ---------------------------------------------------------------------------------------------
# Swift emission
# ---------------------------------------------------------------------------------------------

def swift_escape(s: str) -> str:
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{{{ord(c):X}}}")
        else:
            out.append(c)
    text = "".join(out)
    # Protect leading/trailing blanks from editors and indentation stripping.
    stripped = text.rstrip(" \t")
    text = stripped + "".join(f"\\u{{{ord(c):X}}}" for c in text[len(stripped):])
    lead = len(text) - len(text.lstrip(" \t"))
    return "".join(f"\\u{{{ord(c):X}}}" for c in text[:lead]) + text[lead:]


def string_column(name: str, values: list[str], doc: str) -> tuple[list[str], list[int]]:
    """A StaticString holding all values back to back (one per source line) + byte offsets."""
    offsets = [0]
    for v in values:
        offsets.append(offsets[-1] + len(v.encode("utf-8")))
    if offsets[-1] > 0xFFFFFFFF:
        sys.exit("error: string column too large")
    lines = [f"    /// {doc}", f"    static let {name}: StaticString = \"\"\""]
    pieces = [swift_escape(v) for v in values if v]
    for i, p in enumerate(pieces):
        lines.append("        " + p + ("\\" if i + 1 < len(pieces) else ""))
    lines.append('        """')
    return lines, offsets


def int_array(name: str, type_: str, values: list[int], per_line: int, fmt, doc: str) -> list[str]:
    lines = [f"    /// {doc}", f"    static let {name}: [{type_}] = ["]
    for i in range(0, len(values), per_line):
        lines.append("        " + ", ".join(fmt(v) for v in values[i:i + per_line]) + ",")
    lines.append("    ]")
    return lines


def hex32(v: int) -> str:
    return f"0x{v >> 16:04X}_{v & 0xFFFF:04X}"


def hex64(v: int) -> str:
    return "0x" + "_".join(f"{(v >> s) & 0xFFFF:04X}" for s in (48, 32, 16, 0))


def dec(v: int) -> str:
    return str(v)


def header(filename: str, source: str, counts: str) -> list[str]:
    return [
        f"// {filename}",
        "//",
        f"// GENERATED by {SCRIPT} -- DO NOT EDIT.",
        f"// Source: {source}",
        f"// Entries: {counts}",
        f"// Regenerate with `python3 {SCRIPT}` from the repository root.",
        "//",
        "// Literal tables only; the lookup code lives in Sources/DICOMCore/DataDictionary.swift.",
        "",
    ]


def generate_dictionary(exact: list[DictEntry], reps: list[DictEntry], vrs: dict[str, int]):
    entries = exact + reps
    n = len(entries)
    tags = [e.tag for e in entries]

    vm_strings = sorted({e.vm for e in entries}, key=lambda v: (v != "1", v))
    if len(vm_strings) > 255:
        sys.exit("error: too many distinct VMs")
    packed = []
    for e in entries:
        w = vm_strings.index(e.vm) << VM_SHIFT
        for k, code in enumerate(e.vrs):
            w |= vrs[code] << (16 * k)
        if e.retired:
            w |= 1 << RETIRED_BIT
        packed.append(w)

    # Exact tag table.
    tag_bits = table_bits(len(exact), HOT_MAX_LOAD)
    tag_slots, tag_longest = build_table([(tag_slot(e.tag, tag_bits), i) for i, e in enumerate(exact)], tag_bits)
    # Repeating-group table, keyed by the canonical (masked) tag.
    rep_bits = table_bits(len(reps), HOT_MAX_LOAD)
    rep_slots, rep_longest = build_table(
        [(tag_slot(e.tag, rep_bits), len(exact) + i) for i, e in enumerate(reps)], rep_bits)
    masks = [e.mask for e in reps]
    distinct_masks = sorted(set(masks), key=lambda m: (-bin(m).count("1"), m))
    # Keyword table over every entry with a keyword.
    kw_list = [(e.keyword, i) for i, e in enumerate(entries) if e.keyword]
    kw_bits = table_bits(len(kw_list))
    kw_slots, kw_longest = build_table([(fnv1a(k.encode()) & ((1 << kw_bits) - 1), i) for k, i in kw_list], kw_bits)

    # Self-check of the tables before writing anything.
    for i, e in enumerate(exact):
        assert lookup_tag(tag_slots, tags, tag_bits, e.tag, lambda j: j < len(exact)) == i
    for i, e in enumerate(reps):
        assert lookup_tag(rep_slots, tags, rep_bits, e.tag, lambda j, m=e.mask: masks[j - len(exact)] == m) == len(exact) + i
    kw_all = [e.keyword for e in entries]
    for k, i in kw_list:
        assert lookup_string(kw_slots, kw_all, k) == i

    source = source_description("_dicom_dict.py")
    counts = f"{len(exact)} data elements (DicomDictionary) + {len(reps)} repeating-group entries (RepeatersDictionary) = {n}"
    out = header(OUT_DICT.name, source, counts)
    out += [
        "/// Literal tables behind ``DataDictionary``. Entries `0..<exactCount` are the exact",
        "/// entries sorted by tag; `exactCount..<count` are the repeating-group entries.",
        "enum DataDictionaryTables {",
        f"    static let source = \"{swift_escape(source)}\"",
        f"    static let exactCount = {len(exact)}",
        f"    static let repeatingCount = {len(reps)}",
        f"    static let count = {n}",
        "",
        f"    /// `slot = (tag &* 0x{TAG_HASH_MULTIPLIER:08X}) >> tagHashShift`; {len(tag_slots)} slots, longest probe {tag_longest}.",
        f"    static let tagHashShift: UInt32 = {32 - tag_bits}",
        f"    /// Same hash on `tag & mask`; {len(rep_slots)} slots, longest probe {rep_longest}.",
        f"    static let repeatingHashShift: UInt32 = {32 - rep_bits}",
        f"    // Keywords: FNV-1a 32 of the UTF-8 bytes `& (keywordSlots.count - 1)`; {len(kw_slots)} slots, longest probe {kw_longest}.",
        "",
    ]
    out += int_array("tags", "UInt32", tags, 8, hex32,
                     "(gggg,eeee) per entry; for repeating-group entries the tag with the x digits as 0.")
    out += int_array("packed", "UInt64", packed, 4, hex64,
                     "Bits 0-15, 16-31, 32-47: VR raw values (0 = none); 48-55: index into `vmStrings`; 63: retired.")
    out += int_array("repeatingMasks", "UInt32", masks, 8, hex32,
                     "Mask of repeating-group entry `exactCount + i`: `tag & mask == tags[exactCount + i]`.")
    out += int_array("distinctRepeatingMasks", "UInt32", distinct_masks, 8, hex32,
                     "The distinct values of `repeatingMasks`; no tag matches two repeating entries.")
    out += ["    /// Value multiplicities, indexed by bits 48-55 of `packed`.",
            "    static let vmStrings: [StaticString] = [" + ", ".join(f'"{swift_escape(v)}"' for v in vm_strings) + "]"]
    kw_lines, kw_offsets = string_column("keywords", [e.keyword for e in entries],
                                         "All keywords back to back; entry i is bytes `offsets[i]..<offsets[i+1]` (bits 0-31).")
    name_lines, name_offsets = string_column("names", [e.name for e in entries],
                                             "All names back to back; entry i is bytes `offsets[i]..<offsets[i+1]` (bits 32-63).")
    out += int_array("offsets", "UInt64", [k | n << 32 for k, n in zip(kw_offsets, name_offsets)], 4, hex64,
                     "UTF-8 offsets, count + 1 values: bits 0-31 into `keywords`, bits 32-63 into `names`.")
    out += kw_lines
    out += name_lines
    out += int_array("tagSlots", "Int16", tag_slots, 16, dec, "Open-addressing table of exact entry indices, -1 = empty.")
    out += int_array("repeatingSlots", "Int16", rep_slots, 16, dec, "Open-addressing table of repeating entry indices, -1 = empty.")
    out += int_array("keywordSlots", "Int16", kw_slots, 16, dec, "Open-addressing table of entry indices by keyword, -1 = empty.")
    out += ["}", ""]
    stats = dict(exact=len(exact), repeaters=len(reps), tag_slots=len(tag_slots), tag_longest=tag_longest,
                 rep_longest=rep_longest, kw_longest=kw_longest)
    return "\n".join(out), stats


def generate_uids(rows: list[UIDRow]):
    n = len(rows)
    types = sorted({r.type for r in rows})
    if len(types) > 127:
        sys.exit("error: too many UID types")
    flags = [types.index(r.type) | (0x80 if r.retired else 0) for r in rows]

    uid_bits = table_bits(n)
    uid_slots, uid_longest = build_table([(fnv1a(r.uid.encode()) & ((1 << uid_bits) - 1), i) for i, r in enumerate(rows)], uid_bits)
    kw_list = [(r.keyword, i) for i, r in enumerate(rows) if r.keyword]
    kw_bits = table_bits(len(kw_list))
    kw_slots, kw_longest = build_table([(fnv1a(k.encode()) & ((1 << kw_bits) - 1), i) for k, i in kw_list], kw_bits)
    for i, r in enumerate(rows):
        assert lookup_string(uid_slots, [x.uid for x in rows], r.uid) == i
    for k, i in kw_list:
        assert lookup_string(kw_slots, [x.keyword for x in rows], k) == i

    source = source_description("_uid_dict.py")
    out = header(OUT_UID.name, source, f"{n} UIDs (UID_dictionary)")
    out += [
        "/// Literal tables behind ``UIDRegistry``, in pydicom's order.",
        "enum UIDRegistryTables {",
        f"    static let source = \"{swift_escape(source)}\"",
        f"    static let count = {n}",
        f"    // FNV-1a 32 of the UTF-8 bytes `& (slots.count - 1)`; longest probes: UID {uid_longest}, keyword {kw_longest}.",
        "",
        "    /// UID types (PS3.6 Annex A \"UID Type\"), indexed by `flags & 0x7F`.",
        "    static let typeStrings: [StaticString] = [",
    ]
    out += [f'        "{swift_escape(t)}",' for t in types]
    out += ["    ]"]
    out += int_array("flags", "UInt8", flags, 24, dec, "Bits 0-6: index into `typeStrings`; bit 7: retired.")
    for col, values, doc in (("uids", [r.uid for r in rows], "UIDs"),
                             ("names", [r.name for r in rows], "UID names"),
                             ("keywords", [r.keyword for r in rows], "UID keywords")):
        lines, offsets = string_column(col, values, f"{doc} back to back, sliced by `{col[:-1]}Offsets`.")
        out += int_array(f"{col[:-1]}Offsets", "UInt32", offsets, 12, dec, f"UTF-8 offsets into `{col}`, count + 1 values.")
        out += lines
    out += int_array("uidSlots", "Int16", uid_slots, 16, dec, "Open-addressing table of indices by UID (FNV-1a), -1 = empty.")
    out += int_array("keywordSlots", "Int16", kw_slots, 16, dec, "Open-addressing table of indices by keyword (FNV-1a), -1 = empty.")
    out += ["}", ""]
    return "\n".join(out), dict(uids=n, uid_longest=uid_longest, kw_longest=kw_longest)


# ---------------------------------------------------------------------------------------------
# Verification list for an out-of-tree Swift check program
# ---------------------------------------------------------------------------------------------

def reference_lookup(tag: int):
    """The lookup semantics DataDictionary.entry(for:) implements, on pydicom's tables.

    exact entry -> (gggg,0000) group length -> nil for private -> repeating group -> nil.
    (pydicom itself has no group-length rule, so it answers e.g. (1010,0000) with Zonal Map.)
    """
    if tag in DicomDictionary:
        vr, vm, name, retired, keyword = DicomDictionary[tag]
        return tag, vr, vm, name, retired, keyword, 0
    if tag & 0xFFFF == 0:
        return tag, "UL", "1", GROUP_LENGTH_NAME, "Retired", GROUP_LENGTH_KEYWORD, 0
    if is_private_group(tag >> 16):
        return None
    for key, (vr, vm, name, retired, keyword) in RepeatersDictionary.items():
        value, mask = parse_mask(key)
        if tag & mask == value:
            return value, vr, vm, name, retired, keyword, mask
    return None


def write_check_list(path: Path, vrs: dict[str, int]) -> int:
    """TSV lines:

    T  tag  canonicalTag  vrs(|-joined,'-' none)  vm  retired(0/1)  keyword  mask  name
    N  tag                                              (entry(for:) must be nil)
    K  keyword  canonicalTag  mask                        (entry(keyword:) lookup)
    U  uid  type  retired  keyword  name
    """
    import random
    rng = random.Random(20240301)
    lines = []

    def emit_tag(tag):
        r = reference_lookup(tag)
        if r is None:
            lines.append(f"N\t{tag:08X}")
            return
        canon, vr, vm, name, retired, keyword, mask = r
        codes = "|".join(map_vr_string(vr, vrs, f"{tag:08X}")) or "-"
        lines.append(f"T\t{tag:08X}\t{canon:08X}\t{codes}\t{vm}\t{int(retired == 'Retired')}\t{keyword}\t{mask:08X}\t{name}")

    for tag in sorted(DicomDictionary):
        emit_tag(tag)
    for key in RepeatersDictionary:
        value, mask = parse_mask(key)
        free = [i for i in range(32) if not (mask >> i) & 1]
        for _ in range(12):
            t = value
            for bit in free:
                if rng.random() < 0.5:
                    t |= 1 << bit
            emit_tag(t)
        emit_tag(value | (~mask & 0xFFFFFFFF))
    for tag in (0x00040000, 0x00290000, 0x60000000, 0x10100000, 0x10000000, 0x7FE00000, 0xFFFE0000,
                0x00290010, 0x00291000, 0x60013000, 0x50010010, 0x7FE10010, 0x00080001, 0xFFFFFFFF,
                0x00000000, 0x00020000):
        emit_tag(tag)
    for _ in range(20000):
        emit_tag(rng.getrandbits(32))
    for _ in range(20000):  # tags near real ones
        base = rng.choice(list(DicomDictionary))
        emit_tag((base ^ (1 << rng.randrange(32))) & 0xFFFFFFFF)

    for key, (vr, vm, name, retired, keyword) in RepeatersDictionary.items():
        value, mask = parse_mask(key)
        lines.append(f"K\t{keyword}\t{value:08X}\t{mask:08X}")
    for tag, (vr, vm, name, retired, keyword) in sorted(DicomDictionary.items()):
        if keyword:
            lines.append(f"K\t{keyword}\t{tag:08X}\t00000000")
    for uid, (name, type_, _info, retired, keyword) in UID_dictionary.items():
        lines.append(f"U\t{uid}\t{type_}\t{int(retired == 'Retired')}\t{keyword}\t{name}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


# ---------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if the generated files are stale")
    ap.add_argument("--check-list", type=Path, help="also write a TSV of expected lookups to this path")
    args = ap.parse_args()

    if not pydicom.__version__.startswith("3."):
        print(f"warning: written for pydicom 3.x, running {pydicom.__version__}", file=sys.stderr)
    vrs = known_vrs()
    exact, reps = load_dictionary(vrs)
    rows = load_uids()
    dict_text, dstats = generate_dictionary(exact, reps, vrs)
    uid_text, ustats = generate_uids(rows)

    stale = []
    for path, text in ((OUT_DICT, dict_text), (OUT_UID, uid_text)):
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, path)
    rel = lambda p: p.relative_to(ROOT)
    if args.check:
        for p in stale:
            print(f"stale: {rel(p)}", file=sys.stderr)
        if stale:
            return 1
    else:
        for path in (OUT_DICT, OUT_UID):
            print(f"{'wrote' if path in stale else 'unchanged'}: {rel(path)}")
    print(f"data elements: {dstats['exact']}, repeating-group entries: {dstats['repeaters']}, "
          f"UIDs: {ustats['uids']} (longest probes: tag {dstats['tag_longest']}, repeater {dstats['rep_longest']}, "
          f"keyword {dstats['kw_longest']}, uid {ustats['uid_longest']}, uid keyword {ustats['kw_longest']})")
    if args.check_list:
        count = write_check_list(args.check_list, vrs)
        print(f"check list: {count} lines -> {args.check_list}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
