"""The v2 backend against a fake cgroupfs tree (a temp dir with the files): this host's v2
hierarchy has no controllers (they are bound to v1), so the limit files are only testable here.
The kernel half (freeze, kill, procs on a real v2 tree) is in tests/integration/cgroups."""

from __future__ import annotations

from pathlib import Path

import pytest

from pystack.runtime.cgroups import base, v2
from pystack.runtime.cgroups.v2 import V2Cgroup
from pystack.runtime.errors import CgroupError
from pystack.runtime.spec import Resources

LIMIT_FILES = ("memory.max", "memory.swap.max", "memory.low", "cpu.max", "cpu.weight",
               "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "cgroup.freeze",
               "cgroup.events", "cgroup.procs")


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    log: list[tuple[str, str]] = []
    real = base.write

    def record(path: str, value: str) -> None:
        log.append((path, value))
        real(path, value)
    monkeypatch.setattr(base, "write", record)
    return log


def fake_root(tmp_path: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def populate(d: Path, files: tuple[str, ...] = LIMIT_FILES) -> None:
    for f in files:
        (d / f).write_text("")
    (d / "cgroup.events").write_text("populated 0\nfrozen 0\n")


def test_create_enables_controllers_down_to_the_parent(tmp_path: Path,
                                                       writes: list[tuple[str, str]]) -> None:
    root = fake_root(tmp_path)
    cg = V2Cgroup("c1", "pystack", str(root))
    (root / "pystack").mkdir()
    (root / "pystack" / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "pystack" / "cgroup.subtree_control").write_text("")
    cg.create()
    assert (root / "pystack" / "c1").is_dir()
    enabled = [(Path(p).parent.name, v) for p, v in writes if p.endswith("subtree_control")]
    want = ["+cpuset", "+cpu", "+io", "+memory", "+pids"]
    assert enabled == [("cg", w) for w in want] + [("pystack", w) for w in want]
    assert cg.warnings() == []


def test_missing_controllers_are_warnings(tmp_path: Path) -> None:
    root = fake_root(tmp_path, controllers="hugetlb")
    cg = V2Cgroup("c1", "pystack", str(root))
    cg.create()
    assert "cgroup v2 controller memory is not available" in cg.warnings()
    cg.apply(Resources(memory=64 << 20, pids_limit=5), privileged=True)
    assert "mem_limit is not supported by this kernel's cgroups; ignored" in cg.warnings()
    assert "pids_limit is not supported by this kernel's cgroups; ignored" in cg.warnings()


def test_apply_writes_v2_files(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    cg = V2Cgroup("c1", "p", str(root))
    cg.create()
    d = root / "p" / "c1"
    populate(d)
    cg.apply(Resources(memory=64 << 20, memory_swap=96 << 20, memory_reservation=32 << 20,
                       cpus=0.5, cpu_shares=1024, cpuset_cpus="0", cpuset_mems="0",
                       pids_limit=100, blkio_weight=500), privileged=True)
    got = {f: (d / f).read_text() for f in LIMIT_FILES[:9]}
    assert got == {"memory.max": str(64 << 20), "memory.swap.max": str(32 << 20),
                   "memory.low": str(32 << 20), "cpu.max": "50000 100000", "cpu.weight": "100",
                   "cpuset.cpus": "0", "cpuset.mems": "0", "pids.max": "100",
                   "io.weight": "default 4950"}
    cg.apply(Resources(memory=64 << 20, memory_swap=-1, pids_limit=-1), privileged=True)
    assert (d / "memory.swap.max").read_text() == "max"
    assert (d / "pids.max").read_text() == "max"


def test_stats_oom_and_pids(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    cg = V2Cgroup("c1", "p", str(root))
    cg.create()
    d = root / "p" / "c1"
    (d / "memory.current").write_text("10000\n")
    (d / "memory.stat").write_text("anon 6000\nfile 4000\ninactive_file 3000\n")
    (d / "memory.max").write_text("65536\n")
    (d / "cpu.stat").write_text("usage_usec 250\nuser_usec 200\n")
    (d / "pids.current").write_text("3\n")
    (d / "io.stat").write_text("8:0 rbytes=100 wbytes=20 rios=1\n8:16 rbytes=5 wbytes=1\n")
    (d / "cgroup.procs").write_text("10\n11\n12\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n")
    s = cg.stats()
    assert (s.memory_usage, s.memory_limit, s.cpu_usage_ns, s.pids) == (7000, 65536, 250000, 3)
    assert (s.io_read_bytes, s.io_write_bytes) == (105, 21)
    assert cg.pids() == [10, 11, 12]
    assert not cg.oom_killed()
    (d / "memory.events").write_text("oom 1\noom_kill 1\n")
    assert cg.oom_killed()
    assert cg.procs_files() == [str(d / "cgroup.procs")]


def test_freeze_waits_for_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2, "FREEZE_TIMEOUT", 0.05)
    root = fake_root(tmp_path)
    cg = V2Cgroup("c1", "p", str(root))
    cg.create()
    d = root / "p" / "c1"
    populate(d)
    with pytest.raises(CgroupError) as e:
        cg.freeze()                        # the fake kernel never reports frozen 1
    assert str(e.value) == f"timed out waiting for {d} to freeze"
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    cg.freeze()
    assert (d / "cgroup.freeze").read_text() == "1"
    assert cg.frozen()


def test_remove_is_idempotent_and_drops_empty_parent(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    a, b = V2Cgroup("a", "p", str(root)), V2Cgroup("b", "p", str(root))
    a.create()
    b.create()
    a.remove()
    assert (root / "p").is_dir()           # b still lives there
    b.remove()
    b.remove()
    assert not (root / "p").exists()
