#!/usr/bin/env python3
"""Writes the Part 10 demo file of the relevant patient information store (pydicom 3.0.2).

demo/sr/astrom-eva-tid9007.dcm: a Comprehensive SR document whose content tree is the TID 9007 structure that
`dicomtap serve` builds (docs/STORE.md), for a patient who is not in demo/patients.json. Specific Character Set
ISO_IR 100 (Latin-1), so that the importer's character set handling is exercised. Deterministic: fixed UIDs and
dates, so re-running the script reproduces the committed file byte for byte.

Usage: python3 tools/make_demo_data.py [OUTPUT_DIR]   (default: demo/sr next to this script's repository)
"""
import os
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
ROOT = "1.2.826.0.1.3680043.10.1564"  # fixed demo UIDs (not registered; demo data only)


def code(value, scheme, meaning):
    ds = Dataset()
    ds.CodeValue = value
    ds.CodingSchemeDesignator = scheme
    ds.CodeMeaning = meaning
    return ds


def item(relationship, value_type, concept, **value):
    ds = Dataset()
    ds.RelationshipType = relationship
    ds.ValueType = value_type
    ds.ConceptNameCodeSequence = [code(*concept)]
    if value_type == "CONTAINER":
        ds.ContinuityOfContent = "SEPARATE"
    if "text" in value:
        ds.TextValue = value["text"]
    if "code" in value:
        ds.ConceptCodeSequence = [code(*value["code"])]
    if "datetime" in value:
        ds.DateTime = value["datetime"]
    if "numeric" in value:
        measured = Dataset()
        measured.MeasurementUnitsCodeSequence = [code(*value["units"])]
        measured.NumericValue = value["numeric"]
        ds.MeasuredValueSequence = [measured]
    if "children" in value:
        ds.ContentSequence = value["children"]
    return ds


def sr_document():
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = ROOT + ".3.1"
    ds.StudyInstanceUID = ROOT + ".1.1"
    ds.SeriesInstanceUID = ROOT + ".2.1"
    ds.StudyDate = ds.ContentDate = "20250318"
    ds.StudyTime = ds.ContentTime = "081500"
    ds.AccessionNumber = ""
    ds.Modality = "SR"
    ds.Manufacturer = "DICOMTap demo"
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientName = "Åström^Eva"
    ds.PatientID = "SR-0001"
    ds.IssuerOfPatientID = "HOSP-A"
    ds.PatientBirthDate = "19620927"
    ds.PatientSex = "F"
    other = Dataset()
    other.PatientID = "19620927-1234"
    other.IssuerOfPatientID = "SE-PERSONNUMMER"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = [other]
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code("111517", "DCM", "Relevant Patient Information")]
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "9007"
    ds.ContentTemplateSequence = [template]
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ObservationDateTime = "20250318081500"
    ds.ContentSequence = [
        item("CONTAINS", "TEXT", ("11329-0", "LN", "History"),
             text="Hypertoni sedan 2015; remiss för DT buk på grund av smärta i höger fossa."),
        item("CONTAINS", "CODE", ("111532", "DCM", "Pregnancy Status"), code=("60001007", "SCT", "not pregnant")),
        item("CONTAINS", "CONTAINER", ("111512", "DCM", "Medication History"), children=[
            item("CONTAINS", "CODE", ("111516", "DCM", "Medication Type"), code=("387458008", "SCT", "Aspirin"),
                 children=[item("HAS PROPERTIES", "DATETIME", ("111526", "DCM", "DateTime Started"), datetime="20150601")]),
        ]),
        item("CONTAINS", "CONTAINER", ("111513", "DCM", "Relevant Previous Procedures"), children=[
            item("CONTAINS", "CODE", ("111531", "DCM", "Previous Procedure"),
                 code=("433236007", "SCT", "Transthoracic echocardiography"),
                 children=[item("HAS PROPERTIES", "DATETIME", ("122146", "DCM", "Procedure DateTime"), datetime="20231004"),
                           item("HAS PROPERTIES", "TEXT", ("121106", "DCM", "Comment"), text="normal LV function")]),
        ]),
        item("CONTAINS", "CONTAINER", ("111514", "DCM", "Relevant Indicated Problems"), children=[
            item("CONTAINS", "CODE", ("111533", "DCM", "Indicated Problem"), code=("38341003", "SCT", "Hypertension"),
                 children=[item("HAS PROPERTIES", "DATETIME", ("111535", "DCM", "DateTime problem observed"),
                                datetime="2015")]),
            item("CONTAINS", "CODE", ("111533", "DCM", "Indicated Problem"),
                 code=("293637006", "SCT", "Allergy to contrast media"),
                 children=[item("HAS PROPERTIES", "TEXT", ("121106", "DCM", "Comment"), text="lindrig urtikaria 2019")]),
        ]),
        item("CONTAINS", "NUM", ("33914-3", "LN", "Glomerular Filtration Rate (MDRD)"), numeric="72",
             units=("mL/min/{1.73_m2}", "UCUM", "mL/min/{1.73_m2}")),
    ]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = ROOT + ".9"
    meta.ImplementationVersionName = "DICOMTAP_DEMO"
    ds.file_meta = meta
    return ds


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "demo", "sr")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "astrom-eva-tid9007.dcm")
    sr_document().save_as(path, enforce_file_format=True)
    print(path)


if __name__ == "__main__":
    main()
