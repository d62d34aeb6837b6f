"""Name files follow membership without rewriting what did not change: a sandbox served by the
embedded DNS server lists only its own names, so a peer joining the network does not rewrite
its hosts file (20 containers: 20 writes, not 20 x 20), while a sandbox that lists its peers
is rewritten with the newcomer."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net import names
from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
from pystack.net.manager import NetworkManager

pytestmark = pytest.mark.root
LOCAL_DNS = ("127.0.0.1",)


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = NetworkManager("nw" + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()


def test_a_peer_joining_rewrites_only_what_changed(mgr: NetworkManager,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    for cid in ("e1", "e2", "p1"):
        mgr.create_sandbox(f"{p}-{cid}", DnsConfig(servers=LOCAL_DNS, hostname=f"h{cid}",
                                                   embedded=cid != "p1"))
    mgr.attach(f"{p}-e1", AttachSpec(f"{p}_a", aliases=("one",)))
    mgr.attach(f"{p}-p1", AttachSpec(f"{p}_a", aliases=("plain",)))

    written: list[str] = []
    real = names.write_in_place

    def spy(path: Path, text: str) -> None:
        written.append(path.parent.name)
        real(path, text)

    monkeypatch.setattr(names, "write_in_place", spy)
    at = mgr.attach(f"{p}-e2", AttachSpec(f"{p}_a", aliases=("two",)))
    assert sorted(written) == [f"{p}-e2", f"{p}-p1"]           # not e1: its names are its own
    hosts = {c: Path(sb.hosts_path).read_text() for c in ("e1", "e2", "p1")
             if (sb := mgr.sandbox(f"{p}-{c}")) is not None}
    assert f"{at.ipv4_address}\the2" in hosts["e2"] and "he1" not in hosts["e2"]
    assert "he1" in hosts["e1"] and at.ipv4_address not in hosts["e1"]
    assert "two" in hosts["p1"] and "one" in hosts["p1"]      # it lists every peer
