"""Checking resource limits before anything is created, with Docker's messages and ranges.

`validate(r)` raises CgroupError for a limit the kernel would refuse or Docker rejects (so a
bad stack fails before a cgroup exists); `apply()` calls it too.  Host facts (CPU count,
online CPUs and memory nodes) are read from /sys and passed in for tests.
"""

from __future__ import annotations

import os

from pystack.runtime.errors import CgroupError
from pystack.runtime.spec import Resources

MIN_MEMORY = 6 * 1024 * 1024           # Docker's linuxMinMemory
MAX_CPU = 65535                        # above any NR_CPUS; keeps "0-4294967295" cheap


def parse_cpu_list(s: str) -> set[int]:
    """"0-3,5" -> {0, 1, 2, 3, 5}; a malformed list raises ValueError."""
    out: set[int] = set()
    for part in s.strip().split(","):
        if not part:
            raise ValueError(s)
        lo, sep, hi = part.partition("-")
        a, b = int(lo), int(hi) if sep else int(lo)
        if a < 0 or b < a or b > MAX_CPU:
            raise ValueError(s)
        out.update(range(a, b + 1))
    return out


def _online(path: str) -> set[int] | None:
    try:
        with open(path) as f:
            return parse_cpu_list(f.read())
    except (OSError, ValueError):
        return None


def validate(r: Resources, ncpu: int | None = None, online_cpus: set[int] | None = None,
             online_mems: set[int] | None = None) -> None:
    """Raise CgroupError if `r` asks for something Docker would refuse on this host."""
    ncpu = ncpu or os.cpu_count() or 1
    if online_cpus is None:
        online_cpus = _online("/sys/devices/system/cpu/online")
    if online_mems is None:
        online_mems = _online("/sys/devices/system/node/online") or {0}
    if r.memory is not None and 0 < r.memory < MIN_MEMORY:
        raise CgroupError("Minimum memory limit allowed is 6MB")
    if r.memory is not None and r.memory < 0:
        raise CgroupError(f"invalid memory limit {r.memory}")
    if r.memory_reservation is not None and 0 < r.memory_reservation < MIN_MEMORY:
        raise CgroupError("Minimum memory reservation allowed is 6MB")
    if r.memory_swap is not None and r.memory_swap > 0:
        if not r.memory:
            raise CgroupError("You should always set the Memory limit when using Memoryswap "
                              "limit, see usage")
        if r.memory_swap < r.memory:
            raise CgroupError("Minimum memoryswap limit should be larger than memory limit, "
                              "see usage")
    if r.cpus is not None:
        if r.cpu_quota:
            raise CgroupError("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        if r.cpus < 0.01 or r.cpus > ncpu:
            raise CgroupError(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only "
                              f"{ncpu} CPUs available")
    if r.cpu_period is not None and r.cpu_period and not 1000 <= r.cpu_period <= 1_000_000:
        raise CgroupError("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                          "than 1s (i.e. 1000000)")
    if r.cpu_quota is not None and 0 < r.cpu_quota < 1000:
        raise CgroupError("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if r.cpu_shares is not None and r.cpu_shares < 0:
        raise CgroupError(f"invalid cpu_shares {r.cpu_shares}")
    if r.blkio_weight and not 10 <= r.blkio_weight <= 1000:
        raise CgroupError("Range of blkio weight is from 10 to 1000")
    for what, value, avail in (("CPUs", r.cpuset_cpus, online_cpus),
                               ("memory nodes", r.cpuset_mems, online_mems)):
        if not value:
            continue
        try:
            want = parse_cpu_list(value)
        except ValueError:
            raise CgroupError(f"Invalid value {value} for cpuset {what}") from None
        if avail is not None and not want <= avail:
            raise CgroupError(f"Requested {what} are not available - requested {value}, "
                              f"available: {_fmt(avail)}")


def _fmt(s: set[int]) -> str:
    out, xs = [], sorted(s)
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)
