#!/usr/bin/env python3
"""Generate reference DICOM dataset fixtures with pydicom (an independent
implementation) for the DICOMTap dataset codec tests.

Run from the repository root:

    python3 tools/make_fixtures.py

Writes into Tests/DICOMCoreTests/Fixtures/datasets/:

  NAME.dcm        DICOM Part 10 file (preamble, "DICM", file meta, body)
  NAME.json       DICOM JSON (pydicom ``to_json_dict``) of the BODY as pydicom
                  decodes it when reading NAME.dcm back (all binary values
                  InlineBinary, never BulkDataURI)
  NAME.meta.json  the same for the file meta information (group 0002)
  manifest.json   [{"name", "transferSyntax", "features", "notes"}, ...]

The output is deterministic: all UIDs, dates and binary payloads are fixed
or derived from fixed seeds, and zlib's raw deflate is deterministic for a
given zlib build.  Requires pydicom 3.0.x (written against 3.0.2).

Most files are written with ``Dataset.save_as(path, enforce_file_format=True)``.
Two kinds of content cannot be produced by pydicom's high-level writer, and
are assembled from pydicom's own low-level encoders instead (see
``write_part10_custom``):

* group length elements (gggg,0000) in the body: pydicom's ``write_dataset``
  silently drops every (gggg,0000) with gggg > 0x0006 (PS3.5 7.2 "retired").
  The custom writer computes and emits them (top level and inside an item).
* a UN element with undefined length holding an Implicit VR Little Endian
  sequence (PS3.5 6.2.2): built as a ``RawDataElement`` whose value is the
  items encoded by pydicom's ``write_sequence_item`` in Implicit VR LE.
  pydicom's ``write_data_element`` writes a raw element verbatim (and appends
  the Sequence Delimitation Item for length 0xFFFFFFFF), but ``save_as`` of
  a freshly built dataset would first convert raw elements (it forces
  ``__getitem__`` when the encoding differs from the "original" encoding).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import sys
import zlib
from pathlib import Path

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import (
    write_data_element,
    write_file_meta_info,
    write_sequence_item,
)
from pydicom.sequence import Sequence
from pydicom.tag import Tag

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "Tests" / "DICOMCoreTests" / "Fixtures" / "datasets"

IVRLE = "1.2.840.10008.1.2"
EVRLE = "1.2.840.10008.1.2.1"
EVRBE = "1.2.840.10008.1.2.2"
DEFL = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"

BASE_TS = [(IVRLE, "ivrle"), (EVRLE, "evrle"), (EVRBE, "evrbe"), (DEFL, "deflate")]
TS_INFO = {  # uid -> (implicit, little)
    IVRLE: (True, True),
    EVRLE: (False, True),
    EVRBE: (False, False),
    DEFL: (False, True),
    JPEG_BASELINE: (False, True),
    RLE_LOSSLESS: (False, True),
    JPEG2000_LOSSLESS: (False, True),
}

SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
RPI_QUERY = "1.2.840.10008.5.1.4.37.1"  # General Relevant Patient Information Query

JSON_THRESHOLD = 1 << 30  # all binary values inline

# fail instead of silently writing '?' replacement characters
config.settings.writing_validation_mode = config.RAISE

if not pydicom.__version__.startswith("3."):
    sys.exit(f"pydicom 3.x required, found {pydicom.__version__}")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def uid(label: str) -> str:
    """Deterministic 2.25 UID derived from a label."""
    n = int(hashlib.sha256(label.encode()).hexdigest()[:30], 16)
    return f"2.25.{n}"


def pack(fmt: str, values, little: bool) -> bytes:
    return struct.pack(("<" if little else ">") + fmt * len(values), *values)


def seq(items, items_undefined: bool | list = False) -> Sequence:
    """Build a Sequence, setting each item's length form."""
    s = Sequence(items)
    if isinstance(items_undefined, bool):
        items_undefined = [items_undefined] * len(s)
    for it, u in zip(s, items_undefined):
        it.is_undefined_length_sequence_item = u
    return s


def set_seq(ds: Dataset, keyword_or_tag, items, undefined=False, items_undefined=False):
    """Add an SQ element with explicit control over SQ and item lengths.

    In pydicom 3.0.2 the SQ length form is DataElement.is_undefined_length
    (the writer reads that; setting Sequence.is_undefined_length has no effect
    on writing); the item form is Dataset.is_undefined_length_sequence_item.
    """
    s = seq(items, items_undefined)
    tag = Tag(keyword_or_tag)
    ds[tag] = DataElement(tag, "SQ", s)
    ds[tag].is_undefined_length = undefined
    return ds[tag]


def item(**kw) -> Dataset:
    d = Dataset()
    for k, v in kw.items():
        setattr(d, k, v)
    return d


def code(value: str, scheme: str, meaning: str) -> Dataset:
    return item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def make_meta(ts: str, sop_class: str, sop_instance: str) -> FileMetaDataset:
    m = FileMetaDataset()
    m.FileMetaInformationVersion = b"\x00\x01"
    m.MediaStorageSOPClassUID = sop_class
    m.MediaStorageSOPInstanceUID = sop_instance
    m.TransferSyntaxUID = ts
    m.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    m.ImplementationVersionName = "PYDICOM " + pydicom.__version__
    m.SourceApplicationEntityTitle = "DICOMTAP_FIXT"
    return m


MANIFEST: list[dict] = []


def dump_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")


def finish(name: str, ts: str, features: list[str], notes: str) -> None:
    """Read NAME.dcm back with pydicom and write NAME.json / NAME.meta.json."""
    path = OUT / f"{name}.dcm"
    rd = pydicom.dcmread(path)
    assert rd.file_meta.TransferSyntaxUID == ts, (name, rd.file_meta.TransferSyntaxUID)
    body = rd.to_json_dict(bulk_data_threshold=JSON_THRESHOLD)
    meta = rd.file_meta.to_json_dict(bulk_data_threshold=JSON_THRESHOLD)
    dump_json(body, OUT / f"{name}.json")
    dump_json(meta, OUT / f"{name}.meta.json")
    MANIFEST.append(
        {"name": name, "transferSyntax": ts, "features": features, "notes": notes}
    )


