"""Host port checks for published ports: conflicts and ephemeral choice, before any rule exists.

Published ports are DNAT rules, so no socket of ours holds them: a port is free when no
pystack record claims it (any project) AND a bind test on the host succeeds (some other
program may be listening).  Ephemeral ports come from 32768-60999 (the kernel's default
ip_local_port_range), chosen by the same two tests.
"""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Iterable

from pystack.net.api import PortSpec
from pystack.net.errors import NetConfigError, PortInUseError

EPHEMERAL = (32768, 60999)
Claim = tuple[str, int, str]       # (protocol, port, host_ip or "")


def _overlap(a_ip: str, b_ip: str) -> bool:
    wild = ("", "0.0.0.0")
    return a_ip in wild or b_ip in wild or a_ip == b_ip


def claimed(claims: Iterable[Claim], proto: str, port: int, host_ip: str) -> bool:
    return any(p == proto and n == port and _overlap(h, host_ip) for p, n, h in claims)


def bind_free(proto: str, port: int, host_ip: str) -> bool:
    """Can a socket bind (host_ip, port) right now?  Raises NetConfigError for a host_ip that
    is not an address of this host."""
    if ":" in host_ip:
        raise NetConfigError(f"IPv6 host_ip {host_ip} is not supported for published ports")
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or "0.0.0.0", port))
            if proto == "tcp":
                s.listen(1)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            if e.errno == errno.EADDRNOTAVAIL:
                raise NetConfigError(f"host_ip {host_ip} is not an address of this host") from e
            if e.errno == errno.EACCES:
                raise NetConfigError(f"not allowed to publish port {port}") from e
            raise NetConfigError(f"cannot check host port {port}/{proto}: {e.strerror}") from e
    return True


def validate(p: PortSpec) -> None:
    if not 1 <= p.target <= 65535:
        raise NetConfigError(f"invalid container port {p.target}")
    if p.published is not None and not 1 <= p.published <= 65535:
        raise NetConfigError(f"invalid host port {p.published}")
    if p.protocol not in ("tcp", "udp"):
        raise NetConfigError(f"invalid protocol {p.protocol!r} (tcp or udp)")


def check(ports: list[PortSpec], claims: list[Claim]) -> None:
    """Raise PortInUseError for the first fixed host port that is taken."""
    mine: list[Claim] = list(claims)
    for p in ports:
        validate(p)
        if p.published is None:
            bind_free(p.protocol, 0, p.host_ip)     # validates host_ip only
            continue
        ip = p.host_ip or "0.0.0.0"
        if claimed(mine, p.protocol, p.published, p.host_ip) or \
                not bind_free(p.protocol, p.published, p.host_ip):
            raise PortInUseError(
                f"Bind for {ip}:{p.published} failed: port is already allocated",
                hint=f"another program or container publishes {p.published}/{p.protocol}; "
                     "free it or choose another host port")
        mine.append((p.protocol, p.published, p.host_ip))


def choose(ports: list[PortSpec], claims: list[Claim]) -> list[int]:
    """The host port for each spec (fixed ones as given, ephemeral ones chosen free)."""
    check(ports, claims)
    mine: list[Claim] = list(claims)
    mine.extend((p.protocol, p.published, p.host_ip) for p in ports if p.published)
    out = []
    lo, hi = EPHEMERAL
    for p in ports:
        if p.published is not None:
            out.append(p.published)
            continue
        start = random.randint(lo, hi)
        for i in range(hi - lo + 1):
            n = lo + (start - lo + i) % (hi - lo + 1)
            if not claimed(mine, p.protocol, n, p.host_ip) and \
                    bind_free(p.protocol, n, p.host_ip):
                break
        else:
            raise PortInUseError("no free ephemeral host port left")
        mine.append((p.protocol, n, p.host_ip))
        out.append(n)
    return out
