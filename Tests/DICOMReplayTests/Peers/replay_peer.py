#!/usr/bin/env python3
"""Real peers for the DICOMReplay tests (pynetdicom 3.0.4, pydicom 3.0.2).

Every server binds port 0 on 127.0.0.1 and prints the port it got on its first stdout line.
Every command stops by itself after --lifetime seconds, so a forgotten process cannot linger.

  scp      SCP "ARCHIVE" for Verification, General Relevant Patient Information Query (one
           pending match with a content item) and Patient Root Q/R Find (--matches patients).
           --variant changed answers differently: the RPI match's PatientName is Doe^Jane and
           Patient Root returns one patient fewer. --reject rejects every association
           (calling AE title not recognized); --abort-on-find answers a C-FIND with A-ABORT.
           Patient Root Q/R Get sends --get-count Secondary Capture instances back (C-STORE
           sub-operations on the same association).
           Events the tests order by come on stdout after the port, one JSON object a line:
           {"event": "cancel", "afterPending": N} when a C-CANCEL ends a Patient Root C-FIND after
           N pending responses were sent; with --hold-for-cancel the SCP sends nothing after the
           first Patient Root match until the C-CANCEL comes (at most --hold-timeout seconds,
           then {"event": "hold-timed-out", ...} and the other matches); with --barrier N each
           C-FIND is answered only once N associations are established (at most --hold-timeout
           seconds), then {"event": "find", "established": count, "barrier": "met" or "timed-out"}.
  get      SCU "GET_SCU": Patient Root C-GET with SCP role for Secondary Capture; prints the
           statuses and the instances it stored.
  cancel   SCU "FIND_SCU": Patient Root C-FIND, C-CANCEL after the first pending response
           (use with scp --delay), release; prints the statuses received.
  session  SCU "MODALITY": C-ECHO, RPI General C-FIND for PatientID 1234567, Patient Root
           C-FIND for every patient, release; prints what it received as JSON.
"""
import argparse
import json
import os
import sys
import threading
import time

RPI_GENERAL = "1.2.840.10008.5.1.4.37.1"
# The SCUs' ACSE/DIMSE/network timeouts: a margin for a loaded machine, not something a test measures.
SCU_TIMEOUT = 60


OUTPUT = threading.Lock()


def log_event(**fields):
    """One event line on stdout (after the port line), whole even when threads print at once."""
    with OUTPUT:
        print(json.dumps(fields, sort_keys=True), flush=True)


def lifetime_guard(seconds):
    def stop():
        time.sleep(seconds)
        os._exit(3)
    threading.Thread(target=stop, daemon=True).start()


def code(scheme, value, meaning):
    from pydicom.dataset import Dataset
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


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


def rpi_match(patient_id, variant):
    from pydicom.dataset import Dataset
    ds = Dataset()
    ds.PatientName = {"changed": "Doe^Jane", "hostile": "<script>alert(1)</script>"}.get(variant, "Doe^John")
    ds.PatientID = patient_id
    item = Dataset()
    item.MappingResource = "DCMR"
    item.TemplateIdentifier = "9007"
    ds.ContentTemplateSequence = [item]
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [code("LN", "11329-0", "History")]
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = [code("LN", "11348-0", "History of past illness")]
    text.TextValue = "Appendectomy 1998"
    ds.ContentSequence = [text]
    return ds


def patients(count):
    from pydicom.dataset import Dataset
    out = []
    for i in range(count):
        ds = Dataset()
        ds.QueryRetrieveLevel = "PATIENT"
        ds.PatientName = f"Patient^{i + 1:03d}"
        ds.PatientID = f"PID-{i + 1:03d}"
        ds.PatientBirthDate = f"19{50 + i % 50:02d}0{1 + i % 9}1{i % 10}"
        ds.PatientSex = "F" if i % 2 else "M"
        out.append(ds)
    return out


