"""The cgroup v2 (unified) backend, and the v2 freeze/kill helpers the hybrid backend reuses.

One directory per container under <root>/<parent>/<name>.  The controllers pystack needs are
enabled in the subtree_control of every ancestor from the hierarchy root down (the parent holds
no processes, so the "no internal processes" rule is kept).  A controller the kernel does not
offer is skipped and remembered as a warning, as Docker does.
"""

from __future__ import annotations

import os
import signal
import time

from pystack.runtime.api import Stats
from pystack.runtime.cgroups import base, devices
from pystack.runtime.cgroups.layout import V2_CONTROLLERS
from pystack.runtime.cgroups.validate import validate
from pystack.runtime.errors import CgroupError
from pystack.runtime.spec import Resources

FREEZE_TIMEOUT = 10.0
KILL_TIMEOUT = 10.0


def events(d: str) -> dict[str, int]:
    return base.read_keyed(os.path.join(d, "cgroup.events"))


def freeze_dir(d: str, on: bool) -> None:
    base.write(os.path.join(d, "cgroup.freeze"), "1" if on else "0")
    want = 1 if on else 0
    base.wait_until(lambda: events(d).get("frozen", want) == want, FREEZE_TIMEOUT,
                    f"{d} to {'freeze' if on else 'thaw'}")


def kill_dir(d: str) -> bool:
    """SIGKILL everything in d via cgroup.kill; False when the kernel has no cgroup.kill."""
    f = os.path.join(d, "cgroup.kill")
    if not os.path.exists(f):
        return False
    base.write(f, "1")
    return True