def save(ds: Dataset, name: str, ts: str, sop_class: str, sop_instance: str,
         features: list[str], notes: str) -> None:
    ds.file_meta = make_meta(ts, sop_class, sop_instance)
    ds.save_as(OUT / f"{name}.dcm", enforce_file_format=True)
    finish(name, ts, features, notes)


# ---- custom body encoder (group lengths, raw elements) ---------------------

def _new_fp(implicit: bool, little: bool) -> DicomBytesIO:
    fp = DicomBytesIO()
    fp.is_implicit_VR = implicit
    fp.is_little_endian = little
    return fp


def encode_body(ds: Dataset, implicit: bool, little: bool, encodings) -> bytes:
    """Encode `ds` like pydicom's write_dataset, but

    * (gggg,0000) group length elements present in `ds` (value ignored) are
      emitted with the computed byte length of the rest of that group;
    * RawDataElements are written verbatim (pydicom's write_data_element);
    * SQ elements are framed here (so nested items can carry group lengths),
      honouring DataElement.is_undefined_length and
      Dataset.is_undefined_length_sequence_item exactly like pydicom.
    Non-SQ element values are always encoded by pydicom's write_data_element.
    """
    encodings = ds.get("SpecificCharacterSet", encodings)
    tags = sorted(ds.keys())
    out = _new_fp(implicit, little)
    groups: dict[int, list] = {}
    for t in tags:
        groups.setdefault(t.group, []).append(t)
    for g in sorted(groups):
        gtags = groups[g]
        buf = _new_fp(implicit, little)
        for t in gtags:
            if t.element == 0:
                continue
            _encode_element(buf, ds.get_item(t), implicit, little, encodings)
        if gtags[0].element == 0:
            gl = DataElement(Tag(g, 0), "UL", len(buf.getvalue()))
            write_data_element(out, gl, encodings)
        out.write(buf.getvalue())
    return out.getvalue()


def _encode_element(fp, elem, implicit, little, encodings) -> None:
    if isinstance(elem, RawDataElement) or elem.VR != "SQ":
        write_data_element(fp, elem, encodings)
        return
    inner = _new_fp(implicit, little)
    for it in elem.value:
        body = encode_body(it, implicit, little, encodings)
        inner.write_tag(Tag(0xFFFE, 0xE000))
        undefined_item = getattr(it, "is_undefined_length_sequence_item", False)
        inner.write_UL(0xFFFFFFFF if undefined_item else len(body))
        inner.write(body)
        if undefined_item:
            inner.write_tag(Tag(0xFFFE, 0xE00D))
            inner.write_UL(0)
    payload = inner.getvalue()
    fp.write_tag(elem.tag)
    if not implicit:
        fp.write(b"SQ")
        fp.write_US(0)
    fp.write_UL(0xFFFFFFFF if elem.is_undefined_length else len(payload))
    fp.write(payload)
    if elem.is_undefined_length:
        fp.write_tag(Tag(0xFFFE, 0xE0DD))
        fp.write_UL(0)


def write_part10_custom(ds: Dataset, name: str, ts: str, sop_class: str,
                        sop_instance: str, features: list[str], notes: str) -> None:
    """Part 10 file from pydicom's write_file_meta_info + encode_body().

    Mirrors pydicom's dcmwrite: 128 zero bytes, b"DICM", meta, body; for the
    deflated TS the body is raw-deflated (wbits=-15) and padded to even length.
    """
    implicit, little = TS_INFO[ts]
    meta = make_meta(ts, sop_class, sop_instance)
    fp = DicomBytesIO()
    fp.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    body = encode_body(ds, implicit, little, None)
    if ts == DEFL:
        c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = c.compress(body) + c.flush()
        if len(body) % 2:
            body += b"\x00"
    fp.write(body)
    (OUT / f"{name}.dcm").write_bytes(fp.getvalue())
    finish(name, ts, features, notes)


# --------------------------------------------------------------------------
# a. all 34 VRs
# --------------------------------------------------------------------------

