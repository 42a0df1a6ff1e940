#!/usr/bin/env python3
"""Generate Sources/DICOMCore/CharacterSets/CharacterSetTables+Generated.swift.

The tables behind `SpecificCharacterSet` (PS3.5 §6.1, PS3.3 C.12.1.1.2) come from
Python's own codecs, so no table is typed in by hand:

* 96-character G1 sets (upper halves, 0xA0-0xFF): iso8859_1/2/3/4/5/6/7/8/9/15/11
  (ISO 8859-11 is TIS 620 plus NO-BREAK SPACE at 0xA0; ISO-IR 166 is a 96-set).
* JIS X 0208 (ISO-IR 87): euc_jp two-byte range (checked against iso2022_jp, ESC $ B).
* JIS X 0212 (ISO-IR 159): euc_jp 0x8F three-byte range (checked against iso2022_jp_2, ESC $ ( D).
* KS X 1001 (ISO-IR 149): euc_kr (plus 0x2454 HANGUL FILLER, which its decoder only takes in a sequence).
* GB 2312 (ISO-IR 58): gb2312.
* GB18030 two-byte area: gb18030; the four-byte BMP area as (linear index, code point) ranges;
  GBK = the GB18030 two-byte area minus the codes Python's gbk codec rejects (stored as runs).

JIS X 0201 katakana (ISO-IR 13) and romaji (ISO-IR 14) are algorithmic and not tabulated.

94x94 and GB two-byte tables are emitted as base64 of little-endian UInt16 (0 = unmapped) in
multi-line string literals, decoded once on first use; that keeps swiftc fast.

Usage: python3 tools/gen_charsets.py   (run from the package root; rewrites the Swift file)
"""

import base64
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                   "Sources", "DICOMCore", "CharacterSets", "CharacterSetTables+Generated.swift")

SINGLE_BYTE = [
    # (Swift name, ISO-IR number, Python codec)
    ("isoIR100", 100, "iso8859_1"),
    ("isoIR101", 101, "iso8859_2"),
    ("isoIR109", 109, "iso8859_3"),
    ("isoIR110", 110, "iso8859_4"),
    ("isoIR144", 144, "iso8859_5"),
    ("isoIR127", 127, "iso8859_6"),
    ("isoIR126", 126, "iso8859_7"),
    ("isoIR138", 138, "iso8859_8"),
    ("isoIR148", 148, "iso8859_9"),
    ("isoIR203", 203, "iso8859_15"),
    ("isoIR166", 166, "iso8859_11"),
]


def decode1(data, codec):
    try:
        s = data.decode(codec)
    except UnicodeDecodeError:
        return 0
    if len(s) != 1:
        return 0
    cp = ord(s)
    assert 0 < cp <= 0xFFFF and not (0xD800 <= cp <= 0xDFFF), (codec, data, hex(cp))
    return cp


def upper_half(codec):
    return [decode1(bytes([b]), codec) for b in range(0xA0, 0x100)]


def table94(encode_pair, codec, check=None):
    out = []
    for r in range(0x21, 0x7F):
        for c in range(0x21, 0x7F):
            cp = decode1(encode_pair(r, c), codec)
            if check is not None:
                codec2, pair2 = check
                cp2 = decode1(pair2(r, c), codec2)
                assert cp == cp2, (codec, codec2, hex(r), hex(c), hex(cp), hex(cp2))
            out.append(cp)
    return out


GB_TRAILS = list(range(0x40, 0x7F)) + list(range(0x80, 0xFF))  # 190 trail bytes


