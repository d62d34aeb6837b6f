"""Subnet choice around the host's routes, MTU, external networks, 50 attach/detach cycles,
idempotent and crash-safe teardown that removes exactly one project's objects."""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net import netns
from pystack.net.api import AttachSpec, DnsConfig, IpamPool, NetworkSpec, PortSpec
from pystack.net.errors import (
    AddressInUseError,
    NetConfigError,
    NetworkConflictError,
    NetworkNotFoundError,
)
from pystack.net.manager import NetworkManager
from tests.support import hostenv

pytestmark = pytest.mark.root
LOCAL_DNS = DnsConfig(servers=("127.0.0.1",))
PREFIX = os.environ.get("PYSTACK_IFPREFIX", "ps")


def _mgr(tag: str) -> NetworkManager:
    return NetworkManager(tag + secrets.token_hex(3))


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = _mgr("lc")
    try:
        yield m
    finally:
        m.teardown()
        m.close()


def _sysctl(key: str) -> str:
    return Path(f"/proc/sys/{key}").read_text().strip()


def _pins(m: NetworkManager) -> list[str]:
    return sorted(os.listdir(m.store.pins)) if m.store.pins.is_dir() else []


def test_subnet_skips_existing_route_and_mtu(mgr: NetworkManager) -> None:
    p = mgr.project
    first = mgr.ensure_network(NetworkSpec(f"{p}_probe", p))
    mgr.remove_network(f"{p}_probe")
    block = ipaddress.IPv4Network(first.subnet)
    squat = next(block.subnets(new_prefix=24))
    name = f"{PREFIX}sq{secrets.token_hex(2)}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{squat.network_address + 1}/24", "dev", name],
                       check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        net = mgr.ensure_network(NetworkSpec(f"{p}_a", p, driver_opts={
            "com.docker.network.driver.mtu": "1400"}))
        assert not ipaddress.IPv4Network(net.subnet).overlaps(squat)
        assert Path(f"/sys/class/net/{net.bridge}/mtu").read_text().strip() == "1400"
        # explicit subnet overlapping the squatter is refused with nothing created
        with pytest.raises(NetConfigError):
            mgr.ensure_network(NetworkSpec(f"{p}_bad", p, driver_opts={
                "com.docker.network.driver.mtu": "x"}))
        with pytest.raises(AddressInUseError, match="overlaps"):
            mgr.ensure_network(NetworkSpec(f"{p}_b", p, ipam=(IpamPool(subnet=str(squat)),)))
        assert [n.name for n in mgr.list_networks()] == [f"{p}_a"]
        with pytest.raises(NetworkConflictError, match="different internal"):
            mgr.ensure_network(NetworkSpec(f"{p}_a", p, internal=True))
        # a host bridge serves as an external network, and is never removed
        ext = mgr.ensure_network(NetworkSpec(name, "", external=True))
        assert ext.external and ext.subnet == str(squat)
        mgr.create_sandbox(f"{p}-e", LOCAL_DNS)
        at = mgr.attach(f"{p}-e", AttachSpec(name))
        assert ipaddress.IPv4Address(at.ipv4_address) in squat
        mgr.teardown()
        assert Path(f"/sys/class/net/{name}").exists()
    finally:
        subprocess.run(["ip", "link", "del", name], check=True)
    with pytest.raises(NetworkNotFoundError):
        mgr.ensure_network(NetworkSpec(f"{p}_nope", p, external=True))


def test_external_network_of_another_project() -> None:
    owner, user = _mgr("ow"), _mgr("us")
    try:
        shared = owner.ensure_network(NetworkSpec("sh" + owner.project, owner.project))
        got = user.ensure_network(NetworkSpec(shared.name, user.project, external=True))
        assert got.external and got.subnet == shared.subnet
        with pytest.raises(NetworkConflictError, match="belongs to project"):
            user.ensure_network(NetworkSpec(shared.name, user.project))
        user.create_sandbox(f"{user.project}-1", LOCAL_DNS)
        user.attach(f"{user.project}-1", AttachSpec(shared.name, aliases=("u",)))
        user.teardown()                 # removes its sandbox, not the owner's network
        assert Path(f"/sys/class/net/{shared.bridge}").exists()
        assert [n.name for n in owner.list_networks()] == [shared.name]
    finally:
        user.teardown()
        owner.teardown()


