"""Detecting the cgroup layout from /proc texts, and the unit conversions (runc's formulas)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.cgroups import base
from pystack.runtime.cgroups.layout import (
    build_layout,
    parse_mountinfo,
    parse_proc_cgroups,
    parse_self_cgroup,
)
from pystack.runtime.errors import CgroupError
from pystack.runtime.spec import Resources

HYBRID_MI = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PROC_CGROUPS = """\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
cpuacct\t2\t1\t1
memory\t4\t41\t1
pids\t8\t1\t1
hugetlb\t0\t1\t1
"""
SELF_HYBRID = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n"

V2_MI = "25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n" \
        "26 1 0:5 / /proc rw - proc proc rw\n"
V1_MI = ("30 1 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
         "31 1 0:27 / /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup rw,memory\n")


def test_hybrid_host() -> None:
    lay = build_layout(HYBRID_MI, PROC_CGROUPS, SELF_HYBRID)
    assert lay.mode == "hybrid"
    assert sorted(lay.v1) == ["cpu", "cpuacct", "cpuset", "memory", "pids"]
    assert lay.v2 is not None and lay.v2.mountpoint == "/sys/fs/cgroup/unified"
    assert lay.own["memory"] == "/process_api/abc" and lay.own[""] == "/"


def test_pure_v2_and_pure_v1() -> None:
    lay = build_layout(V2_MI, "", "0::/user.slice/session-1.scope\n")
    assert lay.mode == "v2" and lay.v1 == {}
    assert lay.own[""] == "/user.slice/session-1.scope"
    lay1 = build_layout(V1_MI, "", "")
    assert lay1.mode == "v1" and lay1.v2 is None
    assert lay1.v1["cpu"] is lay1.v1["cpuacct"]
    assert lay1.v1["memory"].mountpoint == "/sys/fs/cgroup/mem ory"


def test_disabled_controller_is_ignored() -> None:
    pc = PROC_CGROUPS.replace("memory\t4\t41\t1", "memory\t4\t41\t0")
    assert "memory" not in build_layout(HYBRID_MI, pc, "").v1


def test_no_cgroups_is_an_error() -> None:
    with pytest.raises(CgroupError) as e:
        build_layout("26 1 0:5 / /proc rw - proc proc rw\n", "", "")
    assert str(e.value) == "no cgroup filesystem is mounted"


def test_parsers() -> None:
    assert parse_proc_cgroups(PROC_CGROUPS)["hugetlb"] == (0, True)
    assert parse_self_cgroup("3:cpu,cpuacct:/a\n0::/b\n") == {"cpu": "/a", "cpuacct": "/a",
                                                              "": "/b"}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 /-:,\\\nabcgroup2")), max_size=300))
def test_parsers_never_crash(text: str) -> None:
    for m in parse_mountinfo(text):
        assert m.fstype in ("cgroup", "cgroup2")
    parse_proc_cgroups(text)
    parse_self_cgroup(text)


@pytest.mark.parametrize(("shares", "weight"), [
    (0, 0), (1, 1), (2, 1), (1024, 100), (512, 59), (262144, 10000), (10 ** 6, 10000)])
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert base.shares_to_weight(shares) == weight


def test_cpu_and_memory_conversions() -> None:
    assert base.cpu_quota(Resources(cpus=1.5)) == (150000, 100000)
    assert base.cpu_quota(Resources(cpu_quota=20000, cpu_period=50000)) == (20000, 50000)
    assert base.cpu_quota(Resources()) is None
    assert base.memsw_v1(Resources(memory=100)) == 200            # Docker: swap = memory
    assert base.memsw_v1(Resources(memory=100, memory_swap=-1)) == -1
    assert base.swap_v2(Resources(memory=100, memory_swap=300)) == 200
    assert base.swap_v2(Resources(memory=100, memory_swap=-1)) == -1
    assert base.swap_v2(Resources()) is None
    with pytest.raises(CgroupError) as e:
        base.swap_v2(Resources(memory=300, memory_swap=100))
    assert str(e.value) == "memswap_limit must be at least mem_limit"


@pytest.mark.parametrize("name", ["", "..", "a/../b", "/abs", "a//b", "x\ny"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(CgroupError):
        base.check_name(name, "name")
