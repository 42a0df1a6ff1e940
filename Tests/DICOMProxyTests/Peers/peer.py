#!/usr/bin/env python3
"""Real peers for the DICOMProxy tests (pynetdicom 3.0.4, pydicom 3.0.2).

Every server binds port 0 on 127.0.0.1 and prints the port it got on its first stdout line.
Every command stops by itself after --lifetime seconds, so a forgotten process cannot linger.

  scp     SCP for Verification, General Relevant Patient Information Query (one pending match)
          and a few storage SOP classes (data sets written to --store-dir). Faults on request:
          --require-calling-aet AE (A-ASSOCIATE-RJ 1/1/3 for any other calling AE title),
          --abort-on-find user|provider-N (A-ABORT from the C-FIND handler: source 0, or source 2
          reason N), --hang-on-find (prints FIND-RECEIVED and never answers: the test kills it),
          --match-comments N (a Patient Comments of N characters in the match, for a large PDU).
          Prints ABORT-RECEIVED source reason for an A-ABORT it receives.
  find    RPI C-FIND (PatientName '', PatientID, ContentTemplateSequence DCMR/9007); prints JSON,
          with how the association ended (rejected with result/source/reason, aborted with source/reason)
  session echo + RPI C-FIND + C-STORE of --file on one association (--max-pdu: the SCU's maximum length);
          prints JSON, with how the association ended
  echo    N concurrent associations, each one C-ECHO; prints JSON
  findbench  N RPI C-FINDs on one association; prints median and p99 round trip in ms
  tap     a recording TCP relay for one connection: what goes each way is written to PREFIX.c2s / PREFIX.s2c
  dataset writes a large Secondary Capture data set (Explicit VR Little Endian) for storescu
"""
import argparse
import json
import os
import socket
import sys
import threading
import time

RPI_GENERAL = "1.2.840.10008.5.1.4.37.1"


def lifetime_guard(seconds):
    def stop():
        time.sleep(seconds)
        os._exit(3)
    threading.Thread(target=stop, daemon=True).start()


def rpi_query(patient_id):
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = patient_id
    item = Dataset()
    item.MappingResource = "DCMR"
    item.TemplateIdentifier = "9007"
    ds.ContentTemplateSequence = [item]
    return ds


def rpi_match(patient_id):
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.PatientName = "Doe^John"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    item = Dataset()
    item.MappingResource = "DCMR"
    item.TemplateIdentifier = "9007"
    ds.ContentTemplateSequence = [item]
    return ds


