"""Resource limits are checked before anything exists, with Docker's messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.runtime.cgroups.validate import parse_cpu_list, validate
from pystack.runtime.errors import CgroupError
from pystack.runtime.spec import Resources


def check(r: Resources) -> None:
    validate(r, ncpu=2, online_cpus={0, 1}, online_mems={0})


def test_good_limits_pass() -> None:
    check(Resources(memory=64 << 20, memory_swap=128 << 20, memory_reservation=32 << 20,
                    cpus=1.5, cpu_shares=512, cpuset_cpus="0-1", cpuset_mems="0",
                    pids_limit=-1, blkio_weight=500))
    check(Resources())


@pytest.mark.parametrize(("r", "msg"), [
    (Resources(memory=1 << 20), "Minimum memory limit allowed is 6MB"),
    (Resources(memory_reservation=4096), "Minimum memory reservation allowed is 6MB"),
    (Resources(memory=64 << 20, memory_swap=32 << 20),
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    (Resources(memory_swap=32 << 20),
     "You should always set the Memory limit when using Memoryswap limit, see usage"),
    (Resources(cpus=3), "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
    (Resources(cpus=0.001), "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs "
                            "available"),
    (Resources(cpus=1, cpu_quota=50000),
     "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    (Resources(cpu_period=100), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                                "than 1s (i.e. 1000000)"),
    (Resources(cpu_quota=10), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    (Resources(blkio_weight=5), "Range of blkio weight is from 10 to 1000"),
    (Resources(cpuset_cpus="0-3"),
     "Requested CPUs are not available - requested 0-3, available: 0-1"),
    (Resources(cpuset_cpus="1-0"), "Invalid value 1-0 for cpuset CPUs"),
    (Resources(cpuset_mems="x"), "Invalid value x for cpuset memory nodes"),
])
def test_bad_limits_are_refused(r: Resources, msg: str) -> None:
    with pytest.raises(CgroupError) as e:
        check(r)
    assert str(e.value) == msg


def test_parse_cpu_list() -> None:
    assert parse_cpu_list("0-3,5") == {0, 1, 2, 3, 5}
    assert parse_cpu_list("7\n") == {7}
    for bad in ("", "1,", "a", "3-1", "-1", "0-4294967295"):
        with pytest.raises(ValueError):
            parse_cpu_list(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789-, \n")), max_size=20))
def test_cpu_list_parser_total(s: str) -> None:
    try:
        got = parse_cpu_list(s)
    except ValueError:
        return
    assert all(x >= 0 for x in got)
    r = Resources(cpuset_cpus=s)
    try:
        validate(r, ncpu=2, online_cpus=set(range(10)), online_mems={0})
    except CgroupError as e:
        assert "not available" in str(e) or "Invalid value" in str(e)
