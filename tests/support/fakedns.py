"""A fake upstream DNS server for the embedded-DNS tests, on a host loopback address the test
picks (never a real resolver): it answers the names it is given, NXDOMAIN for every other,
over UDP and TCP, and records what it was asked.  Containers reach it through their
service's `dns:`, so no test ever sends a name outside the project to a real resolver."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dnslib import QTYPE, RCODE, RR, A, DNSRecord


class FakeUpstream:
    def __init__(self, address: str, names: dict[str, str]) -> None:
        self.address = address
        self.names = {k.rstrip(".").lower(): v for k, v in names.items()}
        self.asked: list[tuple[str, str]] = []          # (proto, name)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((address, 53))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((address, 53))
        self.tcp.listen(8)
        self._stop = False
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self._threads:
            t.start()

    def reply(self, data: bytes, proto: str) -> bytes:
        q = DNSRecord.parse(data)
        name = str(q.q.qname).rstrip(".").lower()
        self.asked.append((proto, name))
        r = q.reply()
        if name in self.names and q.q.qtype == QTYPE.A:
            r.add_answer(RR(str(q.q.qname), QTYPE.A, rdata=A(self.names[name]), ttl=60))
        elif name not in self.names:
            r.header.rcode = RCODE.NXDOMAIN
        return bytes(r.pack())

    def _serve_udp(self) -> None:
        while not self._stop:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            if data:
                self.udp.sendto(self.reply(data, "udp"), peer)

    def _serve_tcp(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                head = conn.recv(2)
                if len(head) == 2:
                    (n,) = struct.unpack("!H", head)
                    data = b""
                    while len(data) < n:
                        chunk = conn.recv(n - len(data))
                        if not chunk:
                            break
                        data += chunk
                    out = self.reply(data, "tcp")
                    conn.sendall(struct.pack("!H", len(out)) + out)

    def close(self) -> None:
        self._stop = True
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self._threads:
            t.join(timeout=5)


@contextmanager
def fake_upstream(address: str, names: dict[str, str]) -> Iterator[FakeUpstream]:
    up = FakeUpstream(address, names)
    try:
        yield up
    finally:
        up.close()
