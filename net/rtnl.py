"""A minimal rtnetlink client: the dozen requests net/ sends on every `up` and `down`.

pyroute2 costs 0.2-0.3 s to import and ~8 ms per socket (an asyncio loop each), which was a
third of a 20-container `up`; these requests are a few packed structs each.  A `Rtnl` is one
NETLINK_ROUTE socket bound to the network namespace its creator thread was in (open one inside
`netns.entered` to talk to a sandbox).  Errors come back as OSError with the kernel's errno;
links.py translates them into NetError.  Not thread-safe: one socket per thread or a lock.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x100, 0x200, 0x400, 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO = 1, 3, 4, 10, 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1
IFF_UP = 0x1
NLA_F_NESTED = 0x8000

_HDR = struct.Struct("=IHHII")          # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")      # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")       # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")    # family, dst_len, src_len, tos, table, proto, scope,
#                                         type, flags


def attr(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("=HH", n, kind) + payload + b"\0" * (-n % 4)


def _str(value: str) -> bytes:
    return value.encode() + b"\0"


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


def _mac(value: str) -> bytes:
    return bytes(int(b, 16) for b in value.split(":"))


def attrs(data: bytes, off: int = 0) -> dict[int, bytes]:
    """The attributes of a message (the first of each kind), keyed by type."""
    out: dict[int, bytes] = {}
    while off + 4 <= len(data):
        n, kind = struct.unpack_from("=HH", data, off)
        if n < 4:
            break
        out.setdefault(kind & 0x3FFF, data[off + 4:off + n])
        off += n + (-n % 4)
    return out


def _ip(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


@dataclass(frozen=True)
class Route:
    family: int
    dst: str | None
    dst_len: int
    table: int
    oif: int | None
    gateway: str | None


@dataclass(frozen=True)
class Addr:
    index: int
    address: str
    prefixlen: int


class Rtnl:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # transport ----------------------------------------------------------------------------

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(_HDR.pack(_HDR.size + len(body), kind, flags, self.seq, 0) + body)
        return self.seq

    def _replies(self, seq: int) -> Iterator[tuple[int, bytes]]:
        """(type, payload) of every message answering `seq`, until ACK or DONE."""
        while True:
            data = self.sock.recv(1 << 17)
            off = 0
            while off + _HDR.size <= len(data):
                n, kind, flags, s, _ = _HDR.unpack_from(data, off)
                body = data[off + _HDR.size:off + n]
                off += n + (-n % 4)
                if s != seq:
                    continue
                if kind == NLMSG_ERROR:
                    code = struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return
                if kind == NLMSG_DONE:
                    return
                yield kind, body
                if not flags & NLM_F_MULTI:
                    return

    def request(self, kind: int, body: bytes, flags: int = 0) -> None:
        for _ in self._replies(self._send(kind, NLM_F_REQUEST | NLM_F_ACK | flags, body)):
            pass

    def dump(self, kind: int, body: bytes) -> list[bytes]:
        return [b for _, b in self._replies(self._send(kind, NLM_F_REQUEST | NLM_F_DUMP,
                                                        body))]

    # links --------------------------------------------------------------------------------

    def link(self, name: str | None = None, index: int = 0) -> tuple[int, dict[int, bytes]]:
        """(index, attributes) of one link; OSError(ENODEV) if there is none."""
        body = _IFINFO.pack(0, 0, index, 0, 0) + (attr(IFLA_IFNAME, _str(name)) if name else b"")
        for _, reply in self._replies(self._send(RTM_GETLINK, NLM_F_REQUEST, body)):
            return _IFINFO.unpack_from(reply)[2], attrs(reply, _IFINFO.size)
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))

    def index(self, name: str) -> int | None:
        try:
            return self.link(name)[0]
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT, errno.EINVAL):
                return None
            raise

    def add_bridge(self, name: str, mtu: int, mac: str) -> None:
        info = attr(IFLA_LINKINFO | NLA_F_NESTED, attr(IFLA_INFO_KIND, _str("bridge")))
        self.request(RTM_NEWLINK, _IFINFO.pack(0, 0, 0, IFF_UP, IFF_UP)
                     + attr(IFLA_IFNAME, _str(name)) + attr(IFLA_MTU, _u32(mtu))
                     + attr(IFLA_ADDRESS, _mac(mac)) + info, NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, mtu: int, master: int, peer: str, peer_ns_fd: int,
                 peer_mac: str) -> None:
        """A veth pair, this end up on `master`, the peer (down: the kernel refuses it up
        here, ENOTCONN) inside the namespace `peer_ns_fd`, created there directly: no move."""
        peer_msg = (_IFINFO.pack(0, 0, 0, 0, 0) + attr(IFLA_IFNAME, _str(peer))
                    + attr(IFLA_MTU, _u32(mtu)) + attr(IFLA_ADDRESS, _mac(peer_mac))
                    + attr(IFLA_NET_NS_FD, _u32(peer_ns_fd)))
        info = attr(IFLA_LINKINFO | NLA_F_NESTED,
                    attr(IFLA_INFO_KIND, _str("veth"))
                    + attr(IFLA_INFO_DATA | NLA_F_NESTED,
                           attr(VETH_INFO_PEER | NLA_F_NESTED, peer_msg)))
        self.request(RTM_NEWLINK, _IFINFO.pack(0, 0, 0, IFF_UP, IFF_UP)
                     + attr(IFLA_IFNAME, _str(name)) + attr(IFLA_MTU, _u32(mtu))
                     + attr(IFLA_MASTER, _u32(master)) + info, NLM_F_CREATE | NLM_F_EXCL)

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, _IFINFO.pack(0, 0, index, IFF_UP, IFF_UP))

    def delete_link(self, index: int) -> None:
        self.request(RTM_DELLINK, _IFINFO.pack(0, 0, index, 0, 0))

    # addresses ----------------------------------------------------------------------------

    def add_addr(self, index: int, address: str, prefixlen: int) -> None:
        ip = ipaddress.ip_address(address)
        fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        body = _IFADDR.pack(fam, prefixlen, 0, 0, index) + attr(IFA_ADDRESS, ip.packed)
        if ip.version == 4:
            body += attr(IFA_LOCAL, ip.packed)
        self.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)

    def addrs(self, family: int = 0, index: int | None = None) -> list[Addr]:
        out = []
        for reply in self.dump(RTM_GETADDR, _IFADDR.pack(family, 0, 0, 0, 0)):
            _, plen, _, _, idx = _IFADDR.unpack_from(reply)
            a = attrs(reply, _IFADDR.size)
            raw = a.get(IFA_ADDRESS) or a.get(IFA_LOCAL)
            if raw and (index is None or idx == index):
                out.append(Addr(idx, _ip(raw), plen))
        return out

    # routes -------------------------------------------------------------------------------

    def routes(self, family: int = socket.AF_INET) -> list[Route]:
        """Every route of every table."""
        out = []
        for reply in self.dump(RTM_GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)):
            fam, dst_len, _, _, table, _, _, _, _ = _RTMSG.unpack_from(reply)
            a = attrs(reply, _RTMSG.size)
            if RTA_TABLE in a:
                table = struct.unpack("=I", a[RTA_TABLE])[0]
            out.append(Route(fam, _ip(a[RTA_DST]) if RTA_DST in a else None, dst_len, table,
                             struct.unpack("=I", a[RTA_OIF])[0] if RTA_OIF in a else None,
                             _ip(a[RTA_GATEWAY]) if RTA_GATEWAY in a else None))
        return out

    def _default(self, kind: int, gateway: str, flags: int) -> None:
        ip = ipaddress.ip_address(gateway)
        fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        self.request(kind, _RTMSG.pack(fam, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0,
                                       RTN_UNICAST, 0) + attr(RTA_GATEWAY, ip.packed), flags)

    def replace_default(self, gateway: str) -> None:
        self._default(RTM_NEWROUTE, gateway, NLM_F_CREATE | NLM_F_REPLACE)

    def delete_default(self, gateway: str) -> None:
        self._default(RTM_DELROUTE, gateway, 0)
