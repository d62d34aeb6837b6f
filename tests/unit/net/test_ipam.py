"""IPAM: the default pool order, overlap avoidance, explicit configs, address allocation."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.net import ipam
from pystack.net.api import IpamPool
from pystack.net.errors import AddressInUseError, NetConfigError, PoolExhaustedError

N = ipaddress.IPv4Network


def test_default_pool_is_dockers() -> None:
    pool = list(ipam.default_pool())
    assert pool[0] == N("172.17.0.0/16") and pool[14] == N("172.31.0.0/16")
    assert pool[15] == N("192.168.0.0/20") and pool[-1] == N("192.168.240.0/20")
    assert len(pool) == 15 + 16


def test_choose_skips_overlaps() -> None:
    assert ipam.choose_subnet([N("172.17.3.0/24"), N("172.18.0.0/16")]) == N("172.19.0.0/16")
    assert ipam.choose_subnet([N("172.16.0.0/12")]) == N("192.168.0.0/20")
    with pytest.raises(PoolExhaustedError):
        ipam.choose_subnet([N("172.16.0.0/12"), N("192.168.0.0/16")])


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 30)), max_size=12))
def test_choice_never_overlaps(taken_raw: list[tuple[int, int]]) -> None:
    taken = [N((addr, plen), strict=False) for addr, plen in taken_raw]
    try:
        got = ipam.choose_subnet(taken)
    except PoolExhaustedError:
        assert all(any(c.overlaps(t) for t in taken) for c in ipam.default_pool())
        return
    assert got in list(ipam.default_pool())
    assert not any(got.overlaps(t) for t in taken)


def test_explicit_config() -> None:
    sub = ipam.resolve("n", (IpamPool(subnet="10.5.0.0/16", ip_range="10.5.7.0/24",
                                      gateway="10.5.0.254", aux_addresses={"r": "10.5.7.1"}),),
                       [])
    assert sub == ipam.Subnet("10.5.0.0/16", "10.5.0.254", "10.5.7.0/24", ("10.5.7.1",))
    assert ipam.allocate(sub, []) == "10.5.7.2"
    assert ipam.allocate(sub, ["10.5.7.2"]) == "10.5.7.3"
    assert ipam.allocate(sub, [], wanted="10.5.9.9") == "10.5.9.9"


@pytest.mark.parametrize("pool, message", [
    (IpamPool(subnet="10.5.0.0/33"), "network n: invalid subnet '10.5.0.0/33'"),
    (IpamPool(subnet="10.5.0.0/16", gateway="10.6.0.1"),
     "network n: gateway 10.6.0.1 is not a host of 10.5.0.0/16"),
    (IpamPool(subnet="10.5.0.0/16", ip_range="10.6.0.0/24"),
     "network n: ip_range 10.6.0.0/24 is not inside 10.5.0.0/16"),
    (IpamPool(subnet="10.5.0.0/16", aux_addresses={"x": "1.2.3.4"}),
     "network n: aux_address x=1.2.3.4 is not in 10.5.0.0/16"),
])
def test_bad_config_messages(pool: IpamPool, message: str) -> None:
    with pytest.raises(NetConfigError) as e:
        ipam.resolve("n", (pool,), [])
    assert str(e.value) == message


def test_explicit_overlap_refused() -> None:
    with pytest.raises(AddressInUseError, match=r"overlaps 10\.0\.0\.0/8"):
        ipam.resolve("n", (IpamPool(subnet="10.5.0.0/16"),), [N("10.0.0.0/8")])


def test_allocate_errors_and_exhaustion() -> None:
    sub = ipam.Subnet("10.1.0.0/30", "10.1.0.1")
    assert ipam.allocate(sub, []) == "10.1.0.2"
    with pytest.raises(PoolExhaustedError):
        ipam.allocate(sub, ["10.1.0.2"])
    with pytest.raises(AddressInUseError):
        ipam.allocate(sub, [], wanted="10.1.0.1")
    with pytest.raises(NetConfigError):
        ipam.allocate(sub, [], wanted="10.1.0.3")      # broadcast
    with pytest.raises(NetConfigError):
        ipam.allocate(sub, [], wanted="banana")


def test_ipv6_ula_and_mac() -> None:
    sub = ipam.resolve("proj_net", (), [], ipv6=True)
    assert sub.subnet6 is not None and sub.gateway6 is not None
    s6 = ipaddress.IPv6Network(sub.subnet6)
    assert s6.prefixlen == 64 and s6.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    assert sub.subnet6 == ipam.resolve("proj_net", (), [], ipv6=True).subnet6
    assert ipam.v6_address(sub, "172.17.0.2") == str(s6.network_address + 2)
    assert ipam.mac_for("172.17.0.2") == "02:42:ac:11:00:02"
    v6 = ipam.resolve("n", (IpamPool(subnet="fd12::/64"),), [])
    assert v6.subnet6 == "fd12::/64" and v6.gateway6 == "fd12::1"
