"""The cgroup backend this host gets (hybrid here: v1 controllers + controller-less v2), for
real: limits bite, freeze/thaw stops and resumes work, kill_all empties, remove leaves nothing."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pystack.runtime.cgroups import Cgroup, Layout, V1Cgroup, layout, open_cgroup
from pystack.runtime.spec import Resources

pytestmark = pytest.mark.root

def cat(path: str) -> str:
    with open(path) as f:
        return f.read()


GATE = ("import os, sys; os.write(int(sys.argv[1]), b'r'); os.close(int(sys.argv[1]))\n"
        "sys.stdin.buffer.read(1)\n")


def gated(code: str) -> subprocess.Popen[bytes]:
    """A python child that has finished starting (it says so on a pipe) and waits for one
    byte on stdin before running `code`: the caller adds it to a cgroup in between, so what
    the group counts is `code` alone, never Python's start-up."""
    r, w = os.pipe()
    try:
        p = subprocess.Popen([sys.executable, "-c", GATE + code, str(w)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(w,))
        os.close(w)
        w = -1
        assert os.read(r, 1) == b"r", "the gated child died while starting"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    return p


def go(p: subprocess.Popen[bytes]) -> None:
    assert p.stdin is not None
    p.stdin.write(b"x")
    p.stdin.flush()


@pytest.fixture(params=["host", "v1-only"])
def cg(request: pytest.FixtureRequest) -> Iterator[Cgroup]:
    """The host's backend, and (on a hybrid host) the pure-v1 backend: v1 freezer and
    freeze-signal-thaw kills instead of cgroup.freeze / cgroup.kill."""
    lay = layout()
    if request.param == "v1-only":
        if lay.mode != "hybrid":
            pytest.skip("the host has no v2 tree to leave out")
        lay = Layout("v1", lay.v1, None, lay.own)
    c = open_cgroup("t-" + secrets.token_hex(4), layout_=lay)
    c.create()
    yield c
    c.kill_all()
    c.remove()


def test_layout_probe_matches_proc() -> None:
    lay = layout()
    with open("/proc/self/mountinfo") as f:
        mi = f.read()
    if " - cgroup2 " in mi and " - cgroup " not in mi:
        assert lay.mode == "v2"
    else:
        assert lay.mode in ("v1", "hybrid")
        assert "memory" in lay.v1 and "pids" in lay.v1


def test_create_nests_under_hierarchy_root_and_remove_leaves_nothing() -> None:
    name = "t-" + secrets.token_hex(4)
    parent = os.environ["PYSTACK_CGROUP_PARENT"]
    c = open_cgroup(name)
    c.create()
    c.create()                      # idempotent
    dirs = [os.path.dirname(f) for f in c.procs_files()]
    assert dirs and all(os.path.isdir(d) for d in dirs)
    mem = c.path("memory")
    if mem is not None and "memory" in layout().v1:   # a v1 memory hierarchy (v2: one tree)
        assert mem == os.path.join(layout().v1["memory"].mountpoint, parent, name)
    if "cpuset" in layout().v1:
        cs = c.path("cpuset")
        assert cs is not None
        assert cat(os.path.join(cs, "cpuset.cpus")).strip()
    c.remove()
    c.remove()                      # idempotent
    assert not any(os.path.exists(d) for d in dirs)
    assert not any(os.path.exists(os.path.dirname(d)) for d in dirs)   # parent dropped too


def test_memory_hog_is_oom_killed(cg: Cgroup) -> None:
    cg.apply(Resources(memory=32 << 20))
    assert not cg.oom_killed()
    p = gated("b = b'x' * (256 << 20)\nprint('survived')")
    cg.add_pid(p.pid)
    go(p)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL, out
    assert cg.oom_killed()


def test_fork_bomb_stops_at_pids_limit(cg: Cgroup) -> None:
    cg.apply(Resources(pids_limit=8))
    p = gated(
        "import os, time\n"
        "n = 0\n"
        "for _ in range(50):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(60); os._exit(0)\n"
        "    n += 1\n"
        "print(n, flush=True)\n"
        "time.sleep(60)\n")
    cg.add_pid(p.pid)
    go(p)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert int(line) == 7            # 8 tasks in all: the parent and 7 children
    assert cg.stats().pids == 8
    cg.kill_all()
    p.wait(timeout=10)
    assert cg.pids() == []


def test_cpu_quota_shows_in_files_and_throttles(cg: Cgroup) -> None:
    cg.apply(Resources(cpus=0.1, cpu_shares=512))
    d = cg.path("cpu")
    assert d is not None
    if isinstance(cg, V1Cgroup):
        assert cat(os.path.join(d, "cpu.cfs_quota_us")).strip() == "10000"
        assert cat(os.path.join(d, "cpu.cfs_period_us")).strip() == "100000"
        assert cat(os.path.join(d, "cpu.shares")).strip() == "512"
    else:
        assert cat(os.path.join(d, "cpu.max")).strip() == "10000 100000"
    p = gated("import time\nt = time.monotonic()\nwhile time.monotonic() - t < 0.5: pass")
    cg.add_pid(p.pid)
    t0 = time.monotonic()
    go(p)
    p.wait(timeout=30)
    wall = time.monotonic() - t0
    assert wall > 0.5
    # The kernel says it throttled the group, and the busy loop got well under one CPU for
    # its wall time (10% asked; a slow or emulated CPU lets a period run over, so no tighter
    # bound: the figure is the kernel's, not a stopwatch's).
    used = cg.stats().cpu_usage_ns / 1e9
    assert used < 0.5 * wall, (used, wall)
    stat = dict(line.split() for line in cat(os.path.join(d, "cpu.stat")).splitlines())
    assert int(stat["nr_throttled"]) > 0, stat


def test_freeze_stops_and_thaw_resumes(cg: Cgroup) -> None:
    p = gated("while True: pass")
    cg.add_pid(p.pid)
    go(p)
    time.sleep(0.1)
    cg.freeze()
    assert cg.frozen()
    fz = cg.path("freezer")
    if isinstance(cg, V1Cgroup) and cg.unified is None and fz is not None:
        assert cat(os.path.join(fz, "freezer.state")).strip() == "FROZEN"
    a = cg.stats().cpu_usage_ns
    time.sleep(0.2)
    assert cg.stats().cpu_usage_ns == a
    cg.thaw()
    assert not cg.frozen()
    deadline = time.monotonic() + 20             # runs again, however loaded the machine
    while cg.stats().cpu_usage_ns == a:
        assert time.monotonic() < deadline, "the thawed group never ran"
        time.sleep(0.02)
    cg.kill_all()
    p.wait(timeout=10)
    assert p.returncode == -signal.SIGKILL


def test_kill_all_empties_a_frozen_group_with_children(cg: Cgroup) -> None:
    p = gated("import os, time\nfor _ in range(3):\n    if os.fork() == 0: break\ntime.sleep(60)")
    cg.add_pid(p.pid)
    go(p)
    deadline = time.monotonic() + 10
    while len(cg.pids()) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = cg.pids()
    assert len(pids) == 4
    cg.freeze()
    cg.kill_all()
    assert cg.pids() == []
    p.wait(timeout=10)
    for pid in pids:
        if pid != p.pid:
            assert not os.path.exists(f"/proc/{pid}") or "Z" in cat(f"/proc/{pid}/stat")


def test_kill_all_with_sigterm_signals_everyone(cg: Cgroup) -> None:
    p = gated("import time\ntime.sleep(60)")
    cg.add_pid(p.pid)
    go(p)
    cg.kill_all(signal.SIGTERM)
    p.wait(timeout=10)
    assert p.returncode == -signal.SIGTERM


def test_stats_and_limit(cg: Cgroup) -> None:
    cg.apply(Resources(memory=64 << 20))
    p = gated("import sys, time\nb = b'y' * (16 << 20)\nprint('ok', flush=True)\ntime.sleep(60)")
    cg.add_pid(p.pid)
    go(p)
    assert p.stdout is not None
    assert p.stdout.readline() == b"ok\n"
    s = cg.stats()
    assert s.memory_limit == 64 << 20
    assert s.memory_usage >= 16 << 20
    assert s.pids == 1
    assert s.cpu_usage_ns > 0


def test_unsupported_limit_is_a_warning_not_an_error(cg: Cgroup) -> None:
    d = cg.path("blkio")
    has_weight = d is not None and any(
        os.path.exists(os.path.join(d, f))            # v1 blkio, or v2's io controller
        for f in ("blkio.weight", "blkio.bfq.weight", "io.weight", "io.bfq.weight"))
    cg.apply(Resources(blkio_weight=300))
    if has_weight:
        assert cg.warnings() == []
    else:
        assert cg.warnings() == ["blkio weight is not supported by this kernel's cgroups; ignored"]


def test_devices_cgroup_refuses_disallowed_nodes(cg: Cgroup, tmp_path: object) -> None:
    if cg.path("devices") is None:
        pytest.skip("no devices cgroup on this host")
    cg.apply(Resources())
    node = os.path.join(str(tmp_path), "mem")
    p = gated(
        "import os, sys\n"
        f"os.mknod({node!r}, 0o600 | 0o020000, os.makedev(1, 1))\n"   # mknod is allowed (m)
        "try:\n"
        f"    os.open({node!r}, os.O_RDONLY)\n"
        "    print('opened')\n"
        "except PermissionError:\n"
        "    print('refused')\n"
        "fd = os.open('/dev/null', os.O_WRONLY); print('null ok')\n")
    cg.add_pid(p.pid)
    go(p)
    out, err = p.communicate(timeout=10)
    assert out.decode().split() == ["refused", "null", "ok"], err


def test_remove_with_live_processes_is_a_clear_error(cg: Cgroup,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from pystack.runtime.cgroups import base
    from pystack.runtime.errors import CgroupError

    monkeypatch.setattr(base, "REMOVE_TIMEOUT", 0.2)
    p = gated("import time\ntime.sleep(60)")
    cg.add_pid(p.pid)
    t = time.monotonic()
    with pytest.raises(CgroupError) as e:
        cg.remove()
    assert time.monotonic() - t < 2
    assert str(e.value).startswith("cannot remove cgroup ")
    assert e.value.hint == "processes are still in it; kill them first"
    assert cg.pids() == [p.pid]            # nothing half-removed under a live process
    cg.kill_all()
    p.wait(timeout=10)
