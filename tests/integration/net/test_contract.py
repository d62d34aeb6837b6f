"""One scenario against both the real NetworkManager and the FakeNetwork the orchestrator's
unit tests use: the same answers and the same error classes, so the fake does not lie."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from pystack.net.api import AttachSpec, DnsConfig, IpamPool, Network, NetworkSpec, PortSpec
from pystack.net.errors import (
    AddressInUseError,
    NetConfigError,
    NetError,
    NetworkNotFoundError,
    PortInUseError,
    SandboxNotFoundError,
)
from pystack.net.fake import FakeNetwork
from pystack.net.manager import NetworkManager

pytestmark = pytest.mark.root
DNS = DnsConfig(servers=("127.0.0.1",))


@pytest.fixture(params=["real", "fake"])
def net(request: pytest.FixtureRequest) -> Iterator[tuple[Network, str]]:
    project = "ct" + secrets.token_hex(3)
    n: Network = NetworkManager(project) if request.param == "real" else FakeNetwork(project)
    try:
        yield n, project
    finally:
        n.teardown()


def test_same_behaviour(net: tuple[Network, str]) -> None:
    n, p = net
    spec = NetworkSpec(f"{p}_a", p, ipam=(IpamPool(subnet="198.18.240.0/24"),))
    info = n.ensure_network(spec)
    assert n.ensure_network(spec) == info
    assert (info.subnet, info.gateway) == ("198.18.240.0/24", "198.18.240.1")
    n.ensure_network(NetworkSpec(f"{p}_b", p))
    assert [i.name for i in n.list_networks()] == [f"{p}_a", f"{p}_b"]
    with pytest.raises(NetworkNotFoundError):
        n.ensure_network(NetworkSpec(f"{p}_zz", p, external=True))
    with pytest.raises(SandboxNotFoundError):
        n.attach(f"{p}-x", AttachSpec(f"{p}_a"))
    sb = n.create_sandbox(f"{p}-1", DNS)
    assert sb.attachments == () and n.sandbox(f"{p}-1") == sb
    with pytest.raises(NetworkNotFoundError):
        n.attach(f"{p}-1", AttachSpec(f"{p}_zz"))
    with pytest.raises(NetConfigError):
        n.attach(f"{p}-1", AttachSpec(f"{p}_a", ipv4_address="10.1.1.1"))
    with pytest.raises(NetConfigError):
        n.attach(f"{p}-1", AttachSpec(f"{p}_a", aliases=("bad name",)))
    a0 = n.attach(f"{p}-1", AttachSpec(f"{p}_a", aliases=("web",)))
    assert n.attach(f"{p}-1", AttachSpec(f"{p}_a", aliases=("web",))) == a0
    assert (a0.interface, a0.ipv4_address, a0.prefixlen, a0.mac_address) == \
        ("eth0", "198.18.240.2", 24, "02:42:c6:12:f0:02")
    assert n.attach(f"{p}-1", AttachSpec(f"{p}_b")).interface == "eth1"
    n.create_sandbox(f"{p}-2", DNS)
    with pytest.raises(AddressInUseError):
        n.attach(f"{p}-2", AttachSpec(f"{p}_a", ipv4_address="198.18.240.2"))
    with pytest.raises(NetError):
        n.remove_network(f"{p}_a")                  # active endpoints
    got = n.publish(f"{p}-1", [PortSpec(target=80)])
    assert 32768 <= got[0].published <= 60999 and got[0].host_ip == "0.0.0.0"
    assert n.published(f"{p}-1") == got
    with pytest.raises(PortInUseError):
        n.check_ports([PortSpec(target=81, published=got[0].published)])
    n.detach(f"{p}-1", f"{p}_b")
    n.detach(f"{p}-1", f"{p}_b")                    # idempotent
    assert [a.network for a in (n.sandbox(f"{p}-1") or sb).attachments] == [f"{p}_a"]
    n.remove_sandbox(f"{p}-1")
    n.remove_sandbox(f"{p}-1")
    assert n.sandbox(f"{p}-1") is None and n.published(f"{p}-1") == []
    n.teardown()
    n.teardown()
    assert n.list_networks() == [] and n.sandbox(f"{p}-2") is None
