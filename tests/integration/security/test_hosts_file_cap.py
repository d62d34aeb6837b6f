"""A container cannot fill the host's /run through its bind-mounted /etc/hosts (issue 9
item 10): the name files sit on a small tmpfs of their own, so the container's write stops
at its size, and pystack's next rewrite of the file still works."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack.net.api import AttachSpec, DnsConfig, NetworkSpec
from pystack.net.manager import NetworkManager
from pystack.net.names import FILES_SIZE
from pystack.runtime.linux_runtime import LinuxRuntime
from tests.integration.runtime.conftest import Make, make, rt, run  # noqa: F401

pytestmark = pytest.mark.root

GROW = 8 << 20          # what the container tries to append


@pytest.fixture
def mgr() -> Iterator[NetworkManager]:
    m = NetworkManager("hf" + secrets.token_hex(3))
    try:
        yield m
    finally:
        m.teardown()
        m.close()


def test_container_cannot_grow_its_hosts_file_without_limit(
        mgr: NetworkManager, rt: LinuxRuntime, make: Make) -> None:  # noqa: F811
    p = mgr.project
    mgr.ensure_network(NetworkSpec(f"{p}_a", p))
    sb = mgr.create_sandbox(f"{p}-c", DnsConfig(servers=("127.0.0.1",)))
    mgr.attach(f"{p}-c", AttachSpec(f"{p}_a", aliases=("first",)))
    spec = make("sh", "-c", f"head -c {GROW} /dev/zero >> /etc/hosts; echo rc=$?; "
                "wc -c < /etc/hosts", network_mode="ns", netns=sb.netns_path,
                etc_hosts=sb.hosts_path, etc_resolv=sb.resolv_path)
    _, out = run(rt, spec)
    size = os.stat(sb.hosts_path).st_size
    assert size <= FILES_SIZE, f"the container grew /etc/hosts to {size} bytes on the host"
    assert "rc=1" in out                                   # its write failed (ENOSPC)
    assert os.statvfs(sb.hosts_path).f_blocks * os.statvfs(sb.hosts_path).f_frsize \
        <= FILES_SIZE                                     # on its own small filesystem
    # pystack still maintains the file: a new peer's name appears in it
    mgr.create_sandbox(f"{p}-d", DnsConfig(servers=("127.0.0.1",)))
    mgr.attach(f"{p}-d", AttachSpec(f"{p}_a", aliases=("second",)))
    assert "second" in Path(sb.hosts_path).read_text(errors="replace")
