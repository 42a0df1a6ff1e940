#!/usr/bin/env python3
"""Real peers for the DICOMRewrite tests (pynetdicom 3.0.4, pydicom 3.0.2).

Servers bind port 0 on 127.0.0.1 and print their port on the first stdout line. Every command
stops by itself after --lifetime seconds.

  scp    Relevant Patient Information SCP (General, Breast, Cardiac) and storage SCP that records
         what it receives as JSON lines to --record: for C-FIND the identifier's Patient ID, Patient's
         Name, Specific Character Set, Other Patient IDs in the sequence, the length of Patient Comments;
         for C-STORE the same plus the transfer syntax. C-FIND answers --pending responses echoing
         the received Patient ID and Name (and --unknown-id adds one match with an ID it makes up).
  find   one RPI C-FIND (--sop general|breast|cardiac); prints JSON {"statuses": [...], "matches": [...]}
  store  one C-STORE of a Secondary Capture data set in --ts be|deflated|le; prints JSON
  get    one Patient Root C-GET for --patient-id; the SCP answers with a C-STORE of a Secondary Capture
         whose Patient ID and Name are the ones it received; prints JSON with the statuses and what the
         SCU was sent
  move   one Patient Root C-MOVE for --patient-id to --destination; the SCP records the Move Destination
         and the calling AE title it received and answers 0xA801 (destination unknown: it knows none);
         prints JSON with the statuses
  tap    a recording TCP relay for one connection: what goes each way is written to PREFIX.c2s / PREFIX.s2c

The SCP also records every A-ABORT it receives, and with --require-calling-aet rejects other calling
AE titles ({"service": "A-ABORT", "source": S, "reason": R}).
find and store with --malformed send a data set that ends inside its last element (Patient ID and
Name before it): find appends the cut element to what pydicom encodes, store sends a Part 10 file's
data set as it is (pynetdicom's STORE_SEND_CHUNKED_DATASET), after --first-good C-STOREs of a good one.
Both print how the association ended: "aborted" and the A-ABORT's [source, reason] they received.
"""
import argparse
import json
import os
import sys
import threading
import time

TEMPLATES = {"general": "9007", "breast": "9000", "cardiac": "3802"}


def lifetime_guard(seconds):
    def stop():
        time.sleep(seconds)
        os._exit(3)
    threading.Thread(target=stop, daemon=True).start()


def sop_class(name):
    from pynetdicom.sop_class import (GeneralRelevantPatientInformationQuery,
                                      BreastImagingRelevantPatientInformationQuery,
                                      CardiacRelevantPatientInformationQuery)
    return {"general": GeneralRelevantPatientInformationQuery,
            "breast": BreastImagingRelevantPatientInformationQuery,
            "cardiac": CardiacRelevantPatientInformationQuery}[name]


def describe(ds):
    out = {}
    for keyword in ("PatientID", "PatientName", "SpecificCharacterSet", "PatientBirthDate", "IssuerOfPatientID"):
        if keyword in ds:
            value = ds[keyword].value
            if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
                value = "\\".join(str(v) for v in value)
            out[keyword] = "" if value is None else str(value)
    if "OtherPatientIDsSequence" in ds:
        out["OtherPatientIDs"] = [str(item.PatientID) for item in ds.OtherPatientIDsSequence if "PatientID" in item]
    if "PatientComments" in ds:
        out["PatientCommentsLength"] = len(str(ds.PatientComments))
    return out