def instances(count):
    """Small Secondary Capture data sets for C-GET sub-operations (Implicit VR LE)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ImplicitVRLittleEndian
    out = []
    for i in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.77.{i + 1}"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = "Doe^John"
        ds.PatientID = "1234567"
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.77.100"
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.77.101"
        ds.Modality = "OT"
        ds.InstanceNumber = i + 1
        out.append(ds)
    return out


def cmd_scp(args):
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import (GeneralRelevantPatientInformationQuery, Verification,
                                      PatientRootQueryRetrieveInformationModelFind,
                                      PatientRootQueryRetrieveInformationModelGet, SecondaryCaptureImageStorage)

    all_patients = patients(args.matches)
    if args.variant == "changed":
        all_patients = all_patients[:-1]
    if args.variant == "hostile":
        # Text a report must show as text: quotes, an ampersand and markup in a name.
        all_patients[0].PatientName = "say \"no\" & 'never' <img src=x>"

    established = [0]
    barrier = threading.Condition()

    def on_established(event):
        with barrier:
            established[0] += 1
            barrier.notify_all()

    def wait_for_cancel(event):
        """Polls for the C-CANCEL (pynetdicom's is_cancelled consumes it: read once per poll)."""
        deadline = time.monotonic() + args.hold_timeout
        while time.monotonic() < deadline:
            if event.is_cancelled:
                return True
            time.sleep(0.005)
        return event.is_cancelled

    def on_find(event):
        query = event.identifier
        if args.abort_on_find:
            event.assoc.abort()
            return
        if args.barrier:
            with barrier:
                met = barrier.wait_for(lambda: established[0] >= args.barrier, timeout=args.hold_timeout)
                count = established[0]
            log_event(event="find", established=count, barrier="met" if met else "timed-out")
        if event.request.AffectedSOPClassUID == PatientRootQueryRetrieveInformationModelFind:
            wanted = str(query.get("PatientID", "") or "")
            sent = 0
            for p in all_patients:
                if event.is_cancelled:
                    log_event(event="cancel", afterPending=sent)
                    yield 0xFE00, None
                    return
                if wanted in ("", "*") or wanted == p.PatientID:
                    if args.delay:
                        time.sleep(args.delay)
                    yield 0xFF00, p
                    sent += 1
                    if args.hold_for_cancel and sent == 1:
                        if wait_for_cancel(event):
                            log_event(event="cancel", afterPending=sent)
                            yield 0xFE00, None
                            return
                        log_event(event="hold-timed-out", afterPending=sent)
            return
        yield 0xFF00, rpi_match(str(query.PatientID), args.variant)

    def on_get(event):
        found = instances(args.get_count)
        yield len(found)
        for ds in found:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, ds

    ae = AE(ae_title="ARCHIVE")
    ae.add_supported_context(Verification)
    ae.add_supported_context(GeneralRelevantPatientInformationQuery)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(PatientRootQueryRetrieveInformationModelGet)
    ae.add_supported_context(SecondaryCaptureImageStorage, scu_role=True, scp_role=True)
    if args.reject:
        ae.require_calling_aet = ["NOBODY"]
    ae.maximum_associations = 16
    ae.network_timeout = 120
    ae.acse_timeout = 60
    ae.dimse_timeout = 60
    handlers = [(evt.EVT_C_FIND, on_find), (evt.EVT_C_GET, on_get), (evt.EVT_ESTABLISHED, on_established)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    print(server.server_address[1], flush=True)
    try:
        sys.stdin.read()  # until the test closes stdin or kills us
    finally:
        server.shutdown()


def responses_json(responses):
    out = []
    for status, identifier in responses:
        out.append({
            "status": int(status.Status) if status is not None and "Status" in status else None,
            "identifier": json.loads(identifier.to_json()) if identifier is not None else None,
        })
    return out


def cmd_session(args):
    from pynetdicom import AE
    from pynetdicom.sop_class import (GeneralRelevantPatientInformationQuery, Verification,
                                      PatientRootQueryRetrieveInformationModelFind)
    from pydicom.dataset import Dataset
    ae = AE(ae_title="MODALITY")
    ae.acse_timeout = SCU_TIMEOUT
    ae.dimse_timeout = SCU_TIMEOUT
    ae.network_timeout = SCU_TIMEOUT
    ae.add_requested_context(Verification)
    ae.add_requested_context(GeneralRelevantPatientInformationQuery)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="ARCHIVE")
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return
    echo = assoc.send_c_echo()
    rpi = list(assoc.send_c_find(rpi_query("1234567"), GeneralRelevantPatientInformationQuery))
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientName = ""
    query.PatientID = ""
    query.PatientBirthDate = ""
    query.PatientSex = ""
    root = list(assoc.send_c_find(query, PatientRootQueryRetrieveInformationModelFind))
    assoc.release()
    print(json.dumps({"established": True, "echo": int(echo.Status), "rpi": responses_json(rpi),
                      "patientRoot": responses_json(root)}, sort_keys=True))


def cmd_cancel(args):
    from pynetdicom import AE
    from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind
    from pydicom.dataset import Dataset
    ae = AE(ae_title="FIND_SCU")
    ae.acse_timeout = SCU_TIMEOUT
    ae.dimse_timeout = SCU_TIMEOUT
    ae.network_timeout = SCU_TIMEOUT
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="ARCHIVE")
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientName = ""
    query.PatientID = ""
    context = assoc.accepted_contexts[0].context_id
    statuses = []
    for status, identifier in assoc.send_c_find(query, PatientRootQueryRetrieveInformationModelFind, msg_id=1):
        statuses.append(int(status.Status) if status is not None and "Status" in status else None)
        if len(statuses) == 1:
            assoc.send_c_cancel(1, context)
    assoc.release()
    print(json.dumps({"established": True, "statuses": statuses}))