def vrs_dataset(little: bool) -> Dataset:
    ds = Dataset()
    # --- strings
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]                      # CS VM3
    ds.SOPClassUID = SC_IMAGE                                           # UI (25, odd -> \0 pad)
    ds.SOPInstanceUID = uid("vrs.sop")
    ds.StudyDate = "20240315"                                           # DA
    ds.SeriesDate = ""                                                  # DA empty
    ds.StudyTime = "101530.123456"                                      # TM (13, odd)
    ds.SeriesTime = "1015"                                              # TM partial
    ds.AcquisitionTime = ""                                             # TM empty
    ds.AcquisitionDateTime = "20240315101530.123456+0100"               # DT
    ds.AccessionNumber = ""                                             # SH empty
    ds.Modality = "OT"                                                  # CS
    ds.ConversionType = "WSD"                                           # CS odd -> space pad
    ds.RetrieveAETitle = ["DICOMTAP_SCP", "ARCHIVE"]                    # AE VM2
    ds.StationAETitle = "ANY_SCP"                                       # AE odd
    ds.Manufacturer = "ACME Medical Systems"                            # LO
    ds.InstitutionName = "Hôpital Général"                              # LO latin-1
    ds.InstitutionAddress = "1 Main Street\\Springfield"                # ST keeps backslash
    ds.ReferringPhysicianName = ""                                      # PN empty
    ds.ReferringPhysicianTelephoneNumbers = ["555-0100", "555-0199"]    # SH VM2
    ds.LongCodeValue = "A-VERY-LONG-CODE-VALUE-THAT-EXCEEDS-SIXTEEN-CHARACTERS-0123456789"  # UC
    ds.RetrieveURL = "https://pacs.example.org/dicomweb/studies/1.2.3"  # UR (odd -> space pad)
    ds.StationName = "CT01"                                             # SH
    ds.PerformingPhysicianName = ["Roe^Richard^A", "Doe^Jane"]          # PN VM2
    ds.ManufacturerModelName = "Model X"                                # LO odd
    ds.SimpleFrameList = [1, 2, 4294967295]                             # UL VM3
    # UV
    ds.FileOffsetInContainer = (1 << 40) + 3
    ds.FileLengthInContainer = 18446744073709551615                     # UV max
    ds.TimeRange = [0.0, 12.5]                                          # FD VM2
    ds.RecommendedDisplayFrameRateInFloat = 29.97                       # FL (not exact in float32)
    # --- patient
    ds.PatientName = "Doe^John^Quincy^Dr.^Jr.=Doe^John=doe^john"        # PN 5 comps, 3 groups
    ds.PatientID = "PID-001"                                            # LO odd
    ds.PatientBirthDate = "19800229"
    ds.PatientSex = "O"                                                 # CS len 1
    ds.PatientAge = "045Y"                                              # AS
    ds.PatientSize = "1.75"                                             # DS
    ds.PatientWeight = "72.5"                                           # DS
    ds.StrainDescription = "C57BL/6JOlaHsd"                             # UC
    # --- acquisition
    ds.SliceThickness = "2.5"
    ds.SoftwareVersions = ["1.0", "", "2.3.4"]                          # LO VM3 with empty value
    ds.Exposure = "-7"                                                  # IS negative
    ds.ReferencePixelX0 = -42                                           # SL
    ds.TagAngleSecondAxis = -15                                         # SS
    ds.AcquisitionMatrix = [0, 256, 256, 0]                             # US VM4
    ds.B1rms = 1.5                                                      # FL
    ds.TableOfXBreakPoints = [0, 100, 70000]                            # UL VM3
    ds.TableOfParameterValues = [0.25, -1.5, 3.0e10]                    # FL VM3
    # empty binary/numeric values
    ds.add_new(0x00189087, "FD", None)                                  # DiffusionBValue FD empty
    # --- relationship
    ds.StudyInstanceUID = "1.2.840.113619.2.55.3.12345"                 # UI odd (27)
    ds.SeriesInstanceUID = uid("vrs.series")
    ds.SeriesNumber = "5"                                               # IS
    ds.InstanceNumber = "12345"                                         # IS
    ds.ImagePositionPatient = ["-125.0", "-130.5", "1.5E+2"]            # DS VM3 exp
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]         # DS VM6
    ds.ImageComments = "Line one\r\nLine two with backslash \\ kept"    # LT
    ds.FrameOfReferenceUID = ""                                         # UI empty
    ds.ReferencedFrameNumber = ["1", "2", "3"]                          # IS VM3
    ds.DimensionIndexPointer = 0x00209111                               # AT VM1
    ds.FrameIncrementPointer = [0x00181063, 0x00181065]                 # AT VM2
    ds.PixelSpacing = ["0.5", "0.5"]                                    # DS VM2
    ds.add_new(0x00280010, "US", None)                                  # Rows: US empty
    # OW: palette LUT data (16-bit words, encoded in the file's byte order)
    ds.RedPaletteColorLookupTableData = pack("H", [0, 1, 256, 65535, 4660], little)
    # --- text value, UT
    ds.TextValue = " Leading space kept; trailing spaces trimmed; backslash \\ kept. Odd"  # UT
    # --- SQ (small; sequences have their own fixtures)
    ds.ReferencedStudySequence = [
        item(ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1",
             ReferencedSOPInstanceUID=uid("vrs.refstudy"))
    ]
    # --- OD / OF / OL (surface mesh point data)
    ds.DoublePointCoordinatesData = pack("d", [1.0, -2.5, 3.141592653589793], little)   # OD
    ds.PointCoordinatesData = pack("f", [0.5, -1.25, 100.0, 7.0], little)                 # OF
    ds.LongPrimitivePointIndexList = pack("L", [1, 2, 3, 0xDEADBEEF], little)             # OL
    # --- hanging protocol selector values: OV, SV, UV, UN, AT, OB
    ds.SelectorATValue = [0x00100010, 0x00100020]                                         # AT VM2
    ds.SelectorOBValue = b"\x01\x02\x03"                                                  # OB odd -> \0 pad
    ds.SelectorUNValue = b"\xca\xfe\xba\xbe"                                              # UN
    ds.SelectorOVValue = pack("Q", [1, 1 << 63], little)                                  # OV
    ds.SelectorSVValue = [-(1 << 62) + 1, 42, -1]                                         # SV VM3
    ds.SelectorUVValue = [0, 9007199254740993]                                            # UV VM2 (> 2**53)
    ds.SelectorUCValue = ["first", "second value"]                                        # UC VM2
    return ds


# --------------------------------------------------------------------------
# b. sequences
# --------------------------------------------------------------------------

