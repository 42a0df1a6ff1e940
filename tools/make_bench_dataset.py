#!/usr/bin/env python3
"""Write a large, element-dense Explicit VR Little Endian Part 10 dataset for
parse-throughput benchmarks of the DICOMTap dataset codec.

    python3 tools/make_bench_dataset.py OUT.dcm [--mb 50] [--no-verify]

The dataset is a Comprehensive SR-shaped document, NOT one big pixel blob:

* (0040,A375) CurrentRequestedProcedureEvidenceSequence: one study item whose
  ReferencedSeriesSequence holds many series items; each series item has a
  64x64 8-bit IconImageSequence thumbnail (4 KB OB PixelData, the "moderately
  sized binary elements") and a ReferencedSOPSequence of 200 items (UI, UI, IS).
* (0040,A730) ContentSequence: many CONTAINER items, each with a nested
  ContentSequence of 40 children cycling NUM (MeasuredValueSequence with
  units code), TEXT, CODE, DATETIME, UIDREF and SCOORD (FL GraphicData)
  items, every one with a ConceptNameCodeSequence item.

Roughly 15% of the bytes are binary values (OB thumbnails, FL arrays); the rest are tens
of thousands of short string / numeric elements and item framing, mixing
defined- and undefined-length sequences and items.

pydicom is far too slow to encode 50 MB element by element, so a fixed set of
distinct blocks (16 content variants, 4 series variants) is encoded by pydicom
(``write_sequence_item``) and the encoded items are replicated.  Both large
sequences are undefined-length at the top level, so repeating complete items
keeps every length field valid.  The result is verified by reading it back
with pydicom and counting items (skip with --no-verify).  Output is
deterministic (random.Random with fixed seeds, fixed UIDs).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info, write_sequence_item
from pydicom.sequence import Sequence
from pydicom.tag import Tag

EVRLE = "1.2.840.10008.1.2.1"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
CONTENT_VARIANTS = 16
SERIES_VARIANTS = 4
CHILDREN_PER_CONTAINER = 40
SOPS_PER_SERIES = 200


def uid(label: str) -> str:
    return "2.25." + str(int(hashlib.sha256(label.encode()).hexdigest()[:30], 16))


def code(v: str, s: str, m: str) -> Dataset:
    d = Dataset()
    d.CodeValue, d.CodingSchemeDesignator, d.CodeMeaning = v, s, m
    return d


def set_sq(ds: Dataset, keyword: str, items, undefined: bool = False,
           items_undefined: bool = False) -> None:
    tag = Tag(keyword)
    ds[tag] = DataElement(tag, "SQ", Sequence(items))
    ds[tag].is_undefined_length = undefined
    for it in ds[tag].value:
        it.is_undefined_length_sequence_item = items_undefined


CONCEPTS = [
    ("8867-4", "LN", "Heart rate"), ("8480-6", "LN", "Systolic blood pressure"),
    ("8462-4", "LN", "Diastolic blood pressure"), ("29463-7", "LN", "Body weight"),
    ("8302-2", "LN", "Body height"), ("121206", "DCM", "Distance"),
    ("G-D705", "SRT", "Volume"), ("121071", "DCM", "Finding"),
]
UNITS = [("/min", "UCUM", "per minute"), ("mm[Hg]", "UCUM", "mmHg"),
         ("kg", "UCUM", "kilogram"), ("cm", "UCUM", "centimeter"), ("mm", "UCUM", "millimeter")]
FINDINGS = [("38101003", "SCT", "High risk pregnancy"), ("49601007", "SCT", "Cardiovascular disease"),
            ("22298006", "SCT", "Myocardial infarction"), ("27550009", "SCT", "Disorder of blood vessel")]
WORDS = ("lesion margin enhancement signal focal diffuse nodule segment lobe cortex contrast "
         "artifact stable interval increase decrease measurement region axial sagittal").split()


def content_child(rng: random.Random, k: int, label: str) -> Dataset:
    it = Dataset()
    it.RelationshipType = "CONTAINS"
    kind = k % 6
    cn = CONCEPTS[rng.randrange(len(CONCEPTS))]
    if kind == 0:
        it.ValueType = "NUM"
        mv = Dataset()
        u = UNITS[rng.randrange(len(UNITS))]
        set_sq(mv, "MeasurementUnitsCodeSequence", [code(*u)], undefined=rng.random() < 0.5)
        mv.NumericValue = f"{rng.uniform(-500, 500):.4f}"
        mv.FloatingPointValue = rng.uniform(-500, 500)
        set_sq(it, "MeasuredValueSequence", [mv], undefined=rng.random() < 0.5,
               items_undefined=rng.random() < 0.5)
    elif kind == 1:
        it.ValueType = "TEXT"
        it.TextValue = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 24)))
    elif kind == 2:
        it.ValueType = "CODE"
        set_sq(it, "ConceptCodeSequence", [code(*FINDINGS[rng.randrange(len(FINDINGS))])])
    elif kind == 3:
        it.ValueType = "DATETIME"
        it.DateTime = f"2024{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" \
                      f"{rng.randrange(24):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}.{rng.randrange(10**6):06d}"
    elif kind == 4:
        it.ValueType = "UIDREF"
        it.UID = uid(f"{label}.uidref.{k}")
    else:
        it.ValueType = "SCOORD"
        it.GraphicType = "POLYLINE"
        n = 2 * rng.randrange(8, 48)
        it.add_new(0x00700022, "FL", [round(rng.uniform(0, 512), 2) for _ in range(n)])
    set_sq(it, "ConceptNameCodeSequence", [code(*cn)], undefined=rng.random() < 0.3)
    it.ObservationDateTime = "20240315101530"
    return it


def content_block(variant: int) -> Dataset:
    rng = random.Random(1000 + variant)
    label = f"bench.content.{variant}"
    c = Dataset()
    c.RelationshipType = "CONTAINS"
    c.ValueType = "CONTAINER"
    c.ContinuityOfContent = "SEPARATE"
    set_sq(c, "ConceptNameCodeSequence", [code("121070", "DCM", "Findings")])
    children = [content_child(rng, k, label) for k in range(CHILDREN_PER_CONTAINER)]
    for ch in children:
        ch.is_undefined_length_sequence_item = rng.random() < 0.5
    c.add_new(0x0040A730, "SQ", Sequence(children))
    c[0x0040A730].is_undefined_length = variant % 2 == 0
    c.is_undefined_length_sequence_item = variant % 3 == 0
    return c


def series_block(variant: int) -> Dataset:
    rng = random.Random(2000 + variant)
    s = Dataset()
    s.RetrieveAETitle = "ARCHIVE"
    s.SeriesInstanceUID = uid(f"bench.series.{variant}")
    icon = Dataset()
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.Rows = 64
    icon.Columns = 64
    icon.BitsAllocated = 8
    icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = bytes(rng.randrange(256) for _ in range(64 * 64))
    icon["PixelData"].VR = "OB"
    set_sq(s, "IconImageSequence", [icon])
    sops = []
    for i in range(SOPS_PER_SERIES):
        r = Dataset()
        r.ReferencedSOPClassUID = CT_IMAGE
        r.ReferencedSOPInstanceUID = uid(f"bench.sop.{variant}.{i}")
        r.InstanceNumber = str(i + 1)
        r.is_undefined_length_sequence_item = rng.random() < 0.5
        sops.append(r)
    s.add_new(0x00081199, "SQ", Sequence(sops))
    s[0x00081199].is_undefined_length = variant % 2 == 1
    s.is_undefined_length_sequence_item = True
    return s


def encode_item(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR = False
    fp.is_little_endian = True
    write_sequence_item(fp, ds, ["iso8859"])
    return fp.getvalue()


def build(out: Path, megabytes: float, verify: bool) -> None:
    t0 = time.time()
    target = int(megabytes * 1024 * 1024)
    content_items = [encode_item(content_block(v)) for v in range(CONTENT_VARIANTS)]
    series_items = [encode_item(series_block(v)) for v in range(SERIES_VARIANTS)]
    c_avg = sum(map(len, content_items)) / len(content_items)
    s_avg = sum(map(len, series_items)) / len(series_items)
    n_series = max(1, round(0.25 * target / s_avg))
    n_content = max(1, round((target - n_series * s_avg) / c_avg))

    # Evidence: 1 study item (undefined length) holding the series SQ (undefined length)
    series_payload = b"".join(series_items[i % SERIES_VARIANTS] for i in range(n_series))
    study = DicomBytesIO()
    study.is_implicit_VR, study.is_little_endian = False, True
    study.write_tag(Tag(0xFFFE, 0xE000))
    study.write_UL(0xFFFFFFFF)
    write_data_element(study, RawDataElement(Tag(0x00081115), "SQ", 0xFFFFFFFF,
                                             series_payload, 0, False, True))
    write_data_element(study, DataElement(0x0020000D, "UI", uid("bench.study")))
    study.write_tag(Tag(0xFFFE, 0xE00D))
    study.write_UL(0)
    content_payload = b"".join(content_items[i % CONTENT_VARIANTS] for i in range(n_content))

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = "20240315"
    ds.InstanceCreationTime = "101530"
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = uid("bench.sop")
    ds.StudyDate = "20240315"
    ds.ContentDate = "20240315"
    ds.StudyTime = "101500"
    ds.ContentTime = "101530"
    ds.AccessionNumber = "BENCH0001"
    ds.Modality = "SR"
    ds.Manufacturer = "DICOMTap bench"
    ds.ReferringPhysicianName = "Doe^Jane"
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.PatientName = "Bench^Mark"
    ds.PatientID = "BENCH-1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = uid("bench.study")
    ds.SeriesInstanceUID = uid("bench.series")
    ds.StudyID = "1"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code("126000", "DCM", "Imaging Measurement Report")]
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = []
    ds[0x0040A375] = RawDataElement(Tag(0x0040A375), "SQ", 0xFFFFFFFF, study.getvalue(), 0, False, True)
    ds[0x0040A730] = RawDataElement(Tag(0x0040A730), "SQ", 0xFFFFFFFF, content_payload, 0, False, True)

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = COMPREHENSIVE_SR
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = EVRLE
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "PYDICOM " + pydicom.__version__

    with open(out, "wb") as f:
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = False, True
        fp.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(fp, meta, enforce_standard=True)
        # body in tag order; raw elements are written verbatim by pydicom
        for tag in sorted(ds.keys()):
            write_data_element(fp, ds.get_item(tag), ["iso8859"])
        f.write(fp.getvalue())
    size = out.stat().st_size
    print(f"wrote {out} ({size / 1048576:.1f} MiB): {n_series} series items x "
          f"{SOPS_PER_SERIES} SOP refs, {n_content} content containers x "
          f"{CHILDREN_PER_CONTAINER} children in {time.time() - t0:.1f}s")
    if verify:
        t1 = time.time()
        rd = pydicom.dcmread(out)
        series = rd.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
        assert len(series) == n_series, (len(series), n_series)
        n_sop = sum(len(s.ReferencedSOPSequence) for s in series)
        assert n_sop == n_series * SOPS_PER_SERIES
        assert all(len(s.IconImageSequence[0].PixelData) == 4096 for s in series)
        containers = rd.ContentSequence
        assert len(containers) == n_content, (len(containers), n_content)
        n_children = sum(len(c.ContentSequence) for c in containers)
        assert n_children == n_content * CHILDREN_PER_CONTAINER
        print(f"verified with pydicom in {time.time() - t1:.1f}s: {n_series} series, {n_sop} SOP "
              f"refs, {n_content} containers, {n_children} content items")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--mb", type=float, default=50.0, help="approximate size in MiB (default 50)")
    ap.add_argument("--no-verify", action="store_true", help="skip the pydicom read-back check")
    a = ap.parse_args()
    build(a.out, a.mb, not a.no_verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
