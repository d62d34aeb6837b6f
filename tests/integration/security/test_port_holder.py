"""Published ports are held (issue 9 item 10): a host program that binds a published port
later, on loopback above all, must fail instead of silently losing its local clients to the
container; and nothing of the holder outlives the publication."""

from __future__ import annotations

import errno
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec, PortSpec
from pystack.net.manager import NetworkManager

pytestmark = pytest.mark.root


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = NetworkManager("ph" + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()


def _bind_errno(proto: str, addr: str, port: int) -> int:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
            if proto == "tcp":
                s.listen(1)
        except OSError as e:
            return e.errno or -1
    return 0


def _holders(label: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if label.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(int(pid))
        except OSError:
            continue
    return out


def test_a_later_bind_of_a_published_port_fails(mgr: NetworkManager) -> None:
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    cid = f"{p}-web"
    mgr.create_sandbox(cid, DnsConfig(servers=("127.0.0.1",)))
    mgr.attach(cid, AttachSpec(f"{p}_a"))
    got = mgr.publish(cid, [PortSpec(target=80), PortSpec(target=53, protocol="udp"),
                            PortSpec(target=81, host_ip="127.0.0.1")])
    tport, uport, lport = (g.published for g in got)
    # A host service starting later, on loopback or on every address: refused by the kernel.
    for proto, addr, port in (("tcp", "127.0.0.1", tport), ("tcp", "0.0.0.0", tport),
                              ("udp", "127.0.0.1", uport), ("tcp", "0.0.0.0", lport)):
        assert _bind_errno(proto, addr, port) == errno.EADDRINUSE, (proto, addr, port)
    label = f"{mgr.knobs.root} {cid}"
    pids = _holders(label)
    assert len(pids) == 1
    pid = pids[0]
    assert Path(f"/proc/{pid}/environ").read_bytes() == b""
    fds = sorted(int(n) for n in os.listdir(f"/proc/{pid}/fd"))
    assert len(fds) == 6 and fds[:3] == [0, 1, 2]           # stdio on /dev/null + 3 sockets
    assert all(os.readlink(f"/proc/{pid}/fd/{n}").startswith("socket:") for n in fds[3:])
    assert os.getppid() != pid and int(Path(f"/proc/{pid}/stat").read_text()
                                       .rsplit(")", 1)[1].split()[1]) != os.getpid()
    mgr.remove_sandbox(cid)
    assert _holders(label) == []
    for proto, addr, port in (("tcp", "127.0.0.1", tport), ("udp", "127.0.0.1", uport)):
        assert _bind_errno(proto, addr, port) == 0


def test_a_holder_whose_record_was_lost_is_reaped(mgr: NetworkManager) -> None:
    """A CLI killed between starting the holder and writing the record leaves a holder no
    record names: the next teardown of the state root finds it by its argv and ends it."""
    from pystack.net import holder

    p = mgr.project
    orphan = holder.hold([("tcp", "127.0.0.1", 0)], f"{mgr.knobs.root} {p}-lost")
    assert _holders(f"{mgr.knobs.root} {p}-lost") == [orphan[0]]
    mgr.teardown()
    assert _holders(f"{mgr.knobs.root} {p}-lost") == []
