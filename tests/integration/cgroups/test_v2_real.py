"""The v2 backend on a real cgroup2 hierarchy.  On this host it is the controller-less one at
/sys/fs/cgroup/unified (memory, cpu, pids... are bound to v1, and a private cgroup2 mount in a
new mount namespace is that same hierarchy), so this covers membership, freeze/thaw,
cgroup.kill and removal; the limit files are covered against a fake tree in tests/unit."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pystack.runtime.cgroups import V2Cgroup, layout

pytestmark = pytest.mark.root


@pytest.fixture
def cg() -> Iterator[V2Cgroup]:
    lay = layout()
    if lay.v2 is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    c = V2Cgroup("t-" + secrets.token_hex(4), os.environ["PYSTACK_CGROUP_PARENT"],
                 lay.v2.mountpoint)
    c.create()
    yield c
    c.kill_all()
    c.remove()


def spawn() -> subprocess.Popen[bytes]:
    """A child that forks only after reading one byte from stdin and says so on stdout: the
    test adds it to the cgroup first, so the grandchild is born inside it, every time."""
    code = ("import os, sys, time\nsys.stdin.buffer.read(1)\n"
            "if os.fork():\n    print('forked', flush=True)\ntime.sleep(60)")
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)


def test_membership_freeze_kill_remove(cg: V2Cgroup) -> None:
    p = spawn()
    cg.add_pid(p.pid)
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(b"x")
    p.stdin.flush()
    assert p.stdout.readline() == b"forked\n"      # the fork has returned: both are in
    assert len(cg.pids()) == 2 and p.pid in cg.pids()
    cg.freeze()
    assert cg.frozen()
    with open(f"/proc/{p.pid}/cgroup") as f:
        assert any(line.startswith("0::") and line.strip().endswith(cg.name) for line in f)
    cg.thaw()
    assert not cg.frozen()
    cg.freeze()
    cg.kill_all()                      # cgroup.kill works on a frozen group too
    assert cg.pids() == []
    p.wait(timeout=10)
    p.stdin.close()
    p.stdout.close()
    assert p.returncode == -signal.SIGKILL
    d = cg.dir
    cg.remove()
    assert not os.path.exists(d)


def test_limits_without_controllers_are_warnings(cg: V2Cgroup) -> None:
    from pathlib import Path

    from pystack.runtime.spec import Resources

    offered = Path(cg.root, "cgroup.controllers").read_text().split()
    cg.apply(Resources(pids_limit=10))
    if "pids" in offered:
        assert Path(cg.dir, "pids.max").read_text().strip() == "10"
    else:
        assert "pids_limit is not supported by this kernel's cgroups; ignored" in cg.warnings()


def test_device_program_refuses_disallowed_nodes(cg: V2Cgroup, tmp_path: object) -> None:
    from pystack.runtime.spec import Resources

    cg.apply(Resources())
    assert not any("device access" in w for w in cg.warnings()), cg.warnings()
    node = os.path.join(str(tmp_path), "mem")
    blk = os.path.join(str(tmp_path), "sda")
    code = (
        "import os, sys\n"
        "sys.stdin.buffer.read(1)\n"
        f"os.mknod({node!r}, 0o600 | 0o020000, os.makedev(1, 1))\n"
        f"os.mknod({blk!r}, 0o600 | 0o060000, os.makedev(8, 0))\n"
        f"for p in ({node!r}, {blk!r}, '/dev/null', '/dev/zero'):\n"
        "    try:\n"
        "        os.close(os.open(p, os.O_RDONLY)); print('ok', flush=True)\n"
        "    except PermissionError:\n"
        "        print('refused', flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cg.add_pid(p.pid)
    assert p.stdin is not None
    p.stdin.write(b"x")
    p.stdin.flush()
    out, err = p.communicate(timeout=20)
    assert out.decode().split() == ["refused", "refused", "ok", "ok"], err