def cmd_scp(args):
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import SecondaryCaptureImageStorage
    from pydicom.dataset import Dataset
    from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
                             DeflatedExplicitVRLittleEndian)

    lock = threading.Lock()

    def record(entry):
        with lock, open(args.record, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def on_find(event):
        query = event.identifier
        entry = {"service": "C-FIND", "sop": str(event.request.AffectedSOPClassUID),
                 "calling": str(event.assoc.requestor.ae_title)}
        entry.update(describe(query))
        record(entry)
        for i in range(args.pending):
            match = Dataset()
            if "SpecificCharacterSet" in query:
                match.SpecificCharacterSet = query.SpecificCharacterSet
            match.PatientName = query.PatientName if "PatientName" in query else ""
            match.PatientID = query.PatientID
            match.PatientBirthDate = "19700101"
            match.PatientSex = "M"
            if "OtherPatientIDsSequence" in query:
                match.OtherPatientIDsSequence = query.OtherPatientIDsSequence
            if "PatientComments" in query:
                match.PatientComments = query.PatientComments
            match.ContentTemplateSequence = query.ContentTemplateSequence
            match.ObservationDateTime = "20260101120000"
            match.ValueType = "CONTAINER"
            yield 0xFF00, match
        if args.unknown_id:
            match = Dataset()
            match.PatientName = "Unknown^Someone"
            match.PatientID = args.unknown_id
            match.ContentTemplateSequence = query.ContentTemplateSequence
            yield 0xFF00, match

    def on_get(event):
        query = event.identifier
        entry = {"service": "C-GET"}
        entry.update(describe(query))
        record(entry)
        yield 1
        from pydicom.dataset import FileMetaDataset

        class Names:
            patient_id = str(query.PatientID)
            patient_name = "Doe^Johnathan" if "PatientName" not in query else str(query.PatientName)
        ds = secondary_capture(Names)
        ds.PatientName = args.get_name or ds.PatientName
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        yield 0xFF00, ds

    def on_move(event):
        entry = {"service": "C-MOVE", "MoveDestination": event.move_destination.decode("ascii").strip()
                 if isinstance(event.move_destination, bytes) else str(event.move_destination).strip(),
                 "calling": event.assoc.requestor.ae_title.strip() if isinstance(event.assoc.requestor.ae_title, str)
                 else event.assoc.requestor.ae_title.decode("ascii").strip()}
        entry.update(describe(event.identifier))
        record(entry)
        yield None, None

    def on_store(event):
        ds = event.dataset
        entry = {"service": "C-STORE", "ts": str(event.context.transfer_syntax)}
        entry.update(describe(ds))
        entry["Rows"] = int(ds.Rows) if "Rows" in ds else None
        entry["PixelBytes"] = len(ds.PixelData) if "PixelData" in ds else 0
        record(entry)
        return 0x0000

    def on_pdu(event):
        if type(event.pdu).__name__ == "A_ABORT_RQ":
            record({"service": "A-ABORT", "source": event.pdu.source, "reason": event.pdu.reason_diagnostic})

    if args.pending + (1 if args.unknown_id else 0) > 1:
        # pynetdicom's Relevant Patient Information service class stops after the first match (Annex Q
        # allows one); answering with its generic C-FIND loop sends every match as a pending response.
        from pynetdicom.service_class import (QueryRetrieveServiceClass,
                                              RelevantPatientInformationQueryServiceClass)
        from pynetdicom.status import QR_FIND_SERVICE_CLASS_STATUS

        def several_pending(self, req, context):
            self.statuses = QR_FIND_SERVICE_CLASS_STATUS
            QueryRetrieveServiceClass._c_find_scp(self, req, context)
        RelevantPatientInformationQueryServiceClass.SCP = several_pending

    ae = AE(ae_title="ARCHIVE")
    ae.maximum_pdu_size = args.max_pdu
    if args.require_calling_aet:
        ae.require_calling_aet = args.require_calling_aet
    syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
    for name in TEMPLATES:
        ae.add_supported_context(sop_class(name), syntaxes)
    ae.add_supported_context(SecondaryCaptureImageStorage,
                             [ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                              ImplicitVRLittleEndian], scu_role=True, scp_role=True)
    from pynetdicom.sop_class import (PatientRootQueryRetrieveInformationModelGet,
                                      PatientRootQueryRetrieveInformationModelMove)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelGet)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelMove)
    handlers = [(evt.EVT_C_FIND, on_find), (evt.EVT_C_STORE, on_store), (evt.EVT_C_GET, on_get),
                (evt.EVT_C_MOVE, on_move), (evt.EVT_PDU_RECV, on_pdu)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    print(server.socket.getsockname()[1], flush=True)
    while True:
        time.sleep(1)


class AbortRecorder:
    """The A-ABORT the SCU received, as [source, reason] (EVT_PDU_RECV)."""

    def __init__(self):
        self.abort = None

    def __call__(self, event):
        if type(event.pdu).__name__ == "A_ABORT_RQ":
            self.abort = [event.pdu.source, event.pdu.reason_diagnostic]


def settle(assoc):
    """After a request got no response: wait (at most 10 s) for the association to be aborted, which
    pynetdicom's reactor thread notes just after the requesting thread sees the response missing."""
    for _ in range(200):
        if assoc.is_aborted or not assoc.is_established:
            return
        time.sleep(0.05)


# (0099,0010) LO announcing 64 bytes of which 4 follow: the data set ends inside this element.
CUT_ELEMENT = b"\x99\x00\x10\x00LO\x40\x00CUT!"


def cmd_find(args):
    from pynetdicom import AE
    from pydicom.dataset import Dataset

    from pynetdicom import evt
    from pydicom.uid import ExplicitVRLittleEndian
    if args.malformed:
        # A broken SCU: what pydicom encodes, then an element cut short (Explicit VR Little Endian only).
        import pynetdicom.association as association
        encode = association.encode

        def broken(ds, implicit, little, deflated=False):
            return encode(ds, implicit, little, deflated) + CUT_ELEMENT
        association.encode = broken
    ae = AE(ae_title=args.calling)
    ae.maximum_pdu_size = args.max_pdu
    if args.malformed:
        ae.add_requested_context(sop_class(args.sop), [ExplicitVRLittleEndian])
    else:
        ae.add_requested_context(sop_class(args.sop))
    aborts = AbortRecorder()
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.called, max_pdu=args.max_pdu,
                         evt_handlers=[(evt.EVT_PDU_RECV, aborts)])
    if not assoc.is_established:
        print(json.dumps({"error": "association not established", "rejected": bool(assoc.is_rejected)}))
        return 2
    ds = Dataset()
    if args.charset:
        ds.SpecificCharacterSet = args.charset
    ds.PatientName = args.patient_name
    ds.PatientID = args.patient_id
    if args.other_id:
        items = []
        for other in args.other_id:
            item = Dataset()
            item.PatientID = other
            item.TypeOfPatientID = "TEXT"
            items.append(item)
        ds.OtherPatientIDsSequence = items
    if args.comments_size:
        ds.PatientComments = ("Comment " * (args.comments_size // 8 + 1))[:args.comments_size]
    item = Dataset()
    item.MappingResource = "DCMR"
    item.TemplateIdentifier = TEMPLATES[args.sop]
    ds.ContentTemplateSequence = [item]
    statuses, matches = [], []
    for status, identifier in assoc.send_c_find(ds, sop_class(args.sop)):
        if status is None or "Status" not in status:
            settle(assoc)
            if assoc.is_aborted:
                print(json.dumps({"statuses": statuses, "aborted": True, "abort": aborts.abort}))
                return 0
            print(json.dumps({"error": "no response"}))
            assoc.abort()
            return 2
        statuses.append(int(status.Status))
        if identifier is not None:
            matches.append(describe(identifier))
    assoc.release()
    print(json.dumps({"statuses": statuses, "matches": matches}, ensure_ascii=False))
    return 0


def secondary_capture(args):
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid, SecondaryCaptureImageStorage
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = args.patient_name
    ds.PatientID = args.patient_id
    ds.PatientBirthDate = "19700101"
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 64
    ds.Columns = 64
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(256)) * 32  # 64 x 64 x 2 bytes
    if getattr(args, "identifiers", False):
        add_identifiers(ds, args)
    return ds


def add_identifiers(ds, args):
    """What the Basic Profile must not let through: more identifying attributes, and a private
    block whose sequence holds the Patient ID and Name, as UN of defined length (the decoder cannot
    see into it: Implicit VR items, PS3.5 6.2.2)."""
    import struct
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.dataset import Dataset
    ds.AccessionNumber = args.accession
    ds.ReferringPhysicianName = args.referring
    ds.MedicalAlerts = args.alerts
    ds.InstitutionName = args.institution
    ds.StudyID = "S1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if args.uid:
        ds.SOPInstanceUID = args.uid
    item = Dataset()
    item.PatientID = args.patient_id
    item.PatientName = args.patient_name
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = True
    write_dataset(buffer, item)
    body = buffer.getvalue()
    items = b"\xfe\xff\x00\xe0" + struct.pack("<I", len(body)) + body
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x10, "UN", items)


