"""A container must not reach the host's loopback through its bridge (issue 9 item 5, the
CVE-2020-8558 class): it hand-crafts a frame to the gateway's MAC with destination 127.0.0.1.

With route_localnet=1 on the bridge (which 127.0.0.1 publishing needs) the host's kernel
takes such a packet as local; pystack drops every packet for 127.0.0.0/8 that arrives on one
of its bridges before NAT, as Kubernetes does.  The attack packet and a control packet (to
the gateway's own address) leave on one CPU, one after the other: the host handles them in
that order, so once the control arrived the attack packet has arrived too, or never will.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec, PortSpec
from pystack.net.manager import NetworkManager
from tests.integration.net.helpers import ask, serve

pytestmark = pytest.mark.root

# In the container's netns: raw IPv4/UDP frames to the gateway's MAC, attack first.
SENDER = r"""
import os, socket, struct, sys
ifname, src_mac, gw_mac, src_ip = sys.argv[1:5]
targets = [(a, int(p)) for a, p in zip(sys.argv[5::2], sys.argv[6::2])]
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for ip, port in targets:
    payload = b"to " + ip.encode()
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                      socket.inet_aton(src_ip), socket.inet_aton(ip))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    eth = bytes.fromhex(gw_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    s.send(eth + b"\x08\x00" + hdr + udp)
"""


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = NetworkManager("ln" + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()


def _udp(addr: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 0))
    return s


def test_container_cannot_reach_host_loopback_via_the_gateway(mgr: NetworkManager) -> None:
    p = mgr.project
    net = mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    box = mgr.create_sandbox(f"{p}-evil", DnsConfig(servers=("127.0.0.1",)))
    at = mgr.attach(f"{p}-evil", AttachSpec(f"{p}_a"))
    # A port published on 127.0.0.1 (what route_localnet is for) must keep working.
    pub = mgr.publish(f"{p}-evil", [PortSpec(target=80, host_ip="127.0.0.1",
                                             protocol="udp")])[0].published
    gw_mac = Path(f"/sys/class/net/{net.bridge}/address").read_text().strip()
    victim = _udp("127.0.0.1")                 # a host service bound to loopback only
    control = _udp(net.gateway)
    try:
        vport, cport = victim.getsockname()[1], control.getsockname()[1]
        subprocess.run(["nsenter", f"--net={box.netns_path}", sys.executable, "-c", SENDER,
                        at.interface, at.mac_address, gw_mac, at.ipv4_address,
                        "127.0.0.1", str(vport), net.gateway, str(cport)],
                       check=True, timeout=30)
        control.settimeout(10)
        assert control.recv(64) == f"to {net.gateway}".encode()   # the path works
        victim.setblocking(False)
        try:
            got = victim.recv(64)
        except BlockingIOError:
            got = b""
        assert got == b"", "a container's packet reached a host service on 127.0.0.1"
    finally:
        victim.close()
        control.close()
    srv = serve(box, "udp", 80)
    try:
        assert ask(None, "udp", "127.0.0.1", pub, "lo") == "echo:lo"
    finally:
        srv.stop()