def gb_two_byte():
    table, gbk_ok = [], []
    for lead in range(0x81, 0xFF):
        for trail in GB_TRAILS:
            cp = decode1(bytes([lead, trail]), "gb18030")
            assert cp != 0
            table.append(cp)
            gbk_ok.append(decode1(bytes([lead, trail]), "gbk") == cp)
            # GBK never maps a code differently from GB18030, it only lacks some.
            g = decode1(bytes([lead, trail]), "gbk")
            assert g == 0 or g == cp
    runs, i = [], 0
    while i < len(gbk_ok):
        if gbk_ok[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(gbk_ok) and not gbk_ok[j + 1]:
            j += 1
        runs.append((i, j))
        i = j + 1
    return table, runs


def gb_four_byte_index(b):
    return (((b[0] - 0x81) * 10 + (b[1] - 0x30)) * 126 + (b[2] - 0x81)) * 10 + (b[3] - 0x30)


def gb_four_byte_bytes(lin):
    b3 = lin % 10; lin //= 10
    b2 = lin % 126; lin //= 126
    b1 = lin % 10; b0 = lin // 10
    return bytes([b0 + 0x81, b1 + 0x30, b2 + 0x81, b3 + 0x30])


def gb_four_byte_ranges():
    """(first linear index, first code point) of each run in the BMP four-byte area."""
    ranges, prev, count = [], None, 0
    last = gb_four_byte_index(b"\x84\x39\xFE\x39")
    for lin in range(0, last + 1):
        cp = decode1(gb_four_byte_bytes(lin), "gb18030")
        if cp == 0:
            prev = None
            continue
        # The mapped area is contiguous from index 0: the Swift decoder relies on it.
        assert lin == count, hex(lin)
        count += 1
        if prev is not None and cp == prev[1] + (lin - prev[0]):
            continue
        ranges.append((lin, cp))
        prev = (lin, cp)
    return ranges, count


def b64_literal(values):
    raw = struct.pack("<%dH" % len(values), *values)
    text = base64.b64encode(raw).decode("ascii")
    lines = [text[i:i + 120] for i in range(0, len(text), 120)]
    return '"""\n' + "\n".join(lines) + '\n"""'


def array_literal(values, per_line=12, fmt="0x%04X", indent="        "):
    rows = []
    for i in range(0, len(values), per_line):
        rows.append(indent + ", ".join(fmt % v for v in values[i:i + per_line]) + ",")
    return "[\n" + "\n".join(rows) + "\n    ]"


def main():
    parts = []
    parts.append("// DO NOT EDIT. Generated by tools/gen_charsets.py with Python %s (%s codecs).\n"
                 % (sys.version.split()[0], sys.implementation.name))
    parts.append("// Regenerate with: python3 tools/gen_charsets.py\n")
    parts.append("//\n// Upper halves (0xA0-0xFF) of the 96-character sets, the 94x94 sets of PS3.3 Table C.12-4\n"
                 "// and the GB18030/GBK tables. A 0 entry means the code is not mapped.\n\n")
    parts.append("enum CharacterSetTables {\n")

    for name, ir, codec in SINGLE_BYTE:
        values = upper_half(codec)
        mapped = sum(1 for v in values if v)
        parts.append("    /// ISO-IR %d (Python `%s`), bytes 0xA0...0xFF; %d of 96 mapped.\n" % (ir, codec, mapped))
        parts.append("    static let %s: [UInt16] = %s\n\n" % (name, array_literal(values)))

    jis0208 = table94(lambda r, c: bytes([r | 0x80, c | 0x80]), "euc_jp",
                      check=("iso2022_jp", lambda r, c: b"\x1b$B" + bytes([r, c]) + b"\x1b(B"))
    jis0212 = table94(lambda r, c: bytes([0x8F, r | 0x80, c | 0x80]), "euc_jp",
                      check=("iso2022_jp_2", lambda r, c: b"\x1b$(D" + bytes([r, c]) + b"\x1b(B"))
    ksx1001 = table94(lambda r, c: bytes([r | 0x80, c | 0x80]), "euc_kr")
    # Python's euc_kr decoder reads 0xA4D4 (HANGUL FILLER) as the start of a KS X 1001:1998 eight-byte
    # composition sequence and rejects it alone; its encoder maps U+3164 there, as KS X 1001 does.
    filler = (0x24 - 0x21) * 94 + (0x54 - 0x21)
    assert ksx1001[filler] == 0 and "\u3164".encode("euc_kr") == b"\xa4\xd4"
    ksx1001[filler] = 0x3164
    gb2312 = table94(lambda r, c: bytes([r | 0x80, c | 0x80]), "gb2312")
    for name, desc, values in [
        ("jisX0208", "JIS X 0208 (ISO-IR 87, ESC $ B), Python `euc_jp` = `iso2022_jp`", jis0208),
        ("jisX0212", "JIS X 0212 (ISO-IR 159, ESC $ ( D), Python `euc_jp` 0x8F = `iso2022_jp_2`", jis0212),
        ("ksX1001", "KS X 1001 (ISO-IR 149, ESC $ ) C), Python `euc_kr`", ksx1001),
        ("gb2312", "GB 2312 (ISO-IR 58, ESC $ ) A), Python `gb2312`", gb2312),
    ]:
        mapped = sum(1 for v in values if v)
        parts.append("    /// %s: 94x94 row-major from 0x2121, %d of 8836 mapped.\n" % (desc, mapped))
        parts.append("    static let %sBase64 = %s\n\n" % (name, b64_literal(values)))

    two, gbk_runs = gb_two_byte()
    parts.append("    /// GB18030 two-byte area (Python `gb18030`): lead 0x81-0xFE x trail 0x40-0x7E,0x80-0xFE, "
                 "row-major, 23940 codes.\n")
    parts.append("    static let gb18030TwoByteBase64 = %s\n\n" % b64_literal(two))
    flat = [x for run in gbk_runs for x in run]
    excluded = sum(j - i + 1 for i, j in gbk_runs)
    parts.append("    /// Index runs (first, last; inclusive) of the two-byte area that Python `gbk` does not decode "
                 "(%d codes in %d runs).\n" % (excluded, len(gbk_runs)))
    parts.append("    static let gbkExcludedRuns: [UInt16] = %s\n\n" % array_literal(flat, per_line=10, fmt="%d"))

    ranges, count = gb_four_byte_ranges()
    flat = [x for run in ranges for x in run]
    parts.append("    /// GB18030 four-byte BMP area: (first linear index, first code point) of each of %d runs; "
                 "indices 0..<%d are mapped.\n" % (len(ranges), count))
    parts.append("    static let gb18030FourByteBMPCount = %d\n" % count)
    parts.append("    static let gb18030FourByteRanges: [UInt32] = %s\n" % array_literal(flat, per_line=10, fmt="%d"))
    parts.append("}\n")

    with open(OUT, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
