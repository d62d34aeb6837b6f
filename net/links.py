"""Bridges, veth pairs, addresses and routes through rtnetlink (net/rtnl.py).

One `Links` object holds one host netlink socket (requests serialized by `lock`: the threads
of a parallel `up` share it); configuration inside a container's namespace uses a socket
opened while the thread is in that namespace (netns.entered).  The veth's container end is
created directly inside the namespace (IFLA_NET_NS_FD) with its MAC: no move, ~3x faster
(research §5), and the host end is created up on its bridge in the same request.
OSError codes from the kernel are translated into NetError here.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pystack.net import netns
from pystack.net.errors import NetError
from pystack.net.rtnl import Rtnl


@contextmanager
def _netlink(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        raise NetError(f"{what}: {e.strerror or e}") from e


def write_sysctl(path: str, value: str) -> str | None:
    """Write a /proc/sys value; returns the previous value (None if the knob is missing)."""
    p = Path("/proc/sys") / path
    try:
        old = p.read_text().strip()
        if old != value:
            p.write_text(value)
        return old
    except FileNotFoundError:
        return None
    except OSError as e:
        raise NetError(f"set sysctl {path}={value}: {e.strerror}") from e


class Links:
    def __init__(self) -> None:
        self._rt: Rtnl | None = None
        # One host socket shared by the threads that attach containers in parallel: its
        # requests are serialized here (the kernel serializes them under RTNL anyway).
        self.lock = threading.RLock()

    @property
    def rt(self) -> Rtnl:
        """The host socket; use under `lock`."""
        with self.lock:
            if self._rt is None:
                self._rt = Rtnl()
            return self._rt

    def close(self) -> None:
        if self._rt is not None:
            self._rt.close()
            self._rt = None

    # host inspection ----------------------------------------------------------------------

    def index(self, name: str) -> int | None:
        """A host link's index (sysfs: pyroute2's link_lookup dumps every link)."""
        if "/" in name or name in (".", ".."):
            return None
        try:
            return int(Path(f"/sys/class/net/{name}/ifindex").read_text())
        except (OSError, ValueError):
            return None

    def names(self, prefix: str) -> list[str]:
        return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))

    def wait_gone(self, names: list[str], timeout: float) -> list[str]:
        """Poll until none of `names` exists (the kernel frees a netns' veths shortly after
        its last reference goes); returns those still present after `timeout`."""
        deadline = time.monotonic() + timeout
        left = [n for n in names if os.path.exists(f"/sys/class/net/{n}")]
        while left and time.monotonic() < deadline:
            time.sleep(0.005)
            left = [n for n in left if os.path.exists(f"/sys/class/net/{n}")]
        return left

    def forwarding_bridges(self) -> list[str]:
        """Host bridges set up for routed containers (route_localnet=1: pystack sets it on
        every non-internal bridge)."""
        out = []
        for name in os.listdir("/sys/class/net"):
            if self.is_bridge(name):
                try:
                    if Path(f"/proc/sys/net/ipv4/conf/{name}/route_localnet").read_text() \
                            .strip() == "1":
                        out.append(name)
                except OSError:
                    continue
        return out

    def is_bridge(self, name: str) -> bool:
        return Path(f"/sys/class/net/{name}/bridge").is_dir()

    def in_use(self) -> list[ipaddress.IPv4Network]:
        """Every IPv4 route destination and address prefix on the host (not default routes)."""
        out: list[ipaddress.IPv4Network] = []
        with self.lock, _netlink("list routes"):
            for r in self.rt.routes(socket.AF_INET):
                if r.dst and r.dst_len > 0:
                    out.append(ipaddress.IPv4Network(f"{r.dst}/{r.dst_len}", strict=False))
            for a in self.rt.addrs(socket.AF_INET):
                if not a.address.startswith("127."):
                    out.append(ipaddress.IPv4Network(f"{a.address}/{a.prefixlen}",
                                                     strict=False))
        return out

    def addresses(self, index: int) -> list[tuple[str, int]]:
        """(address, prefixlen) of a host link's IPv4 addresses."""
        with self.lock, _netlink("list addresses"):
            return [(a.address, a.prefixlen) for a in self.rt.addrs(socket.AF_INET, index)]

    def default_mtu(self) -> int:
        with self.lock, _netlink("read the default route"):
            for r in self.rt.routes(socket.AF_INET):
                if r.dst_len == 0 and r.table == 254 and r.oif:
                    try:
                        name = socket.if_indextoname(r.oif)
                        return int(Path(f"/sys/class/net/{name}/mtu").read_text())
                    except (OSError, ValueError):
                        continue
        return 1500

    def flush_udp_conntrack(self, ports: list[int]) -> None:
        """Forget conntrack entries of UDP flows to these host ports: a flow that started
        before the DNAT rule existed would keep bypassing it (Docker does the same)."""
        if not ports:
            return
        from pyroute2.conntrack import Conntrack, NFCTAttrTuple

        ct = Conntrack()
        try:
            for port in ports:
                for entry in list(ct.dump_entries(tuple_orig=NFCTAttrTuple(proto=17,
                                                                           dport=port))):
                    try:
                        ct.delete(entry)
                    except Exception:   # already expired; pyroute2 raises NetlinkError
                        continue
        except Exception as e:
            raise NetError(f"flush conntrack entries of UDP ports {ports}: {e}") from e
        finally:
            ct.close()

    # bridges ------------------------------------------------------------------------------

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, mtu: int,
                      gateway6: str | None = None, prefixlen6: int = 64) -> None:
        idx = self.index(name)
        with self.lock, _netlink(f"create bridge {name}"):
            if idx is None:
                # a fixed MAC: otherwise the bridge takes its lowest port's, which changes as
                # containers come and go and leaves stale gateway ARP entries (netavark pins it)
                mac = "02:" + ":".join(f"{b:02x}" for b in
                                       hashlib.sha256(name.encode()).digest()[:5])
                self.rt.add_bridge(name, mtu, mac)
                idx = self.index(name)
                if idx is None:
                    raise OSError(errno.ENODEV, "the new bridge vanished")
            have = {a.address for a in self.rt.addrs(0, idx)}
            if gateway not in have:
                self.rt.add_addr(idx, gateway, prefixlen)
            if gateway6:
                write_sysctl(f"net/ipv6/conf/{name}/accept_dad", "0")
                if gateway6 not in have:
                    self.rt.add_addr(idx, gateway6, prefixlen6)
            self.rt.set_up(idx)

    def delete(self, name: str) -> None:
        """Delete a link by name; missing is fine."""
        idx = self.index(name)
        if idx is None:
            return
        try:
            with self.lock, _netlink(f"delete link {name}"):
                self.rt.delete_link(idx)
        except NetError as e:
            if isinstance(e.__cause__, OSError) and e.__cause__.errno in (
                    errno.ENODEV, errno.ENOENT):
                return
            raise

    # endpoints ----------------------------------------------------------------------------

    def add_veth(self, host: str, pin: Path, ifname: str, mac: str, mtu: int,
                 bridge: str) -> None:
        """The pair, the host end up on `bridge`, the other end up as `ifname` in `pin`."""
        br = self.index(bridge)
        if br is None:
            raise NetError(f"bridge {bridge} is gone")
        fd = netns.open_fd(pin)
        try:
            with self.lock, _netlink(f"create veth {host}"):
                self.rt.add_veth(host, mtu, br, ifname, fd, mac)
        finally:
            os.close(fd)

    def configure_inside(self, pin: Path, ifname: str, address: str, prefixlen: int,
                         gateway: str | None, address6: str | None = None,
                         gateway6: str | None = None) -> None:
        """Inside the sandbox: the address(es), the link up, the default route."""
        with netns.entered(pin):
            ns = Rtnl()
            if address6:
                write_sysctl(f"net/ipv6/conf/{ifname}/accept_dad", "0")
        with ns, _netlink(f"configure {ifname} in {pin.name}"):
            idx = ns.link(ifname)[0]
            ns.add_addr(idx, address, prefixlen)
            if address6:
                ns.add_addr(idx, address6, 64)
            ns.set_up(idx)
            if gateway:
                ns.replace_default(gateway)
                if gateway6 and address6:
                    ns.replace_default(gateway6)

    def delete_inside(self, pin: Path, ifname: str) -> None:
        """Delete a container-side link (its host peer goes with it)."""
        if not netns.is_pinned(pin):
            return
        with netns.entered(pin):
            ns = Rtnl()
        with ns, _netlink(f"delete {ifname} in {pin.name}"):
            idx = ns.index(ifname)
            if idx is not None:
                ns.delete_link(idx)

    def set_default_route(self, pin: Path, gateway: str | None) -> None:
        """Point the sandbox's default route at `gateway` (or remove it when None)."""
        with netns.entered(pin):
            ns = Rtnl()
        with ns, _netlink(f"default route in {pin.name}"):
            if gateway:
                ns.replace_default(gateway)
            else:
                for r in ns.routes(socket.AF_INET):
                    if r.dst_len == 0 and r.table == 254 and r.gateway:
                        ns.delete_default(r.gateway)
