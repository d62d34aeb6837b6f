"""Address management, pure: subnet pools, subnet choice, and address allocation in a subnet.

Nothing here touches the host; the manager passes in what is already in use (host routes and
addresses, other pystack networks) and persists the result under its lock.  The default pool
is Docker's (libnetwork ipamutils): 172.17.0.0/16 .. 172.31.0.0/16, then 192.168.0.0/16 in /20s.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pystack.net.api import IpamPool
from pystack.net.errors import AddressInUseError, NetConfigError, PoolExhaustedError

IPv4Net = ipaddress.IPv4Network
IPv6Net = ipaddress.IPv6Network


def default_pool() -> Iterator[IPv4Net]:
    for second in range(17, 32):
        yield IPv4Net(f"172.{second}.0.0/16")
    yield from IPv4Net("192.168.0.0/16").subnets(new_prefix=20)


@dataclass(frozen=True)
class Subnet:
    """The resolved addressing of one network."""

    subnet: str
    gateway: str
    ip_range: str | None = None
    reserved: tuple[str, ...] = ()          # aux_addresses
    subnet6: str | None = None
    gateway6: str | None = None


def choose_subnet(in_use: Iterable[IPv4Net]) -> IPv4Net:
    """The first default-pool subnet overlapping nothing in `in_use`."""
    taken = list(in_use)
    for cand in default_pool():
        if not any(cand.overlaps(t) for t in taken):
            return cand
    raise PoolExhaustedError("all predefined address pools have been fully subnetted",
                             hint="remove unused networks or give ipam.config.subnet")


def ula_subnet(name: str) -> IPv6Net:
    """A stable /64 in fd00::/8 derived from the network name (RFC 4193 style)."""
    h = hashlib.sha256(name.encode()).digest()
    gid = int.from_bytes(h[:5], "big")
    return IPv6Net(((0xFD << 120) | (gid << 80), 64))


def _net(text: str, what: str, netname: str) -> IPv4Net:
    try:
        return IPv4Net(text, strict=False)
    except ValueError as e:
        raise NetConfigError(f"network {netname}: invalid {what} {text!r}") from e


def _addr(text: str, what: str, netname: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError as e:
        raise NetConfigError(f"network {netname}: invalid {what} {text!r}") from e


def resolve(netname: str, pools: tuple[IpamPool, ...], in_use: Iterable[IPv4Net],
            ipv6: bool = False) -> Subnet:
    """The addressing for a network: explicit ipam.config (first IPv4 entry; an IPv6 entry
    sets the v6 subnet) or a free subnet from the default pool."""
    v4 = [p for p in pools if p.subnet and ":" not in p.subnet]
    v6 = [p for p in pools if p.subnet and ":" in p.subnet]
    taken = list(in_use)
    if v4:
        pool = v4[0]
        assert pool.subnet is not None
        subnet = _net(pool.subnet, "subnet", netname)
        if subnet.prefixlen > 30:
            raise NetConfigError(f"network {netname}: subnet {subnet} is too small")
        clash = next((t for t in taken if subnet.overlaps(t)), None)
        if clash is not None:
            raise AddressInUseError(f"network {netname}: subnet {subnet} overlaps {clash} "
                                    "already in use on this host")
    else:
        subnet = choose_subnet(taken)
        pool = IpamPool()
    ip_range = None
    if pool.ip_range:
        rng = _net(pool.ip_range, "ip_range", netname)
        if not rng.subnet_of(subnet):
            raise NetConfigError(f"network {netname}: ip_range {rng} is not inside {subnet}")
        ip_range = str(rng)
    if pool.gateway:
        gw = _addr(pool.gateway, "gateway", netname)
        if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
            raise NetConfigError(f"network {netname}: gateway {gw} is not a host of {subnet}")
    else:
        gw = subnet.network_address + 1
    reserved = []
    for key, val in sorted(pool.aux_addresses.items()):
        a = _addr(val, f"aux_address {key}", netname)
        if a not in subnet:
            raise NetConfigError(f"network {netname}: aux_address {key}={a} is not in {subnet}")
        reserved.append(str(a))
    subnet6 = gateway6 = None
    if v6 or ipv6:
        try:
            s6 = IPv6Net(v6[0].subnet, strict=False) if v6 and v6[0].subnet else ula_subnet(netname)
            g6 = (ipaddress.IPv6Address(v6[0].gateway) if v6 and v6[0].gateway
                  else s6.network_address + 1)
        except ValueError as e:
            raise NetConfigError(f"network {netname}: invalid IPv6 ipam config") from e
        subnet6, gateway6 = str(s6), str(g6)
    return Subnet(subnet=str(subnet), gateway=str(gw), ip_range=ip_range,
                  reserved=tuple(reserved), subnet6=subnet6, gateway6=gateway6)


def allocate(sub: Subnet, used: Iterable[str], wanted: str | None = None,
             netname: str = "") -> str:
    """A free host address of `sub` (inside ip_range when set), or check `wanted`."""
    subnet = IPv4Net(sub.subnet)
    busy = {*used, sub.gateway, *sub.reserved}
    if wanted is not None:
        a = _addr(wanted, "ipv4_address", netname)
        if a not in subnet or a in (subnet.network_address, subnet.broadcast_address):
            raise NetConfigError(f"address {a} is not a host address of network {netname} "
                                 f"({subnet})")
        if str(a) in busy:
            raise AddressInUseError(f"address {a} is already in use on network {netname}")
        return str(a)
    space = IPv4Net(sub.ip_range) if sub.ip_range else subnet
    for host in space.hosts() if space.prefixlen < 31 else iter(space):
        if host in (subnet.network_address, subnet.broadcast_address):
            continue
        if str(host) not in busy:
            return str(host)
    raise PoolExhaustedError(f"no free address left on network {netname} ({space})")


def v6_address(sub: Subnet, ipv4: str) -> str | None:
    """The container's IPv6 address: the v6 subnet plus the v4 host part (stable, unique)."""
    if sub.subnet6 is None:
        return None
    s6 = IPv6Net(sub.subnet6)
    host = int(ipaddress.IPv4Address(ipv4)) - int(IPv4Net(sub.subnet).network_address)
    return str(s6.network_address + host)


def mac_for(ipv4: str) -> str:
    """Docker's scheme: 02:42 followed by the four address bytes (unique per subnet)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ipv4).packed)