def cmd_get(args):
    from pynetdicom import AE, evt, build_role
    from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelGet, SecondaryCaptureImageStorage
    from pydicom.dataset import Dataset
    stored = []

    def on_store(event):
        stored.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    ae = AE(ae_title="GET_SCU")
    ae.acse_timeout = SCU_TIMEOUT
    ae.dimse_timeout = SCU_TIMEOUT
    ae.network_timeout = SCU_TIMEOUT
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(SecondaryCaptureImageStorage)
    role = build_role(SecondaryCaptureImageStorage, scp_role=True)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="ARCHIVE", ext_neg=[role],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    if not assoc.is_established:
        print(json.dumps({"established": False}))
        return
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = "1234567"
    statuses = []
    for status, identifier in assoc.send_c_get(query, PatientRootQueryRetrieveInformationModelGet):
        statuses.append(int(status.Status) if status is not None and "Status" in status else None)
    assoc.release()
    print(json.dumps({"established": True, "statuses": statuses, "stored": stored}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=int, default=60)
    sub = parser.add_subparsers(dest="command", required=True)
    scp = sub.add_parser("scp")
    scp.add_argument("--variant", choices=["base", "changed", "hostile"], default="base")
    scp.add_argument("--matches", type=int, default=25)
    scp.add_argument("--reject", action="store_true")
    scp.add_argument("--abort-on-find", action="store_true", help="answer a C-FIND with A-ABORT")
    scp.add_argument("--delay", type=float, default=0, help="seconds before each Patient Root match")
    scp.add_argument("--get-count", type=int, default=3, help="instances a C-GET sends back")
    scp.add_argument("--hold-for-cancel", action="store_true",
                     help="after the first Patient Root match, send nothing until the C-CANCEL comes")
    scp.add_argument("--barrier", type=int, default=0, metavar="N",
                     help="answer each C-FIND only once N associations are established")
    scp.add_argument("--hold-timeout", type=float, default=60,
                     help="longest wait of --hold-for-cancel and --barrier (seconds)")
    get = sub.add_parser("get")
    get.add_argument("port", type=int)
    cancel = sub.add_parser("cancel")
    cancel.add_argument("port", type=int)
    session = sub.add_parser("session")
    session.add_argument("port", type=int)
    args = parser.parse_args()
    lifetime_guard(args.lifetime)
    {"scp": cmd_scp, "session": cmd_session, "cancel": cmd_cancel, "get": cmd_get}[args.command](args)


if __name__ == "__main__":
    main()