def cmd_scp(args):
    from pynetdicom import AE, evt, StoragePresentationContexts
    from pynetdicom.sop_class import (GeneralRelevantPatientInformationQuery, Verification,
                                      SecondaryCaptureImageStorage, PatientRootQueryRetrieveInformationModelFind)
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    def on_find(event):
        query = event.identifier
        if args.hang_on_find:
            print("FIND-RECEIVED", flush=True)
            threading.Event().wait()
        if args.abort_on_find == "user":
            event.assoc.abort()
            return
        if args.abort_on_find and args.abort_on_find.startswith("provider-"):
            # A-P-ABORT (source 2) with the given reason, then the association is over.
            event.assoc.acse.send_ap_abort(int(args.abort_on_find.split("-")[1]))
            event.assoc.kill()
            return
        if event.request.AffectedSOPClassUID == PatientRootQueryRetrieveInformationModelFind:
            # Patient Root: three patients (as DCMTK findscu users query a PACS).
            from pydicom.dataset import Dataset
            names = ["Doe^John", "Roe^Jane", "Poe^Edgar"]
            if args.matches:
                names = [f"Patient^{i + 1}" for i in range(args.matches)]
            for i, name in enumerate(names):
                match = Dataset()
                match.QueryRetrieveLevel = "PATIENT"
                match.PatientName = name
                match.PatientID = f"PID-{i + 1}"
                yield 0xFF00, match
            return
        match = rpi_match(str(query.PatientID))
        if args.match_comments:
            match.PatientComments = ("Comment " * (args.match_comments // 8 + 1))[:args.match_comments]
        yield 0xFF00, match

    def on_store(event):
        if args.store_dir:
            path = os.path.join(args.store_dir, f"{event.request.AffectedSOPInstanceUID}.dcm")
            with open(path, "wb") as f:
                f.write(event.encoded_dataset())
        return 0x0000

    def on_abort(event):
        print("ABORTED", flush=True)

    def on_open(event):
        if args.nodelay:
            no_delay(event.assoc)

    def on_pdu(event):
        if type(event.pdu).__name__ == "A_ABORT_RQ":
            print(f"ABORT-RECEIVED {event.pdu.source} {event.pdu.reason_diagnostic}", flush=True)

    ae = AE(ae_title="ARCHIVE")
    ae.maximum_pdu_size = args.max_pdu
    ae.add_supported_context(Verification)
    ae.add_supported_context(GeneralRelevantPatientInformationQuery)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(SecondaryCaptureImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    if args.require_calling_aet:
        ae.require_calling_aet = args.require_calling_aet
    ae.maximum_associations = 64
    ae.network_timeout = 30
    ae.acse_timeout = 30
    handlers = [(evt.EVT_C_FIND, on_find), (evt.EVT_C_STORE, on_store), (evt.EVT_ABORTED, on_abort),
                (evt.EVT_CONN_OPEN, on_open), (evt.EVT_PDU_RECV, on_pdu)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    print(server.server_address[1], flush=True)
    try:
        if args.until_killed:
            threading.Event().wait()
        else:
            sys.stdin.read()  # until the test closes stdin or kills us
    finally:
        server.shutdown()


def no_delay(assoc):
    """TCP_NODELAY on the association's socket: pynetdicom writes a message's command and data
    set separately, and Nagle's algorithm then waits for the peer's delayed ACK (40 ms)."""
    sock = assoc.dul.socket.socket
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def responses_json(responses):
    out = []
    for status, identifier in responses:
        out.append({
            "status": int(status.Status) if status is not None and "Status" in status else None,
            "identifier": json.loads(identifier.to_json()) if identifier is not None else None,
        })
    return out


def make_ae():
    from pynetdicom import AE
    ae = AE(ae_title="MODALITY")
    ae.acse_timeout = 10
    ae.dimse_timeout = 10
    ae.network_timeout = 10
    return ae


class EndRecorder:
    """The association PDUs that end an association, as the SCU received them (EVT_PDU_RECV)."""

    def __init__(self):
        self.rejection = None
        self.abort = None

    def __call__(self, event):
        name = type(event.pdu).__name__
        if name == "A_ASSOCIATE_RJ":
            self.rejection = [event.pdu.result, event.pdu.source, event.pdu.reason_diagnostic]
        elif name == "A_ABORT_RQ":
            self.abort = [event.pdu.source, event.pdu.reason_diagnostic]

    def fields(self, assoc):
        return {"rejected": bool(assoc.is_rejected), "rejection": self.rejection,
                "aborted": bool(assoc.is_aborted), "abort": self.abort}


def cmd_find(args):
    from pynetdicom import evt
    from pynetdicom.sop_class import GeneralRelevantPatientInformationQuery
    ae = make_ae()
    if args.calling:
        ae.ae_title = args.calling
    ae.maximum_pdu_size = args.max_pdu
    ae.add_requested_context(GeneralRelevantPatientInformationQuery)
    end = EndRecorder()
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.called, max_pdu=args.max_pdu,
                         evt_handlers=[(evt.EVT_PDU_RECV, end)])
    if not assoc.is_established:
        print(json.dumps({"established": False, **end.fields(assoc)}))
        return
    responses = list(assoc.send_c_find(rpi_query(args.patient_id), GeneralRelevantPatientInformationQuery))
    if not responses or responses[-1][0] is None or "Status" not in responses[-1][0]:
        settle(assoc)
    if assoc.is_established:
        assoc.release()
    print(json.dumps({"established": True, "responses": responses_json(responses), **end.fields(assoc)}))


def cmd_findmany(args):
    """A Patient Root C-FIND for every patient: counts the pending responses (the matches)."""
    from pydicom.dataset import Dataset
    from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind
    ae = make_ae()
    ae.dimse_timeout = 120
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="ARCHIVE")
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return
    no_delay(assoc)
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = "*"
    query.PatientName = ""
    pending, final, last = 0, None, None
    for status, identifier in assoc.send_c_find(query, PatientRootQueryRetrieveInformationModelFind):
        code = int(status.Status) if status is not None and "Status" in status else None
        if code in (0xFF00, 0xFF01):
            pending += 1
            last = str(identifier.PatientID) if identifier is not None else None
        else:
            final = code
    if assoc.is_established:
        assoc.release()
    print(json.dumps({"established": True, "pending": pending, "final": final, "lastPatientID": last}))


def cmd_session(args):
    from pynetdicom import evt
    from pydicom import dcmread
    from pynetdicom.sop_class import (GeneralRelevantPatientInformationQuery, Verification,
                                      SecondaryCaptureImageStorage, PatientRootQueryRetrieveInformationModelFind)
    from pydicom.uid import ExplicitVRLittleEndian
    ae = make_ae()
    ae.add_requested_context(Verification)
    ae.add_requested_context(GeneralRelevantPatientInformationQuery)
    ae.add_requested_context(SecondaryCaptureImageStorage, ExplicitVRLittleEndian)
    ae.maximum_pdu_size = args.max_pdu
    end = EndRecorder()
    assoc = ae.associate("127.0.0.1", args.port, ae_title="ARCHIVE", max_pdu=args.max_pdu,
                         evt_handlers=[(evt.EVT_PDU_RECV, end)])
    if not assoc.is_established:
        print(json.dumps({"established": False, **end.fields(assoc)}))
        return
    echo = assoc.send_c_echo()
    if status_of(echo) is None:
        settle(assoc)
    find = list(assoc.send_c_find(rpi_query(args.patient_id), GeneralRelevantPatientInformationQuery)) \
        if assoc.is_established else []
    if find and status_of(find[-1][0]) is None:
        settle(assoc)
    store = assoc.send_c_store(dcmread(args.file)) if assoc.is_established else None
    if store is not None and status_of(store) is None:
        settle(assoc)
    if assoc.is_established:
        assoc.release()
    print(json.dumps({"established": True, "echo": status_of(echo), "find": responses_json(find),
                      "store": status_of(store), **end.fields(assoc)}))


def settle(assoc):
    """After a request got no response: wait (at most 10 s) for the association to be aborted, which
    pynetdicom's reactor thread notes just after the requesting thread sees the response missing."""
    for _ in range(200):
        if assoc.is_aborted or not assoc.is_established:
            return
        time.sleep(0.05)


def status_of(response):
    """A response's Status, or None when there was none (the association was aborted)."""
    return int(response.Status) if response is not None and "Status" in response else None


def cmd_echo(args):
    from pynetdicom.sop_class import Verification
    results = [None] * args.count

    def one(i):
        ae = make_ae()
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", args.port, ae_title=f"ECHO{i:02d}")
        if not assoc.is_established:
            results[i] = "not established"
            return
        status = assoc.send_c_echo()
        assoc.release()
        results[i] = int(status.Status) if status is not None and "Status" in status else "no response"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(results))


def cmd_findbench(args):
    from pynetdicom.sop_class import GeneralRelevantPatientInformationQuery
    ae = make_ae()
    ae.add_requested_context(GeneralRelevantPatientInformationQuery)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="ARCHIVE")
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return
    if not args.default_socket:
        no_delay(assoc)
    query = rpi_query("1234567")
    times = []
    for _ in range(args.count):
        start = time.perf_counter()
        responses = list(assoc.send_c_find(query, GeneralRelevantPatientInformationQuery))
        times.append((time.perf_counter() - start) * 1000)
        if not responses or responses[-1][0] is None or responses[-1][0].Status != 0:
            print(json.dumps({"established": True, "error": "query failed"}))
            return
    assoc.release()
    times.sort()
    print(json.dumps({"established": True, "count": len(times), "median_ms": times[len(times) // 2],
                      "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))]}))


def cmd_tap(args):
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


def cmd_dataset(args):
    import random
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid, SecondaryCaptureImageStorage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Large^Dataset"
    ds.PatientID = args.patient_id
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = args.rows
    ds.Columns = args.columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = random.Random(20260101).randbytes(args.rows * args.columns * 2)
    ds.save_as(args.out, enforce_file_format=True)
    print(os.path.getsize(args.out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=60)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scp")
    p.add_argument("--store-dir")
    p.add_argument("--nodelay", action="store_true")
    p.add_argument("--until-killed", action="store_true", help="ignore stdin; run until killed or --lifetime")
    p.add_argument("--max-pdu", type=int, default=16384)
    p.add_argument("--require-calling-aet", action="append", default=[])
    p.add_argument("--abort-on-find", default="", help="user | provider-N")
    p.add_argument("--hang-on-find", action="store_true")
    p.add_argument("--match-comments", type=int, default=0)
    p.add_argument("--matches", type=int, default=0, help="Patient Root C-FIND: answer this many patients (default 3)")
    p = sub.add_parser("findmany")
    p.add_argument("port", type=int)
    p = sub.add_parser("find")
    p.add_argument("port", type=int)
    p.add_argument("--patient-id", default="1234567")
    p.add_argument("--called", default="ARCHIVE")
    p.add_argument("--calling", default="")
    p.add_argument("--max-pdu", type=int, default=16382)
    p = sub.add_parser("session")
    p.add_argument("port", type=int)
    p.add_argument("--file", required=True)
    p.add_argument("--patient-id", default="1234567")
    p.add_argument("--max-pdu", type=int, default=16384)
    p = sub.add_parser("echo")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, default=30)
    p = sub.add_parser("findbench")
    p.add_argument("port", type=int)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--default-socket", action="store_true",
                   help="leave Nagle's algorithm on, as pynetdicom does by default")
    p = sub.add_parser("tap")
    p.add_argument("upstream", type=int)
    p.add_argument("prefix")
    p = sub.add_parser("dataset")
    p.add_argument("out")
    p.add_argument("--rows", type=int, default=2048)
    p.add_argument("--columns", type=int, default=2816)
    p.add_argument("--patient-id", default="LARGE-1")
    args = parser.parse_args()
    lifetime_guard(args.lifetime)
    {"scp": cmd_scp, "find": cmd_find, "session": cmd_session, "echo": cmd_echo, "findbench": cmd_findbench, "tap": cmd_tap, "findmany": cmd_findmany,
     "dataset": cmd_dataset}[args.command](args)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