def cmd_store_run(args):
    from pynetdicom import AE
    from pydicom.uid import (ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian,
                             SecondaryCaptureImageStorage)
    from pydicom.uid import ImplicitVRLittleEndian
    syntax = {"be": ExplicitVRBigEndian, "deflated": DeflatedExplicitVRLittleEndian, "le": ExplicitVRLittleEndian,
              "implicit": ImplicitVRLittleEndian}[args.ts]
    from pynetdicom import evt
    ae = AE(ae_title=args.calling)
    ae.maximum_pdu_size = args.max_pdu
    ae.add_requested_context(SecondaryCaptureImageStorage, [syntax])
    aborts = AbortRecorder()
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.called, max_pdu=args.max_pdu,
                         evt_handlers=[(evt.EVT_PDU_RECV, aborts)])
    if not assoc.is_established:
        print(json.dumps({"error": "association not established"}))
        return 2
    from pydicom.dataset import FileMetaDataset
    if args.malformed:
        statuses = []
        good = secondary_capture(args)
        good.PatientID = args.good_patient_id
        good.file_meta = FileMetaDataset()
        good.file_meta.TransferSyntaxUID = syntax
        for i in range(args.first_good):
            good.SOPInstanceUID = f"{good.SOPInstanceUID.rsplit('.', 1)[0]}.{i + 1}"
            status = assoc.send_c_store(good, msg_id=i + 1)
            statuses.append(int(status.Status) if status is not None and "Status" in status else None)
            if statuses[-1] is None:
                settle(assoc)
                break
        from pynetdicom import _config
        _config.STORE_SEND_CHUNKED_DATASET = True
        if assoc.is_established:
            status = assoc.send_c_store(malformed_file(args, syntax), msg_id=args.first_good + 1)
            statuses.append(int(status.Status) if status is not None and "Status" in status else None)
            if statuses[-1] is None:
                settle(assoc)
        if assoc.is_established:
            assoc.release()
        print(json.dumps({"statuses": statuses, "aborted": bool(assoc.is_aborted), "abort": aborts.abort}))
        return 0
    ds = secondary_capture(args)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    try:
        status = assoc.send_c_store(ds)
    except Exception as error:
        assoc.abort()
        print(json.dumps({"error": str(error)}))
        return 2
    assoc.release()
    print(json.dumps({"status": int(status.Status) if status is not None and "Status" in status else None,
                      "ts": str(syntax)}))
    return 0


