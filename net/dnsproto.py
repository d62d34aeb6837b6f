"""What the embedded DNS server answers (dnsserver.py runs it): the names of the networks the
asking container is on, built from net's sandbox records; everything else is forwarded.

A container on a user network asks 127.0.0.11 (its resolv.conf, names.render_resolv).  The
server knows which container asks by the socket the query came in on (one per container
netns), and answers from that container's networks only, as Docker's resolver does:

- A / AAAA of a container name, service name, alias or short id of a container on one of the
  asker's networks (the first of its networks, in attachment order, that knows the name),
  also `name.<network>`; every replica's address, ROTATED on each answer (round-robin over
  replicas: clients use the first); a known name without an address of the asked family
  gets an empty NOERROR answer (not forwarded: it would leak the name upstream);
- a link alias (`links: [db:database]`) of the ASKER resolves as its target;
- PTR of an address on one of the asker's networks: the container's first name;
- anything else: None, the caller forwards it (the service's `dns:` or the host's resolvers).

Pure: unit-tested and fuzzed without root.  Names are compared case-insensitively.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pystack.net import dnswire

ADDRESS = "127.0.0.11"          # Docker's: what every embedded-DNS resolv.conf names
PORT = 53
TTL = 600                        # Docker's answer TTL


@dataclass
class Host:
    """One name on one network: every address that answers it (replicas)."""

    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)
    turn: int = 0                # the rotation of round-robin


@dataclass
class Asker:
    """What the server needs of the container that asks."""

    networks: tuple[str, ...]
    links: dict[str, str]        # alias -> target name
    servers: tuple[str, ...]     # its `dns:` servers (empty: the host's)
    outside: bool                # on a network with a way out (not only internal ones)


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


class Table:
    """Names by network, and addresses back to names, from the sandbox records."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.names: dict[str, dict[str, Host]] = {}
        self.reverse: dict[str, dict[str, str]] = {}     # network -> ip -> name
        self.askers: dict[str, Asker] = {}
        for rec in records:
            atts = rec.get("attachments") or []
            dns = rec.get("dns") or {}
            links = {_norm(str(a)): _norm(str(t)) for a, t in dns.get("links") or ()}
            self.askers[str(rec.get("id"))] = Asker(
                networks=tuple(str(a["network"]) for a in atts), links=links,
                servers=tuple(str(s) for s in dns.get("servers") or ()),
                outside=any(not a.get("internal") for a in atts))
            for a in atts:
                net = str(a["network"])
                hosts = self.names.setdefault(net, {})
                aliases = [_norm(str(x)) for x in a.get("aliases") or ()]
                for alias in dict.fromkeys(aliases):
                    h = hosts.setdefault(alias, Host())
                    if a.get("ipv4"):
                        h.ipv4.append(str(a["ipv4"]))
                    if a.get("ipv6"):
                        h.ipv6.append(str(a["ipv6"]))
                if aliases:
                    rev = self.reverse.setdefault(net, {})
                    for ip in (a.get("ipv4"), a.get("ipv6")):
                        if ip:
                            rev.setdefault(str(ipaddress.ip_address(ip)), aliases[0])
        for hosts in self.names.values():
            for h in hosts.values():
                h.ipv4.sort(key=ipaddress.IPv4Address)
                h.ipv6.sort(key=ipaddress.IPv6Address)

    def host(self, asker: Asker, name: str) -> Host | None:
        name = _norm(name)
        name = asker.links.get(name, name)
        for net in asker.networks:
            hosts = self.names.get(net, {})
            if name in hosts:
                return hosts[name]
            suffix = "." + net.lower()
            if name.endswith(suffix) and name[:-len(suffix)] in hosts:
                return hosts[name[:-len(suffix)]]
        return None

    def name_of(self, asker: Asker, ip: str) -> str | None:
        for net in asker.networks:
            found = self.reverse.get(net, {}).get(ip)
            if found:
                return found
        return None


def _rotated(addrs: Sequence[str], turn: int) -> list[str]:
    if not addrs:
        return []
    k = turn % len(addrs)
    return [*addrs[k:], *addrs[:k]]


def _ptr_ip(qname: str) -> str | None:
    """The address a reverse name (in-addr.arpa / ip6.arpa) stands for, or None."""
    labels = _norm(qname).split(".")
    try:
        if labels[-2:] == ["in-addr", "arpa"] and len(labels) == 6:
            return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
        if labels[-2:] == ["ip6", "arpa"] and len(labels) == 34:
            nibbles = "".join(reversed(labels[:32]))
            return str(ipaddress.IPv6Address(int(nibbles, 16)))
    except ValueError:
        return None
    return None


def answer(q: dnswire.Query, table: Table, asker: Asker) -> bytes | None:
    """The reply to `q` from the names of `asker`'s networks, or None (forward it)."""
    if q.qclass != dnswire.CLASS_IN:
        return None
    if q.qtype == dnswire.PTR:
        ip = _ptr_ip(q.name)
        found = table.name_of(asker, ip) if ip else None
        if found is None:
            return None
        return dnswire.reply(q, [(dnswire.PTR, dnswire.encode_name(found))], TTL)
    host = table.host(asker, q.name)
    if host is None:
        return None
    records: list[tuple[int, bytes]] = []
    if q.qtype in (dnswire.A, dnswire.AAAA):
        addrs = host.ipv6 if q.qtype == dnswire.AAAA else host.ipv4
        records = [dnswire.address(ip) for ip in _rotated(addrs, host.turn)]
        host.turn += 1
    return dnswire.reply(q, records, TTL)


def read_tcp(s: socket.socket) -> bytes:
    """One length-prefixed DNS message; b"" at EOF."""
    head = _read_exact(s, 2)
    if len(head) < 2:
        return b""
    return _read_exact(s, struct.unpack("!H", head)[0])


def _read_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf
