"""The DNS wire format the embedded server needs, by hand (RFC 1035): a query's header and
single question read without building objects, and replies written straight after a copy of
that question (answers name it by a compression pointer).  dnslib took ~0.3 ms a reply on this
machine; this takes a few microseconds, which is most of a lookup's cost.

Untrusted input: every read is bounds-checked, a question with a compression pointer or
non-ASCII labels is not ours to answer (parse returns None: the caller drops or forwards it),
and nothing here raises on any input (fuzzed).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

A, NS, CNAME, PTR, AAAA, OPT = 1, 2, 5, 12, 28, 41
CLASS_IN = 1
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
_HEADER = struct.Struct("!2sHHHHH")


@dataclass(frozen=True)
class Query:
    id: bytes                   # 2 bytes, echoed
    flags: int                  # the query's flags (opcode, RD)
    name: str                   # lowercase, no trailing dot ("" = the root)
    qtype: int
    qclass: int
    question: bytes             # the question section as sent (copied into replies)
    edns: bool                  # the query carries an OPT record (bigger UDP replies)


def parse(data: bytes) -> Query | None:
    """A standard query with one question, or None."""
    if len(data) < 17:
        return None
    qid, flags, qd, _an, _ns, ar = _HEADER.unpack_from(data)
    if flags & 0x8000 or (flags >> 11) & 0xF or qd != 1:
        return None             # a response, not a QUERY opcode, or not one question
    labels, i = [], 12
    while True:
        if i >= len(data):
            return None
        n = data[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(data):
            return None         # a pointer (or garbage) in a question: not ours
        label = data[i + 1:i + 1 + n]
        if not label.isascii():
            return None
        labels.append(label.decode().lower())
        i += 1 + n
    if i + 4 > len(data) or i > 12 + 255:
        return None
    qtype, qclass = struct.unpack_from("!HH", data, i)
    question = data[12:i + 4]
    return Query(qid, flags, ".".join(labels), qtype, qclass, question, ar > 0)


def _header(q: Query, rcode: int, answers: int, tc: bool = False) -> bytes:
    flags = 0x8000 | (q.flags & 0x0100) | 0x0080 | (0x0200 if tc else 0) | rcode
    return _HEADER.pack(q.id, flags, 1, answers, 0, 0)


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode()[:63]
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def reply(q: Query, records: list[tuple[int, bytes]], ttl: int,
          rcode: int = NOERROR) -> bytes:
    """A reply to `q`: its question, then one answer per (type, rdata), each naming the
    question's name by a pointer to it."""
    body = b"".join(struct.pack("!HHHIH", 0xC00C, rtype, CLASS_IN, ttl, len(rdata)) + rdata
                    for rtype, rdata in records)
    return _header(q, rcode, len(records)) + q.question + body


def address(ip: str) -> tuple[int, bytes]:
    """(A or AAAA, rdata) of an address."""
    if ":" in ip:
        return AAAA, socket.inet_pton(socket.AF_INET6, ip)
    return A, socket.inet_pton(socket.AF_INET, ip)


def failure(q: Query, rcode: int = SERVFAIL) -> bytes:
    return _header(q, rcode, 0) + q.question


def truncated(q: Query, data: bytes, limit: int) -> bytes:
    """`data` (our reply to q) if it fits `limit`, else the header with TC and the question
    (the client asks again over TCP)."""
    return data if len(data) <= limit else _header(q, NOERROR, 0, tc=True) + q.question


def udp_limit(q: Query) -> int:
    return 1232 if q.edns else 512
