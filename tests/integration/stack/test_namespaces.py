"""Namespace modes seen from inside the containers (issue 11): ipc host/shareable/service:X/
none, pid host, uts host, userns_mode host; each compared with the host's namespaces."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.stack.conftest import Project

pytestmark = pytest.mark.root

SLEEP = '["sh", "-c", "trap \'exit 0\' TERM; sleep 86400 & wait"]'
STACK = f"""
x-base: &base
  image: local/busybox:latest
  network_mode: none
  command: {SLEEP}
services:
  plain: *base
  ipchost: {{<<: *base, ipc: host}}
  donor: {{<<: *base, ipc: shareable}}
  joiner: {{<<: *base, ipc: "service:donor"}}
  ipcnone: {{<<: *base, ipc: none}}
  pidhost: {{<<: *base, pid: host}}
  utshost: {{<<: *base, uts: host}}
  userns: {{<<: *base, userns_mode: host}}
"""


def _ns(p: Project, svc: str, kind: str) -> str:
    return p.run("exec", "-T", svc, "readlink", f"/proc/self/ns/{kind}").stdout.strip()


def test_namespace_modes_from_inside(make_project: Callable[[str], Project]) -> None:
    p = make_project(STACK)
    p.run("up", "-d")
    host = {k: os.readlink(f"/proc/self/ns/{k}") for k in ("ipc", "pid", "uts")}
    for kind in ("ipc", "pid", "uts"):
        assert _ns(p, "plain", kind) != host[kind]
    # ipc: host shares the host's IPC namespace and its /dev/shm
    assert _ns(p, "ipchost", "ipc") == host["ipc"]
    mark = Path("/dev/shm") / f"pystack-test-{secrets.token_hex(4)}"
    mark.write_text("from the host")
    try:
        assert p.run("exec", "-T", "ipchost", "cat", str(mark)).stdout == "from the host"
        r = p.run("exec", "-T", "plain", "cat", str(mark), check=False)
        assert r.returncode != 0
    finally:
        mark.unlink()
    # shareable + service:donor: one private namespace for both
    assert _ns(p, "joiner", "ipc") == _ns(p, "donor", "ipc") != host["ipc"]
    # none: a private namespace without /dev/shm
    assert _ns(p, "ipcnone", "ipc") != host["ipc"]
    mounts = p.run("exec", "-T", "ipcnone", "cat", "/proc/mounts").stdout
    assert " /dev/shm " not in mounts
    assert " /dev/shm " in p.run("exec", "-T", "plain", "cat", "/proc/mounts").stdout
    # pid: host sees the host's processes (this test's among them)
    assert _ns(p, "pidhost", "pid") == host["pid"]
    r = p.run("exec", "-T", "pidhost", "cat", f"/proc/{os.getpid()}/cmdline")
    assert "pytest" in r.stdout or "python" in r.stdout
    assert p.run("exec", "-T", "plain", "test", "-e", f"/proc/{os.getpid()}",
                 check=False).returncode != 0 or os.getpid() == 1
    # uts: host has the host's hostname
    assert _ns(p, "utshost", "uts") == host["uts"]
    assert p.run("exec", "-T", "utshost", "hostname").stdout.strip() == socket.gethostname()
    assert p.run("exec", "-T", "plain", "hostname").stdout.strip() != socket.gethostname()
    # userns_mode: host is what every container has: the host's user namespace
    assert _ns(p, "userns", "user") == os.readlink("/proc/self/ns/user")
    p.run("down")
    assert not [n for n in os.listdir("/dev/shm") if n.startswith("pystack-test-")]


def test_unsupported_modes_refused_before_anything_runs(
        make_project: Callable[[str], Project]) -> None:
    p = make_project("services:\n  a:\n    image: local/busybox:latest\n"
                     "    userns_mode: 'private'\n")
    r = p.run("up", "-d", check=False)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "stack.yml:4:18: services.a.userns_mode: userns_mode 'private' is not supported" \
        in r.stderr
    assert p.ps() == []


SHM_STACK = f"""
x-base: &base
  image: local/busybox:latest
  network_mode: none
  command: {SLEEP}
services:
  db: {{<<: *base, shm_size: 32m}}
  app: {{<<: *base, ipc: "service:db", shm_size: 8m}}
  donor: {{<<: *base, ipc: shareable}}
  joiner: {{<<: *base, ipc: "service:donor"}}
  plain: *base
"""


def _shm_of(p: Project, svc: str) -> str:
    return p.run("exec", "-T", svc, "sh", "-c", "ls /dev/shm").stdout.split()


def test_ipc_service_shares_the_donors_dev_shm(make_project: Callable[[str], Project]) -> None:
    # Docker binds the donor's /dev/shm into a container joining its IPC namespace: a POSIX
    # shared-memory object one makes is seen by the other (before: two private tmpfs)
    p = make_project(SHM_STACK)
    p.run("up", "-d")
    p.run("exec", "-T", "db", "sh", "-c", "echo from-db > /dev/shm/a")
    p.run("exec", "-T", "app", "sh", "-c", "echo from-app > /dev/shm/b")
    p.run("exec", "-T", "joiner", "sh", "-c", "echo from-joiner > /dev/shm/c")
    assert p.run("exec", "-T", "app", "cat", "/dev/shm/a").stdout == "from-db\n"
    assert p.run("exec", "-T", "db", "cat", "/dev/shm/b").stdout == "from-app\n"
    assert p.run("exec", "-T", "donor", "cat", "/dev/shm/c").stdout == "from-joiner\n"
    assert _shm_of(p, "db") == _shm_of(p, "app") == ["a", "b"]
    assert _shm_of(p, "donor") == ["c"] and _shm_of(p, "plain") == []
    # the donor's shm_size sizes it (the joiner's is not used, as Docker); Docker's flags
    for svc in ("db", "app"):
        line = next(m for m in p.run("exec", "-T", svc, "cat", "/proc/mounts").stdout
                    .splitlines() if m.split()[1] == "/dev/shm")
        assert "nosuid" in line and "nodev" in line and "noexec" in line, line
        assert p.run("exec", "-T", svc, "stat", "-f", "-c", "%b %S", "/dev/shm").stdout \
            .split() == [str((32 << 20) // 4096), "4096"]
    assert p.run("exec", "-T", "db", "stat", "-c", "%a", "/dev/shm").stdout.strip() == "1777"
    shm_dir = Path(os.environ.get("PYSTACK_RUN", "/run/pystack")) / "shm"
    ids = p.ids()

    def ours() -> set[str]:
        return {s for n in os.listdir(shm_dir) for s, i in ids.items() if n.startswith(i)}

    assert {s.rsplit("-", 2)[1] for s in ours()} == {"db", "donor"}    # host-side tmpfs
    p.run("down")
    assert ours() == set()                                  # unmounted and removed
