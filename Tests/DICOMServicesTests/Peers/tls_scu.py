"""pynetdicom 3.0.4 as a TLS SCU (an ssl.SSLContext in tls_args): C-ECHO, then with --patient-id a Relevant
Patient Information Query (General, TID 9007). Prints `echo 0x0000`, `status 0xFF00`..., `tls TLSv1.3 <cipher>`,
or `association failed` and exits 1.

usage: tls_scu.py HOST PORT --ca CA [--cert CRT --key KEY] [--server-name NAME] [--patient-id ID]
"""
import argparse
import ssl
import sys

from pydicom.dataset import Dataset
from pynetdicom import AE

parser = argparse.ArgumentParser()
parser.add_argument("host")
parser.add_argument("port", type=int)
parser.add_argument("--ca", required=True)
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--server-name")
parser.add_argument("--patient-id")
args = parser.parse_args()

context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
if args.cert:
    context.load_cert_chain(certfile=args.cert, keyfile=args.key)

RPI_GENERAL = "1.2.840.10008.5.1.4.37.1"
ae = AE(ae_title="PYNETDICOM")
ae.add_requested_context("1.2.840.10008.1.1")
ae.add_requested_context(RPI_GENERAL)
assoc = ae.associate(args.host, args.port, ae_title="DICOMTAP", tls_args=(context, args.server_name or args.host))
if not assoc.is_established:
    print("association failed", flush=True)
    sys.exit(1)
sock = assoc.dul.socket.socket
print(f"tls {sock.version()} {sock.cipher()[0]}", flush=True)
status = assoc.send_c_echo()
print(f"echo 0x{status.Status:04X}", flush=True)
if args.patient_id:
    identifier = Dataset()
    identifier.PatientName = ""
    identifier.PatientID = args.patient_id
    identifier.PatientBirthDate = ""
    identifier.PatientSex = ""
    item = Dataset()
    item.MappingResource = "DCMR"
    item.TemplateIdentifier = "9007"
    identifier.ContentTemplateSequence = [item]
    for status, found in assoc.send_c_find(identifier, RPI_GENERAL):
        print(f"status 0x{status.Status:04X}", flush=True)
        if found is not None and "PatientName" in found:
            print(f"name {found.PatientName}", flush=True)
assoc.release()
