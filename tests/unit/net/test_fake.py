"""The in-memory FakeNetwork keeps the rules the orchestrator relies on."""

from __future__ import annotations

import pytest

from pystack.net.api import AttachSpec, DnsConfig, Network, NetworkSpec, PortSpec
from pystack.net.errors import (
    AddressInUseError,
    NetConfigError,
    NetworkNotFoundError,
    PortInUseError,
    SandboxNotFoundError,
)
from pystack.net.fake import FakeNetwork


def _up(fake: FakeNetwork, cid: str, net: str, *aliases: str) -> str:
    fake.create_sandbox(cid, DnsConfig())
    return fake.attach(cid, AttachSpec(network=net, aliases=aliases)).ipv4_address


def test_satisfies_protocol() -> None:
    n: Network = FakeNetwork()
    assert n.list_networks() == []


def test_networks_idempotent_and_external() -> None:
    fake = FakeNetwork("p", external=["shared"])
    a = fake.ensure_network(NetworkSpec("p_default", "p"))
    assert fake.ensure_network(NetworkSpec("p_default", "p")) == a
    assert a.subnet == "172.17.0.0/16" and a.gateway == "172.17.0.1"
    assert fake.ensure_network(NetworkSpec("shared", "p", external=True)).external
    with pytest.raises(NetworkNotFoundError):
        fake.ensure_network(NetworkSpec("nope", "p", external=True))
    assert [n.name for n in fake.list_networks()] == ["p_default"]
    fake.teardown()
    assert fake.list_networks() == []
    assert fake.ensure_network(NetworkSpec("shared", "p", external=True)).external


def test_attach_resolve_and_isolation() -> None:
    fake = FakeNetwork("p")
    fake.ensure_network(NetworkSpec("p_a", "p"))
    fake.ensure_network(NetworkSpec("p_b", "p"))
    ip1 = _up(fake, "c1", "p_a", "web", "p-web-1")
    ip2 = _up(fake, "c2", "p_a", "web", "p-web-2")
    _up(fake, "c3", "p_b", "db")
    assert fake.resolve("c1", "web") == sorted([ip1, ip2])
    assert fake.resolve("c1", "db") == []
    att = fake.attach("c1", AttachSpec(network="p_b"))
    assert att.interface == "eth1"
    assert fake.resolve("c1", "db") != []
    fake.detach("c1", "p_b")
    assert fake.resolve("c1", "db") == []


def test_attach_errors() -> None:
    fake = FakeNetwork("p")
    fake.ensure_network(NetworkSpec("p_a", "p"))
    with pytest.raises(SandboxNotFoundError):
        fake.attach("x", AttachSpec(network="p_a"))
    fake.create_sandbox("x", DnsConfig())
    with pytest.raises(NetworkNotFoundError):
        fake.attach("x", AttachSpec(network="p_zz"))
    with pytest.raises(NetConfigError):
        fake.attach("x", AttachSpec(network="p_a", ipv4_address="10.0.0.5"))
    fake.attach("x", AttachSpec(network="p_a", ipv4_address="172.17.0.9"))
    fake.create_sandbox("y", DnsConfig())
    with pytest.raises(AddressInUseError):
        fake.attach("y", AttachSpec(network="p_a", ipv4_address="172.17.0.9"))


def test_ports() -> None:
    fake = FakeNetwork("p", taken_ports=[(8080, "tcp")])
    fake.create_sandbox("c", DnsConfig())
    with pytest.raises(PortInUseError):
        fake.check_ports([PortSpec(target=80, published=8080)])
    fake.check_ports([PortSpec(target=80, published=8080, protocol="udp")])
    got = fake.publish("c", [PortSpec(target=80), PortSpec(target=53, published=53,
                                                           protocol="udp")])
    assert got[0].published == 32768 and got[1].published == 53
    assert fake.published("c") == got
    fake.remove_sandbox("c")
    assert fake.published("c") == [] and fake.sandbox("c") is None
