#!/usr/bin/env python3
"""Capture small real TCP exchanges on the loopback interface with dumpcap, as fixtures
for the DICOMCapture tests (pcapng reader, Linux loopback framing, reassembly of what a
real kernel sent).

Run from the repository root as root (or with capture rights), with tshark installed
(dumpcap, editcap):

    python3 tools/make_capture_fixture.py

Output, in Tests/DICOMCaptureTests/Fixtures/ (rewritten):

  loopback.pcapng          dumpcap's own pcapng: one IPv4 and one IPv6 connection
                           (SYN ... FIN), several segments each way
  loopback.pcap            the same packets converted by editcap to classic pcap
                           (microsecond timestamps, magic a1b2c3d4)
  loopback-snaplen.pcapng  dumpcap with a snapshot length of 96 bytes: one IPv4
                           connection whose payloads are cut
  loopback-sll.pcapng      dumpcap on the "any" pseudo-interface (Linux cooked v1,
                           LINKTYPE 113): one IPv4 and one IPv6 connection
  loopback-sll2.pcapng     the same with -y LINUX_SLL2 (Linux cooked v2, LINKTYPE 276):
                           one IPv4 connection
  loopback.client.bin      every byte each client sent (the same in every connection)
  loopback.server.bin      every byte each server sent
  loopback.json            the connections in each file, for the tests to compare:
    {"clientToServer": "loopback.client.bin", "serverToClient": "loopback.server.bin",
     "clientMessages": [len, ...], "serverMessages": [len, ...],
     "files": {NAME: {"snaplen": N, "packets": N, "connections": [
        {"family": "ipv4"|"ipv6", "client": "ADDR", "clientPort": N,
         "server": "ADDR", "serverPort": N}]}}}

Every byte sent is fixed by this script (patterns below); ports, timestamps, sequence
numbers and the kernel's segmentation vary between runs. Messages are sent one by one
with TCP_NODELAY and a short pause, so each becomes its own segment on loopback (MTU
65536). Each exchange: the client sends its messages, the server answers each, the client
shuts down its sending side, the server closes: both FINs are captured.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "DICOMCaptureTests" / "Fixtures"


def pattern(tag: int, length: int) -> bytes:
    """Deterministic bytes: an 8-byte header naming the message, then a counter pattern."""
    head = bytes([0xD1, tag]) + length.to_bytes(4, "big") + b"\r\n"
    body = bytes(((i * 7 + tag) & 0xFF) for i in range(max(0, length - len(head))))
    return (head + body)[:length]


CLIENT_MESSAGES = [pattern(1, 68), pattern(2, 1000), pattern(3, 3000), pattern(4, 6000)]
SERVER_MESSAGES = [pattern(0x81, 12), pattern(0x82, 2500), pattern(0x83, 40), pattern(0x84, 700)]


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("peer closed early")
        data += chunk
    return data


def exchange(family: int, host: str, port: int) -> dict:
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for request, response in zip(CLIENT_MESSAGES, SERVER_MESSAGES):
            recv_exactly(conn, len(request))
            time.sleep(0.02)
            conn.sendall(response)
        if conn.recv(1) != b"":
            raise RuntimeError("expected the client's FIN")
        time.sleep(0.02)
        conn.close()

    server = threading.Thread(target=serve)
    server.start()
    client = socket.socket(family, socket.SOCK_STREAM)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.connect((host, port))
    client_port = client.getsockname()[1]
    for request, response in zip(CLIENT_MESSAGES, SERVER_MESSAGES):
        client.sendall(request)
        recv_exactly(client, len(response))
        time.sleep(0.02)
    client.shutdown(socket.SHUT_WR)
    if client.recv(1) != b"":
        raise RuntimeError("expected the server's FIN")
    client.close()
    server.join()
    listener.close()
    return {
        "family": "ipv4" if family == socket.AF_INET else "ipv6",
        "client": host, "clientPort": client_port, "server": host, "serverPort": port,
    }


def free_port() -> int:
    """A port free on both 127.0.0.1 and ::1."""
    for _ in range(50):
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
        probe.close()
        try:
            probe4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe4.bind(("127.0.0.1", port))
            probe4.close()
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def capture(path: Path, port: int, snaplen: int | None, body, interface: str = "lo",
            linktype: str | None = None) -> list:
    args = ["dumpcap", "-q", "-i", interface, "-f", f"tcp port {port}", "-w", str(path)]
    if snaplen:
        args[1:1] = ["-s", str(snaplen)]
    if linktype:
        args[1:1] = ["-y", linktype]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    # dumpcap reports "Capturing on ..." once the filter is installed.
    assert proc.stderr is not None
    started = time.monotonic()
    while time.monotonic() - started < 10:
        line = proc.stderr.readline()
        if "Capturing on" in line or not line:
            break
    time.sleep(0.5)
    try:
        connections = body(port)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)  # this dumpcap only, by its PID
        proc.wait(timeout=10)
    return connections


def main() -> int:
    if os.geteuid() != 0:
        print("warning: capturing on lo usually needs root", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    files = {}

    port = free_port()
    pcapng = OUT / "loopback.pcapng"
    conns = capture(pcapng, port, None, lambda p: [exchange(socket.AF_INET, "127.0.0.1", p),
                                                     exchange(socket.AF_INET6, "::1", p)])
    files["loopback.pcapng"] = {"snaplen": 262144, "connections": conns}
    subprocess.run(["editcap", "-F", "pcap", str(pcapng), str(OUT / "loopback.pcap")], check=True)
    files["loopback.pcap"] = {"snaplen": 262144, "connections": conns}

    port = free_port()
    snap = OUT / "loopback-snaplen.pcapng"
    conns = capture(snap, port, 96, lambda p: [exchange(socket.AF_INET, "127.0.0.1", p)])
    files["loopback-snaplen.pcapng"] = {"snaplen": 96, "connections": conns}

    port = free_port()
    conns = capture(OUT / "loopback-sll.pcapng", port, None,
                    lambda p: [exchange(socket.AF_INET, "127.0.0.1", p), exchange(socket.AF_INET6, "::1", p)],
                    interface="any")
    files["loopback-sll.pcapng"] = {"snaplen": 262144, "connections": conns}

    port = free_port()
    conns = capture(OUT / "loopback-sll2.pcapng", port, None, lambda p: [exchange(socket.AF_INET, "127.0.0.1", p)],
                    interface="any", linktype="LINUX_SLL2")
    files["loopback-sll2.pcapng"] = {"snaplen": 262144, "connections": conns}

    for name in files:
        os.chmod(OUT / name, 0o644)
        count = subprocess.run(["capinfos", "-M", "-c", "-T", "-r", str(OUT / name)], check=True,
                               capture_output=True, text=True).stdout.split()[-1]
        files[name]["packets"] = int(count)
    (OUT / "loopback.client.bin").write_bytes(b"".join(CLIENT_MESSAGES))
    (OUT / "loopback.server.bin").write_bytes(b"".join(SERVER_MESSAGES))
    manifest = {
        "clientToServer": "loopback.client.bin", "serverToClient": "loopback.server.bin",
        "clientMessages": [len(m) for m in CLIENT_MESSAGES],
        "serverMessages": [len(m) for m in SERVER_MESSAGES],
        "files": files,
    }
    (OUT / "loopback.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for name in files:
        print(f"{name}: {(OUT / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