def sequences_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = uid("seq.sop")
    ds.StudyDate = "20240315"
    ds.PatientName = "Seq^Test"
    ds.PatientID = "SEQ-0001"
    # defined-length SQ, 2 defined-length items
    set_seq(ds, "ReferencedStudySequence", [
        item(ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1", ReferencedSOPInstanceUID=uid("seq.a1")),
        item(ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1", ReferencedSOPInstanceUID=uid("seq.a2")),
    ])
    # undefined-length SQ, 2 undefined-length items
    set_seq(ds, "ReferencedSeriesSequence", [
        item(SeriesInstanceUID=uid("seq.b1"), Modality="CT"),
        item(SeriesInstanceUID=uid("seq.b2"), Modality="MR"),
    ], undefined=True, items_undefined=True)
    # empty SQ, defined length (length 0)
    set_seq(ds, "ProcedureCodeSequence", [])
    # empty SQ, undefined length (FFFFFFFF + delimiter)
    set_seq(ds, "AnatomicRegionSequence", [], undefined=True)
    # SQ with one empty item, defined lengths (item length 0)
    set_seq(ds, "ReferencedPatientSequence", [Dataset()])
    # SQ with one empty item, undefined lengths (item FFFFFFFF + item delimiter)
    set_seq(ds, "ReferencedPerformedProcedureStepSequence", [Dataset()],
            undefined=True, items_undefined=True)
    # undefined-length SQ with a defined-length item, and vice versa
    set_seq(ds, "ReferencedImageSequence", [
        item(ReferencedSOPClassUID=SC_IMAGE, ReferencedSOPInstanceUID=uid("seq.c1")),
        item(ReferencedSOPClassUID=SC_IMAGE, ReferencedSOPInstanceUID=uid("seq.c2")),
    ], undefined=True, items_undefined=[False, True])
    set_seq(ds, "ReferencedInstanceSequence", [
        item(ReferencedSOPClassUID=SC_IMAGE, ReferencedSOPInstanceUID=uid("seq.d1")),
        item(ReferencedSOPClassUID=SC_IMAGE, ReferencedSOPInstanceUID=uid("seq.d2")),
    ], undefined=False, items_undefined=[True, False])
    # 4 levels of nesting (SR content tree), alternating length forms
    lvl4 = Dataset()
    set_seq(lvl4, "ConceptNameCodeSequence",
            [code("121071", "DCM", "Finding")], undefined=True, items_undefined=True)
    lvl4.RelationshipType = "CONTAINS"
    lvl4.ValueType = "TEXT"
    lvl4.TextValue = "Level four text"
    lvl3 = item(RelationshipType="CONTAINS", ValueType="CONTAINER", ContinuityOfContent="SEPARATE")
    set_seq(lvl3, "ContentSequence", [lvl4])
    lvl2 = item(RelationshipType="CONTAINS", ValueType="CONTAINER", ContinuityOfContent="SEPARATE")
    set_seq(lvl2, "ContentSequence", [lvl3], undefined=True, items_undefined=True)
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    set_seq(ds, "ContentSequence", [lvl2])
    return ds


def rpi_request() -> Dataset:
    """Relevant Patient Information Query C-FIND request identifier (PS3.4 Q)."""
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = "1234567"
    ds.IssuerOfPatientID = "HOSPITAL_A"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.ObservationDateTime = ""
    ds.ValueType = ""
    ds.ConceptNameCodeSequence = []
    ds.ContentSequence = []
    ds.ContentTemplateSequence = [item(MappingResource="DCMR", TemplateIdentifier="9007")]
    return ds


def rpi_response() -> Dataset:
    """SR-style C-FIND response identifier (TID 9007 shaped)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Doe^John"
    ds.PatientID = "1234567"
    ds.IssuerOfPatientID = "HOSPITAL_A"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.ObservationDateTime = "20240315093000"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = [code("11329-0", "LN", "History")]
    ds.ContentTemplateSequence = [item(MappingResource="DCMR", TemplateIdentifier="9007")]
    text = item(RelationshipType="CONTAINS", ValueType="TEXT",
                TextValue="Patient reports intermittent chest pain for two weeks.")
    text.ConceptNameCodeSequence = [code("10164-2", "LN", "History of present illness")]
    codeitem = item(RelationshipType="CONTAINS", ValueType="CODE")
    codeitem.ConceptNameCodeSequence = [code("48765-2", "LN", "Allergies and adverse reactions")]
    codeitem.ConceptCodeSequence = [code("91936005", "SCT", "Allergy to penicillin")]
    date = item(RelationshipType="CONTAINS", ValueType="DATE", Date="20240301")
    date.ConceptNameCodeSequence = [code("8665-2", "LN", "Last menstrual period start date")]
    text2 = item(RelationshipType="CONTAINS", ValueType="TEXT", TextValue="Non-smoker")
    text2.ConceptNameCodeSequence = [code("11367-0", "LN", "History of tobacco use")]
    ds.ContentSequence = [text, codeitem, date, text2]
    return ds


# --------------------------------------------------------------------------
# c. private tags
# --------------------------------------------------------------------------

def private_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SC_IMAGE
    ds.SOPInstanceUID = uid("private.sop")
    ds.PatientName = "Private^Tags"
    ds.PatientID = "PRIV-01"
    ds.add_new(0x00090010, "LO", "ACME 1.1")          # private creator, block 0x10
    ds.add_new(0x00090011, "LO", "OTHER CO")          # second creator, block 0x11
    ds.add_new(0x00091001, "LO", "Acme string")       # odd -> padded
    ds.add_new(0x00091002, "US", 513)
    ds.add_new(0x00091003, "DS", ["1.5", "-2", "3.25"])
    ds.add_new(0x00091004, "OB", bytes(range(7)))     # odd -> \0 padded
    ds.add_new(0x00091005, "SL", [-1, 2147483647])
    ds.add_new(0x00091006, "FD", 2.5)
    ds.add_new(0x00091007, "SH", "")                  # empty
    ds.add_new(0x00091008, "UT", "Private unlimited text")
    # private SQ, defined length (implicit VR: pydicom -> UN bytes)
    set_seq(ds, 0x00091009, [item(CodeValue="P1", CodingSchemeDesignator="99ACME", CodeMeaning="Private code")])
    # private SQ, undefined length (implicit VR: pydicom detects items -> SQ)
    inner = item(PatientID="NESTED")
    inner.add_new(0x00090010, "LO", "ACME 1.1")
    inner.add_new(0x00091001, "LO", "nested private")
    set_seq(ds, 0x0009100A, [inner], undefined=True, items_undefined=True)
    ds.add_new(0x00091101, "IS", "42")                # block 0x11 (OTHER CO)
    ds.add_new(0x00091102, "CS", ["A", "B"])
    # private group with higher number
    ds.add_new(0x00330010, "LO", "ACME 1.1")          # creator in another private group
    ds.add_new(0x00331001, "UL", 7)
    return ds


# --------------------------------------------------------------------------
# d/e. pixel data
# --------------------------------------------------------------------------

def image_base(label: str, rows: int, cols: int, bits: int, spp: int = 1,
               photometric: str = "MONOCHROME2") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SC_IMAGE
    ds.SOPInstanceUID = uid(label + ".sop")
    ds.StudyInstanceUID = uid(label + ".study")
    ds.SeriesInstanceUID = uid(label + ".series")
    ds.PatientName = "Pixel^Test"
    ds.PatientID = "PIX-0001"
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = spp
    ds.PhotometricInterpretation = photometric
    if spp > 1:
        ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    return ds


def fake_jpeg(n: int, size: int) -> bytes:
    """Deterministic fake JPEG frame: SOI + pseudo-random bytes + EOI (even length)."""
    body = hashlib.shake_256(f"frame{n}".encode()).digest(size - 4)
    return b"\xff\xd8" + body + b"\xff\xd9"


def fake_rle(n: int, rows: int, cols: int) -> bytes:
    """A valid 1-segment RLE frame (PS3.5 G) of a constant 8-bit image."""
    seg = bytearray()
    for _ in range(rows):
        remaining = cols
        while remaining:
            run = min(remaining, 128)
            seg += bytes([(257 - run) & 0xFF, (n * 40) & 0xFF])
            remaining -= run
    header = struct.pack("<16L", 1, 64, *([0] * 14))
    data = header + bytes(seg)
    return data + (b"\x00" if len(data) % 2 else b"")


# --------------------------------------------------------------------------
# g. character sets
# --------------------------------------------------------------------------

def iso2022_ir58(text: str) -> bytes:
    """Encode like PS3.5 K.1: ESC $ ) A before each delimited segment that
    holds GB2312 characters (the G1 designation ends at ^ = \\ CR LF TAB FF)."""
    import re
    out = b""
    for part in re.split(r"([\^=\\\r\n\t\f])", text):
        if any(ord(c) > 127 for c in part):
            out += b"\x1b$)A" + part.encode("gb2312")
        else:
            out += part.encode("ascii")
    return out


CHARSETS = [
    # name, SpecificCharacterSet, PN, LO, SH, LT, source
    ("latin1", "ISO_IR 100", "Buc^Jérôme", "Hôpital Européen", "Salle Ü",
     "Résumé: contrôle après opération.", "PS3.5 H/I style Latin-1 (pydicom chrFren)"),
    ("utf8", "ISO_IR 192", "Wang^XiaoDong=王^小东", "Ünïcödé – 日本語 – Ελληνικά", "東京第一",
     "mixed: Люксембург, שלום, 한국어, 🙂 (4-byte)", "PS3.5 J.1 (UTF-8)"),
    ("cyrillic", "ISO_IR 144", "Люкceмбypг", "Московская больница", "Палата 5",
     "Пациент в удовлетворительном состоянии.", "pydicom chrRuss (mixed Latin c/e/y/p)"),
    ("greek", "ISO_IR 126", "Διονυσιος", "Νοσοκομείο Αθηνών", "Θάλαμος 3",
     "Ο ασθενής είναι σταθερός.", "pydicom chrGreek"),
    ("arabic", "ISO_IR 127", "قباني^لنزار", "مستشفى القاهرة", "غرفة 5",
     "المريض مستقر.", "pydicom chrArab"),
    ("hebrew", "ISO_IR 138", "שרון^דבורה", "בית חולים", "חדר 7",
     "המטופל יציב.", "pydicom chrHbrw"),
    ("turkish", "ISO_IR 148", "Çavuşoğlu^Ömer", "İstanbul Hastanesi", "Oda 4",
     "Hasta durumu iyi; ağrı şikâyeti yok.", "Latin-5 (pydicom encodes as iso_ir_148)"),
    ("thai", "ISO_IR 166", "สมชาย^ใจดี", "โรงพยาบาลกรุงเทพ", "ห้อง 1",
     "ผู้ป่วยอาการคงที่", "TIS-620"),
    # pydicom's JIS X 0201 encoder refuses to mix ISO IR 13 (katakana) and
    # ISO IR 14 (Roman, incl. space) in one string unless the VR is PN (which is
    # encoded per component), so LO/SH have no spaces and the LT value is
    # pre-encoded with Python's shift_jis codec and stored as bytes.
    ("jis_x0201", "ISO_IR 13", "ﾔﾏﾀﾞ^ﾀﾛｳ", "ﾄｳｷｮｳﾋﾞｮｳｲﾝ", "ｶﾝｼﾞｬ",
     "ｹﾝｻ ｼｭｳﾘｮｳ".encode("shift_jis"), "PS3.5 H (half-width katakana, single byte)"),
    ("iso2022_ir87", ["", "ISO 2022 IR 87"], "Yamada^Tarou=山田^太郎=やまだ^たろう",
     "東京病院", "山田", "検査は正常です。\r\n次回は来月。", "PS3.5 H.3.1"),
    ("iso2022_ir13_ir87", ["ISO 2022 IR 13", "ISO 2022 IR 87"],
     "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", "ﾄｳｷｮｳ 東京病院", "ﾔﾏﾀﾞ",
     "ｹﾝｻ 検査は正常です。", "PS3.5 H.3.2"),
    ("iso2022_ir149", ["", "ISO 2022 IR 149"], "Hong^Gildong=洪^吉洞=홍^길동",
     "서울대학교병원", "홍길동", "환자 상태 양호.", "PS3.5 I.2"),
    ("gb18030", "GB18030", "Wang^XiaoDong=王^小東", "北京协和医院", "王小東",
     "患者情况稳定。", "PS3.5 J.3 (without trailing '=')"),
    # pydicom 3.0.2 cannot encode or decode ISO 2022 IR 58 correctly: it writes
    # GB2312 bytes WITHOUT the ESC $ ) A designation and, on reading, passes the
    # escape bytes through into the decoded text.  The values are therefore
    # hand-encoded as in PS3.5 K.1 (ESC $ ) A at the start of every component /
    # delimited segment that contains GB2312 characters) and stored as bytes.
    ("iso2022_ir58", ["", "ISO 2022 IR 58"], iso2022_ir58("Zhang^XiaoDong=张^小东="),
     iso2022_ir58("北京医院"), iso2022_ir58("张小东"), iso2022_ir58("患者情况稳定。"),
     "PS3.5 K.1 (GB2312 via ISO 2022), bytes hand-encoded"),
    ("gbk", "GBK", "Wang^XiaoDong=王^小東", "北京协和医院", "王小東",
     "患者情况稳定。", "GBK"),
]


def charset_dataset(name, scs, pn, lo, sh, lt) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = scs
    ds.SOPClassUID = SC_IMAGE
    ds.SOPInstanceUID = uid("cs." + name)
    ds.PatientName = pn
    ds.PatientID = "CS-" + name.upper()
    ds.InstitutionName = lo        # LO
    ds.StationName = sh            # SH
    ds.ImageComments = lt          # LT
    ds.StudyDescription = lo       # LO (second)
    ds.PerformingPhysicianName = [pn, "Smith^John"]  # PN VM2
    # the item inherits the Specific Character Set of the enclosing dataset
    ds.ReferencedPatientSequence = [item(PatientName=pn, PatientID="CS-NESTED")]
    return ds


# --------------------------------------------------------------------------
# f. UN with undefined length containing a sequence
# --------------------------------------------------------------------------

def implicit_items(items: list[Dataset]) -> bytes:
    fp = _new_fp(True, True)
    for it in items:
        write_sequence_item(fp, it, ["iso8859"])
    return fp.getvalue()


def un_sq_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SC_IMAGE
    ds.SOPInstanceUID = uid("unsq.sop")
    ds.PatientName = "UN^Sequence"
    ds.PatientID = "UNSQ-01"
    ds.add_new(0x00090010, "LO", "ACME 1.1")
    # (0009,1010): private SQ written as UN, undefined length, implicit LE items,
    # first item undefined length (with a nested undefined-length SQ), second defined.
    it1 = item(CodeValue="ACME1", CodingSchemeDesignator="99ACME", CodeMeaning="First")
    set_seq(it1, "ConceptNameCodeSequence", [code("121071", "DCM", "Finding")],
            undefined=True, items_undefined=True)
    it1.is_undefined_length_sequence_item = True
    it2 = item(CodeValue="ACME2", CodingSchemeDesignator="99ACME", CodeMeaning="Second")
    payload = implicit_items([it1, it2])
    ds[0x00091010] = RawDataElement(Tag(0x00091010), "UN", 0xFFFFFFFF, payload, 0, False, True)
    # (0040,A730) ContentSequence (public SQ) written as UN, undefined length
    c1 = item(RelationshipType="CONTAINS", ValueType="TEXT", TextValue="un sq text")
    c1.ConceptNameCodeSequence = [code("121071", "DCM", "Finding")]
    payload2 = implicit_items([c1])
    ds[0x0040A730] = RawDataElement(Tag(0x0040A730), "UN", 0xFFFFFFFF, payload2, 0, False, True)
    ds.ValueType = "CONTAINER"
    # (0040,0275) RequestAttributesSequence written as UN with DEFINED length
    r1 = item(RequestedProcedureID="RP-1", ScheduledProcedureStepID="SPS-1")
    payload3 = implicit_items([r1])
    ds[0x00400275] = RawDataElement(Tag(0x00400275), "UN", len(payload3), payload3, 0, False, True)
    return ds


# --------------------------------------------------------------------------
# h. group lengths + mixed item lengths (custom writer)
# --------------------------------------------------------------------------

def group_length_dataset() -> Dataset:
    ds = Dataset()
    ds.add_new(0x00080000, "UL", 0)   # value computed by encode_body
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SC_IMAGE
    ds.SOPInstanceUID = uid("gl.sop")
    ds.StudyDate = "20240315"
    ds.Modality = "OT"
    gl_item = Dataset()
    gl_item.add_new(0x00080000, "UL", 0)
    gl_item.ReferencedSOPClassUID = SC_IMAGE
    gl_item.ReferencedSOPInstanceUID = uid("gl.ref1")
    gl_item.is_undefined_length_sequence_item = False
    gl_item2 = item(ReferencedSOPClassUID=SC_IMAGE, ReferencedSOPInstanceUID=uid("gl.ref2"))
    gl_item2.is_undefined_length_sequence_item = True
    # undefined-length SQ: defined-length item (with group length) + undefined-length item
    ds[0x00081140] = DataElement(0x00081140, "SQ", Sequence([gl_item, gl_item2]))
    ds[0x00081140].is_undefined_length = True
    # defined-length SQ: undefined-length item + defined-length item
    a = item(SeriesInstanceUID=uid("gl.s1"))
    a.is_undefined_length_sequence_item = True
    b = item(SeriesInstanceUID=uid("gl.s2"))
    ds[0x00081115] = DataElement(0x00081115, "SQ", Sequence([a, b]))
    ds[0x00081115].is_undefined_length = False
    ds.add_new(0x00100000, "UL", 0)
    ds.PatientName = "Group^Length"
    ds.PatientID = "GL-0001"
    ds.add_new(0x00200000, "UL", 0)
    ds.StudyInstanceUID = uid("gl.study")
    ds.SeriesInstanceUID = uid("gl.series")
    ds.InstanceNumber = "1"
    return ds


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    be_note = ("Explicit VR Big Endian: OW/OF/OD/OL/OV values were packed big-endian "
               "before writing (pydicom writes bytes values verbatim); pydicom's JSON "
               "InlineBinary carries the raw big-endian bytes (not converted to LE).")
    defl_note = "Body raw-deflated (zlib wbits=-15) after the file meta; padded to even length."

    for ts, suf in BASE_TS:
        implicit, little = TS_INFO[ts]
        tsnote = be_note if not little else (defl_note if ts == DEFL else "")
        # a
        ds = vrs_dataset(little)
        save(ds, f"vrs_{suf}", ts, SC_IMAGE, ds.SOPInstanceUID,
             ["all-34-vrs"] + [f"vr:{v}" for v in
              "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()]
             + ["multi-valued", "empty-values", "odd-length-padding", "pn-groups",
                "specific-character-set:ISO_IR 100"],
             "Every VR on a public dictionary tag (OV/SV/UV/UN via Hanging Protocol selector "
             "attributes (0072,0081/0082/0083/006D); UV also (0008,040C/040D)). Empty: "
             "SeriesDate, AcquisitionTime, AccessionNumber, ReferringPhysicianName, "
             "FrameOfReferenceUID, DiffusionBValue (FD), Rows (US). SoftwareVersions has an "
             "empty middle value. FL 29.97 shows float32 widening. " + tsnote)
        # b
        ds = sequences_dataset()
        save(ds, f"sequences_{suf}", ts, COMPREHENSIVE_SR, ds.SOPInstanceUID,
             ["sq:defined-length", "sq:undefined-length", "item:defined-length",
              "item:undefined-length", "sq:empty-defined", "sq:empty-undefined",
              "item:empty-defined", "item:empty-undefined", "sq:mixed-item-lengths",
              "sq:nesting-4-levels"],
             "ReferencedStudySequence: defined SQ/items. ReferencedSeriesSequence: undefined "
             "SQ/items. ProcedureCodeSequence: empty, length 0. AnatomicRegionSequence: "
             "empty, undefined length. ReferencedPatientSequence: one empty defined item. "
             "ReferencedPerformedProcedureStepSequence: one empty undefined item. "
             "ReferencedImageSequence: undefined SQ with [defined, undefined] items. "
             "ReferencedInstanceSequence: defined SQ with [undefined, defined] items. "
             "ContentSequence nests 4 SQ levels. " + tsnote)
        ds = rpi_request()
        save(ds, f"cfind_rpi_request_{suf}", ts, RPI_QUERY, uid("rpi.req"),
             ["cfind-identifier", "rpi-query-request", "sq:empty-defined", "empty-values"],
             "Relevant Patient Information Query request identifier (PS3.4 Annex Q) with "
             "TID 9007 in ContentTemplateSequence; zero-length ConceptNameCodeSequence and "
             "ContentSequence. MediaStorageSOPClassUID = General RPI Query SOP class. " + tsnote)
        ds = rpi_response()
        save(ds, f"cfind_rpi_response_{suf}", ts, RPI_QUERY, uid("rpi.rsp"),
             ["cfind-identifier", "rpi-query-response", "sr-content-tree", "sq:nested"],
             "SR-style response: CONTAINER (11329-0, LN, History) with TEXT, CODE, DATE, "
             "TEXT children (RelationshipType CONTAINS). " + tsnote)
        # c
        ds = private_dataset()
        save(ds, f"private_{suf}", ts, SC_IMAGE, ds.SOPInstanceUID,
             ["private-creator", "private-elements", "private-sq"]
             + (["private-as-UN-in-implicit"] if implicit else []),
             "Creators (0009,0010)='ACME 1.1', (0009,0011)='OTHER CO', (0033,0010)='ACME 1.1'. "
             "(0009,1009) private SQ defined length, (0009,100A) private SQ undefined length. "
             + ("Implicit VR: pydicom decodes unknown private elements as UN (InlineBinary, "
                "raw bytes incl. padding); the defined-length private SQ also decodes as UN "
                "bytes, the undefined-length one is detected as SQ (pydicom looks ahead for "
                "an item tag). Creator elements (gggg,0010-00FF) decode as LO. "
                if implicit else "") + tsnote)
        # e. native pixel data
        if True:
            ds = image_base("native16", 8, 8, 16)
            vals = [((r * 8 + c) * 61 + 3) % 4096 for r in range(8) for c in range(8)]
            vals[0], vals[-1] = 0x0123, 0x0FED
            ds.PixelData = pack("H", vals, little)
            ds["PixelData"].VR = "OW"
            save(ds, f"native_ow16_{suf}", ts, SC_IMAGE, ds.SOPInstanceUID,
                 ["native-pixel-data", "vr:OW", "pixel:8x8x16"],
                 "8x8 MONOCHROME2 16-bit (12 stored), value[i]=(i*61+3)%4096 with "
                 "value[0]=0x0123, value[63]=0x0FED; words in the TS byte order. " + tsnote)
        ds = image_base("native8", 3, 3, 8)
        ds.PixelData = bytes([10, 20, 30, 40, 50, 60, 70, 80, 90])
        ds["PixelData"].VR = "OB"
        save(ds, f"native_ob8_odd_{suf}", ts, SC_IMAGE, ds.SOPInstanceUID,
             ["native-pixel-data", "vr:OB", "odd-length-padding", "pixel:3x3x8"],
             "3x3 8-bit: 9 bytes of pixel data, padded to 10 with 0x00. " + tsnote)
        # h
        ds = group_length_dataset()
        write_part10_custom(ds, f"group_length_mixed_{suf}", ts, SC_IMAGE, ds.SOPInstanceUID,
                            ["group-length", "group-length-in-item", "sq:mixed-item-lengths",
                             "hand-assembled"],
                            "Group lengths (0008,0000), (0010,0000), (0020,0000) at top level and "
                            "(0008,0000) inside the first ReferencedImageSequence item (pydicom's "
                            "writer drops them, so the body was assembled from pydicom's element "
                            "encoder by tools/make_fixtures.py:encode_body). (0008,1140) "
                            "undefined SQ with [defined, undefined] items; (0008,1115) defined SQ "
                            "with [undefined, defined] items. " + tsnote)

    # d. encapsulated pixel data
    f1, f2 = fake_jpeg(1, 300), fake_jpeg(2, 212)
    ds = image_base("encaps.jpeg.emptybot", 16, 16, 8, 3, "YBR_FULL_422")
    frags = [f1[:100], f1[100:220], f1[220:]]
    data = bytearray(b"\xfe\xff\x00\xe0\x00\x00\x00\x00")   # empty BOT item
    for fr in frags:
        data += b"\xfe\xff\x00\xe0" + struct.pack("<L", len(fr)) + fr
    ds.PixelData = bytes(data)
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    save(ds, "encaps_jpeg_emptybot", JPEG_BASELINE, SC_IMAGE, ds.SOPInstanceUID,
         ["encapsulated-pixel-data", "bot:empty", "fragments:3", "frames:1"],
         "JPEG Baseline TS; 1 frame split into 3 fragments (100, 120, 80 bytes; fake JPEG "
         "SOI..EOI payload); empty Basic Offset Table item. PixelData value in JSON is the "
         "whole item stream without the final Sequence Delimitation Item.")

    ds = image_base("encaps.jpeg.bot", 16, 16, 8, 3, "YBR_FULL_422")
    ds.NumberOfFrames = "2"
    ds.PixelData = encapsulate([f1, f2], fragments_per_frame=2, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    save(ds, "encaps_jpeg_bot_2frames", JPEG_BASELINE, SC_IMAGE, ds.SOPInstanceUID,
         ["encapsulated-pixel-data", "bot:non-empty", "fragments:4", "frames:2"],
         "pydicom.encaps.encapsulate([300-byte, 212-byte frame], fragments_per_frame=2, "
         "has_bot=True): BOT = [0, 316].")

    ds = image_base("encaps.rle", 8, 8, 8)
    ds.NumberOfFrames = "3"
    ds.PixelData = encapsulate([fake_rle(i, 8, 8) for i in range(3)], 1, has_bot=True)
    ds["PixelData"].VR = "OB"
    save(ds, "encaps_rle_bot_3frames", RLE_LOSSLESS, SC_IMAGE, ds.SOPInstanceUID,
         ["encapsulated-pixel-data", "bot:non-empty", "frames:3", "rle-valid"],
         "RLE Lossless, 3 frames of 8x8 8-bit, each a valid single-segment RLE frame of a "
         "constant value (0, 40, 80); 1 fragment per frame; BOT present.")

    ds = image_base("encaps.eot", 16, 16, 8, 3, "YBR_FULL_422")
    ds.NumberOfFrames = "2"
    pix, eot, eotl = encapsulate_extended([f1, f2])
    ds.PixelData = pix
    ds["PixelData"].VR = "OB"
    ds.ExtendedOffsetTable = eot
    ds.ExtendedOffsetTableLengths = eotl
    ds.LossyImageCompression = "01"
    save(ds, "encaps_jpeg_eot", JPEG_BASELINE, SC_IMAGE, ds.SOPInstanceUID,
         ["encapsulated-pixel-data", "bot:empty", "extended-offset-table", "vr:OV", "frames:2"],
         "pydicom.encaps.encapsulate_extended: empty BOT, ExtendedOffsetTable (7FE0,0001) OV "
         "and ExtendedOffsetTableLengths (7FE0,0002) OV.")

    # f. UN with undefined length containing a sequence
    for ts, suf in [(EVRLE, "evrle"), (DEFL, "deflate")]:
        ds = un_sq_dataset()
        write_part10_custom(ds, f"un_undefined_length_sq_{suf}", ts, SC_IMAGE, ds.SOPInstanceUID,
                            ["un-undefined-length-sq", "un-defined-length-sq", "hand-assembled"],
                            "(0009,1010) private and (0040,A730) ContentSequence encoded as VR UN "
                            "with undefined length; their items are Implicit VR LE (PS3.5 6.2.2): "
                            "first (0009,1010) item has undefined length and holds a nested "
                            "undefined-length SQ, second item defined length. (0040,0275) "
                            "RequestAttributesSequence encoded as UN with DEFINED length holding "
                            "implicit-VR LE items. Written as RawDataElements through pydicom's "
                            "write_data_element. pydicom reads the undefined-length UNs as SQ "
                            "(config.settings.infer_sq_for_un_vr) and the defined-length public "
                            "one as SQ too (config.replace_un_with_known_vr); the JSON therefore "
                            "shows vr SQ for all three. "
                            + (defl_note if ts == DEFL else ""))

    # g. character sets (Explicit VR LE; the ISO 2022 ones also Implicit VR LE)
    for name, scs, pn, lo, sh, lt, src in CHARSETS:
        tss = [(EVRLE, "evrle")]
        if name in ("iso2022_ir87", "iso2022_ir149", "gb18030", "utf8"):
            tss.append((IVRLE, "ivrle"))
        extra_feat, extra_note = [], ""
        if name == "iso2022_ir58":
            extra_feat = ["hand-encoded", "pydicom-json-incorrect"]
            extra_note = ("pydicom 3.0.2 leaves the ESC $ ) A bytes in its decoded strings, so "
                          "this JSON is NOT the correct decoding. Correct values: PatientName "
                          "Alphabetic 'Zhang^XiaoDong', Ideographic '张^小东' (trailing empty "
                          "phonetic group); LO '北京医院'; SH '张小东'; LT '患者情况稳定。'. "
                          "Bytes follow PS3.5 K.1. ")
        for ts, suf in tss:
            ds = charset_dataset(name, scs, pn, lo, sh, lt)
            scs_txt = "\\".join(scs) if isinstance(scs, list) else scs
            save(ds, f"charset_{name}_{suf}", ts, SC_IMAGE, ds.SOPInstanceUID,
                 ["specific-character-set:" + scs_txt, "vr:PN", "vr:LO", "vr:SH", "vr:LT",
                  "charset-inherited-in-item"] + extra_feat,
                 extra_note + f"SpecificCharacterSet '{scs_txt}'. PatientName "
                 + (f"{pn!r}" if isinstance(pn, str) else "(bytes)") + f" ({src}); "
                 + ("ImageComments was pre-encoded (shift_jis bytes, contains a space) because "
                    "pydicom cannot encode mixed IR 13/IR 14 text in non-PN VRs; "
                    if name == "jis_x0201" else "")
                 + "InstitutionName/StudyDescription (LO), StationName (SH), ImageComments (LT), "
                 "PerformingPhysicianName VM2 and a ReferencedPatientSequence item inheriting "
                 "the character set. "
                 + ("Text encoded by pydicom from the SpecificCharacterSet." if isinstance(pn, str)
                    else ""))

    MANIFEST.sort(key=lambda m: m["name"])
    dump_json(MANIFEST, OUT / "manifest.json")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(MANIFEST)} fixtures ({total} bytes) to {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