def test_fifty_cycles_leave_nothing(mgr: NetworkManager, session_env: dict[str, str]) -> None:
    p = mgr.project
    forward_before = _sysctl("net/ipv4/ip_forward")
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    mgr.ensure_network(NetworkSpec(f"{p}_i", p, internal=True))
    mgr.create_sandbox(f"{p}-keep", LOCAL_DNS)
    mgr.attach(f"{p}-keep", AttachSpec(f"{p}_a", aliases=("keep",)))
    bridge = mgr.list_networks()[0].bridge
    bridge_mac = Path(f"/sys/class/net/{bridge}/address").read_text()
    low = f"{PREFIX}lm{secrets.token_hex(2)}"    # a port with a lower MAC than any other
    subprocess.run(["ip", "link", "add", low, "address", "02:00:00:00:00:01", "type", "veth",
                    "peer", "name", low + "p"], check=True)
    subprocess.run(["ip", "link", "set", low, "master", bridge, "up"], check=True)
    assert Path(f"/sys/class/net/{bridge}/address").read_text() == bridge_mac    # pinned
    subprocess.run(["ip", "link", "del", low], check=True)
    rules_before = sorted(mgr.table.comments())
    links_before = sorted(n for n in os.listdir("/sys/class/net") if n.startswith(PREFIX))
    for i in range(50):
        cid = f"{p}-c{i}"
        mgr.create_sandbox(cid, LOCAL_DNS)
        mgr.attach(cid, AttachSpec(f"{p}_a", aliases=("svc",)))
        mgr.attach(cid, AttachSpec(f"{p}_i"))
        if i % 5 == 0:
            mgr.publish(cid, [PortSpec(target=80)])
        mgr.detach(cid, f"{p}_i")
        mgr.remove_sandbox(cid)
    assert sorted(mgr.table.comments()) == rules_before
    # removed namespaces free their veths asynchronously (kernel batches it): poll
    for _ in range(200):
        links = sorted(n for n in os.listdir("/sys/class/net") if n.startswith(PREFIX))
        if links == links_before:
            break
        time.sleep(0.01)
    assert links == links_before
    assert _pins(mgr) == [f"{p}-keep"]
    assert "svc" not in Path(mgr.store.hosts_path(f"{p}-keep")).read_text()
    mgr.teardown()
    mgr.teardown()                      # idempotent
    assert _pins(mgr) == [] and mgr.list_networks() == []
    assert mgr.table.comments() == []
    left = hostenv.leftovers(session_env)
    assert not left.get("links") and not left.get("mounts") and not left.get("nft rules")
    # restored, unless another session's routed bridge still needs forwarding
    assert _sysctl("net/ipv4/ip_forward") == forward_before or mgr.links.forwarding_bridges()
    assert not mgr.store.sysctl.exists()


def test_teardown_after_dead_owner(session_env: dict[str, str]) -> None:
    """A process that attached and died without cleaning up: the next manager's teardown
    finds its netns pin, veth, address lease and rules and removes them."""
    project = "dd" + secrets.token_hex(3)
    code = f"""
import os
from pystack.net.api import AttachSpec, DnsConfig, IpamPool, NetworkSpec, PortSpec
from pystack.net import netns
from pystack.net.manager import NetworkManager
m = NetworkManager({project!r})
m.ensure_network(NetworkSpec("{project}_a", {project!r}))
m.create_sandbox("{project}-1", DnsConfig(servers=("127.0.0.1",)))
m.attach("{project}-1", AttachSpec("{project}_a", aliases=("x",)))
m.publish("{project}-1", [PortSpec(target=80)])
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())
    m = NetworkManager(project)
    try:
        sb = m.sandbox(f"{project}-1")
        assert sb is not None and Path(sb.netns_path).exists()
        # a veth whose record was lost, plugged into the project's bridge
        br = m.list_networks()[0].bridge
        stray = f"{PREFIX}st{secrets.token_hex(2)}"
        subprocess.run(["ip", "link", "add", stray, "type", "veth", "peer", "name",
                        stray + "p"], check=True)
        subprocess.run(["ip", "link", "set", stray, "master", br], check=True)
        netns.create(m.store.pin_path("orphan-without-record"))
    finally:
        m.teardown()
        m.close()
    assert m.sandbox(f"{project}-1") is None and m.list_networks() == []
    assert not m.store.pins.is_dir() or not os.listdir(m.store.pins)
    assert not any(n.startswith(PREFIX) for n in os.listdir("/sys/class/net"))
    assert not hostenv.leftovers(session_env).get("mounts")


def test_concurrent_allocations_never_collide() -> None:
    """Four processes create networks and attach at the same time: distinct subnets and
    addresses (the host-wide lock)."""
    project = "cc" + secrets.token_hex(3)
    code = f"""
import sys
from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
from pystack.net.manager import NetworkManager
i = sys.argv[1]
m = NetworkManager({project!r})
net = m.ensure_network(NetworkSpec("{project}_n" + i, {project!r}))
shared = m.ensure_network(NetworkSpec("{project}_shared", {project!r}))
m.create_sandbox("{project}-c" + i, DnsConfig(servers=("127.0.0.1",)))
at = m.attach("{project}-c" + i, AttachSpec("{project}_shared"))
print(net.subnet, shared.subnet, at.ipv4_address)
"""
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stdout=subprocess.PIPE,
                              text=True) for i in range(4)]
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    m = NetworkManager(project)
    try:
        assert all(p.returncode == 0 for p in procs)
        assert len({o[0] for o in outs}) == 4
        assert len({o[1] for o in outs}) == 1
        assert len({o[2] for o in outs}) == 4
    finally:
        m.teardown()
        m.close()


def test_threads_share_one_manager(mgr: NetworkManager) -> None:
    """The orchestrator attaches from worker threads: one manager, eight threads."""
    from concurrent.futures import ThreadPoolExecutor

    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))

    def one(i: int) -> str:
        mgr.create_sandbox(f"{p}-t{i}", LOCAL_DNS)
        return mgr.attach(f"{p}-t{i}", AttachSpec(f"{p}_a", aliases=(f"t{i}",))).ipv4_address

    with ThreadPoolExecutor(8) as ex:
        ips = list(ex.map(one, range(8)))
    assert len(set(ips)) == 8
    hosts = Path(mgr.store.hosts_path(f"{p}-t0")).read_text()
    assert all(f"{ip}\tt{i}" in hosts for i, ip in enumerate(ips))
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: mgr.remove_sandbox(f"{p}-t{i}"), range(8)))
    assert _pins(mgr) == []
