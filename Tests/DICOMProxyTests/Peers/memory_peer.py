#!/usr/bin/env python3
"""Peers for the proxy's bounded-memory tests (pynetdicom 3.0.4, pydicom 3.0.2).

  image   writes a Part 10 CT-like image (Explicit VR Little Endian) of about --mb megabytes of
          pixel data, with --patient-id and a fresh SOP Instance UID, for DCMTK storescu
  bomb    writes a Part 10 file in Deflated Explicit VR Little Endian whose data set inflates to
          --inflated-mb megabytes (zeros: a few hundred KB deflated), deflated piece by piece so
          that this script never holds it inflated
  store   pynetdicom SCU: C-STOREs the data set of each given Part 10 file as it is in the file
          (its own transfer syntax, STORE_SEND_CHUNKED_DATASET) on one association; prints JSON
          with each status and how the association ended
"""
import argparse
import json
import os
import struct
import sys
import threading
import time
import zlib


def lifetime_guard(seconds):
    def stop():
        time.sleep(seconds)
        os._exit(3)
    threading.Thread(target=stop, daemon=True).start()


def base_dataset(patient_id):
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid, SecondaryCaptureImageStorage
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.PatientName = "Doe^Memory"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    return ds


def file_meta(ds, transfer_syntax):
    from pydicom.dataset import FileMetaDataset
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def cmd_image(args):
    from pydicom.uid import ExplicitVRLittleEndian
    ds = base_dataset(args.patient_id)
    columns = 4096
    rows = max(1, args.mb * 1024 * 1024 // (columns * 2))
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(256)) * (rows * columns * 2 // 256)
    ds.file_meta = file_meta(ds, ExplicitVRLittleEndian)
    ds.save_as(args.path, enforce_file_format=True)
    print(json.dumps({"path": args.path, "sopInstanceUID": str(ds.SOPInstanceUID), "bytes": os.path.getsize(args.path)}))


def cmd_bomb(args):
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian
    ds = base_dataset(args.patient_id)
    head = DicomBytesIO()
    head.is_little_endian = True
    head.is_implicit_VR = False
    write_dataset(head, ds)
    size = args.inflated_mb * 1024 * 1024
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    with open(args.path, "wb") as f:
        f.write(b"\0" * 128 + b"DICM")
        meta = DicomBytesIO()
        meta.is_little_endian = True
        meta.is_implicit_VR = False
        write_file_meta_info(meta, file_meta(ds, DeflatedExplicitVRLittleEndian), enforce_standard=True)
        f.write(meta.getvalue())
        written = 0
        written += len(out := deflater.compress(head.getvalue()))
        f.write(out)
        # (7FE0,0010) OB with the value length in the header, then zeros in pieces.
        header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, size)
        out = deflater.compress(header)
        f.write(out)
        written += len(out)
        zeros = b"\0" * (1 << 20)
        for _ in range(args.inflated_mb):
            out = deflater.compress(zeros)
            f.write(out)
            written += len(out)
        out = deflater.flush()
        f.write(out)
        written += len(out)
        if written % 2:
            f.write(b"\0")
    print(json.dumps({"path": args.path, "sopInstanceUID": str(ds.SOPInstanceUID),
                      "bytes": os.path.getsize(args.path), "inflated": size}))


def cmd_store(args):
    from pynetdicom import AE, _config
    from pydicom import dcmread
    _config.STORE_SEND_CHUNKED_DATASET = True
    metas = [dcmread(p, stop_before_pixels=True) for p in args.files]
    ae = AE(ae_title="MODALITY")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 90
    for m in metas:
        ae.add_requested_context(m.SOPClassUID, m.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="ARCHIVE")
    out = {"established": assoc.is_established, "statuses": []}
    if assoc.is_established:
        for path in args.files:
            status = assoc.send_c_store(path)
            out["statuses"].append(int(status.Status) if status and "Status" in status else None)
            if not assoc.is_established:
                break
        if assoc.is_established:
            assoc.release()
    out["aborted"] = assoc.is_aborted
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=int, default=300)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("image")
    p.add_argument("path")
    p.add_argument("--mb", type=int, default=8)
    p.add_argument("--patient-id", default="MEM-0001")
    p = sub.add_parser("bomb")
    p.add_argument("path")
    p.add_argument("--inflated-mb", type=int, default=256)
    p.add_argument("--patient-id", default="MEM-0002")
    p = sub.add_parser("store")
    p.add_argument("port", type=int)
    p.add_argument("files", nargs="+")
    args = parser.parse_args()
    lifetime_guard(args.lifetime)
    {"image": cmd_image, "bomb": cmd_bomb, "store": cmd_store}[args.command](args)


if __name__ == "__main__":
    main()