def cmd_orthanc_dump(args):
    import os
    import urllib.request
    base = "http://127.0.0.1:%d" % args.http

    def get(path):
        with urllib.request.urlopen(base + path, timeout=30) as response:
            return response.read()
    os.makedirs(args.out, exist_ok=True)
    summary = []
    for instance in json.loads(get("/instances")):
        data = get("/instances/%s/file" % instance)
        with open(os.path.join(args.out, instance + ".dcm"), "wb") as f:
            f.write(data)
        tags = get("/instances/%s/tags" % instance)
        with open(os.path.join(args.out, instance + ".json"), "wb") as f:
            f.write(tags)
        simple = json.loads(get("/instances/%s/simplified-tags" % instance))
        summary.append({k: simple.get(k) for k in ("PatientID", "PatientName", "AccessionNumber", "SOPInstanceUID",
                                                    "PatientIdentityRemoved", "DeidentificationMethod")})
    for path in ("/patients", "/studies"):
        with open(os.path.join(args.out, path.strip("/") + ".json"), "wb") as f:
            f.write(get(path + "?expand"))
    print(json.dumps(summary))
    return 0


def malformed_file(args, syntax):
    """A Part 10 file whose data set (Explicit VR Little Endian, the patient's ID and name first)
    ends inside its last element; pynetdicom sends a file's data set as it is."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import generate_uid, SecondaryCaptureImageStorage, PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = args.patient_name
    ds.PatientID = args.patient_id
    body = DicomBytesIO()
    body.is_little_endian = True
    body.is_implicit_VR = False
    write_dataset(body, ds)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    out = DicomBytesIO()
    out.is_little_endian = True
    out.is_implicit_VR = False
    out.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    path = os.path.abspath("malformed.dcm")
    with open(path, "wb") as f:
        f.write(out.getvalue() + body.getvalue() + CUT_ELEMENT)
    return path


def cmd_tap(args):
    import socket
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(listener.getsockname()[1], flush=True)
    client, _ = listener.accept()
    upstream = socket.create_connection(("127.0.0.1", args.upstream))
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pump(source, sink, path):
        with open(path, "wb") as out:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                out.write(data)
                out.flush()
                try:
                    sink.sendall(data)
                except OSError:
                    break
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threads = [threading.Thread(target=pump, args=(client, upstream, args.prefix + ".c2s")),
               threading.Thread(target=pump, args=(upstream, client, args.prefix + ".s2c"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("done", flush=True)
    return 0


def cmd_get(args):
    from pynetdicom import AE, evt, build_role
    from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelGet, SecondaryCaptureImageStorage
    from pydicom.uid import ExplicitVRLittleEndian

    received = []

    def on_store(event):
        entry = describe(event.dataset)
        entry["PixelBytes"] = len(event.dataset.PixelData) if "PixelData" in event.dataset else 0
        received.append(entry)
        return 0x0000

    ae = AE(ae_title=args.calling)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(SecondaryCaptureImageStorage, [ExplicitVRLittleEndian])
    role = build_role(SecondaryCaptureImageStorage, scp_role=True)
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.called, max_pdu=args.max_pdu, ext_neg=[role],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    statuses = retrieve(assoc, args.patient_id,
                        lambda ds: assoc.send_c_get(ds, PatientRootQueryRetrieveInformationModelGet))
    if statuses is None:
        return 2
    print(json.dumps({"statuses": statuses, "stored": received}, ensure_ascii=False))
    return 0


def retrieve(assoc, patient_id, send):
    """A Patient Root retrieve of one patient on an association: the statuses of its responses,
    or None (the error printed) when the association or a response failed."""
    from pydicom.dataset import Dataset
    if not assoc.is_established:
        print(json.dumps({"error": "association not established"}))
        return None
    ds = Dataset()
    ds.QueryRetrieveLevel = "PATIENT"
    ds.PatientID = patient_id
    statuses = []
    for status, _ in send(ds):
        if status is None:
            print(json.dumps({"error": "no response"}))
            assoc.abort()
            return None
        statuses.append(int(status.Status))
    assoc.release()
    return statuses


def cmd_move(args):
    from pynetdicom import AE
    from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelMove

    ae = AE(ae_title=args.calling)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.called)
    statuses = retrieve(assoc, args.patient_id,
                        lambda ds: assoc.send_c_move(ds, args.destination, PatientRootQueryRetrieveInformationModelMove))
    if statuses is None:
        return 2
    print(json.dumps({"statuses": statuses}))
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=int, default=60)
    sub = parser.add_subparsers(dest="command", required=True)
    scp = sub.add_parser("scp")
    scp.add_argument("--record", required=True)
    scp.add_argument("--pending", type=int, default=3)
    scp.add_argument("--unknown-id", default="")
    scp.add_argument("--max-pdu", type=int, default=16382)
    scp.add_argument("--get-name", default="", help="Patient's Name of the instance a C-GET returns")
    scp.add_argument("--require-calling-aet", action="append", default=[],
                     help="reject other calling AE titles (A-ASSOCIATE-RJ 1/1/3)")
    find = sub.add_parser("find")
    find.add_argument("port", type=int)
    find.add_argument("--sop", default="general", choices=sorted(TEMPLATES))
    find.add_argument("--patient-id", required=True)
    find.add_argument("--patient-name", default="")
    find.add_argument("--charset", default="")
    find.add_argument("--other-id", action="append", default=[])
    find.add_argument("--comments-size", type=int, default=0)
    find.add_argument("--max-pdu", type=int, default=16382)
    find.add_argument("--calling", default="MODALITY")
    find.add_argument("--called", default="ARCHIVE")
    find.add_argument("--malformed", action="store_true")
    get = sub.add_parser("get")
    get.add_argument("port", type=int)
    get.add_argument("--patient-id", required=True)
    get.add_argument("--max-pdu", type=int, default=16382)
    get.add_argument("--calling", default="MODALITY")
    get.add_argument("--called", default="ARCHIVE")
    move = sub.add_parser("move")
    move.add_argument("port", type=int)
    move.add_argument("--patient-id", required=True)
    move.add_argument("--destination", required=True)
    move.add_argument("--calling", default="MODALITY")
    move.add_argument("--called", default="ARCHIVE")
    store = sub.add_parser("store")
    store.add_argument("port", type=int)
    store.add_argument("--ts", choices=["be", "deflated", "le", "implicit"], required=True)
    store.add_argument("--identifiers", action="store_true", help="more identifying attributes and a private UN sequence")
    store.add_argument("--accession", default="ACC-55821-QW")
    store.add_argument("--referring", default="Referrer^Hortensia")
    store.add_argument("--alerts", default="ALERT-PENICILLIN-ZX")
    store.add_argument("--institution", default="Saint Hidden Hospital")
    store.add_argument("--uid", default="")
    store.add_argument("--patient-id", required=True)
    store.add_argument("--patient-name", default="Doe^John")
    store.add_argument("--max-pdu", type=int, default=16382)
    store.add_argument("--calling", default="MODALITY")
    store.add_argument("--called", default="ARCHIVE")
    store.add_argument("--malformed", action="store_true")
    store.add_argument("--first-good", type=int, default=0, help="good C-STOREs before the malformed one")
    store.add_argument("--good-patient-id", default="GOOD-1")
    dump = sub.add_parser("orthanc-dump", help="every instance Orthanc holds: its file and its tags, through the REST API")
    dump.add_argument("http", type=int)
    dump.add_argument("out")
    tap = sub.add_parser("tap")
    tap.add_argument("upstream", type=int)
    tap.add_argument("prefix")
    args = parser.parse_args()
    lifetime_guard(args.lifetime)
    if args.command == "scp":
        return cmd_scp(args)
    if args.command == "find":
        return cmd_find(args)
    if args.command == "get":
        return cmd_get(args)
    if args.command == "move":
        return cmd_move(args)
    if args.command == "tap":
        return cmd_tap(args)
    if args.command == "orthanc-dump":
        return cmd_orthanc_dump(args)
    return cmd_store_run(args)


if __name__ == "__main__":
    sys.exit(main() or 0)
