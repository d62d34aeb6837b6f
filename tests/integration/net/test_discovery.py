"""Sandboxes on one network reach each other by every alias over TCP and UDP, not across
networks; internal networks have no way out; static addresses; names follow membership."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec, Sandbox
from pystack.net.errors import AddressInUseError, NetConfigError
from pystack.net.manager import NetworkManager
from tests.integration.net.helpers import ask, run_in, serve

pytestmark = pytest.mark.root
# name lookups that miss the hosts file must never leave the sandbox: DNS goes to its own lo
LOCAL_DNS = ("127.0.0.1",)


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = NetworkManager("nt" + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()


def test_names_tcp_udp_and_isolation(mgr: NetworkManager) -> None:
    p = mgr.project
    a = mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    b = mgr.ensure_network(NetworkSpec(f"{p}_b", p))
    assert a.subnet != b.subnet and len(a.bridge) <= 15
    for cid in ("c1", "c2", "c3"):
        mgr.create_sandbox(f"{p}-{cid}", DnsConfig(servers=LOCAL_DNS, hostname=cid))
    mgr.attach(f"{p}-c1", AttachSpec(f"{p}_a", aliases=("web", f"{p}-web-1")))
    at2 = mgr.attach(f"{p}-c2", AttachSpec(f"{p}_a", aliases=("db", "database", f"{p}-db-1")))
    at3 = mgr.attach(f"{p}-c3", AttachSpec(f"{p}_b", aliases=("other",)))
    c1, c2, c3 = (mgr.sandbox(f"{p}-{c}") for c in ("c1", "c2", "c3"))
    assert c1 and c2 and c3
    assert at2.interface == "eth0" and at2.gateway == a.gateway

    for proto in ("tcp", "udp"):
        srv = serve(c2, proto, 7000, n=2)
        try:
            assert ask(c1, proto, "db", 7000, "x") == "echo:x"
            assert ask(c1, proto, "database", 7000, "y") == "echo:y"
        finally:
            srv.stop()
    # c3 is on another network: the name does not resolve, the address is not routed
    assert ask(c3, "tcp", "db", 7000) is None
    srv = serve(c2, "tcp", 7001)
    try:
        assert ask(c3, "tcp", at2.ipv4_address, 7001) is None
    finally:
        srv.stop()
    hosts3 = Path(c3.hosts_path).read_text()
    assert "db" not in hosts3 and "other" in hosts3
    assert f"{at3.ipv4_address}\tc3" in hosts3


def test_membership_updates_names_in_place(mgr: NetworkManager) -> None:
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    s1 = mgr.create_sandbox(f"{p}-1", DnsConfig(servers=LOCAL_DNS,
                                                 extra_hosts=(("h.example", "10.9.9.9"),)))
    mgr.attach(f"{p}-1", AttachSpec(f"{p}_a", aliases=("app",)))
    inode = Path(s1.hosts_path).stat().st_ino
    ips = []
    for n in (2, 3):     # two replicas of one service
        mgr.create_sandbox(f"{p}-{n}", DnsConfig(servers=LOCAL_DNS))
        ips.append(mgr.attach(f"{p}-{n}", AttachSpec(f"{p}_a", aliases=("worker",)))
                   .ipv4_address)
    r = run_in(s1, "getent", "ahostsv4", "worker")
    assert sorted({ln.split()[0] for ln in r.stdout.splitlines()}) == sorted(ips)
    assert run_in(s1, "getent", "hosts", "h.example").stdout.split()[0] == "10.9.9.9"
    mgr.remove_sandbox(f"{p}-2")
    r = run_in(s1, "getent", "ahostsv4", "worker")
    assert {ln.split()[0] for ln in r.stdout.splitlines()} == {ips[1]}
    mgr.detach(f"{p}-3", f"{p}_a")
    assert run_in(s1, "getent", "hosts", "worker").returncode != 0
    assert Path(s1.hosts_path).stat().st_ino == inode


def test_internal_static_and_default_route(mgr: NetworkManager) -> None:
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_in", p, internal=True))
    ext = mgr.ensure_network(NetworkSpec(f"{p}_out", p))
    sb = mgr.create_sandbox(f"{p}-x", DnsConfig(servers=("10.0.0.53",), search=("corp",),
                                                options=("ndots:2",)))
    at = mgr.attach(f"{p}-x", AttachSpec(f"{p}_in", priority=5))
    assert "default" not in run_in(sb, "ip", "route").stdout
    static = ext.subnet.replace(".0/", ".77/").split("/")[0]
    mgr.attach(f"{p}-x", AttachSpec(f"{p}_out", ipv4_address=static,
                                    mac_address="02:aa:bb:cc:dd:ee"))
    routes = run_in(sb, "ip", "route").stdout
    assert f"default via {ext.gateway} dev eth1" in routes
    link = run_in(sb, "ip", "-o", "link", "show", "eth1").stdout
    assert "02:aa:bb:cc:dd:ee" in link
    assert f"inet {static}/" in run_in(sb, "ip", "-4", "a").stdout
    resolv = Path(sb.resolv_path).read_text()
    assert resolv == "nameserver 10.0.0.53\nsearch corp\noptions ndots:2\n"
    with pytest.raises(AddressInUseError):
        mgr.create_sandbox(f"{p}-y", DnsConfig())
        mgr.attach(f"{p}-y", AttachSpec(f"{p}_in", ipv4_address=at.ipv4_address))
    with pytest.raises(NetConfigError):
        mgr.attach(f"{p}-y", AttachSpec(f"{p}_in", ipv4_address="10.1.2.3"))
    # detaching the routed network leaves no default route
    mgr.detach(f"{p}-x", f"{p}_out")
    assert "default" not in run_in(sb, "ip", "route").stdout


def test_ipv6_and_none_mode(mgr: NetworkManager) -> None:
    p = mgr.project
    net = mgr.ensure_network(NetworkSpec(f"{p}_v6", p, enable_ipv6=True))
    assert net.subnet6 and net.subnet6.startswith("fd") and net.gateway6
    none = mgr.create_sandbox(f"{p}-none", DnsConfig(servers=LOCAL_DNS))
    links = run_in(none, "ip", "-o", "link").stdout
    assert "lo:" in links and "eth0" not in links and "UP" in links.splitlines()[0]
    sb = mgr.create_sandbox(f"{p}-6", DnsConfig(servers=LOCAL_DNS))
    at = mgr.attach(f"{p}-6", AttachSpec(f"{p}_v6", aliases=("six",)))
    assert at.ipv6_address
    assert f"inet6 {at.ipv6_address}/64" in run_in(sb, "ip", "-6", "addr").stdout
    assert f"default via {net.gateway6}" in run_in(sb, "ip", "-6", "route").stdout
    ping = run_in(sb, "busybox", "ping", "-6", "-c", "1", "-W", "5", str(net.gateway6))
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert f"{at.ipv6_address}\tsix" in Path(sb.hosts_path).read_text()


def test_outbound_nat_and_internal_isolation(mgr: NetworkManager) -> None:
    """An 'outside' netns of the test's own, reachable from the host through a veth: a
    container on a normal network reaches it masqueraded (the outside has no route back to
    the container subnet), one on an internal network cannot."""
    from pystack.net import netns

    p = mgr.project
    pin = Path(os.environ["PYSTACK_RUN"]) / f"outside-{p}"
    host_end = os.environ["PYSTACK_IFPREFIX"] + "ou" + p[-4:]
    netns.create(pin)
    try:
        subprocess.run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", "o0",
                        "netns", str(pin)], check=True)
        subprocess.run(["ip", "addr", "add", "198.18.214.1/30", "dev", host_end], check=True)
        subprocess.run(["ip", "link", "set", host_end, "up"], check=True)
        for cmd in (["ip", "addr", "add", "198.18.214.2/30", "dev", "o0"],
                    ["ip", "link", "set", "o0", "up"], ["ip", "link", "set", "lo", "up"]):
            subprocess.run(["nsenter", f"--net={pin}", *cmd], check=True)
        mgr.ensure_network(NetworkSpec(f"{p}_out", p))
        mgr.ensure_network(NetworkSpec(f"{p}_in", p, internal=True))
        routed = mgr.create_sandbox(f"{p}-r", DnsConfig(servers=LOCAL_DNS))
        mgr.attach(f"{p}-r", AttachSpec(f"{p}_out"))
        closed = mgr.create_sandbox(f"{p}-i", DnsConfig(servers=LOCAL_DNS))
        mgr.attach(f"{p}-i", AttachSpec(f"{p}_in"))
        outside = Sandbox(container_id="outside", project="", netns_path=str(pin),
                          hosts_path="/etc/hosts", resolv_path="/etc/resolv.conf")
        srv = serve(outside, "tcp", 7100, n=2)
        try:
            assert ask(routed, "tcp", "198.18.214.2", 7100, "nat") == "echo:nat"
            assert ask(closed, "tcp", "198.18.214.2", 7100, "leak") is None
        finally:
            srv.stop()
    finally:
        subprocess.run(["ip", "link", "del", host_end], check=False)
        netns.remove(pin)
