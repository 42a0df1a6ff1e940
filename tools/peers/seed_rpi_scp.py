#!/usr/bin/env python3
"""Relevant Patient Information Query SCP (pynetdicom 3.0.4): the seed document's SCP done properly, serving the
store's JSON data (default: demo/). A reference peer for DICOMTap's SCU tests and benchmark.

  seed_rpi_scp.py --port N [--data demo/] [--ae-title RPI_SCP] [--pending-delay SECONDS]

General, Breast Imaging and Cardiac Relevant Patient Information Query contexts plus Verification.
Per PS3.4 Annex Q: one match -> one Pending identifier (request keys + template content) then Success; none ->
Success; several -> 0xC100; no Patient ID / no Content Template Sequence -> 0xA900 with Offending Element; a
template the SOP class does not allow -> 0xC200. A C-CANCEL received before the Pending response is sent (use
--pending-delay to widen that window) gives 0xFE00. Prints "listening PORT" once bound (--port 0: any free port).
"""
import argparse
import os
import signal
import sys
import time

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import (BreastImagingRelevantPatientInformationQuery,
                                  CardiacRelevantPatientInformationQuery,
                                  GeneralRelevantPatientInformationQuery, Verification)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rpi_data  # noqa: E402


def failure(status, comment, offending=None):
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = comment[:64]
    if offending is not None:
        ds.OffendingElement = offending
    return ds


def make_handler(patients, pending_delay):
    def handle_find(event):
        request = event.identifier
        sop_class = str(event.request.AffectedSOPClassUID)
        patient_id = str(request.get("PatientID", "") or "").strip()
        if "PatientID" not in request or not patient_id:
            yield failure(0xA900, "Patient ID is required", 0x00100020), None
            return
        templates = request.get("ContentTemplateSequence")
        if not templates or len(templates) != 1 or not str(templates[0].get("TemplateIdentifier", "") or "").strip():
            yield failure(0xA900, "Content Template Sequence with Template Identifier is required", 0x0040A504), None
            return
        template = str(templates[0].TemplateIdentifier).strip()
        mapping = str(templates[0].get("MappingResource", "") or "").strip()
        if mapping != "DCMR" or template not in rpi_data.ACCEPTED.get(sop_class, []):
            yield failure(0xC200, "template %s %s not supported" % (mapping, template)), None
            return
        issuer = str(request.get("IssuerOfPatientID", "") or "").strip()
        matches = [p for p in patients
                   if p["patientID"] == patient_id and (not issuer or p.get("issuer", "") == issuer)]
        if len(matches) > 1:
            yield failure(0xC100, "%d patients match" % len(matches)), None
            return
        if not matches:
            return  # Success alone
        # event.is_cancelled consumes the C-CANCEL it reports (pynetdicom deletes it): read it once per poll.
        cancelled = event.is_cancelled
        deadline = time.monotonic() + pending_delay
        while not cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
            cancelled = event.is_cancelled
        if cancelled:
            yield 0xFE00, None
            return
        yield 0xFF00, rpi_data.response_identifier(request, matches[0], template, mapping)
    return handle_find


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "demo"))
    parser.add_argument("--ae-title", default="RPI_SCP")
    parser.add_argument("--pending-delay", type=float, default=0.0,
                        help="seconds to wait (watching for C-CANCEL) before the Pending response")
    args = parser.parse_args()

    # A parent may start us with signals blocked (Foundation's Process on Linux passes its thread's mask on):
    # unblock the ones that stop us, so that SIGTERM ends the process and Ctrl-C reaches it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    patients = rpi_data.load(args.data)
    ae = AE(ae_title=args.ae_title)
    for sop_class in (GeneralRelevantPatientInformationQuery, BreastImagingRelevantPatientInformationQuery,
                      CardiacRelevantPatientInformationQuery, Verification):
        ae.add_supported_context(sop_class)
    handlers = [(evt.EVT_C_FIND, make_handler(patients, args.pending_delay))]
    server = ae.start_server((args.host, args.port), block=False, evt_handlers=handlers)
    print("listening %d" % server.server_address[1], flush=True)

    # SIGTERM keeps its default action (the process ends at once); Ctrl-C shuts the server down.
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
