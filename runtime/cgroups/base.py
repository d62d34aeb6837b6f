"""The Cgroup interface every backend implements, and the cgroupfs file helpers they share.

Writes to cgroupfs are single write(2) calls (the kernel parses each write whole); errno codes
become CgroupError here, at the boundary.  The unit conversions Docker and runc use between
compose keys and v1/v2 files live here too, so both backends agree.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import time
from collections.abc import Callable
from typing import Protocol

from pystack.runtime.api import Stats
from pystack.runtime.errors import CgroupError
from pystack.runtime.spec import Resources

DEFAULT_CFS_PERIOD = 100_000
REMOVE_TIMEOUT = 5.0              # seconds remove() waits for exiting processes to drain


class Cgroup(Protocol):
    name: str

    def create(self) -> None: ...
    def procs_files(self) -> list[str]: ...
    def add_pid(self, pid: int) -> None: ...
    def apply(self, r: Resources, privileged: bool = False) -> None: ...
    def warnings(self) -> list[str]: ...
    def stats(self) -> Stats: ...
    def pids(self) -> list[int]: ...
    def freeze(self) -> None: ...
    def thaw(self) -> None: ...
    def frozen(self) -> bool: ...
    def kill_all(self, sig: int = signal.SIGKILL) -> None: ...
    def oom_killed(self) -> bool: ...
    def remove(self) -> None: ...
    def path(self, controller: str) -> str | None: ...


def check_name(name: str, what: str) -> None:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) \
            or "\0" in name or "\n" in name:
        raise CgroupError(f"invalid cgroup {what} {name!r}",
                          hint="use a relative name without '..', empty parts or newlines")


def read(path: str, default: str | None = None) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        if default is not None:
            return default
        raise CgroupError(f"cgroup file {path} does not exist") from None
    except OSError as e:
        if default is not None:
            return default
        raise CgroupError(f"cannot read {path}: {e.strerror}") from e


def write(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"cannot open {path}: {e.strerror}") from e
    try:
        os.write(fd, value.encode())
    except OSError as e:
        hint = None
        if e.errno == errno.EBUSY and "memory" in os.path.basename(path):
            hint = "the group already uses more memory than this limit"
        raise CgroupError(f"cannot write {value!r} to {path}: {e.strerror}", hint=hint) from e
    finally:
        os.close(fd)


def read_int(path: str, default: int = 0) -> int:
    s = read(path, "").strip()
    if not s or s == "max":
        return default
    try:
        return int(s)
    except ValueError:
        return default


def read_keyed(path: str) -> dict[str, int]:
    """A flat keyed file ("key value" per line: memory.stat, cpu.stat, memory.events...)."""
    out: dict[str, int] = {}
    for line in read(path, "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def read_pids(procs: str) -> list[int]:
    return [int(x) for x in read(procs, "").split() if x.isdigit()]


def mkdirs(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CgroupError(f"cannot create cgroup {path}: {e.strerror}") from e


def rmdir_retry(path: str, timeout: float = 5.0) -> None:
    """rmdir a cgroup, retrying while its processes drain (EBUSY); absent is fine."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() > deadline:
                raise CgroupError(f"cannot remove cgroup {path}: {e.strerror}",
                                  hint="processes are still in it; kill them first") from e
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def rmdir_quiet(path: str) -> None:
    """rmdir a shared parent if it is empty; someone else's children keep it alive."""
    try:
        os.rmdir(path)
    except OSError:
        pass


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not cond():
        if time.monotonic() > deadline:
            raise CgroupError(f"timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except OSError as e:
            raise CgroupError(f"cannot signal process {pid}: {e.strerror}") from e


def host_memory() -> int:
    for line in read("/proc/meminfo", "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


# --- conversions (runc libcontainer/cgroups/utils.go, docker daemon) ---

def cpu_quota(r: Resources) -> tuple[int, int] | None:
    """(quota µs, period µs) from cpus or cpu_quota/cpu_period, None when unlimited."""
    period = r.cpu_period or DEFAULT_CFS_PERIOD
    if r.cpu_quota is not None and r.cpu_quota > 0:
        return r.cpu_quota, period
    if r.cpus is not None and r.cpus > 0:
        return max(1000, round(r.cpus * period)), period
    return None


def shares_to_weight(shares: int) -> int:
    """cpu.shares -> cpu.weight, runc's log-quadratic fit (2->1, 1024->100, 262144->10000)."""
    if shares <= 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return math.ceil(10 ** exponent)


def memsw_v1(r: Resources) -> int | None:
    """memory+swap for v1: Docker gives as much swap as memory when only memory is set."""
    if r.memory_swap is not None and r.memory_swap != 0:
        return -1 if r.memory_swap < 0 else r.memory_swap
    if r.memory is not None and r.memory > 0:
        return 2 * r.memory
    return None


def swap_v2(r: Resources) -> int | None:
    """memory.swap.max = (memory+swap) - memory; -1 = max; None = leave unset."""
    sw = memsw_v1(r)
    if sw is None or sw == -1:
        return sw
    mem = r.memory or 0
    if mem <= 0:
        raise CgroupError("a swap limit needs a memory limit")
    if sw < mem:
        raise CgroupError("memswap_limit must be at least mem_limit")
    return sw - mem


def limit_str(v: int) -> str:
    return "max" if v < 0 else str(v)