class V2Cgroup:
    """A container's cgroup on a unified hierarchy mounted at `root`."""

    def __init__(self, name: str, parent: str, root: str) -> None:
        base.check_name(name, "name")
        base.check_name(parent, "parent")
        self.name = name
        self.parent = parent
        self.root = root
        self.dir = os.path.join(root, parent, name)
        self._warnings: list[str] = []
        self._devices_attached = False

    # --- lifecycle ---

    def create(self) -> None:
        for attempt in range(3):
            try:
                self._create_once()
                return
            except CgroupError:
                if attempt == 2:      # the parent may vanish under a concurrent remove()
                    raise

    def _create_once(self) -> None:
        chain = [self.root]
        for part in self.parent.split("/"):
            chain.append(os.path.join(chain[-1], part))
        for d in chain[1:]:
            base.mkdirs(d)
        for d in chain:        # root, ..., parent: delegate controllers to their children
            self._enable_controllers(d)
        base.mkdirs(self.dir)

    def _enable_controllers(self, d: str) -> None:
        offered = base.read(os.path.join(d, "cgroup.controllers"), "").split()
        enabled = base.read(os.path.join(d, "cgroup.subtree_control"), "").split()
        for c in V2_CONTROLLERS:
            if c in enabled:
                continue
            if c not in offered:
                self._warn(f"cgroup v2 controller {c} is not available")
                continue
            try:
                base.write(os.path.join(d, "cgroup.subtree_control"), f"+{c}")
            except CgroupError as e:
                self._warn(f"cannot enable cgroup v2 controller {c}: {e}")

    def remove(self) -> None:
        base.rmdir_retry(self.dir, base.REMOVE_TIMEOUT)
        parts = self.parent.split("/")
        for i in range(len(parts), 0, -1):
            base.rmdir_quiet(os.path.join(self.root, *parts[:i]))

    # --- membership ---

    def procs_files(self) -> list[str]:
        return [os.path.join(self.dir, "cgroup.procs")]

    def add_pid(self, pid: int) -> None:
        base.write(os.path.join(self.dir, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        return base.read_pids(os.path.join(self.dir, "cgroup.procs"))

    def path(self, controller: str) -> str | None:
        return self.dir          # one directory holds every controller

    # --- limits ---

    def _warn(self, msg: str) -> None:
        if msg not in self._warnings:
            self._warnings.append(msg)

    def warnings(self) -> list[str]:
        return list(self._warnings)

    def _set(self, fname: str, value: str, what: str) -> None:
        f = os.path.join(self.dir, fname)
        if not os.path.exists(f):
            self._warn(f"{what} is not supported by this kernel's cgroups; ignored")
            return
        base.write(f, value)

    def apply(self, r: Resources, privileged: bool = False) -> None:
        validate(r)
        if not privileged:
            self._apply_devices()
        if r.memory is not None and r.memory > 0:
            self._set("memory.max", str(r.memory), "mem_limit")
        swap = base.swap_v2(r)
        if swap is not None and (r.memory or r.memory_swap):
            self._set("memory.swap.max", base.limit_str(swap), "memswap_limit")
        if r.memory_reservation is not None and r.memory_reservation > 0:
            self._set("memory.low", str(r.memory_reservation), "mem_reservation")
        q = base.cpu_quota(r)
        if q is not None:
            self._set("cpu.max", f"{q[0]} {q[1]}", "cpus")
        if r.cpu_shares:
            self._set("cpu.weight", str(base.shares_to_weight(r.cpu_shares)), "cpu_shares")
        if r.cpuset_cpus:
            self._set("cpuset.cpus", r.cpuset_cpus, "cpuset")
        if r.cpuset_mems:
            self._set("cpuset.mems", r.cpuset_mems, "cpuset mems")
        if r.pids_limit is not None:
            self._set("pids.max", base.limit_str(r.pids_limit if r.pids_limit > 0 else -1),
                      "pids_limit")
        if r.blkio_weight:
            if os.path.exists(os.path.join(self.dir, "io.bfq.weight")):
                self._set("io.bfq.weight", str(r.blkio_weight), "blkio weight")
            else:
                # io.weight is 1..10000, blkio weight 10..1000 (runc's conversion)
                w = 1 + (r.blkio_weight - 10) * 9999 // 990
                self._set("io.weight", f"default {w}", "blkio weight")

    def _apply_devices(self) -> None:
        """Docker's device allow-list as an eBPF program (v2 has no devices files); where
        bpf(2) is refused, nodev mounts and bind-mounted nodes remain (runtime.md §3.5)."""
        if self._devices_attached:
            return
        try:
            devices.attach(self.dir, devices.default_rules())
            self._devices_attached = True
        except CgroupError as e:
            self._warn(f"device access is not restricted by the cgroup ({e})")

    # --- observation ---

    def stats(self) -> Stats:
        mem_stat = base.read_keyed(os.path.join(self.dir, "memory.stat"))
        usage = base.read_int(os.path.join(self.dir, "memory.current"))
        usage = max(0, usage - mem_stat.get("inactive_file", 0))
        limit = base.read_int(os.path.join(self.dir, "memory.max"), -1)
        if limit < 0:
            limit = base.host_memory()
        cpu = base.read_keyed(os.path.join(self.dir, "cpu.stat")).get("usage_usec", 0) * 1000
        rd = wr = 0
        for line in base.read(os.path.join(self.dir, "io.stat"), "").splitlines():
            for kv in line.split()[1:]:
                k, _, v = kv.partition("=")
                if k == "rbytes" and v.isdigit():
                    rd += int(v)
                elif k == "wbytes" and v.isdigit():
                    wr += int(v)
        npids = base.read_int(os.path.join(self.dir, "pids.current"), -1)
        if npids < 0:
            npids = len(self.pids())
        return Stats(memory_usage=usage, memory_limit=limit, cpu_usage_ns=cpu, pids=npids,
                     io_read_bytes=rd, io_write_bytes=wr)

    def oom_killed(self) -> bool:
        return base.read_keyed(os.path.join(self.dir, "memory.events")).get("oom_kill", 0) > 0

    # --- control ---

    def freeze(self) -> None:
        freeze_dir(self.dir, True)

    def thaw(self) -> None:
        freeze_dir(self.dir, False)

    def frozen(self) -> bool:
        return events(self.dir).get("frozen", 0) == 1

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        if sig == signal.SIGKILL and kill_dir(self.dir):
            base.wait_until(lambda: not self.pids(), KILL_TIMEOUT, f"{self.dir} to empty")
            return
        signal_all(self, sig)


def signal_all(cg: V2Cgroup | base.Cgroup, sig: int) -> None:
    """runc's signalAllProcesses without cgroup.kill: freeze, signal every pid, thaw; for
    SIGKILL repeat until the group is empty (forks racing the freeze are caught next round)."""
    deadline = time.monotonic() + KILL_TIMEOUT
    while True:
        was_frozen = cg.frozen()
        can_freeze = True
        try:
            if not was_frozen:
                cg.freeze()
        except CgroupError:
            can_freeze = False
            try:
                cg.thaw()      # do not leave it half frozen
            except CgroupError:
                pass
        pids = cg.pids()
        base.signal_pids(pids, sig)
        # a paused group stays paused for ordinary signals, but SIGKILL must be delivered
        if (can_freeze or was_frozen) and (sig == signal.SIGKILL or not was_frozen):
            cg.thaw()
        if sig != signal.SIGKILL or not pids:
            return
        if time.monotonic() > deadline:
            raise CgroupError(f"processes {pids} of cgroup {cg.name} survived SIGKILL")
        time.sleep(0.002)
