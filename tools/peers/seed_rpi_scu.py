#!/usr/bin/env python3
"""Relevant Patient Information Query SCU (pynetdicom 3.0.4): the seed document's SCU done properly.

  seed_rpi_scu.py HOST PORT --patient-id ID [--model general|breast|cardiac] [--issuer X] [--template T]
                  [--no-template] [--count N] [--cancel-after-first] [--cancel-after SECONDS] [--quiet]
                  [--called-ae AE] [--calling-ae AE]

Prints one line per C-FIND response, `status 0xFF00`, and for a response with an identifier the identifier as
DICOM JSON (pydicom to_json) on the next line. --count N repeats the query N times on one association and then
prints `latency_ms n=.. min=.. median=.. p95=.. max=.. mean=..` (request sent -> final response).
--cancel-after-first sends C-CANCEL after the first response; --cancel-after S sends it S seconds after the
request, whether or not a response came (for an SCP that delays its Pending response). Exit status: 0
when every query completed (any DIMSE status), 1 when the association failed.
"""
import argparse
import statistics
import sys
import threading
import time

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (BreastImagingRelevantPatientInformationQuery,
                                  CardiacRelevantPatientInformationQuery,
                                  GeneralRelevantPatientInformationQuery)

MODELS = {
    "general": (GeneralRelevantPatientInformationQuery, "9007"),
    "breast": (BreastImagingRelevantPatientInformationQuery, "9000"),
    "cardiac": (CardiacRelevantPatientInformationQuery, "3802"),
}


def identifier(args, template):
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = args.patient_id
    if args.issuer is not None:
        ds.IssuerOfPatientID = args.issuer
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    if not args.no_template:
        item = Dataset()
        item.MappingResource = "DCMR"
        item.TemplateIdentifier = args.template or template
        ds.ContentTemplateSequence = [item]
    ds.ConceptNameCodeSequence = []
    ds.ContentSequence = []
    return ds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--patient-id", required=True)
    parser.add_argument("--model", choices=sorted(MODELS), default="general")
    parser.add_argument("--issuer")
    parser.add_argument("--template")
    parser.add_argument("--no-template", action="store_true")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--cancel-after-first", action="store_true")
    parser.add_argument("--cancel-after", type=float, metavar="SECONDS")
    parser.add_argument("--quiet", action="store_true", help="print only the latency line")
    parser.add_argument("--called-ae", default="ANY-SCP")
    parser.add_argument("--calling-ae", default="RPI_SCU")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the association and for each response (pynetdicom's default: 30)")
    args = parser.parse_args()

    sop_class, template = MODELS[args.model]
    ae = AE(ae_title=args.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = args.timeout
    ae.network_timeout = max(args.timeout, 60.0)
    ae.add_requested_context(sop_class)
    assoc = ae.associate(args.host, args.port, ae_title=args.called_ae)
    if not assoc.is_established:
        print("association failed", flush=True)
        return 1
    latencies = []
    try:
        query = identifier(args, template)
        for n in range(args.count):
            msg_id = n + 1
            start = time.perf_counter()
            timer = None
            if args.cancel_after is not None:
                timer = threading.Timer(args.cancel_after, assoc.send_c_cancel, (msg_id,), {"query_model": sop_class})
                timer.start()
            for i, (status, ident) in enumerate(assoc.send_c_find(query, sop_class, msg_id=msg_id)):
                if not status:  # no response (timeout, abort)
                    print("no response", flush=True)
                    return 1
                if not args.quiet:
                    print("status 0x%04X" % status.Status, flush=True)
                    if ident is not None:
                        print(ident.to_json(), flush=True)
                if i == 0 and args.cancel_after_first:
                    assoc.send_c_cancel(msg_id, query_model=sop_class)
            latencies.append((time.perf_counter() - start) * 1000.0)
            if timer is not None:
                timer.cancel()
    finally:
        assoc.release()
    if args.count > 1:
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        print("latency_ms n=%d min=%.3f median=%.3f p95=%.3f max=%.3f mean=%.3f" % (
            len(ordered), ordered[0], statistics.median(ordered), p95, ordered[-1], statistics.fmean(ordered)),
            flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
