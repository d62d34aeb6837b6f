"""net/rtnl.py against the real kernel (inside a test netns), and sandboxes whose name files
were deleted behind pystack's back get them again when used (create_sandbox, attach)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net import netns
from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
from pystack.net.manager import NetworkManager
from pystack.net.rtnl import Rtnl

pytestmark = pytest.mark.root
PREFIX = os.environ.get("PYSTACK_IFPREFIX", "ps")


@pytest.fixture
def pin(tmp_path: Path) -> Iterator[Path]:
    p = tmp_path / "ns"
    netns.create(p)
    try:
        yield p
    finally:
        netns.remove(p)


def test_rtnl_in_a_namespace(pin: Path) -> None:
    with netns.entered(pin):
        rt = Rtnl()
    with rt:
        br = PREFIX + "t" + secrets.token_hex(3)
        rt.add_bridge(br, 1400, "02:00:00:00:00:01")
        idx = rt.index(br)
        assert idx is not None and rt.index("nosuchlink0") is None
        rt.add_addr(idx, "10.250.0.1", 24)
        rt.set_up(idx)
        assert ("10.250.0.1", 24) in [(a.address, a.prefixlen) for a in
                                      rt.addrs(socket.AF_INET, idx)]
        with pytest.raises(OSError):                # EEXIST comes back as an OSError
            rt.add_addr(idx, "10.250.0.1", 24)
        rt.replace_default("10.250.0.254")
        rt.replace_default("10.250.0.253")         # replace, not a second route
        defaults = [r for r in rt.routes(socket.AF_INET) if r.dst_len == 0 and r.table == 254]
        assert [r.gateway for r in defaults] == ["10.250.0.253"]
        assert any(r.dst == "10.250.0.0" and r.dst_len == 24 for r in rt.routes())
        rt.delete_default("10.250.0.253")
        rt.delete_link(idx)
        assert rt.index(br) is None


def test_missing_name_files_come_back() -> None:
    m = NetworkManager("rp" + secrets.token_hex(3))
    p = m.project
    try:
        m.ensure_network(NetworkSpec(f"{p}_a", p))
        cid = f"{p}-c1"
        sb = m.create_sandbox(cid, DnsConfig(servers=("127.0.0.1",)))
        m.attach(cid, AttachSpec(f"{p}_a", aliases=("web",)))
        # an admin cleans PYSTACK_RUN (the files go; their tmpfs mount point stays)
        shutil.rmtree(Path(sb.hosts_path).parent, ignore_errors=True)
        again = m.create_sandbox(cid, DnsConfig(servers=("127.0.0.1",)))
        assert again.netns_path == sb.netns_path
        assert "web" in Path(sb.hosts_path).read_text()
        assert "nameserver 127.0.0.1" in Path(sb.resolv_path).read_text()
        os.unlink(sb.hosts_path)
        m.attach(cid, AttachSpec(f"{p}_a"))            # attach of an existing one repairs too
        assert "web" in Path(sb.hosts_path).read_text()
    finally:
        m.teardown()
        m.close()
