"""Published ports: TCP and UDP answer on 127.0.0.1, on a host address (a bridge link of the
test's own) and hairpin from another container; ephemeral ports are reported; conflicts are
refused before anything is created; teardown removes the rules and the table."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec, PortSpec
from pystack.net.errors import NetConfigError, PortInUseError
from pystack.net.manager import NetworkManager
from tests.integration.net.helpers import ask, serve

pytestmark = pytest.mark.root
LOCAL_DNS = ("127.0.0.1",)
HOST_ADDR = "198.18.213.1"      # benchmark-range address on a bridge link the test creates


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = NetworkManager("pt" + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()


@pytest.fixture
def host_addr() -> Iterator[str]:
    name = os.environ["PYSTACK_IFPREFIX"] + "dm" + secrets.token_hex(2)
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{HOST_ADDR}/32", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield HOST_ADDR
    finally:
        subprocess.run(["ip", "link", "del", name], check=True)


def _table_rules(mgr: NetworkManager) -> list[str]:
    return mgr.table.comments()


def test_published_tcp_udp(mgr: NetworkManager, host_addr: str) -> None:
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    srv_box = mgr.create_sandbox(f"{p}-srv", DnsConfig(servers=LOCAL_DNS))
    cli_box = mgr.create_sandbox(f"{p}-cli", DnsConfig(servers=LOCAL_DNS))
    mgr.attach(f"{p}-srv", AttachSpec(f"{p}_a", aliases=("srv",)))
    mgr.attach(f"{p}-cli", AttachSpec(f"{p}_a", aliases=("cli",)))
    mgr.ensure_network(NetworkSpec(f"{p}_b", p))
    far_box = mgr.create_sandbox(f"{p}-far", DnsConfig(servers=LOCAL_DNS))
    mgr.attach(f"{p}-far", AttachSpec(f"{p}_b"))
    got = mgr.publish(f"{p}-srv", [PortSpec(target=80), PortSpec(target=53, protocol="udp")])
    assert [(g.target, g.protocol) for g in got] == [(80, "tcp"), (53, "udp")]
    tport, uport = got[0].published, got[1].published
    assert 32768 <= tport <= 60999 and 32768 <= uport <= 60999
    assert mgr.published(f"{p}-srv") == got
    for proto, port, target in (("tcp", tport, 80), ("udp", uport, 53)):
        srv = serve(srv_box, proto, target, n=4)
        try:
            assert ask(None, proto, "127.0.0.1", port, "lo") == "echo:lo"
            assert ask(None, proto, host_addr, port, "host") == "echo:host"
            assert ask(cli_box, proto, host_addr, port, "hairpin") == "echo:hairpin"
            # from another network: only through the published port
            assert ask(far_box, proto, host_addr, port, "far") == "echo:far"
        finally:
            srv.stop()
    # a fixed port, bound to one host address only
    fixed = _free_port()
    mgr.publish(f"{p}-cli", [PortSpec(target=81, published=fixed, host_ip=host_addr)])
    srv = serve(cli_box, "tcp", 81)
    try:
        assert ask(None, "tcp", "127.0.0.1", fixed) is None
        srv.stop()
        srv = serve(cli_box, "tcp", 81)
        assert ask(None, "tcp", host_addr, fixed, "only") == "echo:only"
    finally:
        srv.stop()
    # taken by a pystack container: refused, whatever the project
    with pytest.raises(PortInUseError):
        mgr.check_ports([PortSpec(target=1, published=tport)])
    mgr.remove_sandbox(f"{p}-srv")
    assert not any(f"ctr={p}-srv" in c for c in _table_rules(mgr))
    mgr.check_ports([PortSpec(target=1, published=tport)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_conflict_refused_before_anything(mgr: NetworkManager) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen(1)
        taken = s.getsockname()[1]
        with pytest.raises(PortInUseError) as e:
            mgr.check_ports([PortSpec(target=80, published=taken)])
        assert str(e.value) == f"Bind for 0.0.0.0:{taken} failed: port is already allocated"
        with pytest.raises(NetConfigError):
            mgr.check_ports([PortSpec(target=80, published=1, host_ip="203.0.113.77")])
        mgr.check_ports([PortSpec(target=80, published=taken, protocol="udp")])
    assert mgr.table.comments() == []
    assert mgr.list_networks() == []
    bridges = os.environ["PYSTACK_IFPREFIX"] + "b"
    assert not any(n.startswith(bridges) for n in os.listdir("/sys/class/net"))


def test_udp_flow_started_before_publish_is_redirected(mgr: NetworkManager) -> None:
    """A UDP flow that began before the port was published (conntrack remembers it without
    NAT) reaches the container once the port is published."""
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    box = mgr.create_sandbox(f"{p}-u", DnsConfig(servers=LOCAL_DNS))
    mgr.attach(f"{p}-u", AttachSpec(f"{p}_a"))
    port = _free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(1)
        c.connect(("127.0.0.1", port))
        c.send(b"early")                # creates an un-NATed conntrack entry
        time.sleep(0.1)
        c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)   # drop the ICMP "refused"
        mgr.publish(f"{p}-u", [PortSpec(target=5353, published=port, protocol="udp")])
        srv = serve(box, "udp", 5353)
        try:
            c.send(b"late")
            assert c.recv(64) == b"echo:late"
        finally:
            srv.stop()
